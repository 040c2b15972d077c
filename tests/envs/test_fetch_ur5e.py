"""fetch and ur5e: gymnasium API, rewards recomputed from the simulator, hits, goals, seeds."""

from __future__ import annotations

import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pdlf.envs  # noqa: F401  (registers the ids)
from pdlf.envs.target_reaching import body_linear_velocities
from pdlf.envs.tasks import get_task
from pdlf.errors import GoalRangeError

TASK_NAMES = ["fetch", "ur5e"]


def make(name: str, **kwargs):
    return gym.make(get_task(name).gym_id, **kwargs)


def target_angle(env) -> float:
    x, y = env.unwrapped.target[:2]
    return float(np.arctan2(y, x) % (2 * np.pi))


def point(env) -> np.ndarray:
    """The point that reaches: fetch's torso, ur5e's wrist site (world frame)."""
    u = env.unwrapped
    if u.task.name == "fetch":
        return u.data.body("torso").xpos.copy()
    return u.data.site("wrist").xpos.copy()


@pytest.mark.parametrize("name", TASK_NAMES)
def test_check_env_and_dims(name):
    env = make(name)
    with warnings.catch_warnings():
        # unbounded Box warnings, as for gymnasium's own MuJoCo envs
        warnings.simplefilter("ignore")
        check_env(env.unwrapped, skip_render_check=True)  # rendering needs a display or EGL
    spec = get_task(name)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (spec.obs_dim,) == env.observation_space.shape
    assert env.action_space.shape == (spec.act_dim,)
    assert spec.goal_dim == 0 and spec.episode_steps == 1000
    assert env.spec.max_episode_steps == 1000
    np.testing.assert_allclose(spec.train_goals(), 2 * np.pi * np.arange(8) / 8)
    np.testing.assert_allclose(spec.unseen_goals(), 2 * np.pi * np.arange(12) / 12)


def test_fetch_reward_equals_formula():
    env = make("fetch", goal=np.pi / 2)
    u = env.unwrapped
    env.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(20):
        before = point(env)
        target = u.target.copy()
        _, reward, terminated, truncated, info = env.step(rng.uniform(-1, 1, 10))
        torso = u.data.body("torso").xpos
        rot = u.data.body("torso").xmat.reshape(3, 3)
        to_target = target - torso
        to_target[2] = 0.0
        dist = np.linalg.norm(to_target)
        direction = to_target / dist
        hit = dist < 2.0
        expected = (
            0.1 * u.dt * torso[2]
            + 0.1 * (torso - before) @ direction
            + 0.1 * u.dt * rot[2, 2]
            + (rot[:, 0] @ direction if hit else 0.0)
        )
        assert not hit  # the first target is >= 2 m away and the dog has barely moved
        assert u.dt == pytest.approx(0.02)
        assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert info["reward_height"] == pytest.approx(0.1 * u.dt * torso[2])
        assert info["reward_upright"] == pytest.approx(0.1 * u.dt * rot[2, 2])
        assert info["target_distance"] == pytest.approx(dist)
        assert not terminated and not truncated


def test_ur5e_reward_equals_formula():
    env = make("ur5e", goal=1.0)
    u = env.unwrapped
    env.reset(seed=4)
    rng = np.random.default_rng(1)
    for _ in range(20):
        before = point(env)
        target = u.target.copy()
        _, reward, _, _, info = env.step(rng.uniform(-1, 1, 6))
        wrist = point(env)
        dist = np.linalg.norm(target - wrist)
        assert dist >= 0.02  # no hit on these steps
        expected = 0.1 * (wrist - before) @ ((target - wrist) / dist)
        assert reward == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert info["reward_move"] == pytest.approx(expected)
        assert info["reward_hit"] == 0.0 and not info["hit"]


@pytest.mark.parametrize("name", TASK_NAMES)
def test_hit_pays_bonus_and_draws_new_target(name):
    env = make(name, goal=0.0, reset_noise_scale=0.0)  # zero action then holds (ur5e) or settles
    u = env.unwrapped
    env.reset(seed=5)
    zero = np.zeros(env.action_space.shape)
    p = point(env)
    # a target just ahead of the reaching point, well inside the hit radius
    placed = p + (np.array([1.0, 0.0, 0.0]) if name == "fetch" else np.array([0.005, 0.0, 0.0]))
    if name == "fetch":
        placed[2] = 0.0
    u.set_target(placed)
    _, reward, _, _, info = env.step(zero)
    assert info["hit"] and info["hits"] == 1 == u.hits
    new = point(env)
    to_placed = placed - new
    if name == "fetch":
        to_placed[2] = 0.0
        direction = to_placed / np.linalg.norm(to_placed)
        fwd = u.data.body("torso").xmat.reshape(3, 3)[:, 0]
        assert info["reward_hit"] == pytest.approx(fwd @ direction)
        assert info["reward_hit"] > 0.5  # the dog faces +x and the target is ahead
        terms = ("reward_height", "reward_move", "reward_upright", "reward_hit")
        assert reward == pytest.approx(sum(info[k] for k in terms))
        d_min, d_max, height = 2.0, 17.0, 0.0
    else:
        assert info["reward_hit"] == 1.0
        assert reward == pytest.approx(info["reward_move"] + 1.0)
        d_min, d_max, height = 0.02, 0.52, 0.5
    # a new target was drawn from the task's range, and the sim's mocap target follows it
    assert not np.allclose(u.target, placed)
    assert d_min <= np.linalg.norm(u.target[:2]) <= d_max
    assert u.target[2] == pytest.approx(height)
    np.testing.assert_allclose(u.data.mocap_pos[0], u.target)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_explicit_goal_sets_first_target(name):
    spec = get_task(name)
    d_min, d_max = (2.0, 17.0) if name == "fetch" else (0.02, 0.52)
    for goal in spec.train_goals()[[1, 5]]:
        env = make(name, goal=goal)
        env.reset(seed=0)
        assert target_angle(env) == pytest.approx(goal % (2 * np.pi), abs=1e-9)
        assert env.unwrapped.goal == pytest.approx(goal)
        assert d_min <= np.linalg.norm(env.unwrapped.target[:2]) <= d_max
        # options override the constructor's goal for that reset only
        env.reset(seed=0, options={"goal": spec.unseen_goals()[7]})
        assert target_angle(env) == pytest.approx(spec.unseen_goals()[7], abs=1e-9)
        env.reset(seed=1)
        assert target_angle(env) == pytest.approx(goal % (2 * np.pi), abs=1e-9)
    # no goal: uniformly random angles, different across seeds
    env = make(name)
    angles = set()
    for seed in range(5):
        env.reset(seed=seed)
        angles.add(round(target_angle(env), 6))
    assert len(angles) == 5


