"""Statistics over finite values: what every report does with returns that may hold NaN.

A diverged episode has a NaN return and an episode that ended early leaves NaN rewards behind it,
so the runners summarise over the finite values only and count them.

    s = finite_stats([1.0, 3.0, float("nan"), None])
    s.mean, s.std, s.count     # 2.0, 1.0, 2
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FiniteStats:
    """Mean and population std (``ddof=0``) of the finite values, and how many there were.

    ``mean`` and ``std`` are None when ``count == 0`` (JSON null, printed as ``n/a``).
    """

    mean: float | None
    std: float | None
    count: int

    def format(self, digits: int = 1) -> str:
        """``"mean ± std"`` with ``digits`` decimals, or ``"n/a"`` without finite values."""
        return "n/a" if self.mean is None else f"{self.mean:.{digits}f} ± {self.std:.{digits}f}"


def finite_stats(values) -> FiniteStats:
    """`FiniteStats` of every finite entry of ``values`` (any shape; None, NaN and ±inf are left out)."""
    x = np.asarray(values, dtype=np.float64).ravel()  # None -> NaN
    x = x[np.isfinite(x)]
    if x.size == 0:
        return FiniteStats(None, None, 0)
    return FiniteStats(float(x.mean()), float(x.std()), int(x.size))


def quiet_nanmean(x, axis=None):
    """``np.nanmean`` without the "mean of empty slice" warning: all-NaN slices stay NaN quietly
    (e.g. a phase or a step in which every episode had already ended)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.asarray(x, dtype=np.float64), axis=axis)
