"""Evaluating fixed genomes in this process: goals × seeds as one batch through `rollout`.

The runners (eval, injury, analysis, report) call `evaluate_genome`; it builds the agents and the
batched env and hands everything to the one rollout loop, with whatever perturbations the runner
asks for. Rollout ``(goal g, seed s)`` is named by those two numbers: the same genome, goal and
seed always give the same episode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch

from pdlf.errors import ConfigError
from pdlf.normalizer import FrozenNorm
from pdlf.rollout import Perturbation, RolloutResult, rollout
from pdlf.snn.network import PlasticSNN, task_agents


@dataclass
class Evaluation:
    """Returns ``[G, S]`` of one genome on ``goals [G]`` × ``seeds [S]``; rewards ``[T, G, S]``."""

    goals: np.ndarray
    seeds: np.ndarray
    returns: np.ndarray
    rewards: np.ndarray | None
    result: RolloutResult


def evaluate_genome(
    cfg,
    genome: torch.Tensor,
    goals: Sequence[float] | np.ndarray,
    seeds: Sequence[int] | np.ndarray,
    norm: FrozenNorm | None = None,
    perturbations: Sequence[Perturbation] = (),
    record_rewards: bool = False,
    episode_steps: int | None = None,
    extrapolate: bool = True,
    agent_hook: Callable[[PlasticSNN], None] | None = None,
    env_hooks: Callable[[Any], Sequence[Perturbation]] | None = None,
) -> Evaluation:
    """Run ``genome`` (``[L]``) on every (goal, seed) pair at once.

    Args:
        cfg: the run's `RunConfig` (task, agent, rule).
        genome: ``[L]`` flat genome.
        goals, seeds: ``[G]`` goals and ``[S]`` env seeds; the batch is ``G * S`` episodes.
        norm: the run's frozen observation normaliser.
        perturbations: hooks for the rollout loop (``pdlf.perturb``).
        record_rewards: keep per-step rewards.
        episode_steps: episode length (default: the run's ``env.episode_steps`` or the task's).
        extrapolate: allow goals outside the training range (unseen-goal evaluation).
        agent_hook: called with the agent before the rollout (e.g. to move it to a device).
        env_hooks: called with the batched env (member ``i·S + j`` runs goal ``i`` with seed ``j``)
            before the rollout; returns hooks that need it (a `pdlf.perturb.GoalSwitch` that switches
            the env's goal, a probe reading its physics), run after ``perturbations``.
    """
    from pdlf.envs import get_task, make_batched

    spec = get_task(cfg.env.name)
    goals = np.asarray(goals, dtype=np.float64)
    seeds = np.asarray(seeds, dtype=np.int64)
    g, s = len(goals), len(seeds)
    agent = task_agents(spec, cfg.agent, cfg.rule)
    if agent_hook is not None:
        agent_hook(agent)
    steps = episode_steps or cfg.env.episode_steps or None
    env = make_batched(spec.name, g * s, max_steps=steps, extrapolate=extrapolate, params=cfg.env.params,
                       **cfg.env.physics())
    batch_goals = np.repeat(goals, s)
    batch_seeds = np.tile(seeds, g)
    genomes = genome.reshape(1, -1).expand(g * s, -1)
    hooks = [*perturbations, *(env_hooks(env) if env_hooks is not None else ())]
    res = rollout(agent, env, genomes, batch_goals, batch_seeds, agent_seeds=batch_seeds, norm=norm,
                  perturbations=hooks, record_rewards=record_rewards)
    env.close()
    rewards = res.rewards.reshape(res.rewards.shape[0], g, s) if res.rewards is not None else None
    return Evaluation(goals, seeds, res.returns.reshape(g, s), rewards, res)


def env_seeds(n: int, first: int = 0, flag: str = "--seeds") -> np.ndarray:
    """``[n]`` int64 env seeds ``first .. first + n - 1``; `ConfigError` naming ``flag`` if ``n < 1``."""
    if n < 1:
        raise ConfigError(f"{flag} {n}: give at least 1 seed")
    return np.arange(first, first + n, dtype=np.int64)


def check_positive(**values: int) -> None:
    """`ConfigError` for the first ``--name value`` pair that is below 1 (step counts, widths, periods)."""
    for name, value in values.items():
        if value is not None and value < 1:
            raise ConfigError(f"--{name.replace('_', '-')} {value}: must be at least 1")
