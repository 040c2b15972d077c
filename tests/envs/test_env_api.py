"""The gymnasium API of the locomotion tasks: registration, check_env, goals, determinism."""

from __future__ import annotations

import math

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pdlf.envs  # noqa: F401  (registers the tasks)
from pdlf.envs import get_task
from pdlf.errors import GoalRangeError, UnknownNameError

TASKS = {
    "ant_dir": ("pdlf/AntDir-v0", 28, 8),
    "swimmer_dir": ("pdlf/SwimmerDir-v0", 9, 2),
    "halfcheetah_vel": ("pdlf/HalfCheetahVel-v0", 18, 6),
    "hopper_vel": ("pdlf/HopperVel-v0", 12, 3),
}
# PDLF's grids, written out (TASKS.md), not derived from the spec under test
PI = math.pi
TRAIN = {
    "ant_dir": [-PI + k * PI / 4 for k in range(8)],
    "swimmer_dir": [-PI + k * PI / 4 for k in range(8)],
    "halfcheetah_vel": [1 + 9 * k / 8 for k in range(8)],
    "hopper_vel": [2.1 * k / 8 for k in range(8)],
}
UNSEEN = {
    "ant_dir": [-PI + i * PI / 6 for i in range(12)],
    "swimmer_dir": [-PI + i * PI / 6 for i in range(12)],
    "halfcheetah_vel": [1 + 9 * i / 12 for i in range(12)],
    "hopper_vel": [2.1 * i / 12 for i in range(12)],
}
RANGES = {"ant_dir": (-PI, PI), "swimmer_dir": (-PI, PI), "halfcheetah_vel": (1, 10),
          "hopper_vel": (0, 2.1)}
names = pytest.mark.parametrize("name", list(TASKS))


@names
@pytest.mark.filterwarnings("ignore:.*infinity:UserWarning")
def test_check_env(name):
    env = gym.make(TASKS[name][0]).unwrapped
    # no display here: the render check would open a GLFW window for render_mode="human"
    check_env(env, skip_render_check=True)


@names
def test_registration_matches_spec(name):
    gym_id, obs_dim, act_dim = TASKS[name]
    spec = get_task(name)
    assert (spec.gym_id, spec.obs_dim, spec.act_dim, spec.goal_dim) == (gym_id, obs_dim, act_dim, 1)
    assert (spec.goal_low, spec.goal_high) == pytest.approx(RANGES[name])
    assert spec.episode_steps == 1000 and gym.spec(gym_id).max_episode_steps == 1000
    env = gym.make(gym_id)
    assert env.observation_space.shape == (obs_dim,)
    assert env.action_space.shape == (act_dim,)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (obs_dim,) and obs.dtype == np.float64


@names
def test_goal_grids(name):
    spec = get_task(name)
    np.testing.assert_allclose(spec.train_goals(), TRAIN[name], rtol=0, atol=1e-12)
    np.testing.assert_allclose(spec.unseen_goals(), UNSEEN[name], rtol=0, atol=1e-12)
    env = gym.make(TASKS[name][0]).unwrapped
    np.testing.assert_array_equal(env.train_goals(), spec.train_goals())
    np.testing.assert_array_equal(env.unseen_goals(), spec.unseen_goals())


@names
def test_goal_is_last_obs_column_and_make_goal_is_kept(name):
    g = get_task(name).train_goals()[3]
    env = gym.make(TASKS[name][0], goal=g)
    for seed in (0, 1):
        obs, info = env.reset(seed=seed)
        assert obs[-1] == g and info["goal"] == g
        obs, *_, info = env.step(env.action_space.sample() * 0)
        assert obs[-1] == g and info["goal"] == g


