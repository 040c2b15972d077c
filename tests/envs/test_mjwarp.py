"""The MuJoCo Warp backend (``env.backend: mjwarp``) on Warp's CPU device, against C MuJoCo.

Parity (``BACKENDS.md``): from the same float32 state and the same actions, C MuJoCo and MuJoCo
Warp keep qpos within 1e-4 for 100 env steps (400-500 physics steps) on swimmer, hopper and
half-cheetah, at action amplitudes under which C MuJoCo itself is not chaotic (half-cheetah at
full random torque flips, and a 1e-7 nudge of C MuJoCo's own state then grows to O(1) within 100
env steps: no engine could match it). Ant: under the default pyramidal cone the engines pick
different contact frames, so only reward statistics are compared; under ``friction_cone:
elliptic`` in both, accelerations agree to ~1e-4, which keeps qpos within 3e-5 over the first 12
env steps (60 physics steps, BACKENDS.md's window) at full random torque, and within 1e-3 over
100 env steps of a standing ant (4e-4 measured).

Warp compiles its kernels once per machine (~20 s on the CPU) into ``~/.cache/pdlf-warp``
(or ``$WARP_CACHE_PATH``); with the cache warm this file runs in well under a minute.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import mujoco
import numpy as np
import pytest
import yaml

from pdlf.config import config_from_dict
from pdlf.envs import get_task, make_batched
from pdlf.envs.locomotion import set_friction_cone
from pdlf.envs.vector import KERNEL_ENVS, KernelBatchedEnv
from pdlf.errors import ConfigError, ShapeError, UnknownNameError

from batched_checks import step_all

HAVE_MJWARP = importlib.util.find_spec("mujoco_warp") is not None and importlib.util.find_spec("warp") is not None
needs_mjwarp = pytest.mark.skipif(
    not HAVE_MJWARP, reason="MuJoCo Warp is not installed (pip install -e '.[gpu]')"
)
ROOT = Path(__file__).resolve().parents[2]

# task -> (friction cone, action amplitude) of the 100-step qpos parity test
PARITY = {
    "swimmer_dir": ("pyramidal", 1.0),
    "hopper_vel": ("pyramidal", 1.0),  # members fall within ~20-60 steps: compared while alive
    "halfcheetah_vel": ("pyramidal", 0.3),
}


# Warp device of the parity tests: the CPU in CI; PDLF_TEST_MJWARP_DEVICE=cuda runs them on a GPU
DEVICE = os.environ.get("PDLF_TEST_MJWARP_DEVICE", "cpu")


def warp_env(task: str, batch: int, **kwargs):
    return make_batched(task, batch, backend="mjwarp", device=DEVICE, **kwargs)


def c_trajectories(task: str, cone: str, qpos0: np.ndarray, qvel0: np.ndarray, actions: np.ndarray) -> np.ndarray:
    """qpos ``[T, B, nq]`` of C MuJoCo started from ``qpos0 [B, nq]``, ``qvel0 [B, nv]`` and driven
    by ``actions [T, B, nu]`` (``mj_step`` x frame_skip per env step, as `KernelBatchedEnv`)."""
    env = KERNEL_ENVS[task]()
    model = env.model
    set_friction_cone(model, cone)
    datas = []
    for q, v in zip(qpos0, qvel0):
        d = mujoco.MjData(model)
        d.qpos[:], d.qvel[:] = q, v
        mujoco.mj_forward(model, d)
        datas.append(d)
    out = np.zeros((len(actions), len(datas), model.nq))
    for t, a in enumerate(actions):
        for b, d in enumerate(datas):
            d.ctrl[:] = a[b]
            mujoco.mj_step(model, d, env.frame_skip)
            out[t, b] = d.qpos
    return out


def warp_trajectories(env, goals, seeds, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(qpos0 [B, nq], qvel0 [B, nv], qpos [T, B, nq], alive [T, B])`` of a MuJoCo Warp env:
    its initial state, then its state after each step and whether the member was alive then."""
    env.reset(goals, seeds)
    qpos0 = env.state.qpos.cpu().numpy().astype(np.float64)
    qvel0 = env.state.qvel.cpu().numpy().astype(np.float64)
    qpos, alive = [], []
    for a in actions:
        alive.append(~env.done)
        env.step(a)
        qpos.append(env.state.qpos.cpu().numpy().astype(np.float64))
    return qpos0, qvel0, np.array(qpos), np.array(alive)


