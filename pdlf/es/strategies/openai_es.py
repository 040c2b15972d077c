"""OpenAI-ES (Salimans et al. 2017): antithetic sampling, centred ranks, a fixed isotropic sigma,
Adam on the centre with L2 weight decay, as in their released code (and EvoJAX's OpenES users).

State: ``center`` θ [L] (float32), ``sigma`` σ (a number: es.sigma_init, never changed), ``opt``
(Adam, optim.py).

Sampling (P = 2D members):   ε_k ~ N(0, I),   x_{2k} = θ + σ ε_k,   x_{2k+1} = θ - σ ε_k
Update with centred ranks u, u⁺_k = u_{2k}, u⁻_k = u_{2k+1}:
    g = (1/P) Σ_k (u⁺_k - u⁻_k) ε_k - λ θ        (λ = es.weight_decay; the released code's scaling,
                                                   no 1/σ: Adam is invariant to it)
    θ ← θ + adam(g)                               (rate es.center_lr)
ε_k are the normal draws of the unclipped samples.
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
    return {"center": center.detach().to(torch.float32).clone(), "sigma": float(es.sigma_init),
            "opt": optim.init("adam", center.numel(), es.center_lr)}


def ask(es: "ESConfig", state: State, generation: int, bounds: Bounds | None) -> GaussianPopulation:
    scale = torch.full_like(state["center"], state["sigma"])
    return gaussian_population(es, generation, state["center"], scale, True, bounds)


def gradient(es: "ESConfig", center: Tensor, population: GaussianPopulation, fitness: Tensor) -> Tensor:
    """The ascent direction g [L] (module docstring), weight decay included."""
    u = centered_ranks(fitness)
    eps = population.noise()[0::2]  # [D, L]
    g = (u[0::2] - u[1::2]) @ eps / population.popsize
    return g - float(es.weight_decay) * center


def tell(es: "ESConfig", state: State, population: GaussianPopulation, fitness: Tensor) -> State:
    ascent, opt = optim.step(state["opt"], gradient(es, state["center"], population, fitness))
    return {"center": state["center"] + ascent, "sigma": state["sigma"], "opt": opt}


def sigma(state: State) -> Tensor:
    return torch.full_like(state["center"], state["sigma"])


SPEC = StrategySpec("openai_es", init, ask, tell, sigma,
                    summary="OpenAI-ES: antithetic, centred ranks, fixed sigma, Adam with weight decay")
