"""Learning from feedback: three-factor rules in the agents, the reward input, neuron retention,
mirrored twins and multi-task episodes of the cognitive tasks, and the fitness's learning share."""

import dataclasses

import numpy as np
import pytest
import torch

from pdlf.config import config_from_dict
from pdlf.envs import get_task, make_batched
from pdlf.envs.cognitive import GNG_DR2, MIRROR_BIT, TaskReset
from pdlf.errors import ConfigError
from pdlf.es.generation import env_seeds_for, fitness_parts
from pdlf.l2l import evaluate_l2l
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import rollout
from pdlf.snn import intrinsic as ip
from pdlf.snn.network import AgentConfig, PlasticSNN, task_agents, task_layout

GNG = {"env": {"name": "gng_dr2", "goals": [0.5], "normalize_obs": False, "params": {"n_trials": 50}},
       "agent": {"hidden": [2], "neuron": "two_compartment", "retention_d": 0.95, "readout": "membrane", "theta": 100.0},
       "rule": {"name": "none", "layers": {"out": "tf_delta"}}, "ray": {"workers": 0}}


def _hand_built(cfg):
    """A genome that can only solve gng_dr2 by learning from the feedback: stimulus k drives
    hidden neuron k (no spikes: theta 100, the readout reads the membranes), and the readout's
    delta rule is gated open by either feedback channel with the "go" channel as its target."""
    layout = task_layout(get_task("gng_dr2"), cfg.agent, cfg.rule)
    g = layout.split(torch.zeros(1, layout.size))
    g["l0"]["W"][0, 0, 0] = g["l0"]["W"][0, 1, 1] = 1.0
    g["out"]["decay"][:] = -20.0  # eligibility = this step's input
    g["mod"]["out.read"][0, 1, 0] = 1.0  # target = "go" feedback
    g["mod"]["out.gate"][0, :, 0] = 1.0  # gate open on the feedback step only
    return layout.join(g)[0]


def test_a_hand_built_three_factor_agent_learns_each_new_mapping_and_its_frozen_twin_does_not():
    cfg = config_from_dict(GNG)
    learned = evaluate_l2l(cfg, _hand_built(cfg), tasks=20, trials=50, sequences=3)
    assert learned.failures <= 3 and np.mean(learned.accuracy) > 0.8
    # the same network with the readout fixed (rule none): it cannot know which stimulus is "go"
    frozen = dataclasses.replace(cfg, rule=dataclasses.replace(cfg.rule, layers={}))
    layout = task_layout(get_task("gng_dr2"), frozen.agent, frozen.rule)
    g = layout.split(torch.zeros(1, layout.size))
    g["l0"]["W"][0, 0, 0] = g["l0"]["W"][0, 1, 1] = 1.0
    g["out"]["W"][0, 0, 0] = 1.0  # "stimulus 0 is go", right for about half of the tasks
    fixed = evaluate_l2l(frozen, layout.join(g)[0], tasks=20, trials=50, sequences=3)
    assert fixed.failures >= 20 and abs(np.mean(fixed.accuracy) - 0.5) < 0.15


def test_the_readout_changes_only_when_the_feedback_arrives():
    cfg = config_from_dict(GNG)
    agent = task_agents(get_task("gng_dr2"), cfg.agent, cfg.rule)
    agent.reset(_hand_built(cfg), 0)
    x = torch.zeros(1, 6)
    x[0, 0] = 1.0  # stimulus 0
    for _ in range(5):
        agent.act(x)
    x[0, 0] = 0.0
    for _ in range(9):  # delay and decision: no feedback, no change
        agent.act(x)
        assert float(agent.weights["out"].abs().sum()) == 0.0
    x[0, 5] = 1.0  # feedback: "go"
    agent.act(x)
    w = agent.weights["out"][0, :, 0]
    assert float(w[0]) > 0 and float(w[1]) == 0.0  # the remembered stimulus now answers "go"


