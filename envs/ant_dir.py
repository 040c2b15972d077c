"""ant_dir: Ant-v5 walking in a goal direction in the plane (PDLF's ant_dir)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import utils
from gymnasium.envs.mujoco.ant_v5 import AntEnv

from pdlf.array_namespace import namespace
from pdlf.envs.locomotion import GoalEnvMixin, LocomotionKernel, control_cost, heading, reset_uniform_normal
from pdlf.envs.tasks import TaskSpec, register_task

TASK = register_task(
    TaskSpec(
        name="ant_dir",
        gym_id="pdlf/AntDir-v0",
        obs_dim=28,
        act_dim=8,
        goal_dim=1,
        goal_low=-np.pi,
        goal_high=np.pi,
        goal_units="rad",
        description="Ant-v5 walks in the plane along a goal direction theta in [-pi, pi)",
    )
)

CTRL_COST_WEIGHT = 0.5
CONTACT_COST_WEIGHT = 5e-4
CONTACT_FORCE_RANGE = (-1.0, 1.0)
HEALTHY_REWARD = 1.0
HEALTHY_Z = (0.2, 1.0)  # closed interval, as stock Ant-v5 and Brax v1's ant


class AntDirKernel(LocomotionKernel):
    """Batched obs/reward/termination of ant_dir (see `AntDirEnv`)."""

    frame_skip = 5
    needs_cfrc = True

    # the free joint's position is the torso's, read after the step (stock v5 reads the
    # torso's xpos, which MuJoCo last computed before the final substep)
    track_field, track_index = "qpos", (slice(0, 2),)

    reset_state = staticmethod(reset_uniform_normal)

    @staticmethod
    def observe(qpos, qvel, goal):
        xp = namespace(qpos)
        return xp.concatenate([qpos[:, 2:], qvel, goal[:, None]], axis=1)

    @staticmethod
    def reward(vel, action, goal, qpos, qvel, cfrc):
        xp = namespace(vel)
        direction = heading(goal)
        forward = vel[:, 0] * direction[:, 0] + vel[:, 1] * direction[:, 1]
        ctrl = -control_cost(CTRL_COST_WEIGHT, action)
        survive = xp.full_like(forward, HEALTHY_REWARD)
        forces = xp.clip(cfrc.reshape(cfrc.shape[0], -1), *CONTACT_FORCE_RANGE)
        contact = -CONTACT_COST_WEIGHT * xp.sum(xp.square(forces), axis=-1)
        terms = {
            "reward_forward": forward,
            "reward_ctrl": ctrl,
            "reward_survive": survive,
            "reward_contact": contact,
        }
        return forward + ctrl + survive + contact, terms

    @staticmethod
    def terminated(qpos, qvel):
        xp = namespace(qpos)
        finite = xp.isfinite(qpos).all(axis=1) & xp.isfinite(qvel).all(axis=1)
        z = qpos[:, 2]
        return ~(finite & (HEALTHY_Z[0] <= z) & (z <= HEALTHY_Z[1]))


class AntDirEnv(GoalEnvMixin, AntEnv):
    """Ant-v5 that must walk along a goal direction ``θ`` in the plane.

    ## Description
    The stock gymnasium ``Ant-v5`` body, dynamics, frame skip (5, ``dt`` = 0.05 s), initial-state
    noise and health check, without the contact forces in the observation.

    ## Action Space
    ``Box(-1, 1, (8,), float32)``: hip and ankle torques (MuJoCo clamps ``ctrl``).

    ## Observation Space
    ``Box(-inf, inf, (28,), float64)``: ``qpos[2:]`` (13: torso z, torso quaternion, 8 joint
    angles), ``qvel`` (14), then the goal ``θ`` in rad, raw, as the last column (index 27).

    ## Rewards
    ``reward = v_xy · (cos θ, sin θ) - 0.5 ||a||² + 1 - 5e-4 ||clip(cfrc_ext, -1, 1)||²``
    with ``v_xy`` the torso's xy displacement over the step / ``dt`` and ``cfrc_ext`` the
    external contact forces of all bodies after the step. ``info`` holds ``reward_forward``,
    ``reward_ctrl``, ``reward_survive``, ``reward_contact``, ``velocity_x``, ``velocity_y``
    and ``goal``.

    ## Starting State
    As stock: ``qpos`` + U(-0.1, 0.1), ``qvel`` + 0.1 N(0, 1).

    ## Episode End
    Terminates when unhealthy, as stock Ant-v5 and as PDLF's ant on Brax v1 (which ends the
    episode when the torso height leaves [0.2, 1.0]): torso height ``qpos[2]`` outside
    [0.2, 1.0], or a non-finite state. The survival bonus 1 is paid on every step, the
    terminating one included (PDLF/Brax v1 pays a constant 1; stock Ant-v5 pays it only while
    healthy). Truncated after 1000 steps.

    ## Goals
    Range ``[-π, π)`` rad (0 = +x). ``gym.make(id, goal=θ)`` fixes the goal,
    ``reset(options={"goal": θ})`` sets it for one episode, otherwise each reset draws
    ``θ ~ U[-π, π)`` from ``np_random``. Goals outside the range raise ``GoalRangeError``
    unless ``extrapolate=True``. Training grid (``train_goals()``): ``-π + kπ/4``, k = 0..7;
    unseen grid (``unseen_goals()``): ``-π + iπ/6``, i = 0..11.

    ## Arguments
    ``goal`` (float | None), ``extrapolate`` (bool), and the stock ``Ant-v5`` keyword arguments
    (``reset_noise_scale``, ``render_mode``, ...; reward weights and health ranges are ignored).
    """

    task = TASK
    kernel = AntDirKernel

    def __init__(self, goal: float | None = None, extrapolate: bool = False, **kwargs):
        kwargs.setdefault("include_cfrc_ext_in_observation", False)
        AntEnv.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, goal=goal, extrapolate=extrapolate, **kwargs)
        self._setup_goal(goal, extrapolate)


gym.register(
    id=TASK.gym_id,
    entry_point="pdlf.envs.ant_dir:AntDirEnv",
    max_episode_steps=TASK.episode_steps,
)
