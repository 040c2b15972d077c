"""The working-memory copy task: exact encoding, scoring, K-class variant and the gymnasium env."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import pdlf.envs  # noqa: F401  (registers the ids)
from pdlf.envs.copy_task import (
    CopyTaskConfig,
    class_prototypes,
    copy_accuracy,
    copy_score,
    make_copy_batch,
    oracle_outputs,
)
from pdlf.envs.tasks import get_task
from pdlf.errors import ConfigError, GoalRangeError, ShapeError


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_binary_encoding_by_hand_l3_d2():
    cfg = CopyTaskConfig(length=3, delay=2)
    assert cfg.steps == 9 and cfg.recall_start == 5 and cfg.recall_stop == 8
    assert cfg.input_dim == 3 and cfg.output_dim == 1
    batch = make_copy_batch(cfg, batch=8, generator=gen(1))
    assert batch.inputs.shape == (9, 8, 3) and batch.inputs.dtype == torch.float32
    assert batch.targets.shape == (9, 8) and batch.targets.dtype == torch.long
    assert set(batch.items.unique().tolist()) == {0, 1}  # 24 random bits: both values occur
    for b in range(8):
        x0, x1, x2 = batch.items[b].tolist()
        expected_inputs = torch.tensor(
            [
                [x0, 1, 0],  # input phase: bit, input flag
                [x1, 1, 0],
                [x2, 1, 0],
                [0, 0, 0],  # delay D = 2
                [0, 0, 0],
                [0, 0, 1],  # recall phase: recall flag on steps L+D .. 2L+D-1 (PDLF's generator)
                [0, 0, 1],
                [0, 0, 1],
                [0, 0, 0],  # the unscored end step (the "+1")
            ],
            dtype=torch.float32,
        )
        torch.testing.assert_close(batch.inputs[:, b], expected_inputs, rtol=0, atol=0)
        assert batch.targets[:, b].tolist() == [0, 0, 0, 0, 0, x0, x1, x2, 0]
    assert batch.recall_mask.tolist() == [False] * 5 + [True] * 3 + [False]


def test_zero_delay_recall_follows_input_then_one_end_step():
    cfg = CopyTaskConfig(length=2, delay=0)
    batch = make_copy_batch(cfg, batch=1, generator=gen(0))
    assert cfg.steps == 5
    assert batch.inputs[:, 0, 1].tolist() == [1, 1, 0, 0, 0]
    assert batch.inputs[:, 0, 2].tolist() == [0, 0, 1, 1, 0]


def test_same_generator_seed_same_batch():
    cfg = CopyTaskConfig(length=8, delay=4, n_classes=3, feature_dim=5, noise=0.3)
    a, b = make_copy_batch(cfg, 16, gen(5)), make_copy_batch(cfg, 16, gen(5))
    torch.testing.assert_close(a.inputs, b.inputs)
    assert torch.equal(a.targets, b.targets)


def test_oracle_scores_one_and_inverse_scores_zero():
    cfg = CopyTaskConfig(length=8, delay=16)
    batch = make_copy_batch(cfg, 64, gen(2))
    oracle = oracle_outputs(batch)
    assert torch.equal(copy_score(oracle, batch), torch.ones(64))
    assert float(copy_accuracy(1.0 - oracle, batch)) == 0.0
    # outputs outside the recall window do not count
    noisy = oracle.clone()
    noisy[: cfg.recall_start] = torch.rand(cfg.recall_start, 64, generator=gen(3))
    assert float(copy_accuracy(noisy, batch)) == 1.0


def test_threshold_is_strictly_above_half():
    cfg = CopyTaskConfig(length=1, delay=0)
    batch = make_copy_batch(cfg, 1, gen(0))
    bit = int(batch.items[0, 0])
    at_threshold = torch.full((cfg.steps, 1), 0.5)
    assert float(copy_accuracy(at_threshold, batch)) == float(bit == 0)


def test_random_responder_scores_chance():
    cfg = CopyTaskConfig(length=16, delay=8)
    batch = make_copy_batch(cfg, 4096, gen(4))
    outputs = torch.rand(cfg.steps, 4096, generator=gen(5))
    acc = float(copy_accuracy(outputs, batch))
    assert abs(acc - 0.5) < 0.01  # 65,536 recall bits: std 0.002
    constant = torch.ones(cfg.steps, 4096)  # always answering 1: the fraction of ones
    assert abs(float(copy_accuracy(constant, batch)) - 0.5) < 0.01


def test_population_axis_matches_per_agent_scores():
    cfg = CopyTaskConfig(length=8, delay=16)
    batch = make_copy_batch(cfg, 32, gen(6))
    pop = torch.rand(5, cfg.steps, 32, generator=gen(7))
    pop[0] = oracle_outputs(batch)
    scores = copy_score(pop, batch)
    assert scores.shape == (5, 32)
    for p in range(5):
        torch.testing.assert_close(scores[p], copy_score(pop[p], batch))
    assert copy_accuracy(pop, batch).shape == (5,)
    assert float(copy_accuracy(pop, batch)[0]) == 1.0
    # a population of 256 on 512 sequences at the largest sweep point scores in one call
    big_cfg = CopyTaskConfig(length=64, delay=32)
    big = make_copy_batch(big_cfg, 512, gen(8))
    out = torch.rand(256, big_cfg.steps, 512, generator=gen(9))
    assert copy_accuracy(out, big).shape == (256,)


def test_wrong_output_shape_raises():
    cfg = CopyTaskConfig(length=3, delay=2)
    batch = make_copy_batch(cfg, 4, gen(0))
    with pytest.raises(ShapeError):
        copy_score(torch.zeros(cfg.steps, 5), batch)
    with pytest.raises(ShapeError):
        copy_score(torch.zeros(cfg.steps, 4, 3), batch)


def test_k_class_variant_shapes_oracle_and_chance():
    cfg = CopyTaskConfig(length=6, delay=3, n_classes=4, feature_dim=4, noise=0.1)
    assert cfg.input_dim == 6 and cfg.output_dim == 4
    batch = make_copy_batch(cfg, 2000, gen(10))
    T = cfg.steps
    assert batch.inputs.shape == (T, 2000, 6)
    assert set(batch.items.unique().tolist()) == {0, 1, 2, 3}
    # features: the one-hot prototype plus noise, only in the input phase
    clean = torch.eye(4)[batch.items].transpose(0, 1)  # [L, B, 4]
    residual = batch.inputs[: cfg.length, :, :4] - clean
    assert 0.08 < float(residual.std()) < 0.12
    assert torch.all(batch.inputs[cfg.length :, :, :4] == 0)
    assert torch.all(batch.inputs[: cfg.length, :, 4] == 1)  # input flag
    assert torch.all(batch.inputs[:, :, 5].sum(0) == 6)  # recall flag on L steps
    oracle = oracle_outputs(batch)
    assert oracle.shape == (T, 2000, 4)
    assert float(copy_accuracy(oracle, batch)) == 1.0
    logits = torch.randn(3, T, 2000, 4, generator=gen(11))
    acc = copy_accuracy(logits, batch)
    assert acc.shape == (3,) and torch.all((acc - 0.25).abs() < 0.02)


def test_k_class_random_prototypes():
    cfg = CopyTaskConfig(length=4, delay=1, n_classes=3, feature_dim=8, prototype_seed=2)
    protos = class_prototypes(cfg)
    assert protos.shape == (3, 8)
    torch.testing.assert_close(protos.norm(dim=1), torch.ones(3))
    assert torch.equal(protos, class_prototypes(cfg))  # fixed by the seed
    batch = make_copy_batch(cfg, 5, gen(0))
    torch.testing.assert_close(batch.inputs[:4, :, :8], protos[batch.items].transpose(0, 1))
    binary_noisy = CopyTaskConfig(length=4, delay=1, feature_dim=1, noise=0.5)
    assert binary_noisy.output_dim == 1 and binary_noisy.input_dim == 3


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"length": 0}, "length"),
        ({"delay": -1}, "delay"),
        ({"n_classes": 1}, "n_classes"),
        ({"n_classes": 3}, "feature_dim"),
        ({"noise": -0.1}, "noise"),
        ({"length": 2.5}, "length"),
    ],
)
def test_config_errors_name_the_field(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        CopyTaskConfig(**kwargs)


def test_copy_env_api_and_spec():
    spec = get_task("copy")
    assert (spec.gym_id, spec.obs_dim, spec.act_dim, spec.goal_dim) == ("pdlf/Copy-v0", 3, 1, 0)
    env = gym.make("pdlf/Copy-v0")
    check_env(env.unwrapped)
    assert spec.episode_steps == CopyTaskConfig().steps == 33


def memory_policy_episode(env, seed: int) -> tuple[float, int, list[int]]:
    """An agent that stores the bits it sees and replays them: reward L on every sequence."""
    obs, _ = env.reset(seed=seed)
    seen, recalled, total, steps = [], [], 0.0, 0
    while True:
        if obs[1] == 1.0:
            seen.append(int(obs[0]))
        answer = float(seen[len(recalled)]) if obs[2] == 1.0 else 0.0
        if obs[2] == 1.0:
            recalled.append(int(answer))
        obs, reward, terminated, truncated, info = env.step(np.array([answer], dtype=np.float32))
        total += reward
        steps += 1
        cfg = env.unwrapped.cfg
        assert info["recall"] == (cfg.recall_start <= info["t"] < cfg.recall_stop)
        if terminated or truncated:
            return total, steps, seen


def test_copy_env_memory_agent_scores_every_recall_step():
    env = gym.make("pdlf/Copy-v0", length=5, delay=3)
    total, steps, seen = memory_policy_episode(env, seed=0)
    assert steps == 2 * 5 + 3 + 1
    assert total == 5.0
    # same seed, same sequence; another seed, another
    assert memory_policy_episode(env, seed=0)[2] == seen
    others = {tuple(memory_policy_episode(env, seed=s)[2]) for s in range(1, 6)}
    assert len(others) > 1


def test_copy_env_random_actions_near_chance():
    env = gym.make("pdlf/Copy-v0")
    env.action_space.seed(0)
    total = 0.0
    for seed in range(100):
        env.reset(seed=seed)
        done = False
        while not done:
            _, r, terminated, truncated, _ = env.step(env.action_space.sample())
            total += r
            done = terminated or truncated
    assert abs(total / (100 * 8) - 0.5) < 0.07  # 800 recall steps: std 0.018


def test_copy_env_goal_is_range_checked():
    with pytest.raises(GoalRangeError):
        gym.make("pdlf/Copy-v0", goal=2.0)
    env = gym.make("pdlf/Copy-v0", goal=0.5)
    env.reset(seed=0, options={"goal": 0.25})
    with pytest.raises(GoalRangeError):
        env.reset(seed=0, options={"goal": -1.0})


def test_module_docstring_example_runs():
    import doctest

    import pdlf.envs.copy_task as module

    result = doctest.testmod(module)
    assert result.attempted >= 3 and result.failed == 0
