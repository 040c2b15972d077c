r"""Working memory on the copy task (TASKS.md) and on associative recall, through the one training path.

A working-memory run is an ordinary run config on the task ``copy`` (``configs/copy.yaml``) or
``assoc`` (``configs/assoc.yaml``), so it trains with `pdlf train`'s `Trainer` (checkpoints, bit-identical resume, metrics.csv,
TensorBoard, Ray workers) and is scored by the same generation-fitness function as every task:
each of ``env.repeats`` sequences is one episode of ``T = 2L + D + 1`` steps, and a sequence's
return is the number of recall bits reproduced (``env.params.reward: accuracy``), so

    recall accuracy = return / L        (chance 0.5)

Every member of a generation sees the same sequences (their env seeds are shared); every sequence
has its own agent, so its own fast weights.

Agent kinds, the same network otherwise (3 inputs → ``agent.hidden`` LIF neurons with
hidden→hidden weights → 1 output; every search starts at the zero centre, PDLF):

| kind    | config change                             | where memory can live          |
|---------|-------------------------------------------|--------------------------------|
| plastic | rule ``pdlf`` (η, A, B, C, D per synapse) | fast weights (plastic rec.)    |
| direct  | ``rule.name=none``: the weights evolve     | membranes, spikes, traces      |
| hybrid  | ``agent.gru_hidden=16``: + an evolved GRU  | fast weights and the GRU state |
| pdlf-hybrid | PDLF's reference (below)               | shared fast weights, GRU state |
| pdlf-gru    | PDLF's GRU baseline: the GRU alone     | the GRU state                  |

PDLF's working-memory reference (``pdlf wm --model pdlf-hybrid``, `PDLF_MODELS`): a plastic LIF
path 3→128→1 without recurrence (fast weights from zero, rule ``hebb_abcd``: ``ΔW = η⊙(A⊙pre⊗post
+ B⊙pre + C⊙post + D)`` per synapse, ``W /= max|W|``; post of the readout = tanh of its output)
plus a directly evolved 128-unit GRU (Flax's cell, biased 128→1 readout) whose output is added to
the spiking readout. On the copy task the ``env.repeats`` sequences of a member share one set of
fast weights, updated by the sum of their updates (``agent.weight_sharing``; ``--per-sequence-weights``
for one set per sequence, the default on ``assoc``). Genomes: 2,560 rule + 50,945 GRU = 53,505
genes; ``pdlf-gru`` alone 50,945 — PDLF's logged sizes. The recall window is PDLF's (steps
``L+D .. 2L+D−1`` of ``2L+D+1``). Differences from PDLF that remain: PDLF's copy-task file is not
public, so the input encoding is rebuilt from its figure notebook (TASKS.md); its batch was 512
sequences, ours ``env.repeats`` (32 by default; any multiple works); our LIF neurons (ternary
spikes, τ = e, θ = 0.1) and the rule's "pre" of the readout (the hidden trace, as in our
locomotion agents) follow our network (`pdlf.snn.network`), PDLF's working-memory script may
differ there; the search is our PGPE, not PDLF's OpenES settings; and the GRU's genes start at 0
(PDLF initialised its GRU with Flax's initialisers).

Membrane reset (spec §5): ``env.params.membrane_reset: true`` zeroes every membrane, spike, trace
and GRU state before each of the ``D + 1`` silent steps; fast weights are never touched. It is a
hook of the task itself, so it applies in training (``--train-reset``) and testing alike.

Associative recall (``assoc``) shows each bit with a one-hot key during the input phase and only
the keys, in a shuffled order, during recall: with the membrane reset on (its default here) no
activity survives the delay, so only fast weights can hold the key → bit associations, and a
direct-weight agent is at chance by construction.
"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdlf.config import RunConfig, config_from_dict
from pdlf.envs.copy_task import CopyTaskConfig, copy_params
from pdlf.errors import ConfigError
from pdlf.es.generation import training_goals
from pdlf.es.searchers import generation_seed
from pdlf.interrupts import StoppedBySignal
from pdlf.registry import did_you_mean

KINDS = ("plastic", "direct", "hybrid", "pdlf-hybrid", "pdlf-gru")
TEST_SEED_PURPOSE = 4  # `generation_seed` purpose of the held-out test sequences

# The working-memory run configs: configs/copy.yaml and configs/assoc.yaml hold the same (a test checks it).
COPY_CONFIG: dict[str, Any] = {
    "env": {"name": "copy", "goals": [0.5], "repeats": 32, "normalize_obs": False,
            "params": {"length": 8, "delay": 16, "reward": "accuracy", "membrane_reset": False}},
    "agent": {"hidden": [16], "recurrent": True},
    "rule": {"name": "pdlf"},
    "es": {"searcher": "pgpe", "popsize": 256, "generations": 100, "sigma_init": 0.1, "center_lr": 0.05},
    "ray": {"workers": 0, "max_batch": 8192},
    "checkpoint": {"every": 10},
}
# Settings chosen by measurement (see configs/assoc.yaml): the PDLF rule without its D term, the
# only term that changes a weight while pre and post are silent, so the delay cannot erode memory.
ASSOC_CONFIG: dict[str, Any] = {
    "env": {"name": "assoc", "goals": [0.5], "repeats": 16, "normalize_obs": False,
            "params": {"length": 8, "delay": 16, "reward": "margin", "membrane_reset": True}},
    "agent": {"hidden": [32], "recurrent": False},
    "rule": {"name": "pdlf", "genes": ["eta", "A", "B", "C"]},
    "es": {"searcher": "pgpe", "popsize": 256, "generations": 1000, "sigma_init": 0.05, "center_lr": 0.02},
    "ray": {"workers": 0, "max_batch": 8192},
    "checkpoint": {"every": 50},
}
TASK_CONFIGS: dict[str, dict[str, Any]] = {"copy": COPY_CONFIG, "assoc": ASSOC_CONFIG}
KIND_OVERRIDES: dict[str, tuple[str, ...]] = {
    "plastic": ("agent.gru_hidden=0",),
    "direct": ("rule.name=none", "rule.genes=[]", "agent.gru_hidden=0"),
    "hybrid": (),
}
HYBRID_GRU = 16  # GRU units of the hybrid kind unless told otherwise
PDLF_UNITS = 128  # PDLF's working-memory models: 128 LIF neurons and a 128-unit GRU
# PDLF's working-memory reference models (module docstring); their own changes, applied last.
PDLF_MODELS: dict[str, tuple[str, ...]] = {
    "pdlf-hybrid": (f"agent.hidden=[{PDLF_UNITS}]", "agent.recurrent=false", f"agent.gru_hidden={PDLF_UNITS}",
                    "agent.spiking=true", "agent.readout_post=tanh", "rule.name=hebb_abcd", "rule.genes=[]"),
    "pdlf-gru": ("agent.spiking=false", f"agent.gru_hidden={PDLF_UNITS}", "agent.recurrent=false",
                 "agent.weight_sharing=1", "rule.name=none", "rule.genes=[]"),
}


def kind_config(data: dict[str, Any], kind: str, overrides: list[str] | tuple[str, ...] = (),
                gru_hidden: int = HYBRID_GRU, shared_weights: bool | None = None) -> RunConfig:
    """The run config of agent ``kind`` from a copy-task config mapping plus dotted overrides.

    The kind's own changes (`KIND_OVERRIDES`, `PDLF_MODELS`) come last, so every kind gets the same
    budget whatever the overrides say; only the hybrid kind has a ``gru_hidden``-unit GRU.
    ``shared_weights`` (pdlf-hybrid only): all ``env.repeats`` sequences of a member share one set
    of fast weights (PDLF's batch); None = shared on the copy task, per sequence on assoc (whose
    point is a memory per sequence). A plastic or hybrid kind with rule ``none`` is refused: that
    is the direct kind.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown working-memory kind {kind!r}: {did_you_mean(kind, KINDS)}")
    if kind == "hybrid":
        own: tuple[str, ...] = (f"agent.gru_hidden={gru_hidden}",)
    else:
        own = KIND_OVERRIDES.get(kind) or PDLF_MODELS[kind]
    cfg = config_from_dict(data, [*overrides, *own])
    if cfg.env.name not in TASK_CONFIGS:
        raise ConfigError(f"env.name={cfg.env.name!r}: working-memory runs use {' or '.join(TASK_CONFIGS)}")
    if kind == "pdlf-hybrid":
        shared = cfg.env.name == "copy" if shared_weights is None else bool(shared_weights)
        cfg = config_from_dict(data, [*overrides, *own, f"agent.weight_sharing={cfg.env.repeats if shared else 1}"])
    elif kind != "pdlf-gru":
        cfg = config_from_dict(data, [*overrides, *own, "agent.weight_sharing=1", "agent.spiking=true",
                                      "agent.readout_post=action"])
    if kind not in ("direct", "pdlf-gru") and cfg.rule.name == "none":
        raise ConfigError(f"rule.name='none' with kind {kind}: the {kind} kind needs a plasticity rule (use kind direct)")
    return cfg


