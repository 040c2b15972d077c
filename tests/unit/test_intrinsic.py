"""Intrinsic plasticity and the two-compartment neuron (`pdlf.snn.intrinsic`, `pdlf.snn.lif`)."""

import math

import pytest
import torch

from pdlf.config import config_from_dict
from pdlf.errors import ConfigError
from pdlf.plasticity.catalog import RuleConfig
from pdlf.snn import intrinsic as ip
from pdlf.snn.lif import lif_init, two_compartment_step
from pdlf.snn.network import AgentConfig, PlasticSNN, genome_layout


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_two_compartment_neuron_against_a_hand_written_reference():
    tau_d, tau_s, theta = 2.0, 3.0, 0.4
    currents = [1.0, 0.6, -2.0, 0.0, 0.9, 0.9]
    d = m = z = 0.0
    state = lif_init(1, 1, dtype=torch.float64, dendrite=True)
    spikes = []
    for i_t in currents:
        d = i_t + (d - i_t) / tau_d
        m = d + (m - d) / tau_s
        s = 1.0 if m > theta else (-1.0 if m < -theta else 0.0)
        if s != 0.0:
            m = 0.0
        z = z / math.e + s * (1 - 1 / math.e)
        state = two_compartment_step(torch.tensor([[i_t]], dtype=torch.float64), state,
                                     *(torch.tensor(v, dtype=torch.float64) for v in (tau_d, tau_s, theta)))
        for got, want in ((state.d, d), (state.v, m), (state.z, z)):
            assert float(got) == pytest.approx(want, abs=1e-12)
        spikes.append(float(state.s))
    assert 1.0 in spikes and -1.0 in spikes  # both spike signs were exercised


def test_rules_by_hand():
    theta, rate = torch.tensor([[0.5, 0.2]]), torch.tensor([[0.3, 0.0]])
    eta, target, gate = torch.tensor([[2.0]]), torch.tensor([[0.0]]), torch.tensor([[1.0]])  # rho = 0.5
    got = ip.homeostatic_threshold(theta, rate, eta, target, gate)
    torch.testing.assert_close(got, torch.tensor([[0.5 + 2 * (0.3 - 0.5), max(0.2 + 2 * (0.0 - 0.5), ip.THETA_MIN)]]))
    tau, level = torch.tensor([[3.0, 1.5]]), torch.tensor([[1.0, 0.0]])
    got = ip.input_driven_tau(tau, level, torch.tensor([[0.5]]), torch.tensor([[0.2]]), torch.tensor([[1.0]]))
    torch.testing.assert_close(got, torch.tensor([[3.0 + 0.5 * 0.8, max(1.5 - 0.5 * 0.2, ip.TAU_MIN)]]))
    torch.testing.assert_close(ip.firing_rate(torch.tensor([0.5]), torch.tensor([-1.0])), torch.tensor([0.55]))
    torch.testing.assert_close(ip.input_level(torch.tensor([1.0]), torch.tensor([-3.0])), torch.tensor([1.2]))
    assert torch.equal(ip.effective_gate(torch.tensor([-0.1, 0.0, 0.3]), "binary"), torch.tensor([0.0, 0.0, 1.0]))


def _agent(intrinsic=("theta", "tau"), neuron="lif", gate="continuous", per_neuron=False, rule="pdlf", **kw):
    cfg = AgentConfig(hidden=(6,), dtype="float64", neuron=neuron, intrinsic=intrinsic, intrinsic_gate=gate,
                      intrinsic_gate_per_neuron=per_neuron, init_weights="uniform", init_scale=1.0, **kw)
    return PlasticSNN(3, 1, cfg, RuleConfig(name=rule))


def _genome(net, values: dict[str, float], seed=0, scale=0.3):
    """A random genome with the intrinsic blocks named in ``values`` set to constants."""
    g = torch.randn(1, net.layout.size, generator=_gen(seed), dtype=torch.float64) * scale
    parts = net.layout.split(g)
    for name, v in values.items():
        layer, gene = name.split("/")
        parts[layer][gene].fill_(v)
    return net.layout.join(parts)


def _drive(net, genome, steps=30, seed=1):
    net.reset(genome.expand(4, -1), torch.arange(4))
    xs = torch.rand(steps, 4, 3, generator=_gen(seed), dtype=torch.float64) * 3.0
    history = []
    for x in xs:
        net.act(x)
        history.append({"theta": net.theta[0].clone(), "tau": net.tau[0].clone()})
    return history


def test_homeostatic_threshold_in_the_network_by_hand():
    net = _agent(intrinsic=("theta",))
    genome = _genome(net, {"ip.l0/theta.init": 0.5, "ip.l0/theta.eta": 0.7, "ip.l0/theta.target": -1.0,
                           "ip.l0/theta.gate": 0.8})
    net.reset(genome, 0)
    theta = torch.full((1, 6), 0.1 * math.exp(0.5), dtype=torch.float64)  # default * exp(init)
    torch.testing.assert_close(net.theta[0], theta)
    rate = torch.zeros(1, 6, dtype=torch.float64)
    for x in torch.rand(12, 1, 3, generator=_gen(2), dtype=torch.float64) * 3.0:
        net.act(x)
        rate = rate + (net.hidden_states[0].s.abs() - rate) / ip.STAT_WINDOW
        theta = torch.clamp(theta + 0.8 * 0.7 * (rate - torch.sigmoid(torch.tensor(-1.0, dtype=torch.float64))), min=ip.THETA_MIN)
        torch.testing.assert_close(net.theta[0], theta, rtol=0, atol=1e-12)
    assert not torch.equal(theta, torch.full((1, 6), 0.1 * math.exp(0.5), dtype=torch.float64))


