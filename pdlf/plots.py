"""PNG figures for the evaluation runners: small pure functions, one figure each.

Every function takes plain numbers (lists or numpy arrays, no run objects), writes one PNG and
returns the path it wrote. They never read results back from disk, so a runner, a notebook or a
test can call them with whatever it measured.

Every figure of pdlf starts with `new_figure` and is written by `save_figure`: matplotlib's object
API (a `Figure` with no pyplot state), so nothing needs a display, no figure stays open, and the
figure can also go to TensorBoard.

- `return_per_goal`: return against goal, one line per genome; training goals filled, unseen open.
- `injury_curves`: per-step reward against step with the damage window shaded.
- `return_vs_fraction`: return against the damaged fraction (permanent injury).
- `lines_with_spread`: any mean ± std lines against x (training curves).
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

DPI = 120


def new_figure(rows: int = 1, cols: int = 1, figsize: tuple[float, float] = (6.4, 4.2),
               layout: str | None = None, squeeze: bool = True):
    """A new figure and its axes, as ``pyplot.subplots`` gives them, without pyplot.

    Args:
        rows, cols: the grid of axes.
        figsize: ``(width, height)`` in inches of the whole figure.
        layout: matplotlib layout engine (``"constrained"``), or None (`save_figure` tightens).
        squeeze: as in ``pyplot.subplots``; False always gives a ``[rows, cols]`` array of axes.
    """
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend

    fig = Figure(figsize=figsize, layout=layout)
    return fig, fig.subplots(rows, cols, squeeze=squeeze)


def save_figure(fig, path: str | Path, dpi: int = DPI) -> Path:
    """Write ``fig`` as a PNG at ``path`` (parents created); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path


def _title(ax, title: str) -> None:
    if title:
        ax.set_title(textwrap.fill(title, 80), fontsize=9)


