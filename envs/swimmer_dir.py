"""swimmer_dir: Swimmer-v5 swimming in a goal direction in the plane (PDLF's swimmer_dir)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco.swimmer_v5 import SwimmerEnv

from pdlf.array_namespace import namespace
from pdlf.envs.locomotion import GoalEnvMixin, LocomotionKernel, control_cost, heading
from pdlf.envs.tasks import TaskSpec, register_task

TASK = register_task(
    TaskSpec(
        name="swimmer_dir",
        gym_id="pdlf/SwimmerDir-v0",
        obs_dim=9,
        act_dim=2,
        goal_dim=1,
        goal_low=-np.pi,
        goal_high=np.pi,
        goal_units="rad",
        description="Swimmer-v5 swims in the plane along a goal direction theta in [-pi, pi)",
    )
)

CTRL_COST_WEIGHT = 1e-4
TORSO = 1  # body id of the swimmer's root: its subtree is the whole swimmer


class SwimmerDirKernel(LocomotionKernel):
    """Batched obs/reward of swimmer_dir (see `SwimmerDirEnv`)."""

    frame_skip = 4
    track_field, track_index = "subtree_com", (TORSO, slice(0, 2))  # the swimmer's centre of mass, xy

    @staticmethod
    def observe(qpos, qvel, goal):
        xp = namespace(qpos)
        return xp.concatenate([qpos[:, 2:], qvel, goal[:, None]], axis=1)

    @staticmethod
    def reward(vel, action, goal, qpos, qvel, cfrc):
        direction = heading(goal)
        forward = vel[:, 0] * direction[:, 0] + vel[:, 1] * direction[:, 1]
        ctrl = -control_cost(CTRL_COST_WEIGHT, action)
        return forward + ctrl, {"reward_forward": forward, "reward_ctrl": ctrl}


class SwimmerDirEnv(GoalEnvMixin, SwimmerEnv):
    """Swimmer-v5 that must swim along a goal direction ``θ`` in the plane.

    ## Description
    The stock gymnasium ``Swimmer-v5`` body, viscous dynamics, frame skip (4, ``dt`` = 0.04 s)
    and initial-state noise; only the observation (goal appended) and the reward differ.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: the two rotor torques (MuJoCo clamps ``ctrl``).

    ## Observation Space
    ``Box(-inf, inf, (9,), float64)``: ``qpos[2:]`` (3: front-tip angle, 2 joint angles),
    ``qvel`` (5), then the goal ``θ`` in rad, raw, as the last column (index 8).

    ## Rewards
    ``reward = v_com,xy · (cos θ, sin θ) - 1e-4 ||a||²`` where ``v_com,xy`` is the displacement
    over the step, divided by ``dt``, of the swimmer's centre of mass (MuJoCo's
    ``subtree_com`` of the torso, as the step leaves it). ``info`` holds ``reward_forward``,
    ``reward_ctrl``, ``velocity_x``, ``velocity_y`` and ``goal``.

    ## Starting State
    As stock: ``qpos`` and ``qvel`` + U(-0.1, 0.1).

    ## Episode End
    Never terminates; truncated after 1000 steps.

    ## Goals
    Range ``[-π, π)`` rad (0 = +x). ``gym.make(id, goal=θ)`` fixes the goal,
    ``reset(options={"goal": θ})`` sets it for one episode, otherwise each reset draws
    ``θ ~ U[-π, π)`` from ``np_random``. Goals outside the range raise ``GoalRangeError``
    unless ``extrapolate=True``. Training grid (``train_goals()``): ``-π + kπ/4``, k = 0..7;
    unseen grid (``unseen_goals()``): ``-π + iπ/6``, i = 0..11.

    ## Arguments
    ``goal`` (float | None), ``extrapolate`` (bool), and the stock ``Swimmer-v5`` keyword
    arguments (``reset_noise_scale``, ``render_mode``, ...; reward weights are ignored).
    """

    task = TASK
    kernel = SwimmerDirKernel

    def __init__(self, goal: float | None = None, extrapolate: bool = False, **kwargs):
        SwimmerEnv.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, goal=goal, extrapolate=extrapolate, **kwargs)
        self._setup_goal(goal, extrapolate)


gym.register(
    id=TASK.gym_id,
    entry_point="pdlf.envs.swimmer_dir:SwimmerDirEnv",
    max_episode_steps=TASK.episode_steps,
)
