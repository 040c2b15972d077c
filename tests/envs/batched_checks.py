"""Helpers shared by the batched-env tests: step a `BatchedEnv` through fixed actions, and check
each member against the gymnasium env it must equal."""

from __future__ import annotations

import gymnasium as gym
import numpy as np


def step_all(env, seeds, actions, goals=None):
    """Reset with ``seeds`` (goals default 0) and step every action row ``[T, B, act]``.

    Returns stacked ``obs [T+1, B, obs_dim]``, ``rewards [T, B]`` and ``dones [T, B]``.
    """
    goals = np.zeros(len(seeds)) if goals is None else goals
    obs = [env.reset(goals, np.asarray(seeds))]
    rewards, dones = [], []
    for a in actions:
        o, r, d = env.step(a)
        obs.append(o)
        rewards.append(r)
        dones.append(d)
    return np.array(obs), np.array(rewards), np.array(dones)


def assert_memory_task_equals_gym(env, gym_id: str, gym_kwargs: dict, seeds, rng_seed: int = 3) -> None:
    """Member ``b`` of a memory-task env equals ``gym.make(gym_id, **gym_kwargs)`` reset with
    ``seeds[b]`` under the same random actions, bit for bit, one step past the episode's end included."""
    B, T = len(seeds), env.max_steps
    actions = np.random.default_rng(rng_seed).uniform(-0.5, 1.5, (T + 1, B, 1))
    obs, rewards, dones = step_all(env, seeds, actions)
    for b in range(B):
        ref = gym.make(gym_id, **gym_kwargs)
        o, _ = ref.reset(seed=int(seeds[b]))
        np.testing.assert_array_equal(obs[0, b], o)
        for t in range(T):
            o, r, terminated, truncated, _ = ref.step(actions[t, b])
            np.testing.assert_array_equal(obs[t + 1, b], o)
            assert rewards[t, b] == r  # exact, both reward kinds
            assert dones[t, b] == terminated and not truncated
        # after the end: frozen zero observation, no reward, still done
        assert rewards[T, b] == 0 and dones[T, b]
        np.testing.assert_array_equal(obs[T + 1, b], np.zeros(env.obs_dim))
    assert obs.dtype == np.float64 and rewards.dtype == np.float64 and dones.dtype == bool
