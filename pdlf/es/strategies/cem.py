"""CEM, the cross-entropy method with a separable Gaussian (evotorch's `SeparableGaussian` with a
parenthood ratio).

State: ``center`` μ [L], ``sigma`` σ [L] (float32).

Sampling:   z_i ~ N(0, I),   x_i = μ + σ ⊙ z_i                       i = 0..P-1
Update from the K best unclipped samples E (K = max(2, ⌊P · es.parents⌋), best first):
    μ ← mean(E)
    σ ← clamp(std(E), σ(1 - c), σ(1 + c))        (unbiased std; c = es.max_sigma_change, 0 = no clamp)
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from torch import Tensor

from pdlf.es.strategies.base import State, StrategySpec, diagonal_ask, diagonal_init, diagonal_sigma
from pdlf.es.strategies.pgpe import limit_change
from pdlf.es.strategies.population import GaussianPopulation
from pdlf.es.strategies.shaping import elite_indices

if TYPE_CHECKING:
    from pdlf.config import ESConfig


def n_elites(es: "ESConfig") -> int:
    # two elites at least: the std of one sample is undefined
    return max(2, math.floor(es.popsize * float(es.parents)))


def tell(es: "ESConfig", state: State, population: GaussianPopulation, fitness: Tensor) -> State:
    elites = population.samples(elite_indices(fitness, n_elites(es)))
    new_sigma = limit_change(state["sigma"], elites.std(dim=0), float(es.max_sigma_change))
    return {"center": elites.mean(dim=0), "sigma": new_sigma}


SPEC = StrategySpec("cem", diagonal_init, diagonal_ask, tell, diagonal_sigma,
                    summary="CEM: mean and std of the elite (es.parents)")
