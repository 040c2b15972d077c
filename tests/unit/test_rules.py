"""Plasticity rules against hand-computed values on a 2x3 example, and their contract."""

import pytest
import torch

from pdlf.plasticity.catalog import RULES, RuleConfig
from pdlf.plasticity.genome import GenomeLayout, LayerShape
from pdlf.plasticity.rules import (
    hebb_abcd_rule,
    normalize_max_abs,
    pdlf_coefficients,
    pdlf_rule,
    plastic_update,
)

X = torch.tensor([[1.0, -0.5]], dtype=torch.float64)  # pre, [1, 2]
Y = torch.tensor([[0.5, 0.0, -1.0]], dtype=torch.float64)  # post, [1, 3]
GENES = {
    "eta": torch.full((1, 2, 3), 0.5, dtype=torch.float64),
    "A": torch.tensor([[[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]]], dtype=torch.float64),
    "B": torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]], dtype=torch.float64),
    "C": torch.tensor([[[0.5, 0.0, 0.0], [0.0, 0.0, 1.0]]], dtype=torch.float64),
    "D": torch.tensor([[[0.1, 0.0, 0.0], [0.0, 0.0, -0.1]]], dtype=torch.float64),
}
ZERO_W = torch.zeros(1, 2, 3, dtype=torch.float64)

# dW_ij = eta (A_ij x_i (y_j - C_ij) + B_ij y_j + D_ij), worked by hand:
#   (0,0): 0.5 (1*1*(0.5-0.5) + 0 + 0.1) = 0.05     (1,0): 0.5 (0 + 1*0.5 + 0) = 0.25
#   (1,2): 0.5 (1*(-0.5)*(-1-1) + 0 - 0.1) = 0.45   all others 0
PDLF_DW = [[0.05, 0.0, 0.0], [0.25, 0.0, 0.45]]
SCP_DW = [[0.0, 0.0, 0.0], [0.0, 0.0, 0.5]]  # eta A x (y - C) only
PDP_DW = [[0.05, 0.0, 0.0], [0.25, 0.0, -0.05]]  # eta (B y + D) only
# dW_ij = eta (A x_i y_j + B x_i + C y_j + D):
#   (0,0): 0.5 (0.5 + 0 + 0.25 + 0.1) = 0.425   (0,1): 0.5 (0 + 1 + 0 + 0) = 0.5
#   (1,0): 0.5 (0 - 0.5 + 0 + 0) = -0.25        (1,2): 0.5 (0.5 + 0 - 1 - 0.1) = -0.3
HEBB_DW = [[0.425, 0.5, 0.0], [-0.25, 0.0, -0.3]]


def _genes_for(rule: str) -> dict:
    keep = RuleConfig(name=rule).evolved_genes()
    return {k: v for k, v in GENES.items() if k in keep}


def test_pdlf_rule_hand_values_without_normalisation():
    w = pdlf_rule(ZERO_W, X, Y, GENES, normalize=False)
    assert torch.allclose(w[0], torch.tensor(PDLF_DW, dtype=torch.float64))


def test_pdlf_rule_normalises_by_max_abs():
    w = pdlf_rule(ZERO_W, X, Y, GENES)
    expected = torch.tensor(PDLF_DW, dtype=torch.float64) / 0.45
    assert torch.allclose(w[0], expected)
    assert w.abs().max().item() == pytest.approx(1.0)


@pytest.mark.parametrize("rule, expected", [("scp", SCP_DW), ("pdp", PDP_DW), ("pdlf", PDLF_DW)])
def test_ablations_zero_exactly_their_terms(rule, expected):
    w = pdlf_rule(ZERO_W, X, Y, _genes_for(rule), normalize=False)
    assert torch.equal(w[0], torch.tensor(expected, dtype=torch.float64))


def test_scp_plus_pdp_is_the_full_rule():
    scp = pdlf_rule(ZERO_W, X, Y, _genes_for("scp"), normalize=False)
    pdp = pdlf_rule(ZERO_W, X, Y, _genes_for("pdp"), normalize=False)
    full = pdlf_rule(ZERO_W, X, Y, GENES, normalize=False)
    assert torch.allclose(scp + pdp, full)


def test_hebb_abcd_hand_values():
    w = hebb_abcd_rule(ZERO_W, X, Y, GENES, normalize=False)
    assert torch.allclose(w[0], torch.tensor(HEBB_DW, dtype=torch.float64))


def test_hebb_a_is_plain_hebb():
    w = hebb_abcd_rule(ZERO_W, X, Y, _genes_for("hebb_a"), normalize=False)
    expected = 0.5 * GENES["A"][0] * X[0].unsqueeze(1) * Y[0].unsqueeze(0)
    assert torch.allclose(w[0], expected)


def test_rule_adds_to_existing_weights():
    w0 = torch.full((1, 2, 3), 0.2, dtype=torch.float64)
    w = pdlf_rule(w0, X, Y, GENES, normalize=False)
    assert torch.allclose(w[0], 0.2 + torch.tensor(PDLF_DW, dtype=torch.float64))


