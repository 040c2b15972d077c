"""Search strategies as data: one module per strategy, each a `StrategySpec` of pure functions
over a plain state record (base.py), registered by name in `STRATEGIES`.

| name      | module       | distribution                 | centre update                 | scale update              |
|-----------|--------------|------------------------------|-------------------------------|---------------------------|
| pgpe      | pgpe.py      | separable, antithetic        | Adam / ClipUp / SGD, c. ranks | sigma_lr, ±max_sigma_change |
| snes      | snes.py      | separable                    | natural gradient, NES util.   | exponential               |
| xnes      | xnes.py      | full (factor A, ≤ 2000 genes) | natural gradient, NES util.   | matrix exponential        |
| cem       | cem.py       | separable                    | elite mean                    | elite std                 |
| cmaes     | cmaes.py     | full (C, ≤ 5000 genes)        | weighted recombination        | CMA + CSA                 |
| openai_es | openai_es.py | isotropic, antithetic        | Adam + weight decay, c. ranks | fixed (es.sigma_init)     |
"""

from __future__ import annotations

from pdlf.es.strategies import cem, cmaes, openai_es, pgpe, snes, xnes
from pdlf.es.strategies.base import State, StrategySpec, generation_seed
from pdlf.es.strategies.population import Bounds, ExplicitPopulation, GaussianPopulation, Population, clip_rows
from pdlf.registry import Registry

STRATEGIES: Registry[StrategySpec] = Registry("searcher")
for _module in (pgpe, snes, xnes, cem, cmaes, openai_es):
    STRATEGIES.register(_module.SPEC.name, _module.SPEC)

__all__ = [
    "STRATEGIES", "StrategySpec", "State", "generation_seed", "Bounds", "GaussianPopulation",
    "ExplicitPopulation", "Population", "clip_rows",
]
