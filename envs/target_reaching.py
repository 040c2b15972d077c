"""Shared machinery of the target-reaching tasks (fetch, ur5e): goals, targets, hits, frames.

A target-reaching env moves one point of its body (the dog's torso, the arm's wrist) towards a
target. The episode's goal is the first target's angle `theta` (rad, range [0, 2 pi)); its
distance from the origin is drawn from the task's range with the env's `np_random`:

    target = (d cos(theta), d sin(theta), height),   d = d_min + d_span * U[0, 1]

When the point comes within the hit radius, the step pays the hit bonus and a new target is drawn
at once with a uniformly random angle U[0, 2 pi) and a fresh distance, as in PDLF (which drew
every target at random). The goal therefore fixes the first target only.

Goal precedence at reset: ``options={"goal": g}``, then the ``goal`` given to the constructor
(``gym.make(id, goal=g)``), then a uniformly random angle. Goals outside the task's range raise
`pdlf.errors.GoalRangeError` unless the env was made with ``extrapolate=True``.
"""

from __future__ import annotations

from pathlib import Path

import mujoco
import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv

from pdlf.envs.reaching_kernels import ReachKernel, distance_and_direction, linear_velocities, one_world
from pdlf.envs.tasks import TaskSpec

ASSETS = Path(__file__).parent / "assets"
TWO_PI = 2.0 * np.pi


def body_linear_velocities(
    model: mujoco.MjModel, data: mujoco.MjData, ids: np.ndarray
) -> np.ndarray:
    """World-frame linear velocity of each body's frame origin, ``[len(ids), 3]`` (m/s).

    Same result as `mujoco.mj_objectVelocity` (`mjOBJ_XBODY`, world orientation), vectorised
    (`pdlf.envs.reaching_kernels.linear_velocities` on this one world).
    """
    ids = np.asarray(ids)
    return linear_velocities(one_world(data), ids, model.body_rootid[ids])[0]


