"""Cognitive task families (dms, ctx_dms, gng_dr2, gng_dr4): phases by hand, mappings, oracle
agents, batched == gym, params, the trial-reset hook, check_env and a real PlasticSNN rollout."""

from __future__ import annotations

import itertools

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env

import pdlf.envs.cognitive as cognitive
from pdlf.envs import describe_tasks, get_task, make_batched
from pdlf.envs.cognitive import CognitiveBatchedEnv, TrialReset
from pdlf.errors import ConfigError, GoalRangeError
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

from batched_checks import assert_memory_task_equals_gym, step_all

FAMILIES = ["dms", "ctx_dms", "gng_dr2", "gng_dr4"]
GYM_IDS = {"dms": "pdlf/DMS-v0", "ctx_dms": "pdlf/CtxDMS-v0", "gng_dr2": "pdlf/GNGDR2-v0",
           "gng_dr4": "pdlf/GNGDR4-v0"}
OBS_DIMS = {"dms": 12, "ctx_dms": 10, "gng_dr2": 6, "gng_dr4": 8}
# (fixation, decision, first feedback channel), written out from the layout in the docstring
FLAGS = {"dms": (8, 9, 10), "ctx_dms": (6, 7, 8), "gng_dr2": (2, 3, 4), "gng_dr4": (4, 5, 6)}

# tiny configs and the phase of each step index of one period, written out by hand
TINY = {
    "dms": ({"n_trials": 2, "n_stimuli": 3, "noise": 0.0, "fixation": 1, "sample": 2, "delay": 1,
             "test": 1, "decision": 2, "feedback": 1},
            ["fixation", "sample", "sample", "delay", "test", "decision", "decision", "feedback"]),
    "ctx_dms": ({"n_trials": 3, "noise": 0.0, "fixation": 1, "sample": 1, "delay": 0, "test": 1,
                 "decision": 1, "feedback": 2},
                ["fixation", "sample", "test", "decision", "feedback", "feedback"]),
    "gng_dr2": ({"n_trials": 4, "noise": 0.0, "stimulus": 1, "delay": 1, "decision": 1,
                 "feedback": 0},
                ["stimulus", "delay", "decision"]),
    "gng_dr4": ({"n_trials": 3, "noise": 0.0, "stimulus": 2, "delay": 1, "decision": 2,
                 "feedback": 1},
                ["stimulus", "stimulus", "delay", "decision", "decision", "feedback"]),
}


def expected_row(name: str, phase: str, cues: np.ndarray, target: int) -> np.ndarray:
    """One observation written out channel by channel from a trial's cues (module docstring)."""
    row = np.zeros(OBS_DIMS[name])
    fixation, decision, feedback = FLAGS[name]
    if phase == "decision":
        row[decision] = 1
    elif phase == "feedback":
        row[feedback + target] = 1
    else:
        row[fixation] = 1
    if name == "dms":
        sample, test = cues
        if phase == "sample":
            row[sample] = 1
        if phase == "test":
            row[test] = 1
    elif name == "ctx_dms":
        context, sample_a, sample_b, test_a, test_b = cues
        if phase in ("fixation", "sample"):
            row[4 + context] = 1
        if phase == "sample":
            row[sample_a], row[2 + sample_b] = 1, 1
        if phase == "test":
            row[test_a], row[2 + test_b] = 1, 1
    elif phase == "stimulus":
        row[cues[0]] = 1
    return row


def target_from_mapping(name: str, mapping: np.ndarray, cues: np.ndarray) -> int:
    """The correct response of a trial, from the task's mapping (module docstring)."""
    if name == "dms":
        return int(cues[1] == mapping[cues[0]])
    if name == "ctx_dms":
        feature = mapping[cues[0]]  # 0: A, 1: B
        return int(cues[1 + feature] == cues[3 + feature])
    return int(mapping[cues[0]])


