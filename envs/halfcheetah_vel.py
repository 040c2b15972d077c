"""halfcheetah_vel: HalfCheetah-v5 running at a target speed (PDLF's halfcheetah_vel)."""

from __future__ import annotations

import gymnasium as gym
from gymnasium import utils
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from pdlf.array_namespace import namespace
from pdlf.envs.locomotion import GoalEnvMixin, LocomotionKernel, control_cost, quiet_settotalmass, reset_uniform_normal
from pdlf.envs.tasks import TaskSpec, register_task

TASK = register_task(
    TaskSpec(
        name="halfcheetah_vel",
        gym_id="pdlf/HalfCheetahVel-v0",
        obs_dim=18,
        act_dim=6,
        goal_dim=1,
        goal_low=1.0,
        goal_high=10.0,
        goal_units="m/s",
        description="HalfCheetah-v5 runs forward at a target speed v* in [1, 10) m/s",
    )
)

CTRL_COST_WEIGHT = 0.01


class HalfCheetahVelKernel(LocomotionKernel):
    """Batched obs/reward of halfcheetah_vel (see `HalfCheetahVelEnv`)."""

    frame_skip = 5
    track_field, track_index = "qpos", (slice(0, 1),)  # root x

    reset_state = staticmethod(reset_uniform_normal)

    @staticmethod
    def observe(qpos, qvel, goal):
        xp = namespace(qpos)
        return xp.concatenate([qpos[:, 1:], qvel, goal[:, None]], axis=1)

    @staticmethod
    def reward(vel, action, goal, qpos, qvel, cfrc):
        xp = namespace(vel)
        velocity = -xp.abs(vel[:, 0] - goal)
        ctrl = -control_cost(CTRL_COST_WEIGHT, action)
        return velocity + ctrl, {"reward_velocity": velocity, "reward_ctrl": ctrl}


class HalfCheetahVelEnv(GoalEnvMixin, HalfCheetahEnv):
    """HalfCheetah-v5 that must run forward at a target speed ``v*`` given as its goal.

    ## Description
    The stock gymnasium ``HalfCheetah-v5`` body, dynamics, frame skip (5, ``dt`` = 0.05 s) and
    initial-state noise; only the observation (goal appended) and the reward differ.

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: torques of the 6 joints, as stock (MuJoCo clamps ``ctrl``).

    ## Observation Space
    ``Box(-inf, inf, (18,), float64)``: ``qpos[1:]`` (8: rootz, rooty, 6 joint angles),
    ``qvel`` (9), then the goal ``v*`` in m/s, raw, as the last column (index 17).

    ## Rewards
    ``reward = -|v_x - v*| - 0.01 ||a||²`` with ``v_x = (x_after - x_before) / dt`` of the root.
    ``info`` holds ``reward_velocity`` (``-|v_x - v*|``), ``reward_ctrl``, ``velocity_x``
    and ``goal``.

    ## Starting State
    As stock: ``qpos`` + U(-0.1, 0.1), ``qvel`` + 0.1 N(0, 1).

    ## Episode End
    Never terminates; truncated after 1000 steps (``max_episode_steps``).

    ## Goals
    Range ``[1, 10)`` m/s. ``gym.make(id, goal=v)`` fixes the goal, ``reset(options={"goal": v})``
    sets it for one episode, otherwise each reset draws ``v* ~ U[1, 10)`` from ``np_random``.
    Goals outside the range raise ``GoalRangeError`` unless ``extrapolate=True`` is passed to
    ``make``. Training grid (``train_goals()``): ``1 + 9k/8``, k = 0..7 (1 … 8.875 m/s); unseen
    grid (``unseen_goals()``): 12 goals ``1 + 9i/12``, i = 0..11.

    ## Arguments
    ``goal`` (float | None), ``extrapolate`` (bool), and the stock ``HalfCheetah-v5`` keyword
    arguments (``reset_noise_scale``, ``render_mode``, ...; reward weights are ignored).
    """

    task = TASK
    kernel = HalfCheetahVelKernel

    def __init__(self, goal: float | None = None, extrapolate: bool = False, **kwargs):
        with quiet_settotalmass():
            HalfCheetahEnv.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, goal=goal, extrapolate=extrapolate, **kwargs)
        self._setup_goal(goal, extrapolate)


gym.register(
    id=TASK.gym_id,
    entry_point="pdlf.envs.halfcheetah_vel:HalfCheetahVelEnv",
    max_episode_steps=TASK.episode_steps,
)
