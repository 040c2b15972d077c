"""LIF neuron: golden sequences worked by hand."""

import math

import torch

from pdlf.snn.lif import lif_init, lif_step

E = math.e


def test_membrane_relaxes_toward_current_and_spikes_ternary():
    state = lif_init(1, 3, dtype=torch.float64)
    tau = torch.full((1, 3), E, dtype=torch.float64)
    theta = torch.full((1, 3), 0.1, dtype=torch.float64)
    current = torch.tensor([[0.05, 0.2, -0.3]], dtype=torch.float64)
    state = lif_step(current, state, tau, theta)
    # m = I + (0 - I)/e = I (1 - 1/e): 0.0316 (no spike), 0.1264 (+1), -0.1896 (-1)
    assert torch.equal(state.s, torch.tensor([[0.0, 1.0, -1.0]], dtype=torch.float64))
    assert torch.allclose(state.v, torch.tensor([[0.05 * (1 - 1 / E), 0.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(state.z, torch.tensor([[0.0, 1 - 1 / E, -(1 - 1 / E)]], dtype=torch.float64))
    # second step, same current: neuron 0 reaches 0.05 (1 - 1/e^2) = 0.0432, still below 0.1
    state = lif_step(current, state, tau, theta)
    assert state.s[0, 0] == 0.0
    assert math.isclose(state.v[0, 0].item(), 0.05 * (1 - 1 / E**2), rel_tol=1e-12)
    # trace of neuron 1 spikes again: z = z/e + (1 - 1/e)
    assert math.isclose(state.z[0, 1].item(), (1 - 1 / E) / E + (1 - 1 / E), rel_tol=1e-12)


def test_binary_spikes_ignore_negative_membranes():
    state = lif_init(1, 2)
    s = lif_step(torch.tensor([[1.0, -1.0]]), state, torch.full((1, 2), E), torch.full((1, 2), 0.1), ternary=False)
    assert torch.equal(s.s, torch.tensor([[1.0, 0.0]]))
    assert s.v[0, 1] < 0  # the negative membrane is kept (no spike, no reset)


def test_per_neuron_threshold():
    state = lif_init(1, 2)
    theta = torch.tensor([[0.1, 1.0]])
    s = lif_step(torch.tensor([[1.0, 1.0]]), state, torch.full((1, 2), E), theta)
    assert torch.equal(s.s, torch.tensor([[1.0, 0.0]]))