@pytest.mark.parametrize("name", FAMILIES)
def test_phases_by_hand(name):
    params, period_phases = TINY[name]
    period, n = len(period_phases), params["n_trials"]
    env = make_batched(name, 3, params=params)
    assert env.max_steps == n * period and env.schedule.period == period
    obs, _, _ = step_all(env, [4, 9, 4], np.zeros((n * period, 3, 1)))
    for b in range(3):
        for t in range(n * period):
            trial, k = divmod(t, period)
            cues, target = env.trial_cues[b, trial], int(env.trial_targets[b, trial])
            expected = expected_row(name, period_phases[k], cues, target)
            np.testing.assert_array_equal(obs[t, b], expected, err_msg=f"step index {t}")
        np.testing.assert_array_equal(obs[n * period, b], 0.0)  # after the end
    # the feedback pair is on right after the last decision step, and only then
    feedback = FLAGS[name][2]
    on = obs[: n * period, 0, feedback:].sum(axis=1) == 1
    assert on.tolist() == [p == "feedback" for p in period_phases] * n
    # the gym env names the same phases
    ref = gym.make(GYM_IDS[name], **params)
    ref.reset(seed=4)
    phases = [ref.step(np.array([0.0], dtype=np.float32))[4]["phase"] for _ in range(n * period)]
    assert phases == period_phases * n


def test_default_trial_layout():
    # the step indices of one default trial listed in the module docstring
    dms = make_batched("dms", 1).schedule
    spans = {p: dms.span(p) for p in dms.names}
    assert spans == {"fixation": (0, 3), "sample": (3, 8), "delay": (8, 18), "test": (18, 23),
                     "decision": (23, 32), "feedback": (32, 33)}
    assert dms.steps == 660 and make_batched("ctx_dms", 1).schedule.steps == 660
    gng = make_batched("gng_dr4", 1).schedule
    assert {p: gng.span(p) for p in gng.names} == {
        "stimulus": (0, 5), "delay": (5, 10), "decision": (10, 15), "feedback": (15, 16)}
    assert gng.steps == 320 and make_batched("gng_dr2", 1).max_steps == 320


