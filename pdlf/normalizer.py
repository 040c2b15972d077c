"""Running observation statistics: collected by workers, merged by the driver, frozen per generation.

Workers return the raw sums of what they observed (`ObsStats`: count, sum, sum of squares, float64);
the driver adds them in a fixed order, so the merged statistics do not depend on which worker ran
which slice. During a generation every rollout uses the same `FrozenNorm`, taken before it began.
The goal columns (the last ``goal_dim``) are never normalised: the goal is appended raw (PDLF).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch


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


class DeviceObsStats:
    """`ObsStats` gathered on a torch device without waiting on it: float64 sums of masked rows.

    `add_batch` weights rows by the mask instead of selecting them (no device-to-host sync);
    `to_host` returns the plain `ObsStats`, the only copy to the host.
    """

    def __init__(self, dim: int, device: torch.device) -> None:
        self.count = torch.zeros((), dtype=torch.float64, device=device)
        self.sum = torch.zeros(dim, dtype=torch.float64, device=device)
        self.sumsq = torch.zeros(dim, dtype=torch.float64, device=device)

    def add_batch(self, obs: torch.Tensor, mask: torch.Tensor) -> None:
        """Add the rows of ``obs [B, dim]`` where ``mask [B]`` (bool) is True."""
        w = mask.to(torch.float64)
        rows = obs.to(torch.float64)
        self.count += w.sum()
        self.sum += w @ rows
        self.sumsq += w @ (rows * rows)

    def to_host(self) -> ObsStats:
        return ObsStats(float(self.count), self.sum.cpu().numpy(), self.sumsq.cpu().numpy())


@dataclass(frozen=True)
class FrozenNorm:
    """``clip((obs - mean) / std, ±clip)`` on the first ``n_norm`` columns; the rest (goal) raw."""

    mean: np.ndarray
    std: np.ndarray
    clip: float
    n_norm: int
    _on_device: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def apply(self, obs: np.ndarray) -> np.ndarray:
        """``obs`` ``[B, dim]`` float64 → normalised ``[B, dim]`` float32."""
        out = obs.astype(np.float32, copy=True)
        k = self.n_norm
        out[:, :k] = np.clip((obs[:, :k] - self.mean) / self.std, -self.clip, self.clip)
        return out

    def apply_tensor(self, obs: torch.Tensor) -> torch.Tensor:
        """`apply` on the tensor's device: ``obs [B, dim]`` → normalised ``[B, dim]`` float32.

        The statistics go to the device once per `FrozenNorm` (float32 there: the result
        matches `apply` to float32 rounding).
        """
        if obs.device not in self._on_device:
            self._on_device[obs.device] = (torch.as_tensor(self.mean, dtype=torch.float32, device=obs.device),
                                           torch.as_tensor(self.std, dtype=torch.float32, device=obs.device))
        mean, std = self._on_device[obs.device]
        k = self.n_norm
        out = obs.to(torch.float32).clone()
        out[:, :k] = torch.clip((out[:, :k] - mean) / std, -self.clip, self.clip)
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
