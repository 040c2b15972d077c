"""Perturbation hooks driven by the real rollout loop: they do exactly what they say, when."""

import numpy as np
import pytest
import torch

from pdlf.perturb import GoalSwitch, MembraneReset, NeuronLoss, Silencing, SynapseErasure, WeightErasure
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN


class _Env:
    """A tiny deterministic batched env: obs = a fixed random walk, reward = -|action|."""

    goal_dim = 1

    def __init__(self, batch, obs_dim, steps):
        self.batch_size, self.obs_dim, self.max_steps = batch, obs_dim, steps
        self.done = np.zeros(batch, dtype=bool)
        self._rng = None

    def reset(self, goals, seeds):
        self._rng = np.random.default_rng(int(seeds[0]))
        self.done[:] = False
        self.t = 0
        return self._obs(goals)

    def _obs(self, goals=None):
        o = self._rng.normal(size=(self.batch_size, self.obs_dim))
        o[:, -1] = 0.5 if goals is None else goals
        return o

    def step(self, action):
        self.t += 1
        self.done[:] = self.t >= self.max_steps
        return self._obs(), -np.abs(action).sum(axis=1), self.done.copy()


class _Probe:
    """Records, after every step, whether all fast weights are zero and a weight snapshot."""

    def __init__(self):
        self.all_zero, self.snapshots = [], []

    def before_step(self, t, agent, obs):
        return None

    def after_step(self, t, agent, reward):
        self.all_zero.append(all(torch.count_nonzero(w) == 0 for w in agent.weights.values()))
        self.snapshots.append({k: v.clone() for k, v in agent.weights.items()})


def _run(rule="pdlf", perturbations=(), steps=60, hidden=(16,)):
    agent = PlasticSNN(5, 2, AgentConfig(hidden=hidden), RuleConfig(name=rule))
    genomes = torch.randn(3, agent.layout.size, generator=torch.Generator().manual_seed(0)) * 0.5
    probe = _Probe()
    res = rollout(agent, _Env(3, 5, steps), genomes, np.full(3, 0.5), np.zeros(3, dtype=np.int64),
                  perturbations=[*perturbations, probe], record_rewards=True)
    return agent, probe, res


def test_weight_erasure_erases_exactly_the_window_and_plastic_weights_regrow():
    _, probe, _ = _run(perturbations=[WeightErasure(start=20, stop=30)])
    zero_steps = [k + 1 for k, z in enumerate(probe.all_zero) if z]
    assert zero_steps == list(range(20, 31))
    assert not probe.all_zero[31]


def test_direct_weights_stay_erased_after_the_window():
    _, probe, res = _run(rule="none", perturbations=[WeightErasure(start=20, stop=30)])
    assert not any(probe.all_zero[:19])
    assert all(probe.all_zero[19:])
    assert np.all(res.rewards[20:] == 0)  # no weights, no action, no control cost


def test_silencing_keeps_weights_and_zeroes_actions_in_the_window():
    _, probe, res = _run(perturbations=[Silencing(start=20, stop=30)])
    for k in range(20, 31):  # snapshots after steps 20..30 equal the one after step 19
        for name, w in probe.snapshots[k - 1].items():
            assert torch.equal(w, probe.snapshots[18][name])
    assert np.all(res.rewards[19:30] == 0)
    assert np.any(res.rewards[31:] != 0)


def test_neuron_loss_blocks_the_same_neurons_for_both_agent_kinds():
    loss = NeuronLoss(fraction=0.25, seed=7)
    plastic, _, _ = _run(perturbations=[loss])
    direct, _, _ = _run(rule="none", perturbations=[loss])
    mask = loss.mask(16)
    assert int(mask.sum()) == 4
    for agent in (plastic, direct):
        assert torch.all(agent.weights["l0"][:, :, mask] == 0)
        assert torch.all(agent.weights["out"][:, mask, :] == 0)
        assert torch.all(agent.hidden_states[0].s[:, mask] == 0)


def test_synapse_erasure_schedule_is_the_same_for_both_kinds():
    a, _, _ = _run(rule="none", perturbations=[SynapseErasure(fraction=0.1, seed=3)], steps=10)
    b, _, _ = _run(rule="none", perturbations=[SynapseErasure(fraction=0.1, seed=3)], steps=10)
    assert torch.equal(a.weights["out"], b.weights["out"])
    zeros = int((a.weights["out"][0] == 0).sum())
    assert 0 < zeros < a.weights["out"][0].numel()


def test_membrane_reset_zeroes_state_only():
    class After:
        def before_step(self, step, agent, obs):
            if step == 25:  # runs after MembraneReset's before_step of step 25
                self.state = [x.clone() for x in agent.hidden_states[0] if x is not None]
                self.weights = {k: v.clone() for k, v in agent.weights.items()}

        def after_step(self, t, agent, reward):
            pass

    probe = After()
    agent, _, _ = _run(perturbations=[MembraneReset(start=25, stop=25), probe], steps=30)
    assert all(torch.count_nonzero(x) == 0 for x in probe.state)
    assert any(torch.count_nonzero(w) > 0 for w in probe.weights.values())


def test_goal_switch_overwrites_the_goal_column_from_its_step():
    seen = []

    class Spy:
        def before_step(self, t, agent, obs):
            seen.append(obs[0, -1])

        def after_step(self, t, agent, reward):
            pass

    _run(perturbations=[GoalSwitch([(5, 2.0), (8, -1.0)]), Spy()], steps=10)
    assert seen[:4] == [0.5] * 4 and seen[4:7] == [2.0] * 3 and seen[7:] == [-1.0] * 3


def test_erase_synapses_rejects_unknown_layers():
    from pdlf.errors import ShapeError

    agent, _, _ = _run(steps=2)
    with pytest.raises(ShapeError, match="no layer 'l9'"):
        agent.erase_synapses("l9", torch.zeros(2, 2, dtype=torch.bool))