def max_qpos_gap(task: str, cone: str, actions: np.ndarray, batch: int = 3) -> tuple[float, int]:
    """Largest |qpos difference| between the backends over the members' live steps, and how many
    member-steps were compared."""
    spec = get_task(task)
    goals, seeds = spec.train_goals()[:batch], np.arange(batch) + 10
    qpos0, qvel0, qw, alive = warp_trajectories(warp_env(task, batch, friction_cone=cone), goals, seeds, actions)
    qc = c_trajectories(task, cone, qpos0, qvel0, actions)
    gap = np.abs(qw - qc).max(axis=2)  # [T, B]
    return float(gap[alive].max()), int(alive.sum())


# ----------------------------------------------------------------------------------- parity
@needs_mjwarp
@pytest.mark.parametrize("task", sorted(PARITY))
def test_qpos_matches_c_mujoco_for_100_steps(task):
    cone, amp = PARITY[task]
    spec = get_task(task)
    actions = np.random.default_rng(0).uniform(-amp, amp, (100, 3, spec.act_dim))
    gap, compared = max_qpos_gap(task, cone, actions)
    assert compared >= 60  # hopper: enough live steps to mean something
    assert gap < 1e-4, f"{task}: qpos differs by {gap:.2e} from C MuJoCo"


@needs_mjwarp
def test_ant_matches_c_mujoco_under_the_elliptic_cone():
    spec = get_task("ant_dir")
    moving = np.random.default_rng(0).uniform(-1.0, 1.0, (12, 3, spec.act_dim))
    gap, _ = max_qpos_gap("ant_dir", "elliptic", moving)
    assert gap < 3e-5, f"ant, elliptic, 12 steps at full torque: qpos differs by {gap:.2e}"
    standing = np.zeros((100, 3, spec.act_dim))
    gap, compared = max_qpos_gap("ant_dir", "elliptic", standing)
    assert compared == 300 and gap < 1e-3, f"ant, elliptic, 100 steps standing: qpos differs by {gap:.2e}"


@needs_mjwarp
@pytest.mark.parametrize("task", ["swimmer_dir", "hopper_vel", "halfcheetah_vel", "ant_dir"])
def test_observations_rewards_and_dones_match_the_c_backend(task):
    """Same seeds and actions through both backends' `BatchedEnv`s: the same episodes (the initial
    states differ only by float32 rounding), compared while the C members are alive."""
    spec = get_task(task)
    cone, amp, steps = ("elliptic", 1.0, 12) if task == "ant_dir" else (*PARITY[task], 100)
    B = 3
    goals, seeds = spec.unseen_goals()[[2, 5, 9]], np.array([4, 17, 23])
    actions = np.random.default_rng(7).uniform(-amp, amp, (steps, B, spec.act_dim))
    ow, rw, dw = step_all(warp_env(task, B, friction_cone=cone), seeds, actions, goals)
    oc, rc, dc = step_all(make_batched(task, B, friction_cone=cone), seeds, actions, goals)
    assert ow.dtype == np.float64 and rw.dtype == np.float64 and dw.dtype == bool
    np.testing.assert_allclose(ow[0], oc[0], atol=1e-6)  # float32 rounding of the initial state
    np.testing.assert_array_equal(dw, dc)
    alive = ~np.concatenate([np.zeros((1, B), dtype=bool), dc[:-1]])  # [T, B] stepped this step
    np.testing.assert_allclose(rw[alive], rc[alive], atol=1e-3)
    np.testing.assert_allclose(ow[1:][alive], oc[1:][alive], atol=1e-3)
    np.testing.assert_array_equal(ow[:, :, -1], oc[:, :, -1])  # the goal column, raw


