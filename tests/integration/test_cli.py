"""The `pdlf` command line as a user meets it: real runs, and one clear line per mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pdlf.cli import main

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SMOKE = str(REPO / "configs" / "smoke.yaml")
TINY = ["ray.workers=0", "es.generations=2", "es.popsize=4", "env.episode_steps=10", "agent.hidden=[8]", "log.progress=false"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("pdlf: error: ")
    return err[0]


def test_train_then_refuse_to_overwrite_then_resume(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", SMOKE, *TINY, "--run-dir", str(run), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["generations"] == 2
    metrics = (run / "metrics.csv").read_bytes()
    checkpoint = (run / "checkpoints" / "last.pkl").read_bytes()

    assert main(["train", SMOKE, *TINY, "--run-dir", str(run)]) == 2
    assert "already has results" in _one_error_line(capsys)
    assert (run / "metrics.csv").read_bytes() == metrics
    assert (run / "checkpoints" / "last.pkl").read_bytes() == checkpoint

    assert main(["train", "--resume", str(run), "es.generations=3", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["generations"] == 3
    assert (run / "metrics.csv").read_text().count("\n") == 4  # header + 3 generations

    assert main(["train", "--resume", str(run), "agent.hidden=[4]"]) == 2
    assert "cannot change 'agent.hidden' when resuming" in _one_error_line(capsys)
    # the value the run already has may be repeated (a job script passes its overrides every time)
    assert main(["train", "--resume", str(run), "agent.hidden=[8]", "es.generations=3"]) == 0

    assert main(["train", SMOKE, *TINY, "--run-dir", str(run), "--force"]) == 0


def test_bad_inputs_each_get_one_line_and_exit_2(tmp_path, capsys):
    assert main(["train", SMOKE, "es.popsiz=4", "--run-dir", str(tmp_path / "a")]) == 2
    assert "did you mean 'es.popsize'" in _one_error_line(capsys)
    assert not (tmp_path / "a").exists()

    assert main(["train", str(tmp_path / "missing.yaml")]) == 2
    assert "does not exist" in _one_error_line(capsys)

    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "does not exist" in _one_error_line(capsys)

    (tmp_path / "empty").mkdir()
    assert main(["train", "--resume", str(tmp_path / "empty")]) == 2
    assert "is not a pdlf run" in _one_error_line(capsys)


def test_corrupt_checkpoint_is_reported_and_left_alone(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", SMOKE, *TINY, "--run-dir", str(run)]) == 0
    capsys.readouterr()
    ckpt = run / "checkpoints" / "last.pkl"
    ckpt.write_bytes(ckpt.read_bytes()[:100])
    assert main(["train", "--resume", str(run)]) == 2
    assert "is corrupt" in _one_error_line(capsys)
    assert len(ckpt.read_bytes()) == 100


def test_envs_lists_every_task(capsys):
    assert main(["envs", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    names = {r["name"] for r in rows}
    assert {"ant_dir", "swimmer_dir", "halfcheetah_vel", "hopper_vel", "fetch", "ur5e", "copy"} <= names


def test_the_console_script_runs_a_real_training_on_local_ray(tmp_path):
    """The README's main job, shrunk: the installed `pdlf` script, 2 Ray workers on loopback."""
    exe = Path(sys.executable).with_name("pdlf")
    env = dict(os.environ, RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0")
    out = subprocess.run(
        [str(exe), "train", SMOKE, "es.generations=2", "env.episode_steps=20", "agent.hidden=[8]",
         "log.progress=false", "--run-dir", str(tmp_path / "r"), "--json"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["generations"] == 2 and len(summary["worker_rss_mib"]) == 2


def test_ray_address_and_workers_flags_are_overrides(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", SMOKE, *TINY, "--workers", "0", "--run-dir", str(run)]) == 0
    text = (run / "config.yaml").read_text()
    assert "workers: 0" in text
    capsys.readouterr()
    assert main(["train", SMOKE, *TINY, "--ray-address", "127.0.0.1:1", "--run-dir", str(tmp_path / "b"), "--workers", "0"]) == 0
    assert "address: 127.0.0.1:1" in (tmp_path / "b" / "config.yaml").read_text()


def test_sweep_trains_every_point_ranks_them_and_reuses_runs(tmp_path, capsys):
    root = tmp_path / "sweep"
    argv = ["sweep", SMOKE, *TINY, "rule.name=pdlf,none", "--seeds", "0", "1", "--root", str(root), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["grid"]["rule.name"] == ["pdlf", "none"] and len(out["points"]) == 2
    assert all(p["final_center"]["n"] == 2 and p["env_steps"] > 0 for p in out["points"])
    for rule in ("pdlf", "none"):
        for seed in (0, 1):
            assert (root / f"rule.name={rule}" / f"s{seed}" / "metrics.csv").is_file()
    assert "| rule.name |" in (root / "sweep.md").read_text()
    metrics = root / "rule.name=pdlf" / "s0" / "metrics.csv"
    mtime = metrics.stat().st_mtime
    assert main(argv) == 0 and metrics.stat().st_mtime == mtime  # finished runs are reused
    capsys.readouterr()
    changed = [a if a != "es.popsize=4" else "es.popsize=6" for a in argv]  # a fixed override changed
    assert main(changed) == 2 and "holds a run of another config" in _one_error_line(capsys)
    assert metrics.stat().st_mtime == mtime  # nothing replaced without --force
    assert main(["sweep", SMOKE, "es.popsiz=4,8", "--root", str(tmp_path / "bad")]) == 2
    assert "did you mean 'es.popsize'" in _one_error_line(capsys)
    assert not (tmp_path / "bad").exists()  # every point is checked before anything is written


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("workers", [0, 1])
def test_an_agent_device_the_workers_lack_is_one_line_and_the_run_dir_stays_reusable(tmp_path, capsys, workers):
    """``agent.device=cuda`` where torch sees no GPU: in-process, or refused by every Ray worker at
    its start (`RolloutWorker.bad_input`), it is the same one line; the corrected command then runs
    into the same directory without --force."""
    run = str(tmp_path / "run")
    argv = ["train", SMOKE, *TINY, f"ray.workers={workers}", "--run-dir", run]
    assert main([*argv, "agent.device=cuda"]) == 2
    assert _one_error_line(capsys).startswith("pdlf: error: agent.device='cuda': this torch")
    assert sorted(os.listdir(run)) == ["config.yaml"]
    assert main(argv) == 0
