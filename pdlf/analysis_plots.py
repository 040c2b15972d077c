"""Figures of ``pdlf analyze``: each function takes numbers and returns a matplotlib `Figure`
(`pdlf.plots.new_figure`), which the caller saves and may also send to TensorBoard.

Step labels are 1-based, as in every rollout hook: "after step k" is the state after the k-th
action.
"""

from __future__ import annotations

import numpy as np

from pdlf.plots import new_figure
from pdlf.stats import quiet_nanmean

MAX_SNAPSHOT_COLUMNS = 5


def _figure(rows: int, cols: int, width: float, height: float):
    """A ``rows × cols`` grid of ``width × height``-inch panels (axes always ``[rows, cols]``)."""
    return new_figure(rows, cols, (width * cols, height * rows), layout="constrained", squeeze=False)


def _goal_colors(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(i / max(n - 1, 1)) for i in range(n)]


def plot_weights(snaps: dict[str, np.ndarray], steps: list[int], goal: float):
    """Grid: layers (rows) × up to five snapshot times (columns) of rollout 0's fast weights."""
    k = len(steps)
    cols = sorted(set(np.linspace(0, k - 1, min(k, MAX_SNAPSHOT_COLUMNS)).round().astype(int).tolist()))
    fig, axes = _figure(len(snaps), len(cols), 2.6, 2.4)
    for r, (name, w) in enumerate(snaps.items()):  # w [K, R, n_in, n_out]
        finite = np.abs(w[np.isfinite(w)])
        vmax = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
        for c, j in enumerate(cols):
            ax = axes[r, c]
            im = ax.imshow(w[j, 0], cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto", interpolation="nearest")
            ax.set_title(f"{name}, after step {steps[j]}", fontsize=8)
            ax.set_xlabel("post", fontsize=7)
            ax.set_ylabel("pre", fontsize=7)
            ax.tick_params(labelsize=6)
        fig.colorbar(im, ax=axes[r, -1], shrink=0.8)
    fig.suptitle(f"fast weights over an episode (goal {goal:.3g})", fontsize=9)
    return fig


def plot_firing(rates: list[np.ndarray], goals: np.ndarray, phase_steps: list[tuple[int, int]]):
    """Per hidden layer: mean rate per phase per goal (left); neurons × (goal, phase) (right).

    ``rates`` holds ``[G, phases, n]`` per layer; ``phase_steps`` the first and last step of each
    phase (1-based, inclusive)."""
    fig, axes = _figure(len(rates), 2, 4.2, 3.0)
    colors = _goal_colors(len(goals))
    labels = [f"{first}-{last}" for first, last in phase_steps]
    for i, r in enumerate(rates):  # r [G, phases, n]
        ax = axes[i, 0]
        for g, goal in enumerate(goals):
            ax.plot(range(len(phase_steps)), quiet_nanmean(r[g], axis=1), "o-", color=colors[g], label=f"{goal:.3g}")
        ax.set_xticks(range(len(phase_steps)), labels, fontsize=7)
        ax.set_xlabel("phase (steps)", fontsize=8)
        ax.set_ylabel(f"layer {i}: mean |spike| rate", fontsize=8)
        ax.legend(title="goal", fontsize=6, title_fontsize=7, ncols=2)
        flat = r.transpose(2, 0, 1).reshape(r.shape[2], -1)  # [n, G * phases]
        order = np.argsort(-np.nan_to_num(flat.mean(1)), kind="stable")
        im = axes[i, 1].imshow(flat[order], aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        axes[i, 1].set_xlabel("goal × phase", fontsize=8)
        axes[i, 1].set_ylabel("neuron (by mean rate)", fontsize=8)
        for g in range(1, len(goals)):
            axes[i, 1].axvline(g * len(phase_steps) - 0.5, color="white", lw=0.5)
        fig.colorbar(im, ax=axes[i, 1], shrink=0.8)
    fig.suptitle("hidden firing rates per phase", fontsize=9)
    return fig


def plot_pca(proj: np.ndarray, labels: np.ndarray, goals: np.ndarray, ratio: np.ndarray):
    fig, axes = _figure(1, 1, 5.0, 4.2)
    ax = axes[0, 0]
    for g, color in zip(range(len(goals)), _goal_colors(len(goals))):
        pts = proj[labels == g]
        ax.scatter(pts[:, 0], pts[:, 1], s=3, color=color, alpha=0.6, label=f"{goals[g]:.3g}", linewidths=0)
    ax.set_xlabel(f"PC1 ({100 * ratio[0]:.1f} % var.)", fontsize=8)
    ax.set_ylabel(f"PC2 ({100 * ratio[1]:.1f} % var.)", fontsize=8)
    ax.legend(title="goal", fontsize=6, title_fontsize=7, markerscale=3, ncols=2)
    ax.set_title("hidden traces, every step (PCA)", fontsize=9)
    return fig


def plot_stdp(stdp: dict):
    fig, axes = _figure(1, 2, 4.2, 3.2)
    lags = stdp["lags"]
    for name, dw in stdp["layers"].items():
        axes[0, 0].plot(lags, dw, "o-", ms=3, label=name)
    axes[0, 0].set_title("mean over synapses", fontsize=9)
    for syn in stdp["synapses"]:
        axes[0, 1].plot(lags, syn["dw"], "o-", ms=3, label=f"{stdp['layer']} {syn['pre']}→{syn['post']}")
    axes[0, 1].set_title(f"single synapses ({stdp['layer']})", fontsize=9)
    for ax in axes[0]:
        ax.axhline(0, color="grey", lw=0.5)
        ax.axvline(0, color="grey", lw=0.5)
        ax.set_xlabel("Δ = t_post − t_pre (steps)", fontsize=8)
        ax.set_ylabel("summed ΔW", fontsize=8)
        ax.legend(fontsize=6)
    fig.suptitle("effective STDP window of the evolved rule", fontsize=9)
    return fig
