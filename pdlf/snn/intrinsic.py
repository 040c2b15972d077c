r"""Intrinsic plasticity (IP², spec §3): neuron properties that change every step by evolved local rules.

Per hidden layer of ``n`` neurons, each property ``k`` named in ``agent.intrinsic`` — the firing
threshold ``theta``, the (somatic) membrane time constant ``tau`` and, for two-compartment neurons,
the dendritic time constant ``tau_d`` — is per-neuron state ``[P, n]`` that starts each episode at
``default · exp(init_k)`` and then follows a fast, local, gradient-free rule. Two running
statistics per neuron drive the rules (``α = 1 / STAT_WINDOW`` steps)::

    r_t = r_{t-1} + α (|s_t| - r_{t-1})        firing rate, spikes per step (|s|: ternary spikes count)
    u_t = u_{t-1} + α (|I_t| - u_{t-1})        mean magnitude of the neuron's input current

``agent.intrinsic_rule = homeostatic`` (default)::

    theta: θ_t = max(θ_{t-1} + g η (r_t − ρ), THETA_MIN)              homeostasis toward target rate ρ
    tau:   τ_t = clip(τ_{t-1} + g η (u_t − κ), TAU_MIN, TAU_MAX)       input-driven integration time
    tau_d: the tau rule with its own genes, on the dendrite

with per layer and property the evolved rule genes ``eta`` (η), ``target`` (ρ = sigmoid(target)
for the rate, κ = target itself for the input level). **Direction:** a neuron keeps ``1 / τ`` of
its membrane (dendrite) per step (`pdlf.snn.lif`), so a *larger* τ is a *shorter* memory: input
above κ with η > 0 raises τ and makes the neuron forget faster (more driven by the present input).

``agent.intrinsic_rule = three_factor``: the change waits for the third factor ``M_t``
(`pdlf.plasticity.modulators`, ``rule.modulator``) and is carried by an eligibility trace of the
neuron's centred activity::

    e_t = λ e_{t-1} + (a_t − ā_{t-1})          a = |s| for θ (ā = r), |input| for τ and τ_d (ā = u)
    θ_t = max(θ_{t-1} + g η M_t e_t, THETA_MIN),   τ_t = clip(τ_{t-1} + g η M_t e_t, TAU_MIN, TAU_MAX)

with ``λ = sigmoid(decay)`` and ``M_t = f_t · read + bias`` (feedback: genes ``read`` ``[n_fb, 1]``,
``bias``) or the reward prediction error (reward, perturbation), one per layer and property.

The *meta-intrinsic* gate ``g``: ``agent.intrinsic_gate = continuous`` uses the gate gene itself,
``binary`` the mask ``gate > 0``. A gate of 0 (or ≤ 0 for the mask) freezes its property exactly
at its initial value. Gates are one per layer and property, or one per neuron
(``agent.intrinsic_gate_per_neuron``): the slow level that decides which properties (and neurons)
may change; evolved once per task family and frozen for every task of it (they are genes, fixed
within a lifetime). Bounds keep ``τ > 1`` step and ``θ > 0`` whatever the genome.

Genome blocks (extra, direct, start 0 so every property starts at its default and is frozen by
a continuous gate of 0), in this order per hidden layer ``i`` and property ``k``, layer
``ip.l{i}``: ``k.init [1, n]``, ``k.eta [1, 1]``, ``k.target [1, 1]``, ``k.gate [1, 1]`` (or
``[1, n]``); three-factor: ``k.init``, ``k.eta``, ``k.decay [1, 1]``, ``k.gate``, and with the
feedback modulator ``k.read [n_fb, 1]``, ``k.bias [1, 1]``. Shapes: genes per genome ``[M, ...]``
are repeated to ``[P, ...]`` per rollout.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

PROPERTIES = ("theta", "tau", "tau_d")
GATES = ("continuous", "binary")
INTRINSIC_RULES = ("homeostatic", "three_factor")
IP_GENES = ("init", "eta", "target", "gate")
THREE_FACTOR_IP_GENES = ("init", "eta", "decay", "gate")
STAT_WINDOW = 10.0  # steps of the running firing rate and input statistics
THETA_MIN = 1e-3
TAU_MIN = 1.0 + 1e-3
TAU_MAX = 1e3


def ip_layer(i: int) -> str:
    """Genome layer name of hidden layer ``i``'s intrinsic genes."""
    return f"ip.l{i}"


