"""What a strategy is: a spec of pure functions over a plain state record (evosax's pattern).

    state      = spec.init(es, center)                          # center [L] float32
    population = spec.ask(es, state, generation, bounds)        # a picklable recipe (population.py)
    state      = spec.tell(es, state, population, fitness)      # fitness [P] float64, higher is better
    sigma      = spec.sigma(state)                              # per-gene search std [L], for logs

A state is a dict of torch tensors, python numbers and strings (and dicts/lists of those), so it
is checkpointed as data and a resumed run continues bit-identically. Every state holds its centre
under ``"center"`` ([L]; float32, or float64 for the full-covariance strategies). ``tell`` never
modifies its input state; it returns a new one.

Bounds (``rule.bounds``) have one meaning on every path: a genome that is evaluated is clipped
to [lo, hi], the searcher's centre is kept inside [lo, hi] after every tell, and the searcher's
update uses the unclipped samples. Specs only attach the bounds to their populations; the
`Searcher` (searchers.py) clamps the centre.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch
from torch import Tensor

from pdlf.es.strategies.population import Bounds, GaussianPopulation

if TYPE_CHECKING:
    from pdlf.config import ESConfig

State = dict[str, Any]
SAMPLING_PURPOSE = 1  # `generation_seed` purpose of the population draws


def generation_seed(master_seed: int, generation: int, purpose: int = 0) -> int:
    """A 63-bit seed for (run seed, generation, purpose); the same inputs give the same seed."""
    ss = np.random.SeedSequence([int(master_seed), int(generation), int(purpose)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def gaussian_population(es: "ESConfig", generation: int, center: Tensor, scale: Tensor, antithetic: bool,
                        bounds: Bounds | None) -> GaussianPopulation:
    """The generation's recipe: float32 copies of ``center`` [L] and ``scale`` [L] or [L, L]."""
    return GaussianPopulation(
        generation=int(generation),
        popsize=int(es.popsize),
        seed=generation_seed(es.seed, generation, purpose=SAMPLING_PURPOSE),
        center=center.detach().to(torch.float32).clone(),
        scale=scale.detach().to(torch.float32).clone(),
        antithetic=bool(antithetic),
        bounds=None if bounds is None else (bounds[0].to(torch.float32).clone(), bounds[1].to(torch.float32).clone()),
    )


def diagonal_init(es: "ESConfig", center: Tensor) -> State:
    """A separable Gaussian's start: ``{"center": [L], "sigma": [L] = es.sigma_init}``."""
    n = center.numel()
    return {"center": center.detach().to(torch.float32).clone(),
            "sigma": torch.full((n,), float(es.sigma_init), dtype=torch.float32)}


def diagonal_ask(es: "ESConfig", state: State, generation: int, bounds: Bounds | None) -> GaussianPopulation:
    """Independent (not antithetic) samples of the separable Gaussian ``(center, sigma)``."""
    return gaussian_population(es, generation, state["center"], state["sigma"], False, bounds)


def diagonal_sigma(state: State) -> Tensor:
    return state["sigma"]


@dataclass(frozen=True)
class StrategySpec:
    """One searcher as data: its name, its pure functions and its limits.

    Attributes:
        name: the ``es.searcher`` value.
        init: ``(es, center [L]) -> state``.
        ask: ``(es, state, generation, bounds) -> GaussianPopulation``.
        tell: ``(es, state, population, fitness [P]) -> state``.
        sigma: ``state -> [L]`` per-gene standard deviation of the search distribution.
        max_genes: largest genome the strategy accepts (full covariance), or None.
        summary: one line for docs and listings.
    """

    name: str
    init: Callable[["ESConfig", Tensor], State]
    ask: Callable[["ESConfig", State, int, Bounds | None], GaussianPopulation]
    tell: Callable[["ESConfig", State, GaussianPopulation, Tensor], State]
    sigma: Callable[[State], Tensor]
    max_genes: int | None = None
    summary: str = ""


__all__ = ["State", "StrategySpec", "generation_seed", "gaussian_population", "diagonal_init", "diagonal_ask",
           "diagonal_sigma", "SAMPLING_PURPOSE"]
