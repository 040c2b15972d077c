"""PlasticSNN: batching, determinism, injury hooks and bad inputs."""

import pytest
import torch

from pdlf.errors import ConfigError, GenomeShapeError, ShapeError, UnknownNameError
from pdlf.plasticity.catalog import RULES, RuleConfig
from pdlf.snn.network import AgentConfig, PlasticSNN


def _genomes(net: PlasticSNN, pop: int, seed: int = 0, scale: float = 0.3) -> torch.Tensor:
    return torch.randn(pop, net.layout.size, generator=torch.Generator().manual_seed(seed)) * scale


def _obs(pop: int, dim: int, steps: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(steps, pop, dim, generator=torch.Generator().manual_seed(seed))


def _run(net: PlasticSNN, genomes, obs, seeds=0) -> torch.Tensor:
    net.reset(genomes, seeds)
    return torch.stack([net.act(o) for o in obs])


def test_first_action_is_zero_with_zero_initial_weights():
    net = PlasticSNN(4, 2)
    net.reset(_genomes(net, 3), 0)
    assert torch.equal(net.act(torch.randn(3, 4)), torch.zeros(3, 2))


@pytest.mark.parametrize("rule", [n for n in RULES.names()])
@pytest.mark.parametrize("recurrent", [False, True])
def test_batched_step_equals_separate_single_agent_steps(rule, recurrent):
    cfg = AgentConfig(hidden=(16, 8), recurrent=recurrent, dtype="float64", init_weights="uniform")
    # three-factor rules read their modulator from the last two inputs (the feedback channels)
    net = PlasticSNN(5, 3, cfg, RuleConfig(name=rule), feedback=(3, 4))
    pop = 4
    genomes = _genomes(net, pop).double()
    obs = _obs(pop, 5, 30).double()
    seeds = [11, 12, 13, 14]
    batched = _run(net, genomes, obs, seeds)
    assert batched.abs().sum() > 0  # the test is only meaningful if the agents act
    for p in range(pop):
        single = _run(net, genomes[p : p + 1], obs[:, p : p + 1], [seeds[p]])
        assert torch.allclose(batched[:, p : p + 1], single, atol=1e-10), f"agent {p} differs"


def test_same_seed_same_outputs_and_other_seed_differs():
    net = PlasticSNN(6, 2, AgentConfig(init_weights="uniform"))
    g, obs = _genomes(net, 3), _obs(3, 6, 20)
    a, b = _run(net, g, obs, seeds=[1, 2, 3]), _run(net, g, obs, seeds=[1, 2, 3])
    assert torch.equal(a, b)
    c = _run(net, g, obs, seeds=[4, 5, 6])
    assert not torch.equal(a, c)


def test_weights_are_normalised_and_change_every_step():
    net = PlasticSNN(6, 2)
    net.reset(_genomes(net, 2), 0)
    obs = _obs(2, 6, 5)
    before = {k: v.clone() for k, v in net.weights.items()}
    net.act(obs[0])
    assert any(not torch.equal(before[k], net.weights[k]) for k in before)
    for w in net.weights.values():
        assert torch.all(w.abs().amax(dim=(1, 2)) <= 1.0 + 1e-6)


def test_direct_weights_stay_fixed_and_drive_the_readout():
    net = PlasticSNN(3, 2, AgentConfig(hidden=(4,)), RuleConfig(name="none"))
    g = _genomes(net, 2, scale=1.0)
    net.reset(g, 0)
    w0 = {k: v.clone() for k, v in net.weights.items()}
    for o in _obs(2, 3, 10):
        a = net.act(o)
        s = net.hidden_states[0].s
        assert torch.allclose(a, torch.bmm(s.unsqueeze(1), net.weights["out"]).squeeze(1))
    assert all(torch.equal(w0[k], net.weights[k]) for k in w0)


def test_erase_weights_sets_every_layer_to_zero_and_plasticity_regrows_them():
    net = PlasticSNN(6, 2, AgentConfig(recurrent=True))
    g, obs = _genomes(net, 2), _obs(2, 6, 10)
    net.reset(g, 0)
    for o in obs[:5]:
        net.act(o)
    net.erase_weights()
    assert all(torch.count_nonzero(w) == 0 for w in net.weights.values())
    for o in obs[5:]:
        net.act(o)
    assert any(torch.count_nonzero(w) > 0 for w in net.weights.values())


def test_erased_direct_weights_stay_erased():
    net = PlasticSNN(6, 2, rule=RuleConfig(name="none"))
    net.reset(_genomes(net, 2), 0)
    net.erase_weights()
    for o in _obs(2, 6, 5):
        assert torch.equal(net.act(o), torch.zeros(2, 2))
    assert all(torch.count_nonzero(w) == 0 for w in net.weights.values())


def test_silencing_keeps_weights_and_blocks_transmission():
    net = PlasticSNN(6, 2)
    obs = _obs(2, 6, 12)
    net.reset(_genomes(net, 2), 0)
    for o in obs[:6]:
        net.act(o)
    kept = {k: v.clone() for k, v in net.weights.items()}
    net.silenced = True
    for o in obs[6:10]:
        assert torch.equal(net.act(o), torch.zeros(2, 2))
        assert torch.count_nonzero(net.hidden_states[0].s) == 0
    assert all(torch.equal(kept[k], net.weights[k]) for k in kept)
    net.silenced = False
    net.act(obs[10])
    assert any(not torch.equal(kept[k], net.weights[k]) for k in kept)


@pytest.mark.parametrize("recurrent", [False, True])
def test_blocked_neurons_never_spike_and_their_synapses_stay_zero(recurrent):
    net = PlasticSNN(6, 2, AgentConfig(hidden=(16, 8), recurrent=recurrent, init_weights="uniform"))
    net.reset(_genomes(net, 3, scale=1.0), [1, 2, 3])
    blocked = torch.zeros(3, 16, dtype=torch.bool)
    blocked[:, :5] = True
    blocked[1, 10] = True
    net.block_neurons(0, blocked)
    spiked = torch.zeros(3, 16)
    for o in _obs(3, 6, 40, seed=3) * 3:
        net.act(o)
        spiked += net.hidden_states[0].s.abs()
    assert torch.all(spiked[blocked] == 0)
    assert spiked[~blocked].sum() > 0
    assert torch.all(net.weights["l0"].transpose(1, 2)[blocked] == 0)  # incoming
    assert torch.all(net.weights["l1"][blocked] == 0)  # outgoing
    if recurrent:
        assert torch.all(net.weights["rec0"][blocked] == 0)
        assert torch.all(net.weights["rec0"].transpose(1, 2)[blocked] == 0)
    net.reset(_genomes(net, 3), 0)  # a new episode heals
    assert not net._hidden_masks


def test_membrane_reset_keeps_weights():
    net = PlasticSNN(6, 2)
    net.reset(_genomes(net, 2), 0)
    for o in _obs(2, 6, 5):
        net.act(o)
    kept = {k: v.clone() for k, v in net.weights.items()}
    net.reset_membranes()
    assert all(torch.count_nonzero(getattr(net.hidden_states[0], f)) == 0 for f in ("v", "s", "z"))
    assert all(torch.equal(kept[k], net.weights[k]) for k in kept)


def test_bad_inputs_raise_one_clear_error():
    with pytest.raises(UnknownNameError, match="unknown plasticity rule 'hebb'.*did you mean"):
        PlasticSNN(4, 2, rule=RuleConfig(name="hebb"))
    net = PlasticSNN(4, 2)
    with pytest.raises(GenomeShapeError, match=f"expected \\[P, {net.layout.size}\\]"):
        net.reset(torch.zeros(2, net.layout.size + 1), 0)
    net.reset(torch.zeros(2, net.layout.size), 0)
    with pytest.raises(ShapeError, match=r"expected \[2, 4\]"):
        net.act(torch.zeros(2, 5))
    with pytest.raises(ConfigError, match="agent.spikes"):
        PlasticSNN(4, 2, AgentConfig(spikes="tri"))