@needs_mjwarp
def test_a_goal_switch_reaches_the_reward_as_in_the_c_backend():
    """`set_goals` mid-episode (goal switching, `pdlf.perturb.GoalSwitch`): both backends follow it."""
    B, steps = 2, 20
    actions = np.random.default_rng(3).uniform(-0.3, 0.3, (steps, B, 6))
    rewards = []
    for env in (warp_env("halfcheetah_vel", B), make_batched("halfcheetah_vel", B)):
        env.reset(np.array([2.0, 5.0]), np.array([1, 2]))
        out = []
        for t in range(steps):
            if t == 10:
                env.set_goals(np.array([8.0, 1.0]))
            obs, reward, _ = env.step(actions[t])
            out.append(reward)
        assert obs[:, -1].tolist() == [8.0, 1.0]
        rewards.append(np.asarray(out))
    np.testing.assert_allclose(rewards[0], rewards[1], atol=1e-3)
    assert np.abs(rewards[1][10:] - rewards[1][:10].mean()).max() > 1.0  # the switch changed the reward


@needs_mjwarp
def test_ant_statistics_agree_under_the_default_cone():
    """Pyramidal cone: trajectories part between the engines (BACKENDS.md), statistics do not.

    32 ants, 100 steps of random torque at half range, live steps only. Measured gaps: reward per
    step 0.018, torso height 5e-4 m, qvel spread 0.2 %; integrating 4 substeps instead of 5 moves
    the height by 6e-3 and the qvel spread by 3 %, 5 % more gravity the reward by 0.048.
    """
    spec = get_task("ant_dir")
    B, T = 32, 100
    goals, seeds = spec.train_goals()[np.arange(B) % 8], np.arange(B) + 100
    actions = np.random.default_rng(1).uniform(-0.5, 0.5, (T, B, spec.act_dim))
    stats = {}
    for backend in ("mujoco", "mjwarp"):
        obs, rewards, dones = step_all(make_batched("ant_dir", B, backend=backend), seeds, actions, goals)
        alive = ~np.concatenate([np.zeros((1, B), dtype=bool), dones[:-1]])
        live_obs = obs[1:][alive]
        # reward per live step, torso height (m), spread of qvel
        stats[backend] = (rewards[alive].mean(), live_obs[:, 0].mean(), live_obs[:, 13:27].std())
    (rc, zc, vc), (rw, zw, vw) = stats["mujoco"], stats["mjwarp"]
    assert abs(rw - rc) < 0.04 and abs(zw - zc) < 2e-3 and abs(vw / vc - 1) < 0.015, stats


# --------------------------------------------------------------------------------- contract
@needs_mjwarp
def test_captured_graph_equals_eager_stepping():
    spec = get_task("halfcheetah_vel")
    goals, seeds = np.array([1.5, 8.0]), np.array([3, 4])
    actions = np.random.default_rng(0).uniform(-1, 1, (20, 2, spec.act_dim))
    captured = step_all(warp_env("halfcheetah_vel", 2), seeds, actions, goals)
    from pdlf.envs.mjwarp_batched import MjWarpBatchedEnv

    eager = step_all(MjWarpBatchedEnv(KERNEL_ENVS["halfcheetah_vel"], 2, capture=False), seeds, actions, goals)
    for a, b in zip(captured, eager):
        np.testing.assert_array_equal(a, b)


