"""hopper_vel: Hopper-v5 hopping at a target speed (PDLF's hopper_vel)."""

from __future__ import annotations

import gymnasium as gym
from gymnasium import utils
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv

from pdlf.array_namespace import namespace
from pdlf.envs.locomotion import GoalEnvMixin, LocomotionKernel, control_cost
from pdlf.envs.tasks import TaskSpec, register_task

TASK = register_task(
    TaskSpec(
        name="hopper_vel",
        gym_id="pdlf/HopperVel-v0",
        obs_dim=12,
        act_dim=3,
        goal_dim=1,
        goal_low=0.0,
        goal_high=2.1,
        goal_units="m/s",
        description="Hopper-v5 hops forward at a target speed v* in [0, 2.1) m/s",
    )
)

CTRL_COST_WEIGHT = 1e-3
HEALTHY_REWARD = 1.0
# the stock Hopper-v5 health ranges (open intervals, as stock)
HEALTHY_STATE = (-100.0, 100.0)
HEALTHY_Z = (0.7, float("inf"))
HEALTHY_ANGLE = (-0.2, 0.2)


class HopperVelKernel(LocomotionKernel):
    """Batched obs/reward/termination of hopper_vel (see `HopperVelEnv`)."""

    frame_skip = 4
    track_field, track_index = "qpos", (slice(0, 1),)  # root x

    @staticmethod
    def observe(qpos, qvel, goal):
        xp = namespace(qpos)
        return xp.concatenate([qpos[:, 1:], xp.clip(qvel, -10.0, 10.0), goal[:, None]], axis=1)

    @staticmethod
    def reward(vel, action, goal, qpos, qvel, cfrc):
        xp = namespace(vel)
        velocity = -xp.abs(vel[:, 0] - goal)
        survive = xp.full_like(velocity, HEALTHY_REWARD)
        ctrl = -control_cost(CTRL_COST_WEIGHT, action)
        terms = {"reward_velocity": velocity, "reward_survive": survive, "reward_ctrl": ctrl}
        return velocity + survive + ctrl, terms

    @staticmethod
    def terminated(qpos, qvel):
        xp = namespace(qpos)
        state = xp.concatenate([qpos[:, 2:], qvel], axis=1)
        healthy_state = xp.all((HEALTHY_STATE[0] < state) & (state < HEALTHY_STATE[1]), axis=1)
        z, angle = qpos[:, 1], qpos[:, 2]
        healthy_z = (HEALTHY_Z[0] < z) & (z < HEALTHY_Z[1])
        healthy_angle = (HEALTHY_ANGLE[0] < angle) & (angle < HEALTHY_ANGLE[1])
        return ~(healthy_state & healthy_z & healthy_angle)


class HopperVelEnv(GoalEnvMixin, HopperEnv):
    """Hopper-v5 that must hop forward at a target speed ``v*`` given as its goal.

    ## Description
    The stock gymnasium ``Hopper-v5`` body, dynamics, frame skip (4, ``dt`` = 0.008 s),
    initial-state noise and health check; only the observation (goal appended) and the reward
    differ.

    ## Action Space
    ``Box(-1, 1, (3,), float32)``: thigh, leg and foot torques (MuJoCo clamps ``ctrl``).

    ## Observation Space
    ``Box(-inf, inf, (12,), float64)``: ``qpos[1:]`` (5: rootz, rooty, 3 joint angles),
    ``clip(qvel, -10, 10)`` (6), then the goal ``v*`` in m/s, raw, as the last column (index 11).

    ## Rewards
    ``reward = -|v_x - v*| + 1 - 1e-3 ||a||²`` with ``v_x = (x_after - x_before) / dt``. The
    survival bonus 1 is paid on every step, the terminating one included (TASKS.md; stock
    Hopper-v5 pays it only while healthy). ``info`` holds ``reward_velocity``,
    ``reward_survive``, ``reward_ctrl``, ``velocity_x`` and ``goal``.

    ## Starting State
    As stock: ``qpos`` and ``qvel`` + U(-0.005, 0.005).

    ## Episode End
    Terminates when unhealthy (stock ranges): any of ``qpos[2:], qvel`` outside (-100, 100),
    height ``qpos[1]`` <= 0.7, or torso angle ``qpos[2]`` outside (-0.2, 0.2). Truncated after
    1000 steps.

    ## Goals
    Range ``[0, 2.1)`` m/s. ``gym.make(id, goal=v)`` fixes the goal, ``reset(options={"goal": v})``
    sets it for one episode, otherwise each reset draws ``v* ~ U[0, 2.1)`` from ``np_random``.
    Goals outside the range raise ``GoalRangeError`` unless ``extrapolate=True``. Training grid
    (``train_goals()``): ``2.1k/8``, k = 0..7 (0 … 1.8375 m/s); unseen grid
    (``unseen_goals()``): ``2.1i/12``, i = 0..11.

    ## Arguments
    ``goal`` (float | None), ``extrapolate`` (bool), and the stock ``Hopper-v5`` keyword
    arguments (``reset_noise_scale``, ``render_mode``, ...; reward weights and health ranges
    are ignored).
    """

    task = TASK
    kernel = HopperVelKernel

    def __init__(self, goal: float | None = None, extrapolate: bool = False, **kwargs):
        HopperEnv.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, goal=goal, extrapolate=extrapolate, **kwargs)
        self._setup_goal(goal, extrapolate)


gym.register(
    id=TASK.gym_id,
    entry_point="pdlf.envs.hopper_vel:HopperVelEnv",
    max_episode_steps=TASK.episode_steps,
)
