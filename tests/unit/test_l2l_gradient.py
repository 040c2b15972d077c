"""The gradient inner loop (`pdlf.l2l_gradient*`): surrogate, forward, masks, criterion, reports."""

import json
import math

import numpy as np
import pytest
import torch

import pdlf.l2l_gradient as lg
from pdlf.errors import ConfigError
from pdlf.l2l import trials_to_threshold
from pdlf.l2l_gradient import GradL2LConfig, Row, RowOptimizer, criterion_reached, run_sequences
from pdlf.l2l_gradient_net import NetParams, all_masks, forward, init_params, parse_mask, spike
from pdlf.l2l_gradient_report import (build_report, done_when, gradient_l2l_section, range_mean, sequence_summary,
                                      write_outputs)
from pdlf.snn.lif import lif_init, two_compartment_step
from pdlf.snn.network import AgentConfig

torch.set_num_threads(1)
SMALL = AgentConfig(hidden=(8,), neuron="two_compartment", readout="membrane", recurrent=True)


def test_surrogate_value_and_gradient_by_hand():
    u = torch.tensor([-0.1, 0.0, 0.04, 0.2], requires_grad=True)
    s = spike(u, slope=25.0)
    assert s.tolist() == [0.0, 0.0, 1.0, 1.0]  # H(u) = [u > 0]: 0 at the threshold itself
    s.sum().backward()
    # 1 / (1 + 25 |u|)^2: 1 / 3.5^2, 1, 1 / 2^2, 1 / 6^2
    assert u.grad.tolist() == pytest.approx([1 / 12.25, 1.0, 0.25, 1 / 36])


def _hand_net(before_reset: bool) -> NetParams:
    t = {"l0": torch.tensor([[[0.3, -0.5]]]), "rec0": torch.tensor([[[0.0, 0.2], [0.1, 0.0]]]),
         "out": torch.tensor([[[2.0], [1.0]]]),
         "tau_d.0": torch.zeros(1, 2),                       # retention sigmoid(0) = 1/2: tau_d = 2
         "tau_s.0": torch.full((1, 2), -math.log(3.0)),      # retention 1/4: tau_s = 4
         "theta.0": torch.full((1, 2), math.log(0.1))}
    t = {k: v.clone().requires_grad_(True) for k, v in t.items()}
    return NetParams(t, (2,), recurrent=True, ternary=True, two_compartment=True, membrane=True, before_reset=before_reset)


def test_two_compartment_forward_by_hand():
    x = torch.tensor([[[1.0], [0.0]]])  # [S=1, T=2, C=1]
    # step 1: I = (0.3, -0.5); d = I / 2 = (0.15, -0.25); v = 3/4 d = (0.1125, -0.1875): spikes (+1, -1)
    # step 2: I = s1 R = (-0.1, 0.2); d = I + (d1 - I) / 2 = (0.025, -0.025); v = 3/4 d (reset to 0): no spike
    y = forward(_hand_net(before_reset=True), x)
    assert y[0].tolist() == pytest.approx([2 * 0.1125 - 0.1875, 2 * 0.01875 - 0.01875])
    y = forward(_hand_net(before_reset=False), x)  # after the reset both neurons read 0 at step 1
    assert y[0].tolist() == pytest.approx([0.0, 2 * 0.01875 - 0.01875])
    p = _hand_net(True)
    assert p.properties(0)["tau_d"][0].tolist() == pytest.approx([2.0, 2.0])
    assert p.properties(0)["tau_s"][0].tolist() == pytest.approx([4.0, 4.0])


def test_forward_equals_the_projects_neuron_step():
    torch.manual_seed(0)
    p = init_params(AgentConfig(hidden=(6,), neuron="two_compartment", readout="membrane", recurrent=False), 3, [0, 1],
                    init_gain=3.0)
    p.before_reset = False
    x = torch.randn(2, 7, 3)
    state, ys = lif_init(2, 6, dendrite=True), []
    props = p.properties(0)
    for k in range(7):
        current = torch.bmm(x[:, k:k + 1], p.tensors["l0"])[:, 0]
        state = two_compartment_step(current, state, props["tau_d"], props["tau_s"], props["theta"])
        ys.append(torch.bmm(state.v[:, None], p.tensors["out"])[:, 0, 0])
    assert torch.allclose(forward(p, x), torch.stack(ys, 1), atol=1e-6)
    assert float(torch.stack(ys, 1).detach().abs().sum()) > 0


