"""Protocol constants that a plausible edit could silently break:

- diverged members (NaN/inf fitness) rank *below* every finite member (`sanitize_fitness`);
- PDLF's temporary injury acts on steps 501..549 inclusive, steps numbered from 1 (step ``k`` is
  the ``k``-th action), for the perturbations' defaults and for the windows `pdlf injury` builds.
"""

from __future__ import annotations

import argparse
import math

import numpy as np
import pytest
import torch

from pdlf.es.searchers import sanitize_fitness
from pdlf.perturb import Silencing, WeightErasure
from pdlf.plasticity.catalog import RuleConfig
from pdlf.rollout import rollout
from pdlf.snn.network import AgentConfig, PlasticSNN

FIRST, LAST = 501, 549  # PDLF's temporary-injury window, 1-based, inclusive


# ------------------------------------------------------------------------------ diverged members
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_sanitize_fitness_ranks_each_non_finite_value_below_every_finite_one(bad):
    raw = torch.tensor([3.0, bad, -7.5, 12.0, bad, 0.0], dtype=torch.float64)
    before = raw.clone()
    fit, n_bad = sanitize_fitness(raw)
    assert n_bad == 2
    assert torch.all(torch.isfinite(fit))
    finite = torch.isfinite(before)
    torch.testing.assert_close(fit[finite], before[finite], rtol=0, atol=0)  # finite ones untouched
    assert fit[~finite].max() < fit[finite].min()
    assert int(torch.argmax(fit)) == 3 and set(torch.argsort(fit)[:2].tolist()) == {1, 4}
    assert torch.equal(raw.isnan(), before.isnan())  # the input is not modified in place


def test_sanitize_fitness_mixed_non_finite_and_negative_fitness():
    raw = torch.tensor([-1.0e6, math.nan, -2.0e6, math.inf, -math.inf, -1.5e6])
    fit, n_bad = sanitize_fitness(raw)
    assert n_bad == 3 and torch.all(torch.isfinite(fit))
    assert fit[[1, 3, 4]].max() < -2.0e6
    assert int(torch.argmax(fit)) == 0


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_sanitize_fitness_when_every_member_diverged(bad):
    fit, n_bad = sanitize_fitness(torch.full((4,), bad))
    assert n_bad == 4
    assert torch.all(torch.isfinite(fit)) and torch.all(fit == fit[0])  # no member preferred


def test_sanitize_fitness_leaves_finite_fitness_alone():
    raw = torch.tensor([1.0, -2.0, 3.5])
    fit, n_bad = sanitize_fitness(raw)
    assert n_bad == 0
    torch.testing.assert_close(fit, raw.double(), rtol=0, atol=0)


# ------------------------------------------------------------------------------ injury window
class _Env:
    """Trivial batched env: obs are a fixed random sequence, reward = -|action|; no early end."""

    goal_dim = 1

    def __init__(self, batch, obs_dim, steps):
        self.batch_size, self.obs_dim, self.max_steps = batch, obs_dim, steps
        self.done = np.zeros(batch, dtype=bool)

    def reset(self, goals, seeds):
        rng = np.random.default_rng(0)
        self._seq = rng.normal(size=(self.max_steps + 1, self.batch_size, self.obs_dim))
        self._seq[:, :, -1] = goals
        self.t = 0
        return self._seq[0]

    def step(self, action):
        self.t += 1
        self.done[:] = self.t >= self.max_steps
        return self._seq[self.t], -np.abs(action).sum(axis=1), self.done.copy()


class _Probe:
    """Per step: silenced or not (seen before the step), all weights zero after it, weights."""

    def __init__(self):
        self.silenced, self.all_zero, self.any_zero, self.snap = {}, {}, {}, {}

    def before_step(self, step, agent, obs):
        self.silenced[step] = bool(agent.silenced)

    def after_step(self, step, agent, reward):
        w = agent.weights
        self.all_zero[step] = all(torch.count_nonzero(v) == 0 for v in w.values())
        self.any_zero[step] = any(torch.count_nonzero(v) == 0 for v in w.values())
        if step >= FIRST - 2:
            self.snap[step] = {k: v.clone() for k, v in w.items()}


def _run(damage, steps=LAST + 3):
    agent = PlasticSNN(3, 2, AgentConfig(hidden=(4,)), RuleConfig(name="pdlf"))
    genomes = torch.randn(2, agent.layout.size, generator=torch.Generator().manual_seed(0)) * 0.5
    probe = _Probe()
    res = rollout(agent, _Env(2, 3, steps), genomes, np.full(2, 0.5), np.zeros(2, dtype=np.int64),
                  perturbations=[*damage, probe], record_rewards=True)
    assert len(probe.all_zero) == steps and min(probe.all_zero) == 1
    return probe, res


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


def _check_erasure(probe):
    zero = [k for k, z in probe.all_zero.items() if z]
    assert zero == list(range(FIRST, LAST + 1)), (zero[:2], zero[-2:])
    assert not probe.any_zero[FIRST - 1]  # step 500: grown, not yet damaged
    assert not probe.any_zero[LAST + 1]  # step 550: plasticity regrows every layer at once
    assert not any(probe.silenced.values())


def _check_silencing(probe, res):
    assert [k for k, s in probe.silenced.items() if s] == list(range(FIRST, LAST + 1))
    assert not probe.any_zero[FIRST - 1]
    assert not _same(probe.snap[FIRST - 1], probe.snap[FIRST - 2])  # step 500 still learns
    for k in range(FIRST, LAST + 1):  # weights kept and frozen during 501..549
        assert _same(probe.snap[k], probe.snap[FIRST - 1])
    assert not _same(probe.snap[LAST + 1], probe.snap[LAST])  # step 550 learns again
    rewards = res.rewards  # [T, B], step k at row k - 1
    assert np.all(rewards[FIRST - 1 : LAST] == 0)  # no action in 501..549
    assert np.any(rewards[FIRST - 2] != 0) and np.any(rewards[LAST] != 0)  # actions at 500 and 550


def test_weight_erasure_default_window_is_steps_501_to_549():
    assert (WeightErasure().start, WeightErasure().stop) == (FIRST, LAST)
    probe, _ = _run([WeightErasure()])
    _check_erasure(probe)


def test_silencing_default_window_is_steps_501_to_549():
    assert (Silencing().start, Silencing().stop) == (FIRST, LAST)
    probe, res = _run([Silencing()])
    _check_silencing(probe, res)


def _cli_default_damage(condition):
    """The damage `pdlf injury RUN --mode temporary` builds with its default window: the CLI's
    parser gives the window, the injury library checks it and builds the perturbations."""
    from pdlf.runners import injury as cli

    try:
        from pdlf import injury as lib  # the protocol's library module
    except ImportError:  # older layout: everything in the runner
        lib = cli
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["RUN_DIR", "--mode", "temporary"])
    window = lib.check_window(args.window, args.episode_steps)
    return lib.temporary_damage(condition, window)


def test_injury_cli_default_erasure_acts_on_steps_501_to_549():
    damage = _cli_default_damage("erasure")
    assert len(damage) == 1
    probe, _ = _run(damage)
    _check_erasure(probe)


def test_injury_cli_default_silencing_acts_on_steps_501_to_549():
    damage = _cli_default_damage("silencing")
    assert len(damage) == 1
    probe, res = _run(damage)
    _check_silencing(probe, res)


def test_injury_cli_intact_has_no_damage():
    probe, _ = _run(_cli_default_damage("intact"))
    assert not any(probe.any_zero.values()) and not any(probe.silenced.values())