def test_normalisation_keeps_zero_weights_finite():
    w = normalize_max_abs(torch.zeros(4, 3, 5))
    assert torch.equal(w, torch.zeros(4, 3, 5))
    zero_genes = {k: torch.zeros_like(v) for k, v in GENES.items()}
    w = pdlf_rule(ZERO_W, X, Y, zero_genes)
    assert torch.isfinite(w).all() and torch.equal(w, ZERO_W)


def test_normalisation_is_per_agent():
    w = torch.stack([torch.full((2, 3), 4.0), torch.full((2, 3), -0.5)])
    n = normalize_max_abs(w)
    assert torch.allclose(n[0], torch.ones(2, 3)) and torch.allclose(n[1], -torch.ones(2, 3))


def test_per_post_and_per_layer_genes_broadcast_like_expanded_ones():
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(3, 4, generator=gen), torch.randn(3, 5, generator=gen)
    post = {k: torch.randn(3, 1, 5, generator=gen) for k in ("eta", "A", "B", "C", "D")}
    expanded = {k: v.expand(3, 4, 5) for k, v in post.items()}
    w0 = torch.randn(3, 4, 5, generator=gen)
    assert torch.allclose(pdlf_rule(w0, x, y, post), pdlf_rule(w0, x, y, expanded), atol=1e-6)


def _loop_reference(w, x, y, g):
    out = w.clone()
    for p in range(w.shape[0]):
        for i in range(w.shape[1]):
            for j in range(w.shape[2]):
                a, b, c, d, e = (g[k][p, i, j] for k in ("A", "B", "C", "D", "eta"))
                out[p, i, j] += e * (a * (x[p, i] * y[p, j] - c * x[p, i]) + b * y[p, j] + d)
    return out


def test_batched_rule_matches_a_per_synapse_loop():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(2, 3, generator=gen, dtype=torch.float64), torch.randn(2, 4, generator=gen, dtype=torch.float64)
    g = {k: torch.randn(2, 3, 4, generator=gen, dtype=torch.float64) for k in ("eta", "A", "B", "C", "D")}
    w0 = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    assert torch.allclose(pdlf_rule(w0, x, y, g, normalize=False), _loop_reference(w0, x, y, g))


@pytest.mark.parametrize("name", [n for n in RULES.names() if RULES.get(n).coefficients is not None])
def test_rule_contract_zero_genes_give_zero_change_and_finite_output(name):
    spec = RULES.get(name)
    layout = GenomeLayout([LayerShape("l0", 3, 4)], RuleConfig(name=name))
    genes = layout.split(torch.zeros(2, layout.size))["l0"]
    x, y = torch.randn(2, 3), torch.randn(2, 4)
    w0 = torch.randn(2, 3, 4)
    w = plastic_update(w0, x, y, spec.coefficients(genes), normalize=False)
    assert torch.equal(w, w0)
    genes = layout.split(torch.randn(2, layout.size) * 10)["l0"]
    w = plastic_update(w0, x, y, spec.coefficients(genes), normalize=True)
    assert w.shape == (2, 3, 4) and torch.isfinite(w).all() and w.abs().max() <= 1.0 + 1e-6


def test_missing_c_means_zero_threshold():
    g = {k: GENES[k] for k in ("eta", "A")}
    c = pdlf_coefficients(g)
    assert c.k_x is None and c.k_y is None and c.k_0 is None


@pytest.mark.parametrize("name", [n for n in RULES.names() if RULES.get(n).coefficients is not None])
@pytest.mark.parametrize("granularity", ["synapse", "post", "layer"])
def test_in_place_hot_path_equals_the_pure_rule(name, granularity):
    from pdlf.plasticity.rules import plastic_update_

    spec = RULES.get(name)
    layout = GenomeLayout([LayerShape("l0", 3, 4)], RuleConfig(name=name, granularity=granularity))
    gen = torch.Generator().manual_seed(2)
    genes = layout.split(torch.randn(2, layout.size, generator=gen, dtype=torch.float64))["l0"]
    x, y = torch.randn(2, 3, generator=gen, dtype=torch.float64), torch.randn(2, 4, generator=gen, dtype=torch.float64)
    w0 = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64)
    coeffs = spec.coefficients(genes)
    for normalize in (False, True):
        expected = plastic_update(w0, x, y, coeffs, normalize)
        got = plastic_update_(w0.clone(), x, y, coeffs, normalize)
        assert torch.allclose(got, expected, atol=1e-12)
    zero = torch.zeros(2, 3, 4, dtype=torch.float64)
    zero_genes = {k: torch.zeros_like(v) for k, v in genes.items()}
    assert torch.equal(plastic_update_(zero, x, y, spec.coefficients(zero_genes)), torch.zeros(2, 3, 4, dtype=torch.float64))