def copy_task(cfg: RunConfig) -> CopyTaskConfig:
    """The run's length L and delay D (``env.params``, defaults filled in); both tasks take T = 2L + D + 1."""
    from pdlf.envs import get_task

    params = copy_params(cfg.env.params, get_task(cfg.env.name))
    return CopyTaskConfig(length=int(params["length"]), delay=int(params["delay"]))


def recall_length(cfg: RunConfig) -> int:
    """L, the bits to recall."""
    return copy_task(cfg).length


def agent_steps(cfg: RunConfig) -> int:
    """The run's budget in agent-steps: popsize × generations × sequences × steps per sequence."""
    sequences = len(training_goals(cfg)) * cfg.env.repeats
    return cfg.es.popsize * cfg.es.generations * sequences * copy_task(cfg).steps


@dataclass
class WMResult:
    """A finished working-memory training run.

    Attributes:
        cfg: its run config.
        run_dir: its run directory (metrics.csv, checkpoints, tb/).
        train_curve: the centre's recall accuracy on each generation's sequences, before the
            generation's update (``fitness/center / L``; with the membrane reset when the run
            trains with it).
        population_accuracy: mean recall accuracy of each generation's members.
        center: the final centre genome ``[size]``.
        seconds_per_generation: mean wall time of one generation.
    """

    cfg: RunConfig
    run_dir: Path
    train_curve: list[float] = field(default_factory=list)
    population_accuracy: list[float] = field(default_factory=list)
    center: torch.Tensor = field(default_factory=lambda: torch.zeros(0))
    seconds_per_generation: float = 0.0


