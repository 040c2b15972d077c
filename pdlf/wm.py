r"""The working-memory copy task (TASKS.md) evolved and evaluated as pure tensors.

``P`` genomes × ``B`` sequences are ``P·B`` agents stepped together in one `PlasticSNN`: agent
``p·B + b`` runs genome ``p`` on sequence ``b``, so every sequence has its **own fast weights**.
(PDLF shared one set of fast weights across its batch of 512 sequences; per-sequence weights
make a sequence's recall depend on that sequence alone, which is what the membrane-reset test
asks about.) The agent's scalar output per step is the readout, scored by
`pdlf.envs.copy_task.copy_score` (bit 1 where the output is above 0.5).

Agent kinds (same network: 3 inputs → ``hidden`` LIF neurons with hidden→hidden weights →
1 output; every genome starts at the zero centre, PDLF):

| kind    | genome                                   | where memory can live          |
|---------|------------------------------------------|--------------------------------|
| plastic | rule genes (``pdlf``: η, A, B, C, D)     | fast weights (plastic rec.)    |
| direct  | the weights (rule ``none``)              | membranes, spikes, traces      |
| hybrid  | rule genes + a directly evolved GRU      | fast weights and the GRU state |

``hybrid`` is PDLF's plastic WM model: a GRU branch (`GRUBranch`, ``gru_hidden`` units, its weights
appended to the genome) whose scalar output is summed with the plastic SNN's readout.

Fitness (ES maximises it, per genome, mean over the batch's recall steps):

- ``accuracy`` (default): fraction of recall bits reproduced (chance 0.5); a step function of
  the genome, so members tie on small batches (centred ranks share ties).
- ``margin``: ``clip((2y − 1)(o − 0.5) / margin, −1, 1)``, the target-signed distance of the output
  ``o`` from the threshold, saturating at ``margin``. It equals ``2·accuracy − 1`` once every
  output is at least ``margin`` from the threshold, and is smooth below that. Measured on
  L=2, D=0 (popsize 64, 30 generations, 4 seeds) it did worse than ``accuracy``: the spiking
  readout's outputs are sums of ±W_out entries, rarely near the threshold, so smoothing buys
  little and rewards large outputs instead.

Membrane reset (spec §5): before each of the ``D + 1`` silent steps (the delay and the separator)
`WMAgent.reset_membranes` zeroes every membrane, spike, trace and GRU state; fast weights are
never touched. It is `pdlf.perturb.MembraneReset` passed to `run_sequences` as a hook.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import Tensor

from pdlf.config import ESConfig, SEARCHERS
from pdlf.envs.copy_task import CopyBatch, CopyTaskConfig, copy_accuracy, make_copy_batch
from pdlf.errors import ConfigError, GenomeShapeError
from pdlf.es.searchers import generation_seed, make_searcher, sanitize_fitness
from pdlf.perturb import MembraneReset
from pdlf.plasticity.catalog import RULES, RuleConfig
from pdlf.registry import did_you_mean
from pdlf.snn.network import AgentConfig, PlasticSNN

KINDS = ("plastic", "direct", "hybrid")
FITNESSES = ("accuracy", "margin")
_BATCH_SEED, _VALID_SEED, _TEST_SEED = 2, 3, 4  # `generation_seed` purposes of the sequence draws


@dataclass(frozen=True)
class WMConfig:
    """One copy-task training run.

    Attributes:
        length: L, bits to memorise and recall.
        delay: D, silent steps between input and recall (plus one separator step).
        kind: ``plastic``, ``direct`` or ``hybrid`` (module docstring).
        hidden: LIF neurons in the hidden layer.
        recurrent: plastic (or, for ``direct``, evolved) hidden→hidden weights.
        rule: plasticity rule of the plastic kinds (``pdlf``, ``scp``, ``hebb_abcd``, ...).
        gru_hidden: GRU units of the ``hybrid`` branch (PDLF: 128).
        popsize: genomes per generation (even: PGPE samples antithetic pairs).
        generations: ES generations.
        batch: sequences per generation, the same for every member (common random numbers).
        eval_batch: sequences of the fixed validation set (centre accuracy per generation) and of
            the final test set.
        sigma: initial per-gene search standard deviation.
        lr: learning rate of the centre (Adam for PGPE).
        searcher: pgpe, snes, xnes, cem or cmaes.
        fitness: ``margin`` or ``accuracy`` (module docstring).
        margin: output distance from the threshold at which ``margin`` fitness saturates.
        seed: master seed (search samples and every sequence draw).
        train_reset: apply the membrane reset during training too, so that only memory kept in
            the fast weights (or nowhere, for ``direct``) can reach the recall window.
    """

    length: int = 8
    delay: int = 16
    kind: str = "plastic"
    hidden: int = 16
    recurrent: bool = True
    rule: str = "pdlf"
    gru_hidden: int = 16
    popsize: int = 256
    generations: int = 100
    batch: int = 32
    eval_batch: int = 256
    sigma: float = 0.1
    lr: float = 0.05
    searcher: str = "pgpe"
    fitness: str = "accuracy"
    margin: float = 0.5
    seed: int = 0
    train_reset: bool = False

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"wm.{f.name}={value!r}: expected an integer")
            if f.type in ("float", float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
                raise ConfigError(f"wm.{f.name}={value!r}: expected a number")
            if f.type in ("bool", bool) and not isinstance(value, bool):
                raise ConfigError(f"wm.{f.name}={value!r}: expected true or false")
            if f.type in ("str", str) and not isinstance(value, str):
                raise ConfigError(f"wm.{f.name}={value!r}: expected a string")
        minimum = {"length": 1, "delay": 0, "hidden": 1, "gru_hidden": 1, "popsize": 2, "generations": 1,
                   "batch": 1, "eval_batch": 1}
        for name, low in minimum.items():
            if getattr(self, name) < low:
                raise ConfigError(f"wm.{name}={getattr(self, name)}: must be >= {low}")
        for name in ("sigma", "lr", "margin"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"wm.{name}={getattr(self, name)}: must be > 0")
        if self.kind not in KINDS:
            raise ConfigError(f"wm.kind={self.kind!r}: {did_you_mean(self.kind, KINDS)}")
        if self.fitness not in FITNESSES:
            raise ConfigError(f"wm.fitness={self.fitness!r}: {did_you_mean(self.fitness, FITNESSES)}")
        if self.searcher not in SEARCHERS:
            raise ConfigError(f"wm.searcher={self.searcher!r}: {did_you_mean(self.searcher, SEARCHERS)}")
        if self.searcher == "pgpe" and self.popsize % 2:
            raise ConfigError(f"wm.popsize={self.popsize}: PGPE samples antithetic pairs, use an even number")
        if self.rule not in RULES:
            raise ConfigError(f"wm.rule={self.rule!r}: {did_you_mean(self.rule, RULES.names())}")
        if self.kind != "direct" and RULES.get(self.rule).family == "none":
            raise ConfigError(f"wm.rule={self.rule!r}: the {self.kind} kind needs a plasticity rule (use kind=direct)")

    def replace(self, **changes: Any) -> "WMConfig":
        return dataclasses.replace(self, **changes)

    @property
    def task(self) -> CopyTaskConfig:
        return CopyTaskConfig(length=self.length, delay=self.delay)

    def rule_config(self) -> RuleConfig:
        return RuleConfig(name="none" if self.kind == "direct" else self.rule)

    def es_config(self) -> ESConfig:
        return ESConfig(searcher=self.searcher, popsize=self.popsize, generations=self.generations, seed=self.seed,
                        sigma_init=self.sigma, center_lr=self.lr)


def wm_config_from_dict(data: dict[str, Any]) -> WMConfig:
    """A `WMConfig` from a mapping (YAML, CLI); unknown keys raise `ConfigError` with a hint."""
    names = [f.name for f in dataclasses.fields(WMConfig)]
    for key in data:
        if key not in names:
            raise ConfigError(f"unknown wm key {key!r}: {did_you_mean(str(key), names)}")
    return WMConfig(**data)


class GRUBranch:
    """``P`` directly evolved GRUs, each run on ``B`` sequences; the hybrid's second readout.

    Per genome: ``W_x [C, 3H]``, ``W_h [H, 3H]``, ``b [3H]`` (gates r, z, n) and ``w_out [H]``,
    flattened in that order. Standard GRU step, ``h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}``, output
    ``h_t · w_out``. State ``h``: ``[P, B, H]``.
    """

    def __init__(self, n_in: int, hidden: int) -> None:
        self.n_in, self.hidden = int(n_in), int(hidden)
        h = self.hidden
        self.shapes = {"W_x": (self.n_in, 3 * h), "W_h": (h, 3 * h), "b": (1, 3 * h), "w_out": (h, 1)}
        self.size = sum(a * b for a, b in self.shapes.values())
        self.params: dict[str, Tensor] = {}  # name -> [P, *shape], views into the genomes
        self.h = torch.zeros(0)

    def reset(self, genes: Tensor, batch: int) -> None:
        """``genes``: ``[P, size]``; zero state for ``batch`` sequences per genome."""
        pop, offset = genes.shape[0], 0
        self.params = {}
        for name, (a, b) in self.shapes.items():
            self.params[name] = genes[:, offset : offset + a * b].reshape(pop, a, b)
            offset += a * b
        self.h = torch.zeros(pop, batch, self.hidden, dtype=genes.dtype)

    def step(self, x: Tensor) -> Tensor:
        """``x``: ``[P, B, C]`` → output ``[P, B]``."""
        p, h = self.params, self.hidden
        gx = torch.bmm(x, p["W_x"]) + p["b"]  # [P, B, 3H]
        gh = torch.bmm(self.h, p["W_h"])
        r = torch.sigmoid(gx[..., :h] + gh[..., :h])
        z = torch.sigmoid(gx[..., h : 2 * h] + gh[..., h : 2 * h])
        n = torch.tanh(gx[..., 2 * h :] + r * gh[..., 2 * h :])
        self.h = torch.lerp(n, self.h, z)
        return torch.bmm(self.h, p["w_out"]).squeeze(-1)

    def reset_state(self) -> None:
        self.h = torch.zeros_like(self.h)


class WMAgent:
    """``P`` genomes × ``B`` sequences of one kind; genome layout ``[SNN genes | GRU genes]``."""

    def __init__(self, cfg: WMConfig) -> None:
        task = cfg.task
        self.cfg = cfg
        agent = AgentConfig(hidden=(cfg.hidden,), recurrent=cfg.recurrent)
        self.snn = PlasticSNN(task.input_dim, task.output_dim, agent, cfg.rule_config())
        self.gru = GRUBranch(task.input_dim, cfg.gru_hidden) if cfg.kind == "hybrid" else None
        self.snn_size = self.snn.layout.size
        self.size = self.snn_size + (self.gru.size if self.gru else 0)
        self.pop = self.batch = 0

    def initial_genome(self) -> Tensor:
        """The ES centre at the start, ``[size]``: zero (PDLF)."""
        return torch.zeros(self.size)

    def reset(self, genomes: Tensor, batch: int) -> None:
        """Start ``batch`` sequences for each of ``genomes`` (``[P, size]``)."""
        genomes = torch.as_tensor(genomes, dtype=torch.float32)
        if genomes.ndim != 2 or genomes.shape[1] != self.size:
            raise GenomeShapeError(f"wm genomes have shape {tuple(genomes.shape)}, expected [P, {self.size}] for {self.cfg.kind}")
        self.pop, self.batch = genomes.shape[0], int(batch)
        self.snn.reset(genomes[:, : self.snn_size].repeat_interleave(self.batch, dim=0), 0)
        if self.gru is not None:
            self.gru.reset(genomes[:, self.snn_size :], self.batch)

    def step(self, x: Tensor) -> Tensor:
        """``x``: ``[B, C]`` this step's inputs (the same for every genome) → outputs ``[P, B]``."""
        out = self.snn.act(x.repeat(self.pop, 1)).view(self.pop, self.batch)
        if self.gru is not None:
            out = out + self.gru.step(x.expand(self.pop, *x.shape))
        return out

    def reset_membranes(self) -> None:
        """Zero membranes, spikes, traces and the GRU state; never the fast weights."""
        self.snn.reset_membranes()
        if self.gru is not None:
            self.gru.reset_state()

    @property
    def weights(self) -> dict[str, Tensor]:
        """The SNN's fast weights, ``{layer: [P·B, n_in, n_out]}`` (live views)."""
        return self.snn.weights


