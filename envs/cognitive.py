"""Cognitive task families for learning-to-learn (IP²-RSNN): delayed match-to-sample (``dms``),
context-dependent DMS (``ctx_dms``) and go/no-go with delayed response over 2 or 4 stimuli
(``gng_dr2``, ``gng_dr4``), as gymnasium envs and as batched numpy envs.

A *task* of a family is a mapping drawn from the episode's seed; an episode is ``n_trials``
trials of that one task, so plastic state can learn the mapping within the episode:

- ``dms``: a permutation ``m`` of the ``K = n_stimuli`` stimuli (2..8, default 4); a trial is
  "match" iff ``test == m[sample]``. Match and non-match trials have probability 1/2 each; a
  non-match test is uniform over the other ``K - 1`` stimuli.
- ``ctx_dms``: stimuli have two binary features A and B; context ``c`` says that feature
  ``m[c]`` (0: A, 1: B) must match between sample and test, ``m`` a permutation of 2. Match
  with probability 1/2; the other feature of the test is drawn uniformly.
- ``gng_dr2`` / ``gng_dr4``: ``m[s]`` is go (1) or no-go (0) for stimulus ``s``, half of the
  stimuli go; a trial shows one stimulus, uniform.

Phases of one trial, in steps of 100 ms (defaults; each an ``env.params`` key), then ``feedback``
steps (default 1). Step indices of one trial with the defaults, counted from 0 at its start:

    dms, ctx_dms  fixation 0-2 | sample 3-7 | delay 8-17 | test 18-22 | decision 23-31 | feedback 32
    gng_dr2/4     stimulus 0-4 | delay 5-9 | decision 10-14 | feedback 15

A trial plus its feedback is a *period* (33 and 16 steps); trial ``i`` (0-based) starts at
episode step index ``i * period``; ``T = n_trials * period`` (660 and 320 with 20 trials).

Observation channels (width fixed per task; ``C`` = obs_dim):

    dms (12)      0-7 stimulus (one-hot, channels 0..K-1 used; sample phase: sample, test phase:
                  test) | 8 fixation | 9 decision | 10-11 feedback [non-match, match]
    ctx_dms (10)  0-1 feature A | 2-3 feature B (sample phase: sample, test phase: test) |
                  4-5 context (fixation and sample phases) | 6 fixation | 7 decision |
                  8-9 feedback [non-match, match]
    gng_dr2 (6)   0-1 stimulus (stimulus phase) | 2 fixation | 3 decision | 4-5 feedback [no-go, go]
    gng_dr4 (8)   0-3 stimulus (stimulus phase) | 4 fixation | 5 decision | 6-7 feedback [no-go, go]

Fixation is 1 in every phase before the decision, 0 in decision and feedback; the decision flag
is 1 in the decision phase only; the feedback pair is the trial's correct response one-hot, on
the feedback steps only (every other channel 0 then). Gaussian noise of std ``noise`` (default
0.1) is added to the used stimulus channels (dms: 0..K-1, ctx_dms: 0-3, gng: all) on the steps
of the phases that show stimuli (sample and test; stimulus), nowhere else.

Action: one scalar per step. A trial's response is ``mean(actions over its decision steps) > 0.5``
(1 = go / match). Reward (``env.params.reward``): ``accuracy``, 1 on a trial's last decision step
if the response is correct, else 0 (the return counts correct trials, 0..n_trials), or ``margin``,
``clip((2y - 1)(a - 0.5) / margin, -1, 1) / decision`` on every decision step (``y`` the correct
response; a trial totals [-1, 1]). No goal: a goal in [0, 1] is range-checked and ignored.

Random draws, all from ``seeding.np_random(seed)`` of ``reset(seed)``, in this order:
dms: ``m = permutation(K)``, sample ``integers(0, K, n)``, match ``integers(0, 2, n)``, non-match
offset ``integers(1, K, n)`` (test = ``(m[sample] + offset) % K`` when non-match);
ctx_dms: ``m = permutation(2)``, context ``integers(0, 2, n)``, sample ``integers(0, 2, (n, 2))``
([A, B]), match ``integers(0, 2, n)``, the test's other feature ``integers(0, 2, n)``;
gng: ``m = permutation([0] * N/2 + [1] * N/2)``, stimulus ``integers(0, N, n)``; then, for
every family and only when ``noise > 0``, ``standard_normal((noisy steps in time order, used
stimulus channels))``.

`CognitiveEnv` subclasses are the gymnasium envs (``pdlf/DMS-v0``, ``pdlf/CtxDMS-v0``,
``pdlf/GNGDR2-v0``, ``pdlf/GNGDR4-v0``; float32 observations ``[C]``); `CognitiveBatchedEnv`
subclasses (``make_batched(name, B, params=...)``) step ``B`` episodes, member ``b`` equal to
the gym env reset with ``seeds[b]`` (observations float64 of the same float32 values, rewards
and episode end bit for bit). Each distinct seed's episode (observations ``[T + 1, C]`` with the
noise, targets, mapping) is drawn once and cached. The batched env records ``trial_targets``
``[B, n_trials]`` int8 and ``trial_correct`` ``[B, n_trials]`` bool (filled as trials end).
With ``trial_reset`` its ``task_hooks`` hold `TrialReset`: ``agent.reset_membranes()`` before
the first action of trials 2..n (actions ``i * period + 1``, counted from 1), fast weights kept.

Several tasks in one episode (``n_tasks``, default 1): the episode is ``n_tasks`` tasks of
``n_trials`` trials each, one after another, each with its own mapping (task ``k``'s draws follow
task ``k - 1``'s, the noise after all of them), and the ``task_hooks`` hold `TaskReset`:
``agent.reset_membranes()`` before each later task's first action. That is learning to learn's
protocol (`pdlf.l2l`: a new task resets activity, fast weights and intrinsic state carry over)
inside one episode, so training can score a genome on it. ``trial_targets`` and
``trial_correct`` then hold all ``n_tasks * n_trials`` trials, task-major.

Mirrored twins (`MIRROR_BIT`): the seed ``s + MIRROR_BIT`` (``0 <= s < MIRROR_BIT``) gives
episode ``s`` with every trial's correct response flipped (go <-> no-go, match <-> non-match)
and the feedback showing the flipped answer; stimuli, noise and schedule are the same. A pair of
twins cancels any output bias exactly: an agent that ignores the feedback is right on exactly
half of the pair's trials, so only learning from the feedback scores above chance
(``env.mirror_pairs``, `pdlf.es.generation.env_seeds_for`).

>>> s = trial_schedule(DMS, DMS.defaults)
>>> s.span("test"), s.span("feedback"), s.period, s.steps
((18, 23), (32, 33), 33, 660)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding

from pdlf.envs.copy_task import REWARDS, margin_reward
from pdlf.envs.tasks import TaskSpec, register_task
from pdlf.envs.vector import BatchedEnv, register_batched
from pdlf.errors import ConfigError
from pdlf.registry import did_you_mean

MAX_STIMULI = 8  # dms stimulus channels: n_stimuli lies in 2..8, so the width is static
THRESHOLD = 0.5  # a mean decision output above it answers go / match
CACHE_LIMIT = 1024  # distinct seeds kept per batched env (~33 KB each at the dms defaults)
MIRROR_BIT = 2**31  # seed + MIRROR_BIT: the mirrored twin of the episode of seed (module docstring)
INT_MINIMUM = {"n_trials": 1, "n_tasks": 1, "fixation": 1, "sample": 1, "test": 1, "stimulus": 1,
               "decision": 1, "delay": 0, "feedback": 0}
DMS_PHASES = {"fixation": 3, "sample": 5, "delay": 10, "test": 5, "decision": 9}
GNG_PHASES = {"stimulus": 5, "delay": 5, "decision": 5}


def check_cognitive_params(params: Mapping[str, Any]) -> None:
    """Raise a one-line `ConfigError` naming ``env.params.KEY`` for the first unusable value:
    phase lengths, ``n_trials`` and ``feedback`` integers >= their minimum (`INT_MINIMUM`),
    ``n_stimuli`` an integer in 2..8, ``noise`` finite >= 0, ``margin`` finite > 0, ``reward``
    one of `REWARDS`, ``trial_reset`` true or false. Unknown keys are `TaskSpec.check_params`'s."""
    for key, value in params.items():
        problem = None
        is_bool = isinstance(value, (bool, np.bool_))
        is_int = isinstance(value, (int, np.integer)) and not is_bool
        is_number = isinstance(value, (int, float, np.integer, np.floating)) and not is_bool
        if key == "n_stimuli":
            if not is_int or not 2 <= value <= MAX_STIMULI:
                problem = f"must be an integer in 2..{MAX_STIMULI}"
        elif key in INT_MINIMUM:
            if not is_int or value < INT_MINIMUM[key]:
                problem = f"must be an integer >= {INT_MINIMUM[key]}"
        elif key == "noise":
            if not is_number or not (math.isfinite(value) and value >= 0):
                problem = "must be a finite number >= 0"
        elif key == "margin":
            if not is_number or not (math.isfinite(value) and value > 0):
                problem = "must be a finite number > 0"
        elif key == "reward":
            if not isinstance(value, str) or value not in REWARDS:
                problem = did_you_mean(str(value), REWARDS)
        elif key == "trial_reset" and not is_bool:
            problem = "must be true or false"
        if problem is not None:
            raise ConfigError(f"env.params.{key}={value!r}: {problem}")


