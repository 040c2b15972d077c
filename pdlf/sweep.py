"""Settings chosen by measurement: train one config over a grid of overrides and compare the runs.

    pdlf sweep configs/halfcheetah_vel.yaml rule.name=pdlf,none es.sigma_init=0.05,0.1 es.popsize=64

Every ``KEY=V1,V2,...`` argument is an axis of the grid (a single value is a fixed override for
every point); commas inside ``[...]`` or ``{...}`` do not split (``agent.hidden=[64,64],[128]``
is two values). Each point and seed is one run of `pdlf.es.trainer.train_or_reuse` in
``root/{point}/s{seed}``, so a sweep can be stopped and re-run: finished runs are reused,
interrupted ones resumed. Per run the summary holds the centre's fitness at the end (mean of the
last `FINAL_WINDOW` generations: one generation's tasks and seeds are noisy), the mean centre
fitness over the whole run (the area under its learning curve, per generation: faster learning
scores higher at an equal budget), the best member ever, env steps and wall seconds.
"""

from __future__ import annotations

import csv
import itertools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pdlf.errors import ConfigError
from pdlf.stats import finite_stats
from pdlf.tables import Table, stat_record

FINAL_WINDOW = 5  # generations averaged for the "final" centre fitness


def split_values(raw: str) -> list[str]:
    """``"a,[1,2],{x: 1, y: 2}"`` -> ``["a", "[1,2]", "{x: 1, y: 2}"]``: commas at bracket depth 0."""
    values, depth, start = [], 0, 0
    for i, ch in enumerate(raw):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
        elif ch == "," and depth == 0:
            values.append(raw[start:i].strip())
            start = i + 1
    values.append(raw[start:].strip())
    if depth != 0 or any(v == "" for v in values):
        raise ConfigError(f"sweep values {raw!r}: give V1,V2,... with balanced brackets and no empty value")
    return values


def parse_grid(specs: list[str]) -> list[tuple[str, list[str]]]:
    """``["es.popsize=32,64", "rule.name=pdlf"]`` -> ``[("es.popsize", ["32", "64"]), ("rule.name", ["pdlf"])]``."""
    grid = []
    for text in specs:
        if "=" not in text:
            raise ConfigError(f"sweep axis {text!r} is not KEY=V1,V2,... (e.g. es.sigma_init=0.05,0.1)")
        key, raw = text.split("=", 1)
        key = key.strip()
        if key in (k for k, _ in grid):
            raise ConfigError(f"sweep axis {key!r} is given twice: list all its values in one KEY=V1,V2,...")
        if key == "es.seed":
            raise ConfigError("es.seed is not a sweep axis: give the seeds with --seeds")
        grid.append((key, split_values(raw)))
    return grid


def grid_points(grid: list[tuple[str, list[str]]]) -> list[tuple[str, ...]]:
    """Every combination as a tuple of ``KEY=VALUE`` overrides, the first axis varying slowest."""
    return [tuple(f"{k}={v}" for (k, _), v in zip(grid, values))
            for values in itertools.product(*(vals for _, vals in grid))]


def point_name(point: tuple[str, ...], grid: list[tuple[str, list[str]]]) -> str:
    """A directory name of the axes that vary (``rule.name=pdlf__es.sigma_init=0.1``), or ``base``."""
    varying = {k for k, vals in grid if len(vals) > 1}
    parts = [p for p in point if p.split("=", 1)[0] in varying]
    name = "__".join(parts) or "base"
    return re.sub(r"[^A-Za-z0-9_.=+-]", "_", name)


@dataclass
class SweepRun:
    """One finished run of a sweep: its point, seed, directory and `summarise_run` numbers."""

    point: tuple[str, ...]
    name: str
    seed: int
    run_dir: Path
    summary: dict[str, float]