def test_the_rollout_hands_each_step_the_previous_reward():
    seen = []

    class Recorder:
        pop = 2

        def reset(self, genomes, seeds, rows_per_genome=1):
            pass

        def act(self, obs, reward=None):
            seen.append(reward.clone())
            return torch.full((2, 1), 0.9)

    env = make_batched("gng_dr2", 2, params={"n_trials": 1, "reward": "accuracy"})
    res = rollout(Recorder(), env, torch.zeros(2, 1), np.full(2, 0.5), np.array([1, 1 + MIRROR_BIT]))
    rewards = torch.stack(seen)  # [T, 2]: step t sees the reward of step t - 1
    assert float(rewards[0].abs().sum()) == 0.0
    assert rewards[1:].sum(0).tolist() == res.returns.tolist()
    assert sorted(res.returns.tolist()) == [0.0, 1.0]  # a twin pair: "go" is right in exactly one


def test_retention_sets_the_memory_per_step():
    cfg = AgentConfig(hidden=(1,), retention=0.95, theta=100.0)
    assert cfg.soma_tau() == pytest.approx(1 / 0.95)
    net = PlasticSNN(1, 1, cfg, RuleConfig(name="none"))
    net.reset(torch.ones(1, net.layout.size), 0)
    net.act(torch.ones(1, 1))
    v = [float(net.hidden_states[0].v)]
    for _ in range(10):
        net.act(torch.zeros(1, 1))
        v.append(float(net.hidden_states[0].v))
    assert v[0] == pytest.approx(0.05)  # v = I + (v - I) * 0.95 from 0
    assert v[10] == pytest.approx(0.05 * 0.95**10)  # ~60 % of it is left 10 steps later
    assert AgentConfig(neuron="two_compartment", retention_d=0.9).dendrite_tau() == pytest.approx(1 / 0.9)


def test_three_factor_intrinsic_rule_by_hand():
    # one neuron: theta 0.5, eta 2, gate 1, lambda = sigmoid(0) = 0.5, modulator = rpe = 3
    genes = {"eta": torch.tensor([[2.0]]), "gate": torch.tensor([[1.0]]), "decay": torch.tensor([[0.0]])}
    state = ip.LayerIntrinsic({"theta": genes}, torch.zeros(1, 1), torch.zeros(1, 1), rule="three_factor",
                              eligibility={"theta": torch.zeros(1, 1)})
    props = {"theta": torch.tensor([[0.5]])}
    state.step(props, torch.zeros(1, 1), torch.ones(1, 1), None, rpe=torch.tensor([[0.0]]))
    assert float(state.eligibility["theta"]) == pytest.approx(1.0)  # |s| - r_prev = 1 - 0
    assert float(props["theta"]) == 0.5  # no third factor, no change
    state.step(props, torch.zeros(1, 1), torch.zeros(1, 1), None, rpe=torch.tensor([[3.0]]))
    e = 0.5 * 1.0 + (0.0 - 0.1)  # rate after step 1 = 0.1
    assert float(state.eligibility["theta"]) == pytest.approx(e)
    assert float(props["theta"]) == pytest.approx(0.5 + 2.0 * 3.0 * e)
    state.reset_eligibility()
    assert float(state.eligibility["theta"]) == 0.0


def test_mirrored_twins_flip_every_answer_and_keep_the_stimuli():
    env = make_batched("gng_dr2", 2, params={"n_trials": 30, "noise": 0.1})
    env.reset(np.full(2, 0.5), np.array([5, 5 + MIRROR_BIT]))
    assert np.array_equal(env.trial_targets[1], 1 - env.trial_targets[0])
    assert np.array_equal(env.mappings[1], 1 - env.mappings[0])
    table = env._table[env._member_row]
    fb = list(get_task("gng_dr2").feedback_channels)
    assert np.array_equal(table[0][:, :4], table[1][:, :4])  # stimuli, noise, fixation, decision
    assert np.array_equal(table[0][:, fb], table[1][:, fb[::-1]])  # the feedback pair swapped


def test_several_tasks_in_one_episode_reset_activity_between_them():
    params = {"n_trials": 10, "n_tasks": 3, "noise": 0.0}
    env = make_batched("gng_dr4", 40, params=params)
    env.reset(np.full(40, 0.5), np.arange(40))
    assert env.max_steps == 3 * 10 * 16 and env.trial_targets.shape == (40, 30)
    assert env.task_mappings.shape == (40, 3, 4)
    assert (env.task_mappings[:, 0] != env.task_mappings[:, 1]).any()  # each task its own mapping
    (hook,) = env.task_hooks
    assert isinstance(hook, TaskReset) and [s for s in range(1, 481) if hook.fires_at(s)] == [161, 321]
    # task 1 of the episode is the one-task episode of the same seed
    one = make_batched("gng_dr4", 40, params={"n_trials": 10, "noise": 0.0})
    one.reset(np.full(40, 0.5), np.arange(40))
    assert np.array_equal(one.trial_targets, env.trial_targets[:, :10])


