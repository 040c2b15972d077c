"""PDLF's working-memory models: shared fast weights, tanh readout post, GRU-only agent, sizes."""

import numpy as np
import pytest
import torch

from pdlf.config import config_from_dict
from pdlf.envs import get_task, make_batched
from pdlf.errors import ConfigError, ShapeError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.plasticity.rules import hebb_abcd_coefficients, normalize_max_abs, plasticity_delta, shared_plastic_update_
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN, genome_layout
from pdlf.wm import ASSOC_CONFIG, COPY_CONFIG, kind_config


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _layout_size(cfg):
    spec = get_task(cfg.env.name)
    return genome_layout(spec.obs_dim, spec.act_dim, cfg.agent, cfg.rule).size


def test_genome_sizes_equal_pdlfs_logged_ones():
    hybrid = kind_config(COPY_CONFIG, "pdlf-hybrid")
    gru = kind_config(COPY_CONFIG, "pdlf-gru")
    assert _layout_size(hybrid) == 53_505 and _layout_size(gru) == 50_945
    spec = get_task("copy")
    rule_part = genome_layout(spec.obs_dim, spec.act_dim, hybrid.agent, hybrid.rule).rule_blocks
    assert sum(b.size for b in rule_part) == 2_560  # 5 genes x (3*128 + 128*1) synapses
    # the copy task shares the fast weights over the member's sequences; assoc keeps one set per sequence
    assert hybrid.agent.weight_sharing == hybrid.env.repeats == 32
    assert kind_config(ASSOC_CONFIG, "pdlf-hybrid").agent.weight_sharing == 1
    assert kind_config(COPY_CONFIG, "pdlf-hybrid", shared_weights=False).agent.weight_sharing == 1
    assert (hybrid.rule.name, hybrid.agent.readout_post, hybrid.agent.recurrent) == ("hebb_abcd", "tanh", False)


def test_shared_update_is_the_sum_of_the_groups_updates():
    S, G, n_in, n_out = 3, 4, 5, 2
    g = _gen(0)
    genes = {k: torch.randn(S, n_in, n_out, generator=g, dtype=torch.float64) for k in ("eta", "A", "B", "C", "D")}
    coeffs = hebb_abcd_coefficients(genes)
    w = torch.randn(S, n_in, n_out, generator=g, dtype=torch.float64)
    pre = torch.randn(S, G, n_in, generator=g, dtype=torch.float64)
    post = torch.randn(S, G, n_out, generator=g, dtype=torch.float64)
    expected = w.clone()
    for k in range(G):  # every sequence's own update, summed
        expected += plasticity_delta(pre[:, k], post[:, k], coeffs)
    got = shared_plastic_update_(w.clone(), pre, post, coeffs, normalize=False)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    torch.testing.assert_close(shared_plastic_update_(w.clone(), pre, post, coeffs), normalize_max_abs(expected),
                               rtol=0, atol=1e-12)


def _hybrid_agent(share, post="tanh"):
    cfg = AgentConfig(hidden=(6,), gru_hidden=3, readout_post=post, weight_sharing=share, dtype="float64")
    return PlasticSNN(3, 1, cfg, RuleConfig(name="hebb_abcd"))


def test_shared_weights_follow_the_batch_sum_with_tanh_post():
    G, M, T = 4, 2, 5
    shared = _hybrid_agent(G)
    genomes = torch.randn(M, shared.layout.size, generator=_gen(1), dtype=torch.float64) * 0.5
    xs = torch.rand(T, M * G, 3, generator=_gen(2), dtype=torch.float64).round()
    shared.reset(genomes, 0, rows_per_genome=G)
    assert shared.weights["l0"].shape == (M, 3, 6) and shared.pop == M * G
    # hand-rolled: one weight set per genome, its update the sum over the G rollouts' deltas
    coeffs = {n: hebb_abcd_coefficients(shared.layout.split(genomes)[n]) for n in ("l0", "out")}
    w = {n: torch.zeros(M, *shared.weights[n].shape[1:], dtype=torch.float64) for n in ("l0", "out")}
    for t in range(T):
        before = {n: v.clone() for n, v in w.items()}
        action = shared.act(xs[t])
        s, z = shared.hidden_states[0].s, shared.hidden_states[0].z
        snn_out = action - torch.bmm(shared.gru_state.unsqueeze(1), shared.gru_params.w_out.repeat_interleave(G, 0)
                                     ).squeeze(1) - shared.gru_params.b_out.repeat_interleave(G, 0).squeeze(1)
        spikes_in = xs[t].reshape(M, G, 3)
        torch.testing.assert_close(snn_out, torch.bmm(s.reshape(M, G, 6), before["out"]).reshape(M * G, 1),
                                   rtol=0, atol=1e-10)
        for name, pre, post in (("l0", spikes_in, z.reshape(M, G, 6)),
                                ("out", z.reshape(M, G, 6), torch.tanh(snn_out).reshape(M, G, 1))):
            total = before[name].clone()
            for k in range(G):
                total += plasticity_delta(pre[:, k], post[:, k], coeffs[name])
            w[name] = normalize_max_abs(total)
            torch.testing.assert_close(shared.weights[name], w[name], rtol=0, atol=1e-10)
    assert shared.weights["out"].abs().sum() > 0


