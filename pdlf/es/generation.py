"""One generation's fitness: the single path from a population to the numbers a searcher is told.

Every searcher and every task goes through `generation_fitness` (the `Trainer`, evotorch's
searchers through `PlasticityProblem`, the working-memory runner through the `Trainer`):

    task    = generation_task(cfg, g, population, goals, normalizer, center)   # what workers share
    result  = evaluator.evaluate(task, members, include_center)                 # per-goal returns
    fitness = sanitize_fitness(result.per_goal(members).sum(axis=1))            # NaN/inf -> worst
    normalizer.update(result.obs_stats)                                         # after, never during

Fitness of a genome = sum over the goals of its mean return over ``env.repeats`` episodes; all
members of a generation share its goals, env seeds (`env_seeds_for`: common random numbers) and
the observation normaliser frozen before it began.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from pdlf.config import RunConfig
from pdlf.es.evaluator import Evaluator, GenerationResult
from pdlf.es.searchers import Population, generation_seed, sanitize_fitness
from pdlf.normalizer import ObsNormalizer
from pdlf.workers import CENTER, GenerationTask

ENV_SEED_PURPOSE = 2  # `generation_seed` purpose of the env seeds (1: search samples)


def env_seeds_for(cfg: RunConfig, generation: int, n_goals: int) -> np.ndarray:
    """``[G, R]`` env seeds of a generation: fresh every generation, shared by all members. With
    ``env.mirror_pairs`` repeat ``2k + 1`` is repeat ``2k``'s mirrored twin (seed + the task's
    ``mirror_bit``)."""
    rng = np.random.default_rng(generation_seed(cfg.es.seed, generation, purpose=ENV_SEED_PURPOSE))
    seeds = rng.integers(0, 2**31 - 1, size=(n_goals, cfg.env.repeats), dtype=np.int64)
    if cfg.env.mirror_pairs:
        from pdlf.envs import get_task

        seeds[:, 1::2] = seeds[:, 0::2] + get_task(cfg.env.name).mirror_bit
    return seeds


@dataclass(frozen=True)
class FitnessParts:
    """How much of a generation's fitness spread between members is learning and how much bias.

    For a mirrored pair of episodes (returns ``f``, ``f'``) the *learning* part is ``(f + f') / 2``
    (an agent that ignores the feedback, whatever its bias, scores the same on every pair) and the
    *bias* part ``(f - f') / 2`` (what an unmirrored task would add). Per member each part is
    summed over goals and averaged over pairs, like the fitness; the variances are over members.

    Attributes:
        learning_var, bias_var: variance over members of each part.
        learning_share: ``learning_var / (learning_var + bias_var)`` (NaN if both are 0).
    """

    learning_var: float
    bias_var: float
    learning_share: float


def fitness_parts(returns: np.ndarray) -> FitnessParts:
    """`FitnessParts` of ``returns`` ``[P, G, R]`` whose repeats are mirrored pairs (``R`` even);
    diverged members (NaN) are left out."""
    returns = np.asarray(returns, dtype=np.float64)
    ok = np.isfinite(returns).all(axis=(1, 2))
    r = returns[ok]
    learning = ((r[:, :, 0::2] + r[:, :, 1::2]) / 2).mean(axis=2).sum(axis=1)
    bias = ((r[:, :, 0::2] - r[:, :, 1::2]) / 2).mean(axis=2).sum(axis=1)
    lv = float(learning.var()) if learning.size else float("nan")
    bv = float(bias.var()) if bias.size else float("nan")
    total = lv + bv
    return FitnessParts(lv, bv, lv / total if total > 0 else float("nan"))


def training_goals(cfg: RunConfig) -> np.ndarray:
    """``[G]`` goals every member is scored on: ``env.goals``, or the task's 8 training goals."""
    from pdlf.envs import get_task

    spec = get_task(cfg.env.name)
    goals = np.asarray(cfg.env.goals or spec.train_goals(), dtype=np.float64)
    for g in goals:
        spec.check_goal(g, cfg.env.extrapolate)
    return goals


def new_normalizer(cfg: RunConfig) -> ObsNormalizer:
    """The run's observation normaliser (goal columns raw), empty."""
    from pdlf.envs import get_task

    spec = get_task(cfg.env.name)
    return ObsNormalizer(spec.obs_dim, spec.goal_dim, cfg.env.obs_clip, cfg.env.normalize_obs)


def generation_task(
    cfg: RunConfig,
    population: Population,
    goals: np.ndarray,
    normalizer: ObsNormalizer,
    center: Tensor | None = None,
) -> GenerationTask:
    """What every slice of generation ``population.generation`` shares (sent once per generation)."""
    g = population.generation
    return GenerationTask(
        generation=g,
        population=population,
        center=center,
        goals=np.asarray(goals, dtype=np.float64),
        env_seeds=env_seeds_for(cfg, g, len(goals)),
        norm=normalizer.freeze(),
    )


@dataclass
class GenerationFitness:
    """What one generation measured.

    Attributes:
        generation: its index.
        fitness: ``[P]`` float64, sanitised: a diverged member (NaN/inf return) lies below every
            finite fitness of the generation. This is what the searcher is told.
        per_goal: ``[P, G]`` float64 mean return per goal over the repeats (NaN where diverged).
        n_diverged: members whose returns were NaN/inf.
        center_per_goal: ``[G]`` the centre's mean return per goal, or None if not evaluated.
        result: the evaluator's raw `GenerationResult` (env steps, retries, workers alive, ...).
        parts: the learning and bias parts of the fitness spread (``env.mirror_pairs``), else None.
    """

    generation: int
    fitness: Tensor
    per_goal: np.ndarray
    n_diverged: int
    center_per_goal: np.ndarray | None
    result: GenerationResult
    parts: FitnessParts | None = None

    @property
    def finite(self) -> Tensor:
        """The fitness of the members that did not diverge (all of them if every one did)."""
        ok = torch.as_tensor(np.isfinite(self.per_goal).all(axis=1))
        return self.fitness[ok] if bool(ok.any()) else self.fitness

    @property
    def env_steps(self) -> int:
        return self.result.env_steps


def generation_fitness(
    evaluator: Evaluator,
    cfg: RunConfig,
    population: Population,
    goals: np.ndarray,
    normalizer: ObsNormalizer,
    center: Tensor | None = None,
) -> GenerationFitness:
    """Evaluate every member of ``population`` (and ``center`` if given); update ``normalizer``.

    The normaliser is frozen for the whole generation and updated afterwards from the
    population's observations (the centre's are left out), so it learns the same way whichever
    searcher, task or worker layout runs the generation.
    """
    task = generation_task(cfg, population, goals, normalizer, center)
    members = list(range(population.popsize))
    result = evaluator.evaluate(task, members, include_center=center is not None)
    per_goal = result.per_goal(members)  # [P, G]
    fitness, n_diverged = sanitize_fitness(torch.as_tensor(per_goal.sum(axis=1)))
    if result.obs_stats is not None:
        normalizer.update(result.obs_stats)
    center_per_goal = result.returns[CENTER].mean(axis=1) if CENTER in result.returns else None
    parts = fitness_parts(np.stack([result.returns[m] for m in members])) if cfg.env.mirror_pairs else None
    return GenerationFitness(population.generation, fitness, per_goal, n_diverged, center_per_goal, result, parts)


__all__ = ["env_seeds_for", "FitnessParts", "fitness_parts", "training_goals", "new_normalizer", "generation_task",
           "GenerationFitness", "generation_fitness"]