@pytest.mark.parametrize("name", TASK_NAMES)
def test_goal_out_of_range_raises(name):
    with pytest.raises(GoalRangeError):
        make(name, goal=7.0)
    env = make(name)
    with pytest.raises(GoalRangeError):
        env.reset(seed=0, options={"goal": -0.1})
    env = make(name, goal=-1.0, extrapolate=True)
    env.reset(seed=0)
    assert target_angle(env) == pytest.approx(2 * np.pi - 1.0)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_same_seed_same_trajectory(name):
    def rollout(seed):
        env = make(name)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        out = [obs]
        for _ in range(50):
            obs, r, *_ = env.step(env.action_space.sample())
            out.append(np.append(obs, r))
        return np.concatenate(out)

    np.testing.assert_array_equal(rollout(7), rollout(7))
    assert not np.array_equal(rollout(7), rollout(8))


@pytest.mark.parametrize("name", TASK_NAMES)
def test_generic_driver_interface(name):
    """The batched stepper's way in: the unwrapped env, reset with a goal option, step."""
    env = make(name).unwrapped
    spec = get_task(name)
    obs, info = env.reset(seed=2, options={"goal": spec.train_goals()[3]})
    assert target_angle(env) == pytest.approx(spec.train_goals()[3])
    assert info["goal"] == pytest.approx(spec.train_goals()[3])
    obs2, reward, terminated, truncated, info = env.step(np.zeros(spec.act_dim))
    assert obs2.shape == (spec.obs_dim,) and np.isfinite(reward)
    assert {"hit", "hits", "target_distance", "reward_hit"} <= set(info)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_stable_over_an_episode_of_random_actions(name):
    env = make(name)
    env.reset(seed=11)
    env.action_space.seed(11)
    for t in range(1000):
        action = env.action_space.sample() if t % 200 < 100 else np.sign(env.action_space.sample())
        obs, reward, terminated, truncated, _ = env.step(action)
        assert np.isfinite(obs).all() and np.isfinite(reward)
        assert not terminated
    assert truncated  # 1000-step time limit
    assert np.abs(env.unwrapped.data.qvel).max() < 100.0


def test_fetch_observation_layout():
    env = make("fetch", goal=np.pi)
    u = env.unwrapped
    env.reset(seed=0)
    for _ in range(60):  # settle on the floor
        obs, *_ = env.step(np.zeros(10))
    rot = u.data.body("torso").xmat.reshape(3, 3)
    torso = u.data.body("torso").xpos
    np.testing.assert_allclose(obs[0:3], rot[:, 0])
    np.testing.assert_allclose(obs[3:6], rot[:, 2])
    to_target = (u.target - torso)[:2]
    assert obs[6] == pytest.approx(np.linalg.norm(to_target))
    np.testing.assert_allclose(rot @ obs[7:10], np.append(to_target, 0.0) / obs[6], atol=1e-12)
    shoulders = u.data.body("shoulders").xpos
    np.testing.assert_allclose(rot @ obs[10:13], shoulders - torso, atol=1e-12)
    contacts = obs[76:80]
    assert set(np.unique(contacts)) <= {0.0, 1.0} and contacts.sum() >= 1


def test_ur5e_observation_layout():
    env = make("ur5e", goal=0.5)
    u = env.unwrapped
    env.reset(seed=0)
    obs, *_ = env.step(np.full(6, 0.2))
    rot = u.data.site("wrist").xmat.reshape(3, 3)
    offset = u.target - u.data.site("wrist").xpos
    assert obs[6] == pytest.approx(np.linalg.norm(offset))
    np.testing.assert_allclose(rot @ obs[7:10], offset / obs[6], atol=1e-12)
    np.testing.assert_allclose(obs[46:52], u.data.qpos)
    np.testing.assert_allclose(obs[52:58], u.data.qvel)


def test_ur5e_servo_holds_commanded_pose():
    env = make("ur5e")
    env.reset(seed=0)
    action = np.array([0.3, -0.2, 0.4, -0.1, 0.2, 0.5])
    for _ in range(60):  # 3 s
        env.step(action)
    np.testing.assert_allclose(env.unwrapped.data.qpos, np.pi * action, atol=1e-3)


@pytest.mark.parametrize("name", TASK_NAMES)
def test_body_velocities_match_mujoco(name):
    env = make(name)
    u = env.unwrapped
    env.reset(seed=0)
    env.step(env.action_space.sample())
    ids = np.arange(1, u.model.nbody)
    fast = body_linear_velocities(u.model, u.data, ids)
    res = np.zeros(6)
    for row, b in zip(fast, ids):
        mujoco.mj_objectVelocity(u.model, u.data, mujoco.mjtObj.mjOBJ_XBODY, int(b), res, 0)
        np.testing.assert_allclose(row, res[3:], atol=1e-10)