def test_env_seeds_pair_twins_and_fitness_parts_by_hand():
    cfg = config_from_dict({**GNG, "env": {**GNG["env"], "repeats": 4, "mirror_pairs": True}})
    seeds = env_seeds_for(cfg, 3, 1)
    assert np.array_equal(seeds[:, 1::2], seeds[:, 0::2] + MIRROR_BIT)
    # member 0: pure bias (10 vs 0 on each pair); member 1: learns (8, 8); member 2: chance (5, 5)
    returns = np.array([[[10.0, 0.0, 10.0, 0.0]], [[8.0, 8.0, 8.0, 8.0]], [[5.0, 5.0, 5.0, 5.0]]])
    parts = fitness_parts(returns)
    learning, bias = np.array([5.0, 8.0, 5.0]), np.array([5.0, 0.0, 0.0])
    assert parts.learning_var == pytest.approx(learning.var()) and parts.bias_var == pytest.approx(bias.var())
    assert parts.learning_share == pytest.approx(learning.var() / (learning.var() + bias.var()))


@pytest.mark.parametrize("overrides, words", [
    (["rule.modulator=feedbak"], ["rule.modulator", "did you mean 'feedback'"]),
    (["rule.modulator=reward"], ["tf_delta", "rule.modulator=feedback"]),
    (["rule.layers={outt: tf_delta}"], ["rule.layers", "'outt'", "did you mean 'out'"]),
    (["rule.layers={out: tf_delt}"], ["rule.layers.out", "did you mean 'tf_delta'"]),
    (["agent.retention_d=1.0"], ["agent.retention_d", "(0, 1)"]),
    (["agent.tau_d=3.0"], ["agent.retention_d", "agent.tau_d", "give one"]),
    (["agent.intrinsic_rule=three"], ["agent.intrinsic_rule", "three_factor"]),
    (["env.mirror_pairs=true", "env.repeats=3"], ["env.mirror_pairs", "even"]),
    (["env.name=halfcheetah_vel", "env.params={}", "env.mirror_pairs=true"], ["env.mirror_pairs", "no mirrored twins"]),
    (["env.name=halfcheetah_vel", "env.params={}"], ["rule.modulator=feedback", "no feedback input", "reward"]),
])
def test_bad_three_factor_input_is_one_line(overrides, words):
    with pytest.raises(ConfigError) as err:
        cfg = config_from_dict(GNG, overrides)
        task_layout(get_task(cfg.env.name), cfg.agent, cfg.rule)  # where the task meets the rule
    message = str(err.value)
    assert "\n" not in message
    for w in words:
        assert w in message, message


def test_an_unknown_intrinsic_property_is_one_line():
    with pytest.raises(ConfigError, match="agent.intrinsic has 'thta'.*did you mean 'theta'"):
        config_from_dict(GNG, ["agent.intrinsic=[thta]", "agent.intrinsic_rule=three_factor"])


def test_gng_family_spec_has_feedback_and_twins():
    spec = GNG_DR2.task
    assert spec.feedback_channels == (4, 5) and spec.mirror_bit == MIRROR_BIT
    assert get_task("halfcheetah_vel").feedback_channels == () and get_task("halfcheetah_vel").mirror_bit == 0


def test_uniform_initial_fast_weights_leave_direct_layers_their_genes():
    cfg = config_from_dict(GNG, ["agent.init_weights=uniform"])
    agent = task_agents(get_task("gng_dr2"), cfg.agent, cfg.rule)
    genome = _hand_built(cfg)
    agent.reset(genome, 3)
    direct = agent.layout.split(genome.unsqueeze(0))["l0"]["W"][0]
    assert torch.equal(agent.weights["l0"][0], direct)  # the evolved input layer, untouched
    assert float(agent.weights["out"].abs().sum()) > 0  # the plastic readout starts at a uniform draw
