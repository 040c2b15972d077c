"""CMA-ES, written from Hansen's tutorial ("The CMA Evolution Strategy: A Tutorial", 2016,
arXiv:1604.00772), with positive recombination weights and a lazy eigendecomposition.

State (float64): ``center`` m [L], ``sigma`` σ (number), ``C`` [L, L], its eigenbasis ``B`` [L, L] and
root eigenvalues ``D`` [L] (C ≈ B diag(D²) Bᵀ), paths ``p_sigma`` and ``p_c`` [L], ``t`` (tells so
far), ``eigen_t`` (the ``t`` at which B, D were last computed).

Sampling (λ = es.popsize, row convention):
    z_i ~ N(0, I),   y_i = z_i (B diag D)ᵀ,   x_i = m + σ y_i
Update, with y_{i:λ} the i-th best step, μ = ⌊λ/2⌋, w_i ∝ ln((λ+1)/2) - ln i (Σ w = 1),
μ_eff = 1/Σ w², ⟨y⟩_w = Σ_{i≤μ} w_i y_{i:λ}:
    m   ← m + σ ⟨y⟩_w
    p_σ ← (1 - c_σ) p_σ + √(c_σ(2 - c_σ) μ_eff) · C^{-1/2} ⟨y⟩_w
    h_σ = [‖p_σ‖ / √(1 - (1 - c_σ)^{2(t+1)}) < (1.4 + 2/(n+1)) E‖N(0,I)‖]
    p_c ← (1 - c_c) p_c + h_σ √(c_c(2 - c_c) μ_eff) ⟨y⟩_w
    C   ← (1 - c_1 - c_μ) C + c_1 (p_c p_cᵀ + (1 - h_σ) c_c(2 - c_c) C) + c_μ Σ_{i≤μ} w_i y_{i:λ} y_{i:λ}ᵀ
    σ   ← σ · exp((c_σ/d_σ)(‖p_σ‖ / E‖N(0,I)‖ - 1))
with the tutorial's default c_σ, d_σ, c_c, c_1, c_μ (`constants`). B and D are recomputed from C
every ⌈1/(10 n (c_1 + c_μ))⌉ tells (every tell for small n), as the tutorial suggests, because an
eigendecomposition of a large C costs O(n³). The y_i are the unclipped samples' steps, rebuilt
from the population's normal draws. At most `MAX_GENES` genes: C and B are [L, L].
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from pdlf.es.strategies.base import State, StrategySpec, gaussian_population
from pdlf.es.strategies.population import Bounds, GaussianPopulation
from pdlf.es.strategies.shaping import elite_indices

if TYPE_CHECKING:
    from pdlf.config import ESConfig

MAX_GENES = 5000


def constants(popsize: int, n: int) -> dict[str, float | Tensor | int]:
    """The tutorial's default strategy parameters for λ = ``popsize`` on ``n`` genes."""
    mu = max(1, popsize // 2)
    w = math.log((popsize + 1) / 2) - torch.log(torch.arange(1, mu + 1, dtype=torch.float64))
    w = w / w.sum()
    mueff = float(1.0 / (w**2).sum())
    cs = (mueff + 2) / (n + mueff + 5)
    c1 = 2 / ((n + 1.3) ** 2 + mueff)
    cmu = min(1 - c1, 2 * (mueff - 2 + 1 / mueff) / ((n + 2) ** 2 + mueff))
    return {
        "mu": mu,
        "weights": w,
        "mueff": mueff,
        "cc": (4 + mueff / n) / (n + 4 + 2 * mueff / n),
        "cs": cs,
        "c1": c1,
        "cmu": cmu,
        "ds": 1 + 2 * max(0.0, math.sqrt((mueff - 1) / (n + 1)) - 1) + cs,
        "chi_n": math.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2)),
        "eigen_gap": max(1, math.ceil(1 / (10 * n * (c1 + cmu)))),
    }


def init(es: "ESConfig", center: Tensor) -> State:
    n = center.numel()
    eye = torch.eye(n, dtype=torch.float64)
    return {
        "center": center.detach().to(torch.float64).clone(),
        "sigma": float(es.sigma_init),
        "C": eye.clone(),
        "B": eye.clone(),
        "D": torch.ones(n, dtype=torch.float64),
        "p_sigma": torch.zeros(n, dtype=torch.float64),
        "p_c": torch.zeros(n, dtype=torch.float64),
        "t": 0,
        "eigen_t": 0,
    }


def _factor(state: State) -> Tensor:
    """(B diag D)ᵀ [L, L]: the row-convention factor, y = z @ factor."""
    return state["D"][:, None] * state["B"].T


def ask(es: "ESConfig", state: State, generation: int, bounds: Bounds | None) -> GaussianPopulation:
    return gaussian_population(es, generation, state["center"], state["sigma"] * _factor(state), False, bounds)


def tell(es: "ESConfig", state: State, population: GaussianPopulation, fitness: Tensor) -> State:
    m, sigma, C, B, D = state["center"], state["sigma"], state["C"], state["B"], state["D"]
    n = m.numel()
    k = constants(population.popsize, n)
    w, mueff, cs, cc, c1, cmu = k["weights"], k["mueff"], k["cs"], k["cc"], k["c1"], k["cmu"]

    y = population.noise().to(torch.float64) @ _factor(state)      # [P, L]
    y_sel = y[elite_indices(fitness, k["mu"])]                        # [μ, L], best first
    y_w = w @ y_sel

    t = state["t"] + 1
    inv_sqrt_c_yw = B @ ((B.T @ y_w) / D)
    p_sigma = (1 - cs) * state["p_sigma"] + math.sqrt(cs * (2 - cs) * mueff) * inv_sqrt_c_yw
    ps_norm = float(torch.linalg.vector_norm(p_sigma))
    h_sigma = float(ps_norm / math.sqrt(1 - (1 - cs) ** (2 * t)) < (1.4 + 2 / (n + 1)) * k["chi_n"])
    p_c = (1 - cc) * state["p_c"] + h_sigma * math.sqrt(cc * (2 - cc) * mueff) * y_w
    rank_mu = (y_sel.T * w) @ y_sel
    C = ((1 - c1 - cmu) * C + c1 * (torch.outer(p_c, p_c) + (1 - h_sigma) * cc * (2 - cc) * C)
         + cmu * rank_mu)
    new_sigma = sigma * math.exp((cs / k["ds"]) * (ps_norm / k["chi_n"] - 1))

    eigen_t = state["eigen_t"]
    if t - eigen_t >= k["eigen_gap"]:
        C = (C + C.T) / 2  # exactly symmetric before eigh
        d2, B = torch.linalg.eigh(C)
        D = torch.sqrt(torch.clamp(d2, min=1e-300))  # round-off can make tiny eigenvalues negative
        eigen_t = t
    return {"center": m + sigma * y_w, "sigma": new_sigma, "C": C, "B": B, "D": D,
            "p_sigma": p_sigma, "p_c": p_c, "t": t, "eigen_t": eigen_t}


def sigma(state: State) -> Tensor:
    """Marginal standard deviations σ √diag(C) [L]."""
    return (state["sigma"] * torch.sqrt(torch.diagonal(state["C"]))).to(torch.float32)


SPEC = StrategySpec("cmaes", init, ask, tell, sigma, max_genes=MAX_GENES,
                    summary="CMA-ES (Hansen's tutorial): full covariance, evolution paths, CSA step size")