@pytest.mark.parametrize(
    "name, params, classes",
    [
        ("dms", {"n_stimuli": 3}, sorted(itertools.permutations(range(3)))),
        ("dms", {}, sorted(itertools.permutations(range(4)))),
        ("ctx_dms", {}, [(0, 1), (1, 0)]),
        ("gng_dr2", {}, [(0, 1), (1, 0)]),
        ("gng_dr4", {}, sorted(set(itertools.permutations((0, 0, 1, 1))))),
    ],
)
def test_mappings_cover_their_classes_and_labels_follow_them(name, params, classes):
    B = 400
    params = {"n_trials": 20, "noise": 0.0, **params}
    env = make_batched(name, B, params=params)
    obs, _, _ = step_all(env, np.arange(B), np.zeros((env.max_steps, B, 1)))
    assert sorted({tuple(m) for m in env.mappings}) == classes  # every class occurs
    if name.startswith("gng"):
        np.testing.assert_array_equal(env.mappings.sum(axis=1), env.mappings.shape[1] // 2)
    # one mapping per episode: every trial's target follows it, read from the observation
    s = env.schedule
    for b in range(0, B, 7):
        for trial in range(s.n_trials):
            start = trial * s.period
            decoded = decode_cues(name, obs[start : start + s.period, b], s)
            np.testing.assert_array_equal(decoded, env.trial_cues[b, trial])
            target = target_from_mapping(name, env.mappings[b], decoded)
            assert env.trial_targets[b, trial] == target
            feedback_step, feedback_channel = start + s.span("feedback")[0], FLAGS[name][2]
            assert obs[feedback_step, b, feedback_channel + target] == 1  # shows that target
    # match / go trials have probability 1/2: 8000 trials
    assert abs(env.trial_targets.mean() - 0.5) < 0.03
    # the same seeds give the same mappings
    before = env.mappings.copy()
    env.reset(np.zeros(B), np.arange(B))
    np.testing.assert_array_equal(env.mappings, before)


def decode_cues(name: str, period_obs: np.ndarray, s) -> np.ndarray:
    """A trial's cues read back from its observations ``[period, C]`` (summed over each phase)."""
    def phase_sum(phase):
        start, stop = s.span(phase)
        return period_obs[start:stop].sum(axis=0)

    if name == "dms":
        return np.array([phase_sum("sample")[:8].argmax(), phase_sum("test")[:8].argmax()])
    if name == "ctx_dms":
        sample, test = phase_sum("sample"), phase_sum("test")
        return np.array([phase_sum("fixation")[4:6].argmax(), sample[0:2].argmax(),
                         sample[2:4].argmax(), test[0:2].argmax(), test[2:4].argmax()])
    return np.array([phase_sum("stimulus")[: OBS_DIMS[name] - 4].argmax()])


class OracleAgent:
    """A fake agent that knows each member's mapping (``env.mappings``) and the schedule, reads
    the stimuli from the (noisy) observations and answers 1.0 / 0.0 on every decision step
    (or the inverse)."""

    def __init__(self, name: str, env: CognitiveBatchedEnv, inverted: bool = False):
        self.name, self.env, self.inverted = name, env, inverted
        self.resets = []

    def reset(self, genomes, seeds=0):
        self.t = 0
        self.window = []

    def reset_membranes(self):
        self.resets.append(self.t + 1)

    def act(self, obs: torch.Tensor, reward=None) -> torch.Tensor:
        s = self.env.schedule
        k = self.t % s.period
        self.window.append(obs.numpy().astype(np.float64))
        answer = np.zeros(obs.shape[0])
        if s.span("decision")[0] <= k < s.span("decision")[1]:
            period_obs = np.stack(self.window[self.t - k : self.t + 1])  # [k + 1, B, C]
            for b in range(obs.shape[0]):
                cues = decode_cues(self.name, period_obs[:, b], s)
                answer[b] = target_from_mapping(self.name, self.env.mappings[b], cues)
        if self.inverted:
            answer = 1.0 - answer
        self.t += 1
        return torch.from_numpy(answer[:, None])


@pytest.mark.parametrize("name", FAMILIES)
def test_oracle_gets_every_trial_and_inverted_none(name):
    B, n = 8, 6
    env = make_batched(name, B, params={"n_trials": n, "noise": 0.1, "trial_reset": True})
    seeds = np.arange(B) % 5
    for inverted, expected in ((False, n), (True, 0)):
        agent = OracleAgent(name, env, inverted)
        result = rollout(agent, env, torch.zeros(B, 1), np.full(B, 0.5), seeds)
        np.testing.assert_array_equal(result.returns, np.full(B, float(expected)))
        np.testing.assert_array_equal(env.trial_correct, not inverted)
        assert agent.resets == [i * env.schedule.period + 1 for i in range(1, n)]
    margin = make_batched(name, B, params={"n_trials": n, "noise": 0.1, "reward": "margin"})
    result = rollout(OracleAgent(name, margin), margin, torch.zeros(B, 1), np.zeros(B), seeds)
    np.testing.assert_allclose(result.returns, n, rtol=1e-12)  # each trial totals 1
    assert margin.trial_correct.all()


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("which", ["tiny_margin", "defaults"])
def test_batched_equals_gym_env_per_member(name, which):
    if which == "tiny_margin":
        params = {**TINY[name][0], "noise": 0.3, "reward": "margin", "margin": 0.3,
                  "trial_reset": True}
    else:
        params = {}
    seeds = np.array([5, 11, 5, 0, 123456789, 11])  # repeated seeds share one cached draw
    env = make_batched(name, len(seeds), params=params)
    assert isinstance(env, CognitiveBatchedEnv) and env.obs_dim == OBS_DIMS[name]
    assert_memory_task_equals_gym(env, GYM_IDS[name], params, seeds)
    # the gym env's trial outcomes and mapping are the batched member's
    actions = np.random.default_rng(3).uniform(-0.5, 1.5, (env.max_steps, len(seeds), 1))
    step_all(env, seeds, actions)
    for b in (1, 4):
        ref = gym.make(GYM_IDS[name], **params)
        ref.reset(seed=int(seeds[b]))
        np.testing.assert_array_equal(ref.unwrapped.episode.mapping, env.mappings[b])
        ends = [ref.step(a)[4] for a in actions[:, b]]
        correct = [info["correct"] for info in ends if info["trial_end"]]
        np.testing.assert_array_equal(correct, env.trial_correct[b])
        assert 0 < sum(correct) < len(correct)  # random actions: some right, some wrong


def test_accuracy_uses_the_mean_over_decision_steps():
    # gng_dr2, one trial, decision 3 steps: a response is the mean of the 3 outputs > 0.5
    params = {"n_trials": 1, "stimulus": 1, "delay": 0, "decision": 3, "feedback": 1}
    env = make_batched("gng_dr2", 4, params=params)
    seeds = np.arange(4)
    env.reset(np.zeros(4), seeds)
    go = env.trial_targets[:, 0].astype(float)
    # means: 2/3 (go), 1/3 (no-go), exactly 0.5 (no-go), 2/3 (go); the first output alone differs
    decision = np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0], [1.0, 0.5, 0.0], [1.5, 0.5, 0.0]])
    actions = np.zeros((5, 4, 1))
    actions[1:4, :, 0] = decision.T
    _, rewards, _ = step_all(env, seeds, actions)
    response = np.array([1, 0, 0, 1])
    np.testing.assert_array_equal(rewards[3], (response == go).astype(float))
    np.testing.assert_array_equal(rewards[[0, 1, 2, 4]], 0.0)  # only the last decision step
    np.testing.assert_array_equal(env.trial_correct[:, 0], response == go)


