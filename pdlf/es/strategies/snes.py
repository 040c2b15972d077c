"""SNES, separable natural evolution strategies (Schaul et al. 2011), as evotorch's
`ExpSeparableGaussian` with NES utility ranking.

State: ``center`` μ [L], ``sigma`` σ [L] (float32).

Sampling:   z_i ~ N(0, I),   x_i = μ + σ ⊙ z_i                       i = 0..P-1
Update with NES utilities u (shaping.py):
    μ ← μ + η_μ Σ_i u_i (x_i - μ)                  (η_μ = es.center_lr)
    σ ← σ ⊙ exp(η_σ/2 · Σ_i u_i (z_i² - 1))        (η_σ = es.sigma_lr)
x_i are the unclipped samples and z_i their normal draws.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pdlf.es.strategies.base import State, StrategySpec, diagonal_ask, diagonal_init, diagonal_sigma
from pdlf.es.strategies.population import GaussianPopulation
from pdlf.es.strategies.shaping import nes_utilities

if TYPE_CHECKING:
    from pdlf.config import ESConfig


def tell(es: "ESConfig", state: State, population: GaussianPopulation, fitness: Tensor) -> State:
    mu, sigma = state["center"], state["sigma"]
    u = nes_utilities(fitness)
    z = population.noise()
    g_mu = u @ (population.samples() - mu)
    g_sigma = u @ (z**2 - 1.0)
    return {"center": mu + float(es.center_lr) * g_mu,
            "sigma": sigma * torch.exp(0.5 * float(es.sigma_lr) * g_sigma)}


SPEC = StrategySpec("snes", diagonal_init, diagonal_ask, tell, diagonal_sigma,
                    summary="SNES: separable NES, exp-parametrised sigma, NES utilities")