def test_gradient_reaches_every_leaf_and_tau_stays_above_one():
    p = init_params(SMALL, 8, [3], init_gain=2.0)
    y = forward(p, torch.rand(1, 10, 8))
    grads = torch.autograd.grad(y.pow(2).sum(), list(p.tensors.values()))
    assert all(float(g.abs().sum()) > 0 for g in grads)
    with torch.no_grad():
        p.tensors["tau_d.0"] += 40.0   # any raw value: retention in (0, 1), so tau > 1
        p.tensors["tau_s.0"] -= 40.0
    props = p.properties(0)
    assert bool((props["tau_d"] >= 1).all()) and bool((props["tau_s"] > 1).all())


def test_masks_parse_and_bad_mask_is_one_line():
    assert len(all_masks()) == 8 and len(set(all_masks())) == 8
    assert parse_mask("theta,tau_d") == ("tau_d", "theta")
    assert parse_mask("none") == () and parse_mask("all") == ("tau_d", "tau_s", "theta")
    with pytest.raises(ConfigError) as err:
        parse_mask("tau_d,tau_m")
    msg = str(err.value)
    assert "\n" not in msg and "'tau_m'" in msg and "tau_d, tau_s, theta" in msg
    with pytest.raises(ConfigError):
        Row(0, "theta,vth")


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_masked_properties_stay_exactly_at_their_initial_values(optimizer):
    rows = [Row(0, (), 0.05), Row(1, ("theta",), 0.05), Row(2, "all", 0.05)]
    p = init_params(SMALL, 8, [r.seed for r in rows], init_gain=2.0)
    before = {k: v.detach().clone() for k, v in p.tensors.items()}
    opt = RowOptimizer(p, rows, GradL2LConfig(agent=SMALL, optimizer=optimizer))  # Adam's moments would move a paused row
    active = torch.tensor([True, True, True])

    def steps(k):
        for _ in range(k):
            y = forward(p, torch.rand(3, 6, 8))
            grads = torch.autograd.grad(y.pow(2).sum() + y.sum(), [p.tensors[n] for n in opt.learned])
            opt.step(dict(zip(opt.learned, grads)), active)
    steps(3)
    paused = {k: v.detach().clone() for k, v in p.tensors.items()}
    active[2] = False  # row 2 finished its sequence: Adam's moments must not move it any more
    steps(3)
    t = p.tensors
    for prop in ("tau_d.0", "tau_s.0"):
        assert torch.equal(t[prop][:2], before[prop][:2])      # masked off in rows 0 and 1
    assert torch.equal(t["theta.0"][0], before["theta.0"][0])
    assert not torch.equal(t["theta.0"][1], before["theta.0"][1])
    assert not torch.equal(t["l0"][0], before["l0"][0])
    assert not torch.equal(t["tau_s.0"][2], before["tau_s.0"][2])   # row 2 learned every property
    for name in t:                                                  # ... then, inactive, nothing moved
        assert torch.equal(t[name][2], paused[name][2])


def test_criterion_matches_trials_to_threshold():
    rng = np.random.default_rng(1)
    for _ in range(50):
        correct = rng.random(60) < 0.8
        first = next((n for n in range(1, 61) if criterion_reached(correct[:n], 0.9, 20)), None)
        assert first == trials_to_threshold(correct, 0.9, 20)