def ip_blocks(hidden: tuple[int, ...], properties: tuple[str, ...], gate_per_neuron: bool, rule: str = "homeostatic",
              n_feedback: int = 0) -> list[tuple[str, str, tuple[int, int]]]:
    """The intrinsic genome blocks ``(layer, gene, shape)`` in genome order (module docstring);
    ``n_feedback > 0`` adds the three-factor rule's feedback read."""
    blocks = []
    for i, n in enumerate(hidden):
        for k in properties:
            shapes = {"init": (1, n), "eta": (1, 1), "target": (1, 1), "decay": (1, 1),
                      "gate": (1, n) if gate_per_neuron else (1, 1)}
            genes = THREE_FACTOR_IP_GENES if rule == "three_factor" else IP_GENES
            blocks += [(ip_layer(i), f"{k}.{gene}", shapes[gene]) for gene in genes]
            if rule == "three_factor" and n_feedback:
                blocks += [(ip_layer(i), f"{k}.read", (n_feedback, 1)), (ip_layer(i), f"{k}.bias", (1, 1))]
    return blocks


def firing_rate(rate: Tensor, spikes: Tensor) -> Tensor:
    """Running firing rate ``r + α (|s| − r)``, ``[P, n]``."""
    return torch.lerp(rate, spikes.abs(), 1.0 / STAT_WINDOW)


def input_level(level: Tensor, current: Tensor) -> Tensor:
    """Running mean input magnitude ``u + α (|I| − u)``, ``[P, n]``."""
    return torch.lerp(level, current.abs(), 1.0 / STAT_WINDOW)


def homeostatic_threshold(theta: Tensor, rate: Tensor, eta: Tensor, target: Tensor, gate: Tensor) -> Tensor:
    """``max(θ + g η (r − sigmoid(target)), THETA_MIN)``: fire more than the target rate, raise θ."""
    return (theta + gate * eta * (rate - torch.sigmoid(target))).clamp(min=THETA_MIN)


def input_driven_tau(tau: Tensor, level: Tensor, eta: Tensor, target: Tensor, gate: Tensor) -> Tensor:
    """``clip(τ + g η (u − κ), TAU_MIN, TAU_MAX)``: with η > 0, input above the level κ raises τ, i.e.
    the neuron keeps less (1/τ) of its membrane per step and forgets faster."""
    return (tau + gate * eta * (level - target)).clamp(TAU_MIN, TAU_MAX)


def effective_gate(gate: Tensor, kind: str) -> Tensor:
    """The gate a rule multiplies by: the gene (``continuous``) or the mask ``gate > 0`` (``binary``)."""
    return gate if kind == "continuous" else (gate > 0).to(gate.dtype)


def three_factor_property(value: Tensor, eligibility: Tensor, eta: Tensor, gate: Tensor, modulator: Tensor,
                          low: float, high: float) -> Tensor:
    """``clip(value + g η M e, low, high)``: the three-factor intrinsic rule's step (module docstring)."""
    return (value + gate * eta * modulator * eligibility).clamp(low, high)


