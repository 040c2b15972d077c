"""`pdlf report` end to end on a tiny budget: every stage runs and results.md holds its tables."""

from __future__ import annotations

import json

import pytest

from pdlf.cli import main
from pdlf.config import load_config

pytestmark = pytest.mark.integration


def test_report_trains_evaluates_and_writes_results(tmp_path):
    root, docs = tmp_path / "runs", tmp_path / "docs"
    argv = ["report", "--tasks", "halfcheetah_vel", "--seeds", "0", "--popsize", "4", "--generations", "2",
            "--episode-steps", "20", "--hidden", "8", "--workers", "0", "--eval-seeds", "1",
            "--wm-generations", "1", "--assoc-generations", "1", "--pdlf-wm-generations", "1",
            "--l2l-families", "gng_dr2", "--l2l-generations", "1", "--l2l-tasks", "4", "--l2l-sequence-tasks", "2",
            "--l2l-trials", "20", "--root", str(root), "--docs", str(docs)]
    assert main(argv) == 0
    for name in ("training_halfcheetah_vel.png", "injury_temporary_halfcheetah_vel.png",
                 "injury_permanent_halfcheetah_vel.png", "goal_switching_halfcheetah_vel.png", "l2l.png"):
        assert (docs / name).stat().st_size > 1000
    text = (docs / "results.md").read_text()
    for heading in ("## Training curves", "## Seen versus unseen goals", "## Temporary injury",
                    "## Permanent injury", "## Goal switching within an episode", "## Working memory", "## PDLF's own working-memory models",
                    "## Associative recall", "## Rule ablation", "## Learning to learn"):
        assert heading in text
    assert text.count("| halfcheetah_vel | plastic |") >= 4 and text.count("| halfcheetah_vel | direct |") >= 4
    assert "| pdlf-hybrid | 53,505 | 0." in text and "| pdlf-gru | 50,945 | 0." in text
    # results.json: one object per table row, with the per-seed numbers
    rows = json.loads((docs / "results.json").read_text())["rows"]
    tables = {r["table"] for r in rows}
    assert tables == {"training", "goals", "goals_interp72", "goals_extrapolated", "temporary_injury", "permanent_injury",
                      "goal_switching", "wm", "pdlf_wm",
                      "assoc", "assoc_grid", "ablation", "l2l"}
    grid = [r for r in rows if r["table"] == "assoc_grid"]
    assert sorted({(r["L"], r["delay"]) for r in grid}) == [(4, 8), (4, 32), (8, 8), (8, 32), (16, 8), (16, 32)]
    assert all(r["accuracy"]["n"] == 1 for r in grid)
    ablation = {(r["task"], r["rule"]): r for r in rows if r["table"] == "ablation"}
    assert set(ablation) == {(t, r) for t in ("halfcheetah_vel", "copy") for r in ("pdlf", "scp", "pdp", "hebb_abcd", "none")} | {
        ("halfcheetah_vel", "none_pdlf_neurons")}
    pdlf_direct = load_config(root / "halfcheetah_vel__pdlf-direct__s0" / "config.yaml")
    assert (pdlf_direct.agent.tau, pdlf_direct.agent.theta, pdlf_direct.agent.biases, pdlf_direct.agent.output) == (
        2.0, 1.0, True, "tanh") and pdlf_direct.rule.name == "none"
    assert all(r["diverged_members"] >= 0 and r["score"]["n"] == 1 for r in ablation.values())
    assert (root / "halfcheetah_vel__rule-scp__s0").is_dir() and (root / "ablation_copy" / "pdp__s0").is_dir()
    switching = {r["agent"]: r for r in rows if r["table"] == "goal_switching"}
    assert set(switching) == {"plastic", "direct"} and switching["plastic"]["error_units"] == "m/s"
    assert switching["plastic"]["tracking_error"]["n"] == 1 and switching["plastic"]["tracking_error"]["mean"] > 0
    assert [r["goal"] for r in rows if r["table"] == "goals_extrapolated" and r["agent"] == "direct"] == [0, 0.5, 10.5, 11]
    (g72,) = [r for r in rows if r["table"] == "goals_interp72" and r["agent"] == "plastic"]
    assert g72["interp72_return"]["n"] == 1 and g72["interp72_return"]["mean"] is not None
    assoc = {r["agent"]: r for r in rows if r["table"] == "assoc"}
    assert set(assoc) == {"plastic", "direct", "pdlf-gru"} and assoc["direct"]["accuracy_membrane_reset"]["n"] == 1
    assert [r["pdlf_accuracy"] for r in rows if r["table"] == "pdlf_wm"] == [0.883, 0.789, 0.78, 0.67, 0.66, 0.57]
    assert [(r["L"], r["D"]) for r in rows if r["table"] == "pdlf_wm"][::2] == [(8, 16), (8, 32), (64, 0)]
    assert sum(r["table"] == "training" for r in rows) == 2
    l2l = {r["condition"]: r for r in rows if r["table"] == "l2l"}
    assert set(l2l) == {"tf_delta", "tf_hebb", "tf_rpe", "tf_np", "tf_ip", "syn", "none", "gru"}
    assert {r["family"] for r in l2l.values()} == {"gng_dr2"}
    assert l2l["tf_delta"]["published_failures"] == {"ip2-rsnn": 0} and l2l["tf_delta"]["tasks"] == 4
    # mirrored pairs: the share is logged (NaN where every member scored the same, e.g. a readout stuck at 0)
    assert all("learning_share" in r for r in l2l.values()) and l2l["tf_delta"]["learning_share"]["n"] == 1
    assert all(0 <= r["failures"]["mean"] <= 4 and r["generations"] == 1 for r in l2l.values())
    assert l2l["gru"]["genome_size"] != l2l["none"]["genome_size"]  # a GRU, not the SNN
    assert load_config(root / "ip2" / "gng_dr2__tf_delta__s0" / "config.yaml").rule.layers == {"out": "tf_delta"}
    # a second call reuses the finished runs (no retraining) and rewrites the report
    trained = [root / "halfcheetah_vel__plastic__s0" / "metrics.csv", root / "assoc" / "plastic__s0" / "metrics.csv",
               root / "ip2" / "gng_dr2__syn__s0" / "metrics.csv"]
    mtimes = [p.stat().st_mtime for p in trained]
    assert main([*argv, "--stages", "train,assoc,l2l,docs"]) == 0
    assert [p.stat().st_mtime for p in trained] == mtimes
    # --sections l2l rewrites only that section (and its rows): the rest stays as it was
    md = docs / "results.md"
    md.write_text(md.read_text().replace("## Training curves", "## Training curves (kept by hand)"))
    before = md.read_text()
    assert main([*argv, "--stages", "docs", "--sections", "l2l"]) == 0
    after = md.read_text()
    assert "## Training curves (kept by hand)" in after and after.count("## Learning to learn") == 1
    head = before.split("## Learning to learn")[0]
    assert after.startswith(head)
    assert {r["table"] for r in json.loads((docs / "results.json").read_text())["rows"]} == tables


def test_report_rejects_unknown_stages(tmp_path, capsys):
    assert main(["report", "--stages", "train,plots", "--root", str(tmp_path)]) == 2
    assert "--stages has 'plots'" in capsys.readouterr().err