@dataclass(frozen=True)
class Family:
    """One task family: its spec, phases and channel layout (module docstring).

    Attributes:
        task: the registered `TaskSpec`.
        phases: trial phases in order (the last is ``"decision"``), each an ``env.params`` key.
        stimulus_width: stimulus channels at the start of the observation.
        context_width: context channels after them (ctx_dms: 2, else 0).
        noisy_phases: phases whose steps get noise on the used stimulus channels.
        n_stimuli: stimuli of a gng family (2 or 4); 0 elsewhere.
        defaults: every ``env.params`` key with its default.
    """

    task: TaskSpec
    phases: tuple[str, ...]
    stimulus_width: int
    context_width: int
    noisy_phases: tuple[str, ...]
    n_stimuli: int
    defaults: Mapping[str, Any] = field(compare=False)

    @property
    def fixation_channel(self) -> int:
        return self.stimulus_width + self.context_width

    @property
    def decision_channel(self) -> int:
        return self.fixation_channel + 1

    @property
    def feedback_channel(self) -> int:
        """First of the feedback pair [no-go / non-match, go / match]."""
        return self.fixation_channel + 2


def _family(name: str, gym_id: str, phases: Mapping[str, int], stimulus_width: int,
            context_width: int, noisy_phases: tuple[str, ...], n_stimuli: int,
            summary: str) -> Family:
    """Build and register one family's `TaskSpec`."""
    first = {"n_trials": 20, "n_tasks": 1, **({"n_stimuli": 4} if name == "dms" else {}), "noise": 0.1}
    last = {"feedback": 1, "reward": "accuracy", "margin": 0.5, "trial_reset": False}
    defaults = {**first, **phases, **last}
    period = sum(phases.values()) + last["feedback"]
    spec = TaskSpec(
        name=name, gym_id=gym_id, obs_dim=stimulus_width + context_width + 4, act_dim=1,
        goal_dim=0, goal_low=0.0, goal_high=1.0, goal_units="unused",
        episode_steps=first["n_trials"] * period,
        description=f"{summary}; {first['n_trials']} trials of one random mapping per episode,"
        f" T = n_trials * period (default {period}) steps (no goal: the value is accepted and ignored);"
        f" env.params: {', '.join(defaults)}",
        params=tuple(defaults), param_check=check_cognitive_params,
        feedback_channels=(stimulus_width + context_width + 2, stimulus_width + context_width + 3),
        mirror_bit=MIRROR_BIT,
    )
    return Family(register_task(spec), tuple(phases), stimulus_width, context_width,
                  noisy_phases, n_stimuli, defaults)


