"""Diverged members through the real training path: a tiny in-process `Trainer` run of two
generations. In generation 0 every member whose first gene is positive emits NaN actions (PGPE's
antithetic pairs around the zero centre put exactly one of each pair there); in generation 1
every member does. Diverged members must reach the searcher with the *lowest* fitness, and never
become the logged or saved best: not in the mixed generation, and not when all of them diverged
(their sanitised fitness is then higher than generation 0's real returns)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from pdlf.config import config_from_dict
from pdlf.es.trainer import Trainer
from pdlf.snn.network import PlasticSNN

pytestmark = pytest.mark.integration

TINY = {
    "env": {"name": "halfcheetah_vel", "episode_steps": 5},
    "agent": {"hidden": [4]},
    "es": {"popsize": 4, "generations": 2, "seed": 7},
    "ray": {"workers": 0},
    "log": {"progress": False, "tensorboard": False},
}


ALL = {"diverge": False}  # set once the searcher was told generation 0


def _diverges(genomes: torch.Tensor) -> torch.Tensor:
    """Which genomes ``[N, L]`` this test makes diverge: first gene > 0, or all after generation 0."""
    return torch.full((genomes.shape[0],), True) if ALL["diverge"] else genomes[:, 0] > 0


@pytest.fixture
def nan_agents(monkeypatch):
    """Agents whose genome `_diverges` emit NaN actions (from their second step on)."""
    reset, act = PlasticSNN.reset, PlasticSNN.act

    def patched_reset(self, genomes, seeds=0, rows_per_genome=1):
        reset(self, genomes, seeds, rows_per_genome)
        g = torch.as_tensor(genomes)
        self._test_nan_rows = _diverges(g.reshape(-1, g.shape[-1])).repeat_interleave(rows_per_genome)
        self._test_steps = 0

    def patched_act(self, obs, reward=None):
        out = act(self, obs, reward).clone()
        self._test_steps += 1
        if self._test_steps >= 2:
            out[self._test_nan_rows.to(out.device)] = float("nan")
        return out

    monkeypatch.setattr(PlasticSNN, "reset", patched_reset)
    monkeypatch.setattr(PlasticSNN, "act", patched_act)
    ALL["diverge"] = False
    yield
    ALL["diverge"] = False


def test_diverged_members_rank_worst_and_are_never_the_best(nan_agents, tmp_path, monkeypatch):
    cfg = config_from_dict(TINY)
    run_dir = tmp_path / "run"
    trainer = Trainer.create(cfg, run_dir)
    told = []  # (genomes [P, L], diverged [P], fitness [P]) per generation, as the searcher got them
    tell = trainer.searcher.tell

    def spy(population, fitness, *args, **kwargs):
        genomes = population.genomes().clone()
        told.append((genomes, _diverges(genomes), torch.as_tensor(fitness).clone()))
        ALL["diverge"] = True  # every later member diverges
        return tell(population, fitness, *args, **kwargs)

    monkeypatch.setattr(trainer.searcher, "tell", spy)
    trainer.run()

    assert len(told) == 2
    bad0 = told[0][1]
    assert 0 < int(bad0.sum()) < len(bad0)  # generation 0 has both kinds of member to rank
    assert bool(told[1][1].all())  # generation 1: every member diverged
    for _, bad, fitness in told:
        assert torch.all(torch.isfinite(fitness)), fitness  # the searcher never sees NaN/inf
        if (~bad).any():
            assert fitness[bad].max() < fitness[~bad].min(), (fitness, bad)

    with open(run_dir / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2
    assert [int(float(r["health/diverged"])) for r in rows] == [int(bad0.sum()), 4]
    genomes0, _, fitness0 = told[0]
    best0 = float(fitness0[~bad0].max())
    # generation 0's logged best is its best member that did not diverge
    assert float(rows[0]["fitness/best"]) == pytest.approx(best0, rel=1e-9, abs=1e-9)
    # the best ever stays there: an all-diverged generation never becomes the best
    for row in rows:
        assert float(row["fitness/best_ever"]) == pytest.approx(best0, rel=1e-9, abs=1e-9)

    best = torch.load(run_dir / "best.pt", weights_only=False)
    assert best["generation"] == 0 and np.isfinite(best["fitness"])
    assert best["fitness"] == pytest.approx(best0, rel=1e-9, abs=1e-9)
    i = int(torch.argmax(torch.where(bad0, -torch.inf, fitness0)))
    torch.testing.assert_close(best["genome"].reshape(-1), genomes0[i].to(best["genome"].dtype), rtol=0, atol=0)
    assert float(best["genome"].reshape(-1)[0]) <= 0  # not one that diverged in generation 0
