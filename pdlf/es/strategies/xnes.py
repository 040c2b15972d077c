"""xNES, exponential natural evolution strategies with a full covariance (Glasmachers et al. 2010).

State: ``center`` μ [L] and ``A`` [L, L] (float64), the covariance factor, Σ = Aᵀ A (row convention).

Sampling:   z_i ~ N(0, I),   x_i = μ + z_i A                         i = 0..P-1
Update with NES utilities u (shaping.py; Σ u_i = 0):
    G_δ = Σ_i u_i z_i                  [L]
    G_M = Σ_i u_i z_i z_iᵀ             [L, L]
    μ ← μ + η_μ G_δ A                  (η_μ = es.center_lr)
    A ← expm(η_σ/2 · G_M) A            (η_σ = es.sigma_lr; one rate for scale and shape, as evotorch)
z_i are the normal draws of the unclipped samples. At most `MAX_GENES` genes: the factor is [L, L].
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pdlf.es.strategies.base import State, StrategySpec, gaussian_population
from pdlf.es.strategies.population import Bounds, GaussianPopulation
from pdlf.es.strategies.shaping import nes_utilities

if TYPE_CHECKING:
    from pdlf.config import ESConfig

MAX_GENES = 2000


def init(es: "ESConfig", center: Tensor) -> State:
    n = center.numel()
    return {"center": center.detach().to(torch.float64).clone(),
            "A": torch.eye(n, dtype=torch.float64) * float(es.sigma_init)}


def ask(es: "ESConfig", state: State, generation: int, bounds: Bounds | None) -> GaussianPopulation:
    return gaussian_population(es, generation, state["center"], state["A"], False, bounds)


def tell(es: "ESConfig", state: State, population: GaussianPopulation, fitness: Tensor) -> State:
    mu, a = state["center"], state["A"]
    u = nes_utilities(fitness).to(torch.float64)
    z = population.noise().to(torch.float64)  # [P, L]
    g_delta = u @ z
    g_m = (z.T * u) @ z
    g_m = (g_m + g_m.T) / 2  # exactly symmetric, so matrix_exp stays a proper covariance update
    return {"center": mu + float(es.center_lr) * (g_delta @ a),
            "A": torch.linalg.matrix_exp(0.5 * float(es.sigma_lr) * g_m) @ a}


def sigma(state: State) -> Tensor:
    """Marginal standard deviations sqrt(diag(Aᵀ A)) [L]."""
    return torch.linalg.vector_norm(state["A"], dim=0).to(torch.float32)


SPEC = StrategySpec("xnes", init, ask, tell, sigma, max_genes=MAX_GENES,
                    summary="xNES: full covariance via a factor A, NES utilities")
