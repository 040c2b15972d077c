"""The training pipeline end to end: real Ray, real MuJoCo, real evotorch, tiny budgets."""

from __future__ import annotations

import csv
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pdlf.config import config_from_dict
from pdlf.es.evaluator import Evaluator
from pdlf.es.trainer import CHECKPOINT, Trainer
from pdlf.loggers import TIMING_KEYS

pytestmark = pytest.mark.integration

TINY = {
    "env": {"name": "halfcheetah_vel", "episode_steps": 30},
    "agent": {"hidden": [16]},
    "es": {"popsize": 8, "generations": 4, "seed": 3},
    "ray": {"workers": 0},
    "log": {"progress": False},
    "checkpoint": {"every": 2},
}


def tiny(*overrides: str):
    return config_from_dict(TINY, overrides)


def read_metrics(run_dir: Path) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in csv.DictReader(fh)]


def test_two_local_workers_write_checkpoint_tensorboard_and_metrics(local_ray, tmp_path):
    cfg = tiny("ray.workers=2", "es.generations=3")
    summary = Trainer.create(cfg, tmp_path / "run").run()
    run = tmp_path / "run"
    assert (run / CHECKPOINT).is_file() and (run / "config.yaml").is_file()
    assert (run / "best.pt").is_file() and (run / "center.pt").is_file()
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tb").iterdir())
    rows = read_metrics(run)
    assert [int(r["generation"]) for r in rows] == [0, 1, 2]
    assert all(np.isfinite(float(r["fitness/center"])) for r in rows)
    assert {f"goal/{k}" for k in range(8)} <= set(rows[0])
    assert int(rows[-1]["health/workers_alive"]) == 2
    assert summary["env_steps"] == 3 * (8 + 1) * 8 * 30  # (popsize + centre) x goals x steps
    assert len(summary["worker_rss_mib"]) == 2


def test_worker_count_and_ray_do_not_change_the_numbers(local_ray, tmp_path):
    a = Trainer.create(tiny("es.generations=2"), tmp_path / "a").run()
    b = Trainer.create(tiny("es.generations=2", "ray.workers=2"), tmp_path / "b").run()
    assert a["best_fitness"] == b["best_fitness"]
    ra, rb = read_metrics(tmp_path / "a"), read_metrics(tmp_path / "b")
    drop = ("health/workers_alive",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in ra] == [{k: v for k, v in r.items() if k not in drop} for r in rb]


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test_killed_worker_is_replaced_and_fitness_equals_an_undisturbed_run(local_ray, tmp_path):
    cfg = tiny("ray.workers=2", "env.episode_steps=300", "es.popsize=16")
    undisturbed = Trainer(cfg, tmp_path / "u")
    undisturbed.evaluator = Evaluator(cfg)
    clean_row = undisturbed.step()
    undisturbed.evaluator.close()

    disturbed = Trainer(cfg, tmp_path / "d")
    disturbed.evaluator = Evaluator(cfg)
    victim = disturbed.evaluator.worker_pids()[0]
    before = _cpu_ticks(victim)
    out: dict = {}
    runner = threading.Thread(target=lambda: out.update(row=disturbed.step()))
    runner.start()
    deadline = time.monotonic() + 60
    while _cpu_ticks(victim) < before + 20 and time.monotonic() < deadline:  # the worker is rolling out
        time.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    runner.join(timeout=300)
    disturbed.evaluator.close()
    row = out["row"]
    assert row["health/retries"] >= 1
    for key in ("fitness/best", "fitness/mean", "fitness/min", "fitness/center"):
        assert row[key] == clean_row[key], key


def test_two_node_cluster_survives_losing_a_node(two_node_cluster, tmp_path):
    cluster, worker_node = two_node_cluster
    cfg = tiny("ray.workers=2", f"ray.address={cluster.address}", "es.generations=3")
    trainer = Trainer.create(cfg, tmp_path / "run")
    trainer.evaluator = Evaluator(cfg)
    first = trainer.step()
    assert first["health/workers_alive"] == 2
    cluster.remove_node(worker_node)
    rows = [trainer.step(), trainer.step()]
    trainer.evaluator.close()
    assert trainer.generation == 3
    assert all(np.isfinite(r["fitness/center"]) for r in rows)
    assert min(r["health/workers_alive"] for r in rows) == 1

    reference = Trainer(tiny("es.generations=3", "ray.workers=0"), tmp_path / "ref")
    reference.evaluator = Evaluator(reference.cfg)
    ref_rows = [reference.step() for _ in range(3)]
    assert [r["fitness/center"] for r in [first, *rows]] == [r["fitness/center"] for r in ref_rows]


class _Interrupt(Exception):
    pass


class _StopAfter:
    """A logger that raises after a given generation: a driver killed mid-run."""

    def __init__(self, generation: int) -> None:
        self.generation = generation

    def log(self, row):
        if row["generation"] == self.generation:
            raise _Interrupt

    def close(self):
        pass


def test_interrupted_and_resumed_run_is_bit_identical(tmp_path, monkeypatch):
    cfg = tiny("es.generations=5")
    Trainer.create(cfg, tmp_path / "full").run()

    import pdlf.es.trainer as trainer_mod

    real_csv = trainer_mod.CSVLogger
    monkeypatch.setattr(trainer_mod, "CSVLogger", lambda *a, **k: _Chain(real_csv(*a, **k), _StopAfter(2)))
    with pytest.raises(_Interrupt):
        Trainer.create(cfg, tmp_path / "cut").run()
    monkeypatch.setattr(trainer_mod, "CSVLogger", real_csv)
    # the checkpoint holds generation 2 (every 2); generation 2 itself was logged, then lost
    resumed = Trainer.resume(tmp_path / "cut")
    assert resumed.generation == 2
    resumed.run()
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "full")