def run_sequences(agent: WMAgent, genomes: Tensor, batch: CopyBatch, hooks: Sequence[Any] = ()) -> Tensor:
    """Run ``genomes`` (``[P, size]``) on every sequence of ``batch``; outputs ``[P, T, B]``.

    The copy task's time loop: pure tensors, no env, every step's input known in advance. (MuJoCo
    tasks go through `pdlf.rollout.rollout`; this task has no env to step, so it has its own.)

    ``hooks``: `pdlf.perturb` objects; ``before_step(t, agent, x)`` and ``after_step(t, agent,
    None)`` are called around step ``t`` (0-based) with the `WMAgent`.
    """
    T, B, _ = batch.inputs.shape
    agent.reset(genomes, B)
    outs = []
    for t in range(T):
        x = batch.inputs[t]
        for hook in hooks:
            changed = hook.before_step(t, agent, x)
            x = x if changed is None else changed
        outs.append(agent.step(x))
        for hook in hooks:
            hook.after_step(t, agent, None)
    return torch.stack(outs, dim=1)


def delay_reset(task: CopyTaskConfig) -> MembraneReset:
    """Membrane reset before each silent step: 1-based steps ``L+1 .. L+D+1``."""
    return MembraneReset(start=task.length + 1, stop=task.length + task.delay + 1)


