"""The hybrid agent's GRU branch (``AgentConfig.gru_hidden``): step, sum with the SNN, layout, state."""

import pytest
import torch

from pdlf.config import config_from_dict
from pdlf.errors import ConfigError, GenomeShapeError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.plasticity.genome import GenomeLayout, LayerShape
from pdlf.snn.gru import GRUParams, gru_readout, gru_step
from pdlf.snn.network import AgentConfig, PlasticSNN, genome_layout, network_layers


def _sigmoid(v):
    return 1.0 / (1.0 + torch.exp(-v))


def _reference_gru(xs, genes, n_in, hidden, n_out):
    """Hand-written GRU from the equations (Flax's GRUCell plus a biased readout), one agent at a
    time: xs [T, P, C], genes [P, size] (W_x [C, 3H], W_h [H, 3H], b [3H], b_hn [H],
    w_out [H, n_out], b_out [n_out], flattened row-major in that order)
    -> (outputs [T, P, n_out], final h [P, H])."""
    H = hidden
    outs, finals = [], []
    for p in range(genes.shape[0]):
        W_x, W_h, b, b_hn, w_out, b_out = torch.split(
            genes[p], [n_in * 3 * H, H * 3 * H, 3 * H, H, H * n_out, n_out])
        W_x, W_h, w_out = W_x.reshape(n_in, 3 * H), W_h.reshape(H, 3 * H), w_out.reshape(H, n_out)
        h = torch.zeros(H, dtype=genes.dtype)
        agent_outs = []
        for x in xs[:, p]:
            r = _sigmoid(x @ W_x[:, :H] + b[:H] + h @ W_h[:, :H])
            z = _sigmoid(x @ W_x[:, H : 2 * H] + b[H : 2 * H] + h @ W_h[:, H : 2 * H])
            n = torch.tanh(x @ W_x[:, 2 * H :] + b[2 * H :] + r * (h @ W_h[:, 2 * H :] + b_hn))
            h = (1.0 - z) * n + z * h
            agent_outs.append(h @ w_out + b_out)
        outs.append(torch.stack(agent_outs))
        finals.append(h)
    return torch.stack(outs, dim=1), torch.stack(finals)


def _gru_size(C, H, A):
    return C * 3 * H + H * 3 * H + 3 * H + H + H * A + A


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_gru_step_matches_hand_written_reference():
    P, C, H, A, T = 2, 3, 4, 2, 3
    genes = torch.randn(P, _gru_size(C, H, A), generator=_gen(0), dtype=torch.float64)
    xs = torch.randn(T, P, C, generator=_gen(1), dtype=torch.float64)
    expected, expected_h = _reference_gru(xs, genes, C, H, A)
    parts = torch.split(genes, [C * 3 * H, H * 3 * H, 3 * H, H, H * A, A], dim=1)
    shapes = [(C, 3 * H), (H, 3 * H), (1, 3 * H), (1, H), (H, A), (1, A)]
    params = GRUParams(*(part.reshape(P, *shape) for part, shape in zip(parts, shapes)))
    h = torch.zeros(P, H, dtype=torch.float64)
    for t in range(T):
        h = gru_step(xs[t], h, params)
        torch.testing.assert_close(gru_readout(h, params), expected[t], rtol=0, atol=1e-12)
    torch.testing.assert_close(h, expected_h, rtol=0, atol=1e-12)
    assert expected.abs().min() > 1e-3  # the gates are not saturated into a trivial case
    # R = 3 rollouts per genome: each genome's weights drive its own rows
    xr = torch.randn(P * 3, C, generator=_gen(9), dtype=torch.float64)
    hr = gru_step(xr, torch.zeros(P * 3, H, dtype=torch.float64), params)
    for p in range(P):
        one = GRUParams(*(t[p : p + 1] for t in params))
        for k in range(3):
            row = p * 3 + k
            torch.testing.assert_close(hr[row : row + 1], gru_step(xr[row : row + 1], torch.zeros(1, H, dtype=torch.float64), one))


