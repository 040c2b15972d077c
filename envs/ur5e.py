"""ur5e: a 6-joint arm reaches targets in the air (TASKS.md), gymnasium id ``pdlf/UR5e-v0``.

## Description
The UR5e-like arm of `assets/ur5e.xml` moves its wrist point (the tool flange) to a target at
height 0.5 m. When the wrist comes within 0.02 m of the target it is paid 1 and a new target is
drawn.

## Goal
The goal ``theta`` (rad, range [0, 2 pi)) is the angle of the first target about the base axis;
its horizontal distance from the base axis is ``0.02 + 0.5 U[0, 1]`` (drawn with the env's
`np_random`), its height 0.5 m. After each hit the next target gets a uniformly random angle
U[0, 2 pi) and a fresh distance (PDLF drew every target at random). Training goals: 8 angles
``2 pi k / 8``; unseen goals: 12 angles ``2 pi i / 12``. Set it with ``gym.make(id, goal=theta)``
or ``reset(options={"goal": theta})``; without one, reset draws theta uniformly. The goal is not
appended to the observation (``goal_dim = 0``).

## Action Space
``Box(-1, 1, (6,))``: position servos, in joint order (shoulder_pan, shoulder_lift, elbow,
wrist_1, wrist_2, wrist_3). Action ``a`` sets the joint target ``pi a`` rad; the servo torque
``kp (pi a - q) - kv qdot`` is clipped to 150 N m (big joints) or 28 N m (wrists). Links are
gravity-compensated, so a constant action holds a pose. Servos rather than torques because a
0.02 m hit radius asks for precise positioning, which torque control at 20 Hz makes hard.

## Observation Space
``Box(-inf, inf, (58,))``, egocentric as fetch's, with the wrist as the moving frame and the
(fixed, world-aligned) base as the body frame:

| idx   | content                                                           | unit  |
|-------|-------------------------------------------------------------------|-------|
| 0:3   | wrist forward vector (flange normal, wrist 3's y axis), world     | -     |
| 3:6   | wrist up vector (wrist 3's z axis), world                         | -     |
| 6     | distance from wrist to target                                     | m     |
| 7:10  | unit direction wrist -> target in the wrist frame                 | -     |
| 10:28 | positions of the 6 links (shoulder ... wrist_3), base frame       | m     |
| 28:46 | linear velocities of the 6 links, base frame                      | m/s   |
| 46:52 | joint angles                                                      | rad   |
| 52:58 | joint velocities                                                  | rad/s |

Joint angles stand where fetch has its foot contacts: a servo arm is best read in joint space.

## Rewards
Per step, all quantities after the step, ``dir`` the unit vector from the wrist to the current
target (before any redraw), ``delta`` the wrist's displacement over the step:

    reward = 0.1 (delta . dir) + hit

``info`` holds ``reward_move``, ``reward_hit``, ``hit``, ``hits``, ``target_distance``,
``target_x``, ``target_y``.

## Episode
1000 steps of ``dt = 0.05`` s (``max_episode_steps``), never terminated early. Reset: the
upright zero pose with U[-0.1, 0.1] rad on every joint and 0.1 N(0, 1) on every velocity.
"""

from __future__ import annotations

import gymnasium
import numpy as np

from pdlf.envs.reaching_kernels import UR5eKernel
from pdlf.envs.target_reaching import TWO_PI, TargetReachEnv
from pdlf.envs.tasks import TaskSpec, register_task

TASK = register_task(
    TaskSpec(
        name="ur5e",
        gym_id="pdlf/UR5e-v0",
        obs_dim=58,
        act_dim=6,
        goal_dim=0,
        goal_low=0.0,
        goal_high=TWO_PI,
        goal_units="rad",
        episode_steps=1000,
        description="6-joint arm reaches targets at 0.5 m height; goal = first target's angle",
    )
)

LINKS = (
    "shoulder_link", "upper_arm_link", "forearm_link",
    "wrist_1_link", "wrist_2_link", "wrist_3_link",
)  # fmt: skip


class UR5eEnv(TargetReachEnv):
    """The ur5e task; see the module docstring for spaces, reward and goals."""

    task = TASK
    hit_radius = 0.02
    target_distance = (0.02, 0.5)
    target_height = 0.5

    def __init__(
        self,
        goal: float | None = None,
        extrapolate: bool = False,
        reset_noise_scale: float = 0.1,
        frame_skip: int = 10,
        render_mode: str | None = None,
        **mujoco_kwargs,
    ) -> None:
        super().__init__(
            "ur5e.xml",
            frame_skip,
            goal=goal,
            extrapolate=extrapolate,
            reset_noise_scale=reset_noise_scale,
            render_mode=render_mode,
            **mujoco_kwargs,
        )
        self.kernel = UR5eKernel(self.model, LINKS)
        self._wrist = self.kernel.wrist

    @property
    def wrist_rotation(self) -> np.ndarray:
        """Wrist (flange) orientation, ``[3, 3]``: columns are its x, y (forward), z (up) axes."""
        return self.data.site_xmat[self._wrist].reshape(3, 3)


gymnasium.register(
    id=TASK.gym_id,
    entry_point="pdlf.envs.ur5e:UR5eEnv",
    max_episode_steps=TASK.episode_steps,
)