@needs_mjwarp
def test_done_members_freeze_and_their_worlds_are_reset():
    env = warp_env("hopper_vel", 3)
    obs = env.reset(np.array([0.5, 1.0, 1.5]), np.array([0, 1, 2]))
    actions = np.zeros((3, 3))
    actions[1] = 1.0  # full torque topples member 1, as on the C path
    t_end = frozen = None
    for t in range(100):
        obs, reward, done = env.step(actions)
        if t_end is None and done[1]:
            t_end, frozen = t, obs[1].copy()
            assert reward[1] != 0
            np.testing.assert_allclose(env.state.qpos[1].numpy()[1:], obs[1][:5], atol=1e-6)  # terminal state
        elif t_end is not None:
            assert reward[1] == 0 and done[1]
            np.testing.assert_array_equal(obs[1], frozen)
            assert not done[[0, 2]].any()
            if t == t_end + 1:  # its world went back to the initial state, with no control
                assert (env.state.ctrl[1].numpy() == 0).all()
                assert np.abs(env.state.qpos[1].numpy() - env._template.init_qpos).max() < 0.05
    assert t_end is not None and t_end < 90


@needs_mjwarp
def test_reset_is_deterministic_and_max_steps_ends_every_member():
    env = warp_env("swimmer_dir", 2, max_steps=3)
    goals, seeds = np.array([0.0, 1.0]), np.array([5, 6])
    first = env.reset(goals, seeds)
    rewards = [env.step(np.ones((2, 2)))[1] for _ in range(3)]
    assert env.all_done and all((r != 0).all() for r in rewards)
    obs, reward, done = env.step(np.ones((2, 2)))
    assert (reward == 0).all() and done.all()
    np.testing.assert_array_equal(env.reset(goals, seeds), first)
    assert not env.done.any() and env.steps == 0
    with pytest.raises(ShapeError):
        env.step(np.zeros((2, 3)))


@needs_mjwarp
def test_state_tensors_share_memory_with_the_simulator():
    env = warp_env("halfcheetah_vel", 2)
    env.reset(np.array([1.0, 2.0]), np.array([0, 1]))
    before = env.state.qpos.clone()
    env.step(np.ones((2, 6)))
    assert not np.array_equal(before.numpy(), env.state.qpos.numpy())  # same tensor, new values
    assert env.state.qpos.data_ptr() == env._d.qpos.ptr


# ------------------------------------------------------------------------------ config and CLI
@pytest.mark.parametrize(
    "override, pattern",
    [
        ("env.backend=mjwrap", r"env.backend='mjwrap': did you mean 'mjwarp'"),
        ("env.backend=jax", r"env.backend='jax': choose one of: mjwarp, mujoco"),
        ("env.device=gpu", r"env.device='gpu': give cpu, cuda or cuda:N"),
        ("env.device=cuda:x", r"env.device='cuda:x': give cpu, cuda or cuda:N"),
        ("env.device=cuda", r"env.device='cuda' with env.backend=mujoco: C MuJoCo runs on the cpu only"),
        ("env.friction_cone=eliptic", r"env.friction_cone='eliptic': did you mean 'elliptic'"),
    ],
)
def test_each_physics_mistake_gets_one_clear_error(override, pattern):
    with pytest.raises(ConfigError, match=pattern) as err:
        config_from_dict({}, [override])
    assert "\n" not in str(err.value)


def test_mjwarp_without_the_extra_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mujoco_warp" else real(name, *a))
    with pytest.raises(ConfigError, match=r"mujoco_warp not installed\): pip install -e '\.\[gpu\]'"):
        config_from_dict({}, ["env.backend=mjwarp"])


@needs_mjwarp
def test_mjwarp_rejects_tasks_it_does_not_simulate():
    with pytest.raises(ConfigError, match="task 'copy' runs on env.backend=mujoco only"):
        config_from_dict({"env": {"name": "copy"}}, ["env.backend=mjwarp"])
    with pytest.raises(UnknownNameError, match="did you mean 'hopper_vel'"):
        config_from_dict({"env": {"name": "hoper_vel"}}, ["env.backend=mjwarp"])
    with pytest.raises(ConfigError, match="runs on env.backend=mujoco only"):
        make_batched("copy", 2, backend="mjwarp")


