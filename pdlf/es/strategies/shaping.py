"""Fitness shaping: ranks instead of raw fitness, so the update ignores fitness scale and outliers.

Both functions take ``fitness`` [P] (higher is better, already finite) and return weights [P]
float32 in member order. Ties are broken by member index (stable sort), so equal fitness never
makes the update depend on the sort algorithm.

    centered_ranks:  u_i = rank_i / (P - 1) - 1/2                      (rank 0 = worst; Salimans et al. 2017)
    nes_utilities:   u_i = max(0, log(P/2 + 1) - log(P - rank_i)) / Σ_j (...) - 1/P   (Wierstra et al. 2014)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def ranks(fitness: Tensor) -> Tensor:
    """Rank of each member [P] int64: 0 for the worst, P - 1 for the best (ties: lower index first)."""
    order = torch.argsort(torch.as_tensor(fitness, dtype=torch.float64), stable=True)
    r = torch.empty_like(order)
    r[order] = torch.arange(order.numel())
    return r


def centered_ranks(fitness: Tensor) -> Tensor:
    """Centred ranks [P] float32 in [-1/2, 1/2], summing to 0."""
    n = int(fitness.numel())
    return (ranks(fitness).to(torch.float32) / (n - 1)) - 0.5


def nes_utilities(fitness: Tensor) -> Tensor:
    """NES utilities [P] float32 (positive for the best half, summing to 0)."""
    n = int(fitness.numel())
    r = ranks(fitness).to(torch.float64)
    raw = torch.clamp(math.log(n / 2.0 + 1.0) - torch.log(n - r), min=0.0)
    return (raw / raw.sum() - 1.0 / n).to(torch.float32)


def elite_indices(fitness: Tensor, count: int) -> Tensor:
    """Indices [count] of the best members, best first (ties: lower index first)."""
    order = torch.argsort(-torch.as_tensor(fitness, dtype=torch.float64), stable=True)
    return order[:count]


__all__ = ["ranks", "centered_ranks", "nes_utilities", "elite_indices"]
