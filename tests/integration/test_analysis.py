"""`pdlf analyze` and the recording hooks on the tiny trained runs (real MuJoCo, in-process)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from pdlf.analysis import PNGS
from pdlf.cli import main
from pdlf.evaluation import evaluate_genome
from pdlf.plasticity.rules import RuleCoefficients
from pdlf.recording import ActivityRecorder, WeightRecorder, pca_2d, phase_firing_rates
from pdlf.runs import load_run
from pdlf.stdp import stdp_window

pytestmark = pytest.mark.integration

STEPS = 60


def _analyze(capsys, run_dir, out, *extra):
    code = main(["analyze", str(run_dir), "--episode-steps", str(STEPS), "--every", "20", "--phases", "3",
                 "--out", str(out), "--json", *extra])
    captured = capsys.readouterr()
    return code, captured


class _Probe:
    """Clones the weights and hidden states around chosen steps, independently of the recorders."""

    def __init__(self, steps):
        self.steps = set(steps)
        self.before: dict[int, dict[str, torch.Tensor]] = {}
        self.after: dict[int, tuple] = {}

    def before_step(self, step, agent, obs):
        self.before[step] = {k: w.clone() for k, w in agent.weights.items()}

    def after_step(self, step, agent, reward):
        if step in self.steps:
            self.after[step] = tuple((s.s.clone(), s.z.clone()) for s in agent.hidden_states)


def test_analyze_plastic_run_writes_figures_and_numbers(tiny_runs, tmp_path, capsys):
    out = tmp_path / "plastic"
    code, captured = _analyze(capsys, tiny_runs["plastic"], out, "--tensorboard")
    assert code == 0, captured.err
    result = json.loads(captured.out)
    for key in ("run_dir", "kind", "pngs", "firing_rates", "pca_explained_variance", "stdp"):
        assert key in result
    assert result["kind"] == "plastic"
    assert set(result["pngs"]) == set(PNGS)
    for path in result["pngs"].values():
        assert path is not None and (out / path.rsplit("/", 1)[-1]).stat().st_size > 1000
    assert json.loads((out / "analysis.json").read_text()) == result
    assert any((out / "tb").glob("events.out.tfevents.*"))
    assert result["weight_snapshot_steps"] == [1, 21, 41]

    goals = result["goals"]
    layer = result["firing_rates"]["layers"]["l0"]
    assert result["firing_rates"]["phase_steps"] == [[1, 20], [21, 40], [41, 60]]  # 1-based, inclusive
    assert np.asarray(layer["per_neuron"]).shape == (len(goals), 3, 16)
    rates = np.asarray(layer["mean"], dtype=float)
    assert rates.shape == (len(goals), 3) and np.all((rates >= 0) & (rates <= 1))

    ratio = result["pca_explained_variance"]
    assert len(ratio) == 2 and 0 < ratio[1] <= ratio[0] <= 1

    stdp = result["stdp"]
    assert stdp["skipped"] is None and stdp["lags"] == list(range(-10, 11))
    assert len(stdp["mean_dw"]) == 21 and all(math.isfinite(v) for v in stdp["mean_dw"])
    assert set(stdp["layers"]) == {"l0", "out"} and len(stdp["synapses"]) == 4


def test_analyze_direct_run_skips_the_stdp_window(tiny_runs, tmp_path, capsys):
    out = tmp_path / "direct"
    code, captured = _analyze(capsys, tiny_runs["direct"], out)
    assert code == 0, captured.err
    result = json.loads(captured.out)
    assert result["kind"] == "direct"
    assert result["pngs"]["stdp"] is None and not (out / PNGS["stdp"]).exists()
    assert "direct" in result["stdp"]["skipped"] and result["stdp"]["mean_dw"] == []
    for key in ("weights", "firing", "pca"):
        assert (out / PNGS[key]).is_file()


def test_missing_run_dir_fails_with_one_line(tmp_path, capsys):
    code = main(["analyze", str(tmp_path / "nope"), "--episode-steps", "10"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "does not exist" in err


def test_existing_results_are_not_overwritten_without_force(tiny_runs, tmp_path, capsys):
    out = tmp_path / "again"
    out.mkdir()
    (out / "analysis.json").write_text("{}")
    code, captured = _analyze(capsys, tiny_runs["direct"], out)
    assert code == 2
    assert captured.err.count("\n") == 1 and "--force" in captured.err
    assert (out / "analysis.json").read_text() == "{}" and not (out / PNGS["pca"]).exists()
    code, captured = _analyze(capsys, tiny_runs["direct"], out, "--force")
    assert code == 0, captured.err
    assert json.loads((out / "analysis.json").read_text())["kind"] == "direct"


def test_recorders_match_the_agent_state_after_each_step(tiny_runs):
    run = load_run(tiny_runs["plastic"])
    goals, seeds, every, steps = run.spec.train_goals()[:3], [0, 1], 7, 30
    weights = WeightRecorder(every=every, rows=[1, 4])
    activity = ActivityRecorder()
    probe = _Probe(steps=[1, 15, 30])
    evaluate_genome(run.cfg, run.genome("center"), goals, seeds, run.norm,
                    perturbations=[weights, activity, probe], episode_steps=steps)

    assert weights.steps == [1, 8, 15, 22, 29]
    stacked = weights.stacked()
    assert set(stacked) == {"l0", "out"}
    assert stacked["l0"].shape == (5, 2, run.spec.obs_dim, 16) and stacked["l0"].dtype == np.float32
    assert stacked["out"].shape == (5, 2, 16, run.spec.act_dim)
    for k, step in enumerate(weights.steps):
        for name, snap in stacked.items():
            after = probe.before[step + 1][name][[1, 4]].numpy()  # nothing changes between steps
            before = probe.before[step][name][[1, 4]].numpy()
            np.testing.assert_array_equal(snap[k], after)
            assert not np.array_equal(snap[k], before)  # the snapshot is taken after the update

    spikes, traces = activity.spikes(), activity.traces()
    assert len(spikes) == len(traces) == 1
    assert spikes[0].shape == traces[0].shape == (steps, 6, 16)
    assert spikes[0].dtype == np.int8 and traces[0].dtype == np.float32
    assert set(np.unique(spikes[0])) <= {-1, 0, 1}
    for step, ((s, z),) in probe.after.items():  # recordings are indexed from 0, steps from 1
        np.testing.assert_array_equal(spikes[0][step - 1], s.numpy().astype(np.int8))
        np.testing.assert_array_equal(traces[0][step - 1], z.numpy())


def test_stdp_window_matches_the_closed_form():
    # traces of one spike: z_t = (1 - 1/e) e^-t, so sum_t x_t y_t = (1 - 1/e)^2 e^-|lag| / (1 - e^-2)
    # and sum_t x_t = sum_t y_t = 1.
    gen = torch.Generator().manual_seed(0)
    k_xy, k_x, k_y, k_0 = (torch.randn(1, 3, 2, generator=gen, dtype=torch.float64) for _ in range(4))
    lags = np.arange(-10, 11)
    got = stdp_window(RuleCoefficients(k_xy, k_x, k_y, k_0), lags)
    c = 1 - 1 / math.e
    pair = c**2 * np.exp(-np.abs(lags)) / (1 - math.exp(-2))
    want = k_xy[0].numpy() * pair[:, None, None] + (k_x + k_y)[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    only_y = stdp_window(RuleCoefficients(None, None, k_y, None), lags)  # PDP-like: no pairing term
    np.testing.assert_allclose(only_y, np.broadcast_to(k_y[0].numpy(), only_y.shape), rtol=1e-12)


def test_phase_rates_and_pca_on_hand_values():
    spikes = np.zeros((4, 2, 1), dtype=np.int8)
    spikes[:, 0, 0] = [1, -1, 0, 1]
    spikes[:, 1, 0] = [1, 1, 1, 1]
    rates = phase_firing_rates(spikes, lengths=np.array([4, 3]), phases=2)
    np.testing.assert_allclose(rates[0, :, 0], [1.0, 0.5])
    np.testing.assert_allclose(rates[1, :, 0], [1.0, 1.0])  # step 3 is after rollout 1's end
    line = np.outer(np.arange(5.0), [1.0, 2.0, -1.0])
    proj, ratio = pca_2d(line)
    np.testing.assert_allclose(ratio, [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(np.abs(np.diff(proj[:, 0])), np.sqrt(6.0))
    np.testing.assert_array_equal(pca_2d(np.zeros((5, 3)))[1], [0.0, 0.0])
