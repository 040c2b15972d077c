"""The copy task as a `BatchedEnv`: equal to the gym env per member, rewards, params, task hooks."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import pdlf.envs.copy_batched as copy_batched
from pdlf.envs import describe_tasks, get_task, make_batched
from pdlf.envs.copy_batched import CopyBatchedEnv, MembraneReset
from pdlf.errors import ConfigError, GoalRangeError
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

from batched_checks import assert_memory_task_equals_gym, step_all


def answers(env, correct: bool) -> np.ndarray:
    """``[T, B, 1]`` outputs: the target bit (or its inverse) on recall steps, 0.9 elsewhere."""
    T, r0 = env.max_steps, env.recall_start
    out = np.full((T, env.batch_size, 1), 0.9)
    bits = env.items.T.astype(np.float64)  # [L, B]
    out[r0 : r0 + env.cfg.length, :, 0] = bits if correct else 1.0 - bits
    return out


@pytest.mark.parametrize(
    "params",
    [
        {"length": 3, "delay": 2},
        {},  # the defaults: L = 8, D = 16
        {"length": 4, "delay": 0, "reward": "margin", "margin": 0.3},
    ],
)
def test_batched_equals_gym_env_per_member(params):
    B = 6
    seeds = np.array([5, 11, 5, 0, 123456789, 11])  # repeated seeds share one cached draw
    env = make_batched("copy", B, params=params)
    assert isinstance(env, CopyBatchedEnv)
    assert env.max_steps == 2 * env.cfg.length + env.cfg.delay + 1
    gym_kwargs = {k: v for k, v in params.items() if k in ("length", "delay", "reward", "margin")}
    assert_memory_task_equals_gym(env, "pdlf/Copy-v0", gym_kwargs, seeds)
    # the bits depend on the seed alone: equal seeds, equal bits; other seeds, other bits
    np.testing.assert_array_equal(env.items[0], env.items[2])
    assert len({tuple(row) for row in env.items}) > 1


def test_oracle_scores_length_and_inverted_scores_zero():
    L, B = 8, 64
    env = make_batched("copy", B, params={"length": L, "delay": 4})
    seeds = np.arange(B) % 16
    env.reset(np.zeros(B), seeds)
    _, rewards, _ = step_all(env, seeds, answers(env, correct=True))
    np.testing.assert_array_equal(rewards.sum(axis=0), np.full(B, float(L)))
    _, rewards, _ = step_all(env, seeds, answers(env, correct=False))
    np.testing.assert_array_equal(rewards.sum(axis=0), np.zeros(B))
    # exactly 0.5 is not "above the threshold": it answers 0, so it scores the zeros
    _, rewards, _ = step_all(env, seeds, np.full((env.max_steps, B, 1), 0.5))
    np.testing.assert_array_equal(rewards.sum(axis=0), (env.items == 0).sum(axis=1))


def seeds_with_first_bit(cfg, bit: int) -> int:
    return next(s for s in range(100) if copy_batched.sequence_bits(cfg, s)[0] == bit)


def test_margin_reward_by_hand():
    # L = 1, D = 0: steps 1 (input), 2 (recall), 3 (the unscored end step); margin 0.5
    env = make_batched("copy", 10, params={"length": 1, "delay": 0, "reward": "margin"})
    assert env.max_steps == 3 and env.recall_start == 1
    one, zero = seeds_with_first_bit(env.cfg, 1), seeds_with_first_bit(env.cfg, 0)
    seeds = np.array([one] * 5 + [zero] * 5)
    outs = np.array([0.75, 0.5, -2.0, 5.0, 0.625] * 2)
    actions = np.stack([np.full(10, 7.0), outs, np.full(10, -7.0)])[:, :, None]
    _, rewards, _ = step_all(env, seeds, actions)
    np.testing.assert_array_equal(rewards[[0, 2]], np.zeros((2, 10)))  # outside recall: 0
    # target 1: (o - 0.5) / 0.5 clipped; target 0: the negative
    expected = [0.5, 0.0, -1.0, 1.0, 0.25, -0.5, 0.0, 1.0, -1.0, -0.25]
    np.testing.assert_array_equal(rewards[1], expected)


@pytest.mark.parametrize(
    "params, key",
    [
        ({"lenght": 8}, "lenght"),
        ({"length": 0}, "length"),
        ({"length": 2.5}, "length"),
        ({"length": True}, "length"),
        ({"delay": -1}, "delay"),
        ({"reward": "acc"}, "reward"),
        ({"margin": 0}, "margin"),
        ({"margin": float("nan")}, "margin"),
        ({"margin": True}, "margin"),
        ({"membrane_reset": "yes"}, "membrane_reset"),
    ],
)
def test_bad_params_are_one_line_errors_naming_the_key(params, key):
    for check in (
        lambda: get_task("copy").check_params(params),  # what RunConfig.validate calls
        lambda: make_batched("copy", 2, params=params),
    ):
        with pytest.raises(ConfigError) as info:
            check()
        message = str(info.value)
        assert f"env.params.{key}" in message and "\n" not in message
    if key == "lenght":
        assert "did you mean 'length'" in message


def test_good_params_pass_and_other_tasks_take_none():
    good = {"length": 2, "delay": 0, "reward": "margin", "margin": 1, "membrane_reset": True}
    get_task("copy").check_params(good)
    get_task("copy").check_params({"length": np.int64(4)})
    with pytest.raises(ConfigError, match=r"env\.params\.length.*takes no env\.params"):
        make_batched("halfcheetah_vel", 1, params={"length": 8})
    with pytest.raises(ConfigError, match="reward"):
        gym.make("pdlf/Copy-v0", reward="acc")
    rows = {r["name"]: r for r in describe_tasks()}
    assert rows["copy"]["params"] == ["length", "delay", "reward", "margin", "membrane_reset"]
    assert rows["halfcheetah_vel"]["params"] == []


def test_episode_length_is_fixed_by_length_and_delay():
    env = make_batched("copy", 2, params={"length": 5, "delay": 3})
    assert env.max_steps == 14 and get_task("copy").episode_steps == 33
    assert make_batched("copy", 2, max_steps=14, params={"length": 5, "delay": 3}).max_steps == 14
    with pytest.raises(ConfigError) as info:
        make_batched("copy", 2, max_steps=1000, params={"length": 5, "delay": 3})
    assert "env.episode_steps=1000" in str(info.value) and "14" in str(info.value)
    assert "\n" not in str(info.value)


def test_goals_are_range_checked_and_ignored():
    env = make_batched("copy", 3)
    seeds = np.array([1, 2, 3])
    a = env.reset(np.array([0.0, 0.5, 1.0]), seeds)
    items = env.items.copy()
    b = env.reset(np.array([0.25, 0.25, 0.25]), seeds)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(items, env.items)
    with pytest.raises(GoalRangeError):
        env.reset(np.array([0.0, 2.0, 0.0]), seeds)
    make_batched("copy", 3, extrapolate=True).reset(np.array([0.0, 2.0, -1.0]), seeds)


def test_each_distinct_seed_is_drawn_once(monkeypatch):
    calls = []
    original = copy_batched.sequence_bits

    def counting(cfg, seed):
        calls.append(seed)
        return original(cfg, seed)

    monkeypatch.setattr(copy_batched, "sequence_bits", counting)
    env = make_batched("copy", 64)
    seeds = np.arange(64) % 4 + 100
    env.reset(np.zeros(64), seeds)
    assert sorted(calls) == [100, 101, 102, 103]
    env.reset(np.zeros(64), seeds[::-1].copy())  # cached: no new draw
    assert len(calls) == 4
    for b in range(64):
        np.testing.assert_array_equal(env.items[b], original(env.cfg, int(seeds[::-1][b])))


class Recorder:
    """A fake agent that records the hook's calls."""

    def __init__(self):
        self.resets = []
        self.step = None

    def reset_membranes(self):
        self.resets.append(self.step)


