"""fetch and ur5e on MuJoCo Warp (`pdlf.envs.mjwarp_reaching`), on Warp's CPU device, against the
C MuJoCo gymnasium envs (``make_batched(task, B)``: `GymBatchedEnv`).

ur5e has no contacts: from the same seeds and actions its qpos stays within 1e-4 of C MuJoCo's
for 100 steps at full random torque (1.0e-5 measured). The dog of fetch stands on the floor: under the default pyramidal cone the
engines choose different contact frames (as for ant_dir, BACKENDS.md), so single trajectories are
compared under ``friction_cone=elliptic``, over 20 steps (6e-5 measured). Targets: with a hit
radius of 100 m every step is a hit, so each member walks through its whole pre-drawn sequence,
which must be the C path's draws.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from pdlf.envs import make_batched
from pdlf.errors import ConfigError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("mujoco_warp") is None or importlib.util.find_spec("warp") is None,
    reason="MuJoCo Warp is not installed (pip install -e '.[gpu]')",
)
DEVICE = os.environ.get("PDLF_TEST_MJWARP_DEVICE", "cpu")  # cuda: run them on a GPU
ROOT = Path(__file__).resolve().parents[2]


def run_both(task: str, steps: int, amp: float, cone: str = "pyramidal", hit_radius: float | None = None, B: int = 3):
    """Step the MuJoCo Warp env and the C env with the same goals, seeds and random actions;
    return both envs and the per-step ``(obs, reward)`` of each, stacked ``[T + 1, B, D]`` / ``[T, B]``."""
    warp = make_batched(task, B, backend="mjwarp", device=DEVICE, max_steps=steps, friction_cone=cone)
    c = make_batched(task, B, max_steps=steps, friction_cone=cone)
    if hit_radius is not None:
        warp._hit_radius = hit_radius
        for env in c._envs:
            env.hit_radius = hit_radius
    goals, seeds = c.spec.unseen_goals()[[1, 4, 9]][:B], np.arange(B) + 5
    obs = [[warp.reset(goals, seeds)], [c.reset(goals, seeds)]]
    rew = [[], []]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        a = rng.uniform(-amp, amp, (B, c.act_dim))
        for k, env in enumerate((warp, c)):
            o, r, _ = env.step(a)
            obs[k].append(o), rew[k].append(r)
    return warp, c, [np.stack(o) for o in obs], [np.stack(r) for r in rew]


def test_ur5e_matches_c_mujoco_for_100_steps():
    """At full random torque (measured: qpos 1.0e-5, joint velocities 2.1e-4, the rest 1.3e-4)."""
    warp, c, (ow, oc), (rw, rc) = run_both("ur5e", 100, 1.0)
    assert warp.all_done and c.all_done
    np.testing.assert_allclose(ow[:, :, -12:-6], oc[:, :, -12:-6], atol=1e-4)  # qpos: the joint angles
    np.testing.assert_allclose(ow, oc, atol=1e-3)
    np.testing.assert_allclose(rw, rc, atol=1e-5)


def test_fetch_matches_c_mujoco_under_the_elliptic_cone():
    _, _, (ow, oc), (rw, rc) = run_both("fetch", 20, 0.5, cone="elliptic")
    np.testing.assert_allclose(ow[0], oc[0], atol=1e-6)  # float32 rounding of the initial state
    np.testing.assert_allclose(ow, oc, atol=1e-3)
    np.testing.assert_allclose(rw, rc, atol=1e-5)


@pytest.mark.parametrize("task, cone", [("ur5e", "pyramidal"), ("fetch", "elliptic")])
def test_hits_draw_the_c_paths_targets(task, cone):
    warp, c, (ow, oc), (rw, rc) = run_both(task, 30, 0.5, cone=cone, hit_radius=100.0)
    assert warp.hits.tolist() == [env.hits for env in c._envs] == [30, 30, 30]
    np.testing.assert_allclose(warp.targets.cpu().numpy(), np.stack([env.target for env in c._envs]), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ow, oc, atol=1e-3)  # distance and direction to each new target
    np.testing.assert_allclose(rw, rc, atol=1e-4)  # the hit bonus every step


def test_the_device_path_equals_the_numpy_path():
    env = make_batched("fetch", 4, backend="mjwarp", device=DEVICE, max_steps=25)
    goals, seeds = env.spec.train_goals()[:4], np.arange(4)
    actions = np.random.default_rng(2).uniform(-1, 1, (25, 4, env.act_dim)).astype(np.float32)
    host = [env.reset(goals, seeds)] + [env.step(a.astype(np.float64))[0] for a in actions]
    dev = [env.reset_tensors(goals, seeds)] + [env.step_tensors(torch.from_numpy(a))[0] for a in actions]
    np.testing.assert_array_equal(np.stack(host), np.stack([d.cpu().numpy() for d in dev]).astype(np.float64))
    with pytest.raises(ConfigError, match="cannot switch its goal"):
        env.set_goals(goals)


def test_a_plastic_population_rolls_out_on_the_device():
    env = make_batched("ur5e", 6, backend="mjwarp", device=DEVICE, max_steps=30)
    agent = PlasticSNN(env.obs_dim, env.act_dim, AgentConfig(hidden=(16,), device=DEVICE), RuleConfig(name="pdlf"))
    genomes = torch.randn(2, agent.layout.size, generator=torch.Generator().manual_seed(0)) * 0.2
    goals, seeds = np.tile(env.spec.train_goals()[:3], 2), np.arange(6)
    kwargs = dict(agent_seeds=seeds, collect_stats=True, rows_per_genome=3)
    host = rollout(agent, env, genomes, goals, seeds, **kwargs)
    dev = rollout(agent, env, genomes, goals, seeds, on_device=True, **kwargs)
    np.testing.assert_allclose(dev.returns, host.returns, rtol=1e-5, atol=1e-5)
    assert dev.env_steps == host.env_steps == 6 * 30 and dev.obs_stats.count == host.obs_stats.count == 180
    np.testing.assert_allclose(dev.obs_stats.sum, host.obs_stats.sum, rtol=1e-6, atol=1e-6)


@pytest.mark.integration
def test_pdlf_train_runs_fetch_on_mjwarp(tmp_path, capsys):
    import yaml

    from pdlf.cli import main

    code = main(["train", str(ROOT / "configs/fetch.yaml"), "env.backend=mjwarp", f"env.device={DEVICE}",
                 "es.popsize=4", "es.generations=2", "ray.workers=0", "env.episode_steps=10", "agent.hidden=[16]",
                 "log.progress=false", "log.tensorboard=false", "--run-dir", str(tmp_path / "run"), "--json"])
    assert code == 0
    summary = yaml.safe_load(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["generations"] == 2 and summary["env_steps"] > 0
    assert yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["env"]["backend"] == "mjwarp"