@needs_mjwarp
def test_cuda_device_without_a_gpu_is_one_clear_error():
    import warp as wp

    from pdlf.envs.mjwarp_batched import load_warp

    load_warp()
    if wp.is_cuda_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ConfigError, match=r"env.device='cuda:0': Warp finds no CUDA device"):
        make_batched("hopper_vel", 2, backend="mjwarp", device="cuda:0")


def test_friction_cone_is_set_on_the_c_model_and_changes_contacts():
    spec = get_task("ant_dir")
    elliptic = make_batched("ant_dir", 2, friction_cone="elliptic")
    pyramidal = make_batched("ant_dir", 2)
    assert isinstance(elliptic, KernelBatchedEnv)
    assert elliptic._model.opt.cone == mujoco.mjtCone.mjCONE_ELLIPTIC
    assert pyramidal._model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL
    actions = np.random.default_rng(0).uniform(-1, 1, (30, 2, spec.act_dim))
    a = step_all(elliptic, np.array([1, 2]), actions)[0]
    b = step_all(pyramidal, np.array([1, 2]), actions)[0]
    assert np.abs(a - b).max() > 1e-3
    with pytest.raises(ConfigError, match="task 'copy' has no MuJoCo model"):
        make_batched("copy", 2, friction_cone="elliptic")


