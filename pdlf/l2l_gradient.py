r"""Learning to learn with a gradient inner loop (IP²-RSNN's method, on Goudar et al. 2023's protocol).

The agents' spiking network (`pdlf.l2l_gradient_net`: the same architecture, surrogate spikes)
meets ``problems`` problems of one cognitive family (`pdlf.envs.cognitive`) in a row. A problem
is one task of the family (a stimulus → response mapping drawn from the problem's seed), shown
trial by trial until the criterion or the trial limit:

1. forward the trial's steps (gng: stimulus, delay, decision; dms: fixation … decision) from rest;
2. the response is ``mean(readout over the decision steps) > 0.5`` (the env's rule);
3. one gradient step on the trial's loss, the mean squared error of the decision-phase readout
   against the trial's target (0 / 1): the feedback. The weights always learn; of the intrinsic
   properties (τ_d, τ_s, θ) only those in the row's *mask* do (the meta level: 8 masks);
4. the problem is solved at the first trial ``t >= window`` with at least ``threshold`` of the last
   ``window`` responses correct (90 % of 20, `pdlf.l2l.trials_to_threshold`), a *failure* if no
   such trial comes within ``trial_limit`` (default 2,000: Goudar's protocol).

The network's feedback step is not shown to the network (its information is the loss). Activity
starts from rest every trial (the gradient of a trial is exact back-propagation through that trial);
what carries over from trial to trial and from problem to problem is the learned state: weights,
the unmasked intrinsic properties and the optimiser's moments. Learning to learn is trials to
criterion falling along the sequence.

Rows: ``S`` sequences (`Row`: a seed, a mask, learning rates) run batched in one forward, each
with its own initial network (from its seed), its own problem seeds (from its seed), its own
pace (a row that solves a problem goes on to its next one while the others go on with theirs) and
its own optimiser; rows never interact, so a row's numbers do not depend on which rows run beside
it, up to float rounding of the batched kernels. Everything is reproducible from the seeds.

Optimisers (per row, elementwise): ``sgd`` (default) or ``adam`` (β = 0.9, 0.999, ε = 1e-8); the
per-row gradient (over every learnable leaf) is clipped to norm ``clip`` first (0 = no clipping).
Why SGD: on gng_dr4 (1,000 problems, 3 seeds, mask tau_d,theta, lr 0.01 chosen by the grid) Adam
solved the first problems in ~55 trials but got *slower* along the sequence (~100 trials by
problem 800: no learning to learn); SGD at lr 0.3 starts slower (~100-150) and speeds up
(~30-45 by problems 100-300), the shape of Goudar's curve.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from pdlf.errors import ConfigError
from pdlf.l2l import FAMILIES
from pdlf.l2l_gradient_net import (PROPERTIES, SURROGATE_SLOPE, NetParams, all_masks, forward, init_params,
                                   mask_name, parse_mask)
from pdlf.registry import did_you_mean
from pdlf.snn.network import AgentConfig

OPTIMIZERS = ("adam", "sgd")
PROBLEM_SEED_PURPOSE = 7  # the problems' seeds: SeedSequence([seed, purpose]), never the init's draw
ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8
# IP²-RSNN's network on these families (configs/ip2/*.base.yaml): 32 two-compartment neurons,
# recurrent, read out from the soma's membrane
IP2_AGENT = AgentConfig(hidden=(32,), neuron="two_compartment", readout="membrane", recurrent=True)


@dataclass(frozen=True)
class GradL2LConfig:
    """What every row of a gradient learning-to-learn run shares.

    Attributes:
        family: the task family (``dms``, ``ctx_dms``, ``gng_dr2``, ``gng_dr4``).
        problems: problems per sequence.
        trial_limit: trials per problem before it counts as a failure (Goudar: ≥ 2,000).
        threshold, window: the criterion: ``threshold`` correct over the last ``window`` trials.
        agent: the network (`IP2_AGENT` by default; ``hidden``, ``spikes``, ``tau``, ``tau_d``,
            ``theta``, ``recurrent``, ``neuron``, ``readout`` are used).
        optimizer: ``sgd`` (default) or ``adam``; clip: per-row gradient norm limit (0 = none).
        init_gain: initial weights ``U(-g, g) / sqrt(n_in)``.
        slope: the surrogate gradient's slope (`pdlf.l2l_gradient_net`).
        before_reset: a ``membrane`` readout reads the soma before its spike reset (default);
            False reads it after the reset, as the ES agents do (`pdlf.l2l_gradient_net`: why).
        env_params: the family's other ``env.params`` (noise, phase lengths; ``n_trials`` is set to
            ``trial_limit``).
    """

    family: str = "gng_dr4"
    problems: int = 1000
    trial_limit: int = 2000
    threshold: float = 0.9
    window: int = 20
    agent: AgentConfig = IP2_AGENT
    optimizer: str = "sgd"
    clip: float = 1.0
    init_gain: float = 1.0
    slope: float = SURROGATE_SLOPE
    before_reset: bool = True
    env_params: dict = field(default_factory=dict)

    def validate(self) -> "GradL2LConfig":
        if self.family not in FAMILIES:
            raise ConfigError(f"--family={self.family!r}: {did_you_mean(self.family, FAMILIES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"--optimizer={self.optimizer!r}: {did_you_mean(self.optimizer, OPTIMIZERS)}")
        for label, value, low in (("problems", self.problems, 1), ("window", self.window, 1),
                                  ("trial-limit", self.trial_limit, self.window)):
            if int(value) < low:
                raise ConfigError(f"--{label}={value}: must be >= {low}")
        if not 0.0 < self.threshold <= 1.0:
            raise ConfigError(f"--threshold={self.threshold}: give a fraction in (0, 1]")
        for label, value in (("clip", self.clip), ("init-gain", self.init_gain), ("slope", self.slope)):
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"--{label}={value}: must be a finite number >= 0")
        if "n_trials" in self.env_params:
            raise ConfigError("env params: n_trials is the trial limit here; give --trial-limit instead")
        self.agent.validate()
        return self


@dataclass(frozen=True)
class Row:
    """One sequence: its seed (initial network and problem seeds), mask and learning rates."""

    seed: int
    mask: tuple[str, ...] = ("tau_d",)
    lr: float = 0.3
    lr_ip: float | None = None  # the intrinsic properties' learning rate; None = lr

    def __post_init__(self):
        object.__setattr__(self, "mask", parse_mask(self.mask))
        for label, value in (("lr", self.lr), ("lr-ip", self.lr if self.lr_ip is None else self.lr_ip)):
            if not (math.isfinite(value) and value > 0):
                raise ConfigError(f"--{label}={value}: give a learning rate > 0")

    @property
    def ip_lr(self) -> float:
        return self.lr if self.lr_ip is None else self.lr_ip


@dataclass
class SequenceResult:
    """One row's sequence: trials to criterion per problem (None = failure) and its wall time."""

    row: Row
    trials: list[int | None] = field(default_factory=list)
    wall_s: float = 0.0


