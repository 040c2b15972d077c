"""`pdlf l2l-grad` as a user meets it: a grid then a run on a tiny budget, the refusal to overwrite,
and one line for a bad mask."""

from __future__ import annotations

import json

import pytest

from pdlf.cli import main

pytestmark = pytest.mark.integration

TINY = ["--family", "gng_dr2", "--problems", "3", "--trial-limit", "40", "--seeds", "0", "1", "--quiet"]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("pdlf: error: ")
    return err[0]


def test_grid_then_run_then_refuse_to_overwrite(tmp_path, capsys):
    out = tmp_path / "grad"
    grid = ["--grid", "--grid-problems", "2", "--grid-trial-limit", "30", "--grid-lrs", "0.01", "0.03"]
    assert main(["l2l-grad", *TINY, *grid, "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [s["seed"] for s in report["seeds"]] == [0, 1]
    assert all(len(s["trials"]) == 3 for s in report["seeds"])
    assert len(report["grid"]["ranking"]) == 16  # 8 masks x 2 learning rates
    chosen = report["grid"]["chosen"]
    assert report["seeds"][0]["mask"] == chosen["mask"] and report["seeds"][0]["lr"] == chosen["lr"]
    assert chosen["mean_trials"] == min(e["mean_trials"] for e in report["grid"]["ranking"])
    assert {p.name for p in out.iterdir()} == {"l2l_grad.json", "l2l_grad.csv", "l2l_grad.png", "l2l_grad_grid.json"}
    assert json.loads((out / "l2l_grad.json").read_text())["seeds"] == report["seeds"]
    before = (out / "l2l_grad.json").read_bytes()

    assert main(["l2l-grad", *TINY, "--out", str(out)]) == 2
    assert "already has results" in _one_error_line(capsys)
    assert (out / "l2l_grad.json").read_bytes() == before
    assert main(["l2l-grad", *TINY, "--mask", "none", "--out", str(out), "--force", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["seeds"][0]["mask"] == "none"


def test_bad_mask_is_one_line_and_writes_nothing(tmp_path, capsys):
    assert main(["l2l-grad", *TINY, "--mask", "tau_d,thresh", "--out", str(tmp_path / "x")]) == 2
    line = _one_error_line(capsys)
    assert "'thresh'" in line and "tau_d, tau_s, theta" in line
    assert not (tmp_path / "x").exists()
