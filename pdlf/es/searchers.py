"""Searchers: evotorch's search distributions and optimisers driven by generation seeds.

A searcher proposes a generation as a `Population`: a small, picklable recipe from which any
process rebuilds any member's genome (``population.genomes(members)``). Gaussian searchers ship
the distribution's parameters and one sampling seed, so workers receive ``(generation, member,
seed)`` and one shared copy of the distribution, never a genome per member. CMA-ES (``cma``,
small genomes only) samples on the driver and ships the population matrix once.

| searcher | distribution (evotorch)          | centre update                  | sigma update |
|----------|----------------------------------|--------------------------------|--------------|
| pgpe     | SymmetricSeparableGaussian       | Adam / ClipUp / SGD on gradient | lr, max ±20 % |
| snes     | ExpSeparableGaussian             | lr on natural gradient          | exp. lr       |
| xnes     | ExpGaussian (full covariance)    | lr on natural gradient          | exp. lr       |
| cem      | SeparableGaussian, parenthood    | mean of the elite               | std of elite  |
| cmaes    | cma.CMAEvolutionStrategy         | CMA-ES                          | CMA-ES        |

All maximise fitness, with centred-rank shaping for the gradient-based ones (PDLF's setting).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from pdlf.config import ESConfig
from pdlf.errors import ConfigError

_DIST_CLASSES = {
    "pgpe": "SymmetricSeparableGaussian",
    "snes": "ExpSeparableGaussian",
    "xnes": "ExpGaussian",
    "cem": "SeparableGaussian",
}
XNES_MAX_GENES = 2000
CMAES_MAX_GENES = 5000


def _dist_class(name: str):
    from evotorch import distributions

    return getattr(distributions, name)


@dataclass(frozen=True)
class GaussianPopulation:
    """A generation as (distribution, seed): member ``i`` is row ``i`` of one seeded sample."""

    generation: int
    popsize: int
    seed: int
    dist_class: str
    parameters: dict

    def genomes(self, members: Tensor | np.ndarray | list[int] | None = None) -> Tensor:
        """Genomes ``[len(members), L]`` (float32) of the given member indices (all if None)."""
        dist = _dist_class(self.dist_class)(parameters=dict(self.parameters), dtype=torch.float32)
        gen = torch.Generator().manual_seed(int(self.seed))
        samples = dist.sample(self.popsize, generator=gen)
        if members is None:
            return samples
        return samples[torch.as_tensor(np.asarray(members), dtype=torch.long)]


@dataclass(frozen=True)
class ExplicitPopulation:
    """A generation as an explicit ``[popsize, L]`` matrix (CMA-ES)."""

    generation: int
    popsize: int
    seed: int
    matrix: Tensor

    def genomes(self, members: Tensor | np.ndarray | list[int] | None = None) -> Tensor:
        if members is None:
            return self.matrix
        return self.matrix[torch.as_tensor(np.asarray(members), dtype=torch.long)]


Population = GaussianPopulation | ExplicitPopulation


def generation_seed(master_seed: int, generation: int, purpose: int = 0) -> int:
    """A 63-bit seed for (run seed, generation, purpose); the same inputs give the same seed."""
    ss = np.random.SeedSequence([int(master_seed), int(generation), int(purpose)])
    return int(ss.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def sanitize_fitness(fitness: Tensor) -> tuple[Tensor, int]:
    """Replace NaN/inf fitness by a value below every finite one; returns (fitness, count)."""
    fitness = torch.as_tensor(fitness, dtype=torch.float64).clone()
    bad = ~torch.isfinite(fitness)
    n_bad = int(bad.sum())
    if n_bad:
        finite = fitness[~bad]
        worst = float(finite.min()) - 1.0 - abs(float(finite.min())) if finite.numel() else -1.0
        fitness[bad] = worst
    return fitness, n_bad


class GaussianSearcher:
    """PGPE, SNES, XNES or CEM over an evotorch distribution, sampled from generation seeds."""

    def __init__(self, es: ESConfig, center: Tensor, bounds: tuple[Tensor, Tensor] | None = None) -> None:
        from evotorch import optimizers

        self.es = es
        self.bounds = bounds
        n = center.numel()
        self.length = n
        sigma = torch.full((n,), float(es.sigma_init), dtype=torch.float32)
        params: dict[str, Any] = {"mu": center.to(torch.float32).clone(), "sigma": sigma}
        if es.searcher == "xnes":
            if n > XNES_MAX_GENES:
                raise ConfigError(
                    f"es.searcher=xnes keeps a full {n}x{n} covariance; use it for genomes of at most "
                    f"{XNES_MAX_GENES} genes (rule.granularity=post or layer) or choose pgpe/snes"
                )
            params = {"mu": params["mu"], "sigma": torch.eye(n) * float(es.sigma_init)}
        if es.searcher == "pgpe":
            params["divide_mu_grad_by"] = "num_directions"
            params["divide_sigma_grad_by"] = "num_directions"
        if es.searcher == "cem":
            params["parenthood_ratio"] = float(es.parents)
        self.dist_class = _DIST_CLASSES[es.searcher]
        self.dist = _dist_class(self.dist_class)(parameters=params, dtype=torch.float32)
        self.optimizer = None
        if es.searcher == "pgpe":
            if es.optimizer == "adam":
                self.optimizer = optimizers.Adam(solution_length=n, dtype=torch.float32, stepsize=es.center_lr)
            elif es.optimizer == "clipup":
                speed = es.clipup_max_speed or 2.0 * es.center_lr
                self.optimizer = optimizers.ClipUp(
                    solution_length=n, dtype=torch.float32, stepsize=es.center_lr, max_speed=speed
                )

    # -------------------------------------------------------------------------------- ask/tell
    def ask(self, generation: int) -> GaussianPopulation:
        params = {k: (v.clone() if isinstance(v, Tensor) else v) for k, v in self.dist.parameters.items()}
        seed = generation_seed(self.es.seed, generation, purpose=1)
        return GaussianPopulation(generation, self.es.popsize, seed, self.dist_class, params)

    def tell(self, population: GaussianPopulation, fitness: Tensor) -> None:
        from evotorch.tools import modify_tensor

        samples = population.genomes()
        ranking = {"pgpe": "centered", "snes": "nes", "xnes": "nes", "cem": "centered"}[self.es.searcher]
        grads = self.dist.compute_gradients(samples, fitness.to(torch.float32), objective_sense="max", ranking_method=ranking)
        rates: dict[str, float] = {}
        opts: dict[str, Any] = {}
        if self.es.searcher == "pgpe":
            rates["sigma"] = self.es.sigma_lr
            if self.optimizer is None:
                rates["mu"] = self.es.center_lr
            else:
                opts["mu"] = self.optimizer
        elif self.es.searcher in ("snes", "xnes"):
            rates = {"mu": self.es.center_lr, "sigma": self.es.sigma_lr}
        else:  # cem: the gradient is the step to the elite's statistics
            rates = {"mu": 1.0, "sigma": 1.0}
        old_sigma = self.dist.parameters["sigma"]
        new = self.dist.update_parameters(grads, learning_rates=rates, optimizers=opts)
        if self.es.searcher in ("pgpe", "cem") and self.es.max_sigma_change > 0:
            new = new.modified_copy(sigma=modify_tensor(old_sigma, new.parameters["sigma"], max_change=self.es.max_sigma_change))
        if self.bounds is not None:
            lo, hi = self.bounds
            new = new.modified_copy(mu=torch.maximum(torch.minimum(new.parameters["mu"], hi), lo))
        self.dist = new

    def center(self) -> Tensor:
        return self.dist.parameters["mu"].clone()

    def stats(self) -> dict[str, float]:
        sigma = self.dist.parameters["sigma"]
        sigma = torch.diagonal(sigma) if sigma.ndim == 2 else sigma
        return {
            "sigma_mean": float(sigma.mean()),
            "sigma_min": float(sigma.min()),
            "sigma_max": float(sigma.max()),
            "center_norm": float(self.dist.parameters["mu"].norm()),
        }

    def state_dict(self) -> dict:
        return {"dist_class": self.dist_class, "parameters": dict(self.dist.parameters), "optimizer": self.optimizer}

    def load_state_dict(self, state: dict) -> None:
        self.dist_class = state["dist_class"]
        self.dist = _dist_class(self.dist_class)(parameters=dict(state["parameters"]), dtype=torch.float32)
        self.optimizer = state["optimizer"]


class CMAESSearcher:
    """CMA-ES from the ``cma`` package for small genomes; populations travel as matrices."""

    def __init__(self, es: ESConfig, center: Tensor, bounds: tuple[Tensor, Tensor] | None = None) -> None:
        import cma

        n = center.numel()
        if n > CMAES_MAX_GENES:
            raise ConfigError(
                f"es.searcher=cmaes on {n} genes: CMA-ES is for genomes of at most {CMAES_MAX_GENES} genes;"
                " use rule.granularity=post or layer, or choose pgpe/snes"
            )
        self.es = es
        opts: dict[str, Any] = {"popsize": es.popsize, "seed": int(es.seed) + 1, "verbose": -9}
        if bounds is not None:
            opts["bounds"] = [bounds[0].numpy().tolist(), bounds[1].numpy().tolist()]
        self.cma = cma.CMAEvolutionStrategy(center.double().numpy(), float(es.sigma_init), opts)
        self._pending: list | None = None

    def ask(self, generation: int) -> ExplicitPopulation:
        self._pending = self.cma.ask()
        matrix = torch.as_tensor(np.stack(self._pending), dtype=torch.float32)
        return ExplicitPopulation(generation, self.es.popsize, 0, matrix)

    def tell(self, population: ExplicitPopulation, fitness: Tensor) -> None:
        self.cma.tell(self._pending, (-fitness.double()).tolist())  # cma minimises
        self._pending = None

    def center(self) -> Tensor:
        return torch.as_tensor(self.cma.mean, dtype=torch.float32)

    def stats(self) -> dict[str, float]:
        return {"sigma_mean": float(self.cma.sigma), "sigma_min": float(self.cma.sigma), "sigma_max": float(self.cma.sigma),
                "center_norm": float(np.linalg.norm(self.cma.mean))}

    def state_dict(self) -> dict:
        return {"cma": self.cma}

    def load_state_dict(self, state: dict) -> None:
        self.cma = state["cma"]


Searcher = GaussianSearcher | CMAESSearcher


def make_searcher(es: ESConfig, center: Tensor, bounds: tuple[Tensor, Tensor] | None = None) -> Searcher:
    """The searcher ``es.searcher`` starting from ``center`` (``[L]``)."""
    es.validate()
    if es.searcher == "cmaes":
        return CMAESSearcher(es, center, bounds)
    return GaussianSearcher(es, center, bounds)


__all__ = [
    "GaussianPopulation", "ExplicitPopulation", "Population", "GaussianSearcher", "CMAESSearcher",
    "make_searcher", "generation_seed", "sanitize_fitness",
]
