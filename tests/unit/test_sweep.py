"""`pdlf.sweep`: grid parsing, point names, run summaries and the ranking table."""

from __future__ import annotations

import csv

import pytest

from pdlf.errors import ConfigError
from pdlf.sweep import SweepRun, grid_points, parse_grid, point_name, split_values, summarise_run, sweep_table


def test_values_split_on_commas_outside_brackets():
    assert split_values("0.05,0.1") == ["0.05", "0.1"]
    assert split_values("[64,64],[128]") == ["[64,64]", "[128]"]
    assert split_values("{a: 1, b: 2},x") == ["{a: 1, b: 2}", "x"]
    for bad in ("[1,2", "a,,b", ""):
        with pytest.raises(ConfigError, match="balanced brackets"):
            split_values(bad)


def test_grid_points_are_the_cartesian_product_first_axis_slowest():
    grid = parse_grid(["rule.name=pdlf,none", "es.popsize=64", "es.sigma_init=0.05,0.1"])
    assert grid_points(grid) == [
        ("rule.name=pdlf", "es.popsize=64", "es.sigma_init=0.05"), ("rule.name=pdlf", "es.popsize=64", "es.sigma_init=0.1"),
        ("rule.name=none", "es.popsize=64", "es.sigma_init=0.05"), ("rule.name=none", "es.popsize=64", "es.sigma_init=0.1")]
    # names carry only the axes that vary, made safe for a directory
    assert point_name(grid_points(grid)[1], grid) == "rule.name=pdlf__es.sigma_init=0.1"
    assert point_name(("agent.hidden=[8, 8]",), parse_grid(["agent.hidden=[8, 8],[4]"])) == "agent.hidden=_8__8_"
    assert point_name(("es.popsize=64",), parse_grid(["es.popsize=64"])) == "base"


@pytest.mark.parametrize("specs, message", [(["es.popsize"], "not KEY=V1,V2"), (["a.b=1", "a.b=2"], "given twice"),
                                            (["es.seed=0,1"], "--seeds")])
def test_bad_axes_are_one_clear_error(specs, message):
    with pytest.raises(ConfigError, match=message):
        parse_grid(specs)


def _metrics(path, centres, best_ever=9.0):
    path.mkdir(parents=True)
    with open(path / "metrics.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, ["generation", "env_steps", "fitness/center", "fitness/best_ever", "perf/seconds"])
        w.writeheader()
        for g, c in enumerate(centres):
            w.writerow({"generation": g, "env_steps": 100 * (g + 1), "fitness/center": c, "fitness/best_ever": best_ever,
                        "perf/seconds": 2.0})
    return path


def test_summary_and_ranking_by_hand(tmp_path):
    slow = _metrics(tmp_path / "slow", [0, 0, 0, 0, 0, 0, 10])  # final: mean of the last 5 = 2.0
    fast = _metrics(tmp_path / "fast", [0, 6, 6, 6, 6, 6, 6])
    s = summarise_run(slow)
    assert s == {"final_center": 2.0, "mean_center": pytest.approx(10 / 7), "best_ever": 9.0, "env_steps": 700,
                 "generations": 7, "wall_s": 14.0}
    grid = parse_grid(["es.center_lr=0.01,0.1"])
    runs = [SweepRun(("es.center_lr=0.01",), "a", 0, slow, s),
            SweepRun(("es.center_lr=0.1",), "b", 0, fast, summarise_run(fast))]
    table = sweep_table(grid, runs)
    assert [r["es.center_lr"] for r in table.records()] == ["0.1", "0.01"]  # best final centre first
    assert table.records()[0]["final_center"]["mean"] == 6.0 and table.cells[1][1] == "2.0 ± 0.0"