def wm_fitness(outputs: Tensor, batch: CopyBatch, kind: str = "margin", margin: float = 0.5) -> Tensor:
    """Fitness per genome ``[P]`` from outputs ``[P, T, B]`` (module docstring)."""
    if kind == "accuracy":
        return copy_accuracy(outputs, batch)
    r0, thr = batch.cfg.recall_start, batch.cfg.threshold
    sign = batch.targets[r0:].to(outputs.dtype) * 2.0 - 1.0  # [L, B]
    return ((outputs[:, r0:] - thr) * sign / margin).clamp(-1.0, 1.0).mean(dim=(1, 2))


def sequences(cfg: WMConfig, purpose: int, size: int, generation: int = 0) -> CopyBatch:
    """The seeded batch of ``size`` sequences for (run seed, generation, purpose)."""
    gen = torch.Generator().manual_seed(generation_seed(cfg.seed, generation, purpose))
    return make_copy_batch(cfg.task, size, gen)


def evaluate(cfg: WMConfig, genome: Tensor, membrane_reset: bool = False, batch: CopyBatch | None = None,
             agent: WMAgent | None = None) -> float:
    """Recall accuracy of one ``genome`` (``[size]``) on ``batch`` (default: the test set)."""
    agent = agent or WMAgent(cfg)
    if batch is None:
        batch = sequences(cfg, _TEST_SEED, cfg.eval_batch)
    hooks = [delay_reset(cfg.task)] if membrane_reset else []
    with torch.no_grad():
        return float(copy_accuracy(run_sequences(agent, genome.reshape(1, -1), batch, hooks), batch)[0])