@needs_mjwarp
@pytest.mark.integration
def test_pdlf_train_runs_through_mjwarp(tmp_path, capsys, monkeypatch):
    from pdlf.cli import main
    from pdlf.envs.mjwarp_batched import MjWarpBatchedEnv

    made = []  # the worker's envs really are MuJoCo Warp envs
    real_init = MjWarpBatchedEnv.__init__
    monkeypatch.setattr(MjWarpBatchedEnv, "__init__", lambda self, *a, **k: made.append(k) or real_init(self, *a, **k))
    run = tmp_path / "run"
    code = main(["train", str(ROOT / "configs/halfcheetah_vel.yaml"), "env.backend=mjwarp", "env.device=cpu",
                 "env.friction_cone=elliptic", "es.popsize=4", "es.generations=2", "ray.workers=0",
                 "env.episode_steps=20", "agent.hidden=[16]", "log.progress=false", "log.tensorboard=false",
                 "--run-dir", str(run), "--json"])
    assert code == 0
    summary = yaml.safe_load(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["generations"] == 2 and summary["env_steps"] == 2 * (4 + 1) * 8 * 20
    assert made and all(k["device"] == "cpu" and k["friction_cone"] == "elliptic" for k in made)
    env = yaml.safe_load((run / "config.yaml").read_text())["env"]  # the run records its physics
    assert (env["backend"], env["device"], env["friction_cone"]) == ("mjwarp", "cpu", "elliptic")


# ------------------------------------------------------------------------------- benchmarks
@needs_mjwarp
def test_bench_envs_reports_mjwarp_and_the_c_reference(capsys, restore_affinity):
    from pdlf.cli import main

    args = ["bench", "envs", "--env", "swimmer_dir", "--backend", "mjwarp", "--device", "cpu", "--batch", "2",
            "--steps", "20", "--repeats", "1"]
    assert main([*args, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["backend"], report["device"], report["path"]) == ("mjwarp", "cpu", "mjwarp")
    for key in ("batched_steps_per_s", "mujoco_batched_steps_per_s", "raw_physics_steps_per_s",
                "agent_steps_per_s", "mjwarp_setup_s"):
        assert report[key] > 0, key
    ratio = report["batched_steps_per_s"] / report["mujoco_batched_steps_per_s"]
    assert report["ratio_to_mujoco_batched"] == pytest.approx(ratio, abs=1e-3)
    assert report["member_steps"] == 40 and report["mujoco_warp"] and report["warp_lang"]
    assert main(args) == 0
    assert "batched / C MuJoCo batched" in capsys.readouterr().out
    assert main([*args[:4], "--backend", "mjwarp", "--device", "tpu"]) == 2
    assert "env.device='tpu'" in capsys.readouterr().err


@needs_mjwarp
@pytest.mark.integration
def test_bench_train_reports_mjwarp_and_the_c_reference(capsys):
    from pdlf.cli import main

    assert main(["bench", "train", "--backend", "mjwarp", "--device", "cpu", "--workers", "1", "--popsize", "2",
                 "--generations", "2", "--episode-steps", "10", "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert (report["backend"], report["device"], report["agent_device"]) == ("mjwarp", "cpu", "cpu")
    for key in ("pipeline_steps_per_s", "mujoco_pipeline_steps_per_s", "raw_physics_steps_per_s", "agent_steps_per_s"):
        assert report[key] > 0, key
    ratio = report["pipeline_steps_per_s"] / report["mujoco_pipeline_steps_per_s"]
    assert report["ratio_to_mujoco_pipeline"] == pytest.approx(ratio, rel=1e-2)
    assert report["pipeline_env_steps_timed"]["1"] == (2 + 1) * 8 * 10 and report["agent_batch"] == 24


@needs_mjwarp
@pytest.mark.integration
def test_a_ray_worker_trains_on_mjwarp_with_the_numbers_of_the_driver(tmp_path, capsys):
    """The device-resident rollouts run inside a Ray worker (how `ray.gpus_per_worker` workers run
    them on a GPU) and give the in-process run's fitness to float32 rounding."""
    import csv

    from pdlf.cli import main

    def train(workers: int) -> list[dict]:
        run = tmp_path / f"w{workers}"
        code = main(["train", str(ROOT / "configs/halfcheetah_vel.yaml"), "env.backend=mjwarp", "env.device=cpu",
                     "es.popsize=4", "es.generations=2", f"ray.workers={workers}", "ray.cpus_per_worker=1",
                     "env.episode_steps=15", "agent.hidden=[16]", "log.progress=false", "log.tensorboard=false",
                     "--run-dir", str(run), "--json"])
        assert code == 0
        capsys.readouterr()
        with open(run / "metrics.csv") as f:
            return list(csv.DictReader(f))

    local, remote = train(0), train(1)
    assert len(local) == len(remote) == 2
    keys = ["fitness/center", "fitness/mean", "fitness/best", *(f"goal/{g}" for g in range(8))]
    for a, b in zip(local, remote):
        assert a["env_steps"] == b["env_steps"]
        for key in keys:
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-6), key
    assert b["health/workers_alive"] == "1"


@needs_mjwarp
@pytest.mark.integration
def test_a_worker_without_the_env_device_fails_in_one_line_and_the_run_dir_stays_reusable(tmp_path, capsys):
    """``env.device=cuda`` where the Ray worker has no GPU: the worker's `ConfigError` reaches the
    user as its own line (not Ray's traceback), and the run directory keeps only ``config.yaml``,
    so the corrected command runs into it without ``--force``."""
    import warp as wp

    from pdlf.cli import main
    from pdlf.envs.mjwarp_batched import load_warp

    load_warp()
    if wp.is_cuda_available():
        pytest.skip("this machine has a CUDA device")
    run = tmp_path / "run"
    argv = ["train", str(ROOT / "configs/halfcheetah_vel.yaml"), "env.backend=mjwarp", "es.popsize=2",
            "es.generations=1", "ray.workers=1", "env.episode_steps=5", "agent.hidden=[8]", "log.progress=false",
            "--run-dir", str(run)]
    assert main([*argv, "env.device=cuda"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("pdlf: error: env.device='cuda': Warp finds no CUDA device here; use env.device=cpu"
                   " (evaluating a run: --device cpu)")
    assert sorted(p.name for p in run.iterdir()) == ["config.yaml"]
    assert main([*argv, "env.device=cpu"]) == 0
    assert (run / "tb").is_dir() and (run / "metrics.csv").is_file()
