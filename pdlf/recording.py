"""Recording hooks for `pdlf.rollout.rollout`, and small summaries of what they record.

The recorders are `Perturbation`-shaped objects that only read the agent (they never change it),
so analysis runs through the same loop as training and evaluation:

    weights = WeightRecorder(every=100, rows=[0])
    activity = ActivityRecorder()
    evaluate_genome(cfg, genome, goals, seeds, norm, perturbations=[weights, activity])
    weights.stacked()["out"]      # [K, R, n_in, n_out] float32 at steps weights.steps
    activity.spikes()[0]          # [T, R, n] int8 spikes of hidden layer 0

Steps are numbered from 1, as in every hook (`pdlf.rollout.Perturbation`): step ``k`` is the
``k``-th action; every record is the agent's state *after* step ``k`` (after its action and the
rule's weight update). ``R`` is the number of recorded batch
rows (all ``B`` rollouts unless ``rows`` picks some).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch

from pdlf.snn.network import PlasticSNN


def _rows_index(rows: Sequence[int] | None) -> torch.Tensor | None:
    return None if rows is None else torch.as_tensor(list(rows), dtype=torch.long)


def _take(t: torch.Tensor, index: torch.Tensor | None) -> torch.Tensor:
    """Rows ``index`` of ``t`` (``[B, ...]``), or all of them."""
    return t if index is None else t.index_select(0, index.to(t.device))


@dataclass
class WeightRecorder:
    """Snapshots of every layer's fast weights after steps ``1, 1 + every, 1 + 2*every, ...``.

    Attributes:
        every: snapshot period in steps (>= 1).
        rows: batch rows to keep (None = all ``B``).
        steps: the steps snapshotted so far.
        snapshots: ``{layer: [array [R, n_in, n_out] float32, ...]}``, one array per step.
    """

    every: int = 100
    rows: Sequence[int] | None = None
    steps: list[int] = field(default_factory=list)
    snapshots: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if int(self.every) < 1:
            raise ValueError(f"WeightRecorder(every={self.every}): the period must be >= 1 step")
        self._index = _rows_index(self.rows)

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> None:
        return None

    def after_step(self, step: int, agent: PlasticSNN, reward: np.ndarray) -> None:
        if (step - 1) % int(self.every):
            return
        self.steps.append(int(step))
        for name, w in agent.weights.items():  # live views: copy out now
            snap = _take(w, self._index).detach().to("cpu", torch.float32).numpy().copy()
            self.snapshots.setdefault(name, []).append(snap)

    def stacked(self) -> dict[str, np.ndarray]:
        """``{layer: [K, R, n_in, n_out]}`` float32, ``K = len(steps)``."""
        return {name: np.stack(snaps) for name, snaps in self.snapshots.items()}


@dataclass
class ActivityRecorder:
    """Hidden spikes and traces after every step, per hidden layer.

    Spikes are stored as int8 (they are -1, 0 or +1), traces as float32: ``T * R * n`` bytes and
    four times that per layer, e.g. 1000 steps x 8 rollouts x 128 neurons = 1 MB + 4 MB.

    Attributes:
        rows: batch rows to keep (None = all ``B``).
    """

    rows: Sequence[int] | None = None

    def __post_init__(self) -> None:
        self._index = _rows_index(self.rows)
        self._spikes: list[list[np.ndarray]] = []  # [layer][step] -> [R, n]
        self._traces: list[list[np.ndarray]] = []

    def before_step(self, step: int, agent: PlasticSNN, obs: np.ndarray) -> None:
        return None

    def after_step(self, step: int, agent: PlasticSNN, reward: np.ndarray) -> None:
        if not self._spikes:
            self._spikes = [[] for _ in agent.hidden_states]
            self._traces = [[] for _ in agent.hidden_states]
        for i, state in enumerate(agent.hidden_states):
            self._spikes[i].append(_take(state.s, self._index).detach().to("cpu", torch.int8).numpy())
            self._traces[i].append(_take(state.z, self._index).detach().to("cpu", torch.float32).numpy())

    def spikes(self) -> list[np.ndarray]:
        """Per hidden layer, ``[T, R, n]`` int8."""
        return [np.stack(per_step) for per_step in self._spikes]

    def traces(self) -> list[np.ndarray]:
        """Per hidden layer, ``[T, R, n]`` float32."""
        return [np.stack(per_step) for per_step in self._traces]


# ------------------------------------------------------------------------ summaries of records
def phase_bounds(steps: int, phases: int) -> list[tuple[int, int]]:
    """``phases`` consecutive ``[start, stop)`` row-index ranges of a ``[T, ...]`` recording (row
    ``i`` is step ``i + 1``) covering ``0..steps`` as equally as integers allow (``phases`` in
    ``1..steps``); phase ``k`` holds steps ``start + 1 .. stop``."""
    if not 1 <= phases <= steps:
        raise ValueError(f"cannot split {steps} steps into {phases} phases: use 1..{steps} phases")
    edges = np.linspace(0, steps, phases + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def alive_mask(steps: int, lengths: np.ndarray) -> np.ndarray:
    """``[T, R]`` bool: row ``i`` (step ``i + 1``) is True where rollout ``r`` took that step (``i < length``)."""
    return np.arange(steps)[:, None] < np.asarray(lengths)[None, :]


def phase_firing_rates(spikes: np.ndarray, lengths: np.ndarray, phases: int) -> np.ndarray:
    """Mean ``|spike|`` per neuron and phase: the fraction of steps a neuron spiked (either sign).

    Args:
        spikes: ``[T, R, n]`` of one hidden layer.
        lengths: ``[R]`` steps each rollout's episode ran; later steps are left out.
        phases: number of equal phases the ``T`` steps are split into.

    Returns:
        ``[R, phases, n]`` float64; NaN where a rollout had no step in a phase.
    """
    t_steps, r, n = spikes.shape
    alive = alive_mask(t_steps, lengths)
    out = np.full((r, phases, n), np.nan)
    magnitude = np.abs(spikes.astype(np.float64))
    for k, (a, b) in enumerate(phase_bounds(t_steps, phases)):
        count = alive[a:b].sum(0)  # [R]
        total = (magnitude[a:b] * alive[a:b, :, None]).sum(0)  # [R, n]
        ok = count > 0
        out[ok, k] = total[ok] / count[ok, None]
    return out


def pca_2d(points: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project ``points [N, d]`` on their first principal components (centred SVD).

    Returns:
        ``(projected [N, components], explained_variance_ratio [components])``; the ratio is 0
        where the points have no variance at all (e.g. a silent network).
    """
    x = np.asarray(points, dtype=np.float64)
    if x.shape[0] == 0:
        return np.zeros((0, components)), np.zeros(components)
    x = x - x.mean(0, keepdims=True)
    _, sv, vt = np.linalg.svd(x, full_matrices=False)
    k = min(components, vt.shape[0])
    proj = np.zeros((x.shape[0], components))
    proj[:, :k] = x @ vt[:k].T
    var = sv**2
    ratio = np.zeros(components)
    if var.sum() > 0:
        ratio[:k] = var[:k] / var.sum()
    return proj, ratio
