"""Associative recall: exact encoding, batched == gym, oracle agents, a fixed-weight agent at
chance under the membrane reset, params, recall order."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

from pdlf.envs import describe_tasks, get_task, make_batched
from pdlf.envs.assoc_task import AssocBatchedEnv
from pdlf.envs.copy_batched import MembraneReset
from pdlf.errors import ConfigError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

from batched_checks import assert_memory_task_equals_gym, step_all

K = 16


def row(key=None, bit=0.0, input_flag=0.0, recall_flag=0.0):
    """One observation written out: [key (16), bit, input flag, recall flag]."""
    r = [0.0] * (K + 3)
    if key is not None:
        r[key] = 1.0
    r[K], r[K + 1], r[K + 2] = bit, input_flag, recall_flag
    return r


# seed 1 at L = 3: bits (0, 1, 1), recall order 2, 0, 1 (the draws of AssocEnv.reset(seed=1))
BITS, ORDER = [0, 1, 1], [2, 0, 1]
EXPECTED = np.array(
    [
        row(key=0, bit=0, input_flag=1),  # step 1: input, key e_0, bit 0
        row(key=1, bit=1, input_flag=1),
        row(key=2, bit=1, input_flag=1),
        row(),  # steps 4, 5: delay (D = 2)
        row(),
        row(key=2, recall_flag=1),  # step 6 = L + D + 1 (1-based): recall key e_2, target 1
        row(key=0, recall_flag=1),  # target 0
        row(key=1, recall_flag=1),  # target 1
        row(),  # step 9: the unscored end step
    ]
)
TARGETS = [1, 0, 1]


def test_encoding_by_hand_l3_d2():
    env = gym.make("pdlf/Assoc-v0", length=3, delay=2)
    assert env.observation_space.shape == (19,)
    obs, _ = env.reset(seed=1)
    seen, targets, recall = [obs], [], []
    for _ in range(9):
        obs, reward, terminated, _, info = env.step(np.array([0.0], dtype=np.float32))
        seen.append(obs)
        recall.append(info["recall"])
        if info["recall"]:
            targets.append(info["target"])
    assert terminated
    np.testing.assert_array_equal(np.array(seen[:9]), EXPECTED)
    np.testing.assert_array_equal(seen[9], np.zeros(19))
    assert recall == [False] * 5 + [True] * 3 + [False] and targets == TARGETS

    batched = make_batched("assoc", 2, params={"length": 3, "delay": 2})
    assert batched.max_steps == 9 and batched.recall_start == 5
    obs, _, _ = step_all(batched, [1, 1], np.zeros((9, 2, 1)))
    for b in range(2):
        np.testing.assert_array_equal(obs[:9, b], EXPECTED)
        np.testing.assert_array_equal(obs[9, b], np.zeros(19))
    np.testing.assert_array_equal(batched.items[0], BITS)
    np.testing.assert_array_equal(batched.order[0], ORDER)
    np.testing.assert_array_equal(batched.recall_targets[0], TARGETS)


@pytest.mark.parametrize(
    "params",
    [
        {"length": 3, "delay": 2},
        {},  # the defaults: L = 8, D = 16
        {"length": 16, "delay": 0, "reward": "margin", "margin": 0.3, "membrane_reset": True},
    ],
)
def test_batched_equals_gym_env_per_member(params):
    B = 6
    seeds = np.array([5, 11, 5, 0, 123456789, 11])  # repeated seeds share one cached draw
    env = make_batched("assoc", B, params=params)
    assert isinstance(env, AssocBatchedEnv) and env.obs_dim == 19
    gym_kwargs = {k: v for k, v in params.items() if k != "membrane_reset"}
    assert_memory_task_equals_gym(env, "pdlf/Assoc-v0", gym_kwargs, seeds)


class KeyValueAgent:
    """A fake agent with a perfect synaptic memory: stores the bit shown with each key and, on a
    recall step, answers the bit stored for the key shown (or its inverse). Its memory survives
    `reset_membranes`, as fast weights do."""

    def __init__(self, inverted: bool = False):
        self.inverted = inverted
        self.resets = 0

    def reset(self, genomes, seeds=0):
        self.memory = np.zeros((genomes.shape[0], K))

    def reset_membranes(self):
        self.resets += 1

    def act(self, obs: torch.Tensor, reward=None) -> torch.Tensor:
        x = obs.numpy()
        rows, key = np.arange(len(x)), x[:, :K].argmax(axis=1)
        store, recall = x[:, K + 1] == 1, x[:, K + 2] == 1
        self.memory[rows[store], key[store]] = x[store, K]
        answer = np.where(recall, self.memory[rows, key], 0.9)
        if self.inverted:
            answer = np.where(recall, 1.0 - answer, answer)
        return torch.from_numpy(answer[:, None])


@pytest.mark.parametrize("length", [8, 16])
def test_oracle_scores_length_and_inverted_scores_zero(length):
    B, D = 48, 4
    env = make_batched("assoc", B, params={"length": length, "delay": D, "membrane_reset": True})
    seeds = np.arange(B) % 12
    for inverted, expected in ((False, float(length)), (True, 0.0)):
        agent = KeyValueAgent(inverted)
        result = rollout(agent, env, torch.zeros(B, 1), np.full(B, 0.5), seeds)
        np.testing.assert_array_equal(result.returns, np.full(B, expected))
        assert agent.resets == D  # the task hook ran on every delay step
    # a copy-task answer (the bits in input order) is not the associative answer
    T, r0 = env.max_steps, env.recall_start
    copy_answer = np.full((T, B, 1), 0.9)
    copy_answer[r0 : r0 + length, :, 0] = env.items.T
    _, rewards, _ = step_all(env, seeds, copy_answer)
    assert rewards.sum(axis=0).mean() < length - 1


def test_fixed_weight_agent_sees_only_the_recall_keys():
    """Rule none, membrane reset: the output at recall step r is a function of the keys shown at
    recall steps 0..r (the state restarts from zero on every silent step), never of the bits."""
    L, D, G, S = 3, 2, 8, 128  # G genomes x S sequences
    env = make_batched("assoc", G * S, params={"length": L, "delay": D, "membrane_reset": True})
    agent = PlasticSNN(19, 1, AgentConfig(hidden=(8,), recurrent=True), RuleConfig(name="none"))
    g = torch.Generator().manual_seed(0)
    genomes = (torch.randn(G, agent.layout.size, generator=g) * 0.5).repeat_interleave(S, dim=0)
    outputs, act = [], agent.act

    def recording_act(obs, reward=None):
        action = act(obs, reward)
        outputs.append(action[:, 0].numpy().copy())
        return action

    agent.act = recording_act
    result = rollout(agent, env, genomes, np.full(G * S, 0.5), np.tile(np.arange(S), G),
                     record_rewards=True)
    r0 = env.recall_start
    recall_out = np.array(outputs[r0 : r0 + L]).T.reshape(G, S, L)  # [genome, sequence, recall step]
    order = env.order.reshape(G, S, L)[0]
    items = env.items.reshape(G, S, L)[0]
    pairs_with_other_bits = 0
    for r in range(L):
        prefixes = {}
        for s in range(S):
            prefixes.setdefault(tuple(order[s, : r + 1]), []).append(s)
        for group in prefixes.values():
            # same recall keys so far, any bits and input phase: the same output, to the bit
            same = recall_out[:, group, r]
            np.testing.assert_array_equal(same, same[:, :1].repeat(len(group), axis=1))
            pairs_with_other_bits += len({tuple(items[s]) for s in group}) > 1
    assert pairs_with_other_bits > 10  # the check above compared sequences with different bits
    # the agent does react to the key: different first keys, different outputs (some genome)
    first = {k: recall_out[:, order[:, 0] == k, 0][:, 0] for k in range(L)}
    assert any(not np.array_equal(first[0], first[k]) for k in range(1, L))
    accuracy = result.rewards[r0 : r0 + L].mean()
    assert abs(accuracy - 0.5) < 0.1, accuracy  # S * L = 384 independent bits per genome


@pytest.mark.parametrize(
    "params, key",
    [
        ({"lenght": 8}, "lenght"),
        ({"length": 0}, "length"),
        ({"length": 17}, "length"),
        ({"length": 2.5}, "length"),
        ({"length": True}, "length"),
        ({"delay": -1}, "delay"),
        ({"reward": "acc"}, "reward"),
        ({"margin": 0}, "margin"),
        ({"membrane_reset": "yes"}, "membrane_reset"),
    ],
)
def test_bad_params_are_one_line_errors_naming_the_key(params, key):
    checks = [
        lambda: get_task("assoc").check_params(params),  # what RunConfig.validate calls
        lambda: make_batched("assoc", 2, params=params),
    ]
    if key in ("length", "delay"):
        checks.append(lambda: gym.make("pdlf/Assoc-v0", **params))
    for check in checks:
        with pytest.raises(ConfigError) as info:
            check()
        message = str(info.value)
        assert f"env.params.{key}" in message and "\n" not in message
    if key == "lenght":
        assert "did you mean 'length'" in message
    get_task("assoc").check_params({"length": 16, "delay": 0, "membrane_reset": True})


def test_recall_order_is_a_permutation_and_differs_between_seeds():
    L, B = 8, 64
    env = make_batched("assoc", B, params={"length": L})
    env.reset(np.zeros(B), np.arange(B))
    np.testing.assert_array_equal(np.sort(env.order, axis=1), np.tile(np.arange(L), (B, 1)))
    assert len({tuple(o) for o in env.order}) > B // 2
    assert len({tuple(i) for i in env.items}) > B // 2
    np.testing.assert_array_equal(
        env.recall_targets, np.take_along_axis(env.items, env.order.astype(int), axis=1)
    )
    before = env.order.copy()
    env.reset(np.zeros(B), np.arange(B))  # the same seeds: the same orders
    np.testing.assert_array_equal(env.order, before)


def test_registration_hook_and_gym_api():
    spec = get_task("assoc")
    assert (spec.gym_id, spec.obs_dim, spec.act_dim, spec.goal_dim) == ("pdlf/Assoc-v0", 19, 1, 0)
    assert spec.episode_steps == 33
    rows = {r["name"]: r for r in describe_tasks()}
    assert rows["assoc"]["params"] == ["length", "delay", "reward", "margin", "membrane_reset"]
    env = make_batched("assoc", 2, params={"length": 5, "delay": 3, "membrane_reset": True})
    (hook,) = env.task_hooks
    assert isinstance(hook, MembraneReset) and (hook.first, hook.last) == (6, 8)
    assert make_batched("assoc", 2).task_hooks == ()
    check_env(gym.make("pdlf/Assoc-v0").unwrapped)


def test_module_docstring_example_runs():
    import doctest

    import pdlf.envs.assoc_task as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
