"""Populations as recipes: what a worker needs to rebuild any member's genome.

A `GaussianPopulation` is ``(centre, scale, seed, antithetic, bounds)``; member ``i`` is

    z      = standard normal draws [P, L] from torch.Generator(seed)   (antithetic: rows 2k, 2k+1 = +e_k, -e_k)
    x_i    = centre + scale * z_i            (separable: scale [L])
    x_i    = centre + z_i @ scale            (full covariance: scale [L, L], row convention, cov = scaleᵀ scale)
    genome = clip(x_i, lo, hi)               (only where bounds are given)

so the driver ships one small object per generation instead of a genome per member. Every call
rebuilds all ``P`` rows and then selects, so the rows a worker gets for any subset of members are
bit-identical to the driver's; the full-covariance product runs in float64 and is rounded to
float32 once, which keeps it reproducible across BLAS kernels.

An `ExplicitPopulation` carries its ``[P, L]`` matrix (for evotorch's own searchers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

Bounds = tuple[Tensor, Tensor]
Members = Tensor | np.ndarray | Sequence[int] | None


def clip_rows(x: Tensor, bounds: Bounds | None) -> Tensor:
    """``x`` ([..., L]) clipped elementwise to ``[lo, hi]`` ([L] each); unchanged when bounds is None."""
    if bounds is None:
        return x
    lo, hi = bounds
    return torch.maximum(torch.minimum(x, hi.to(x.dtype)), lo.to(x.dtype))


def _select(rows: Tensor, members: Members) -> Tensor:
    if members is None:
        return rows
    return rows[torch.as_tensor(np.asarray(members, dtype=np.int64), dtype=torch.long)]


def standard_normal(seed: int, popsize: int, length: int, antithetic: bool) -> Tensor:
    """Draws ``z`` [popsize, length] float32 from one seed; antithetic rows come in ± pairs."""
    gen = torch.Generator().manual_seed(int(seed))
    if not antithetic:
        return torch.randn(popsize, length, generator=gen, dtype=torch.float32)
    half = torch.randn(popsize // 2, length, generator=gen, dtype=torch.float32)
    return torch.stack([half, -half], dim=1).reshape(popsize, length)


@dataclass(frozen=True)
class GaussianPopulation:
    """A generation as a seeded Gaussian sample (module docstring).

    Attributes:
        generation: generation index.
        popsize: ``P``, members in the generation.
        seed: the sampling seed of the draws ``z``.
        center: ``[L]`` float32 centre of the sample.
        scale: ``[L]`` (separable) or ``[L, L]`` (full covariance) float32 factor.
        antithetic: members ``2k`` and ``2k+1`` mirror each other around the centre.
        bounds: ``(lo, hi)`` ``[L]`` each, the box every evaluated genome is clipped to, or None.
    """

    generation: int
    popsize: int
    seed: int
    center: Tensor
    scale: Tensor
    antithetic: bool = False
    bounds: Bounds | None = None

    @property
    def length(self) -> int:
        return int(self.center.numel())

    def noise(self, members: Members = None) -> Tensor:
        """Standard normal draws ``z`` [len(members), L] float32 (all members if None)."""
        return _select(standard_normal(self.seed, self.popsize, self.length, self.antithetic), members)

    def samples(self, members: Members = None) -> Tensor:
        """Unclipped samples ``x`` [len(members), L] float32: what the searcher's update uses."""
        z = standard_normal(self.seed, self.popsize, self.length, self.antithetic)
        if self.scale.ndim == 1:
            x = self.center + self.scale * z
        else:
            x = (self.center.double() + z.double() @ self.scale.double()).to(torch.float32)
        return _select(x, members)

    def genomes(self, members: Members = None) -> Tensor:
        """Genomes ``[len(members), L]`` float32 as evaluated: samples clipped to ``bounds``."""
        return clip_rows(self.samples(members), self.bounds)


@dataclass(frozen=True)
class ExplicitPopulation:
    """A generation as an explicit ``[popsize, L]`` matrix; rows are clipped to ``bounds`` if given."""

    generation: int
    popsize: int
    seed: int
    matrix: Tensor
    bounds: Bounds | None = None

    def samples(self, members: Members = None) -> Tensor:
        return _select(self.matrix, members)

    def genomes(self, members: Members = None) -> Tensor:
        """Rows ``[len(members), L]`` of the matrix, clipped to ``bounds``."""
        return clip_rows(self.samples(members), self.bounds)


Population = GaussianPopulation | ExplicitPopulation

__all__ = ["Bounds", "GaussianPopulation", "ExplicitPopulation", "Population", "clip_rows", "standard_normal"]
