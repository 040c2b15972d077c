"""PDLF's max|W| normalisation through the agent: after every update each layer's fast weights of
each agent are ``W / max|W|``, so max|W| = 1, whether the unnormalised update overshot 1 or fell
short of it. Genes are set so that only ``D`` acts (``eta = 1``, ``A = B = C = 0``): then the
unnormalised weights are known by hand: ``W_k = W_{k-1} + D``."""

from __future__ import annotations

import pytest
import torch

from pdlf.plasticity.catalog import RuleConfig
from pdlf.snn.network import AgentConfig, PlasticSNN

OBS, HIDDEN, ACT = 3, 4, 2  # "out" (4 -> 2) is stored transposed, "l0" (3 -> 4) is not


def _agent(dtype="float64", normalize=None, rule="pdlf"):
    return PlasticSNN(OBS, ACT, AgentConfig(hidden=(HIDDEN,), dtype=dtype), RuleConfig(name=rule, normalize=normalize))


def _d_only_genome(agent, d: dict[str, torch.Tensor]) -> torch.Tensor:
    """Genomes ``[P, L]`` with eta = 1, D = ``d[layer]`` ``[P, n_in, n_out]``, every other gene 0."""
    pop = next(iter(d.values())).shape[0]
    genome = torch.zeros(pop, agent.layout.size, dtype=torch.float64)
    for b in agent.layout.blocks:
        rows = genome[:, b.offset : b.offset + b.size]
        if b.gene == "eta":
            rows[:] = 1.0
        elif b.gene == "D":
            rows[:] = d[b.layer].reshape(pop, -1)
    return genome


def _d_draw(agent, scales) -> dict[str, torch.Tensor]:
    """Per layer, per agent ``p``: uniform D with max|D| exactly ``scales[p]`` (at an interior entry)."""
    gen = torch.Generator().manual_seed(11)
    out = {}
    for layer in agent.layers:
        d = torch.rand(len(scales), layer.n_in, layer.n_out, generator=gen, dtype=torch.float64) * 2 - 1
        d = d / d.abs().amax(dim=(1, 2), keepdim=True)  # max |d| = 1 ...
        d[:, -1, 0] *= -1  # ... with both signs present
        out[layer.name] = d * torch.tensor(scales, dtype=torch.float64).view(-1, 1, 1)
    return out


def _max_abs(w):
    return w.abs().amax(dim=(1, 2))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_max_abs_weight_is_one_after_every_step_for_overshoot_and_undershoot(dtype):
    agent = _agent(dtype)
    scales = [7.5, 0.03]  # agent 0's raw update exceeds 1, agent 1's stays far below
    d = _d_draw(agent, scales)
    agent.reset(_d_only_genome(agent, d))
    torch_dtype = getattr(torch, dtype)
    eps = torch.finfo(torch_dtype).eps
    expected = {n: torch.zeros_like(v) for n, v in d.items()}  # the hand computation, float64
    x = torch.randn(2, OBS, generator=torch.Generator().manual_seed(0))
    for step in range(1, 5):
        agent.act(x.to(torch_dtype))
        for name, w in agent.weights.items():
            raw = expected[name] + d[name]  # W_{k-1} + D
            assert not torch.allclose(_max_abs(raw), torch.ones(2, dtype=torch.float64))  # normalising matters
            expected[name] = raw / _max_abs(raw).view(-1, 1, 1)
            m = _max_abs(w).double()
            # max|W| = 1 per agent and layer (to the last bit of the dtype; see the exactness test)
            assert torch.all((1.0 - m) <= eps) and torch.all(m <= 1.0), (step, name, m)
            torch.testing.assert_close(w.double(), expected[name], rtol=4 * eps, atol=4 * eps)


def test_normalisation_off_leaves_the_raw_update():
    agent = _agent("float64", normalize=False)
    d = _d_draw(agent, [7.5, 0.03])
    agent.reset(_d_only_genome(agent, d))
    x = torch.randn(2, OBS, dtype=torch.float64)
    for k in (1, 2, 3):
        agent.act(x)
        for name, w in agent.weights.items():
            torch.testing.assert_close(w, k * d[name], rtol=1e-14, atol=1e-14)
    assert torch.allclose(_max_abs(agent.weights["l0"]), torch.tensor([3 * 7.5, 3 * 0.03], dtype=torch.float64))


@pytest.mark.parametrize("rule", ["pdlf", "hebb_abcd", "pdp", "pdlf_acd"])
def test_every_plastic_rule_normalises_every_layer_of_every_agent(rule):
    agent = PlasticSNN(OBS, ACT, AgentConfig(hidden=(5, 3), recurrent=True), RuleConfig(name=rule))
    gen = torch.Generator().manual_seed(3)
    genome = torch.randn(3, agent.layout.size, generator=gen) * 4.0  # raw updates far above 1
    agent.reset(genome)
    for _ in range(6):
        agent.act(torch.randn(3, OBS, generator=gen))
        for name, w in agent.weights.items():
            m = _max_abs(w)
            assert torch.all((1.0 - m) <= torch.finfo(torch.float32).eps) and torch.all(m <= 1.0), (rule, name, m)


def test_all_zero_update_stays_zero_not_nan():
    agent = _agent("float32")
    agent.reset(torch.zeros(2, agent.layout.size))  # eta = A = ... = 0: dW = 0
    agent.act(torch.randn(2, OBS))
    for w in agent.weights.values():
        assert torch.count_nonzero(w) == 0 and torch.all(torch.isfinite(w))


def test_max_abs_weight_is_exactly_one():
    agent = _agent("float32")
    d = _d_draw(agent, [41.0, 47.0])
    agent.reset(_d_only_genome(agent, d))
    agent.act(torch.randn(2, OBS))
    for w in agent.weights.values():
        assert torch.all(_max_abs(w) == 1.0), _max_abs(w)


def test_max_abs_weight_is_one_over_the_surviving_synapses_after_neuron_loss():
    agent = PlasticSNN(OBS, ACT, AgentConfig(hidden=(HIDDEN,)), RuleConfig(name="pdlf"))
    gen = torch.Generator().manual_seed(0)
    agent.reset(torch.randn(2, agent.layout.size, generator=gen))
    agent.block_neurons(0, torch.tensor([True, False, False, False]))
    for _ in range(4):
        agent.act(torch.randn(2, OBS, generator=gen))
        for name, w in agent.weights.items():
            m = _max_abs(w)
            assert torch.all((1.0 - m) <= torch.finfo(torch.float32).eps), (name, m)