@dataclass
class LayerIntrinsic:
    """One hidden layer's intrinsic genes per rollout (``[P, 1]`` or ``[P, n]`` each, per property),
    running statistics ``rate``, ``level`` (``[P, n]``) and, for the three-factor rule, the
    eligibility trace per property (``[P, n]``)."""

    genes: dict[str, dict[str, Tensor]]  # property -> {"eta", "target" | "decay", "gate"[, "read", "bias"]}
    rate: Tensor
    level: Tensor
    dendrite_level: Tensor | None = None
    rule: str = "homeostatic"
    eligibility: dict[str, Tensor] | None = None

    def step(self, props: dict[str, Tensor], current: Tensor, spikes: Tensor, dendrite: Tensor | None,
             feedback: Tensor | None = None, rpe: Tensor | None = None) -> None:
        """Update the statistics, then every plastic property in ``props`` (``[P, n]``, replaced).
        ``tau`` (the soma's) follows the soma's input: the current for point neurons, the dendrite
        ``d`` for two-compartment ones; ``tau_d`` follows the input current. The three-factor
        rule reads its modulator from ``feedback`` (``[P, n_fb]``) or ``rpe`` (``[P, 1]``)."""
        if self.rule == "three_factor":
            self._three_factor_step(props, current, spikes, dendrite, feedback, rpe)
            return
        self.rate = firing_rate(self.rate, spikes)
        self.level = input_level(self.level, current)
        soma_input = self.level
        if dendrite is not None:
            self.dendrite_level = input_level(self.dendrite_level, dendrite)
            soma_input = self.dendrite_level
        for k, g in self.genes.items():
            if k == "theta":
                props[k] = homeostatic_threshold(props[k], self.rate, g["eta"], g["target"], g["gate"])
            else:
                level = soma_input if k == "tau" else self.level
                props[k] = input_driven_tau(props[k], level, g["eta"], g["target"], g["gate"])

    def _three_factor_step(self, props, current, spikes, dendrite, feedback, rpe) -> None:
        centred = {"theta": spikes.abs() - self.rate, "tau_d": current.abs() - self.level}
        if dendrite is not None:
            centred["tau"] = dendrite.abs() - self.dendrite_level
            self.dendrite_level = input_level(self.dendrite_level, dendrite)
        else:
            centred["tau"] = centred["tau_d"]
        self.rate = firing_rate(self.rate, spikes)
        self.level = input_level(self.level, current)
        for k, g in self.genes.items():
            e = self.eligibility[k] = torch.sigmoid(g["decay"]) * self.eligibility[k] + centred[k]
            if "read" in g:
                modulator = torch.baddbmm(g["bias"], feedback.unsqueeze(1), g["read"]).squeeze(1)  # [P, 1]
            else:
                modulator = rpe
            low, high = (THETA_MIN, float("inf")) if k == "theta" else (TAU_MIN, TAU_MAX)
            props[k] = three_factor_property(props[k], e, g["eta"], g["gate"], modulator, low, high)

    def reset_eligibility(self) -> None:
        """Zero the three-factor eligibility traces (activity, reset with the membranes)."""
        if self.eligibility is not None:
            self.eligibility = {k: torch.zeros_like(e) for k, e in self.eligibility.items()}


def layer_intrinsic(genes: dict[str, Tensor], properties: tuple[str, ...], gate_kind: str, rows: int,
                    pop: int, n: int, dendrite: bool = False, rule: str = "homeostatic") -> tuple[LayerIntrinsic, dict[str, Tensor]]:
    """Per-rollout intrinsic state of one layer from its genes (``{"theta.init": [M, 1, n], ...}``
    of `GenomeLayout.split`, ``rows`` rollouts per genome): the `LayerIntrinsic` and the initial
    multipliers ``exp(init)`` per property (``[P, n]``)."""

    def per_row(t: Tensor) -> Tensor:
        t = t[:, 0]  # [M, k]
        return t.repeat_interleave(rows, dim=0) if rows > 1 else t

    def per_rollout(t: Tensor) -> Tensor:  # a whole block [M, a, b] -> [P, a, b]
        return t.repeat_interleave(rows, dim=0) if rows > 1 else t

    rule_genes, scale = {}, {}
    for k in properties:
        scale[k] = torch.exp(per_row(genes[f"{k}.init"]))
        g = {"eta": per_row(genes[f"{k}.eta"]), "gate": effective_gate(per_row(genes[f"{k}.gate"]), gate_kind)}
        if rule == "three_factor":
            g["decay"] = per_row(genes[f"{k}.decay"])
            if f"{k}.read" in genes:
                g["read"], g["bias"] = per_rollout(genes[f"{k}.read"]), per_rollout(genes[f"{k}.bias"])
        else:
            g["target"] = per_row(genes[f"{k}.target"])
        rule_genes[k] = g
    like = next(iter(scale.values()))
    zeros = torch.zeros(pop, n, device=like.device, dtype=like.dtype)
    eligibility = {k: zeros.clone() for k in properties} if rule == "three_factor" else None
    return LayerIntrinsic(rule_genes, zeros, zeros.clone(), zeros.clone() if dendrite else None, rule, eligibility), scale


__all__ = ["PROPERTIES", "GATES", "INTRINSIC_RULES", "IP_GENES", "THREE_FACTOR_IP_GENES", "three_factor_property", "STAT_WINDOW", "THETA_MIN", "TAU_MIN", "TAU_MAX", "ip_layer",
           "ip_blocks", "firing_rate", "input_level", "homeostatic_threshold", "input_driven_tau",
           "effective_gate", "LayerIntrinsic", "layer_intrinsic"]
