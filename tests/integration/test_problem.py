"""`PlasticityProblem` driven by evotorch's stock searchers, in-process (``ray.workers: 0``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pdlf.config import config_from_dict
from pdlf.es.problem import PlasticityProblem

pytestmark = pytest.mark.integration

TINY = {
    "env": {"name": "halfcheetah_vel", "episode_steps": 20},
    "agent": {"hidden": [8]},
    "es": {"popsize": 4, "seed": 3},
    "ray": {"workers": 0},
}

# PGPE has no default learning rates
EXTRA_ARGS = {"SNES": {}, "PGPE": {"center_learning_rate": 0.1, "stdev_learning_rate": 0.1}}


def _run(searcher_name: str) -> tuple[list[torch.Tensor], PlasticityProblem]:
    import evotorch.algorithms

    problem = PlasticityProblem(config_from_dict(TINY))
    try:
        cls = getattr(evotorch.algorithms, searcher_name)
        searcher = cls(problem, popsize=4, stdev_init=0.04, **EXTRA_ARGS[searcher_name])
        evals = []
        for _ in range(2):
            searcher.step()
            evals.append(searcher.population.evals[:, 0].clone())
    finally:
        problem.close()
    return evals, problem


@pytest.mark.parametrize("searcher_name", ["SNES", "PGPE"])
def test_stock_searcher_runs_and_is_deterministic(searcher_name: str) -> None:
    evals, problem = _run(searcher_name)
    assert problem.solution_length == problem.layout.size
    assert problem.generation == 2
    assert problem._num_actors == 0 and problem.actors is None  # no evotorch actors
    assert problem.env_steps == 2 * 4 * 8 * 20  # HalfCheetah never terminates early
    for e in evals:
        assert e.shape == (4,) and torch.isfinite(e).all()
    assert problem.last_per_goal.shape == (4, 8)
    assert np.isfinite(problem.last_per_goal).all()
    np.testing.assert_allclose(problem.last_per_goal.sum(axis=1), evals[-1].numpy(), rtol=1e-5, atol=1e-4)
    assert problem.normalizer.stats.count > 0  # the normaliser learned from the rollouts

    again, _ = _run(searcher_name)
    for a, b in zip(evals, again):
        assert torch.equal(a, b)
