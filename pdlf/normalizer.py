"""Running observation statistics: collected by workers, merged by the driver, frozen per generation.

Workers return the raw sums of what they observed (`ObsStats`: count, sum, sum of squares, float64);
the driver adds them in a fixed order, so the merged statistics do not depend on which worker ran
which slice. During a generation every rollout uses the same `FrozenNorm`, taken before it began.
The goal columns (the last ``goal_dim``) are never normalised: the goal is appended raw (PDLF).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ObsStats:
    """Mergeable raw statistics of observations: ``count`` rows, per-column ``sum`` and ``sumsq``."""

    count: float
    sum: np.ndarray
    sumsq: np.ndarray

    @classmethod
    def zeros(cls, dim: int) -> "ObsStats":
        return cls(0.0, np.zeros(dim), np.zeros(dim))

    def add_batch(self, obs: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Add rows of ``obs`` ``[B, dim]`` (only rows where ``mask`` is True)."""
        rows = obs if mask is None else obs[mask]
        if rows.shape[0]:
            self.count += float(rows.shape[0])
            self.sum += rows.sum(axis=0)
            self.sumsq += np.square(rows).sum(axis=0)

    def merged(self, other: "ObsStats") -> "ObsStats":
        return ObsStats(self.count + other.count, self.sum + other.sum, self.sumsq + other.sumsq)


@dataclass(frozen=True)
class FrozenNorm:
    """``clip((obs - mean) / std, ±clip)`` on the first ``n_norm`` columns; the rest (goal) raw."""

    mean: np.ndarray
    std: np.ndarray
    clip: float
    n_norm: int

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` ``[B, dim]`` float64 → normalised ``[B, dim]`` float32."""
        out = obs.astype(np.float32, copy=True)
        k = self.n_norm
        out[:, :k] = np.clip((obs[:, :k] - self.mean) / self.std, -self.clip, self.clip)
        return out


class ObsNormalizer:
    """Running statistics over every observation column except the ``goal_dim`` goal columns."""

    def __init__(self, obs_dim: int, goal_dim: int, clip: float = 5.0, enabled: bool = True) -> None:
        self.obs_dim = int(obs_dim)
        self.n_norm = int(obs_dim) - int(goal_dim)
        self.clip = float(clip)
        self.enabled = bool(enabled)
        self.stats = ObsStats.zeros(self.n_norm)

    def update(self, stats: ObsStats) -> None:
        if self.enabled:
            self.stats = self.stats.merged(stats)

    def freeze(self) -> FrozenNorm | None:
        """The current statistics as a `FrozenNorm` (identity before any data; None if disabled)."""
        if not self.enabled:
            return None
        n = self.stats.count
        if n < 2:
            mean, std = np.zeros(self.n_norm), np.ones(self.n_norm)
        else:
            mean = self.stats.sum / n
            mean_sq = self.stats.sumsq / n
            var = np.maximum(mean_sq - np.square(mean), 0.0)
            # sumsq/n - mean^2 cancels: a constant column leaves rounding noise of ~1e-16 * mean_sq,
            # which must read as "constant" (std 1), not as a tiny std that blows up every deviation
            constant = var <= np.maximum(1e-12 * mean_sq, 1e-16)
            std = np.where(constant, 1.0, np.sqrt(var))
        return FrozenNorm(mean, std, self.clip, self.n_norm)

    def state_dict(self) -> dict:
        return {"count": self.stats.count, "sum": self.stats.sum.copy(), "sumsq": self.stats.sumsq.copy()}

    def load_state_dict(self, state: dict) -> None:
        self.stats = ObsStats(float(state["count"]), np.asarray(state["sum"]).copy(), np.asarray(state["sumsq"]).copy())
