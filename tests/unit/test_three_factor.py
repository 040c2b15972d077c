"""Three-factor plasticity (`pdlf.plasticity.three_factor`) and its modulators
(`pdlf.plasticity.modulators`), against hand-computed values."""

import math

import pytest
import torch

from pdlf.plasticity import three_factor as tf
from pdlf.plasticity.modulators import (feedback_gate, feedback_read, modulator_blocks, perturbation_noise,
                                        reward_prediction_error)

D = torch.float64


def _t(values):
    return torch.tensor(values, dtype=D)


def test_hebbian_eligibility_and_update_by_hand():
    # one agent, 1 input, 1 output; lambda = 0.5, eta = 2, the modulator arrives on the 2nd step only
    trace = tf.HebbTrace.zeros(1, 1, 1, torch.zeros(1, dtype=D))
    w = torch.zeros(1, 1, 1, dtype=D)
    lam, eta = _t([[[0.5]]]), _t([[[2.0]]])
    # step 1: u = 1, y = 2, means 0 -> e = 1 * 2 = 2; M = 0 -> no change; means 0.1, 0.2
    tf.hebb_update_(w, trace, _t([[1.0]]), _t([[2.0]]), eta, lam, _t([[0.0]]))
    assert float(trace.e) == pytest.approx(2.0) and float(w) == 0.0
    assert float(trace.u_mean) == pytest.approx(0.1) and float(trace.y_mean) == pytest.approx(0.2)
    # step 2: u = 0, y = 1: centred (0 - 0.1)(1 - 0.2) = -0.08; e = 0.5 * 2 - 0.08 = 0.92; M = 3
    tf.hebb_update_(w, trace, _t([[0.0]]), _t([[1.0]]), eta, lam, _t([[3.0]]))
    assert float(trace.e) == pytest.approx(0.92)
    assert float(w) == pytest.approx(2.0 * 3.0 * 0.92)


def test_a_trace_bridges_a_ten_step_gap():
    """Activity at step 0, nothing for 10 steps, then the modulator: the weight changes by the
    fraction lambda^10 of what it would have changed at once, and not at all without the modulator."""
    lam = 0.9
    rate = tf.delta_rate(_t([[[0.0]]]))  # 2 sigmoid(0) = 1
    decay = _t([[[lam]]])
    trace, w = tf.DeltaTrace.zeros(1, 1, torch.zeros(1, dtype=D)), torch.zeros(1, 1, 1, dtype=D)
    closed, opened = _t([[0.0]]), _t([[1.0]])
    tf.delta_update_(w, trace, _t([[1.0]]), rate, decay, _t([[1.0]]), closed)  # the stimulus, gate closed
    for _ in range(9):
        tf.delta_update_(w, trace, _t([[0.0]]), rate, decay, _t([[1.0]]), closed)
        assert float(w) == 0.0  # no third factor, no change
    tf.delta_update_(w, trace, _t([[0.0]]), rate, decay, _t([[1.0]]), opened)  # feedback 10 steps later
    e = lam**10
    assert float(trace.e) == pytest.approx(e)
    assert float(w) == pytest.approx(e * 1.0 / (tf.DELTA_EPS + e * e))
    # the readout now answers the remembered input with the target (up to the regulariser)
    assert float(w) * e == pytest.approx(e * e / (tf.DELTA_EPS + e * e))


def test_delta_rule_with_rate_one_reaches_the_target_in_one_step():
    gen = torch.Generator().manual_seed(0)
    u = torch.randn(3, 5, generator=gen, dtype=D) * 10  # |e|^2 >> DELTA_EPS
    w = torch.randn(3, 5, 2, generator=gen, dtype=D)
    target = torch.randn(3, 2, generator=gen, dtype=D)
    y_old = torch.bmm(u.unsqueeze(1), w).squeeze(1)
    trace = tf.DeltaTrace.zeros(3, 5, u)
    # lambda = sigmoid(-inf) = 0 here: the eligible input is this step's
    tf.delta_update_(w, trace, u, _t([[[1.0]]]), torch.zeros(3, 1, 1, dtype=D), target, torch.ones(3, 2, dtype=D))
    y_new = torch.bmm(u.unsqueeze(1), w).squeeze(1)
    norm = (u * u).sum(1, keepdim=True)
    # exact form: y_new = y_old + (T - y_old) |u|^2 / (eps + |u|^2)
    assert torch.allclose(y_new, y_old + (target - y_old) * norm / (tf.DELTA_EPS + norm), atol=1e-9)
    assert torch.allclose(y_new, target, atol=1e-3)


def test_delta_rate_and_decay_are_bounded():
    g = _t([-1e3, -3.0, 0.0, 3.0, 1e3])
    rate, lam = tf.delta_rate(g), tf.eligibility_decay(g)
    assert (rate >= 0).all() and (rate <= 2).all() and float(rate[2]) == 1.0
    assert (lam >= 0).all() and (lam <= 1).all() and float(lam[2]) == 0.5


def test_modulator_reads_by_hand():
    fb = _t([[0.0, 1.0], [1.0, 0.0]])  # agent 0 told "go", agent 1 "no-go"
    read = _t([[[2.0], [5.0]], [[2.0], [5.0]]])  # [P, n_fb, 1]
    bias = _t([[[0.5]], [[0.5]]])
    assert feedback_read(fb, read, bias).tolist() == [[5.5], [2.5]]
    assert feedback_gate(fb, read, -bias * 10).tolist() == [[0.0], [0.0]]
    assert feedback_gate(fb, read * 0.1, bias * 0).tolist() == [[0.5], [0.2]]
    delta, baseline = reward_prediction_error(_t([[1.0]]), _t([[3.0]]), _t([[0.25]]))
    assert float(delta) == 2.0 and float(baseline) == 1.5


def test_modulator_genes_per_source():
    layers = [("out", 3, "tf_delta"), ("l0", 4, "tf_hebb")]
    fb = modulator_blocks("feedback", layers, 2)
    assert fb == [("mod", "out.read", (2, 3)), ("mod", "out.bias", (1, 3)), ("mod", "out.gate", (2, 3)),
                  ("mod", "out.gate_bias", (1, 3)), ("mod", "l0.read", (2, 4)), ("mod", "l0.bias", (1, 4))]
    assert modulator_blocks("reward", layers, 2) == [("mod", "baseline", (1, 1))]
    assert modulator_blocks("perturbation", layers, 0) == [("mod", "baseline", (1, 1)), ("mod", "out.noise", (1, 1)),
                                                           ("mod", "l0.noise", (1, 1))]


def test_perturbation_noise_depends_on_the_agent_seed_only():
    seeds = torch.tensor([7, 8, 9, 7], dtype=torch.int64)
    xi = perturbation_noise(seeds, step=3, n=1000)
    assert xi.shape == (4, 1000) and (xi >= -1).all() and (xi < 1).all()
    assert torch.equal(xi[0], xi[3])  # same seed, same noise, wherever it sits in the batch
    assert torch.equal(perturbation_noise(seeds[1:2], 3, 1000)[0], xi[1])
    assert not torch.equal(xi[0], xi[1])
    assert not torch.equal(perturbation_noise(seeds, 4, 1000), xi)  # fresh every step
    assert not torch.equal(perturbation_noise(seeds, 3, 1000, salt=1), xi)  # and per layer
    assert abs(float(xi.mean())) < 0.05 and float(xi.var()) == pytest.approx(1 / 3, abs=0.03)  # uniform [-1, 1)
    assert math.isfinite(float(xi.sum()))