def problem_seeds(seed: int, problems: int) -> np.ndarray:
    """``[problems]`` env seeds of a row's problems."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), PROBLEM_SEED_PURPOSE]))
    return rng.integers(0, 2**31 - 1, size=problems, dtype=np.int64)


class Problems:
    """The family's problems as trial arrays: ``draw(seed)`` gives ``(inputs [limit, steps, C]
    float32, targets [limit] int8)``, the episode ``reset(seed=seed)`` of the family's env draws
    with ``n_trials = trial_limit``, cut to the trial's steps (the feedback steps dropped)."""

    def __init__(self, cfg: GradL2LConfig) -> None:
        from pdlf.envs.cognitive import ENVS, family_params, trial_schedule

        self.family = ENVS[cfg.family][0].family
        self.params = family_params(self.family, {**cfg.env_params, "n_trials": int(cfg.trial_limit)})
        self.schedule = trial_schedule(self.family, self.params)
        self.steps = self.schedule.span("decision")[1]
        self.decision = self.schedule.span("decision")
        self.obs_dim = self.family.task.obs_dim

    def draw(self, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from gymnasium.utils import seeding

        from pdlf.envs.cognitive import draw_episode

        rng, _ = seeding.np_random(int(seed))
        episode = draw_episode(self.family, self.params, rng)
        s = self.schedule
        inputs = episode.inputs[: s.steps].reshape(s.n_trials, s.period, -1)[:, : self.steps]
        return np.ascontiguousarray(inputs), episode.targets


def criterion_reached(correct: np.ndarray, threshold: float, window: int) -> bool:
    """Whether the last ``window`` of ``correct`` (``[n]`` bool, the problem's trials so far, n >=
    window) reach ``threshold``: `pdlf.l2l.trials_to_threshold`'s test at trial ``n``."""
    return correct.size >= window and correct[-window:].sum() >= threshold * window - 1e-9


class RowOptimizer:
    """Per-row, per-element Adam or SGD on a `NetParams`' leaves, with per-row gates: weights move
    at the row's ``lr``, a property in the row's mask at its ``lr_ip``, anything else (masked
    properties, finished rows) not at all (``torch.where``: bit for bit unchanged)."""

    def __init__(self, params: NetParams, rows: Sequence[Row], cfg: GradL2LConfig) -> None:
        self.params, self.kind, self.clip = params, cfg.optimizer, float(cfg.clip)
        t = params.tensors
        lr = torch.tensor([r.lr for r in rows], dtype=torch.float64)
        self.lr: dict[str, Tensor] = {}
        for name in t:
            prop = name.split(".")[0]
            if prop in PROPERTIES:
                rate = torch.tensor([r.ip_lr if prop in r.mask else 0.0 for r in rows], dtype=torch.float64)
            else:
                rate = lr
            self.lr[name] = rate.to(t[name].dtype).reshape(-1, *([1] * (t[name].ndim - 1)))
        self.learned = [n for n in t if bool((self.lr[n] > 0).any())]
        self.m = {n: torch.zeros_like(t[n]) for n in self.learned}
        self.v = {n: torch.zeros_like(t[n]) for n in self.learned}
        self.count = torch.zeros(len(rows), dtype=torch.float64)

    def step(self, grads: dict[str, Tensor], active: Tensor) -> None:
        """One step with ``grads`` (name -> gradient, ``learned`` names) on the rows where
        ``active`` (``[S]`` bool)."""
        t = self.params.tensors
        gate = {n: (self.lr[n] > 0) & active.reshape(self.lr[n].shape) for n in self.learned}
        grads = {n: torch.where(gate[n], grads[n], torch.zeros_like(grads[n])) for n in self.learned}
        if self.clip > 0:
            sq = sum(g.pow(2).reshape(g.shape[0], -1).sum(1) for g in grads.values())
            scale = torch.clamp(self.clip / (sq.sqrt() + 1e-12), max=1.0)
            grads = {n: g * scale.reshape(-1, *([1] * (g.ndim - 1))) for n, g in grads.items()}
        self.count += active.to(self.count.dtype)
        b1, b2 = ADAM_BETAS
        with torch.no_grad():
            for n in self.learned:
                g, on, p = grads[n], gate[n], t[n]
                if self.kind == "adam":
                    self.m[n] = torch.where(on, b1 * self.m[n] + (1 - b1) * g, self.m[n])
                    self.v[n] = torch.where(on, b2 * self.v[n] + (1 - b2) * g * g, self.v[n])
                    k = self.count.clamp(min=1).reshape(-1, *([1] * (g.ndim - 1)))
                    m_hat = self.m[n] / (1 - b1 ** k).to(g.dtype)
                    v_hat = self.v[n] / (1 - b2 ** k).to(g.dtype)
                    update = self.lr[n] * m_hat / (v_hat.sqrt() + ADAM_EPS)
                else:
                    update = self.lr[n] * g
                p.copy_(torch.where(on, p - update, p))


def run_sequences(cfg: GradL2LConfig, rows: Sequence[Row],
                  progress: Callable[[int, int, int | None], None] | None = None) -> list[SequenceResult]:
    """Run every row's sequence of ``cfg.problems`` problems (module docstring), batched.

    Args:
        cfg: the shared settings.
        rows: the sequences.
        progress: called as ``progress(row_index, problem_index, trials)`` after each problem.

    Returns:
        One `SequenceResult` per row, in order.
    """
    cfg.validate()
    rows = list(rows)
    if not rows:
        raise ConfigError("no sequences to run: give at least one seed")
    for r in rows:
        if "tau_d" in r.mask and cfg.agent.neuron != "two_compartment":
            raise ConfigError("mask names 'tau_d' but the neuron is 'lif' (no dendrite): use agent.neuron=two_compartment")
    problems = Problems(cfg)
    params = init_params(cfg.agent, problems.obs_dim, [r.seed for r in rows], cfg.init_gain)
    params.slope, params.before_reset = float(cfg.slope), bool(cfg.before_reset)
    opt = RowOptimizer(params, rows, cfg)
    n_rows, start = len(rows), time.perf_counter()
    seeds = [problem_seeds(r.seed, cfg.problems) for r in rows]
    episodes = [problems.draw(int(s[0])) for s in seeds]
    x = np.zeros((n_rows, problems.steps, problems.obs_dim), dtype=np.float32)
    target = np.zeros(n_rows, dtype=np.float32)
    correct = np.zeros((n_rows, cfg.trial_limit), dtype=bool)
    trial = np.zeros(n_rows, dtype=np.int64)
    problem = np.zeros(n_rows, dtype=np.int64)
    active = np.ones(n_rows, dtype=bool)
    results = [SequenceResult(r) for r in rows]
    d0, d1 = problems.decision
    leaves = [params.tensors[n] for n in opt.learned]
    while active.any():
        for i in np.flatnonzero(active):
            x[i] = episodes[i][0][trial[i]]
            target[i] = episodes[i][1][trial[i]]
        y = forward(params, torch.from_numpy(x))[:, d0:d1]  # [S, decision steps]
        tgt = torch.from_numpy(target)
        loss = (y - tgt[:, None]).pow(2).mean(1).sum()
        grads = dict(zip(opt.learned, torch.autograd.grad(loss, leaves)))
        opt.step(grads, torch.from_numpy(active.copy()))
        right = ((y.detach().mean(1) > 0.5).numpy()) == (target > 0.5)
        for i in np.flatnonzero(active):
            correct[i, trial[i]] = right[i]
            trial[i] += 1
            n = int(trial[i])
            solved = criterion_reached(correct[i, :n], cfg.threshold, cfg.window)
            if not solved and n < cfg.trial_limit:
                continue
            results[i].trials.append(n if solved else None)
            if progress is not None:
                progress(int(i), int(problem[i]), n if solved else None)
            problem[i] += 1
            trial[i] = 0
            if problem[i] == cfg.problems:
                active[i] = False
                results[i].wall_s = time.perf_counter() - start
            else:
                episodes[i] = problems.draw(int(seeds[i][problem[i]]))
    return results


def grid_rows(masks: Sequence[Sequence[str]] | None, lrs: Sequence[float], seeds: Sequence[int],
              lr_ip: float | None = None) -> list[Row]:
    """Every (mask, lr, seed) combination as rows; ``masks`` None = `all_masks`."""
    masks = all_masks() if masks is None else [parse_mask(m) for m in masks]
    return [Row(int(s), tuple(m), float(lr), lr_ip) for m in masks for lr in lrs for s in seeds]


def rank_grid(results: Sequence[SequenceResult], limit: int) -> list[dict]:
    """One entry per (mask, lr, lr_ip), pooled over its seeds, best (fewest mean trials to
    criterion, failures counted at ``limit``) first: ``mask``, ``lr``, ``lr_ip``, ``mean_trials``,
    ``failures``, ``seeds``."""
    groups: dict[tuple, list[SequenceResult]] = {}
    for res in results:
        groups.setdefault((res.row.mask, res.row.lr, res.row.ip_lr), []).append(res)
    table = []
    for (mask, lr, lr_ip), members in groups.items():
        trials = [limit if t is None else t for m in members for t in m.trials]
        table.append({"mask": mask_name(mask), "lr": lr, "lr_ip": lr_ip, "mean_trials": float(np.mean(trials)),
                      "failures": sum(t is None for m in members for t in m.trials),
                      "seeds": [m.row.seed for m in members]})
    return sorted(table, key=lambda e: (e["mean_trials"], e["failures"]))


def run_grid(cfg: GradL2LConfig, lrs: Sequence[float], seeds: Sequence[int] = (100,), masks=None,
             lr_ip: float | None = None, progress=None) -> dict:
    """The meta level: every mask (`all_masks` unless ``masks``) × learning rate on ``cfg``'s
    (short) sequence, all rows batched; the best by mean trials to criterion wins.

    Returns:
        ``{"problems", "trial_limit", "seeds", "lrs", "ranking": rank_grid(...), "chosen": ranking[0],
        "wall_s"}``.
    """
    start = time.perf_counter()
    results = run_sequences(cfg, grid_rows(masks, lrs, seeds, lr_ip), progress)
    ranking = rank_grid(results, cfg.trial_limit)
    return {"problems": cfg.problems, "trial_limit": cfg.trial_limit, "seeds": [int(s) for s in seeds],
            "lrs": [float(x) for x in lrs], "ranking": ranking, "chosen": ranking[0],
            "rule": "fewest mean trials to criterion over the grid's problems (failures at the limit)",
            "wall_s": round(time.perf_counter() - start, 2)}