DMS = _family("dms", "pdlf/DMS-v0", DMS_PHASES, MAX_STIMULI, 0, ("sample", "test"), 0,
              "delayed match-to-sample: match iff test == a random permutation of the sample")
CTX_DMS = _family("ctx_dms", "pdlf/CtxDMS-v0", DMS_PHASES, 4, 2, ("sample", "test"), 0,
                  "context-dependent DMS: the context cue picks the feature (A or B) that must"
                  " match, cue -> feature a random assignment")
GNG_DR2 = _family("gng_dr2", "pdlf/GNGDR2-v0", GNG_PHASES, 2, 0, ("stimulus",), 2,
                  "go/no-go with delayed response, 2 stimuli, 1 go (random)")
GNG_DR4 = _family("gng_dr4", "pdlf/GNGDR4-v0", GNG_PHASES, 4, 0, ("stimulus",), 4,
                  "go/no-go with delayed response, 4 stimuli, 2 go (random)")


def family_params(family: Family, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``family.defaults`` updated with ``params``, after ``task.check_params`` (keys, values)."""
    params = dict(params or {})
    family.task.check_params(params)
    return {**family.defaults, **params}


@dataclass(frozen=True)
class TrialSchedule:
    """Where the phases lie. ``names`` are the trial phases then ``"feedback"``; ``starts`` and
    ``stops`` their step index ranges within a period; a period is one trial plus feedback.
    ``n_trials`` counts the episode's trials (``tasks`` tasks of ``n_trials / tasks`` each)."""

    names: tuple[str, ...]
    starts: tuple[int, ...]
    stops: tuple[int, ...]
    n_trials: int
    tasks: int = 1

    @property
    def trials_per_task(self) -> int:
        return self.n_trials // self.tasks

    @property
    def period(self) -> int:
        return self.stops[-1]

    @property
    def steps(self) -> int:
        """T = n_trials * period."""
        return self.n_trials * self.period

    def span(self, name: str) -> tuple[int, int]:
        """``(start, stop)`` of phase `name` within a period."""
        i = self.names.index(name)
        return self.starts[i], self.stops[i]

    def rows(self, name: str) -> np.ndarray:
        """Episode step indices of phase `name` in every trial, in time order."""
        start, stop = self.span(name)
        trial_starts = np.arange(self.n_trials)[:, None] * self.period
        return (trial_starts + np.arange(start, stop)[None]).reshape(-1)


def trial_schedule(family: Family, params: Mapping[str, Any]) -> TrialSchedule:
    """The schedule of a family's phases for (complete) `params`."""
    names = (*family.phases, "feedback")
    stops = tuple(np.cumsum([int(params[name]) for name in names]).tolist())
    tasks = int(params.get("n_tasks", 1))
    return TrialSchedule(names, (0, *stops[:-1]), stops, int(params["n_trials"]) * tasks, tasks)


@dataclass(frozen=True)
class Episode:
    """One seed's episode.

    Attributes:
        inputs: ``[T + 1, C]`` float32 observations; row ``T`` (after the end) is zeros.
        targets: ``[n_trials]`` int8 correct responses (1 = go / match; flipped in a mirrored twin).
        mapping: the (first) task: dms ``[K]`` (``m[sample]`` matches), ctx_dms ``[2]`` (feature
            of each context), gng ``[N]`` (go of each stimulus; ``1 - m`` in a mirrored twin); int8.
        task_mappings: ``[n_tasks, m]`` every task's mapping, as ``mapping``.
        mirrored: the episode is a mirrored twin (`MIRROR_BIT`).
        cues: ``[n_trials, k]`` int8 per trial: dms (sample, test); ctx_dms (context, sample A,
            sample B, test A, test B); gng (stimulus,).
    """

    inputs: np.ndarray
    targets: np.ndarray
    mapping: np.ndarray
    cues: np.ndarray
    task_mappings: np.ndarray | None = None
    mirrored: bool = False


Shown = list[tuple[str, np.ndarray]]  # (phase, [n_trials] channel set to 1 in that phase)


def _draw_dms(p: Mapping[str, Any], rng: np.random.Generator):
    k, n = int(p["n_stimuli"]), int(p["n_trials"])
    mapping = rng.permutation(k)
    sample = rng.integers(0, k, n)
    match = rng.integers(0, 2, n)
    offset = rng.integers(1, k, n)
    test = np.where(match == 1, mapping[sample], (mapping[sample] + offset) % k)
    shown: Shown = [("sample", sample), ("test", test)]
    return mapping, np.stack([sample, test], axis=1), match, shown


def _draw_ctx_dms(p: Mapping[str, Any], rng: np.random.Generator):
    n, trials = int(p["n_trials"]), np.arange(int(p["n_trials"]))
    mapping = rng.permutation(2)
    context = rng.integers(0, 2, n)
    sample = rng.integers(0, 2, (n, 2))
    match = rng.integers(0, 2, n)
    other = rng.integers(0, 2, n)
    relevant = mapping[context]
    kept = sample[trials, relevant]
    test = np.empty_like(sample)
    test[trials, relevant] = np.where(match == 1, kept, 1 - kept)
    test[trials, 1 - relevant] = other
    context_channel = 4 + context
    shown: Shown = [("fixation", context_channel), ("sample", context_channel),
                    ("sample", sample[:, 0]), ("sample", 2 + sample[:, 1]),
                    ("test", test[:, 0]), ("test", 2 + test[:, 1])]
    return mapping, np.column_stack([context, sample, test]), match, shown


def _draw_gng(n_stimuli: int, p: Mapping[str, Any], rng: np.random.Generator):
    mapping = rng.permutation(np.repeat([0, 1], n_stimuli // 2))
    stimulus = rng.integers(0, n_stimuli, int(p["n_trials"]))
    shown: Shown = [("stimulus", stimulus)]
    return mapping, stimulus[:, None], mapping[stimulus], shown


def _draw_task(family: Family, params: Mapping[str, Any], rng: np.random.Generator):
    if family.task.name == "dms":
        return _draw_dms(params, rng)
    if family.task.name == "ctx_dms":
        return _draw_ctx_dms(params, rng)
    return _draw_gng(family.n_stimuli, params, rng)


def draw_episode(family: Family, params: Mapping[str, Any], rng: np.random.Generator, mirrored: bool = False) -> Episode:
    """One episode of `family` from `rng`, the draws in the module docstring's order: the
    ``n_tasks`` tasks' draws one after another, then the noise; ``mirrored`` flips every target."""
    draws = [_draw_task(family, params, rng) for _ in range(int(params.get("n_tasks", 1)))]
    mappings = np.stack([d[0] for d in draws])
    cues = np.concatenate([d[1] for d in draws])
    targets = np.concatenate([d[2] for d in draws])
    shown: Shown = [(phase, np.concatenate([d[3][i][1] for d in draws])) for i, (phase, _) in enumerate(draws[0][3])]
    if mirrored:
        targets = 1 - targets
        if family.n_stimuli:  # gng: the mapping is the go of each stimulus, flipped with it
            mappings = 1 - mappings
    mapping = mappings[0]
    schedule = trial_schedule(family, params)
    period = schedule.period
    obs = np.zeros((schedule.steps + 1, family.task.obs_dim), dtype=np.float64)
    for name in schedule.names:
        rows = schedule.rows(name)
        if name == "decision":
            obs[rows, family.decision_channel] = 1.0
        elif name == "feedback":
            obs[rows, family.feedback_channel + targets[rows // period]] = 1.0
        else:
            obs[rows, family.fixation_channel] = 1.0
    for name, channel in shown:
        rows = schedule.rows(name)
        obs[rows, channel[rows // period]] = 1.0
    noise = float(params["noise"])
    if noise > 0:
        rows = np.sort(np.concatenate([schedule.rows(name) for name in family.noisy_phases]))
        used = int(params.get("n_stimuli", family.stimulus_width))
        obs[rows, :used] += noise * rng.standard_normal((len(rows), used))
    return Episode(obs.astype(np.float32), np.asarray(targets, dtype=np.int8),
                   np.asarray(mapping, dtype=np.int8), np.asarray(cues, dtype=np.int8),
                   np.asarray(mappings, dtype=np.int8), bool(mirrored))


def seed_draw(seed: int) -> tuple[int, bool]:
    """``(seed of the draws, mirrored)`` of an episode seed (`MIRROR_BIT`)."""
    seed = int(seed)
    if not 0 <= seed < 2 * MIRROR_BIT:
        raise ConfigError(f"cognitive task seed {seed}: give 0 <= seed < 2**32 (seed + 2**31 is the mirrored twin)")
    return seed % MIRROR_BIT, seed >= MIRROR_BIT


class TrialReset:
    """Task hook: ``agent.reset_membranes()`` before the first action of trials ``2..n_trials``,
    i.e. before actions ``i * period + 1`` for ``i = 1..n_trials - 1`` (counted from 1): the
    within-trial activity is zeroed, the fast weights are kept. Has the
    `pdlf.rollout.Perturbation` interface."""

    def __init__(self, period: int, n_trials: int) -> None:
        self.period, self.n_trials = int(period), int(n_trials)

    def fires_at(self, step: int) -> bool:
        return self.period < step <= self.steps and (step - 1) % self.period == 0

    @property
    def steps(self) -> int:
        return self.period * self.n_trials

    def before_step(self, step: int, agent, obs: np.ndarray) -> None:
        if self.fires_at(step):
            agent.reset_membranes()
        return None

    def after_step(self, step: int, agent, reward: np.ndarray) -> None:
        return None

    def __repr__(self) -> str:
        return f"TrialReset(period={self.period}, n_trials={self.n_trials})"


class TaskReset(TrialReset):
    """Task hook: ``agent.reset_membranes()`` before the first action of tasks ``2..n_tasks`` of a
    multi-task episode (actions ``k * trials_per_task * period + 1``); weights are kept."""

    def __init__(self, period: int, trials_per_task: int, n_tasks: int) -> None:
        super().__init__(period * trials_per_task, n_tasks)

    def __repr__(self) -> str:
        return f"TaskReset(steps per task={self.period}, n_tasks={self.n_trials})"


class CognitiveEnv(gymnasium.Env):
    """One episode (``n_trials`` trials of one task) of the subclass's `family` (module
    docstring). Keyword arguments are the family's ``env.params`` (``trial_reset`` is accepted
    and acts only through the batched env's hook).

    Observation ``Box([C])`` float32 (``[0, 1]`` without noise, unbounded with it); action
    ``Box(0, 1, (1,))``, used unclipped. ``info``: ``t``, ``trial``, ``phase``, ``target`` (the
    trial's correct response), ``trial_end`` (this was its last decision step) and ``correct``
    (its response was right; False before the trial's end). `episode` is the current `Episode`.
    """

    metadata = {"render_modes": []}
    family: Family

    def __init__(self, goal: float | None = None, extrapolate: bool = False,
                 render_mode: str | None = None, **params: Any) -> None:
        task = self.family.task
        self.params = family_params(self.family, params)
        self.schedule = trial_schedule(self.family, self.params)
        self._extrapolate = bool(extrapolate)
        self._goal = None if goal is None else task.check_goal(goal, self._extrapolate)
        self.render_mode = render_mode
        low, high = (-np.inf, np.inf) if self.params["noise"] > 0 else (0.0, 1.0)
        self.observation_space = spaces.Box(low, high, shape=(task.obs_dim,), dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self.episode: Episode | None = None
        self._t = 0
        self._decision_sum = 0.0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        mirrored = False
        if seed is not None:
            seed, mirrored = seed_draw(seed)
        super().reset(seed=seed)
        if options is not None and options.get("goal") is not None:
            self.family.task.check_goal(options["goal"], self._extrapolate)
        self.episode = draw_episode(self.family, self.params, self.np_random, mirrored)
        self._t, self._decision_sum = 0, 0.0
        return self.episode.inputs[0].copy(), {"t": 0}

    def step(self, action):
        s, t = self.schedule, self._t
        if self.episode is None or t >= s.steps:
            raise RuntimeError(f"the {self.family.task.name} episode is over: call reset()")
        trial, k = divmod(t, s.period)
        start, stop = s.span("decision")
        target = int(self.episode.targets[trial])
        out = float(np.asarray(action).reshape(-1)[0])
        reward, trial_end, correct = 0.0, False, False
        if start <= k < stop:
            self._decision_sum += out
            if self.params["reward"] == "margin":
                sign = 2.0 * target - 1.0
                reward = margin_reward(sign, out, THRESHOLD, float(self.params["margin"]))
                reward = float(reward / (stop - start))
            if k == stop - 1:
                trial_end = True
                correct = (self._decision_sum / (stop - start) > THRESHOLD) == (target == 1)
                self._decision_sum = 0.0
                if self.params["reward"] == "accuracy":
                    reward = float(correct)
        self._t = t + 1
        phase = s.names[int(np.searchsorted(s.stops, k, side="right"))]
        info = {"t": t, "trial": trial, "phase": phase, "target": target,
                "trial_end": trial_end, "correct": bool(correct)}
        return self.episode.inputs[t + 1].copy(), reward, self._t == s.steps, False, info


class CognitiveBatchedEnv(BatchedEnv):
    """``B`` episodes of the subclass's `family` (module docstring), made by
    ``make_batched(name, B, params=...)``; ``max_steps`` must be None or T.

    Attributes (besides `BatchedEnv`'s):
        params: the full settings, defaults filled in; schedule: the `TrialSchedule`.
        trial_targets: ``[B, n_trials]`` int8 correct responses (1 = go / match).
        trial_correct: ``[B, n_trials]`` bool, each trial's response was right (set when the
            trial's decision phase ends; False before).
        mappings: ``[B, m]`` int8, each member's task (`Episode.mapping`).
        trial_cues: ``[B, n_trials, k]`` int8 (`Episode.cues`).
        task_mappings: ``[B, n_tasks, m]`` int8, every task's mapping.
        task_hooks: ``(TrialReset(period, n_trials),)`` with ``trial_reset``, ``(TaskReset(...),)``
            with ``n_tasks > 1``, else empty.
    """

    family: Family

    def __init__(self, batch_size: int, max_steps: int | None = None, extrapolate: bool = False,
                 params: Mapping[str, Any] | None = None) -> None:
        task = self.family.task
        self.params = family_params(self.family, params)
        self.schedule = s = trial_schedule(self.family, self.params)
        if max_steps is not None and int(max_steps) != s.steps:
            raise ConfigError(
                f"env.episode_steps={max_steps}: the {task.name} task's episodes are T ="
                f" n_trials * period = {s.n_trials} * {s.period} = {s.steps} steps;"
                " set it to 0 (the task's own)"
            )
        super().__init__(task, batch_size, s.steps, extrapolate)
        hooks: list = []
        if self.params["trial_reset"]:
            hooks.append(TrialReset(s.period, s.n_trials))
        if s.tasks > 1 and not self.params["trial_reset"]:  # a trial reset already resets at every task start
            hooks.append(TaskReset(s.period, s.trials_per_task, s.tasks))
        self.task_hooks = tuple(hooks)
        self.reward_kind, self.margin = str(self.params["reward"]), float(self.params["margin"])
        B, n = self.batch_size, s.n_trials
        self.trial_targets = np.zeros((B, n), dtype=np.int8)
        self.trial_correct = np.zeros((B, n), dtype=bool)
        self.mappings = np.zeros((B, 0), dtype=np.int8)
        self.task_mappings = np.zeros((B, s.tasks, 0), dtype=np.int8)
        self.trial_cues = np.zeros((B, n, 0), dtype=np.int8)
        self._cache: dict[int, Episode] = {}
        self._table = np.zeros((1, s.steps + 1, self.obs_dim), dtype=np.float32)  # [U, T+1, C]
        self._member_row = np.zeros(B, dtype=np.intp)  # member -> row of _table
        self._decision_sum = np.zeros(B, dtype=np.float64)

    def _episode(self, seed: int) -> Episode:
        """The episode ``reset(seed=seed)`` of the gym env draws, cached per distinct seed."""
        episode = self._cache.get(seed)
        if episode is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            draw, mirrored = seed_draw(seed)
            rng, _ = seeding.np_random(draw)
            episode = self._cache[seed] = draw_episode(self.family, self.params, rng, mirrored)
        return episode

    def _reset(self, goals: np.ndarray, seeds: list[int]) -> np.ndarray:
        distinct, index = np.unique(np.asarray(seeds, dtype=np.int64), return_inverse=True)
        episodes = [self._episode(int(seed)) for seed in distinct]
        self._member_row = index.reshape(-1)
        self._table = np.stack([e.inputs for e in episodes])
        self.trial_targets = np.stack([e.targets for e in episodes])[self._member_row]
        self.mappings = np.stack([e.mapping for e in episodes])[self._member_row]
        self.task_mappings = np.stack([e.task_mappings for e in episodes])[self._member_row]
        self.trial_cues = np.stack([e.cues for e in episodes])[self._member_row]
        self.trial_correct = np.zeros_like(self.trial_targets, dtype=bool)
        self._decision_sum[:] = 0.0
        return self._observe(0)

    def _observe(self, k: int) -> np.ndarray:
        """``[B, C]`` float64 observations of step index ``k`` (zeros at ``k == T``)."""
        return self._table[self._member_row, k].astype(np.float64)

    def _step(self, actions: np.ndarray, active: np.ndarray):
        s, t = self.schedule, self.steps  # t: 0-based index of the step being taken
        trial, k = divmod(t, s.period)
        start, stop = s.span("decision")
        reward = np.zeros(self.batch_size, dtype=np.float64)
        if start <= k < stop:
            out = actions[:, 0]
            self._decision_sum += out
            target = self.trial_targets[:, trial]
            if self.reward_kind == "margin":
                sign = 2.0 * target.astype(np.float64) - 1.0
                reward = margin_reward(sign, out, THRESHOLD, self.margin) / (stop - start)
            if k == stop - 1:
                correct = (self._decision_sum / (stop - start) > THRESHOLD) == (target == 1)
                self.trial_correct[:, trial] = correct
                self._decision_sum[:] = 0.0
                if self.reward_kind == "accuracy":
                    reward = correct.astype(np.float64)
        terminated = np.full(self.batch_size, t + 1 >= s.steps)
        return self._observe(t + 1), reward, terminated


class DMSEnv(CognitiveEnv):
    family = DMS


class CtxDMSEnv(CognitiveEnv):
    family = CTX_DMS


class GNGDR2Env(CognitiveEnv):
    family = GNG_DR2


class GNGDR4Env(CognitiveEnv):
    family = GNG_DR4


class DMSBatchedEnv(CognitiveBatchedEnv):
    family = DMS


class CtxDMSBatchedEnv(CognitiveBatchedEnv):
    family = CTX_DMS


class GNGDR2BatchedEnv(CognitiveBatchedEnv):
    family = GNG_DR2


class GNGDR4BatchedEnv(CognitiveBatchedEnv):
    family = GNG_DR4


# task name -> (gym env class, batched env class); each pair registered with gymnasium and pdlf
ENVS: dict[str, tuple[type[CognitiveEnv], type[CognitiveBatchedEnv]]] = {
    gym_env.family.task.name: (gym_env, batched_env)
    for gym_env, batched_env in ((DMSEnv, DMSBatchedEnv), (CtxDMSEnv, CtxDMSBatchedEnv),
                                 (GNGDR2Env, GNGDR2BatchedEnv), (GNGDR4Env, GNGDR4BatchedEnv))
}
for gym_env, batched_env in ENVS.values():
    register_batched(gym_env.family.task.name, batched_env)
    gymnasium.register(id=gym_env.family.task.gym_id,
                       entry_point=f"pdlf.envs.cognitive:{gym_env.__name__}")
