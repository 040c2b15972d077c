r"""The agents' spiking network as a differentiable function, for the gradient inner loop
(`pdlf.l2l_gradient`, IP²-RSNN's method): surrogate spikes, weights and intrinsic properties as
torch leaf tensors, ``S`` independent networks (rows) in one forward.

The forward is the project's network (`pdlf.snn.network`, `pdlf.snn.lif`) with the weights as
parameters instead of plastic state. Per hidden layer ``l`` and step ``t`` (every tensor ``[S, n]``)::

    I_t = x_t W_l + s_{t-1} R_l              input current (R_l only with ``recurrent``)
    d_t = I_t + a_d (d_{t-1} - I_t)          dendrite, a_d = 1 / tau_d  (two_compartment; lif: d_t = I_t)
    v_t = d_t + a_s (v_{t-1} - d_t)          soma,     a_s = 1 / tau_s
    s_t = H(v_t - theta) - H(-v_t - theta)   ternary spikes (binary: H(v_t - theta))
    v_t = v_t (1 - |s_t|)                    reset where spiked
    y_t = v'_t W_out  (readout ``membrane``; ``spikes``: s_t W_out)

where ``v'_t`` is the soma *before* its reset (``before_reset``, default) or after it (as the ES
agents read it). Why before: with θ = 0.1 the reset membrane lies in [-θ, θ] and is 0 in every
neuron that just spiked, so its gradient vanishes exactly where the network is active; measured
on gng_dr4, the after-reset readout stayed at chance for 600 trials at every learning rate tried
(Adam 0.003–0.03, SGD 0.3), the before-reset readout solved the first problem in ~150 trials.

where ``x_t`` is layer 0's observation or the previous layer's spikes. The forward values equal
`pdlf.snn.lif.two_compartment_step` / `lif_step` on the same numbers.

**Surrogate gradient** (SuperSpike, Zenke & Ganguli 2018): forward ``H(u) = [u > 0]``; backward
``dH/du = 1 / (1 + slope |u|)^2``, the derivative of the fast sigmoid ``u / (1 + slope |u|)``
(peak 1 at the threshold, half of it at ``|u| = 0.41 / slope``). ``u`` is in current units, so with
the default θ = 0.1 the default ``slope = 25`` puts the half-width at 0.017 = 0.17 θ. The reset
factor ``(1 - |s|)`` is treated as a constant in the backward pass (Zenke & Vogels 2021: the
gradient through the reset destabilises learning and gains nothing).

**Parametrisation** (so that every gradient step keeps a valid neuron): a time constant enters as
its *retention per step* ``a = 1 / tau = sigmoid(raw)`` in (0, 1), so ``tau = 1 + exp(-raw) > 1``
always; larger retention (larger ``raw``) = the compartment keeps more of its previous value each
step = longer memory. The threshold is ``theta = exp(raw)`` > 0. The weights are raw.

Leaves (`NetParams.tensors`): ``l{i}`` ``[S, n_in, n]``, ``rec{i}`` ``[S, n, n]``, ``out``
``[S, n_last, 1]``, and per hidden layer ``tau_d.{i}``, ``tau_s.{i}``, ``theta.{i}`` ``[S, n]``
(raw values). `PROPERTIES` names the three intrinsic properties masks choose from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations
from typing import Sequence

import torch
from torch import Tensor

from pdlf.errors import ConfigError
from pdlf.registry import did_you_mean
from pdlf.snn.network import AgentConfig

PROPERTIES = ("tau_d", "tau_s", "theta")  # intrinsic properties a mask may free (the weights always learn)
SURROGATE_SLOPE = 25.0  # 1 / current units (module docstring)


class SpikeFn(torch.autograd.Function):
    """``H(u) = [u > 0]`` forward, the fast sigmoid's derivative ``1 / (1 + slope |u|)^2`` backward."""

    @staticmethod
    def forward(ctx, u: Tensor, slope: float) -> Tensor:
        ctx.save_for_backward(u)
        ctx.slope = slope
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (u,) = ctx.saved_tensors
        return grad / (1.0 + ctx.slope * u.abs()) ** 2, None


def spike(u: Tensor, slope: float = SURROGATE_SLOPE) -> Tensor:
    """Heaviside of ``u`` with the SuperSpike surrogate gradient (module docstring); any shape."""
    return SpikeFn.apply(u, float(slope))


def parse_mask(text: str | Sequence[str]) -> tuple[str, ...]:
    """Intrinsic properties named by ``text`` (``"tau_d,theta"``, a sequence, ``"none"`` or ``""``
    = weights only, ``"all"``), in `PROPERTIES` order. Raises a one-line `ConfigError` naming an
    unknown property and the valid names."""
    names = [t.strip() for t in (text.split(",") if isinstance(text, str) else text) if t.strip()]
    if names in (["none"], []):
        return ()
    if names == ["all"]:
        return PROPERTIES
    for name in names:
        if name not in PROPERTIES:
            raise ConfigError(f"mask names {name!r}, not an intrinsic property: {did_you_mean(name, PROPERTIES)}"
                              f" (valid: {', '.join(PROPERTIES)}, or none, all)")
    return tuple(p for p in PROPERTIES if p in names)


def mask_name(mask: Sequence[str]) -> str:
    """``"tau_d,theta"``; ``"none"`` for the weights-only mask."""
    return ",".join(mask) if mask else "none"


