"""The one time loop: ``B`` agents × ``B`` env episodes stepped in lockstep, with hooks.

Training, evaluation, injury and analysis all call `rollout`; what differs between them is the
`Perturbation` objects passed in (``pdlf.perturb``), which may read or change the agents' state
before and after every step. A task may impose hooks of its own (``env.task_hooks``, e.g. the
copy task's membrane reset during the delay); they run first, in training and evaluation alike. Rollout ``b`` uses genome ``genomes[b]``, goal ``goals[b]``, env seed
``env_seeds[b]`` and agent seed ``agent_seeds[b]``: its numbers depend only on those, never on its
position in the batch.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Protocol, Sequence

import numpy as np
import torch

from pdlf.array_namespace import torch_namespace
from pdlf.normalizer import DeviceObsStats, FrozenNorm, ObsStats
from pdlf.snn.network import PlasticSNN

# on the device, the loop asks whether every member is done only every this many steps (each
# question waits for the device); the steps in between, after all are done, change nothing
DEVICE_DONE_CHECK = 16


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
    on_device: bool = False,
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
        on_device: keep the episode on the env's device (an env with ``resident = True``:
            `pdlf.envs.mjwarp_batched.MjWarpBatchedEnv`): observations, actions, rewards, the
            normalisation, the statistics and the returns are torch tensors there, and the loop
            never waits on the device except to test every `DEVICE_DONE_CHECK` steps whether all
            members are done. Hooks then see tensors. The results are returned on the host.
    """
    if on_device and not getattr(env, "resident", False):
        raise ValueError(f"on_device=True needs a device-resident env (env.backend=mjwarp), got {type(env).__name__}")
    # on the device, every torch operation of the episode runs on the simulator's stream
    with env.device_scope() if on_device else contextlib.nullcontext():
        perturbations = (*getattr(env, "task_hooks", ()), *perturbations)
        goals = np.asarray(goals, dtype=np.float64)
        env_seeds = np.asarray(env_seeds, dtype=np.int64)
        obs = env.reset_tensors(goals, env_seeds) if on_device else env.reset(goals, env_seeds)
        if not reset_agent:
            if getattr(agent, "pop", obs.shape[0]) != obs.shape[0]:
                raise ValueError(f"reset_agent=False with {agent.pop} agents for {obs.shape[0]} episodes")
        elif rows_per_genome == 1:
            agent.reset(genomes, agent_seeds)
        else:
            agent.reset(genomes, agent_seeds, rows_per_genome=rows_per_genome)
        b = obs.shape[0]
        stats_rows = np.asarray(collect_stats, dtype=bool) if np.ndim(collect_stats) else np.full(b, bool(collect_stats))
        n_stats = obs.shape[1] - env.goal_dim
        if on_device:  # the loop's arrays as tensors on the env's device; `xp` runs either kind
            xp, dev = torch_namespace, obs.device
            returns = torch.zeros(b, dtype=torch.float64, device=dev)
            lengths = torch.zeros(b, dtype=torch.int64, device=dev)
            diverged = torch.zeros(b, dtype=torch.bool, device=dev)
            alive = torch.ones(b, dtype=torch.bool, device=dev)
            stats = DeviceObsStats(n_stats, dev) if stats_rows.any() else None
            stats_rows_x = torch.as_tensor(stats_rows, device=dev)
        else:
            xp = np
            returns = np.zeros(b)
            lengths = np.zeros(b, dtype=np.int64)
            diverged = np.zeros(b, dtype=bool)
            alive = ~env.done
            stats = ObsStats.zeros(n_stats) if stats_rows.any() else None
            stats_rows_x = stats_rows
        per_step = [] if record_rewards else None
        # the reward of the previous action, the agents' third factor (0 before the first)
        last_reward = torch.zeros(b, dtype=torch.float64, device=obs.device) if on_device else np.zeros(b)
        t = 0
        while t < env.max_steps and (on_device and t % DEVICE_DONE_CHECK or alive.any()):
            for p in perturbations:
                replaced = p.before_step(t + 1, agent, obs)
                if replaced is not None:
                    obs = replaced
            if stats is not None:
                stats.add_batch(obs[:, :n_stats], alive & ~diverged & stats_rows_x)
            if on_device:
                x = norm.apply_tensor(obs) if norm is not None else obs.to(torch.float32)
                action = agent.act(x, last_reward).detach().to(dev)
            else:
                x = norm.apply(obs) if norm is not None else obs.astype(np.float32)
                action = agent.act(torch.from_numpy(x), torch.from_numpy(last_reward)).detach().to("cpu", torch.float64).numpy()
            bad = ~xp.isfinite(action).all(axis=1)
            if on_device or bad.any():  # on the device: always, rather than wait to ask
                diverged |= bad & alive
                action = xp.where(bad[:, None], 0.0, action)
            obs, reward, done = env.step_tensors(action) if on_device else env.step(action)
            bad_env = ~(xp.isfinite(obs).all(axis=1) & xp.isfinite(reward))
            if on_device or bad_env.any():
                diverged |= bad_env & alive
                obs = xp.where(bad_env[:, None], 0.0, obs)
                reward = xp.where(bad_env, 0.0, reward)
            returns += reward
            last_reward = reward
            lengths += alive
            for p in perturbations:
                p.after_step(t + 1, agent, reward)
            if per_step is not None:
                per_step.append(reward.clone() if on_device else reward.copy())
            alive = ~done
            t += 1
        returns[diverged] = np.nan
        if on_device:
            env.check_capacity()
            returns, lengths, diverged = (a.cpu().numpy() for a in (returns, lengths, diverged))
            stats = stats.to_host() if stats is not None else None
            if per_step is not None:  # up to the step the last member finished, as on the host
                per_step = [r.to("cpu", torch.float64).numpy() for r in per_step[: int(lengths.max(initial=0))]]
    return RolloutResult(
        returns=returns,
        lengths=lengths,
        diverged=diverged,
        env_steps=int(lengths.sum()),
        obs_stats=stats,
        rewards=np.stack(per_step) if per_step else None,
    )
