"""`pdlf report --budget full`: the main runs come from a configs directory, are exported to
DOCS/runs (what gets committed) and evaluated from there; missing runs are left out, not faked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pdlf.cli import main
from pdlf.locomotion_runs import EXPORTED

pytestmark = pytest.mark.integration

TINY = """env:
  name: halfcheetah_vel
  episode_steps: 20
agent:
  hidden: [8]
rule:
  name: {rule}
es:
  popsize: 4
  generations: 2
ray:
  workers: 0
checkpoint:
  every: 1
"""


def _argv(tmp_path, *extra):
    return ["report", "--budget", "full", "--tasks", "halfcheetah_vel", "--seeds", "0", "--eval-seeds", "1",
            "--episode-steps", "50",  # the small budget's setting: the full budget ignores it
            "--science-configs", str(tmp_path / "science"), "--science-root", str(tmp_path / "train"),
            "--root", str(tmp_path / "runs"), "--docs", str(tmp_path / "docs"), *extra]


def test_full_budget_trains_exports_and_reports_only_what_exists(tmp_path):
    (tmp_path / "science").mkdir()
    (tmp_path / "science" / "halfcheetah_vel.yaml").write_text(TINY.format(rule="pdlf"))
    (tmp_path / "science" / "halfcheetah_vel_direct.yaml").write_text(TINY.format(rule="none"))
    assert main(_argv(tmp_path, "--stages", "train")) == 0
    exported = tmp_path / "docs" / "runs" / "halfcheetah_vel" / "s0"
    assert all((exported / f).is_file() for f in EXPORTED) and not (exported / "tb").exists()
    assert (tmp_path / "train" / "halfcheetah_vel_direct" / "s0" / "tb").is_dir()  # trained there, exported without tb
    # a third agent kind whose run is not there yet: the report leaves it out and says so
    (tmp_path / "science" / "halfcheetah_vel_pdlf_direct.yaml").write_text(TINY.format(rule="none"))
    mtime = (exported / "metrics.csv").stat().st_mtime
    assert main(_argv(tmp_path, "--stages", "eval,injury,docs")) == 0
    assert (exported / "metrics.csv").stat().st_mtime == mtime and not (exported / "report_eval").exists()
    text = (tmp_path / "docs" / "results.md").read_text()
    assert "## Budget (equal for every agent): the main runs" in text and "2 generations" in text
    rows = json.loads((tmp_path / "docs" / "results.json").read_text())["rows"]
    training = {r["agent"]: r for r in rows if r["table"] == "training"}
    assert set(training) == {"plastic", "direct"} and training["plastic"]["env_steps"] == 2 * 5 * 8 * 20
    goals = {r["agent"]: r for r in rows if r["table"] == "goals"}
    assert goals["plastic"]["pdlf_train_goals"] == "-549 ± 95" and goals["direct"]["pdlf_train_goals"] == "-1,598"
    assert goals["pdlf_direct"]["seen_return"]["n"] == 0  # listed, no run: n/a
    extrapolated = [r for r in rows if r["table"] == "goals_extrapolated" and r["agent"] == "plastic"]
    assert [r["goal"] for r in extrapolated] == [0.0, 0.5, 10.5, 11.0]
    assert all(r["return"]["n"] == 1 and r["nearest_training_goal_return"]["n"] == 1 for r in extrapolated)
    temporary = {(r["agent"], r["condition"]): r for r in rows if r["table"] == "temporary_injury"}
    assert set(temporary) == {(k, c) for k in ("plastic", "direct") for c in ("erasure", "silencing")}
    # the last-100-steps column is the mean reward per step over the curve's last 100 steps
    saved = json.loads((tmp_path / "runs" / "results" / "full__temporary__halfcheetah_vel__s0.json").read_text())
    curve = next(r for r in saved["runs"] if r["kind"] == "direct")["conditions"]["erasure"]["curve"]
    final = temporary[("direct", "erasure")]["final_reward_per_step"]
    assert final["n"] == 1 and final["mean"] == pytest.approx(np.mean(curve[-100:]), rel=1e-9)
    # evaluations ran on 1,000-step episodes (the tasks' own), not the 20-step training ones
    saved = json.loads((tmp_path / "runs" / "results" / "full__eval__halfcheetah_vel__plastic__s0.json").read_text())
    assert saved["episode_steps"] == 1000


def test_full_budget_needs_a_config_for_each_task(tmp_path, capsys):
    (tmp_path / "science").mkdir()
    assert main(_argv(tmp_path, "--stages", "train")) == 2
    err = capsys.readouterr().err
    assert "no full-budget config for task 'halfcheetah_vel'" in err and "--budget small" in err


def test_full_budget_videos_render_each_kind_and_are_linked(tmp_path, monkeypatch):
    """The videos stage's wiring (which runs, episodes and files); `pdlf render` itself is tested
    in test_render.py (a real 1,000-step render per video would add minutes here)."""
    from pdlf import render
    from pdlf.goal_switching import DEFAULT_SCHEDULES

    calls = []

    def fake_render(run, out, **kw):
        calls.append((run.kind, run.cfg.rule.name, out.name, kw))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(b"mp4")
        return {}

    monkeypatch.setattr(render, "render_run", fake_render)
    (tmp_path / "science").mkdir()
    for suffix, rule in (("", "pdlf"), ("_direct", "none")):
        (tmp_path / "science" / f"halfcheetah_vel{suffix}.yaml").write_text(TINY.format(rule=rule))
    assert main(_argv(tmp_path, "--stages", "train,videos,docs")) == 0
    assert sorted(c[2] for c in calls) == [f"halfcheetah_vel__{k}__{w}.mp4" for k in ("direct", "plastic")
                                           for w in ("erasure", "switch")]
    for kind, rule, name, kw in calls:
        assert kw["steps"] == 1000 and (kw["width"], kw["height"]) == (320, 240)
        assert (kw.get("schedule") == DEFAULT_SCHEDULES["halfcheetah_vel"]) == name.endswith("switch.mp4")
        assert (kw.get("injury") == "temporary") == name.endswith("erasure.mp4")
        assert (rule == "pdlf") == (kind == "plastic") == name.startswith("halfcheetah_vel__plastic")
    text = (tmp_path / "docs" / "results.md").read_text()
    assert "[plastic, switch](videos/halfcheetah_vel__plastic__switch.mp4)" in text
    assert "[direct, erasure](videos/halfcheetah_vel__direct__erasure.mp4)" in text