def all_masks() -> list[tuple[str, ...]]:
    """The 8 masks: every subset of `PROPERTIES`, smallest first."""
    return [c for k in range(len(PROPERTIES) + 1) for c in combinations(PROPERTIES, k)]


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass
class NetParams:
    """``S`` networks' leaves (module docstring) and their fixed architecture.

    Attributes:
        tensors: name -> leaf tensor, the population axis first.
        hidden: hidden layer sizes; recurrent, ternary, two_compartment, membrane: the architecture.
        slope: the surrogate's slope (module docstring).
    """

    tensors: dict[str, Tensor]
    hidden: tuple[int, ...]
    recurrent: bool
    ternary: bool
    two_compartment: bool
    membrane: bool
    slope: float = SURROGATE_SLOPE
    before_reset: bool = True

    @property
    def rows(self) -> int:
        return next(iter(self.tensors.values())).shape[0]

    def weight_names(self) -> list[str]:
        return [k for k in self.tensors if "." not in k]

    def property_names(self, prop: str) -> list[str]:
        return [f"{prop}.{i}" for i in range(len(self.hidden)) if f"{prop}.{i}" in self.tensors]

    def properties(self, i: int) -> dict[str, Tensor]:
        """Hidden layer ``i``'s ``tau_d`` (two-compartment only), ``tau_s`` and ``theta``, ``[S, n]``
        each, in steps and current units."""
        t = self.tensors
        out = {"tau_s": 1.0 / torch.sigmoid(t[f"tau_s.{i}"]), "theta": torch.exp(t[f"theta.{i}"])}
        if self.two_compartment:
            out["tau_d"] = 1.0 / torch.sigmoid(t[f"tau_d.{i}"])
        return out


def init_params(agent: AgentConfig, obs_dim: int, seeds: Sequence[int], init_gain: float = 1.0,
                dtype: torch.dtype = torch.float32) -> NetParams:
    """Leaves for ``S = len(seeds)`` networks of ``agent``'s architecture: weights
    ``U(-g, g) / sqrt(n_in)`` (``g = init_gain``) drawn from each row's seed, ``tau_d``, ``tau_s``
    (``agent.tau``) and ``theta`` at the agent's values in every neuron.

    Raises:
        ConfigError: ``agent.readout`` or ``neuron`` this forward does not offer, or a bad agent.
    """
    agent.validate()
    hidden = tuple(int(h) for h in agent.hidden)
    sizes = [int(obs_dim), *hidden]
    shapes = [(f"l{i}", sizes[i], sizes[i + 1]) for i in range(len(hidden))]
    if agent.recurrent:
        shapes += [(f"rec{i}", h, h) for i, h in enumerate(hidden)]
    shapes.append(("out", hidden[-1], 1))
    weights: dict[str, list[Tensor]] = {name: [] for name, _, _ in shapes}
    for seed in seeds:
        gen = torch.Generator().manual_seed(int(seed))
        for name, n_in, n_out in shapes:
            draw = torch.rand(n_in, n_out, generator=gen, dtype=torch.float64)
            weights[name].append(((2.0 * draw - 1.0) * init_gain / math.sqrt(n_in)).to(dtype))
    tensors = {name: torch.stack(ws).requires_grad_(True) for name, ws in weights.items()}
    two = agent.neuron == "two_compartment"
    rows = len(seeds)
    for i, n in enumerate(hidden):
        raw = {"tau_s": _logit(1.0 / agent.tau), "theta": math.log(agent.theta)}
        if two:
            raw["tau_d"] = _logit(1.0 / agent.tau_d)
        for prop in PROPERTIES:
            if prop in raw:
                tensors[f"{prop}.{i}"] = torch.full((rows, n), raw[prop], dtype=dtype, requires_grad=True)
    return NetParams(tensors, hidden, bool(agent.recurrent), agent.spikes == "ternary", two, agent.readout == "membrane")


def forward(params: NetParams, x: Tensor) -> Tensor:
    """Readouts of ``S`` networks over one trial from rest (every membrane, dendrite and spike 0).

    Args:
        params: the networks.
        x: ``[S, T, obs_dim]`` the trial's observations.

    Returns:
        ``[S, T]`` the readout ``y_t`` of every step (module docstring).
    """
    t = params.tensors
    rows, steps, _ = x.shape
    retain = [(torch.sigmoid(t[f"tau_d.{i}"]) if params.two_compartment else None, torch.sigmoid(t[f"tau_s.{i}"]),
               torch.exp(t[f"theta.{i}"])) for i in range(len(params.hidden))]
    zeros = [x.new_zeros(rows, n) for n in params.hidden]
    d, v, s = list(zeros), list(zeros), list(zeros)
    out = []
    for k in range(steps):
        pre = x[:, k]
        for i in range(len(params.hidden)):
            current = torch.bmm(pre.unsqueeze(1), t[f"l{i}"]).squeeze(1)
            if params.recurrent:
                current = current + torch.bmm(s[i].unsqueeze(1), t[f"rec{i}"]).squeeze(1)
            a_d, a_s, theta = retain[i]
            d[i] = current if a_d is None else torch.lerp(current, d[i], a_d)
            soma = torch.lerp(d[i], v[i], a_s)
            if params.ternary:
                s[i] = spike(soma - theta, params.slope) - spike(-soma - theta, params.slope)
            else:
                s[i] = spike(soma - theta, params.slope)
            v[i] = soma * (1.0 - s[i].abs()).detach()
            pre = s[i]
        if params.membrane:
            read = soma if params.before_reset else v[-1]
        else:
            read = s[-1]
        out.append(torch.bmm(read.unsqueeze(1), t["out"]).reshape(rows))
    return torch.stack(out, dim=1)
