"""fetch: a quadruped dog runs to targets on the floor (TASKS.md), gymnasium id ``pdlf/Fetch-v0``.

## Description
The dog of `assets/dog.xml` (torso, shoulders, hips, four two-segment legs) runs to a target on
the floor. When its torso comes within 2 m (horizontal distance) of the target it is paid a bonus
for facing the target and a new target is drawn.

## Goal
The goal ``theta`` (rad, range [0, 2 pi)) is the angle of the first target, whose distance from
the origin is ``2 + 15 U[0, 1]`` (drawn with the env's `np_random`). After each hit the next target
gets a uniformly random angle U[0, 2 pi) and a fresh distance from the same range (PDLF drew every
target at random). Training goals: 8 angles ``2 pi k / 8``; unseen goals: 12 angles
``2 pi i / 12`` (`TaskSpec.train_goals`/`unseen_goals`). Set it with ``gym.make(id, goal=theta)``
or ``reset(options={"goal": theta})``; without one, reset draws theta uniformly. The goal is not
appended to the observation (``goal_dim = 0``): the dog sees the target only egocentrically.

## Action Space
``Box(-1, 1, (10,))``: torques (gear 30 for the spine joints, 40 for the legs, N m per unit), in
joint order: spine_front (shoulders yaw), fl_hip, fl_knee, fr_hip, fr_knee, spine_rear (hips
pitch), rl_hip, rl_knee, rr_hip, rr_knee.

## Observation Space
``Box(-inf, inf, (80,))``, everything egocentric (torso frame: x forward, z up):

| idx   | content                                                                   | unit    |
|-------|---------------------------------------------------------------------------|---------|
| 0:3   | torso forward vector (torso x axis) in the world frame                    | -       |
| 3:6   | torso up vector (torso z axis) in the world frame                         | -       |
| 6     | horizontal distance from torso to target                                  | m       |
| 7:10  | unit direction torso -> target (horizontal in the world) in the torso frame | -     |
| 10:40 | positions of the 10 other bodies relative to the torso, torso frame       | m       |
|       | (shoulders, fl_upper, fl_lower, fr_upper, fr_lower, hips, rl_..., rr_...) |         |
| 40:73 | linear velocities of the 11 bodies (torso first), torso frame             | m/s     |
| 73:76 | torso angular velocity, torso frame                                       | rad/s   |
| 76:80 | foot contacts (fl, fr, rl, rr): 1 when the foot's touch sensor is pressed | -       |

## Rewards
Per step, with ``dt = 0.02`` s, all quantities after the step, ``dir`` the horizontal unit vector
from the torso to the current target (before any redraw) and ``delta`` the torso's displacement
over the step:

    reward = 0.1 dt torso_z + 0.1 (delta . dir) + 0.1 dt (torso_up . z) + hit (torso_fwd . dir)

``info`` holds ``reward_height``, ``reward_move``, ``reward_upright``, ``reward_hit``, ``hit``,
``hits`` (this episode), ``target_distance``, ``target_x``, ``target_y``.

## Episode
1000 steps (``max_episode_steps``), never terminated early. Reset: the standing pose with
U[-0.1, 0.1] rad on every joint and 0.1 N(0, 1) on every velocity; torso facing +x.
"""

from __future__ import annotations

import gymnasium
import numpy as np

from pdlf.envs.reaching_kernels import FetchKernel
from pdlf.envs.target_reaching import TWO_PI, TargetReachEnv
from pdlf.envs.tasks import TaskSpec, register_task

TASK = register_task(
    TaskSpec(
        name="fetch",
        gym_id="pdlf/Fetch-v0",
        obs_dim=80,
        act_dim=10,
        goal_dim=0,
        goal_low=0.0,
        goal_high=TWO_PI,
        goal_units="rad",
        episode_steps=1000,
        description="quadruped dog runs to targets 2-17 m away; goal = first target's angle",
    )
)

LIMB_BODIES = (
    "shoulders", "fl_upper", "fl_lower", "fr_upper", "fr_lower",
    "hips", "rl_upper", "rl_lower", "rr_upper", "rr_lower",
)  # fmt: skip
FEET = ("fl_foot", "fr_foot", "rl_foot", "rr_foot")


class FetchEnv(TargetReachEnv):
    """The fetch task; see the module docstring for spaces, reward and goals."""

    task = TASK
    hit_radius = 2.0
    target_distance = (2.0, 15.0)
    target_height = 0.0

    def __init__(
        self,
        goal: float | None = None,
        extrapolate: bool = False,
        reset_noise_scale: float = 0.1,
        frame_skip: int = 2,
        render_mode: str | None = None,
        **mujoco_kwargs,
    ) -> None:
        super().__init__(
            "dog.xml",
            frame_skip,
            goal=goal,
            extrapolate=extrapolate,
            reset_noise_scale=reset_noise_scale,
            render_mode=render_mode,
            **mujoco_kwargs,
        )
        self.kernel = FetchKernel(self.model, LIMB_BODIES, FEET, self.dt)
        self._torso = self.kernel.torso

    # ---- state read-outs ---------------------------------------------------------------
    @property
    def torso_rotation(self) -> np.ndarray:
        """Torso orientation, ``[3, 3]``: columns are the torso's x (forward), y, z (up) axes."""
        return self.data.xmat[self._torso].reshape(3, 3)

    def _initial_state(self, rng: np.random.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
        rng = self.np_random if rng is None else rng
        s = self._reset_noise_scale
        qpos = self.init_qpos.copy()
        qpos[7:] += rng.uniform(-s, s, self.model.nq - 7)  # joints only: stand upright
        qvel = self.init_qvel + s * rng.standard_normal(self.model.nv)
        return qpos, qvel


gymnasium.register(
    id=TASK.gym_id,
    entry_point="pdlf.envs.fetch:FetchEnv",
    max_episode_steps=TASK.episode_steps,
)