@pytest.mark.parametrize("length, delay", [(3, 2), (8, 16), (2, 0)])
def test_membrane_reset_hook_fires_on_the_delay_steps(length, delay):
    env = make_batched("copy", 2, params={"length": length, "delay": delay, "membrane_reset": True})
    (hook,) = env.task_hooks
    assert isinstance(hook, MembraneReset)
    agent = Recorder()
    for step in range(1, env.max_steps + 1):
        agent.step = step
        assert hook.before_step(step, agent, np.zeros((2, 3))) is None
        hook.after_step(step, agent, np.zeros(2))
    assert agent.resets == list(range(length + 1, length + delay + 1))  # actions L+1 .. L+D
    assert make_batched("copy", 2, params={"length": length, "delay": delay}).task_hooks == ()
    assert make_batched("halfcheetah_vel", 1).task_hooks == ()


@pytest.mark.parametrize("reward", ["accuracy", "margin"])
def test_rollout_with_a_plastic_snn_and_the_task_hooks(reward):
    L, D, B = 4, 3, 6
    params = {"length": L, "delay": D, "reward": reward, "membrane_reset": True}
    env = make_batched("copy", B, params=params)
    agent = PlasticSNN(3, 1, AgentConfig(hidden=(8,), init_weights="uniform"))
    genomes = torch.randn(B, agent.layout.size, generator=torch.Generator().manual_seed(0)) * 0.5
    acts, resets = [], []
    act, reset_membranes = agent.act, agent.reset_membranes

    def counting_act(obs, reward=None):
        acts.append(obs.clone())
        return act(obs, reward)

    def checked_reset():
        resets.append(len(acts) + 1)  # the action about to be taken
        reset_membranes()
        assert all(float(s.v.abs().sum() + s.z.abs().sum()) == 0 for s in agent.hidden_states)

    agent.act, agent.reset_membranes = counting_act, checked_reset
    # rollout applies env.task_hooks by itself
    result = rollout(agent, env, genomes, np.zeros(B), np.arange(B) % 3, agent_seeds=np.arange(B),
                     record_rewards=True)
    T = 2 * L + D + 1
    assert len(acts) == T and resets == list(range(L + 1, L + D + 1))
    np.testing.assert_array_equal(result.lengths, np.full(B, T))
    assert result.rewards.shape == (T, B) and not result.diverged.any()
    np.testing.assert_array_equal(result.rewards[: L + D], 0.0)
    np.testing.assert_array_equal(result.rewards[2 * L + D], 0.0)  # the unscored end step
    if reward == "accuracy":
        assert np.all((result.returns >= 0) & (result.returns <= L))
        np.testing.assert_array_equal(result.returns, np.round(result.returns))
    else:
        assert np.all(np.abs(result.returns) <= L)
    # the agent saw the env's observations: the bits, then the flags
    np.testing.assert_array_equal(acts[0][:, 0].numpy(), env.items[:, 0].astype(np.float32))
    assert float(acts[L + D][:, 2].min()) == 1.0 and float(acts[L + D - 1][:, 2].max()) == 0.0
