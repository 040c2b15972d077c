"""`pdlf report` end to end on a tiny budget: every stage runs and results.md holds its tables."""

from __future__ import annotations

import pytest

from pdlf.cli import main

pytestmark = pytest.mark.integration


def test_report_trains_evaluates_and_writes_results(tmp_path):
    root, docs = tmp_path / "runs", tmp_path / "docs"
    argv = ["report", "--tasks", "halfcheetah_vel", "--seeds", "0", "--popsize", "4", "--generations", "2",
            "--episode-steps", "20", "--hidden", "8", "--workers", "0", "--eval-seeds", "1",
            "--wm-generations", "1", "--assoc-generations", "1", "--root", str(root), "--docs", str(docs)]
    assert main(argv) == 0
    for name in ("training_halfcheetah_vel.png", "injury_temporary_halfcheetah_vel.png",
                 "injury_permanent_halfcheetah_vel.png"):
        assert (docs / name).stat().st_size > 1000
    text = (docs / "results.md").read_text()
    for heading in ("## Training curves", "## Seen versus unseen goals", "## Temporary injury",
                    "## Permanent injury", "## Working memory", "## Associative recall"):
        assert heading in text
    assert text.count("| halfcheetah_vel | plastic |") >= 4 and text.count("| halfcheetah_vel | direct |") >= 4
    assert text.count("| plastic | 0.") == 2 and text.count("| direct | 0.") == 2  # copy and assoc accuracies
    # a second call reuses the finished runs (no retraining) and rewrites the report
    mtime = (root / "halfcheetah_vel__plastic__s0" / "metrics.csv").stat().st_mtime
    assert main([*argv, "--stages", "train,docs"]) == 0
    assert (root / "halfcheetah_vel__plastic__s0" / "metrics.csv").stat().st_mtime == mtime


def test_report_rejects_unknown_stages(tmp_path, capsys):
    assert main(["report", "--stages", "train,plots", "--root", str(tmp_path)]) == 2
    assert "--stages has 'plots'" in capsys.readouterr().err
