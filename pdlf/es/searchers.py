"""Searchers: pdlf's own strategy specs (pdlf/es/strategies/) behind one ask/tell object.

    searcher = make_searcher(cfg.es, layout.initial(), layout.bounds())
    population = searcher.ask(generation)          # a small picklable recipe
    genomes = population.genomes([0, 5, 7])       # [3, L] float32, in any process, same bits
    searcher.tell(population, fitness)            # fitness [P] float64, higher is better
    checkpoint["searcher"] = searcher.state_dict()  # plain tensors, numbers and strings only

A searcher proposes a generation as a `GaussianPopulation`: centre, scale ([L], or the [L, L]
factor for xnes and cmaes), one sampling seed ``generation_seed(es.seed, generation, 1)``, the
antithetic flag and the bounds. Workers receive that one object per generation and rebuild their
members' genomes themselves. Searchers are data: the state is a plain record, and a searcher
restored from ``state_dict()`` produces bit-identical next populations and updates.

Bounds (``rule.bounds``) have one meaning on every path: a genome that is evaluated is clipped
to [lo, hi], the searcher's centre is kept inside [lo, hi] after every tell, and the searcher's
update uses the unclipped samples. (The starting centre is clamped into [lo, hi] too;
`ExplicitPopulation`, used with evotorch's own searchers,
clips its rows the same way when it is given bounds.)

See pdlf/es/strategies/__init__.py for the table of searchers (pgpe, snes, xnes, cem, cmaes,
openai_es) and each strategy module for its update equations.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from pdlf.config import ESConfig
from pdlf.errors import CheckpointError, ConfigError
from pdlf.es.strategies import STRATEGIES, StrategySpec
from pdlf.es.strategies.base import generation_seed
from pdlf.es.strategies.population import Bounds, ExplicitPopulation, GaussianPopulation, Population, clip_rows

STATE_FORMAT = "pdlf-searcher"
STATE_VERSION = 2  # 1 was the pickled evotorch/cma objects of earlier versions


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


def _copy(value: Any) -> Any:
    """A deep copy of a plain state (tensors cloned), so callers never share our tensors."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_copy(v) for v in value)
    return value


class Searcher:
    """One strategy spec and its state, with the ask/tell interface the trainer uses.

    Attributes:
        es: the ES configuration.
        spec: the `StrategySpec` of ``es.searcher``.
        length: genome length ``L``.
        bounds: ``(lo, hi)`` ``[L]`` each, or None.
        state: the spec's plain state record.
    """

    def __init__(self, es: ESConfig, center: Tensor, bounds: Bounds | None = None) -> None:
        self.es = es
        self.spec: StrategySpec = STRATEGIES.get(es.searcher)
        center = torch.as_tensor(center).detach().reshape(-1).to(torch.float32)
        self.length = int(center.numel())
        if self.spec.max_genes is not None and self.length > self.spec.max_genes:
            raise ConfigError(
                f"es.searcher={es.searcher} keeps a full {self.length}x{self.length} covariance; use it for genomes of at most "
                f"{self.spec.max_genes} genes (rule.granularity=post or layer) or choose pgpe/snes/openai_es"
            )
        if bounds is not None:
            lo, hi = (torch.as_tensor(b, dtype=torch.float32).reshape(-1) for b in bounds)
            if lo.numel() != self.length or hi.numel() != self.length:
                raise ConfigError(f"bounds have {lo.numel()}/{hi.numel()} entries for a genome of {self.length} genes")
            bounds = (lo, hi)
        self.bounds = bounds
        self.state = self.spec.init(es, clip_rows(center, bounds))

    # ------------------------------------------------------------------------------ ask/tell
    def ask(self, generation: int) -> GaussianPopulation:
        """The population of ``generation`` (same state and generation -> same population)."""
        return self.spec.ask(self.es, self.state, int(generation), self.bounds)

    def tell(self, population: GaussianPopulation, fitness: Tensor) -> None:
        """Update from ``fitness`` [P] (float64, higher is better, finite) of ``population``'s members."""
        fitness = torch.as_tensor(fitness, dtype=torch.float64).reshape(-1)
        if fitness.numel() != population.popsize:
            raise ValueError(f"tell got {fitness.numel()} fitness values for a population of {population.popsize}")
        state = self.spec.tell(self.es, self.state, population, fitness)
        state["center"] = clip_rows(state["center"], self.bounds)
        self.state = state

    # ------------------------------------------------------------------------------- queries
    def center(self) -> Tensor:
        """The distribution's centre ``[L]`` float32 (inside the bounds)."""
        return self.state["center"].to(torch.float32).clone()

    def stats(self) -> dict[str, float]:
        """sigma_mean / sigma_min / sigma_max (per-gene std) and center_norm, for logs."""
        sigma = self.spec.sigma(self.state)
        return {
            "sigma_mean": float(sigma.mean()),
            "sigma_min": float(sigma.min()),
            "sigma_max": float(sigma.max()),
            "center_norm": float(self.state["center"].norm()),
        }

    # ----------------------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The searcher as plain data: tensors, numbers, strings and dicts/lists of those."""
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "searcher": self.spec.name,
                "length": self.length, "state": _copy(self.state)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a `state_dict`; one from another searcher or genome length raises `CheckpointError`."""
        if not isinstance(state, dict) or state.get("format") != STATE_FORMAT or state.get("version") != STATE_VERSION:
            raise CheckpointError(
                "the checkpoint's searcher state is from an older pdlf (pickled library objects) or not a searcher"
                " state; start a new run"
            )
        if state["searcher"] != self.spec.name:
            raise CheckpointError(
                f"the checkpoint's searcher state is for es.searcher={state['searcher']}, but this run uses"
                f" es.searcher={self.spec.name}; resume with es.searcher={state['searcher']}"
            )
        if state["length"] != self.length:
            raise CheckpointError(
                f"the checkpoint's searcher state is for genomes of {state['length']} genes, but this run's genome has"
                f" {self.length}; resume with the run's own agent and rule config"
            )
        self.state = _copy(state["state"])


def make_searcher(es: ESConfig, center: Tensor, bounds: Bounds | None = None) -> Searcher:
    """The searcher ``es.searcher`` starting from ``center`` (``[L]``), within ``bounds`` if given."""
    es.validate()
    return Searcher(es, center, bounds)


__all__ = [
    "GaussianPopulation", "ExplicitPopulation", "Population", "Searcher", "make_searcher", "generation_seed",
    "sanitize_fitness", "STRATEGIES",
]