class TargetReachEnv(MujocoEnv):
    """Base class: goal handling, target drawing and hits for a MuJoCo body reaching targets.

    Subclasses set the class attributes below and, in ``__init__``, `kernel`: the task's
    `pdlf.envs.reaching_kernels.ReachKernel`, which computes the point that reaches, the target
    offset, the reward terms and the observation (for this one world here; for many on MuJoCo
    Warp).
    """

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"]}

    task: TaskSpec  # the task's spec (goal range, dims)
    hit_radius: float  # m
    target_distance: tuple[float, float]  # (d_min, d_span): d = d_min + d_span * U[0, 1], m
    target_height: float  # m

    def __init__(
        self,
        xml_file: str,
        frame_skip: int,
        goal: float | None = None,
        extrapolate: bool = False,
        reset_noise_scale: float = 0.1,
        render_mode: str | None = None,
        **mujoco_kwargs,
    ) -> None:
        self._extrapolate = bool(extrapolate)
        self._goal = None if goal is None else self.task.check_goal(goal, self._extrapolate)
        self._reset_noise_scale = reset_noise_scale
        obs_space = spaces.Box(-np.inf, np.inf, shape=(self.task.obs_dim,), dtype=np.float64)
        MujocoEnv.__init__(
            self,
            str(ASSETS / xml_file),
            frame_skip,
            observation_space=obs_space,
            render_mode=render_mode,
            **mujoco_kwargs,
        )
        self.metadata = {**self.metadata, "render_fps": int(np.round(1.0 / self.dt))}
        self._target_mocap = self.model.body("target").mocapid[0]
        self.target = np.zeros(3)
        self.hits = 0
        self._reset_goal: float | None = None
        self._episode_goal: float | None = None

    # ---- targets -----------------------------------------------------------------------
    @property
    def goal(self) -> float | None:
        """The goal (first target's angle, rad) of the current episode."""
        return self._episode_goal

    def _draw_target(self, angle: float, rng: np.random.Generator | None = None) -> np.ndarray:
        """A target at ``angle`` (rad) and a distance drawn from `rng` (default ``np_random``)."""
        rng = self.np_random if rng is None else rng
        d_min, d_span = self.target_distance
        dist = d_min + d_span * rng.uniform()
        return np.array([dist * np.cos(angle), dist * np.sin(angle), self.target_height])

    def set_target(self, target: np.ndarray) -> None:
        """Place the target at `target` (world frame, m): for tests and demonstrations."""
        self.target = np.asarray(target, dtype=np.float64).copy()
        self.data.mocap_pos[self._target_mocap] = self.target

    # ---- gymnasium API -----------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        goal = None if options is None else options.get("goal")
        # validate before touching the simulation, so a bad goal leaves the env as it was
        if goal is not None:
            goal = self.task.check_goal(goal, self._extrapolate)
        self._reset_goal = self._goal if goal is None else goal
        return super().reset(seed=seed, options=options)

    def reset_model(self) -> np.ndarray:
        angle = self._reset_goal
        if angle is None:
            angle = self.np_random.uniform(0.0, TWO_PI)
        self._episode_goal = float(angle)
        self.set_target(self._draw_target(angle))
        self.hits = 0
        qpos, qvel = self._initial_state()
        self.set_state(qpos, qvel)
        return self._get_obs()

    def _get_reset_info(self) -> dict:
        return {"goal": self._episode_goal, "target_x": self.target[0], "target_y": self.target[1]}

    def _initial_state(self, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Initial (qpos, qvel): the model's pose with uniform noise on the joints, drawn from
        `rng` (default ``np_random``)."""
        rng = self.np_random if rng is None else rng
        s = self._reset_noise_scale
        qpos = self.init_qpos + rng.uniform(-s, s, self.model.nq)
        qvel = self.init_qvel + s * rng.standard_normal(self.model.nv)
        return qpos, qvel

    def step(self, action: np.ndarray):
        before = self._point().copy()
        self.do_simulation(action, self.frame_skip)
        self._refresh()
        point = self._point()
        offset = self._target_offset(point)
        distances, directions = distance_and_direction(offset[None])
        distance, direction = float(distances[0]), directions[0]
        hit = distance < self.hit_radius
        terms = self._reward_terms(point - before, direction, hit)
        reward = float(sum(terms.values()))
        info = {
            **terms,
            "hit": hit,
            "target_distance": distance,
            "target_x": self.target[0],
            "target_y": self.target[1],
        }
        if hit:
            self.hits += 1
            self.set_target(self._draw_target(self.np_random.uniform(0.0, TWO_PI)))
        info["hits"] = self.hits
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, False, False, info

    def _refresh(self) -> None:
        """Recompute positions and velocities for the state after the step.

        After `mj_step` the kinematic quantities (`xpos`, `xmat`, `cvel`) still describe the
        state at the start of the last substep; rewards and observations use the current one.
        """
        mujoco.mj_kinematics(self.model, self.data)
        mujoco.mj_comPos(self.model, self.data)
        mujoco.mj_comVel(self.model, self.data)

    # ---- the task's kernel (`pdlf.envs.reaching_kernels`) on this one world ------------------
    kernel: ReachKernel  # set by the subclass's __init__

    def _point(self) -> np.ndarray:
        return self.kernel.point(one_world(self.data))[0]

    def _target_offset(self, point: np.ndarray) -> np.ndarray:
        return self.kernel.target_offset(point[None], self.target[None])[0]

    def _reward_terms(
        self, delta: np.ndarray, direction: np.ndarray, hit: bool
    ) -> dict[str, float]:
        terms = self.kernel.reward_terms(one_world(self.data), delta[None], direction[None], np.array([hit]))
        return {name: float(value[0]) for name, value in terms.items()}

    def _get_obs(self) -> np.ndarray:
        return self.kernel.observe(one_world(self.data), self.target[None])[0]
