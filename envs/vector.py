"""Batched stepping: `B` episodes of one task, with mixed goals, in one process.

This is what a training worker steps: ``make_batched(task, B)`` returns a `BatchedEnv` whose
`reset` takes one goal and one seed per member and whose `step` takes ``[B, act_dim]`` actions
and returns ``(obs [B, obs_dim], reward [B], done [B])``, all float64 / bool numpy arrays.

Member ``b`` follows exactly the trajectory of ``gym.make(spec.gym_id, goal=goals[b])`` reset
with ``seed=seeds[b]`` and stepped with ``actions[:, b]``: same observations, rewards and
termination (tested to the last bit for the locomotion tasks). A member is done once it
terminates or after `max_steps` steps; from then on it is no longer stepped, its observation
stays frozen and its reward is 0.

Two implementations share that contract:

- `KernelBatchedEnv` (ant_dir, swimmer_dir, halfcheetah_vel, hopper_vel): one shared
  `MjModel`, `B` `MjData`, one ``mj_step(nstep=frame_skip)`` call per member and step, and
  observations/rewards computed for the whole batch at once by the task's `LocomotionKernel`.
  Per-member Python work is three array copies, so it runs close to raw physics speed.
- `GymBatchedEnv` (any other registered task): `B` unwrapped gymnasium envs made from the
  task's gym id, each reset with ``seed`` and ``options={"goal": g}`` and stepped in turn.

A third, `pdlf.envs.mjwarp_batched.MjWarpBatchedEnv`, steps the four locomotion tasks on MuJoCo
Warp (``backend="mjwarp"``, on the CPU or a GPU): same contract, same kernels, float32 physics;
`pdlf.envs.mjwarp_reaching.MjWarpReachEnv` does the same for fetch and ur5e (`REACH_ENVS`).
``make_batched(..., backend=, device=, friction_cone=)`` chooses (a run config's ``env.backend``,
``env.device``, ``env.friction_cone``: ``EnvConfig.physics()``); ``friction_cone`` is set on the
MuJoCo model of either backend.

A task may also register its own `BatchedEnv` class with `register_batched` (the copy task:
``pdlf.envs.copy_batched.CopyBatchedEnv``, pure numpy). Task settings (a run config's
``env.params``) reach the env through ``make_batched(..., params=...)``; they are checked by
``spec.check_params`` (names and values), so tasks that take none reject any.

Task hooks: ``env.task_hooks`` is a tuple of objects with the `pdlf.rollout.Perturbation`
interface (``before_step(step, agent, obs)``, ``after_step(step, agent, reward)``, steps numbered
from 1) that are part of the task's protocol rather than an experiment, e.g. the copy task's
membrane reset during the delay. Every rollout of the env applies them; empty by default.

Mid-episode access: ``env.set_goals(goals)`` switches the members' goals for the rest of the
episode (the reward and the observation follow; `pdlf.perturb.GoalSwitch` calls it), and
``env.physics(b)`` returns member ``b``'s ``(MjModel, MjData)`` for reading (``pdlf render``).
Tasks that cannot do either raise `ConfigError`.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.utils import seeding

from pdlf.envs.ant_dir import AntDirEnv
from pdlf.envs.fetch import FetchEnv
from pdlf.envs.halfcheetah_vel import HalfCheetahVelEnv
from pdlf.envs.hopper_vel import HopperVelEnv
from pdlf.envs.locomotion import GoalEnvMixin, set_friction_cone
from pdlf.envs.swimmer_dir import SwimmerDirEnv
from pdlf.envs.tasks import TaskSpec, get_task
from pdlf.envs.ur5e import UR5eEnv
from pdlf.errors import ConfigError, ShapeError, UnknownNameError

# tasks with a fast path: task name -> its gymnasium env class (which carries the kernel)
KERNEL_ENVS: dict[str, type[GoalEnvMixin]] = {
    cls.task.name: cls for cls in (AntDirEnv, SwimmerDirEnv, HalfCheetahVelEnv, HopperVelEnv)
}
# target-reaching tasks: task name -> env class (its instances carry a `ReachKernel`); on C MuJoCo
# they step as `GymBatchedEnv`, on MuJoCo Warp as `pdlf.envs.mjwarp_reaching.MjWarpReachEnv`
REACH_ENVS: dict[str, type] = {cls.task.name: cls for cls in (FetchEnv, UR5eEnv)}


class _Member(NamedTuple):
    """One member of a `KernelBatchedEnv`: its MjData, a view of its ``ctrl``, and the
    ``(MjData view, batch-array row)`` pairs copied after each step."""

    data: mujoco.MjData
    ctrl: np.ndarray
    copies: tuple[tuple[np.ndarray, np.ndarray], ...]


class BatchedEnv(abc.ABC):
    """`B` episodes of one task stepped together (see the module docstring for the contract).

    Attributes:
        spec: the task's `TaskSpec`.
        batch_size: ``B``.
        max_steps: steps after which every member is done (default ``spec.episode_steps``).
        obs_dim, act_dim, goal_dim: sizes, from `spec`.
        done: ``[B]`` bool, members that have terminated or reached `max_steps`.
        steps: `step` calls since the last `reset`.
        task_hooks: hooks with the `pdlf.rollout.Perturbation` interface that belong to the
            task itself (module docstring); the rollout loop applies them, before any
            experiment perturbation, on every episode. Empty unless the task sets them.
    """

    task_hooks: tuple = ()

    def __init__(
        self, spec: TaskSpec, batch_size: int, max_steps: int | None, extrapolate: bool
    ) -> None:
        if batch_size < 1:
            raise ShapeError(f"batch_size must be >= 1, got {batch_size}")
        self.spec = spec
        self.batch_size = int(batch_size)
        self.max_steps = int(spec.episode_steps if max_steps is None else max_steps)
        if self.max_steps < 1:
            raise ShapeError(f"max_steps must be >= 1, got {self.max_steps}")
        self.extrapolate = bool(extrapolate)
        self.obs_dim = spec.obs_dim
        self.act_dim = spec.act_dim
        self.goal_dim = spec.goal_dim
        self.done = np.ones(self.batch_size, dtype=bool)
        self.steps = 0
        self._obs = np.zeros((self.batch_size, self.obs_dim), dtype=np.float64)
        self._was_reset = False

    @property
    def all_done(self) -> bool:
        """True once every member is done (and before the first `reset`)."""
        return bool(self.done.all())

    def reset(self, goals: np.ndarray, seeds: np.ndarray) -> np.ndarray:
        """Start a new episode in every member.

        Args:
            goals: ``[B]`` float, one goal per member (checked against the range unless the env
                was made with ``extrapolate=True``).
            seeds: ``[B]`` int, one seed per member (as ``reset(seed=...)``).

        Returns:
            ``[B, obs_dim]`` float64 initial observations.
        """
        goals = self._checked_goals(goals)
        seeds = np.asarray(seeds)
        if seeds.shape != (self.batch_size,):
            raise ShapeError(f"seeds must have shape ({self.batch_size},), got {seeds.shape}")
        if not np.issubdtype(seeds.dtype, np.integer):
            raise ShapeError(f"seeds must be integers, got dtype {seeds.dtype}")
        self._obs[:] = self._reset(goals, [int(s) for s in seeds])
        self.done[:] = False
        self.steps = 0
        self._was_reset = True
        return self._obs.copy()

    def set_goals(self, goals: np.ndarray) -> None:
        """Switch every member's goal in the middle of an episode (goal switching).

        Args:
            goals: ``[B]`` float, the new goals (checked against the range as in `reset`).

        The physical state is untouched; from the next `step` on, rewards and observations use
        the new goals. Raises `ConfigError` for a task whose env cannot switch goals mid-episode.
        """
        if not self._was_reset:
            raise RuntimeError("call reset(goals, seeds) before set_goals()")
        self._set_goals(self._checked_goals(goals))

    def physics(self, b: int = 0) -> tuple[mujoco.MjModel, mujoco.MjData]:
        """``(model, data)``: the MuJoCo model and member ``b``'s data as the last step left them.

        For reading (rendering, probes): writing to them changes the episode. Raises
        `ConfigError` for a task without MuJoCo physics.
        """
        raise ConfigError(f"task {self.spec.name} has no MuJoCo physics to read (nothing to render)")

    def _checked_goals(self, goals: np.ndarray) -> np.ndarray:
        """``goals`` as ``[B]`` float64; `ShapeError` for a wrong shape, `GoalRangeError` for a goal
        outside the task's range unless the env was made with ``extrapolate=True``."""
        goals = np.asarray(goals, dtype=np.float64)
        if goals.shape != (self.batch_size,):
            raise ShapeError(f"goals must have shape ({self.batch_size},), got {goals.shape}")
        if not self.extrapolate:  # one vectorised test; the first bad goal raises the error
            bad = ~((goals >= self.spec.goal_low) & (goals <= self.spec.goal_high))
            if bad.any():
                self.spec.check_goal(goals[np.flatnonzero(bad)[0]], self.extrapolate)
        return goals

    def _set_goals(self, goals: np.ndarray) -> None:
        """Store checked ``goals [B]`` for the rest of the episode (override where supported)."""
        raise ConfigError(f"task {self.spec.name} cannot switch its goal within an episode")

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step every member that is not done yet.

        Args:
            actions: ``[B, act_dim]``; passed to MuJoCo unclipped, as gymnasium does (MuJoCo
                clamps ``ctrl`` to the actuator range; the control cost uses the given values).

        Returns:
            ``obs [B, obs_dim]`` float64, ``reward [B]`` float64 (0 for members already done
            before this step), ``done [B]`` bool (terminated, or `max_steps` reached).
        """
        if not self._was_reset:
            raise RuntimeError("call reset(goals, seeds) before step()")
        actions = np.asarray(actions, dtype=np.float64)
        if actions.shape != (self.batch_size, self.act_dim):
            raise ShapeError(
                f"actions must have shape ({self.batch_size}, {self.act_dim}), got {actions.shape}"
            )
        active = ~self.done
        reward = np.zeros(self.batch_size, dtype=np.float64)
        if active.any():
            obs, rew, terminated = self._step(actions, np.flatnonzero(active))
            self._obs[active] = obs[active]
            reward[active] = rew[active]
            self.done |= active & terminated
        self.steps += 1
        if self.steps >= self.max_steps:
            self.done[:] = True
        return self._obs.copy(), reward, self.done.copy()

    def close(self) -> None:
        """Release the members' resources (nothing to release on the fast path)."""

    @abc.abstractmethod
    def _reset(self, goals: np.ndarray, seeds: list[int]) -> np.ndarray:
        """Reset every member; return ``[B, obs_dim]`` observations."""

    @abc.abstractmethod
    def _step(
        self, actions: np.ndarray, active: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Step the members listed in `active` (indices); return ``(obs [B, obs_dim],
        reward [B], terminated [B])`` whose rows outside `active` are ignored."""


class KernelBatchedEnv(BatchedEnv):
    """Fast path: `B` `MjData` of one shared model, batch-wide obs/reward from the kernel."""

    def __init__(
        self,
        env_cls: type[GoalEnvMixin],
        batch_size: int,
        max_steps: int | None = None,
        extrapolate: bool = False,
        friction_cone: str = "pyramidal",
    ) -> None:
        super().__init__(env_cls.task, batch_size, max_steps, extrapolate)
        # one env instance supplies the model, init state, dt and noise scale that
        # gym.make(id) would use
        self._template = env_cls()
        self._kernel = env_cls.kernel
        self._model = self._template.model
        set_friction_cone(self._model, friction_cone)
        self._dt = self._template.dt
        self._frame_skip = self._template.frame_skip
        self._noise = self._template._reset_noise_scale
        self._datas = [mujoco.MjData(self._model) for _ in range(self.batch_size)]
        B, m = self.batch_size, self._model
        self._goals = np.zeros(B, dtype=np.float64)
        self._qpos = np.zeros((B, m.nq), dtype=np.float64)
        self._qvel = np.zeros((B, m.nv), dtype=np.float64)
        k = self._kernel.track(self._datas[0]).size
        self._track = np.zeros((B, k), dtype=np.float64)
        needs_cfrc = self._kernel.needs_cfrc
        self._cfrc = np.zeros((B, m.nbody, 6), dtype=np.float64) if needs_cfrc else None
        # Views into each MjData and into the batch arrays, made once: MjData arrays alias
        # its memory, so copying through them is all a step needs per member.
        self._members = []
        for b, d in enumerate(self._datas):
            copies = [(d.qpos, self._qpos[b]), (d.qvel, self._qvel[b])]
            copies.append((self._kernel.track(d), self._track[b]))
            if needs_cfrc:
                copies.append((d.cfrc_ext, self._cfrc[b]))
            self._members.append(_Member(d, d.ctrl, tuple(copies)))

    def _reset(self, goals: np.ndarray, seeds: list[int]) -> np.ndarray:
        m, kernel = self._model, self._kernel
        init_qpos, init_qvel = self._template.init_qpos, self._template.init_qvel
        for (d, _, copies), seed in zip(self._members, seeds):
            rng, _ = seeding.np_random(seed)
            mujoco.mj_resetData(m, d)
            d.qpos[:], d.qvel[:] = kernel.reset_state(rng, init_qpos, init_qvel, self._noise)
            mujoco.mj_forward(m, d)
            for src, dst in copies:
                np.copyto(dst, src)
        self._goals[:] = goals
        return kernel.observe(self._qpos, self._qvel, self._goals)

    def _set_goals(self, goals: np.ndarray) -> None:
        self._goals[:] = goals  # the kernel reads them for every later reward and observation

    def physics(self, b: int = 0) -> tuple[mujoco.MjModel, mujoco.MjData]:
        return self._model, self._datas[b]

    def _step(self, actions, active):
        m, nstep, members = self._model, self._frame_skip, self._members
        before = self._track.copy()
        step, copyto = mujoco.mj_step, np.copyto
        rne = mujoco.mj_rnePostConstraint if self._cfrc is not None else None
        for b in active.tolist():
            d, ctrl, copies = members[b]
            ctrl[:] = actions[b]
            step(m, d, nstep)
            if rne is not None:  # cfrc_ext, as gymnasium's MujocoEnv computes it after a step
                rne(m, d)
            for src, dst in copies:
                copyto(dst, src)
        vel = (self._track - before) / self._dt
        kernel = self._kernel
        reward, _ = kernel.reward(vel, actions, self._goals, self._qpos, self._qvel, self._cfrc)
        terminated = kernel.terminated(self._qpos, self._qvel)
        return kernel.observe(self._qpos, self._qvel, self._goals), reward, terminated


class GymBatchedEnv(BatchedEnv):
    """Generic path: `B` unwrapped gymnasium envs of the task, stepped one after another."""

    def __init__(
        self,
        spec: TaskSpec,
        batch_size: int,
        max_steps: int | None = None,
        extrapolate: bool = False,
        params: Mapping[str, Any] | None = None,
        friction_cone: str = "pyramidal",
    ) -> None:
        super().__init__(spec, batch_size, max_steps, extrapolate)
        if spec.gym_id not in gym.registry:
            raise UnknownNameError(
                f"task {spec.name!r} names gym id {spec.gym_id!r}, which is not registered"
                " with gymnasium (is its env module imported by pdlf.envs?)"
            )
        # `extrapolate` is forwarded only when asked for: not every task's env takes it
        kwargs = {"extrapolate": True} if self.extrapolate else {}
        kwargs.update(params or {})  # a task's env.params are its gym env's keyword arguments
        self._envs = [gym.make(spec.gym_id, **kwargs).unwrapped for _ in range(self.batch_size)]
        for env in self._envs:
            model = getattr(env, "model", None)
            if isinstance(model, mujoco.MjModel):
                set_friction_cone(model, friction_cone)
            elif friction_cone != "pyramidal":
                raise ConfigError(
                    f"env.friction_cone={friction_cone!r}: task {spec.name!r} has no MuJoCo model"
                )

    def _reset(self, goals, seeds):
        obs = np.zeros((self.batch_size, self.obs_dim), dtype=np.float64)
        for b, (env, goal, seed) in enumerate(zip(self._envs, goals, seeds)):
            obs[b], _ = env.reset(seed=seed, options={"goal": float(goal)})
        return obs

    def _step(self, actions, active):
        obs = np.zeros((self.batch_size, self.obs_dim), dtype=np.float64)
        reward = np.zeros(self.batch_size, dtype=np.float64)
        terminated = np.zeros(self.batch_size, dtype=bool)
        for b in active.tolist():
            obs[b], reward[b], terminated[b], _, _ = self._envs[b].step(actions[b])
        return obs, reward, terminated

    def physics(self, b: int = 0) -> tuple[mujoco.MjModel, mujoco.MjData]:
        env = self._envs[b]
        if not isinstance(getattr(env, "data", None), mujoco.MjData):
            return super().physics(b)
        return env.model, env.data

    def close(self) -> None:
        for env in self._envs:
            env.close()


# tasks with their own BatchedEnv: task name -> factory(batch_size, max_steps, extrapolate, params)
BatchedFactory = Callable[[int, "int | None", bool, Mapping[str, Any]], BatchedEnv]
BATCHED_FACTORIES: dict[str, BatchedFactory] = {}


def register_batched(task: str, factory: BatchedFactory) -> BatchedFactory:
    """Make `make_batched` build `task`'s envs with ``factory(batch_size, max_steps,
    extrapolate, params)`` (e.g. a `BatchedEnv` subclass taking those arguments)."""
    BATCHED_FACTORIES[task] = factory
    return factory


def make_batched(
    task: str,
    batch_size: int,
    *,
    max_steps: int | None = None,
    extrapolate: bool = False,
    params: Mapping[str, Any] | None = None,
    backend: str = "mujoco",
    device: str = "cpu",
    friction_cone: str = "pyramidal",
) -> BatchedEnv:
    """A `BatchedEnv` of `batch_size` members of the registered task `task`.

    Unknown task names raise `UnknownNameError` with a "did you mean" hint; goals outside the
    task's range raise `GoalRangeError` at `reset` unless `extrapolate` is True. `params` (a run
    config's ``env.params``; default none) are the task's own settings, checked by
    ``spec.check_params`` (`ConfigError` naming ``env.params.KEY``): tasks without params
    reject any. ``backend`` (``"mujoco"`` or ``"mjwarp"``), ``device`` (``"cpu"``, ``"cuda"``,
    ``"cuda:N"``; mjwarp only) and ``friction_cone`` (``"pyramidal"`` or ``"elliptic"``) are a
    run config's ``env.backend``, ``env.device`` and ``env.friction_cone``, checked as
    ``EnvConfig.validate`` checks them (`ConfigError`).
    """
    from pdlf.config import EnvConfig  # the one place the backend, device and cone are checked

    spec = get_task(task)
    EnvConfig(name=task, backend=backend, device=device, friction_cone=friction_cone).validate()
    params = {} if params is None else params
    if not isinstance(params, Mapping):
        raise ConfigError(f"env.params must be a mapping of names to values, got {params!r}")
    spec.check_params(params)
    if backend == "mjwarp":  # imports warp: only when used
        if task in REACH_ENVS:
            from pdlf.envs.mjwarp_reaching import MjWarpReachEnv

            return MjWarpReachEnv(REACH_ENVS[task], batch_size, max_steps, extrapolate, device=device,
                                  friction_cone=friction_cone)
        from pdlf.envs.mjwarp_batched import MjWarpBatchedEnv

        return MjWarpBatchedEnv(KERNEL_ENVS[task], batch_size, max_steps, extrapolate, device=device,
                                friction_cone=friction_cone)
    if task in BATCHED_FACTORIES:
        if friction_cone != "pyramidal":
            raise ConfigError(f"env.friction_cone={friction_cone!r}: task {task!r} has no MuJoCo model")
        return BATCHED_FACTORIES[task](batch_size, max_steps, extrapolate, dict(params))
    if task in KERNEL_ENVS:
        return KernelBatchedEnv(KERNEL_ENVS[task], batch_size, max_steps, extrapolate, friction_cone)
    return GymBatchedEnv(spec, batch_size, max_steps, extrapolate, dict(params), friction_cone)
