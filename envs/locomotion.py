"""Shared machinery of the goal-conditioned locomotion tasks (ant_dir, swimmer_dir,
halfcheetah_vel, hopper_vel).

Each task is split in two pieces so that the gymnasium env and the batched stepper
(`pdlf.envs.vector`) compute observations and rewards with the *same* code:

- a `LocomotionKernel`: pure, batched functions of simulator arrays (population axis first,
  ``qpos: [B, nq]``, ``qvel: [B, nv]``, ``goal: [B]``, ``action: [B, nu]``) that build the
  observation, the reward terms and the termination flag. They take numpy arrays (C MuJoCo)
  or torch tensors (MuJoCo Warp's device-resident state) alike: each calls the functions of
  ``xp = pdlf.array_namespace.namespace(qpos)``, so tensors stay on their device;
- a gymnasium env class, ``GoalEnvMixin`` + the stock v5 MuJoCo env, that steps one `MjData`
  and calls the kernel with ``B = 1``.

The goal is appended raw as the last observation column. It is fixed by ``gym.make(id,
goal=g)``, set for one episode by ``reset(options={"goal": g})``, and otherwise drawn uniformly
from the task's range ``[goal_low, goal_high)`` with the env's ``np_random`` *after* the initial
state noise, so that a seed gives the same initial state whatever the goal.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any, ClassVar, Iterator

import mujoco
import numpy as np
from gymnasium.spaces import Box

from pdlf.array_namespace import namespace
from pdlf.envs.tasks import TaskSpec


@contextlib.contextmanager
def quiet_settotalmass() -> Iterator[None]:
    """Drop MuJoCo 4's deprecation warning for HalfCheetah's ``settotalmass`` attribute.

    MuJoCo prints it through its user-warning hook on every model compile (every ``make``);
    every other MuJoCo warning still reaches stderr, or the handler installed before.
    """
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if "settotalmass" in message:
            return
        if previous is not None:
            previous(message)
        else:
            print(f"WARNING: {message}", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


def reset_uniform_normal(
    rng: np.random.Generator, init_qpos: np.ndarray, init_qvel: np.ndarray, scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Ant-v5 and HalfCheetah-v5 reset noise, in their order: uniform qpos noise, then normal
    qvel noise of standard deviation ``scale``."""
    qpos = init_qpos + rng.uniform(low=-scale, high=scale, size=init_qpos.size)
    qvel = init_qvel + scale * rng.standard_normal(init_qvel.size)
    return qpos, qvel