def test_pdlf_gru_size_is_pdlfs_logged_one():
    # 3 inputs, 128 units, one output: PDLF's GRU baseline logged 50,945 genes
    assert _gru_size(3, 128, 1) == 50_945
    layout = genome_layout(3, 1, AgentConfig(spiking=False, gru_hidden=128), RuleConfig(name="none"))
    assert layout.size == 50_945 and [b.name for b in layout.blocks][0] == "gru.W_x"


def _agents(gru_hidden, rule="pdlf"):
    cfg = AgentConfig(hidden=(5,), recurrent=True, dtype="float64", init_weights="uniform", gru_hidden=gru_hidden)
    return PlasticSNN(3, 2, cfg, RuleConfig(name=rule))


@pytest.mark.parametrize("rule", ["pdlf", "none"])
def test_hybrid_action_is_snn_readout_plus_reference_gru(rule):
    H, P, T = 4, 3, 6
    hybrid, plain = _agents(H, rule), _agents(0, rule)
    genomes = torch.randn(P, hybrid.layout.size, generator=_gen(2), dtype=torch.float64) * 0.5
    snn_genes, gru_genes = genomes[:, : plain.layout.size], genomes[:, plain.layout.size :]
    xs = torch.randn(T, P, 3, generator=_gen(3), dtype=torch.float64)
    hybrid.reset(genomes, [7, 8, 9])
    plain.reset(snn_genes, [7, 8, 9])
    ref, _ = _reference_gru(xs, gru_genes, 3, H, 2)
    snn_out = []
    for t in range(T):
        base = plain.act(xs[t])
        snn_out.append(base)
        torch.testing.assert_close(hybrid.act(xs[t]), base + ref[t], rtol=0, atol=1e-12)
    for name, w in plain.weights.items():  # the rule saw the spiking readout, not the sum
        torch.testing.assert_close(hybrid.weights[name], w, rtol=0, atol=0)
    assert torch.stack(snn_out).abs().sum() > 0 and ref.abs().sum() > 0


def test_layout_sizes_and_no_gru_layout_unchanged():
    rule = RuleConfig(name="pdlf")
    agent = AgentConfig(hidden=(16,), recurrent=True)
    plain = genome_layout(3, 1, agent, rule)
    hybrid = genome_layout(3, 1, AgentConfig(hidden=(16,), recurrent=True, gru_hidden=16), rule)
    snn_size = 5 * (3 * 16 + 16 * 16 + 16 * 1)
    assert plain.size == snn_size
    assert hybrid.size == snn_size + _gru_size(3, 16, 1)
    assert hybrid.describe()[: len(plain.blocks)] == plain.describe()
    assert [b.name for b in hybrid.blocks[len(plain.blocks) :]] == [
        "gru.W_x", "gru.W_h", "gru.b", "gru.b_hn", "gru.w_out", "gru.b_out"]
    assert plain.describe() == GenomeLayout(network_layers(3, 1, agent), rule).describe()
    net = PlasticSNN(3, 1, AgentConfig(hidden=(16,), recurrent=True, gru_hidden=16), rule)
    assert net.layout.describe() == hybrid.describe() and net.layout.size == hybrid.size


def test_split_join_round_trip_and_named_gru_blocks():
    layout = genome_layout(3, 2, AgentConfig(hidden=(5,), gru_hidden=4), RuleConfig(name="pdlf"))
    flat = torch.randn(3, layout.size, generator=_gen(4))
    parts = layout.split(flat)
    assert torch.equal(layout.join(parts), flat)
    gru = parts["gru"]
    assert {k: tuple(v.shape) for k, v in gru.items()} == {
        "W_x": (3, 3, 12), "W_h": (3, 4, 12), "b": (3, 1, 12), "b_hn": (3, 1, 4), "w_out": (3, 4, 2),
        "b_out": (3, 1, 2)}
    start = layout.size - _gru_size(3, 4, 2)
    assert torch.equal(gru["W_x"][1], flat[1, start : start + 36].reshape(3, 12))
    assert torch.equal(gru["w_out"][2], flat[2, -10:-2].reshape(4, 2))
    assert torch.equal(gru["b_out"][2], flat[2, -2:].reshape(1, 2))


