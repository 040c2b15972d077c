"""`make_batched`: the training workers' batched env agrees with the gymnasium envs exactly."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from pdlf.envs import TaskSpec, get_task, make_batched
from pdlf.envs.vector import GymBatchedEnv, KernelBatchedEnv
from pdlf.errors import GoalRangeError, ShapeError, UnknownNameError

from batched_checks import step_all

LOCOMOTION = ["ant_dir", "swimmer_dir", "halfcheetah_vel", "hopper_vel"]


@pytest.mark.parametrize("name", LOCOMOTION)
def test_batched_equals_sequential_gymnasium(name):
    spec = get_task(name)
    B, T = 3, 50
    goals = spec.unseen_goals()[[2, 5, 9]]
    seeds = np.array([4, 17, 23])
    actions = np.random.default_rng(7).uniform(-1.2, 1.2, (T, B, spec.act_dim))  # some out of range
    env = make_batched(name, B)
    assert isinstance(env, KernelBatchedEnv)
    obs, rewards, dones = step_all(env, seeds, actions, goals)
    for b in range(B):
        ref = gym.make(spec.gym_id, goal=goals[b])
        o, _ = ref.reset(seed=int(seeds[b]))
        np.testing.assert_array_equal(obs[0, b], o)
        ended = False
        for t in range(T):
            if ended:  # done before this step: frozen, no reward
                assert rewards[t, b] == 0 and dones[t, b]
                np.testing.assert_array_equal(obs[t + 1, b], obs[t, b])
                continue
            o, r, terminated, _, _ = ref.step(actions[t, b])
            np.testing.assert_array_equal(obs[t + 1, b], o)
            assert rewards[t, b] == r
            assert dones[t, b] == terminated
            ended = terminated


def test_contract_attributes():
    env = make_batched("hopper_vel", 4)
    spec = get_task("hopper_vel")
    assert env.spec is spec and env.batch_size == 4 and env.max_steps == 1000
    assert (env.obs_dim, env.act_dim, env.goal_dim) == (12, 3, 1)
    obs = env.reset(spec.train_goals()[:4], np.arange(4))
    assert obs.shape == (4, 12) and obs.dtype == np.float64
    np.testing.assert_array_equal(obs[:, -1], spec.train_goals()[:4])
    assert env.steps == 0 and not env.done.any() and not env.all_done
    obs, reward, done = env.step(np.zeros((4, 3)))
    assert obs.shape == (4, 12) and reward.shape == (4,) and reward.dtype == np.float64
    assert done.dtype == bool and env.steps == 1
    np.testing.assert_array_equal(obs[:, -1], spec.train_goals()[:4])


def test_max_steps_ends_every_member():
    env = make_batched("halfcheetah_vel", 2, max_steps=5)
    env.reset(np.array([1.0, 2.0]), np.array([0, 1]))
    for t in range(5):
        _, reward, done = env.step(np.zeros((2, 6)))
        assert done.all() == (t == 4) and (reward != 0).all()
    assert env.all_done and env.steps == 5
    obs, reward, done = env.step(np.zeros((2, 6)))
    assert (reward == 0).all() and done.all()


def test_terminated_member_stops_while_others_continue():
    env = make_batched("hopper_vel", 3)
    obs = env.reset(np.array([0.5, 1.0, 1.5]), np.array([0, 1, 2]))
    actions = np.zeros((3, 3))
    actions[1] = 1.0  # full torque topples member 1 within a few dozen steps
    frozen, t_end = None, None
    for t in range(100):
        obs, reward, done = env.step(actions)
        if t_end is None and done[1]:
            t_end, frozen = t, obs[1].copy()
            assert reward[1] != 0  # the terminating step still pays
        elif t_end is not None:
            assert reward[1] == 0 and done[1]
            np.testing.assert_array_equal(obs[1], frozen)
            assert (reward[[0, 2]] != 0).all() and not done[[0, 2]].any()
    assert t_end is not None and t_end < 90


def test_reset_restarts_a_finished_batch_deterministically():
    env = make_batched("swimmer_dir", 2, max_steps=3)
    goals, seeds = np.array([0.0, 1.0]), np.array([5, 6])
    first = env.reset(goals, seeds)
    for _ in range(3):
        env.step(np.ones((2, 2)))
    assert env.all_done
    again = env.reset(goals, seeds)
    np.testing.assert_array_equal(first, again)
    assert not env.done.any() and env.steps == 0


def test_goal_range_and_extrapolate():
    with pytest.raises(GoalRangeError):
        make_batched("halfcheetah_vel", 2).reset(np.array([2.0, 12.0]), np.array([0, 1]))
    env = make_batched("halfcheetah_vel", 2, extrapolate=True)
    obs = env.reset(np.array([2.0, 12.0]), np.array([0, 1]))
    np.testing.assert_array_equal(obs[:, -1], [2.0, 12.0])


def test_shape_errors():
    env = make_batched("hopper_vel", 2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step(np.zeros((2, 3)))
    with pytest.raises(ShapeError):
        env.reset(np.array([0.5]), np.array([0, 1]))
    with pytest.raises(ShapeError):
        env.reset(np.array([0.5, 0.5]), np.array([0.0, 1.0]))
    env.reset(np.array([0.5, 0.5]), np.array([0, 1]))
    with pytest.raises(ShapeError):
        env.step(np.zeros((2, 4)))


def test_unknown_task_name_hints():
    with pytest.raises(UnknownNameError, match="did you mean 'hopper_vel'"):
        make_batched("hoper_vel", 2)


def test_generic_path_agrees_with_fast_path():
    spec = get_task("halfcheetah_vel")
    goals, seeds = np.array([1.5, 8.0]), np.array([3, 4])
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 2, 6))
    fast = step_all(make_batched("halfcheetah_vel", 2), seeds, actions, goals)
    slow = step_all(GymBatchedEnv(spec, 2), seeds, actions, goals)
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a, b)


def test_generic_path_needs_a_registered_gym_id():
    spec = TaskSpec("not_yet", "pdlf/NotYet-v0", 3, 1, 1, 0.0, 1.0, "m")
    assert "pdlf/NotYet-v0" not in gym.registry
    with pytest.raises(UnknownNameError, match="not registered"):
        GymBatchedEnv(spec, 2)
