"""`pdlf eval` and `pdlf injury` on the two tiny runs: outputs, the protocols' damage, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from pdlf import injury
from pdlf.cli import main
from pdlf.goals import parse_goals
from pdlf.runs import load_run

pytestmark = pytest.mark.integration

WINDOW = (501, 549)


def _cli_json(capsys, argv: list[str]) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


def _is_png(path) -> bool:
    with open(path, "rb") as f:
        return f.read(8) == b"\x89PNG\r\n\x1a\n"


def _error_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("pdlf: error: "), err
    return err


# ------------------------------------------------------------------------------------------- eval
def test_goal_sets_mark_training_goals_as_seen(tiny_runs):
    spec = load_run(tiny_runs["plastic"]).spec  # halfcheetah_vel: train 1 + 9k/8, unseen 1 + 0.75 i
    sel = parse_goals("unseen", spec)
    assert len(sel.goals) == 12 and set(sel.goals[sel.seen].tolist()) == {1.0, 3.25, 5.5, 7.75}
    sel = parse_goals("all", spec)
    assert len(sel.goals) == 16 and sel.seen.sum() == 8 and np.all(np.diff(sel.goals) > 0)
    # PDLF's 72 goals: a + (b - a) i / 72, i = 0..71, a = 1 + 9/8, b = 10 - 9/8 (no endpoint)
    sel = parse_goals("interp72", spec)
    np.testing.assert_allclose(sel.goals, 2.125 + 6.75 * np.arange(72) / 72, rtol=0, atol=1e-12)
    assert sel.goals[-1] == pytest.approx(8.78125) and not sel.outside.any()
    assert np.flatnonzero(sel.seen).tolist() == [0, 12, 24, 36, 48, 60]  # training goals 2.125 .. 7.75


@pytest.mark.parametrize("kind", ["plastic", "direct"])
def test_eval_writes_json_and_png(tiny_runs, tmp_path, capsys, kind):
    out = tmp_path / "eval"
    argv = ["eval", str(tiny_runs[kind]), "--goals", "all", "--seeds", "2", "--episode-steps", "20",
            "--out", str(out), "--json"]
    res = _cli_json(capsys, argv)
    assert res["run_dir"] == str(tiny_runs[kind]) and res["task"] == "halfcheetah_vel" and res["kind"] == kind
    assert set(res["genomes"]) == {"best", "center"}
    for g in res["genomes"].values():
        assert len(g["per_goal"]) == 16
        for p in g["per_goal"]:
            assert set(p) >= {"goal", "seen", "mean", "std", "returns"} and len(p["returns"]) == 2
            assert p["mean"] == pytest.approx(np.mean(p["returns"]))
        seen_returns = [r for p in g["per_goal"] if p["seen"] for r in p["returns"]]
        assert g["seen_mean"] == pytest.approx(np.mean(seen_returns))
        assert g["unseen_mean"] is not None
    assert _is_png(res["png"]) and json.loads((out / "eval_all.json").read_text()) == res
    # results are never overwritten silently
    assert main(argv) == 2
    err = _error_line(capsys)
    assert str(out) in err and "--force" in err
    assert main(argv + ["--force"]) == 0


def test_eval_defaults_write_into_the_run_dir(tiny_runs, tmp_path, capsys):
    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_runs["plastic"], run_dir)
    assert main(["eval", str(run_dir), "--goals", "train", "--seeds", "1", "--genome", "center"]) == 0
    assert "wrote" in capsys.readouterr().out
    res = json.loads((run_dir / "eval" / "eval_train.json").read_text())
    assert list(res["genomes"]) == ["center"] and res["genomes"]["center"]["unseen_mean"] is None
    assert res["episode_steps"] == 30  # the run's own episode length
    assert _is_png(run_dir / "eval" / "eval_train.png")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize("command", [["eval", "--goals", "train"], ["injury", "--mode", "temporary", "--goals", "1", "--window", "4", "6"],
                                     ["analyze"]])
def test_a_run_trained_on_a_gpu_is_evaluated_here_with_device_cpu(tiny_runs, tmp_path, capsys, command):
    """A run whose config places its agents on ``cuda`` (as `pdlf train ... agent.device=cuda`
    writes it on a GPU machine): on this CPU-only machine the runner stops with one line naming
    ``--device cpu``, and with it gives the numbers the same run gives on the CPU."""
    import yaml

    gpu_run = tmp_path / "gpu_run"
    shutil.copytree(tiny_runs["plastic"], gpu_run)
    cfg = yaml.safe_load((gpu_run / "config.yaml").read_text())
    cfg["agent"]["device"] = "cuda"
    (gpu_run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    tail = [*command[1:], "--seeds", "1", "--episode-steps", "12", "--json"]
    assert main([command[0], str(gpu_run), *tail, "--out", str(tmp_path / "a")]) == 2
    assert "agent.device='cuda'" in (line := _error_line(capsys)) and "--device cpu" in line
    assert not (tmp_path / "a").exists() or not any((tmp_path / "a").iterdir())
    moved = _cli_json(capsys, [command[0], str(gpu_run), *tail, "--out", str(tmp_path / "b"), "--device", "cpu"])
    same = _cli_json(capsys, [command[0], str(tiny_runs["plastic"]), *tail, "--out", str(tmp_path / "c")])
    def where_aside(res: dict, run, out) -> str:  # everything but where the run and its outputs lie
        text = json.dumps(res, sort_keys=True).replace(str(out), "OUT").replace(str(run), "RUN")
        return text.replace(run.name, "RUN")

    assert where_aside(moved, gpu_run, tmp_path / "b") == where_aside(same, tiny_runs["plastic"], tmp_path / "c")
    assert main([command[0], str(gpu_run), *tail, "--out", str(tmp_path / "d"), "--device", "gpu"]) == 2
    assert "agent.device='gpu': give cpu, cuda or cuda:N" in _error_line(capsys)


@pytest.mark.parametrize("command", [["eval"], ["injury", "--mode", "temporary"]])
def test_missing_or_foreign_run_dir_exits_2_with_one_line(tmp_path, capsys, command):
    assert main([command[0], str(tmp_path / "nope"), *command[1:]]) == 2
    assert "does not exist" in _error_line(capsys)
    (tmp_path / "notes.txt").write_text("not a run")
    assert main([command[0], str(tmp_path), *command[1:]]) == 2
    assert "is not a pdlf run" in _error_line(capsys)


# --------------------------------------------------------------------------------------- injury
class _WeightProbe:
    """Read-only hook: after each step records whether every layer is all zero, whether the agent
    was silenced, and snapshots of the weights at the steps in ``keep`` (1-based)."""

    def __init__(self, keep):
        self.keep, self.snap, self.all_zero, self.any_zero_layer, self.silenced = set(keep), {}, {}, {}, {}

    def before_step(self, step, agent, obs):
        self.silenced[step] = agent.silenced

    def after_step(self, step, agent, reward):
        w = agent.weights
        self.all_zero[step] = all(torch.count_nonzero(v) == 0 for v in w.values())
        self.any_zero_layer[step] = any(torch.count_nonzero(v) == 0 for v in w.values())
        if step in self.keep:
            self.snap[step] = {k: v.clone() for k, v in w.items()}


def _probe_run(run_dir, condition, steps=560):
    loaded = load_run(run_dir)
    probe = _WeightProbe({499, 500, 501, 525, 549, 550, steps})
    goals = loaded.spec.train_goals()[[2, 6]]
    injury.evaluate_damage(loaded, loaded.genome("center"), goals, [0], steps,
                           injury.temporary_damage(condition, WINDOW), probes=[probe])
    return probe


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def test_temporary_erasure_zeroes_every_layer_exactly_in_the_window(tiny_runs):
    window = range(WINDOW[0], WINDOW[1] + 1)
    plastic = _probe_run(tiny_runs["plastic"], "erasure")
    intact = _probe_run(tiny_runs["plastic"], "intact")
    assert not plastic.any_zero_layer[500]  # grown by plasticity, not yet damaged
    assert _same(plastic.snap[500], intact.snap[500]) and not _same(plastic.snap[499], plastic.snap[500])
    assert all(plastic.all_zero[k] for k in window)  # erased after each of steps 501..549
    assert not any(plastic.all_zero[k] for k in range(1, WINDOW[0]))
    assert not plastic.any_zero_layer[550]  # plasticity resumed: every layer regrows at once
    assert not any(plastic.all_zero[k] for k in range(WINDOW[1] + 1, 561))
    assert not any(plastic.silenced.values())

    direct = _probe_run(tiny_runs["direct"], "erasure")
    assert not direct.any_zero_layer[500]
    assert all(direct.all_zero[k] for k in range(WINDOW[0], 561))  # its weights are its genome: stay 0
    assert not any(direct.all_zero[k] for k in range(1, WINDOW[0]))


def test_silencing_keeps_the_weights_through_the_window(tiny_runs):
    plastic = _probe_run(tiny_runs["plastic"], "silencing")
    assert [k for k, s in plastic.silenced.items() if s] == list(range(WINDOW[0], WINDOW[1] + 1))
    assert not plastic.any_zero_layer[500]
    for k in (501, 525, 549):  # kept, and plasticity paused
        assert _same(plastic.snap[k], plastic.snap[500])
    assert not _same(plastic.snap[550], plastic.snap[549])  # plasticity runs again after the window

    direct = _probe_run(tiny_runs["direct"], "silencing")
    assert not direct.any_zero_layer[500]
    for k in (501, 549, 550, 560):
        assert _same(direct.snap[k], direct.snap[500])


@pytest.mark.parametrize("kind", ["plastic", "direct"])
def test_neuron_loss_blocked_neurons_never_spike_and_keep_zero_synapses(tiny_runs, kind):
    loaded = load_run(tiny_runs[kind])
    damage = injury.permanent_damage("neurons", 0.5, seed=3)
    blocked = damage[0].mask(loaded.cfg.agent.hidden[0])
    assert blocked.sum() == 8

    class Probe:
        def __init__(self):
            self.checked, self.alive_spikes = 0, 0.0

        def _check(self, agent):
            s = agent.hidden_states[0].s  # [P, 16]
            assert torch.count_nonzero(s[:, blocked]) == 0
            assert torch.count_nonzero(agent.hidden_states[0].v[:, blocked]) == 0
            w = agent.weights
            assert torch.count_nonzero(w["l0"][:, :, blocked]) == 0  # incoming
            assert torch.count_nonzero(w["out"][:, blocked, :]) == 0  # outgoing
            self.alive_spikes += float(s[:, ~blocked].abs().sum())
            self.checked += 1

        def before_step(self, t, agent, obs):
            self._check(agent)

        def after_step(self, t, agent, reward):
            self._check(agent)

    probe = Probe()
    injury.evaluate_damage(loaded, loaded.genome("center"), loaded.spec.train_goals()[[0, 5]], [0, 1], 80,
                           damage, probes=[probe])
    assert probe.checked == 160
    if kind == "plastic":
        assert probe.alive_spikes > 0  # the other neurons do work, so the test can fail


def test_recovery_metrics_on_a_negative_reward_curve():
    pre, low = -2.0, -6.0
    curve = np.full(1000, pre)
    curve[500:549] = low  # steps 501..549
    ramp = low + (pre - low) * (np.arange(550, 650) - 549) / 100  # steps 550..649 back to pre
    curve[549:649] = ramp
    m = injury.recovery_metrics(curve, WINDOW)
    assert m["pre"] == pytest.approx(pre) and m["min"] == pytest.approx(low) and m["min_raw"] == pytest.approx(low)
    assert m["threshold"] == pytest.approx(low + 0.9 * (pre - low))
    # the centred 20-step average at step k is the ramp at k - 0.5: first >= -2.4 at step 640
    assert m["recovery_step"] == 640 and m["recovery_steps"] == 91 and m["recovered"]
    stuck = curve.copy()
    stuck[549:] = low
    stuck[700:710] = pre  # a 10-step blip is not a recovery (must hold 20 smoothed steps)
    m = injury.recovery_metrics(stuck, WINDOW)
    assert m["recovery_steps"] is None and not m["recovered"]


def test_temporary_compare_cli_both_runs_in_one_json_and_png(tiny_runs, tmp_path, capsys):
    out = tmp_path / "inj"
    res = _cli_json(capsys, ["injury", str(tiny_runs["plastic"]), "--mode", "temporary", "--compare",
                             str(tiny_runs["direct"]), "--episode-steps", "560", "--seeds", "1",
                             "--out", str(out), "--json"])
    assert res["window"] == [501, 549] and res["episode_steps"] == 560 and len(res["goals"]) == 8
    assert [r["kind"] for r in res["runs"]] == ["plastic", "direct"]
    assert res["compare"] == str(tiny_runs["direct"])
    for r in res["runs"]:
        assert set(r["conditions"]) == {"intact", "erasure", "silencing"}
        for m in r["conditions"].values():
            assert set(m) >= {"pre", "min", "min_step", "threshold", "recovery_steps", "recovered",
                              "return_mean", "return_std", "curve"}
            assert len(m["curve"]) == 560 and m["min_step"] >= 501
    assert "WeightErasure(start=501, stop=549)" in res["damage"]["erasure"]
    assert _is_png(res["png"]) and (out / "temporary.json").is_file()


def test_temporary_window_must_fit_the_episode(tiny_runs, tmp_path, capsys):
    argv = ["injury", str(tiny_runs["plastic"]), "--mode", "temporary", "--episode-steps", "300",
            "--out", str(tmp_path)]
    assert main(argv) == 2
    err = _error_line(capsys)
    assert "501" in err and "--episode-steps 550" in err
    assert not any(tmp_path.iterdir())


def test_temporary_short_window_default_out(tiny_runs, tmp_path, capsys):
    run_dir = tmp_path / "copy"
    shutil.copytree(tiny_runs["plastic"], run_dir)
    argv = ["injury", str(run_dir), "--mode", "temporary", "--window", "21", "25", "--episode-steps", "60",
            "--seeds", "1"]
    assert main(argv) == 0
    assert "erasure" in capsys.readouterr().out
    res = json.loads((run_dir / "injury" / "temporary.json").read_text())
    assert len(res["runs"]) == 1 and res["window"] == [21, 25] and res["compare"] is None
    assert _is_png(run_dir / "injury" / "temporary.png")
    assert main(argv) == 2 and "--force" in _error_line(capsys)


def test_permanent_compare_gives_both_runs_the_same_damage_objects(tiny_runs, tmp_path, capsys, monkeypatch):
    calls = []
    real = injury.evaluate_damage

    def spy(loaded, genome, goals, seeds, steps, damage, probes=()):
        calls.append((str(loaded.run_dir), tuple(id(p) for p in damage), tuple(map(repr, damage))))
        return real(loaded, genome, goals, seeds, steps, damage, probes)

    monkeypatch.setattr(injury, "evaluate_damage", spy)
    for kind in ("neurons", "synapses"):
        calls.clear()
        res = _cli_json(capsys, ["injury", str(tiny_runs["plastic"]), "--mode", "permanent", "--permanent-kind",
                                 kind, "--fractions", "0,0.5", "--damage-seeds", "2", "--compare",
                                 str(tiny_runs["direct"]), "--episode-steps", "25", "--seeds", "1",
                                 "--out", str(tmp_path), "--json"])
        assert res["fractions"] == [0.0, 0.5] and res["permanent_kind"] == kind
        assert [r["kind"] for r in res["runs"]] == ["plastic", "direct"]
        for r in res["runs"]:
            assert len(r["mean"]) == len(r["std"]) == len(r["points"]) == 2
            assert np.asarray(r["points"][1]["returns"]).shape == (2, 8, 1)  # damage seeds × goals × seeds
        assert _is_png(res["png"]) and res["png"].endswith(f"permanent_{kind}.png")
        by_damage = {}
        for run_dir, ids, reprs in calls:
            by_damage.setdefault(ids, set()).add(run_dir)
        assert len(by_damage) == 4  # 2 fractions × 2 damage seeds, each one set of objects ...
        assert all(v == {str(tiny_runs["plastic"]), str(tiny_runs["direct"])} for v in by_damage.values())
        assert any("seed=1" in r for _, _, reprs in calls for r in reprs)


# ------------------------------------------------------------------------------- explicit goals
def test_eval_explicit_goals_report_extrapolation(tiny_runs, tmp_path, capsys):
    argv = ["eval", str(tiny_runs["plastic"]), "--goals", "2.125,12", "--seeds", "1", "--genome", "center",
            "--episode-steps", "10", "--out", str(tmp_path)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "extrapolated" in text and "12" in text.split("extrapolated", 1)[1]
    res = json.loads((tmp_path / "eval_goals_2.125_12.json").read_text())
    assert res["goal_set"] == "2.125,12" and res["goals"] == [2.125, 12.0]
    assert [p["extrapolated"] for p in res["genomes"]["center"]["per_goal"]] == [False, True]
    assert res["genomes"]["center"]["n_seen_goals"] == 1 and res["genomes"]["center"]["n_extrapolated_goals"] == 1
    assert _is_png(tmp_path / "eval_goals_2.125_12.png")


@pytest.mark.parametrize("command", [["eval"], ["injury", "--mode", "permanent"], ["analyze"]])
def test_every_goals_argument_takes_lists_and_rejects_bad_values_in_one_line(tiny_runs, tmp_path, capsys, command):
    argv = [command[0], str(tiny_runs["direct"]), *command[1:], "--goals", "3,x", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    err = _error_line(capsys)
    assert "--goals '3,x'" in err and "'x'" in err and "interp72" in err and "comma-separated" in err
    assert not (tmp_path / "o").exists()
    ok = [command[0], str(tiny_runs["direct"]), *command[1:], "--goals", "3,11", "--seeds", "1",
          "--episode-steps", "10", "--out", str(tmp_path / "ok")]
    if command[0] == "injury":
        ok += ["--fractions", "0"]
    if command[0] == "analyze":
        ok += ["--every", "5", "--phases", "2"]
    assert main(ok + ["--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["goals"] == [3.0, 11.0] and res["extrapolated"] == [False, True]