@dataclass
class WMResult:
    """A finished `train_wm` run.

    Attributes:
        cfg: the run's config.
        train_curve: centre accuracy on the fixed validation set after each generation (with the
            membrane reset if ``cfg.train_reset``).
        population_accuracy: mean accuracy of the generation's members on its batch.
        center: the final centre genome ``[size]``.
        seconds_per_generation: mean wall time of one generation (sample, roll out, update).
    """

    cfg: WMConfig
    train_curve: list[float] = field(default_factory=list)
    population_accuracy: list[float] = field(default_factory=list)
    center: Tensor = field(default_factory=lambda: torch.zeros(0))
    seconds_per_generation: float = 0.0


def train_wm(cfg: WMConfig, progress: Callable[[int, float], None] | None = None) -> WMResult:
    """Evolve ``cfg.kind`` agents on the copy task with pdlf's searcher (ask/tell, in process).

    Every member of generation ``g`` sees the same ``cfg.batch`` sequences, drawn from
    ``(cfg.seed, g)``; the centre is scored after each update on a fixed validation set.
    ``progress(generation, centre_accuracy)`` is called after each generation.
    """
    agent = WMAgent(cfg)
    searcher = make_searcher(cfg.es_config(), agent.initial_genome())
    valid = sequences(cfg, _VALID_SEED, cfg.eval_batch)
    hooks = [delay_reset(cfg.task)] if cfg.train_reset else []
    result = WMResult(cfg)
    seconds = 0.0
    with torch.no_grad():
        for g in range(cfg.generations):
            t0 = time.perf_counter()
            population = searcher.ask(g)
            batch = sequences(cfg, _BATCH_SEED, cfg.batch, generation=g)
            outputs = run_sequences(agent, population.genomes(), batch, hooks)
            fitness, _ = sanitize_fitness(wm_fitness(outputs, batch, cfg.fitness, cfg.margin))
            searcher.tell(population, fitness)
            seconds += time.perf_counter() - t0
            result.population_accuracy.append(float(copy_accuracy(outputs, batch).mean()))
            result.train_curve.append(evaluate(cfg, searcher.center(), cfg.train_reset, valid, agent))
            if progress is not None:
                progress(g, result.train_curve[-1])
    result.center = searcher.center().to(torch.float32)
    result.seconds_per_generation = seconds / cfg.generations
    return result


__all__ = [
    "KINDS", "FITNESSES", "WMConfig", "wm_config_from_dict", "GRUBranch", "WMAgent", "run_sequences", "delay_reset",
    "wm_fitness", "sequences", "evaluate", "WMResult", "train_wm",
]
