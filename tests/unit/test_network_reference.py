"""`PlasticSNN.act` against an independent plain-torch reference written from the spec (§1, §2).

The reference keeps every weight matrix in its natural ``[P, n_in, n_out]`` orientation, builds
the flat genome itself from the documented layout (layers in network order ``l0.., out``, genes in
the rule's order ``eta, A, B, C, D``, each block row-major ``[n_in, n_out]``), and steps:

    I = pre_spikes · W                    (first layer: pre = the input x)
    m = I + (m_prev - I) / tau
    s = +1 if m > theta, -1 if m < -theta, else 0      (binary: s = [m > theta])
    m = 0 where s != 0
    z = z_prev / e + s (1 - 1/e)
    a = s_last · W_out
    per layer: W += eta (A (x y^T - C x 1^T) + B 1 y^T + D);  W /= max|W|  (per agent)
      with (x, y) = (input, z) for l0, (z^{l-1}, z^l) hidden→hidden, (z_last, a) for the readout.
"""

from __future__ import annotations

import math

import pytest
import torch

from pdlf.plasticity.catalog import RuleConfig
from pdlf.snn.network import AgentConfig, PlasticSNN

GENES = ("eta", "A", "B", "C", "D")
POP, OBS, ACT, STEPS = 2, 3, 2, 6


def _layer_sizes(hidden):
    sizes = [OBS, *hidden]
    names = [f"l{i}" for i in range(len(hidden))] + ["out"]
    dims = [(sizes[i], sizes[i + 1]) for i in range(len(hidden))] + [(sizes[-1], ACT)]
    return list(zip(names, dims))


def _random_genes(hidden, seed):
    """``{layer: {gene: [P, n_in, n_out]}}`` float64, natural orientation."""
    gen = torch.Generator().manual_seed(seed)
    genes = {}
    for name, (n_in, n_out) in _layer_sizes(hidden):
        g = {k: torch.randn(POP, n_in, n_out, generator=gen, dtype=torch.float64) for k in GENES}
        g["eta"] = 0.2 + torch.rand(POP, n_in, n_out, generator=gen, dtype=torch.float64)
        genes[name] = g
    return genes


def _flat_genome(hidden, genes):
    """The flat genome ``[P, L]`` in the documented order, assembled here (not by the layout)."""
    parts = [genes[name][k].reshape(POP, -1) for name, _ in _layer_sizes(hidden) for k in GENES]
    return torch.cat(parts, dim=1)


def _reference(hidden, genes, xs, tau, theta, ternary):
    """Run the reference over inputs ``xs`` ``[T, P, OBS]``; per step: (action, weights, states)."""
    layers = _layer_sizes(hidden)
    w = {name: torch.zeros(POP, n_in, n_out, dtype=torch.float64) for name, (n_in, n_out) in layers}
    m = [torch.zeros(POP, h, dtype=torch.float64) for h in hidden]
    z = [torch.zeros(POP, h, dtype=torch.float64) for h in hidden]
    out = []
    for x in xs:
        spikes_in, act_in = x, x
        activity = []  # (layer, pre, post) for the rule
        states = []
        for i in range(len(hidden)):
            name = f"l{i}"
            current = torch.einsum("pi,pio->po", spikes_in, w[name])
            mem = current + (m[i] - current) / tau
            if ternary:
                s = torch.where(mem > theta, 1.0, torch.where(mem < -theta, -1.0, 0.0)).to(torch.float64)
            else:
                s = (mem > theta).to(torch.float64)
            mem = torch.where(s != 0, torch.zeros_like(mem), mem)
            z[i] = z[i] / math.e + s * (1 - 1 / math.e)
            m[i] = mem
            activity.append((name, act_in, z[i]))
            states.append((mem.clone(), s.clone(), z[i].clone()))
            spikes_in, act_in = s, z[i]
        action = torch.einsum("pi,pio->po", spikes_in, w["out"])
        activity.append(("out", act_in, action))
        for name, pre, post in activity:
            g = genes[name]
            xx, yy = pre[:, :, None], post[:, None, :]
            dw = g["eta"] * (g["A"] * (xx * yy - g["C"] * xx) + g["B"] * yy + g["D"])
            new = w[name] + dw
            mx = new.abs().amax(dim=(1, 2), keepdim=True)
            w[name] = new / torch.where(mx > 0, mx, torch.ones_like(mx))
        out.append((action.clone(), {k: v.clone() for k, v in w.items()}, states))
    return out


CASES = [
    pytest.param((4,), math.e, 0.1, "ternary", id="pdlf-defaults-3-4-2"),
    pytest.param((5, 3), 2.0, 0.3, "ternary", id="two-layers-5-3-tau2-theta0.3"),
    pytest.param((4,), 1.5, 0.2, "binary", id="binary-3-4-2"),
]