def _scripted(monkeypatch, targets: np.ndarray, answer: float):
    """Problems whose targets are ``targets`` on every problem, and a network that always answers
    ``answer`` (its readout depends on a leaf, so the gradient step runs)."""
    def draw(self, seed):
        return np.zeros((len(targets), self.steps, self.obs_dim), np.float32), targets

    def fake_forward(params, x):
        return sum(t.sum() for t in params.tensors.values()) * 0.0 + torch.full(x.shape[:2], answer)
    monkeypatch.setattr(lg.Problems, "draw", draw)
    monkeypatch.setattr(lg, "forward", fake_forward)


def test_trials_and_failures_counted_by_hand(monkeypatch):
    cfg = GradL2LConfig(problems=3, trial_limit=40, agent=SMALL)
    targets = np.array([0] * 5 + [1] * 35, dtype=np.int8)
    _scripted(monkeypatch, targets, answer=1.0)
    # misses in the window ending at trial n: max(0, 5 - (n - 20)) <= 2 first at n = 23
    assert [r.trials for r in run_sequences(cfg, [Row(0), Row(1)])] == [[23, 23, 23], [23, 23, 23]]
    _scripted(monkeypatch, targets, answer=0.0)  # right on the first 5 trials only: never 90 %
    res = run_sequences(cfg, [Row(0)])[0]
    assert res.trials == [None, None, None]
    summary = build_report(cfg, [res])["seeds"][0]
    assert summary["failures"] == 3 and summary["problems"] == 3


def test_sequences_are_reproducible_and_rows_independent():
    cfg = GradL2LConfig(family="gng_dr2", problems=3, trial_limit=60, agent=SMALL)
    a = run_sequences(cfg, [Row(0, "theta", 0.02), Row(5, (), 0.01)])
    b = run_sequences(cfg, [Row(0, "theta", 0.02)])
    assert a[0].trials == b[0].trials
    assert a[0].trials != a[1].trials or a[0].row != a[1].row


def test_range_means_and_done_when_by_hand():
    t = [100] * 10 + [None] + [30] * 189
    assert range_mean(t, 1, 10, 2000) == 100.0
    assert range_mean(t, 101, 200, 2000) == 30.0
    assert range_mean(t, 502, 1001, 2000) is None
    assert range_mean([None, 20], 1, 2, 2000) == 1010.0
    long = sequence_summary(lg.SequenceResult(Row(0), [50] * 500 + [None] + [20] * 499), 2000)["mean_trials"]
    assert long["last 500"] == pytest.approx((2000 + 20 * 499) / 500) and long["502-1001"] is None
    seed = {"mean_trials": {"1-10": 100.0, "101-200": 30.0}, "failures": 1, "failures_after_50": 0}
    d = done_when([seed] * 3, 200)
    assert d["ratio_101_200_to_1_10"] == pytest.approx(0.3) and d["met"]
    assert not done_when([seed] * 2, 200)["met"]                          # fewer than 3 seeds
    assert not done_when([{**seed, "failures": 3}] * 3, 200)["met"]        # 9 of 600 > 1 %
    assert not done_when([{**seed, "failures_after_50": 1}] * 3, 200)["met"]
    assert not done_when([{**seed, "mean_trials": {"1-10": 80.0, "101-200": 30.0}}] * 3, 200)["met"]


def test_outputs_and_report_section_from_the_saved_json(tmp_path):
    cfg = GradL2LConfig(problems=12, trial_limit=50, agent=SMALL)
    res = [lg.SequenceResult(Row(s), [40, None, *([25] * 10)], 1.5) for s in (0, 1, 2)]
    write_outputs(build_report(cfg, res), tmp_path)
    report = json.loads((tmp_path / "l2l_grad.json").read_text())
    assert report["seeds"][0]["mean_trials"]["1-10"] == pytest.approx((40 + 50 + 8 * 25) / 10)
    assert (tmp_path / "l2l_grad.csv").read_text().splitlines()[2] == "2,,,"
    assert (tmp_path / "l2l_grad.png").stat().st_size > 1000
    lines = gradient_l2l_section([report])
    assert lines[0].startswith("###") and any("Goudar" in x and "2,895" in x for x in lines)
    assert sum(x.startswith("| gng_dr4 |") for x in lines) == 3
