"""MuJoCo Warp's device-resident path (`reset_tensors` / `step_tensors`, ``rollout(on_device=True)``),
on Warp's CPU device, against the same env's numpy path (which `test_mjwarp.py` ties to C MuJoCo).

Both paths step the same captured physics from the same initial state; they differ only in where
the kernels run and in precision (float32 tensors against float64 copies of the float32 state), so
observations and rewards agree to float32 rounding and terminations exactly.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np
import pytest
import torch

from pdlf.envs import make_batched
from pdlf.errors import ShapeError
from pdlf.normalizer import ObsNormalizer, ObsStats
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import DEVICE_DONE_CHECK, rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mujoco_warp") is None or importlib.util.find_spec("warp") is None,
    reason="MuJoCo Warp is not installed (pip install -e '.[gpu]')",
)
TASKS = ["swimmer_dir", "hopper_vel", "halfcheetah_vel", "ant_dir"]
# Warp device of these tests: the CPU in CI; PDLF_TEST_MJWARP_DEVICE=cuda runs them on a GPU
DEVICE = os.environ.get("PDLF_TEST_MJWARP_DEVICE", "cpu")


def to_host(x: torch.Tensor) -> np.ndarray:
    return x.cpu().numpy()


def both_paths(task: str, batch: int, steps: int, actions: np.ndarray, goals: np.ndarray, seeds: np.ndarray):
    """``(host, device)``: each a tuple of stacked ``obs [T+1, B, D]``, ``reward [T, B]``, ``done [T, B]``."""
    env = make_batched(task, batch, backend="mjwarp", device=DEVICE, max_steps=steps)
    host = [env.reset(goals, seeds)], [], []
    for a in actions:
        o, r, d = env.step(a.astype(np.float64))
        host[0].append(o), host[1].append(r), host[2].append(d)
    dev = [to_host(env.reset_tensors(goals, seeds))], [], []
    for a in actions:
        o, r, d = env.step_tensors(torch.from_numpy(a))
        assert o.dtype == torch.float32 and r.dtype == torch.float32 and d.dtype == torch.bool
        dev[0].append(to_host(o)), dev[1].append(to_host(r)), dev[2].append(to_host(d))
    env.check_capacity()
    return tuple(np.stack(x) for x in host), tuple(np.stack(x) for x in dev)


@pytest.mark.parametrize("task", TASKS)
def test_step_tensors_matches_the_numpy_path(task):
    batch, steps = 5, 40
    env_goals = make_batched(task, 1).spec.train_goals()[:batch]
    actions = np.random.default_rng(1).uniform(-1, 1, (steps, batch, make_batched(task, 1).act_dim)).astype(np.float32)
    (obs_h, rew_h, done_h), (obs_d, rew_d, done_d) = both_paths(task, batch, steps, actions, env_goals, np.arange(batch))
    np.testing.assert_array_equal(done_d, done_h)
    np.testing.assert_allclose(obs_d, obs_h, atol=1e-6, rtol=1e-6)
    np.testing.assert_allclose(rew_d, rew_h, atol=1e-5, rtol=1e-6)
    assert done_h[-1].all()  # max_steps ends every member on both paths


def test_terminated_members_freeze_on_the_device_path():
    actions = np.zeros((60, 3, 3), dtype=np.float32)
    actions[:, 1] = 1.0  # full torque topples hopper member 1
    _, (obs, reward, done) = both_paths("hopper_vel", 3, 60, actions, np.array([0.5, 1.0, 1.5]), np.arange(3))
    t_end = int(np.argmax(done[:, 1]))
    assert 0 < t_end < 50 and not done[t_end, [0, 2]].any()
    assert reward[t_end, 1] != 0 and (reward[t_end + 1 :, 1] == 0).all()
    assert (obs[t_end + 2 :, 1] == obs[t_end + 1, 1]).all()  # frozen at its terminal observation


def test_the_device_path_rejects_bad_input():
    env = make_batched("halfcheetah_vel", 2, backend="mjwarp", device=DEVICE)
    with pytest.raises(RuntimeError, match="reset_tensors"):
        env.step_tensors(torch.zeros(2, 6))
    env.reset_tensors(np.array([1.0, 2.0]), np.array([0, 1]))
    with pytest.raises(ShapeError, match=r"\(2, 6\)"):
        env.step_tensors(torch.zeros(2, 5))
    with pytest.raises(ShapeError, match="seeds"):
        env.reset_tensors(np.array([1.0, 2.0]), np.array([0.5, 1.5]))


def test_a_capacity_overflow_on_the_device_path_is_an_error():
    from pdlf.envs.mjwarp_batched import MjWarpBatchedEnv
    from pdlf.envs.vector import KERNEL_ENVS

    env = MjWarpBatchedEnv(KERNEL_ENVS["hopper_vel"], 2, device=DEVICE, capacity=(1, 2))  # a hopper on the floor needs more
    env.reset_tensors(np.array([1.0, 2.0]), np.array([0, 1]))
    for _ in range(30):
        env.step_tensors(torch.zeros(2, 3))
    with pytest.raises(RuntimeError, match="overflowed its capacity"):
        env.check_capacity()


def agent_and_genomes(env, members: int):
    device = "cpu" if env.__class__.__name__ == "KernelBatchedEnv" else DEVICE
    agent = PlasticSNN(env.obs_dim, env.act_dim, AgentConfig(hidden=(16,), device=device), RuleConfig(name="pdlf"))
    genomes = torch.randn(members, agent.layout.size, generator=torch.Generator().manual_seed(0)) * 0.2
    return agent, genomes


@pytest.mark.parametrize("task", ["halfcheetah_vel", "hopper_vel"])
def test_rollout_on_device_matches_the_host_loop(task):
    """Returns, lengths, normaliser statistics and recorded rewards of ``on_device=True`` equal the
    host loop's on the same env (hopper: members end at different steps, between done checks)."""
    env = make_batched(task, 8, backend="mjwarp", device=DEVICE, max_steps=50)
    agent, genomes = agent_and_genomes(env, 2)
    goals, seeds = np.tile(env.spec.train_goals()[:4], 2), np.arange(8)
    norm = ObsNormalizer(env.obs_dim, env.goal_dim)
    n = env.obs_dim - env.goal_dim
    norm.update(ObsStats(10.0, np.linspace(-1, 1, n), np.full(n, 3.0)))
    stats_rows = np.arange(8) >= 2  # rows 0-1 (say, the centre's) do not feed the normaliser
    kwargs = dict(agent_seeds=seeds, norm=norm.freeze(), collect_stats=stats_rows, rows_per_genome=4, record_rewards=True)
    host = rollout(agent, env, genomes, goals, seeds, **kwargs)
    dev = rollout(agent, env, genomes, goals, seeds, on_device=True, **kwargs)
    np.testing.assert_allclose(dev.returns, host.returns, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(dev.lengths, host.lengths)
    assert dev.env_steps == host.env_steps and not dev.diverged.any()
    assert dev.obs_stats.count == host.obs_stats.count > 0
    if task == "halfcheetah_vel":  # never terminates: every step of the 6 counted rows
        assert host.obs_stats.count == stats_rows.sum() * 50
    np.testing.assert_allclose(dev.obs_stats.sum, host.obs_stats.sum, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dev.obs_stats.sumsq, host.obs_stats.sumsq, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(dev.rewards, host.rewards, rtol=1e-5, atol=1e-5)
    if task == "hopper_vel":
        assert len(set(host.lengths.tolist())) > 1 and host.lengths.max() % DEVICE_DONE_CHECK != 0


def test_rollout_on_device_needs_a_resident_env():
    env = make_batched("halfcheetah_vel", 2)  # C MuJoCo: numpy only
    agent, genomes = agent_and_genomes(env, 2)
    with pytest.raises(ValueError, match="device-resident"):
        rollout(agent, env, genomes, np.array([1.0, 2.0]), np.array([0, 1]), on_device=True)


def test_a_diverging_agent_is_caught_on_the_device_path():
    env = make_batched("swimmer_dir", 4, backend="mjwarp", device=DEVICE, max_steps=20)
    agent, genomes = agent_and_genomes(env, 4)
    genomes[2] = float("nan")
    res = rollout(agent, env, genomes, np.zeros(4), np.arange(4), on_device=True)
    assert res.diverged.tolist() == [False, False, True, False]
    assert np.isnan(res.returns[2]) and np.isfinite(res.returns[[0, 1, 3]]).all()