def _curves(cfg: RunConfig, run_dir: Path) -> tuple[list[float], list[float], list[float]]:
    """Centre accuracy, population accuracy and seconds per generation from ``run_dir/metrics.csv``."""
    length = recall_length(cfg)
    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return ([float(r["fitness/center"]) / length for r in rows if r.get("fitness/center")],
            [float(r["fitness/mean"]) / length for r in rows],
            [float(r["perf/seconds"]) for r in rows if r.get("perf/seconds")])


def train(cfg: RunConfig, run_dir: str | Path, force: bool = False) -> WMResult:
    """Train ``cfg`` (a copy-task run config) with the `Trainer` into ``run_dir``; read its curves.
    Raises `StoppedBySignal` when a Ctrl-C or SIGTERM stopped the run early (it is checkpointed)."""
    from pdlf.es.trainer import Trainer

    t0 = time.perf_counter()
    trainer = Trainer.create(cfg, Path(run_dir), force=force)
    summary = trainer.run()
    if summary.get("interrupted"):  # a signal stopped the run: stop the command, not only this run
        raise StoppedBySignal(summary["interrupted"], str(run_dir))
    centre_curve, population, _ = _curves(cfg, Path(run_dir))
    return WMResult(
        cfg=cfg,
        run_dir=Path(run_dir),
        train_curve=centre_curve,
        population_accuracy=population,
        center=trainer.searcher.center().to(torch.float32),
        seconds_per_generation=(time.perf_counter() - t0) / max(1, int(summary["generations"])),
    )


def load_finished(cfg: RunConfig, run_dir: str | Path) -> WMResult | None:
    """The result of a finished run of exactly ``cfg`` in ``run_dir`` (the same resolved config,
    all ``es.generations`` done), or None, so that a report re-run reuses it instead of retraining.
    Its ``seconds_per_generation`` is the mean generation time metrics.csv recorded."""
    import yaml

    run_dir = Path(run_dir)
    try:
        stored = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
        center = torch.load(run_dir / "center.pt", weights_only=True)
        if stored.to_dict() != cfg.to_dict() or int(center["generation"]) < cfg.es.generations:
            return None
        centre_curve, population, seconds = _curves(cfg, run_dir)
    except (OSError, ValueError, KeyError, TypeError, ConfigError, RuntimeError):
        return None
    return WMResult(cfg=cfg, run_dir=run_dir, train_curve=centre_curve, population_accuracy=population,
                    center=center["genome"].to(torch.float32),
                    seconds_per_generation=float(np.mean(seconds)) if seconds else 0.0)


def held_out_seeds(cfg: RunConfig, n: int) -> np.ndarray:
    """``[n]`` env seeds of the held-out test sequences (never used in training)."""
    rng = np.random.default_rng(generation_seed(cfg.es.seed, 0, purpose=TEST_SEED_PURPOSE))
    return rng.integers(0, 2**31 - 1, size=n, dtype=np.int64)


def recall_accuracy(cfg: RunConfig, genome: torch.Tensor, n_sequences: int = 256,
                    membrane_reset: bool = False) -> float:
    """Mean recall accuracy of ``genome`` (``[L_genome]``) on ``n_sequences`` held-out sequences.

    Runs through `pdlf.evaluation.evaluate_genome` (the one rollout loop); ``membrane_reset``
    turns the task's delay-step reset on for this test, whatever the run trained with.
    """
    import dataclasses

    from pdlf.evaluation import evaluate_genome

    params = {**cfg.env.params, "membrane_reset": bool(membrane_reset), "reward": "accuracy"}
    test_cfg = dataclasses.replace(cfg, env=dataclasses.replace(cfg.env, params=params))
    with torch.no_grad():
        res = evaluate_genome(test_cfg, genome, [0.5], held_out_seeds(cfg, n_sequences), norm=None)
    return float(np.mean(res.returns)) / recall_length(cfg)


__all__ = ["KINDS", "PDLF_MODELS", "PDLF_UNITS", "COPY_CONFIG", "ASSOC_CONFIG", "TASK_CONFIGS", "KIND_OVERRIDES", "HYBRID_GRU", "kind_config", "copy_task", "recall_length", "agent_steps", "WMResult",
           "train", "load_finished", "held_out_seeds", "recall_accuracy"]