@pytest.mark.parametrize("hidden,tau,theta,spikes", CASES)
def test_act_matches_the_hand_written_reference(hidden, tau, theta, spikes):
    genes = _random_genes(hidden, seed=5)
    genome = _flat_genome(hidden, genes)
    agent = PlasticSNN(OBS, ACT, AgentConfig(hidden=hidden, tau=tau, theta=theta, spikes=spikes, dtype="float64"),
                       RuleConfig(name="pdlf"))
    # the layout names the blocks in the order the reference assumed
    expected_blocks, offset = [], 0
    for name, (n_in, n_out) in _layer_sizes(hidden):
        for k in GENES:
            expected_blocks.append({"name": f"{name}.{k}", "shape": [n_in, n_out], "offset": offset, "size": n_in * n_out})
            offset += n_in * n_out
    assert agent.layout.describe() == expected_blocks and agent.layout.size == genome.shape[1]

    xs = torch.randn(STEPS, POP, OBS, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * 1.5
    ref = _reference(hidden, genes, xs, tau, theta, spikes == "ternary")
    agent.reset(genome)
    for t, (x, (action, weights, states)) in enumerate(zip(xs, ref), start=1):
        got = agent.act(x)
        torch.testing.assert_close(got, action, rtol=1e-10, atol=1e-12, msg=f"action at step {t}")
        w_now = agent.weights
        assert set(w_now) == set(weights)
        for name, w_ref in weights.items():
            assert tuple(w_now[name].shape) == tuple(w_ref.shape)  # [P, n_in, n_out] view
            torch.testing.assert_close(w_now[name], w_ref, rtol=1e-10, atol=1e-12, msg=f"{name} at step {t}")
        for i, (mem, s, z) in enumerate(states):
            got_state = agent.hidden_states[i]
            torch.testing.assert_close(got_state.s, s, rtol=0, atol=0, msg=f"spikes l{i} step {t}")
            torch.testing.assert_close(got_state.v, mem, rtol=1e-10, atol=1e-12, msg=f"membrane l{i} step {t}")
            torch.testing.assert_close(got_state.z, z, rtol=1e-10, atol=1e-12, msg=f"trace l{i} step {t}")

    # the comparison exercised what it claims to: first action 0 (zero weights), then some non-zero
    # actions; spikes (of both signs if ternary), resets and sub-threshold membranes all occurred
    assert torch.count_nonzero(ref[0][0]) == 0
    assert any(torch.count_nonzero(a) > 0 for a, _, _ in ref[1:])
    all_s = torch.cat([s for _, _, st in ref for _, s, _ in st], dim=1)
    assert (all_s > 0).any() and (not spikes == "ternary" or (all_s < 0).any())
    all_m = torch.cat([m for _, _, st in ref for m, _, _ in st], dim=1)
    assert (all_m != 0).any() and (all_m == 0).any()
    assert ((all_m.abs() > 0.5 * theta) & (all_m.abs() <= theta)).any()  # near misses: the threshold matters


def test_readout_is_stored_transposed_but_read_and_used_in_natural_orientation():
    """The readout (4 -> 2) is stored ``[P, n_out, n_in]``; a non-symmetric readout makes any
    orientation mix-up visible in the action: a = s · W_out with W_out ``[n_in, n_out]``."""
    hidden = (4,)
    genes = _random_genes(hidden, seed=1)
    for g in genes.values():  # only D acts: W after step 1 = D / max|D|
        for k in ("A", "B", "C"):
            g[k].zero_()
        g["eta"].fill_(1.0)
    d_out = torch.tensor([[1.0, -0.25], [0.5, 0.0], [-0.75, 0.125], [0.0, 0.375]], dtype=torch.float64)
    genes["out"]["D"] = d_out.expand(POP, 4, 2).clone()
    genes["l0"]["D"] = torch.tensor([[1.0, -1.0, 1.0, -1.0]] * 3, dtype=torch.float64).expand(POP, 3, 4).clone()
    agent = PlasticSNN(OBS, ACT, AgentConfig(hidden=hidden, dtype="float64"), RuleConfig(name="pdlf"))
    agent.reset(_flat_genome(hidden, genes))
    agent.act(torch.zeros(POP, OBS, dtype=torch.float64))
    torch.testing.assert_close(agent.weights["out"], d_out.expand(POP, 4, 2), rtol=0, atol=0)
    # a big positive input drives every hidden neuron: spikes +1, -1, +1, -1
    a = agent.act(torch.full((POP, OBS), 10.0, dtype=torch.float64))
    torch.testing.assert_close(agent.hidden_states[0].s, torch.tensor([[1.0, -1.0, 1.0, -1.0]] * POP, dtype=torch.float64))
    # the action of step 2 used W_out after step 1: s · D_out / max|D_out| = s · D_out
    s = torch.tensor([1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    expected = s @ d_out  # (1 - 0.5 - 0.75 - 0, -0.25 - 0 + 0.125 - 0.375)
    assert expected.tolist() == [-0.25, -0.5]
    torch.testing.assert_close(a, expected.expand(POP, 2), rtol=0, atol=1e-15)