@pytest.mark.parametrize(
    "name, params, key",
    [
        ("dms", {"n_trails": 8}, "n_trails"),
        ("dms", {"n_trials": 0}, "n_trials"),
        ("dms", {"n_trials": 2.0}, "n_trials"),
        ("dms", {"n_stimuli": 1}, "n_stimuli"),
        ("dms", {"n_stimuli": 9}, "n_stimuli"),
        ("dms", {"noise": -0.1}, "noise"),
        ("dms", {"noise": float("nan")}, "noise"),
        ("dms", {"sample": 0}, "sample"),
        ("dms", {"delay": -1}, "delay"),
        ("ctx_dms", {"decision": True}, "decision"),
        ("ctx_dms", {"n_stimuli": 4}, "n_stimuli"),  # fixed by the family
        ("ctx_dms", {"feedback": -1}, "feedback"),
        ("gng_dr2", {"stimulus": 0}, "stimulus"),
        ("gng_dr2", {"fixation": 3}, "fixation"),  # not a gng phase
        ("gng_dr4", {"reward": "acc"}, "reward"),
        ("gng_dr4", {"margin": 0}, "margin"),
        ("gng_dr4", {"trial_reset": "yes"}, "trial_reset"),
    ],
)
def test_bad_params_are_one_line_errors_naming_the_key(name, params, key):
    checks = [
        lambda: get_task(name).check_params(params),  # what RunConfig.validate calls
        lambda: make_batched(name, 2, params=params),
        lambda: gym.make(GYM_IDS[name], **params),
    ]
    for check in checks:
        with pytest.raises(ConfigError) as info:
            check()
        message = str(info.value)
        assert f"env.params.{key}" in message and "\n" not in message
    if key == "n_trails":
        assert "did you mean 'n_trials'" in message
    if key == "reward":
        assert "accuracy" in message


def test_defaults_registration_and_episode_length():
    rows = {r["name"]: r for r in describe_tasks()}
    common = ["feedback", "reward", "margin", "trial_reset"]
    assert rows["dms"]["params"] == ["n_trials", "n_tasks", "n_stimuli", "noise", "fixation", "sample",
                                     "delay", "test", "decision", *common]
    assert rows["ctx_dms"]["params"] == ["n_trials", "n_tasks", "noise", "fixation", "sample", "delay",
                                         "test", "decision", *common]
    for gng in ("gng_dr2", "gng_dr4"):
        assert rows[gng]["params"] == ["n_trials", "n_tasks", "noise", "stimulus", "delay", "decision",
                                       *common]
    for name in FAMILIES:
        spec = get_task(name)
        assert (spec.gym_id, spec.obs_dim, spec.act_dim, spec.goal_dim) == (
            GYM_IDS[name], OBS_DIMS[name], 1, 0)
        env = make_batched(name, 2)
        assert env.max_steps == spec.episode_steps and env.task_hooks == ()
        assert env.params["n_trials"] == 20 and env.params["feedback"] == 1
        assert env.params["reward"] == "accuracy" and env.params["trial_reset"] is False
    assert make_batched("dms", 1).params["n_stimuli"] == 4
    env = make_batched("gng_dr2", 2, params={"n_trials": 3, "decision": 2, "feedback": 3})
    assert env.max_steps == 3 * (5 + 5 + 2 + 3)
    assert make_batched("gng_dr2", 2, max_steps=45, params={"n_trials": 3, "decision": 2,
                                                            "feedback": 3}).max_steps == 45
    with pytest.raises(ConfigError) as info:
        make_batched("dms", 2, max_steps=1000)
    assert "env.episode_steps=1000" in str(info.value) and "660" in str(info.value)