@names
def test_reset_option_sets_goal_for_one_episode(name):
    spec = get_task(name)
    g_make, g_opt = spec.train_goals()[1], spec.unseen_goals()[7]
    env = gym.make(TASKS[name][0], goal=g_make)
    obs, _ = env.reset(seed=0, options={"goal": g_opt})
    assert obs[-1] == g_opt
    obs, _ = env.reset(seed=0)
    assert obs[-1] == g_make


@names
def test_goal_drawn_from_range_with_np_random(name):
    spec = get_task(name)
    env = gym.make(TASKS[name][0])
    goals = [env.reset(seed=s)[0][-1] for s in range(6)]
    assert all(spec.goal_low <= g < spec.goal_high for g in goals)
    assert len(set(goals)) == 6
    again = gym.make(TASKS[name][0])
    assert again.reset(seed=4)[0][-1] == goals[4]
    # the goal is drawn after the initial-state noise: a seed fixes the state whatever the goal
    fixed = gym.make(TASKS[name][0], goal=spec.train_goals()[0])
    np.testing.assert_array_equal(fixed.reset(seed=4)[0][:-1], again.reset(seed=4)[0][:-1])


@names
def test_goal_out_of_range(name):
    spec = get_task(name)
    outside = spec.goal_high + 1.0
    with pytest.raises(GoalRangeError, match="extrapolate"):
        gym.make(TASKS[name][0], goal=outside)
    env = gym.make(TASKS[name][0])
    with pytest.raises(GoalRangeError):
        env.reset(seed=0, options={"goal": outside})
    env = gym.make(TASKS[name][0], goal=outside, extrapolate=True)
    assert env.reset(seed=0)[0][-1] == outside
    assert env.reset(seed=0, options={"goal": spec.goal_low - 1})[0][-1] == spec.goal_low - 1


@names
def test_same_seed_same_trajectory(name):
    gym_id, _, act_dim = TASKS[name]
    actions = np.random.default_rng(1).uniform(-1, 1, (30, act_dim))
    runs = []
    for _ in range(2):
        env = gym.make(gym_id, goal=get_task(name).train_goals()[2])
        obs, _ = env.reset(seed=5)
        trajectory = [obs]
        for a in actions:
            obs, reward, terminated, truncated, _ = env.step(a)
            trajectory.append(np.append(obs, [reward, terminated]))
            if terminated:
                break
        runs.append(trajectory)
    assert len(runs[0]) == len(runs[1])
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


@names
def test_reward_terms_in_info_sum_to_reward(name):
    env = gym.make(TASKS[name][0], goal=get_task(name).train_goals()[5])
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(5):
        _, reward, *_, info = env.step(rng.uniform(-1, 1, TASKS[name][2]))
        terms = [v for k, v in info.items() if k.startswith("reward_")]
        assert len(terms) >= 2
        assert reward == pytest.approx(sum(terms), rel=1e-12, abs=1e-12)


def test_episode_truncated_after_1000_steps():
    env = gym.make("pdlf/HalfCheetahVel-v0", goal=2.0)
    env.reset(seed=0)
    action = np.zeros(6)
    for t in range(1000):
        *_, terminated, truncated, _ = env.step(action)
        assert not terminated
        assert truncated == (t == 999)


def test_unknown_task_name_hints():
    with pytest.raises(UnknownNameError, match="did you mean 'halfcheetah_vel'"):
        get_task("halfcheetah_velo")


def test_settotalmass_warning_silenced_and_handler_restored(tmp_path, monkeypatch, capfd):
    monkeypatch.chdir(tmp_path)  # MuJoCo's default handler would also write MUJOCO_LOG.TXT here
    gym.make("pdlf/HalfCheetahVel-v0")
    assert "settotalmass" not in capfd.readouterr().err
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()
    seen = []
    mujoco.set_mju_user_warning(seen.append)
    try:
        gym.make("pdlf/HalfCheetahVel-v0")
        assert mujoco.get_mju_user_warning() == seen.append
        assert not [m for m in seen if "settotalmass" in m]
    finally:
        mujoco.set_mju_user_warning(None)