@pytest.mark.parametrize("gate_kind, gate", [("continuous", 0.0), ("binary", 0.0), ("binary", -2.0)])
def test_gates_at_zero_freeze_exactly_their_property(gate_kind, gate):
    net = _agent(gate=gate_kind)
    genome = _genome(net, {"ip.l0/theta.gate": gate, "ip.l0/theta.eta": 5.0, "ip.l0/tau.gate": 1.0,
                           "ip.l0/tau.eta": 5.0, "ip.l0/theta.init": 0.2})
    history = _drive(net, genome)
    start = history[0]["theta"]
    assert all(torch.equal(h["theta"], start) for h in history)  # frozen, to the bit
    assert torch.equal(start, torch.full_like(start, 0.1 * math.exp(0.2)))
    assert not torch.equal(history[-1]["tau"], history[0]["tau"])  # the other property still moves


def test_per_neuron_gates_freeze_single_neurons():
    net = _agent(intrinsic=("theta",), gate="binary", per_neuron=True)
    parts = net.layout.split(_genome(net, {"ip.l0/theta.eta": 5.0}))
    parts["ip.l0"]["theta.gate"][0, 0] = torch.tensor([1.0, -1.0, 1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    history = _drive(net, net.layout.join(parts))
    moved = (history[-1]["theta"] != history[0]["theta"]).any(dim=0)
    assert moved.tolist() == [True, False, True, False, True, False]


def test_bounds_hold_under_adversarial_genomes():
    for sign in (1.0, -1.0):
        net = _agent(intrinsic=("theta", "tau", "tau_d"), neuron="two_compartment")
        values = {f"ip.l0/{k}.{g}": sign * 1e6 for k in ("theta", "tau", "tau_d") for g in ("eta", "target")}
        values.update({f"ip.l0/{k}.gate": 1e3 for k in ("theta", "tau", "tau_d")})
        history = _drive(net, _genome(net, values, scale=50.0))
        for h in history:
            assert torch.all(h["theta"] >= ip.THETA_MIN) and torch.all(torch.isfinite(h["theta"]))
            assert torch.all(h["tau"] >= ip.TAU_MIN) and torch.all(h["tau"] <= ip.TAU_MAX)
        assert torch.all(net.tau_d[0] > 1.0) and torch.all(net.tau_d[0] <= ip.TAU_MAX)


def test_layout_blocks_and_every_combination_is_a_config_choice():
    sizes = {}
    for rule in ("pdlf", "none"):
        for intrinsic in ((), ("theta", "tau")):
            layout = genome_layout(3, 1, AgentConfig(hidden=(6,), intrinsic=intrinsic), RuleConfig(name=rule))
            sizes[(rule, intrinsic)] = layout.size
    ip_size = 2 * (6 + 1 + 1 + 1)  # per property: init [1, 6], eta, target, gate
    assert sizes[("pdlf", ("theta", "tau"))] - sizes[("pdlf", ())] == ip_size
    assert sizes[("none", ("theta", "tau"))] - sizes[("none", ())] == ip_size
    names = [b.name for b in genome_layout(3, 1, AgentConfig(hidden=(6,), intrinsic=("theta",)),
                                           RuleConfig(name="none")).blocks]
    assert names == ["l0.W", "out.W", "ip.l0.theta.init", "ip.l0.theta.eta", "ip.l0.theta.target", "ip.l0.theta.gate"]
    for bad, match in (({"intrinsic": ("thresh",)}, "theta"), ({"intrinsic": ("tau_d",)}, "two_compartment"),
                       ({"neuron": "izhikevich"}, "agent.neuron"), ({"readout": "rate"}, "agent.readout"),
                       ({"intrinsic_gate": "soft"}, "continuous"), ({"tau_d": 1.0}, "tau_d")):
        with pytest.raises(ConfigError, match=match):
            AgentConfig(**bad).validate()
    cfg = config_from_dict({}, ["agent.intrinsic=[theta, tau]", "agent.neuron=two_compartment"])
    assert cfg.agent.intrinsic == ("theta", "tau")


def test_membrane_readout_reads_the_soma():
    net = _agent(intrinsic=(), rule="none", readout="membrane")
    genome = torch.randn(1, net.layout.size, generator=_gen(3), dtype=torch.float64)
    net.reset(genome, 0)
    w_out = net.weights["out"][0].clone()
    for x in torch.rand(5, 1, 3, generator=_gen(4), dtype=torch.float64) * 3:
        action = net.act(x)
        torch.testing.assert_close(action[0], net.hidden_states[0].v[0] @ w_out, rtol=0, atol=1e-12)


@pytest.mark.parametrize("rule, neuron", [("pdlf", "two_compartment"), ("none", "lif")])
def test_trains_through_the_trainer_synaptic_and_intrinsic_or_intrinsic_only(tmp_path, rule, neuron):
    from pdlf.es.trainer import Trainer
    from pdlf.wm import ASSOC_CONFIG

    props = "[theta, tau, tau_d]" if neuron == "two_compartment" else "[theta, tau]"
    cfg = config_from_dict(ASSOC_CONFIG, ["env.params.length=3", "env.params.delay=2", "env.repeats=4", "es.popsize=8",
                                          "es.generations=2", "agent.hidden=[6]", f"rule.name={rule}", "rule.genes=[]",
                                          f"agent.neuron={neuron}", f"agent.intrinsic={props}", "agent.readout=membrane",
                                          "log.progress=false"])
    summary = Trainer.create(cfg, tmp_path / "run").run()
    assert summary["generations"] == 2 and math.isfinite(summary["center_fitness"])
    resumed = Trainer.resume(tmp_path / "run")
    assert resumed.generation == 2 and resumed.searcher.center().numel() == genome_layout(19, 1, cfg.agent, cfg.rule).size