def test_goals_are_range_checked_and_ignored():
    env = make_batched("dms", 3)
    seeds = np.array([1, 2, 3])
    a = env.reset(np.array([0.0, 0.5, 1.0]), seeds)
    b = env.reset(np.array([0.25, 0.25, 0.25]), seeds)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(GoalRangeError):
        env.reset(np.array([0.0, 2.0, 0.0]), seeds)
    with pytest.raises(GoalRangeError):
        gym.make("pdlf/DMS-v0", goal=1.5)


def test_each_distinct_seed_is_drawn_once(monkeypatch):
    calls = []
    original = cognitive.draw_episode

    def counting(family, params, rng, mirrored=False):
        calls.append(family.task.name)
        return original(family, params, rng, mirrored)

    monkeypatch.setattr(cognitive, "draw_episode", counting)
    env = make_batched("gng_dr4", 32)
    seeds = np.arange(32) % 4 + 100
    env.reset(np.zeros(32), seeds)
    assert len(calls) == 4
    targets = env.trial_targets.copy()
    env.reset(np.zeros(32), seeds[::-1].copy())  # cached: no new draw
    assert len(calls) == 4
    np.testing.assert_array_equal(env.trial_targets, targets[::-1])


class Recorder:
    """A fake agent that records the action numbers before which the hook reset it."""

    def __init__(self):
        self.resets, self.step = [], None

    def reset_membranes(self):
        self.resets.append(self.step)


@pytest.mark.parametrize("name", FAMILIES)
def test_trial_reset_hook_fires_before_the_first_step_of_trials_2_to_n(name):
    params = {**TINY[name][0], "trial_reset": True}
    env = make_batched(name, 2, params=params)
    (hook,) = env.task_hooks
    assert isinstance(hook, TrialReset)
    period, n = len(TINY[name][1]), params["n_trials"]
    agent = Recorder()
    for step in range(1, env.max_steps + 2):
        agent.step = step
        assert hook.before_step(step, agent, np.zeros((2, env.obs_dim))) is None
        hook.after_step(step, agent, np.zeros(2))
    assert agent.resets == [i * period + 1 for i in range(1, n)]  # steps counted from 1
    assert make_batched(name, 2, params=TINY[name][0]).task_hooks == ()


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("noise", [0.0, 0.1])
@pytest.mark.filterwarnings("ignore:.*infinity:UserWarning")
def test_check_env(name, noise):
    check_env(gym.make(GYM_IDS[name], n_trials=2, noise=noise).unwrapped)


@pytest.mark.parametrize("name, reward", [("dms", "accuracy"), ("ctx_dms", "margin"),
                                          ("gng_dr4", "accuracy")])
def test_rollout_with_a_plastic_snn(name, reward):
    B, n = 6, 3
    params = {"n_trials": n, "reward": reward, "trial_reset": True}
    env = make_batched(name, B, params=params)
    agent = PlasticSNN(env.obs_dim, 1, AgentConfig(hidden=(8,), init_weights="uniform"))
    genomes = torch.randn(B, agent.layout.size, generator=torch.Generator().manual_seed(0)) * 0.5
    acts, resets = [], []
    act, reset_membranes = agent.act, agent.reset_membranes

    def counting_act(obs, reward=None):
        acts.append(1)
        return act(obs, reward)

    def recorded_reset():
        resets.append(len(acts) + 1)  # the action about to be taken
        reset_membranes()

    agent.act, agent.reset_membranes = counting_act, recorded_reset
    result = rollout(agent, env, genomes, np.zeros(B), np.arange(B) % 4,
                     agent_seeds=np.arange(B), record_rewards=True)
    T, period = env.max_steps, env.schedule.period
    assert len(acts) == T and resets == [period + 1, 2 * period + 1]
    np.testing.assert_array_equal(result.lengths, np.full(B, T))
    assert np.isfinite(result.returns).all() and not result.diverged.any()
    if reward == "accuracy":
        np.testing.assert_array_equal(result.returns, env.trial_correct.sum(axis=1))
    else:
        assert np.all(np.abs(result.returns) <= n + 1e-9)


def test_module_docstring_example_runs():
    import doctest

    result = doctest.testmod(cognitive)
    assert result.attempted >= 2 and result.failed == 0
