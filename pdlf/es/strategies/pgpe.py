"""PGPE (Sehnke et al. 2010), PDLF's default searcher, as evotorch's PGPE with
`SymmetricSeparableGaussian`, gradients divided by the number of directions, centred ranks.

State: ``center`` μ [L], ``sigma`` σ [L] (float32), ``opt`` (the centre optimiser, optim.py).

Sampling (antithetic, P = 2D members, D directions):
    ε_k ~ N(0, diag σ²),   x_{2k} = μ + ε_k,   x_{2k+1} = μ - ε_k                 k = 0..D-1
Update with centred ranks u (shaping.py), u⁺_k = u_{2k}, u⁻_k = u_{2k+1}:
    g_μ = (1/D) Σ_k (u⁺_k - u⁻_k)/2 · ε_k
    g_σ = (1/D) Σ_k (u⁺_k + u⁻_k)/2 · (ε_k² - σ²) / σ
    μ ← μ + opt(g_μ)                           (es.optimizer: adam, clipup or sgd, rate es.center_lr)
    σ ← clamp(σ + η_σ g_σ, σ(1 - c), σ(1 + c))  (η_σ = es.sigma_lr, c = es.max_sigma_change; c = 0: no clamp)
ε_k is taken from the unclipped samples, ε_k = x_{2k} - μ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pdlf.es.strategies import optim
from pdlf.es.strategies.base import State, StrategySpec, gaussian_population
from pdlf.es.strategies.population import Bounds, GaussianPopulation
from pdlf.es.strategies.shaping import centered_ranks

if TYPE_CHECKING:
    from pdlf.config import ESConfig


def init(es: "ESConfig", center: Tensor) -> State:
    n = center.numel()
    return {
        "center": center.detach().to(torch.float32).clone(),
        "sigma": torch.full((n,), float(es.sigma_init), dtype=torch.float32),
        "opt": optim.init(es.optimizer, n, es.center_lr, es.clipup_max_speed),
    }


def ask(es: "ESConfig", state: State, generation: int, bounds: Bounds | None) -> GaussianPopulation:
    return gaussian_population(es, generation, state["center"], state["sigma"], True, bounds)


def gradients(center: Tensor, sigma: Tensor, samples: Tensor, fitness: Tensor) -> tuple[Tensor, Tensor]:
    """(g_μ, g_σ), each [L], from antithetic ``samples`` [P, L] (unclipped) and ``fitness`` [P]."""
    u = centered_ranks(fitness)
    n_dirs = samples.shape[0] // 2
    eps = samples[0::2] - center  # [D, L]
    u_plus, u_minus = u[0::2], u[1::2]
    g_mu = ((u_plus - u_minus) / 2) @ eps / n_dirs
    g_sigma = ((u_plus + u_minus) / 2) @ ((eps**2 - sigma**2) / sigma) / n_dirs
    return g_mu, g_sigma


def limit_change(old: Tensor, new: Tensor, max_change: float) -> Tensor:
    """``new`` clamped to within ``max_change`` (relative) of ``old``; no clamp when max_change is 0."""
    if max_change <= 0:
        return new
    return torch.minimum(torch.maximum(new, old - max_change * old.abs()), old + max_change * old.abs())


def tell(es: "ESConfig", state: State, population: GaussianPopulation, fitness: Tensor) -> State:
    mu, sigma = state["center"], state["sigma"]
    g_mu, g_sigma = gradients(mu, sigma, population.samples(), fitness)
    ascent, opt = optim.step(state["opt"], g_mu)
    new_sigma = limit_change(sigma, sigma + float(es.sigma_lr) * g_sigma, float(es.max_sigma_change))
    return {"center": mu + ascent, "sigma": new_sigma, "opt": opt}


def sigma(state: State) -> Tensor:
    return state["sigma"]


SPEC = StrategySpec("pgpe", init, ask, tell, sigma,
                    summary="PGPE: antithetic, centred ranks, per-gene sigma (max ±es.max_sigma_change), Adam/ClipUp/SGD centre")
