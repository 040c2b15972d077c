"""A population of plastic spiking agents: PDLF's network with fast weights as state.

Network (per agent): input ``x_t`` (``obs_dim``) → hidden LIF layers (``hidden``, default one
layer of 128) → linear readout to ``act_dim`` actions, no biases (``biases`` adds evolved ones; ``output
= tanh`` squashes the action: `PDLF_DIRECT_AGENT`, PDLF's own direct-weight baseline neuron), one SNN
step per env step.
Optional plastic recurrent weights per hidden layer take the previous step's spikes as input.

Every weight matrix is *state*: it starts each episode at zero (PDLF) or at a U(-s, s) draw
(Najarro & Risi) and changes after every step by the rule (``pdlf.plasticity``). For the rule
``none`` the genome is the weights and they stay fixed (the direct-weight baseline).

Activities fed to the rule, per layer: first layer ``pre = x_t``, ``post = z_t`` (hidden trace);
hidden→hidden ``pre = z^{l-1}_t``; recurrent ``pre = z_{t-1}``, ``post = z_t``; readout
``pre = z_t``, ``post = a_t``. Currents travel as spikes: ``I^l = s^{l-1} W^l``, ``a = s W_out``.

Optional GRU branch (``gru_hidden = H > 0``, PDLF's working-memory "hybrid"): a directly evolved
GRU (`pdlf.snn.gru`) reads the same ``x_t`` and its linear readout is added to the spiking readout
every step: ``action = s W_out + h_t w_out + b_out``. The rule's "post" of ``out`` stays the
spiking readout ``s W_out`` alone (``readout_post = "tanh"``: its tanh, PDLF's working-memory
model). Its genes follow the SNN's in the genome (`genome_layout`). ``spiking = False`` drops the
SNN: the agent is the GRU alone (PDLF's GRU baseline).

Shared fast weights (``weight_sharing = G > 1``, PDLF's working-memory batch): consecutive groups
of ``G`` rollouts of one genome share one set of fast weights ``[P / G, n_in, n_out]``, updated
every step by the sum of the group's updates (`shared_plastic_update_`); membranes, spikes,
traces and GRU states stay per rollout.

Shapes: ``P`` rollouts (agents), every tensor has the population axis first. ``reset`` takes
``M`` genomes with ``R = P / M`` consecutive rollouts each (``rows_per_genome``; an expanded
``[P, L]`` view of one genome counts as ``M = 1``), so a large genome is not copied per rollout.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import Tensor

from pdlf.errors import ConfigError, ShapeError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.plasticity.genome import GenomeLayout, LayerShape
from pdlf.plasticity.rules import RuleCoefficients, normalize_max_abs_, plastic_update_, shared_plastic_update_
from pdlf.registry import did_you_mean
from pdlf.snn.gru import GRU_LAYER, GRUParams, gru_blocks, gru_init, gru_params, gru_readout, gru_step
from pdlf.plasticity.catalog import THREE_FACTOR
from pdlf.plasticity.modulators import MOD_LAYER, feedback_gate, feedback_read, modulator_blocks, perturbation_noise
from pdlf.plasticity.modulators import reward_prediction_error
from pdlf.plasticity.three_factor import DeltaTrace, HebbTrace, delta_rate, delta_update_, eligibility_decay, hebb_update_
from pdlf.snn.intrinsic import GATES, INTRINSIC_RULES, PROPERTIES, ip_blocks, ip_layer, layer_intrinsic
from pdlf.snn.lif import LIFState, lif_init, lif_step, two_compartment_step

SPIKE_KINDS = ("ternary", "binary")
READOUT_POSTS = ("action", "tanh")
NEURONS = ("lif", "two_compartment")
READOUTS = ("spikes", "membrane")
OUTPUTS = ("linear", "tanh")
BIAS_LAYER = "bias"  # genome layer of the evolved biases (`AgentConfig.biases`)
# PDLF's own direct-weight baseline neuron (spec §2): m = 0.5 m + 0.5 I, threshold 1, biases, tanh
PDLF_DIRECT_AGENT = {"tau": 2.0, "theta": 1.0, "biases": True, "output": "tanh"}
WEIGHT_INITS = ("zero", "uniform")
DTYPES = {"float32": torch.float32, "float64": torch.float64}

DEVICE_NAME = re.compile(r"cpu|cuda(:\d+)?")  # agent.device and env.device: cpu, cuda, cuda:N


@dataclass(frozen=True)
class AgentConfig:
    """The spiking network's architecture and neuron constants.

    Attributes:
        hidden: sizes of the hidden LIF layers.
        spikes: ``ternary`` (PDLF: -1/0/+1) or ``binary`` (0/1).
        tau: initial membrane time constant of every neuron (steps; PDLF: e). A neuron keeps
            ``1 / tau`` of its membrane per step (`pdlf.snn.lif`): larger τ, shorter memory.
        theta: initial firing threshold of every neuron (PDLF: 0.1).
        recurrent: add plastic hidden→hidden weights fed by the previous step's spikes.
        init_weights: fast weights at episode start: ``zero`` (PDLF) or ``uniform`` in
            ``[-init_scale, init_scale]`` (Najarro & Risi), drawn from the rollout's seed.
        init_scale: half-width of the uniform draw.
        gru_hidden: units of a directly evolved GRU branch whose readout is added to the spiking
            readout (PDLF's working-memory "hybrid" agent); 0 (default) = no branch.
        spiking: False drops the spiking network (its layers and rule genes): the agent is the
            GRU branch alone (PDLF's GRU baseline; needs ``gru_hidden > 0``).
        readout_post: the readout layer's "post" activity for the rule: ``action`` (the spiking
            readout, default) or ``tanh`` of it (PDLF's working-memory model).
        weight_sharing: ``G`` consecutive rollouts of a genome share one set of fast weights,
            updated by the sum of their updates (PDLF's working-memory batch); 1 = per rollout.
        biases: evolved biases (direct genes, start 0) added to every hidden layer's input current
            and to the readout (PDLF's direct-weight baseline has them; our agents do not).
        output: ``linear`` (default) or ``tanh``: the action is ``tanh`` of the readout (PDLF's
            direct-weight baseline; `PDLF_DIRECT_AGENT` with rule ``none`` is that baseline).
        neuron: ``lif`` (point neuron, default) or ``two_compartment`` (a dendrite with time
            constant ``tau_d`` feeding the soma; `pdlf.snn.lif.two_compartment_step`).
        tau_d: initial dendritic time constant (steps, > 1); the dendrite keeps ``1 / tau_d`` per step.
        retention: the fraction of its membrane a neuron keeps per step, in (0, 1): sets
            ``tau = 1 / retention`` (None: ``tau`` says it). 0.95 keeps ~60 % over 10 steps.
        retention_d: the same for the dendrite (``tau_d = 1 / retention_d``).
        readout: the readout reads the last hidden layer's ``spikes`` (default) or its somatic
            ``membrane`` potential (IP²-RSNN reads membranes).
        intrinsic: neuron properties with evolved intrinsic plasticity, any of ``theta``, ``tau``,
            ``tau_d`` (`pdlf.snn.intrinsic`); () = none. With rule ``none`` it is "intrinsic only".
        intrinsic_gate: meta-intrinsic gates ``continuous`` (the gene scales its rule) or
            ``binary`` (the mask gate > 0 switches it).
        intrinsic_rule: ``homeostatic`` (default) or ``three_factor`` (the change waits for
            ``rule.modulator``'s third factor; `pdlf.snn.intrinsic`).
        intrinsic_gate_per_neuron: one gate per neuron instead of one per layer and property.
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
    spiking: bool = True
    readout_post: str = "action"
    weight_sharing: int = 1
    biases: bool = False
    output: str = "linear"
    neuron: str = "lif"
    tau_d: float = 2.0
    retention: float | None = None
    retention_d: float | None = None
    readout: str = "spikes"
    intrinsic: tuple[str, ...] = ()
    intrinsic_gate: str = "continuous"
    intrinsic_gate_per_neuron: bool = False
    intrinsic_rule: str = "homeostatic"
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
        if not DEVICE_NAME.fullmatch(self.device):
            raise ConfigError(f"agent.device={self.device!r}: give cpu, cuda or cuda:N (N = 0, 1, ...)")
        if isinstance(self.gru_hidden, bool) or not isinstance(self.gru_hidden, int) or self.gru_hidden < 0:
            raise ConfigError(f"agent.gru_hidden={self.gru_hidden!r}: give the GRU branch's units as an integer >= 0 (0 = none)")
        if not self.spiking and not self.gru_hidden:
            raise ConfigError("agent.spiking=false leaves no network: set agent.gru_hidden > 0 (a GRU-only agent) or spiking true")
        for label, value, allowed in (("neuron", self.neuron, NEURONS), ("readout", self.readout, READOUTS),
                                      ("intrinsic_gate", self.intrinsic_gate, GATES)):
            if value not in allowed:
                raise ConfigError(f"agent.{label}={value!r}: {did_you_mean(value, allowed)}")
        for k in self.intrinsic:
            if k not in PROPERTIES:
                raise ConfigError(f"agent.intrinsic has {k!r}: {did_you_mean(k, PROPERTIES)}")
        if "tau_d" in self.intrinsic and self.neuron != "two_compartment":
            raise ConfigError("agent.intrinsic has 'tau_d' but agent.neuron is 'lif': set agent.neuron=two_compartment")
        if len(set(self.intrinsic)) != len(self.intrinsic):
            raise ConfigError(f"agent.intrinsic={list(self.intrinsic)!r} names a property twice")
        if not self.tau_d > 1.0:
            raise ConfigError(f"agent.tau_d={self.tau_d!r}: the dendritic time constant must be > 1 step")
        for label, value, tau_label, tau, default in (("retention", self.retention, "tau", self.tau, math.e),
                                                      ("retention_d", self.retention_d, "tau_d", self.tau_d, 2.0)):
            if value is None:
                continue
            if isinstance(value, bool) or not 0.0 < float(value) < 1.0:
                raise ConfigError(f"agent.{label}={value!r}: give the fraction kept per step in (0, 1), e.g. 0.95")
            if tau != default:
                raise ConfigError(f"agent.{label}={value!r} and agent.{tau_label}={tau!r} both set one memory:"
                                  f" give one ({label} = 1 / {tau_label})")
        if self.intrinsic_rule not in INTRINSIC_RULES:
            raise ConfigError(f"agent.intrinsic_rule={self.intrinsic_rule!r}: {did_you_mean(self.intrinsic_rule, INTRINSIC_RULES)}")
        if self.output not in OUTPUTS:
            raise ConfigError(f"agent.output={self.output!r}: {did_you_mean(self.output, OUTPUTS)}")
        if self.readout_post not in READOUT_POSTS:
            raise ConfigError(f"agent.readout_post={self.readout_post!r}: {did_you_mean(self.readout_post, READOUT_POSTS)}")
        if isinstance(self.weight_sharing, bool) or not isinstance(self.weight_sharing, int) or self.weight_sharing < 1:
            raise ConfigError(f"agent.weight_sharing={self.weight_sharing!r}: give the rollouts per fast-weight set as an integer >= 1 (1 = per rollout)")

    def soma_tau(self) -> float:
        """The initial somatic time constant: ``1 / retention`` where set, else ``tau``."""
        return 1.0 / float(self.retention) if self.retention is not None else float(self.tau)

    def dendrite_tau(self) -> float:
        """The initial dendritic time constant: ``1 / retention_d`` where set, else ``tau_d``."""
        return 1.0 / float(self.retention_d) if self.retention_d is not None else float(self.tau_d)


def network_layers(obs_dim: int, act_dim: int, cfg: AgentConfig) -> list[LayerShape]:
    """The network's weight matrices in genome order: ``l0..l{k-1}``, ``rec0..``, ``out``; none
    for a GRU-only agent (``spiking = False``)."""
    if not cfg.spiking:
        return []
    sizes = [int(obs_dim), *(int(h) for h in cfg.hidden)]
    layers = [LayerShape(f"l{i}", sizes[i], sizes[i + 1]) for i in range(len(cfg.hidden))]
    if cfg.recurrent:
        layers += [LayerShape(f"rec{i}", h, h) for i, h in enumerate(cfg.hidden)]
    layers.append(LayerShape("out", sizes[-1], int(act_dim)))
    return layers


def _three_factor_layers(layers: list[LayerShape], rule: RuleConfig) -> list[tuple[str, int, str]]:
    """``(name, n_out, rule name)`` of the layers whose rule is three-factor, in network order."""
    return [(l.name, l.n_out, rule.layer_spec(l.name).name) for l in layers if rule.layer_spec(l.name).family == THREE_FACTOR]


def uses_modulator(agent: AgentConfig, rule: RuleConfig, layers: list[LayerShape]) -> bool:
    """Whether any layer or intrinsic property of the agents takes a third factor."""
    return bool(_three_factor_layers(layers, rule)) or (bool(agent.intrinsic) and agent.spiking
                                                         and agent.intrinsic_rule == "three_factor")


def genome_layout(obs_dim: int, act_dim: int, agent: AgentConfig, rule: RuleConfig, n_feedback: int = 0) -> GenomeLayout:
    """The genome layout of ``PlasticSNN(obs_dim, act_dim, agent, rule, feedback)`` (``n_feedback =
    len(feedback)``): the rule's blocks on `network_layers`, then (``agent.gru_hidden > 0``) the
    GRU's direct blocks ``gru.W_x``, ``gru.W_h``, ``gru.b``, ``gru.b_hn``, ``gru.w_out``,
    ``gru.b_out``, then (``agent.intrinsic``) the intrinsic blocks ``ip.l{i}.{property}.{init,eta,target,gate}``
    (`pdlf.snn.intrinsic`), then (``agent.biases``) ``bias.l0`` … ``bias.out`` (``[1, n]`` each),
    then the third factor's ``mod.*`` (`pdlf.plasticity.modulators.modulator_blocks`); extra
    blocks start at 0 and are unbounded.

    A modulator the task cannot feed (``rule.modulator=feedback`` on a task without feedback
    input) is a `ConfigError`."""
    agent.validate()
    rule.validate()
    layers = network_layers(obs_dim, act_dim, agent)
    modulated = uses_modulator(agent, rule, layers)
    if modulated and rule.modulator == "feedback" and n_feedback < 1:
        raise ConfigError("rule.modulator=feedback: this task shows no feedback input (the cognitive tasks dms, ctx_dms,"
                          " gng_dr2 and gng_dr4 do); use rule.modulator=reward or perturbation here")
    if agent.weight_sharing > 1 and _three_factor_layers(layers, rule):
        raise ConfigError(f"agent.weight_sharing={agent.weight_sharing} with a three-factor rule: eligibility traces are"
                          " per rollout; use agent.weight_sharing=1")
    extra = list(gru_blocks(obs_dim, agent.gru_hidden, act_dim)) if agent.gru_hidden else []
    if agent.intrinsic and agent.spiking:
        three = agent.intrinsic_rule == "three_factor"
        extra += ip_blocks(tuple(int(h) for h in agent.hidden), tuple(agent.intrinsic), agent.intrinsic_gate_per_neuron,
                           agent.intrinsic_rule, n_feedback if three and rule.modulator == "feedback" else 0)
    if agent.biases and agent.spiking:
        sizes = [*(int(h) for h in agent.hidden), int(act_dim)]
        names = [*(f"l{i}" for i in range(len(agent.hidden))), "out"]
        extra += [(BIAS_LAYER, name, (1, n)) for name, n in zip(names, sizes)]
    if modulated:
        extra += modulator_blocks(rule.modulator, _three_factor_layers(layers, rule), int(n_feedback))
    return GenomeLayout(layers, rule, extra_blocks=extra)


def task_layout(spec, agent: AgentConfig, rule: RuleConfig) -> GenomeLayout:
    """`genome_layout` of agents on the task ``spec`` (a `pdlf.envs.tasks.TaskSpec`: dims and feedback)."""
    return genome_layout(spec.obs_dim, spec.act_dim, agent, rule, len(spec.feedback_channels))


def task_agents(spec, agent: AgentConfig, rule: RuleConfig) -> "PlasticSNN":
    """A `PlasticSNN` population for the task ``spec``: its dims and its feedback channels."""
    return PlasticSNN(spec.obs_dim, spec.act_dim, agent, rule, feedback=spec.feedback_channels)


def agent_device(name: str) -> torch.device:
    """The torch device ``agent.device`` names, checked where the agents live (this process: a Ray
    worker, or the driver with ``ray.workers: 0``); `ConfigError` if this torch cannot reach it."""
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(
                f"agent.device={name!r}: this torch ({torch.__version__}) sees no CUDA device here; use agent.device=cpu"
                " (evaluating a run: --device cpu), or install a CUDA build of torch on a GPU machine (with Ray"
                " workers: ray.gpus_per_worker > 0)"
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"agent.device={name!r}: this process sees {torch.cuda.device_count()} CUDA device(s);"
                f" use cuda:0 ... cuda:{torch.cuda.device_count() - 1}"
            )
    return device


class PlasticSNN:
    """``P`` plastic spiking agents stepped as one set of tensors.

    Use: ``net.reset(genomes[P, L], seeds)``, then ``actions = net.act(obs[P, obs_dim])`` once
    per env step. Fast weights (``net.weights``), LIF states (``net.hidden_states``) and the
    per-neuron ``tau``/``theta``/``tau_d`` lists of ``[P, n]`` (changing every step under
    ``agent.intrinsic``, else fixed within an episode) are readable between steps for analysis (fast weights are
    updated in place: clone them to keep a snapshot). Injury hooks:
    `erase_weights` (set every fast weight to 0 now), ``silenced`` (no transmission and no
    plasticity while True; weights kept), `block_neurons` (neuron loss until the next reset).
    Injury hooks act on the SNN only: the GRU branch (``gru_hidden > 0``; weights
    ``gru_params``, state ``gru_state [P, H]``) is untouched, except that while ``silenced`` it
    neither steps nor outputs (its state is frozen, the action is 0).
    """

    def __init__(self, obs_dim: int, act_dim: int, agent: AgentConfig | None = None, rule: RuleConfig | None = None,
                 feedback: Sequence[int] = ()) -> None:
        self.cfg = agent or AgentConfig()
        self.cfg.validate()
        self.rule = rule or RuleConfig()
        self.obs_dim, self.act_dim = int(obs_dim), int(act_dim)
        self.feedback = tuple(int(c) for c in feedback)  # observation columns of the feedback input
        if any(not 0 <= c < self.obs_dim for c in self.feedback):
            raise ShapeError(f"feedback channels {list(self.feedback)} lie outside the {self.obs_dim} observation columns")
        self.layers = network_layers(obs_dim, act_dim, self.cfg)
        self.layout = genome_layout(obs_dim, act_dim, self.cfg, self.rule, len(self.feedback))
        self.gru_hidden = int(self.cfg.gru_hidden)
        self.gru_params: GRUParams | None = None
        self.gru_state: Tensor | None = None
        self.device = agent_device(self.cfg.device)
        self.dtype = DTYPES[self.cfg.dtype]
        self.ternary = self.cfg.spikes == "ternary"
        self.layer_family = {l.name: self.rule.layer_spec(l.name).family for l in self.layers}
        self._layer_index = {l.name: k for k, l in enumerate(self.layers)}  # node perturbation's noise salt per layer
        self.plastic = any(f != "none" for f in self.layer_family.values())
        self.modulated = uses_modulator(self.cfg, self.rule, self.layers)
        self.normalize = self.rule.normalizes()
        self.pop = 0
        self.silenced = False
        # Fast weights are stored with the larger dimension last (measured 2.8x faster rule
        # updates for a 128 -> 6 readout): [P, n_in, n_out] or, where n_out < n_in, [P, n_out, n_in].
        self._transposed = {layer.name: layer.n_out < layer.n_in and self.cfg.weight_sharing == 1
                            and self.layer_family[layer.name] != THREE_FACTOR for layer in self.layers}
        self.hidden_sizes = tuple(int(h) for h in self.cfg.hidden) if self.cfg.spiking else ()
        self.two_compartment = self.cfg.neuron == "two_compartment"
        self.tau_d: list[Tensor] = []
        self._intrinsic: list = []  # per hidden layer: `pdlf.snn.intrinsic.LayerIntrinsic`
        self.n_genomes = 0
        self._w: dict[str, Tensor] = {}
        self.hidden_states: list[LIFState] = []
        self.tau: list[Tensor] = []
        self.theta: list[Tensor] = []
        self._coeffs: dict[str, RuleCoefficients] = {}
        self._in_masks: dict[str, Tensor] = {}  # layer -> 0/1 multiplier of blocked inputs (storage order)
        self._out_masks: dict[str, Tensor] = {}  # layer -> 0/1 multiplier of blocked outputs
        self._hidden_masks: dict[int, Tensor] = {}  # hidden layer index -> [P, n] (1 = alive)
        self._bias: dict[str, Tensor] = {}  # layer -> [P, n] evolved bias (agent.biases)
        self._tf: dict[str, dict[str, Tensor]] = {}  # three-factor layer -> its genes per rollout
        self._traces: dict[str, HebbTrace | DeltaTrace] = {}  # three-factor layer -> eligibility state
        self._mod: dict[str, Tensor] = {}  # modulator genes per rollout (`pdlf.plasticity.modulators`)
        self._baseline: Tensor | None = None  # [P, 1] running reward baseline (reward, perturbation)
        self._seeds: Tensor | None = None  # [P] int64 agent seeds (node perturbation's noise)
        self._step = 0  # steps since reset (node perturbation's noise counter)

    # ----------------------------------------------------------------------------- episode start
    def reset(self, genomes: Tensor, seeds: int | Sequence[int] | Tensor = 0, rows_per_genome: int = 1) -> None:
        """Start an episode for ``P = M · rows_per_genome`` agents.

        Args:
            genomes: ``[M, layout.size]`` (or ``[layout.size]`` for one genome); rollouts
                ``m·R .. m·R + R - 1`` use genome ``m``. A ``[P, size]`` view that repeats one row
                (``expand``) is read as ``M = 1``, ``R = P``.
            seeds: one seed per agent (``[P]``) or one for all; used only for random initial
                weights, so an agent's start depends on its own seed, not on its batch position.
            rows_per_genome: ``R``, consecutive rollouts per genome.

        Clears membranes, spikes, traces, the GRU state, injuries and silencing; weights start per
        ``init_weights`` (or are the genome, for rule ``none``). With ``weight_sharing = G > 1``,
        ``P`` must be a multiple of ``G`` and every group of ``G`` rollouts must have one genome.
        """
        genomes = self.layout.check(torch.as_tensor(genomes))
        rows = int(rows_per_genome)
        if genomes.shape[0] > 1 and genomes.stride(0) == 0:  # one genome expanded over its rollouts
            genomes, rows = genomes[:1], rows * genomes.shape[0]
        share = int(self.cfg.weight_sharing)
        if share > 1 and rows % share:
            genomes, rows = self._one_genome_per_group(genomes, rows, share)
        genomes = genomes.to(self.device, self.dtype)
        self.pop = pop = genomes.shape[0] * rows
        self.n_genomes = genomes.shape[0]
        per_set = rows // share  # weight sets per genome
        genes = self.layout.split(genomes)
        spec = self.rule.spec()
        self._w = {}
        self._coeffs = {}
        self._tf, self._traces = {}, {}
        for layer in self.layers:
            family = self.layer_family[layer.name]
            if family == THREE_FACTOR:
                g = genes[layer.name]
                name = self.rule.layer_spec(layer.name).name
                eta = _repeat_rows(g["eta"], per_set)
                self._tf[layer.name] = {"rule": name, "decay": eligibility_decay(_repeat_rows(g["decay"], per_set)),
                                        "eta": delta_rate(eta) if name == "tf_delta" else eta}
                w = torch.zeros(pop, layer.n_in, layer.n_out, device=self.device, dtype=self.dtype)
            elif family != "none":
                coeffs = (_repeat_rows(c, per_set) for c in self.rule.layer_spec(layer.name).coefficients(genes[layer.name]))
                self._coeffs[layer.name] = RuleCoefficients(*(self._to_storage(layer.name, c) for c in coeffs))
                w = torch.zeros(pop // share, layer.n_in, layer.n_out, device=self.device, dtype=self.dtype)
            else:
                w = _repeat_rows(genes[layer.name]["W"], per_set)
            self._w[layer.name] = self._to_storage(layer.name, w)
        self._reset_traces()
        self._mod = {k: _repeat_rows(v, rows) for k, v in genes.get(MOD_LAYER, {}).items()}
        self._baseline = torch.zeros(pop, 1, device=self.device, dtype=self.dtype) if "baseline" in self._mod else None
        self._seeds = self._seed_tensor(seeds, pop) if self.rule.modulator == "perturbation" and self._tf else None
        self._step = 0
        if self.plastic and self.cfg.init_weights == "uniform":
            self._uniform_init(seeds)
        self.hidden_states = [self._fresh_state(pop, h) for h in self.hidden_sizes]
        self.tau = [torch.full((pop, h), self.cfg.soma_tau(), device=self.device, dtype=self.dtype) for h in self.hidden_sizes]
        self.theta = [torch.full((pop, h), float(self.cfg.theta), device=self.device, dtype=self.dtype) for h in self.hidden_sizes]
        self.tau_d = ([torch.full((pop, h), self.cfg.dendrite_tau(), device=self.device, dtype=self.dtype)
                       for h in self.hidden_sizes] if self.two_compartment else [])
        self._intrinsic = []
        if self.cfg.intrinsic:  # plastic properties start at default * exp(init) and change every step
            for i, n in enumerate(self.hidden_sizes):
                state, scale = layer_intrinsic(genes[ip_layer(i)], tuple(self.cfg.intrinsic), self.cfg.intrinsic_gate,
                                               rows, pop, n, self.two_compartment, self.cfg.intrinsic_rule)
                self._intrinsic.append(state)
                props = self._properties(i)
                for k, factor in scale.items():
                    props[k] = props[k] * factor
                self._set_properties(i, props)
        # tau changes within an episode only under intrinsic plasticity; otherwise 1/tau is cached
        self._inv_tau = [None if "tau" in self.cfg.intrinsic else 1.0 / t for t in self.tau]
        self.silenced = False
        self._in_masks, self._out_masks, self._hidden_masks = {}, {}, {}
        if self.gru_hidden:
            self.gru_params = gru_params(genes[GRU_LAYER])
            self.gru_state = gru_init(pop, self.gru_hidden, self.device, self.dtype)
        self._bias = {}
        if BIAS_LAYER in genes:  # [M, 1, n] per genome -> [P, n] per rollout
            self._bias = {name: _repeat_rows(b[:, 0], rows) for name, b in genes[BIAS_LAYER].items()}

    def _reset_traces(self) -> None:
        """Zero every three-factor layer's eligibility (running means too: a fresh episode)."""
        for layer in self.layers:
            if layer.name in self._tf:
                like = self._w[layer.name]
                self._traces[layer.name] = (DeltaTrace.zeros(self.pop, layer.n_in, like)
                                            if self._tf[layer.name]["rule"] == "tf_delta"
                                            else HebbTrace.zeros(self.pop, layer.n_in, layer.n_out, like))

    def _seed_tensor(self, seeds, pop: int) -> Tensor:
        t = torch.as_tensor(seeds, dtype=torch.int64).reshape(-1)
        if t.numel() == 1:
            t = t.expand(pop)
        if t.numel() != pop:
            raise ShapeError(f"reset got {t.numel()} seeds for {pop} agents: give one per agent or one for all")
        return t.to(self.device).clone()

    def _fresh_state(self, pop: int, n: int):
        return lif_init(pop, n, self.device, self.dtype, dendrite=self.two_compartment)

    def _properties(self, i: int) -> dict[str, Tensor]:
        """Hidden layer ``i``'s per-neuron properties ``{theta, tau[, tau_d]}`` (``[P, n]`` each)."""
        props = {"theta": self.theta[i], "tau": self.tau[i]}
        if self.two_compartment:
            props["tau_d"] = self.tau_d[i]
        return props

    def _set_properties(self, i: int, props: dict[str, Tensor]) -> None:
        self.theta[i], self.tau[i] = props["theta"], props["tau"]
        if self.two_compartment:
            self.tau_d[i] = props["tau_d"]

    def _neuron_step(self, i: int, current: Tensor, state):
        if self.two_compartment:
            return two_compartment_step(current, state, self.tau_d[i], self.tau[i], self.theta[i], self.ternary)
        return lif_step(current, state, self.tau[i], self.theta[i], self.ternary, self._inv_tau[i])

    def _one_genome_per_group(self, genomes: Tensor, rows: int, share: int) -> tuple[Tensor, int]:
        """``[P, L]`` genomes, one row per rollout (``rows == 1``), as one genome per group of
        ``share`` rollouts; a group that mixes genomes is refused."""
        pop = genomes.shape[0] * rows
        if rows != 1 or pop % share:
            raise ShapeError(
                f"agent.weight_sharing={share}: {pop} rollouts ({rows} per genome) do not split into groups of"
                f" {share} rollouts of one genome; make the sequences per genome (env.repeats) a multiple of {share}"
            )
        grouped = genomes.reshape(pop // share, share, -1)
        if not torch.equal(grouped, grouped[:, :1].expand_as(grouped)):
            raise ShapeError(f"agent.weight_sharing={share}: a group of {share} consecutive rollouts has more than one genome")
        return grouped[:, 0], share

    def _uniform_init(self, seeds: int | Sequence[int] | Tensor) -> None:
        seeds_list = [int(s) for s in torch.as_tensor(seeds).reshape(-1).tolist()]
        if len(seeds_list) == 1:
            seeds_list = seeds_list * self.pop
        if len(seeds_list) != self.pop:
            raise ShapeError(f"reset got {len(seeds_list)} seeds for {self.pop} agents: give one per agent or one for all")
        seeds_list = seeds_list[:: self.cfg.weight_sharing]  # a shared weight set starts from its first rollout's seed
        scale = float(self.cfg.init_scale)
        for p, seed in enumerate(seeds_list):
            gen = torch.Generator().manual_seed(seed)
            for layer in self.layers:
                draw = torch.rand(layer.n_in, layer.n_out, generator=gen, dtype=torch.float64)
                if self.layer_family[layer.name] != "none":  # a direct layer's weights are its genes
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
    def act(self, obs: Tensor, reward: Tensor | None = None) -> Tensor:
        """One step: spikes through the network, then the rule updates every fast weight; with a
        GRU branch, one GRU step on ``obs`` and its readout added to the action.

        Args:
            obs: ``[P, obs_dim]`` network input (already normalised; goal columns raw).
            reward: ``[P]`` the reward of the previous action (0 at an episode's first step),
                read by the ``reward`` and ``perturbation`` modulators only; None = 0.

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
        feedback, rpe = self._third_factor(x, reward) if self.modulated else (None, None)
        self._step += 1
        pre_spikes = x
        pre_act = x  # activity the rule sees as "pre" of the next layer
        # (layer, pre activity, layer input: what W multiplied, post activity)
        posts: list[tuple[str, Tensor, Tensor, Tensor]] = []
        for i, state in enumerate(self.hidden_states):
            name = f"l{i}"
            current = self._perturbed(name, self._forward(name, pre_spikes))
            if name in self._bias:
                current = current + self._bias[name]
            if self.cfg.recurrent:
                current = current + self._perturbed(f"rec{i}", self._forward(f"rec{i}", state.s))
            new = self._neuron_step(i, current, state)
            if i in self._hidden_masks:
                new = new.masked(self._hidden_masks[i])
            if self._intrinsic:
                props = self._properties(i)
                self._intrinsic[i].step(props, current, new.s, new.d, feedback, rpe)
                self._set_properties(i, props)
            posts.append((name, pre_act, pre_spikes, new.z))
            if self.cfg.recurrent:
                posts.append((f"rec{i}", state.z, state.s, new.z))
            self.hidden_states[i] = new
            pre_spikes, pre_act = new.s, new.z
        if self.cfg.spiking:
            readout_in = self.hidden_states[-1].v if self.cfg.readout == "membrane" else pre_spikes
            action = self._perturbed("out", self._forward("out", readout_in))
            if "out" in self._bias:
                action = action + self._bias["out"]
            posts.append(("out", pre_act, readout_in, torch.tanh(action) if self.cfg.readout_post == "tanh" else action))
            if self.cfg.output == "tanh":
                action = torch.tanh(action)
        else:
            action = torch.zeros(self.pop, self.act_dim, device=self.device, dtype=self.dtype)
        if self.plastic:
            for name, pre, u, post in posts:
                if name in self._tf:
                    self._three_factor_update(name, u, post, feedback, rpe)
                elif self.layer_family[name] != "none":
                    self._update(name, pre, post)
        if self.gru_hidden:
            self.gru_state = gru_step(x, self.gru_state, self.gru_params)
            action = action + gru_readout(self.gru_state, self.gru_params)
        return action

    def _third_factor(self, x: Tensor, reward: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
        """This step's feedback input ``[P, n_fb]`` and reward prediction error ``[P, 1]`` (the
        baseline advances), each None where ``rule.modulator`` does not use it."""
        feedback = x[:, list(self.feedback)] if self.rule.modulator == "feedback" else None
        rpe = None
        if self._baseline is not None:
            r = torch.zeros(self.pop, 1, device=self.device, dtype=self.dtype) if reward is None else \
                torch.as_tensor(reward).to(self.device, self.dtype).reshape(self.pop, 1)
            rpe, self._baseline = reward_prediction_error(self._baseline, r, torch.sigmoid(self._mod["baseline"][:, 0]))
        return feedback, rpe

    def _perturbed(self, name: str, current: Tensor) -> Tensor:
        """``current`` plus node perturbation's noise ``σ ξ`` on a three-factor layer under
        ``rule.modulator=perturbation``; else ``current`` itself."""
        if self._seeds is None or name not in self._tf:
            return current
        xi = perturbation_noise(self._seeds, self._step, current.shape[1], self._layer_index[name]).to(current.dtype)
        return current + self._mod[f"{name}.noise"][:, 0].abs() * xi

    def _three_factor_update(self, name: str, u: Tensor, post: Tensor, feedback: Tensor | None, rpe: Tensor | None) -> None:
        """One three-factor step of layer ``name`` (`pdlf.plasticity.three_factor`), then its
        injury masks (blocked synapses stay 0)."""
        g, w = self._tf[name], self._w[name]
        if g["rule"] == "tf_delta":
            target = feedback_read(feedback, self._mod[f"{name}.read"], self._mod[f"{name}.bias"])
            gate = feedback_gate(feedback, self._mod[f"{name}.gate"], self._mod[f"{name}.gate_bias"])
            delta_update_(w, self._traces[name], u, g["eta"], g["decay"], target, gate)
        else:
            modulator = rpe if feedback is None else feedback_read(feedback, self._mod[f"{name}.read"], self._mod[f"{name}.bias"])
            hebb_update_(w, self._traces[name], u, post, g["eta"], g["decay"], modulator)
        if name in self._in_masks:
            w.mul_(self._in_masks[name])
        if name in self._out_masks:
            w.mul_(self._out_masks[name])

    def _forward(self, name: str, spikes: Tensor) -> Tensor:
        """``spikes [P, n_in] @ W [P, n_in, n_out] -> [P, n_out]`` (``W [P / G, n_in, n_out]``
        shared by each group of ``G`` rollouts)."""
        w = self._w[name]
        if w.shape[0] != self.pop:
            return torch.bmm(spikes.reshape(w.shape[0], -1, spikes.shape[1]), w).reshape(self.pop, -1)
        if self._transposed[name]:  # a broadcast product and sum beats bmm here (measured 4x)
            return (w * spikes.unsqueeze(1)).sum(2)
        return torch.bmm(spikes.unsqueeze(1), w).squeeze(1)

    def _update(self, name: str, pre: Tensor, post: Tensor) -> None:
        w = self._w[name]
        if w.shape[0] != self.pop:  # shared weight sets (no masks: injuries are per rollout)
            sets = w.shape[0]
            shared_plastic_update_(w, pre.reshape(sets, -1, pre.shape[1]), post.reshape(sets, -1, post.shape[1]),
                                   self._coeffs[name], self.normalize)
            return
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
            self.hidden_states[i] = self._neuron_step(i, zero, state)
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
        else:
            self._refuse_shared("per-rollout synapse erasure")
        self._w[name].masked_fill_(self._to_storage(name, erased), 0.0)

    def block_neurons(self, layer: int, blocked: Tensor) -> None:
        """Neuron loss: hidden neurons of ``layer`` marked in ``blocked`` (``[P, n]`` or ``[n]``
        bool) never spike again this episode; their incoming and outgoing synapses are 0 and stay 0.
        """
        self._refuse_shared("neuron loss")
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
        self.hidden_states[layer] = self.hidden_states[layer].masked(alive)

    def _refuse_shared(self, what: str) -> None:
        if self.cfg.weight_sharing > 1:
            raise ShapeError(f"{what} acts on one rollout's synapses, but agent.weight_sharing={self.cfg.weight_sharing}"
                             " shares them across rollouts: use agent.weight_sharing=1 for injury tests")

    def reset_membranes(self) -> None:
        """Zero every membrane, dendrite, spike, trace, three-factor eligibility trace and the GRU
        state (the working-memory test, a new task in learning to learn); fast weights, intrinsic
        properties (θ, τ, τ_d), their running statistics and the reward baseline are kept."""
        self.hidden_states = [self._fresh_state(self.pop, h) for h in self.hidden_sizes]
        for name, trace in self._traces.items():
            trace.e.zero_()
        for state in self._intrinsic:
            state.reset_eligibility()
        if self.gru_hidden:
            self.gru_state = gru_init(self.pop, self.gru_hidden, self.device, self.dtype)


def _repeat_rows(t: Tensor | None, times: int) -> Tensor | None:
    """``t [M, ...]`` with each row repeated ``times`` times in place (``[M · times, ...]``)."""
    if t is None or times == 1:
        return t
    return t.repeat_interleave(times, dim=0)
