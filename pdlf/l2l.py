r"""Learning to learn (IP², TASKS.md): a sequence of tasks of one family, the plastic state carried over.

A run trained on a cognitive task family (``dms``, ``ctx_dms``, ``gng_dr2``, ``gng_dr4``;
`pdlf.envs.cognitive`) is shown ``N`` tasks of that family one after another. Each task is one
episode of the family's env (a new stimulus → response mapping, drawn from the task's seed) with
``trials`` trials; between tasks only activity is reset (membranes, spikes, traces, GRU state:
``agent.reset_membranes``; between trials too where the run trains with ``trial_reset``), while
fast weights and intrinsic properties (θ, τ) carry over from task to task (`pdlf.rollout.rollout`
with ``reset_agent=False`` after the first task).

Per task the *trials to threshold* is the first trial count ``t ≥ window`` at which the fraction
correct over the last ``window`` trials reaches ``threshold`` (default 90 % over 20 trials), or
None, a *failure*, when it is not reached within the task's trials. Learning to learn holds where
trials to threshold fall along the sequence: ``slope`` is the least-squares trend of trials to
threshold against the task index (failures counted at the trial limit); below 0 = faster later.

``S`` independent sequences (``sequences``) run in parallel as ``S`` agents of one genome, each
with its own task seeds; every number is reported per sequence and pooled.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from pdlf.errors import ConfigError
from pdlf.es.searchers import generation_seed

FAMILIES = ("dms", "ctx_dms", "gng_dr2", "gng_dr4")
L2L_SEED_PURPOSE = 5  # `generation_seed` purpose of the learning-to-learn task seeds


def trials_to_threshold(correct: np.ndarray, threshold: float = 0.9, window: int = 20) -> int | None:
    """First ``t >= window`` with ``mean(correct[t - window : t]) >= threshold`` (trials counted
    from 1), or None if no window of ``correct`` (``[n_trials]`` bool) reaches it."""
    correct = np.asarray(correct, dtype=np.float64)
    if correct.size < window:
        return None
    sums = np.convolve(correct, np.ones(window), mode="valid")  # sums[k] = correct[k : k + window].sum()
    hits = np.flatnonzero(sums >= threshold * window - 1e-9)
    return int(hits[0]) + window if hits.size else None


def learning_slope(trials: list[float | None], limit: int) -> float:
    """Least-squares slope of trials to threshold against task index 0..N-1 (failures at ``limit``)."""
    y = np.asarray([limit if t is None else t for t in trials], dtype=np.float64)
    if y.size < 2:
        return 0.0
    return float(np.polyfit(np.arange(y.size, dtype=np.float64), y, 1)[0])


@dataclass
class L2LResult:
    """One learning-to-learn evaluation.

    Attributes:
        family: the task family (env name).
        tasks: tasks per sequence.
        trials_per_task: the trial limit of each task.
        trials_to_threshold: ``[S][N]`` per sequence and task (None = failure).
        accuracy: ``[S][N]`` fraction of trials correct per task.
        failures: tasks (over all sequences) whose threshold was not reached.
        slope: `learning_slope` of the mean over sequences (failures at the limit).
    """

    family: str
    tasks: int
    trials_per_task: int
    threshold: float
    window: int
    trials_to_threshold: list[list[int | None]] = field(default_factory=list)
    accuracy: list[list[float]] = field(default_factory=list)
    failures: int = 0
    slope: float = 0.0

    def mean_trials(self) -> list[float]:
        """Mean trials to threshold per task index over sequences (failures at the limit)."""
        limit = self.trials_per_task
        return [float(np.mean([limit if s[j] is None else s[j] for s in self.trials_to_threshold]))
                for j in range(self.tasks)]


def task_seeds(seed: int, sequences: int, tasks: int) -> np.ndarray:
    """``[tasks, sequences]`` env seeds of the tasks (never the training seeds' purpose)."""
    rng = np.random.default_rng(generation_seed(seed, 0, purpose=L2L_SEED_PURPOSE))
    return rng.integers(0, 2**31 - 1, size=(tasks, sequences), dtype=np.int64)


def evaluate_l2l(cfg, genome: torch.Tensor, tasks: int, trials: int = 100, sequences: int = 1,
                 threshold: float = 0.9, window: int = 20, seed: int = 0, norm=None) -> L2LResult:
    """Run ``sequences`` sequences of ``tasks`` tasks of ``cfg``'s family with ``genome`` (``[L]``).

    Args:
        cfg: the run's config (its env must be a cognitive family).
        genome: ``[L]`` flat genome.
        tasks, trials: tasks per sequence and trials per task (the trial limit).
        sequences: independent sequences, run in parallel.
        threshold, window: the performance criterion.
        seed: seed of the task seeds (`task_seeds`).
        norm: the run's frozen observation normaliser, or None.
    """
    return evaluate_l2l_genomes(cfg, genome.reshape(1, -1), tasks, trials, sequences, threshold, window, seed, norm)[0]


def evaluate_l2l_genomes(cfg, genomes: torch.Tensor, tasks: int, trials: int = 100, sequences: int = 1,
                         threshold: float = 0.9, window: int = 20, seed: int = 0, norm=None) -> list[L2LResult]:
    """`evaluate_l2l` for ``G`` genomes of one config at once (``genomes`` ``[G, L]``, e.g. the
    centres of several search seeds), all in one batched rollout of ``G · sequences`` rows; every
    genome meets the same task seeds. Returns one `L2LResult` per genome, in order."""
    from pdlf.envs import get_task, make_batched
    from pdlf.rollout import rollout
    from pdlf.snn.network import task_agents

    if cfg.env.name not in FAMILIES:
        raise ConfigError(f"learning to learn needs a run on a task family ({', '.join(FAMILIES)}); this run is on {cfg.env.name!r}")
    for label, value, low in (("tasks", tasks, 1), ("trials", trials, window), ("sequences", sequences, 1), ("window", window, 1)):
        if int(value) < low:
            raise ConfigError(f"--{label}={value}: must be >= {low}")
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"--threshold={threshold}: give a fraction in (0, 1]")
    if genomes.ndim != 2:
        raise ValueError(f"genomes must be [G, L], got shape {tuple(genomes.shape)}")
    n_genomes = genomes.shape[0]
    rows = n_genomes * sequences  # row g * sequences + s: genome g, sequence s
    spec = get_task(cfg.env.name)
    # one task per episode (training may have shown several, env.params.n_tasks); trial_reset as trained
    params = {**cfg.env.params, "n_trials": int(trials), "n_tasks": 1}
    env = make_batched(spec.name, rows, params=params)
    agent = task_agents(spec, cfg.agent, cfg.rule)
    seeds = np.tile(task_seeds(seed, sequences, tasks), (1, n_genomes))  # [tasks, rows]
    goals = np.full(rows, 0.5)
    results = [L2LResult(cfg.env.name, int(tasks), int(trials), float(threshold), int(window),
                         trials_to_threshold=[[] for _ in range(sequences)], accuracy=[[] for _ in range(sequences)])
               for _ in range(n_genomes)]
    with torch.no_grad():
        for j in range(tasks):
            if j:
                agent.reset_membranes()  # a new task: activity only; fast weights and θ, τ kept
            rollout(agent, env, genomes, goals, seeds[j], agent_seeds=seeds[0], norm=norm, reset_agent=(j == 0),
                    rows_per_genome=sequences)
            for row in range(rows):
                result, s = results[row // sequences], row % sequences
                result.trials_to_threshold[s].append(trials_to_threshold(env.trial_correct[row], threshold, window))
                result.accuracy[s].append(float(env.trial_correct[row].mean()))
    for result in results:
        result.failures = sum(t is None for row in result.trials_to_threshold for t in row)
        result.slope = learning_slope(result.mean_trials(), trials)
    return results


__all__ = ["FAMILIES", "trials_to_threshold", "learning_slope", "L2LResult", "task_seeds", "evaluate_l2l",
           "evaluate_l2l_genomes"]