def test_extra_blocks_start_at_zero_and_are_unbounded():
    rule = RuleConfig(name="pdp", init={"eta": 0.5}, bounds={"eta": [-1.0, 1.0]})
    layout = GenomeLayout([LayerShape("l0", 2, 2)], rule, extra_blocks=[("gru", "eta", (1, 3))])
    init = layout.split(layout.initial().unsqueeze(0))
    assert torch.all(init["l0"]["eta"] == 0.5) and torch.all(init["gru"]["eta"] == 0.0)
    lo, hi = (layout.split(v.unsqueeze(0)) for v in layout.bounds())
    assert torch.all(lo["l0"]["eta"] == -1.0) and torch.all(hi["l0"]["eta"] == 1.0)
    assert torch.all(torch.isinf(lo["gru"]["eta"])) and torch.all(torch.isinf(hi["gru"]["eta"]))
    hybrid = genome_layout(3, 1, AgentConfig(hidden=(4,), gru_hidden=2), RuleConfig(name="pdlf", init={"eta": 0.1}))
    assert torch.all(hybrid.split(hybrid.initial().unsqueeze(0))["gru"]["b"] == 0.0)


def test_reset_membranes_zeroes_the_gru_state_and_keeps_weights():
    net = _agents(4)
    net.reset(torch.randn(2, net.layout.size, generator=_gen(5), dtype=torch.float64) * 0.5, 0)
    for x in torch.randn(4, 2, 3, generator=_gen(6), dtype=torch.float64):
        net.act(x)
    assert net.gru_state.abs().sum() > 0
    weights = {k: w.clone() for k, w in net.weights.items()}
    net.reset_membranes()
    assert net.gru_state.shape == (2, 4) and torch.count_nonzero(net.gru_state) == 0
    assert all(torch.equal(net.weights[k], w) for k, w in weights.items())


def test_silenced_agent_outputs_zero_and_freezes_the_gru():
    net = _agents(4)
    net.reset(torch.randn(2, net.layout.size, generator=_gen(7), dtype=torch.float64) * 0.5, 0)
    net.act(torch.ones(2, 3, dtype=torch.float64))
    before = net.gru_state.clone()
    net.silenced = True
    assert torch.count_nonzero(net.act(torch.ones(2, 3, dtype=torch.float64))) == 0
    assert torch.equal(net.gru_state, before)


def test_wrong_genome_length_is_one_line_naming_the_gru_blocks():
    net = PlasticSNN(3, 1, AgentConfig(hidden=(16,), recurrent=True, gru_hidden=16), RuleConfig(name="pdlf"))
    with pytest.raises(GenomeShapeError) as info:
        net.reset(torch.zeros(2, net.layout.size - 1), 0)
    message = str(info.value)
    assert "\n" not in message
    assert f"(2, {net.layout.size - 1})" in message and f"[P, {net.layout.size}]" in message
    assert "gru.W_x 3x48" in message and "gru.w_out 16x1" in message


def test_negative_gru_hidden_is_a_config_error():
    with pytest.raises(ConfigError, match=r"agent\.gru_hidden=-1"):
        config_from_dict({"agent": {"gru_hidden": -1}})
    with pytest.raises(ConfigError, match=r"agent\.gru_hidden"):
        PlasticSNN(3, 1, AgentConfig(gru_hidden=-1))
    with pytest.raises(ConfigError, match=r"agent\.gru_hidden"):
        genome_layout(3, 1, AgentConfig(gru_hidden=-1), RuleConfig())