def test_rows_per_genome_equals_one_row_per_rollout():
    M, R = 3, 4
    for share in (1, 4):
        agent = _hybrid_agent(share)
        env = make_batched("copy", M * R, params={"length": 3, "delay": 2})
        genomes = torch.randn(M, agent.layout.size, generator=_gen(3), dtype=torch.float64) * 0.5
        seeds = np.arange(M * R)
        packed = rollout(agent, env, genomes, np.full(M * R, 0.5), seeds, rows_per_genome=R)
        per_row = rollout(agent, env, genomes.repeat_interleave(R, 0), np.full(M * R, 0.5), seeds)
        np.testing.assert_array_equal(packed.returns, per_row.returns)
        one = make_batched("copy", R, params={"length": 3, "delay": 2})
        expanded = rollout(agent, one, genomes[:1].expand(R, -1), np.full(R, 0.5), seeds[:R])
        copied = rollout(agent, one, genomes[:1].repeat(R, 1), np.full(R, 0.5), seeds[:R])
        np.testing.assert_array_equal(expanded.returns, copied.returns)
        assert np.ptp(per_row.returns) > 0  # different genomes and sequences score differently
    with pytest.raises(ShapeError, match="more than one genome"):
        _hybrid_agent(4).reset(torch.randn(8, agent.layout.size, generator=_gen(4)), 0)
    with pytest.raises(ShapeError, match="weight_sharing=4"):
        _hybrid_agent(4).reset(torch.randn(2, agent.layout.size, generator=_gen(4)), 0, rows_per_genome=2)


def test_weight_sharing_refuses_per_rollout_injuries_and_bad_configs():
    agent = _hybrid_agent(2)
    agent.reset(torch.zeros(1, agent.layout.size).expand(4, -1), 0)
    assert agent.pop == 4 and agent.weights["l0"].shape[0] == 2
    with pytest.raises(ShapeError, match="weight_sharing=1"):
        agent.block_neurons(0, torch.zeros(6, dtype=torch.bool))
    with pytest.raises(ConfigError, match="multiple of 32"):
        config_from_dict(COPY_CONFIG, ["env.repeats=16", "agent.weight_sharing=32"])
    for bad, match in (({"spiking": False}, "gru_hidden"), ({"readout_post": "tahn"}, "tanh"),
                       ({"weight_sharing": 0}, "weight_sharing")):
        with pytest.raises(ConfigError, match=match):
            AgentConfig(**bad).validate()


def test_gru_only_agent_outputs_its_gru_alone():
    net = PlasticSNN(3, 1, AgentConfig(spiking=False, gru_hidden=4, dtype="float64"), RuleConfig(name="none"))
    assert net.layers == [] and net.layout.size == 3 * 12 + 4 * 12 + 12 + 4 + 4 + 1
    genomes = torch.randn(2, net.layout.size, generator=_gen(5), dtype=torch.float64)
    net.reset(genomes, 0)
    x = torch.randn(2, 3, generator=_gen(6), dtype=torch.float64)
    out = net.act(x)
    h = net.gru_state
    expected = torch.bmm(h.unsqueeze(1), net.gru_params.w_out).squeeze(1) + net.gru_params.b_out.squeeze(1)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
    net.reset_membranes()
    assert torch.count_nonzero(net.gru_state) == 0


def test_pdlf_direct_baseline_neuron_by_hand():
    """PDLF's direct-weight baseline: m = 0.5 m + 0.5 (x W + b), threshold 1, ternary spikes, tanh(s W_out + b_out)."""
    from pdlf.snn.network import PDLF_DIRECT_AGENT

    cfg = AgentConfig(hidden=(4,), dtype="float64", **PDLF_DIRECT_AGENT)
    net = PlasticSNN(3, 2, cfg, RuleConfig(name="none"))
    names = [b.name for b in net.layout.blocks]
    assert names == ["l0.W", "out.W", "bias.l0", "bias.out"] and net.layout.size == 3 * 4 + 4 * 2 + 4 + 2
    genome = torch.randn(1, net.layout.size, generator=_gen(7), dtype=torch.float64) * 2.0
    W0, W1 = genome[0, :12].reshape(3, 4), genome[0, 12:20].reshape(4, 2)
    b0, b1 = genome[0, 20:24], genome[0, 24:26]
    net.reset(genome, 0)
    m = torch.zeros(4, dtype=torch.float64)
    spikes_seen = 0
    for x in torch.randn(5, 3, generator=_gen(8), dtype=torch.float64):
        m = 0.5 * m + 0.5 * (x @ W0 + b0)
        s = torch.sign(m) * (m.abs() > 1.0)
        m = m * (1 - s.abs())
        expected = torch.tanh(s @ W1 + b1)
        torch.testing.assert_close(net.act(x.unsqueeze(0))[0], expected, rtol=0, atol=1e-12)
        spikes_seen += int(s.abs().sum())
    assert spikes_seen > 0  # the check went through spikes, not only the biases
    with pytest.raises(ConfigError, match="agent.output"):
        AgentConfig(output="sigmoid").validate()