class LocomotionKernel:
    """Batched observation, reward and termination of one task (override per task).

    Attributes:
        frame_skip: MuJoCo steps per env step (the stock v5 value).
        needs_cfrc: whether `reward` reads ``cfrc_ext`` (then ``mj_rnePostConstraint`` must run
            after each step, as gymnasium's `MujocoEnv` does).
        track_field, track_index: where `track` reads: the ``MjData`` field (``"qpos"``,
            ``"subtree_com"``) and the index into one world's array of it.
    """

    frame_skip: ClassVar[int]
    needs_cfrc: ClassVar[bool] = False
    track_field: ClassVar[str]
    track_index: ClassVar[tuple]

    @classmethod
    def track(cls, data: mujoco.MjData) -> np.ndarray:
        """The position whose change over one env step, divided by ``dt``, is the velocity the
        reward uses: a view into `data`, shape ``[k]`` (k = 1 for x, 2 for xy), in m."""
        return getattr(data, cls.track_field)[cls.track_index]

    @classmethod
    def track_batch(cls, data: Any) -> Any:
        """`track` of every world of a batched simulator state, shape ``[B, k]``, in m.

        ``data`` holds the fields with the world axis first (MuJoCo Warp's ``qpos [B, nq]``,
        ``subtree_com [B, nbody, 3]``, as numpy arrays or torch tensors); the result is a view.
        """
        return getattr(data, cls.track_field)[(slice(None), *cls.track_index)]

    @staticmethod
    def reset_state(
        rng: np.random.Generator, init_qpos: np.ndarray, init_qvel: np.ndarray, scale: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """Initial ``(qpos [nq], qvel [nv])``: the stock v5 noise, drawn from `rng` in the stock
        order (uniform qpos noise, then uniform qvel noise)."""
        qpos = init_qpos + rng.uniform(low=-scale, high=scale, size=init_qpos.size)
        qvel = init_qvel + rng.uniform(low=-scale, high=scale, size=init_qvel.size)
        return qpos, qvel

    @staticmethod
    def observe(qpos: np.ndarray, qvel: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Observation ``[B, obs_dim]`` from ``qpos [B, nq]``, ``qvel [B, nv]``, ``goal [B]``."""
        raise NotImplementedError

    @staticmethod
    def reward(
        vel: np.ndarray,
        action: np.ndarray,
        goal: np.ndarray,
        qpos: np.ndarray,
        qvel: np.ndarray,
        cfrc: np.ndarray | None,
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``(reward [B], terms)``: the TASKS.md reward and its named terms (each ``[B]``).

        Args:
            vel: ``[B, k]`` velocity of `track` over the step, m/s.
            action: ``[B, nu]`` actions as given (unclipped, as gymnasium's cost uses them).
            goal: ``[B]`` goal values.
            qpos, qvel: ``[B, nq]``, ``[B, nv]`` state after the step.
            cfrc: ``[B, nbody, 6]`` external contact forces after the step, or None.
        """
        raise NotImplementedError

    @staticmethod
    def terminated(qpos: np.ndarray, qvel: np.ndarray) -> np.ndarray:
        """``[B]`` bool: the episode ends (unhealthy). Default: never."""
        return namespace(qpos).zeros_like(qpos[:, 0], dtype=bool)


FRICTION_CONES = {"pyramidal": mujoco.mjtCone.mjCONE_PYRAMIDAL, "elliptic": mujoco.mjtCone.mjCONE_ELLIPTIC}


def set_friction_cone(model: mujoco.MjModel, cone: str) -> None:
    """Set ``model.opt.cone`` to ``cone`` (``"pyramidal"`` or ``"elliptic"``, `FRICTION_CONES`).

    Both backends call it on the model they simulate, so a run's ``env.friction_cone`` means the
    same in C MuJoCo and MuJoCo Warp (the stock models are pyramidal: that value changes nothing).
    """
    model.opt.cone = FRICTION_CONES[cone]


def heading(goal: np.ndarray) -> np.ndarray:
    """Unit vectors ``[B, 2]`` of direction goals ``[B]`` (rad)."""
    xp = namespace(goal)
    return xp.stack([xp.cos(goal), xp.sin(goal)], axis=-1)


def control_cost(weight: float, action: np.ndarray) -> np.ndarray:
    """``weight * ||a||²`` per row of ``action [B, nu]``, shape ``[B]``."""
    xp = namespace(action)
    return weight * xp.sum(xp.square(action), axis=-1)


class GoalEnvMixin:
    """Goal handling and kernel-driven `step` for a stock gymnasium v5 MuJoCo env.

    Subclasses list it first, before the stock env class, and set `task` and `kernel`;
    their ``__init__`` calls the stock ``__init__`` and then `_setup_goal`.
    """

    task: ClassVar[TaskSpec]
    kernel: ClassVar[type[LocomotionKernel]]

    # the stock env's attributes this mixin relies on
    data: mujoco.MjData
    dt: float
    frame_skip: int
    init_qpos: np.ndarray
    init_qvel: np.ndarray
    np_random: np.random.Generator
    _reset_noise_scale: float

    def _setup_goal(self, goal: float | None, extrapolate: bool) -> None:
        self._extrapolate = bool(extrapolate)
        self._fixed_goal = None if goal is None else self.task.check_goal(goal, self._extrapolate)
        self._goal = self.task.goal_low if self._fixed_goal is None else self._fixed_goal
        self.observation_space = Box(
            low=-np.inf, high=np.inf, shape=(self.task.obs_dim,), dtype=np.float64
        )

    @property
    def goal(self) -> float:
        """The goal of the current episode (rad or m/s, see ``task.goal_units``)."""
        return self._goal

    def train_goals(self) -> np.ndarray:
        """The 8 training goals of the task, shape ``[8]``."""
        return self.task.train_goals()

    def unseen_goals(self) -> np.ndarray:
        """The 12 held-out goals of the task, shape ``[12]``."""
        return self.task.unseen_goals()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        requested = None if options is None else options.get("goal")
        if requested is not None:
            requested = self.task.check_goal(requested, self._extrapolate)
        super().reset(seed=seed, options=options)  # type: ignore[misc]
        if requested is not None:
            self._goal = requested
        elif self._fixed_goal is not None:
            self._goal = self._fixed_goal
        else:
            self._goal = float(self.np_random.uniform(self.task.goal_low, self.task.goal_high))
        info = {**self._get_reset_info(), "goal": self._goal}  # type: ignore[misc]
        return self._get_obs(), info

    def reset_model(self) -> None:
        qpos, qvel = self.kernel.reset_state(
            self.np_random, self.init_qpos, self.init_qvel, self._reset_noise_scale
        )
        self.set_state(qpos, qvel)  # type: ignore[attr-defined]

    def _get_obs(self) -> np.ndarray:
        return self.kernel.observe(self.data.qpos[None], self.data.qvel[None], self._goals())[0]

    def _goals(self) -> np.ndarray:
        return np.array([self._goal], dtype=np.float64)

    def step(self, action):
        # Actions reach MuJoCo unclipped (it clamps ctrl to ctrlrange); the control cost uses
        # them as given, exactly as the stock v5 envs do.
        a = np.asarray(action, dtype=np.float64)
        before = self.kernel.track(self.data).copy()
        self.do_simulation(a, self.frame_skip)  # type: ignore[attr-defined]
        vel = (self.kernel.track(self.data) - before) / self.dt
        qpos, qvel = self.data.qpos[None], self.data.qvel[None]
        cfrc = self.data.cfrc_ext[None] if self.kernel.needs_cfrc else None
        goals = self._goals()
        reward, terms = self.kernel.reward(vel[None], a[None], goals, qpos, qvel, cfrc)
        terminated = bool(self.kernel.terminated(qpos, qvel)[0])
        info = {
            "goal": self._goal,
            "x_position": float(self.data.qpos[0]),
            **{f"velocity_{'xy'[i]}": float(v) for i, v in enumerate(vel)},
            **{name: float(value[0]) for name, value in terms.items()},
        }
        if self.render_mode == "human":  # type: ignore[attr-defined]
            self.render()  # type: ignore[attr-defined]
        return self._get_obs(), float(reward[0]), terminated, False, info