def moving_average(x: Sequence[float] | np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``x`` (``[T]``) over ``width`` steps, truncated at both ends.

    Step ``k`` averages ``x[k - width//2 : k + width - width//2]`` clipped to ``[0, T)``; NaNs are
    skipped (a step where every value is NaN stays NaN). ``width <= 1`` returns a copy.
    """
    x = np.asarray(x, dtype=np.float64)
    if width <= 1 or x.size == 0:
        return x.copy()
    ok = np.isfinite(x)
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    ccnt = np.concatenate([[0], np.cumsum(ok)])
    k = np.arange(x.size)
    lo = np.clip(k - width // 2, 0, x.size)
    hi = np.clip(k + width - width // 2, 0, x.size)
    n = ccnt[hi] - ccnt[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (csum[hi] - csum[lo]) / np.maximum(n, 1), np.nan)


def return_per_goal(
    path: str | Path,
    goals: Sequence[float],
    seen: Sequence[bool],
    lines: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    title: str = "",
    goal_label: str = "goal",
) -> Path:
    """Return per goal: one line per genome, filled markers on seen goals, open on unseen ones.

    Args:
        path: PNG to write.
        goals: ``[G]`` goal values (x axis).
        seen: ``[G]`` True where the goal is a training goal.
        lines: label -> (mean ``[G]``, std ``[G]``) of the return over seeds.
        title: figure title.
        goal_label: x-axis label (goal and its units).
    """
    goals = np.asarray(goals, dtype=np.float64)
    seen = np.asarray(seen, dtype=bool)
    order = np.argsort(goals, kind="stable")
    fig, ax = new_figure(figsize=(7.0, 4.2))
    for i, (label, (mean, std)) in enumerate(lines.items()):
        color = f"C{i}"
        mean = np.asarray(mean, dtype=np.float64)[order]
        std = np.asarray(std, dtype=np.float64)[order]
        g, s = goals[order], seen[order]
        ax.plot(g, mean, "-", color=color, lw=1.2, label=label)
        ax.fill_between(g, mean - std, mean + std, color=color, alpha=0.15, lw=0)
        ax.plot(g[s], mean[s], "o", color=color, ms=6)
        ax.plot(g[~s], mean[~s], "o", mfc="white", mec=color, ms=6)
    # legend entries for the two marker kinds, drawn in grey so they read for every line
    ax.plot([], [], "o", color="0.3", label="training goal")
    ax.plot([], [], "o", mfc="white", mec="0.3", label="unseen goal")
    ax.set_xlabel(goal_label)
    ax.set_ylabel("episode return (mean ± std over seeds)")
    _title(ax, title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def injury_curves(
    path: str | Path,
    curves: Mapping[str, Sequence[float]],
    window: tuple[int, int],
    smooth: int = 20,
    title: str = "",
    styles: Mapping[str, str] | None = None,
    colors: Mapping[str, str] | None = None,
) -> Path:
    """Mean per-step reward against step (1-based), damage window shaded.

    Args:
        path: PNG to write.
        curves: label -> ``[T]`` mean reward per step (step ``k`` at index ``k - 1``).
        window: ``(start, stop)`` damaged steps, inclusive, 1-based.
        smooth: width of the centred moving average drawn over the faint raw curve (1 = none).
        title: figure title.
        styles: optional label -> matplotlib line style (e.g. ``"--"`` for a second run).
        colors: optional label -> matplotlib colour (default: the cycle, one per label).
    """
    fig, ax = new_figure(figsize=(8.0, 4.2))
    ax.axvspan(window[0] - 0.5, window[1] + 0.5, color="0.85", label=f"damage, steps {window[0]}–{window[1]}")
    for i, (label, curve) in enumerate(curves.items()):
        color = (colors or {}).get(label, f"C{i}")
        y = np.asarray(curve, dtype=np.float64)
        steps = np.arange(1, y.size + 1)
        ls = (styles or {}).get(label, "-")
        if smooth > 1:
            ax.plot(steps, y, ls, color=color, lw=0.5, alpha=0.3)
            ax.plot(steps, moving_average(y, smooth), ls, color=color, lw=1.5, label=label)
        else:
            ax.plot(steps, y, ls, color=color, lw=1.2, label=label)
    ax.set_xlabel("step")
    ylabel = "reward per step (mean over goals and seeds)"
    ax.set_ylabel(ylabel + (f"\nline: {smooth}-step moving average" if smooth > 1 else ""))
    _title(ax, title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def return_vs_fraction(
    path: str | Path,
    fractions: Sequence[float],
    lines: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    xlabel: str = "fraction of hidden neurons lost",
    title: str = "",
) -> Path:
    """Return (mean ± std band) against the damaged fraction, one line per agent.

    Args:
        path: PNG to write.
        fractions: ``[F]`` damaged fractions (x axis).
        lines: label -> (mean ``[F]``, std ``[F]``) of the return over goals and seeds.
        xlabel: x-axis label (what the fraction counts).
        title: figure title.
    """
    series = {label: (fractions, mean, std) for label, (mean, std) in lines.items()}
    return lines_with_spread(path, series, xlabel, "episode return (mean ± std over goals and seeds)", title)


def lines_with_spread(
    path: str | Path,
    series: Mapping[str, tuple[Sequence[float], Sequence[float], Sequence[float]]],
    xlabel: str,
    ylabel: str,
    title: str = "",
    markers: bool = True,
) -> Path:
    """One line per label with a ±std band: ``series`` maps label -> (x, mean, std)."""
    fig, ax = new_figure(figsize=(6.5, 4.2))
    for i, (label, (x, mean, std)) in enumerate(series.items()):
        color = f"C{i}"
        x = np.asarray(x, dtype=np.float64)
        mean = np.asarray(mean, dtype=np.float64)
        std = np.asarray(std, dtype=np.float64)
        ax.plot(x, mean, "o-" if markers else "-", color=color, ms=4, lw=1.2, label=label)
        ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.15, lw=0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    _title(ax, title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
