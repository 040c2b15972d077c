"""The one time loop: ``B`` agents × ``B`` env episodes stepped in lockstep, with hooks.

Training, evaluation, injury and analysis all call `rollout`; what differs between them is the
`Perturbation` objects passed in (``pdlf.perturb``), which may read or change the agents' state
before and after every step. A task may impose hooks of its own (``env.task_hooks``, e.g. the
copy task's membrane reset during the delay); they run first, in training and evaluation alike. Rollout ``b`` uses genome ``genomes[b]``, goal ``goals[b]``, env seed
``env_seeds[b]`` and agent seed ``agent_seeds[b]``: its numbers depend only on those, never on its
position in the batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
import torch

from pdlf.normalizer import FrozenNorm, ObsStats
from pdlf.snn.network import PlasticSNN


class Perturbation(Protocol):
    """A hook on the loop; ``agent`` is the agent population (a `PlasticSNN`).

    Steps are numbered from 1 everywhere (hooks, perturbation windows, recordings, reports):
    step ``k`` is the ``k``-th action of the episode, as in the papers (PDLF's injury window is
    steps 501-549).
    """

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> np.ndarray | None:
        """Called before the agent takes action number ``step``; may return a replacement raw ``obs``."""

    def after_step(self, step: int, agent: PlasticSNN, reward: np.ndarray) -> None:
        """Called after env step number ``step`` with its rewards ``[B]``."""


@dataclass
class RolloutResult:
    """What a batch of episodes produced.

    Attributes:
        returns: ``[B]`` float64 sum of rewards.
        lengths: ``[B]`` steps each episode ran.
        diverged: ``[B]`` True where the agent's actions or the env's state became NaN/inf.
        env_steps: env steps taken, over all members.
        obs_stats: raw statistics of the observations seen (for the normaliser).
        rewards: ``[T, B]`` per-step rewards if requested, else None.
    """

    returns: np.ndarray
    lengths: np.ndarray
    diverged: np.ndarray
    env_steps: int
    obs_stats: ObsStats | None = None
    rewards: np.ndarray | None = field(default=None, repr=False)


def rollout(
    agent: PlasticSNN,
    env,
    genomes: torch.Tensor,
    goals: np.ndarray,
    env_seeds: np.ndarray,
    agent_seeds: np.ndarray | Sequence[int] | int = 0,
    norm: FrozenNorm | None = None,
    perturbations: Sequence[Perturbation] = (),
    collect_stats: bool | np.ndarray = False,
    record_rewards: bool = False,
    rows_per_genome: int = 1,
    reset_agent: bool = True,
) -> RolloutResult:
    """Run ``B = genomes.shape[0] · rows_per_genome`` episodes to the end (all done or ``env.max_steps``).

    Args:
        agent: the agent population (reset here with ``genomes``).
        env: a `BatchedEnv` with ``batch_size == B``.
        genomes: ``[B / R, L]``: episodes ``m·R .. m·R + R - 1`` use genome ``m``
            (``R = rows_per_genome``; 1: one genome row per episode).
        goals, env_seeds: ``[B]`` each.
        agent_seeds: seeds for random initial weights, ``[B]`` or one for all.
        norm: frozen observation normalisation, or None for raw observations.
        perturbations: hooks called around every step, in order, after the env's ``task_hooks``.
        collect_stats: also return raw observation statistics (non-goal columns); a ``[B]`` bool
            array collects them from those rows only.
        record_rewards: also return per-step rewards ``[T, B]``.
        rows_per_genome: ``R``, consecutive episodes per genome row (a large genome is then not
            copied per episode).
        reset_agent: False keeps the agents as the previous rollout left them (fast weights,
            intrinsic state, membranes; ``genomes`` is then unused): learning-to-learn carries the
            plastic state from one task's episode to the next (`pdlf.l2l`).
    """
    perturbations = (*getattr(env, "task_hooks", ()), *perturbations)
    obs = env.reset(np.asarray(goals, dtype=np.float64), np.asarray(env_seeds, dtype=np.int64))
    if not reset_agent:
        if getattr(agent, "pop", obs.shape[0]) != obs.shape[0]:
            raise ValueError(f"reset_agent=False with {agent.pop} agents for {obs.shape[0]} episodes")
    elif rows_per_genome == 1:
        agent.reset(genomes, agent_seeds)
    else:
        agent.reset(genomes, agent_seeds, rows_per_genome=rows_per_genome)
    b = obs.shape[0]
    returns = np.zeros(b)
    lengths = np.zeros(b, dtype=np.int64)
    diverged = np.zeros(b, dtype=bool)
    stats_rows = np.asarray(collect_stats, dtype=bool) if np.ndim(collect_stats) else np.full(b, bool(collect_stats))
    stats = ObsStats.zeros(obs.shape[1] - env.goal_dim) if stats_rows.any() else None
    per_step = [] if record_rewards else None
    alive = ~env.done
    t = 0
    while t < env.max_steps and alive.any():
        for p in perturbations:
            replaced = p.before_step(t + 1, agent, obs)
            if replaced is not None:
                obs = replaced
        if stats is not None:
            stats.add_batch(obs[:, : stats.sum.shape[0]], alive & ~diverged & stats_rows)
        x = norm.apply(obs) if norm is not None else obs.astype(np.float32)
        action = agent.act(torch.from_numpy(x)).detach().to("cpu", torch.float64).numpy()
        bad = ~np.isfinite(action).all(axis=1)
        if bad.any():
            diverged |= bad & alive
            action = np.where(bad[:, None], 0.0, action)
        obs, reward, done = env.step(action)
        bad_env = ~(np.isfinite(obs).all(axis=1) & np.isfinite(reward))
        if bad_env.any():
            diverged |= bad_env & alive
            obs = np.where(bad_env[:, None], 0.0, obs)
            reward = np.where(bad_env, 0.0, reward)
        returns += reward
        lengths += alive
        for p in perturbations:
            p.after_step(t + 1, agent, reward)
        if per_step is not None:
            per_step.append(reward.copy())
        alive = ~done
        t += 1
    returns[diverged] = np.nan
    return RolloutResult(
        returns=returns,
        lengths=lengths,
        diverged=diverged,
        env_steps=int(lengths.sum()),
        obs_stats=stats,
        rewards=np.stack(per_step) if per_step else None,
    )