def summarise_run(run_dir: Path) -> dict[str, float]:
    """Final centre fitness (mean of the last `FINAL_WINDOW` generations), mean centre fitness over
    the run, best member ever, env steps, generations and wall seconds, from ``metrics.csv``."""
    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise ConfigError(f"{run_dir}/metrics.csv has no generations")
    centre = np.array([float(r["fitness/center"]) for r in rows])
    return {"final_center": float(centre[-FINAL_WINDOW:].mean()), "mean_center": float(centre.mean()),
            "best_ever": float(rows[-1]["fitness/best_ever"]), "env_steps": int(rows[-1]["env_steps"]),
            "generations": len(rows), "wall_s": float(sum(float(r["perf/seconds"]) for r in rows))}


def run_sweep(config: str | Path, specs: list[str], seeds: list[int], root: str | Path, replace: bool = False,
              log=print) -> tuple[list[tuple[str, list[str]]], list[SweepRun]]:
    """Train every point of the grid ``specs`` for every seed (see the module docstring); returns
    the grid and the runs. A point's directory holding a run of another config (the fixed
    overrides changed) is an error unless ``replace``. Raises `StoppedBySignal` when a signal
    stopped a run (re-run to go on)."""
    from pdlf.config import load_config
    from pdlf.es.trainer import train_or_reuse
    from pdlf.interrupts import StoppedBySignal

    grid = parse_grid(specs)
    points = grid_points(grid)
    configs = {(point, seed): load_config(config, [*point, f"es.seed={seed}", "log.progress=false"])
               for point in points for seed in seeds}  # every point checked before the first run
    runs = []
    for point in points:
        name = point_name(point, grid)
        for seed in seeds:
            run_dir = Path(root) / name / f"s{seed}"
            summary = train_or_reuse(configs[point, seed], run_dir, replace)
            if summary is not None and summary.get("interrupted"):
                raise StoppedBySignal(summary["interrupted"], str(run_dir))
            runs.append(SweepRun(point, name, seed, run_dir, summarise_run(run_dir)))
            s = runs[-1].summary
            log(f"{name} seed {seed}: final centre {s['final_center']:.1f}, mean centre {s['mean_center']:.1f}, "
                f"{s['env_steps']:,} env steps, {s['wall_s'] / 60:.1f} min")
    return grid, runs


def sweep_table(grid: list[tuple[str, list[str]]], runs: list[SweepRun]) -> Table:
    """One row per point (mean ± std over its seeds), best final centre fitness first."""
    axes = [k for k, vals in grid if len(vals) > 1]
    table = Table("sweep", [*axes, "final centre fitness", "mean centre fitness (learning curve area)",
                            "best member ever", "env steps per run", "minutes per run", "seeds"])
    by_point: dict[tuple[str, ...], list[SweepRun]] = {}
    for r in runs:
        by_point.setdefault(r.point, []).append(r)

    def final(item) -> float:
        mean = finite_stats([r.summary["final_center"] for r in item[1]]).mean
        return -np.inf if mean is None else mean

    for point, point_runs in sorted(by_point.items(), key=final, reverse=True):
        values = dict(p.split("=", 1) for p in point)
        stats: dict[str, Any] = {k: [r.summary[k] for r in point_runs] for k in ("final_center", "mean_center", "best_ever")}
        minutes = [r.summary["wall_s"] / 60 for r in point_runs]
        table.add([*(values[a] for a in axes), finite_stats(stats["final_center"]).format(1),
                   finite_stats(stats["mean_center"]).format(1), finite_stats(stats["best_ever"]).format(1),
                   f"{point_runs[0].summary['env_steps']:,}", finite_stats(minutes).format(1), str(len(point_runs))],
                  {"point": list(point), **{a: values[a] for a in axes}, **{k: stat_record(v) for k, v in stats.items()},
                   "env_steps": point_runs[0].summary["env_steps"], "minutes": stat_record(minutes),
                   "seeds": [r.seed for r in point_runs]})
    return table


__all__ = ["FINAL_WINDOW", "split_values", "parse_grid", "grid_points", "point_name", "SweepRun", "summarise_run",
           "run_sweep", "sweep_table"]
