"""Each locomotion reward equals TASKS.md's formula computed by hand from simulator state."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import pdlf.envs  # noqa: F401  (registers the tasks)
from pdlf.envs.ant_dir import AntDirKernel
from pdlf.envs.hopper_vel import HopperVelKernel


def rollout(gym_id, goal, seed, steps, act_dim, before_fn, scale=1.0):
    """Step a fresh env; yield (before, action, env, reward, terminated, info) per step."""
    env = gym.make(gym_id, goal=goal)
    env.reset(seed=seed)
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        before = before_fn(u)
        action = scale * rng.uniform(-1, 1, act_dim)
        _, reward, terminated, _, info = env.step(action)
        yield before, action, u, reward, terminated, info
        if terminated:
            return


def x_of(u):
    return float(u.data.qpos[0])


def test_halfcheetah_vel_reward():
    goal = 3.25
    for x0, a, u, reward, terminated, info in rollout(
        "pdlf/HalfCheetahVel-v0", goal, 0, 8, 6, x_of
    ):
        assert u.dt == pytest.approx(0.05)
        v = (u.data.qpos[0] - x0) / 0.05
        expected = -abs(v - goal) - 0.01 * np.sum(a**2)
        assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert info["velocity_x"] == pytest.approx(v, rel=1e-12)
        assert not terminated


def test_hopper_vel_reward_and_termination():
    goal = 0.7875
    n_steps, ended = 0, False
    for x0, a, u, reward, terminated, info in rollout(
        "pdlf/HopperVel-v0", goal, 3, 300, 3, x_of
    ):
        n_steps += 1
        assert u.dt == pytest.approx(0.008)
        q, qd = u.data.qpos, u.data.qvel
        v = (q[0] - x0) / 0.008
        expected = -abs(v - goal) + 1.0 - 1e-3 * np.sum(a**2)
        assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
        state = np.concatenate([q[2:], qd])
        healthy = np.all(np.abs(state) < 100) and q[1] > 0.7 and -0.2 < q[2] < 0.2
        assert terminated == (not healthy)
        ended = terminated
    assert ended and n_steps < 300  # random actions topple it: termination was exercised


def test_swimmer_dir_reward_uses_centre_of_mass():
    goal = np.pi / 4

    def com(u):  # mass-weighted body positions, independent of subtree_com
        m = u.model.body_mass[1:, None]
        return (m * u.data.xipos[1:]).sum(axis=0)[:2] / m.sum()

    for c0, a, u, reward, _, info in rollout("pdlf/SwimmerDir-v0", goal, 1, 8, 2, com):
        assert u.dt == pytest.approx(0.04)
        v = (com(u) - c0) / 0.04
        expected = v @ [np.cos(goal), np.sin(goal)] - 1e-4 * np.sum(a**2)
        assert reward == pytest.approx(expected, rel=1e-9, abs=1e-12)
        assert info["reward_forward"] == pytest.approx(v @ [np.cos(goal), np.sin(goal)], rel=1e-9)


def test_ant_dir_reward_and_termination():
    goal = -np.pi / 2
    saw_contact, ended = False, False
    for xy0, a, u, reward, terminated, info in rollout(
        "pdlf/AntDir-v0", goal, 0, 100, 8, lambda u: u.data.qpos[:2].copy()
    ):
        assert u.dt == pytest.approx(0.05)
        v = (u.data.qpos[:2] - xy0) / 0.05
        contact = 5e-4 * np.sum(np.clip(u.data.cfrc_ext, -1, 1) ** 2)
        saw_contact |= contact > 0
        expected = v @ [np.cos(goal), np.sin(goal)] - 0.5 * np.sum(a**2) + 1.0 - contact
        assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert info["reward_contact"] == pytest.approx(-contact, rel=1e-12)
        z = u.data.qpos[2]
        assert terminated == (not 0.2 <= z <= 1.0)
        ended = terminated
    assert saw_contact and ended  # random actions make it jump above 1 m: termination exercised


@pytest.mark.parametrize("gym_id,act_dim", [("pdlf/AntDir-v0", 8), ("pdlf/SwimmerDir-v0", 2)])
def test_direction_reward_flips_with_opposite_goal(gym_id, act_dim):
    action = np.random.default_rng(0).uniform(-1, 1, act_dim)
    forward = []
    for goal in (0.3, 0.3 - np.pi):
        env = gym.make(gym_id, goal=goal)
        env.reset(seed=2)
        info = env.step(action)[-1]
        forward.append(info["reward_forward"])
    assert forward[0] != 0
    assert forward[1] == pytest.approx(-forward[0], rel=1e-9)


def test_health_kernels_on_hand_made_states():
    qpos = np.zeros((4, 15))
    qpos[:, 2] = [0.5, 0.1, 1.2, np.nan]
    assert AntDirKernel.terminated(qpos, np.zeros((4, 14))).tolist() == [False, True, True, True]
    q = np.zeros((4, 6))
    q[:, 1] = [1.25, 0.6, 1.25, 1.25]  # height
    q[:, 2] = [0.0, 0.0, 0.3, 0.0]  # torso angle
    qd = np.zeros((4, 6))
    qd[3, 0] = 150.0  # x velocity is part of the checked state
    assert HopperVelKernel.terminated(q, qd).tolist() == [False, True, True, True]