class _Chain:
    def __init__(self, *loggers):
        self.loggers = loggers

    def log(self, row):
        for lg in self.loggers:
            lg.log(row)

    def close(self):
        for lg in self.loggers:
            lg.close()


def test_direct_weight_baseline_trains_through_the_same_path(tmp_path):
    summary = Trainer.create(tiny("rule.name=none", "es.generations=2"), tmp_path / "none").run()
    assert summary["generations"] == 2 and np.isfinite(summary["best_fitness"])
    rows = read_metrics(tmp_path / "none")
    assert rows[0]["fitness/best"] != rows[0]["fitness/min"]  # members differ: weights are the genome


def test_fitness_improves_on_a_quick_task(local_ray, tmp_path):
    """swimmer_dir with short episodes learns within a dozen generations (deterministic: fixed seed)."""
    cfg = config_from_dict(
        {
            "env": {"name": "swimmer_dir", "episode_steps": 50},
            "agent": {"hidden": [16]},
            "es": {"popsize": 16, "generations": 12, "center_lr": 0.05, "sigma_init": 0.1, "seed": 0},
            "ray": {"workers": 2},
            "log": {"progress": False, "tensorboard": False},
        }
    )
    Trainer.create(cfg, tmp_path / "run").run()
    centre = [float(r["fitness/center"]) for r in read_metrics(tmp_path / "run")]
    assert np.mean(centre[-3:]) > centre[0] + 15.0, centre


def test_diverging_members_get_the_worst_fitness_and_the_run_goes_on(tmp_path):
    """Hebbian ABCD without normalisation and a huge sigma: some members' weights overflow."""
    cfg = tiny("rule.name=hebb_abcd", "rule.normalize=false", "es.sigma_init=50.0", "es.generations=2")
    trainer = Trainer.create(cfg, tmp_path / "run")
    trainer.evaluator = Evaluator(cfg)
    row = trainer.step()
    assert row["health/diverged"] > 0
    assert np.isfinite(row["fitness/best"]) and np.isfinite(row["fitness/min"])
    trainer.step()
    assert trainer.generation == 2


@pytest.mark.parametrize("searcher", ["pgpe", "snes", "xnes", "cem", "cmaes", "openai_es"])
def test_every_searcher_resumes_bit_identically_through_the_trainer(tmp_path, searcher):
    # hidden [4]: 480 genes, small enough for the full-covariance searchers
    cfg = tiny(f"es.searcher={searcher}", "agent.hidden=[4]", "es.generations=4", "checkpoint.every=0",
               "log.tensorboard=false", "env.goals=[2.0]")
    Trainer.create(cfg, tmp_path / "full").run()
    Trainer.create(cfg, tmp_path / "cut").run(generations=2)
    resumed = Trainer.resume(tmp_path / "cut")
    assert resumed.generation == 2
    resumed.run()
    rows = read_metrics(tmp_path / "full")
    assert read_metrics(tmp_path / "cut") == rows and len(rows) == 4
    assert len({r["fitness/center"] for r in rows}) > 1  # the search moves: the comparison is not trivial


def test_resume_with_ray_workers_is_bit_identical(local_ray, tmp_path):
    cfg = tiny("ray.workers=2", "es.generations=4", "checkpoint.every=0", "log.tensorboard=false")
    Trainer.create(cfg, tmp_path / "full").run()
    Trainer.create(cfg, tmp_path / "cut").run(generations=2)
    Trainer.resume(tmp_path / "cut").run()
    assert read_metrics(tmp_path / "cut") == read_metrics(tmp_path / "full")


def test_train_or_reuse_reuses_extends_replaces_and_refuses_to_shrink(tmp_path):
    from pdlf.errors import ConfigError
    from pdlf.es.trainer import train_or_reuse

    Trainer.create(tiny("es.generations=4"), tmp_path / "full").run()
    run = tmp_path / "run"
    assert train_or_reuse(tiny("es.generations=2"), run)["generations"] == 2
    mtime = (run / "metrics.csv").stat().st_mtime
    assert train_or_reuse(tiny("es.generations=2"), run) is None  # finished: reused as it is
    assert (run / "metrics.csv").stat().st_mtime == mtime
    # a raised budget extends the run, exactly as if it had been asked for from the start
    assert train_or_reuse(tiny("es.generations=4"), run)["generations"] == 4
    assert read_metrics(run) == read_metrics(tmp_path / "full")
    # keys that do not change the numbers (Ray, logging) do not make it another run
    assert train_or_reuse(tiny("es.generations=4", "ray.workers=1", "checkpoint.every=3"), run) is None
    config_text = (run / "config.yaml").read_text()
    with pytest.raises(ConfigError, match="has 4 generations, more than es.generations=3"):
        train_or_reuse(tiny("es.generations=3"), run)
    assert (run / "config.yaml").read_text() == config_text  # nothing rewritten
    # another config (not just the budget): an error, or with replace a new run in its place
    metrics = (run / "metrics.csv").read_bytes()
    with pytest.raises(ConfigError, match="holds a run of another config"):
        train_or_reuse(tiny("es.generations=1", "es.seed=4"), run)
    assert (run / "metrics.csv").read_bytes() == metrics
    assert train_or_reuse(tiny("es.generations=1", "es.seed=4"), run, replace=True)["generations"] == 1
    assert len(read_metrics(run)) == 1


def test_in_process_rollouts_use_one_torch_thread_like_a_worker():
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        evaluator = Evaluator(config_from_dict({"env": {"name": "swimmer_dir"}, "ray": {"workers": 0}}))
        assert torch.get_num_threads() == 1
        evaluator.close()
    finally:
        torch.set_num_threads(before)
