"""Clean interrupts: Ctrl-C / SIGTERM checkpoint, shut down and resume to the same numbers."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pdlf.config import config_from_dict
from pdlf.es.trainer import CHECKPOINT, Trainer

pytestmark = pytest.mark.integration

TINY = {
    "env": {"name": "halfcheetah_vel", "episode_steps": 25, "goals": [1.5, 3.0]},
    "agent": {"hidden": [8]},
    "es": {"popsize": 4, "generations": 6, "seed": 3},
    "log": {"progress": False, "tensorboard": False},
    "checkpoint": {"every": 0},
}


def _metrics(run_dir: Path) -> list[dict]:
    """metrics.csv rows without the timing columns (those differ between any two runs)."""
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if not k.startswith("perf/")} for row in csv.DictReader(fh)]


def _reference(tmp_path: Path, workers: int, generations: int = 6) -> list[dict]:
    cfg = config_from_dict(TINY, [f"ray.workers={workers}", f"es.generations={generations}"])
    Trainer.create(cfg, tmp_path / "reference").run()
    return _metrics(tmp_path / "reference")


def _train_until_rows(run_dir: Path, overrides: list[str], rows: int) -> subprocess.Popen:
    """Start `pdlf train` in a subprocess; return once metrics.csv has ``rows`` generations."""
    import yaml

    config = run_dir.parent / "tiny.yaml"
    config.write_text(yaml.safe_dump(TINY))
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "pdlf.cli", "train", str(config), "--run-dir", str(run_dir), *overrides],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        metrics = run_dir / "metrics.csv"
        if metrics.is_file() and len(metrics.read_text().splitlines()) > rows:
            return proc
        if proc.poll() is not None:
            raise AssertionError(f"pdlf train ended early: {proc.communicate()}")
        time.sleep(0.05)
    proc.kill()
    raise AssertionError("pdlf train wrote no metrics within 120 s")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("sig, workers", [(signal.SIGINT, 0), (signal.SIGTERM, 2)])
def test_signal_checkpoints_prints_resume_and_resumes_bit_identically(tmp_path, sig, workers):
    run_dir = tmp_path / "run"
    proc = _train_until_rows(run_dir, [f"ray.workers={workers}", "es.generations=400"], rows=2)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert f"pdlf train --resume {run_dir}" in err
    stopped = _metrics(run_dir)
    assert 2 <= len(stopped) < 400  # stopped early, after a finished generation
    assert (run_dir / CHECKPOINT).is_file()
    # continue to n generations: the metrics equal an uninterrupted run's
    n = max(6, len(stopped) + 2)
    Trainer.resume(run_dir, [f"es.generations={n}"]).run()
    assert len(_metrics(run_dir)) == n
    assert _metrics(run_dir) == _reference(tmp_path, workers, n)


@pytest.mark.timeout(180)
@pytest.mark.parametrize("workers", [0, 2])
def test_second_signal_abandons_the_generation_and_keeps_the_finished_state(tmp_path, monkeypatch, workers):
    import ray

    cfg = config_from_dict(TINY, [f"ray.workers={workers}"])
    trainer = Trainer.create(cfg, tmp_path / "run")
    real_step = Trainer.step

    def step_with_two_signals(self):
        if self.generation == 3:
            os.kill(os.getpid(), signal.SIGINT)  # first: finish the generation...
            os.kill(os.getpid(), signal.SIGINT)  # ...second: abandon it (KeyboardInterrupt here)
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step_with_two_signals)
    summary = trainer.run()
    assert summary["interrupted"] == "SIGINT" and summary["generations"] == 3
    assert summary["resume"] == f"pdlf train --resume {tmp_path / 'run'}"
    assert len(_metrics(tmp_path / "run")) == 3
    assert not ray.is_initialized()  # the Ray the run started is shut down (workers > 0)
    monkeypatch.setattr(Trainer, "step", real_step)
    Trainer.resume(tmp_path / "run").run()
    assert _metrics(tmp_path / "run") == _reference(tmp_path, workers)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


def test_cluster_lost_after_a_stop_request_keeps_every_finished_generation(tmp_path, monkeypatch):
    """A job-wide SIGTERM (SLURM) also stops Ray: the generation then running fails with a
    ClusterError; the run saves the state after the last finished generation, not the last
    periodic checkpoint, and resumes to the numbers of an uninterrupted run."""
    from pdlf.errors import ClusterError

    cfg = config_from_dict(TINY, ["ray.workers=0"])  # checkpoint.every 0: only the final one
    trainer = Trainer.create(cfg, tmp_path / "run")
    real_step = Trainer.step

    def step_losing_the_cluster(self):
        if self.generation == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # the stop request...
            raise ClusterError("no worker left to re-run slice 0 of generation 3")  # ...and Ray gone with it
        return real_step(self)

    monkeypatch.setattr(Trainer, "step", step_losing_the_cluster)
    summary = trainer.run()
    assert summary["interrupted"] == "SIGTERM" and summary["generations"] == 3
    monkeypatch.setattr(Trainer, "step", real_step)
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.generation == 3
    resumed.run()
    assert _metrics(tmp_path / "run") == _reference(tmp_path, 0)


def test_cluster_lost_without_a_stop_request_is_an_error(tmp_path, monkeypatch):
    from pdlf.errors import ClusterError

    trainer = Trainer.create(config_from_dict(TINY, ["ray.workers=0"]), tmp_path / "run")

    def step_losing_the_cluster(self):
        raise ClusterError("no worker left")

    monkeypatch.setattr(Trainer, "step", step_losing_the_cluster)
    with pytest.raises(ClusterError):
        trainer.run()
