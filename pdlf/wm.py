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
from pdlf.registry import did_you_mean

KINDS = ("plastic", "direct", "hybrid")
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


def kind_config(data: dict[str, Any], kind: str, overrides: list[str] | tuple[str, ...] = (),
                gru_hidden: int = HYBRID_GRU) -> RunConfig:
    """The run config of agent ``kind`` from a copy-task config mapping plus dotted overrides.

    The kind's own changes (`KIND_OVERRIDES`) come last, so every kind gets the same budget and
    network whatever the overrides say; only the hybrid kind has a GRU (``gru_hidden`` units).
    A plastic or hybrid kind with rule ``none`` is refused: that is the direct kind.
    """
    if kind not in KINDS:
        raise ConfigError(f"unknown working-memory kind {kind!r}: {did_you_mean(kind, KINDS)}")
    own = KIND_OVERRIDES[kind] if kind != "hybrid" else (f"agent.gru_hidden={gru_hidden}",)
    cfg = config_from_dict(data, [*overrides, *own])
    if cfg.env.name not in TASK_CONFIGS:
        raise ConfigError(f"env.name={cfg.env.name!r}: working-memory runs use {' or '.join(TASK_CONFIGS)}")
    if kind != "direct" and cfg.rule.name == "none":
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


def train(cfg: RunConfig, run_dir: str | Path, force: bool = False) -> WMResult:
    """Train ``cfg`` (a copy-task run config) with the `Trainer` into ``run_dir``; read its curves."""
    from pdlf.es.trainer import Trainer

    t0 = time.perf_counter()
    trainer = Trainer.create(cfg, Path(run_dir), force=force)
    summary = trainer.run()
    length = recall_length(cfg)
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return WMResult(
        cfg=cfg,
        run_dir=Path(run_dir),
        train_curve=[float(r["fitness/center"]) / length for r in rows if r.get("fitness/center")],
        population_accuracy=[float(r["fitness/mean"]) / length for r in rows],
        center=trainer.searcher.center().to(torch.float32),
        seconds_per_generation=(time.perf_counter() - t0) / max(1, int(summary["generations"])),
    )


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


__all__ = ["KINDS", "COPY_CONFIG", "ASSOC_CONFIG", "TASK_CONFIGS", "KIND_OVERRIDES", "HYBRID_GRU", "kind_config", "copy_task", "recall_length", "agent_steps", "WMResult",
           "train", "held_out_seeds", "recall_accuracy"]
