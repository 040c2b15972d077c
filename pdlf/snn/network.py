"""A population of plastic spiking agents: PDLF's network with fast weights as state.

Network (per agent): input ``x_t`` (``obs_dim``) → hidden LIF layers (``hidden``, default one
layer of 128) → linear readout to ``act_dim`` actions, no biases, one SNN step per env step.
Optional plastic recurrent weights per hidden layer take the previous step's spikes as input.

Every weight matrix is *state*: it starts each episode at zero (PDLF) or at a U(-s, s) draw
(Najarro & Risi) and changes after every step by the rule (``pdlf.plasticity``). For the rule
``none`` the genome is the weights and they stay fixed (the direct-weight baseline).

Activities fed to the rule, per layer: first layer ``pre = x_t``, ``post = z_t`` (hidden trace);
hidden→hidden ``pre = z^{l-1}_t``; recurrent ``pre = z_{t-1}``, ``post = z_t``; readout
``pre = z_t``, ``post = a_t``. Currents travel as spikes: ``I^l = s^{l-1} W^l``, ``a = s W_out``.

Optional GRU branch (``gru_hidden = H > 0``, PDLF's working-memory "hybrid"): a directly evolved
GRU (`pdlf.snn.gru`) reads the same ``x_t`` and its linear readout ``[H, act_dim]`` is added to the
spiking readout every step: ``action = s W_out + h_t w_out``. The rule's "post" of ``out`` stays
the spiking readout ``s W_out`` alone. Its genes follow the SNN's in the genome (`genome_layout`).

Shapes: ``P`` agents, every tensor has the population axis first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from pdlf.errors import ConfigError, ShapeError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.plasticity.genome import GenomeLayout, LayerShape
from pdlf.plasticity.rules import RuleCoefficients, normalize_max_abs_, plastic_update_
from pdlf.registry import did_you_mean
from pdlf.snn.gru import GRU_LAYER, GRUParams, gru_blocks, gru_init, gru_params, gru_readout, gru_step
from pdlf.snn.lif import LIFState, lif_init, lif_step

SPIKE_KINDS = ("ternary", "binary")
WEIGHT_INITS = ("zero", "uniform")
DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass(frozen=True)
class AgentConfig:
    """The spiking network's architecture and neuron constants.

    Attributes:
        hidden: sizes of the hidden LIF layers.
        spikes: ``ternary`` (PDLF: -1/0/+1) or ``binary`` (0/1).
        tau: initial membrane time constant of every neuron (steps; PDLF: e).
        theta: initial firing threshold of every neuron (PDLF: 0.1).
        recurrent: add plastic hidden→hidden weights fed by the previous step's spikes.
        init_weights: fast weights at episode start: ``zero`` (PDLF) or ``uniform`` in
            ``[-init_scale, init_scale]`` (Najarro & Risi), drawn from the rollout's seed.
        init_scale: half-width of the uniform draw.
        gru_hidden: units of a directly evolved GRU branch whose readout is added to the spiking
            readout (PDLF's working-memory "hybrid" agent); 0 (default) = no branch.
        device: torch device of the agents' tensors (``cpu``, ``cuda``, ``cuda:1``).
        dtype: ``float32`` or ``float64``.
    """

    hidden: tuple[int, ...] = (128,)
    spikes: str = "ternary"
    tau: float = math.e
    theta: float = 0.1
    recurrent: bool = False
    init_weights: str = "zero"
    init_scale: float = 0.1
    gru_hidden: int = 0
    device: str = "cpu"
    dtype: str = "float32"

    def validate(self) -> None:
        if not self.hidden or any(int(h) < 1 for h in self.hidden):
            raise ConfigError(f"agent.hidden={list(self.hidden)!r}: give one or more positive layer sizes")
        if self.spikes not in SPIKE_KINDS:
            raise ConfigError(f"agent.spikes={self.spikes!r}: {did_you_mean(self.spikes, SPIKE_KINDS)}")
        if self.init_weights not in WEIGHT_INITS:
            raise ConfigError(f"agent.init_weights={self.init_weights!r}: {did_you_mean(self.init_weights, WEIGHT_INITS)}")
        if self.dtype not in DTYPES:
            raise ConfigError(f"agent.dtype={self.dtype!r}: {did_you_mean(self.dtype, tuple(DTYPES))}")
        if not self.tau > 1.0:
            raise ConfigError(f"agent.tau={self.tau!r}: the membrane time constant must be > 1 step")
        if not self.theta > 0.0:
            raise ConfigError(f"agent.theta={self.theta!r}: the threshold must be > 0")
        if self.init_scale < 0.0:
            raise ConfigError(f"agent.init_scale={self.init_scale!r}: must be >= 0")
        if isinstance(self.gru_hidden, bool) or not isinstance(self.gru_hidden, int) or self.gru_hidden < 0:
            raise ConfigError(f"agent.gru_hidden={self.gru_hidden!r}: give the GRU branch's units as an integer >= 0 (0 = none)")


def network_layers(obs_dim: int, act_dim: int, cfg: AgentConfig) -> list[LayerShape]:
    """The network's weight matrices in genome order: ``l0..l{k-1}``, ``rec0..``, ``out``."""
    sizes = [int(obs_dim), *(int(h) for h in cfg.hidden)]
    layers = [LayerShape(f"l{i}", sizes[i], sizes[i + 1]) for i in range(len(cfg.hidden))]
    if cfg.recurrent:
        layers += [LayerShape(f"rec{i}", h, h) for i, h in enumerate(cfg.hidden)]
    layers.append(LayerShape("out", sizes[-1], int(act_dim)))
    return layers


def genome_layout(obs_dim: int, act_dim: int, agent: AgentConfig, rule: RuleConfig) -> GenomeLayout:
    """The genome layout of ``PlasticSNN(obs_dim, act_dim, agent, rule)``: the rule's blocks on
    `network_layers`, then (``agent.gru_hidden > 0``) the GRU's direct blocks ``gru.W_x``,
    ``gru.W_h``, ``gru.b``, ``gru.w_out`` (initial value 0, unbounded)."""
    agent.validate()
    extra = gru_blocks(obs_dim, agent.gru_hidden, act_dim) if agent.gru_hidden else ()
    return GenomeLayout(network_layers(obs_dim, act_dim, agent), rule, extra_blocks=extra)


class PlasticSNN:
    """``P`` plastic spiking agents stepped as one set of tensors.

    Use: ``net.reset(genomes[P, L], seeds)``, then ``actions = net.act(obs[P, obs_dim])`` once
    per env step. Fast weights (``net.weights``), LIF states (``net.hidden_states``) and the
    per-neuron ``tau``/``theta`` (fixed within an episode) are readable between steps for analysis (fast weights are
    updated in place: clone them to keep a snapshot). Injury hooks:
    `erase_weights` (set every fast weight to 0 now), ``silenced`` (no transmission and no
    plasticity while True; weights kept), `block_neurons` (neuron loss until the next reset).
    Injury hooks act on the SNN only: the GRU branch (``gru_hidden > 0``; weights
    ``gru_params``, state ``gru_state [P, H]``) is untouched, except that while ``silenced`` it
    neither steps nor outputs (its state is frozen, the action is 0).
    """

    def __init__(self, obs_dim: int, act_dim: int, agent: AgentConfig | None = None, rule: RuleConfig | None = None) -> None:
        self.cfg = agent or AgentConfig()
        self.cfg.validate()
        self.rule = rule or RuleConfig()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.layers = network_layers(obs_dim, act_dim, self.cfg)
        self.layout = genome_layout(obs_dim, act_dim, self.cfg, self.rule)
        self.gru_hidden = int(self.cfg.gru_hidden)
        self.gru_params: GRUParams | None = None
        self.gru_state: Tensor | None = None
        self.device = torch.device(self.cfg.device)
        self.dtype = DTYPES[self.cfg.dtype]
        self.ternary = self.cfg.spikes == "ternary"
        self.plastic = self.rule.spec().family != "none"
        self.normalize = self.rule.normalizes()
        self.pop = 0
        self.silenced = False
        # Fast weights are stored with the larger dimension last (measured 2.8x faster rule
        # updates for a 128 -> 6 readout): [P, n_in, n_out] or, where n_out < n_in, [P, n_out, n_in].
        self._transposed = {layer.name: layer.n_out < layer.n_in for layer in self.layers}
        self._w: dict[str, Tensor] = {}
        self.hidden_states: list[LIFState] = []
        self.tau: list[Tensor] = []
        self.theta: list[Tensor] = []
        self._coeffs: dict[str, RuleCoefficients] = {}
        self._in_masks: dict[str, Tensor] = {}  # layer -> 0/1 multiplier of blocked inputs (storage order)
        self._out_masks: dict[str, Tensor] = {}  # layer -> 0/1 multiplier of blocked outputs
        self._hidden_masks: dict[int, Tensor] = {}  # hidden layer index -> [P, n] (1 = alive)

    # ----------------------------------------------------------------------------- episode start
    def reset(self, genomes: Tensor, seeds: int | Sequence[int] | Tensor = 0) -> None:
        """Start an episode for ``P = genomes.shape[0]`` agents.

        Args:
            genomes: ``[P, layout.size]`` (or ``[layout.size]`` for one agent).
            seeds: one seed per agent (``[P]``) or one for all; used only for random initial
                weights, so an agent's start depends on its own seed, not on its batch position.

        Clears membranes, spikes, traces, the GRU state, injuries and silencing; weights start per
        ``init_weights`` (or are the genome, for rule ``none``).
        """
        genomes = torch.as_tensor(genomes)
        genomes = self.layout.check(genomes).to(self.device, self.dtype)
        self.pop = pop = genomes.shape[0]
        genes = self.layout.split(genomes)
        spec = self.rule.spec()
        self._w = {}
        self._coeffs = {}
        for layer in self.layers:
            if self.plastic:
                coeffs = spec.coefficients(genes[layer.name])
                self._coeffs[layer.name] = RuleCoefficients(*(self._to_storage(layer.name, c) for c in coeffs))
                w = torch.zeros(pop, layer.n_in, layer.n_out, device=self.device, dtype=self.dtype)
            else:
                w = genes[layer.name]["W"]
            self._w[layer.name] = self._to_storage(layer.name, w)
        if self.plastic and self.cfg.init_weights == "uniform":
            self._uniform_init(seeds)
        self.hidden_states = [lif_init(pop, h, self.device, self.dtype) for h in self.cfg.hidden]
        self.tau = [torch.full((pop, h), float(self.cfg.tau), device=self.device, dtype=self.dtype) for h in self.cfg.hidden]
        self.theta = [torch.full((pop, h), float(self.cfg.theta), device=self.device, dtype=self.dtype) for h in self.cfg.hidden]
        self._inv_tau = [1.0 / t for t in self.tau]  # tau is fixed within an episode
        self.silenced = False
        self._in_masks, self._out_masks, self._hidden_masks = {}, {}, {}
        if self.gru_hidden:
            self.gru_params = gru_params(genes[GRU_LAYER])
            self.gru_state = gru_init(pop, self.gru_hidden, self.device, self.dtype)

    def _uniform_init(self, seeds: int | Sequence[int] | Tensor) -> None:
        seeds_list = [int(s) for s in torch.as_tensor(seeds).reshape(-1).tolist()]
        if len(seeds_list) == 1:
            seeds_list = seeds_list * self.pop
        if len(seeds_list) != self.pop:
            raise ShapeError(f"reset got {len(seeds_list)} seeds for {self.pop} agents: give one per agent or one for all")
        scale = float(self.cfg.init_scale)
        for p, seed in enumerate(seeds_list):
            gen = torch.Generator().manual_seed(seed)
            for layer in self.layers:
                draw = torch.rand(layer.n_in, layer.n_out, generator=gen, dtype=torch.float64)
                self.weights[layer.name][p] = ((2.0 * draw - 1.0) * scale).to(self.device, self.dtype)

    def _to_storage(self, name: str, t: Tensor | None) -> Tensor | None:
        """A ``[P, n_in, n_out]``-shaped tensor (or broadcastable) in the layer's storage order."""
        if t is None:
            return None
        return (t.transpose(1, 2) if self._transposed[name] else t).contiguous().clone()

    @property
    def weights(self) -> dict[str, Tensor]:
        """Fast weights per layer as ``[P, n_in, n_out]`` views (live: they change every step)."""
        return {n: (w.transpose(1, 2) if self._transposed[n] else w) for n, w in self._w.items()}

    # ----------------------------------------------------------------------------------- stepping
    def act(self, obs: Tensor) -> Tensor:
        """One step: spikes through the network, then the rule updates every fast weight; with a
        GRU branch, one GRU step on ``obs`` and its readout added to the action.

        Args:
            obs: ``[P, obs_dim]`` network input (already normalised; goal columns raw).

        Returns:
            actions ``[P, act_dim]`` (unclipped; the env clips to its range).
        """
        if obs.shape != (self.pop, self.obs_dim):
            raise ShapeError(
                f"act got obs of shape {tuple(obs.shape)}, expected [{self.pop}, {self.obs_dim}]"
                " (population from reset, obs_dim from the task): check the env and the agent sizes"
            )
        x = obs.to(self.device, self.dtype)
        if self.silenced:
            return self._silent_step()
        pre_spikes = x
        pre_act = x  # activity the rule sees as "pre" of the next layer
        posts: list[tuple[str, Tensor, Tensor]] = []  # (layer, pre activity, post activity)
        for i, state in enumerate(self.hidden_states):
            name = f"l{i}"
            current = self._forward(name, pre_spikes)
            if self.cfg.recurrent:
                current = current + self._forward(f"rec{i}", state.s)
            new = lif_step(current, state, self.tau[i], self.theta[i], self.ternary, self._inv_tau[i])
            if i in self._hidden_masks:
                m = self._hidden_masks[i]
                new = LIFState(new.v * m, new.s * m, new.z * m)
            posts.append((name, pre_act, new.z))
            if self.cfg.recurrent:
                posts.append((f"rec{i}", state.z, new.z))
            self.hidden_states[i] = new
            pre_spikes, pre_act = new.s, new.z
        action = self._forward("out", pre_spikes)
        posts.append(("out", pre_act, action))
        if self.plastic:
            for name, pre, post in posts:
                self._update(name, pre, post)
        if self.gru_hidden:
            self.gru_state = gru_step(x, self.gru_state, self.gru_params)
            action = action + gru_readout(self.gru_state, self.gru_params)
        return action

    def _forward(self, name: str, spikes: Tensor) -> Tensor:
        """``spikes [P, n_in] @ W [P, n_in, n_out] -> [P, n_out]``."""
        w = self._w[name]
        if self._transposed[name]:  # a broadcast product and sum beats bmm here (measured 4x)
            return (w * spikes.unsqueeze(1)).sum(2)
        return torch.bmm(spikes.unsqueeze(1), w).squeeze(1)

    def _update(self, name: str, pre: Tensor, post: Tensor) -> None:
        masked = name in self._in_masks or name in self._out_masks
        # blocked synapses are zeroed before max|W| is taken: they are gone, not merely silent
        w = plastic_update_(self._w[name], pre, post, self._coeffs[name], self.normalize and not masked,
                            self._transposed[name])
        if masked:
            if name in self._in_masks:
                w.mul_(self._in_masks[name])
            if name in self._out_masks:
                w.mul_(self._out_masks[name])
            if self.normalize:
                normalize_max_abs_(w)

    def _silent_step(self) -> Tensor:
        """A step with all transmission blocked: membranes relax toward 0, no plasticity."""
        for i, state in enumerate(self.hidden_states):
            zero = torch.zeros_like(state.v)
            self.hidden_states[i] = lif_step(zero, state, self.tau[i], self.theta[i], self.ternary)
        return torch.zeros(self.pop, self.act_dim, device=self.device, dtype=self.dtype)

    # ------------------------------------------------------------------------------ injury hooks
    def erase_weights(self) -> None:
        """Set every fast weight of every SNN layer to 0 now (PDLF's temporary injury, one step);
        the GRU branch's weights are genes and are kept."""
        for w in self._w.values():
            w.zero_()

    def erase_synapses(self, name: str, erased: Tensor) -> None:
        """Set the synapses of layer ``name`` marked in ``erased`` (``[n_in, n_out]`` or
        ``[P, n_in, n_out]`` bool) to 0 now; plastic ones may regrow, direct ones stay 0."""
        layer = next((l for l in self.layers if l.name == name), None)
        if layer is None:
            raise ShapeError(f"no layer {name!r}: layers are {', '.join(l.name for l in self.layers)}")
        erased = torch.as_tensor(erased, dtype=torch.bool, device=self.device)
        if erased.shape not in ((layer.n_in, layer.n_out), (self.pop, layer.n_in, layer.n_out)):
            raise ShapeError(f"erase_synapses got a mask of shape {tuple(erased.shape)} for layer {name} ({layer.n_in}x{layer.n_out})")
        if erased.ndim == 2:
            erased = erased.unsqueeze(0)
        self._w[name].masked_fill_(self._to_storage(name, erased), 0.0)

    def block_neurons(self, layer: int, blocked: Tensor) -> None:
        """Neuron loss: hidden neurons of ``layer`` marked in ``blocked`` (``[P, n]`` or ``[n]``
        bool) never spike again this episode; their incoming and outgoing synapses are 0 and stay 0.
        """
        n = self.cfg.hidden[layer]
        blocked = torch.as_tensor(blocked, dtype=torch.bool, device=self.device)
        if blocked.ndim == 1:
            blocked = blocked.unsqueeze(0).expand(self.pop, n)
        if blocked.shape != (self.pop, n):
            raise ShapeError(f"block_neurons got a mask of shape {tuple(blocked.shape)}, expected [{self.pop}, {n}]")
        alive = (~blocked).to(self.dtype)
        if layer in self._hidden_masks:
            alive = alive * self._hidden_masks[layer]
        self._hidden_masks[layer] = alive
        incoming = [f"l{layer}"] + ([f"rec{layer}"] if self.cfg.recurrent else [])
        outgoing = [f"l{layer + 1}" if layer + 1 < len(self.cfg.hidden) else "out"]
        outgoing += [f"rec{layer}"] if self.cfg.recurrent else []
        for name in incoming:  # masks in each layer's storage order, applied after every update
            self._out_masks[name] = self._to_storage(name, alive.unsqueeze(1))
        for name in outgoing:
            self._in_masks[name] = self._to_storage(name, alive.unsqueeze(2))
        for name in set(incoming) | set(outgoing):
            for masks in (self._in_masks, self._out_masks):
                if name in masks:
                    self._w[name].mul_(masks[name])
        s = self.hidden_states[layer]
        self.hidden_states[layer] = LIFState(s.v * alive, s.s * alive, s.z * alive)

    def reset_membranes(self) -> None:
        """Zero every membrane, spike, trace and the GRU state (the working-memory test); fast
        weights are kept."""
        self.hidden_states = [lif_init(self.pop, h, self.device, self.dtype) for h in self.cfg.hidden]
        if self.gru_hidden:
            self.gru_state = gru_init(self.pop, self.gru_hidden, self.device, self.dtype)
