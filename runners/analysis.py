"""``pdlf analyze RUN_DIR``: what a trained agent's network does during an episode (spec §5).

    pdlf analyze runs/halfcheetah_vel__pdlf__s0__...                 # -> RUN_DIR/analysis/
    pdlf analyze RUN_DIR --goals unseen --seeds 2 --every 50 --json
    pdlf analyze RUN_DIR --out /tmp/a --force --tensorboard           # also OUT/tb images

One batch of episodes (goals × seeds, env seeds ``0..S-1``) runs through the one rollout loop
with recording hooks (`pdlf.recording`); from the records it writes

- ``weights.png``: every layer's fast weights at a few snapshot times (first goal, seed 0);
- ``firing_rates.png``: mean ``|spike|`` rate per hidden neuron in each of ``--phases`` equal
  phases of the episode, per goal (seeds averaged);
- ``pca.png``: the hidden traces of every step projected on their first two principal
  components, coloured by goal;
- ``stdp.png`` (plastic runs only): the rule's effective STDP window (`stdp_window`);
- ``analysis.json``: the numbers behind the figures (what ``--json`` prints); a firing rate is
  null where every episode of that goal had ended before the phase.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import torch

from pdlf.errors import ConfigError, RunDirError
from pdlf.plasticity.rules import RuleCoefficients, plasticity_delta
from pdlf.snn.lif import TRACE_DECAY

PNGS = {"weights": "weights.png", "firing": "firing_rates.png", "pca": "pca.png", "stdp": "stdp.png"}
JSON_NAME = "analysis.json"
TB_DIR = "tb"
STDP_LAGS = np.arange(-10, 11)
STDP_TAIL = 40  # steps simulated after the later spike: the traces have decayed by e^-40 by then
N_SYNAPSES_SHOWN = 4
MAX_SNAPSHOT_COLUMNS = 5


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--genome", choices=("best", "center"), default="center",
                        help="the distribution's centre (default: what training reports) or the best member")
    parser.add_argument("--goals", default="train",
                        help="train (the run's training goals), unseen, or comma-separated goal values")
    parser.add_argument("--seeds", type=int, default=1, help="env seeds per goal (0..N-1)")
    parser.add_argument("--episode-steps", type=int, default=1000, help="steps per episode")
    parser.add_argument("--every", type=int, default=100, help="fast-weight snapshot period in steps")
    parser.add_argument("--phases", type=int, default=4, help="equal phases of the episode for firing rates")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/analysis)")
    parser.add_argument("--force", action="store_true", help="overwrite earlier results in the output directory")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write the figures as TensorBoard images under OUT/tb")


# ---------------------------------------------------------------------------------- STDP window
def stdp_window(coeffs: RuleCoefficients, lags: np.ndarray = STDP_LAGS, tail: int = STDP_TAIL) -> np.ndarray:
    """Weight change of every synapse of a layer for one pre spike at step 0 and one post spike
    at step ``lag``.

    Both sides are modelled as the trace a single +1 spike leaves in an LIF neuron,
    ``z_t = z_{t-1}/e + s_t (1 - 1/e)`` (what the rule sees as post activity of a hidden layer and
    as pre activity of the next layer), and the rule's per-step ``dW`` is summed over every step
    until both traces have decayed. The spike-independent drift ``K_0`` is left out (it adds
    ``K_0`` per step whatever the spikes do), and so is the max-|W| normalisation (a layer-wide
    rescaling, not a property of one synapse).

    Args:
        coeffs: the layer's canonical coefficients, each broadcastable to ``[1, n_in, n_out]``.
        lags: ``[L]`` post-minus-pre spike lags in steps.
        tail: steps simulated after the later of the two spikes.

    Returns:
        ``[L, n_in, n_out]`` float64 summed ``dW``.
    """
    lags = np.asarray(lags, dtype=np.int64)
    shapes = [c.shape for c in coeffs if c is not None]
    if not shapes:
        raise ValueError("stdp_window needs a rule with at least one coefficient")
    n_in = max(s[1] for s in shapes)
    n_out = max(s[2] for s in shapes)
    spiking = RuleCoefficients(*(None if c is None else c.detach().to("cpu", torch.float64) for c in coeffs[:3]), None)
    n_lags = len(lags)
    start, stop = min(0, int(lags.min())), max(0, int(lags.max())) + tail
    lag = torch.as_tensor(lags)
    z_pre = torch.zeros(n_lags, n_in, dtype=torch.float64)
    z_post = torch.zeros(n_lags, n_out, dtype=torch.float64)
    total = torch.zeros(n_lags, n_in, n_out, dtype=torch.float64)
    for t in range(start, stop + 1):
        s_pre = torch.full((n_lags, 1), float(t == 0), dtype=torch.float64)
        s_post = (lag == t).to(torch.float64).unsqueeze(1)
        z_pre = torch.lerp(s_pre.expand_as(z_pre), z_pre, TRACE_DECAY)
        z_post = torch.lerp(s_post.expand_as(z_post), z_post, TRACE_DECAY)
        total += plasticity_delta(z_pre, z_post, spiking)
    return total.numpy()


def stdp_summary(cfg, genome: torch.Tensor, obs_dim: int, act_dim: int) -> dict:
    """The STDP window of every layer of a plastic run's genome, summarised for JSON.

    The headline layer is a hidden→hidden layer if the network has one, else hidden→readout:
    their presynaptic activity is a hidden trace (the first layer's is the raw input).
    """
    from pdlf.plasticity.genome import GenomeLayout
    from pdlf.snn.network import network_layers

    layers = network_layers(obs_dim, act_dim, cfg.agent)
    layout = GenomeLayout(layers, cfg.rule)
    genes = layout.split(genome.reshape(1, -1).to(torch.float64))
    spec = cfg.rule.spec()
    windows, drift = {}, {}
    for layer in layers:
        coeffs = spec.coefficients(genes[layer.name])
        windows[layer.name] = stdp_window(coeffs)
        drift[layer.name] = 0.0 if coeffs.k_0 is None else float(coeffs.k_0.mean())
    names = [l.name for l in layers]
    head = "l1" if "l1" in names else "out"
    w = windows[head].reshape(len(STDP_LAGS), -1)  # [L, n_in * n_out]
    score = np.ptp(w, axis=0) if np.ptp(w, axis=0).max() > 0 else np.abs(w[0])
    picked = np.argsort(-score, kind="stable")[:N_SYNAPSES_SHOWN]
    n_out = windows[head].shape[2]
    return {
        "skipped": None,
        "layer": head,
        "lags": STDP_LAGS.tolist(),
        "mean_dw": _round(w.mean(1)),
        "layers": {name: _round(win.reshape(len(STDP_LAGS), -1).mean(1)) for name, win in windows.items()},
        "synapses": [{"pre": int(i // n_out), "post": int(i % n_out), "dw": _round(w[:, i])} for i in picked],
        "drift_per_step": {k: float(f"{v:.6g}") for k, v in drift.items()},
        "definition": "summed dW for a pre spike at step 0 and a post spike at step lag, both as LIF traces; "
                      "drift K_0 and max-|W| normalisation left out",
    }


# ---------------------------------------------------------------------------------- figures
def _figure(rows: int, cols: int, width: float, height: float):
    from matplotlib.figure import Figure  # object API: no pyplot state, no display backend

    fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False))
    return fig, axes


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


def plot_firing(rates: list[np.ndarray], goals: np.ndarray, bounds: list[tuple[int, int]]):
    """Per hidden layer: mean rate per phase per goal (left); neurons × (goal, phase) (right)."""
    fig, axes = _figure(len(rates), 2, 4.2, 3.0)
    colors = _goal_colors(len(goals))
    labels = [f"{a}-{b - 1}" for a, b in bounds]
    for i, r in enumerate(rates):  # r [G, phases, n]
        ax = axes[i, 0]
        for g, goal in enumerate(goals):
            ax.plot(range(len(bounds)), _nanmean(r[g], axis=1), "o-", color=colors[g], label=f"{goal:.3g}")
        ax.set_xticks(range(len(bounds)), labels, fontsize=7)
        ax.set_xlabel("phase (steps)", fontsize=8)
        ax.set_ylabel(f"layer {i}: mean |spike| rate", fontsize=8)
        ax.legend(title="goal", fontsize=6, title_fontsize=7, ncols=2)
        flat = r.transpose(2, 0, 1).reshape(r.shape[2], -1)  # [n, G * phases]
        order = np.argsort(-np.nan_to_num(flat.mean(1)), kind="stable")
        im = axes[i, 1].imshow(flat[order], aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        axes[i, 1].set_xlabel("goal × phase", fontsize=8)
        axes[i, 1].set_ylabel("neuron (by mean rate)", fontsize=8)
        for g in range(1, len(goals)):
            axes[i, 1].axvline(g * len(bounds) - 0.5, color="white", lw=0.5)
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


# ---------------------------------------------------------------------------------- the command
def _nanmean(a: np.ndarray, axis) -> np.ndarray:
    """``np.nanmean`` that stays quiet (NaN) where every value is NaN: a phase in which every
    episode had already ended (e.g. a fallen ant)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=axis)


def _round(values, digits: int = 6):
    """JSON-ready nested lists of ``digits`` significant digits, NaN as None."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 1:
        return [_round(a, digits) for a in arr]
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in arr.reshape(-1)]


def _goals(text: str, run) -> np.ndarray:
    if text == "train":
        return np.asarray(run.cfg.env.goals or run.spec.train_goals(), dtype=np.float64)
    if text == "unseen":
        return run.spec.unseen_goals()
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--goals {text!r}: give train, unseen or comma-separated numbers (e.g. 0.5,1.5)") from None
    if not values:
        raise ConfigError("--goals is empty: give train, unseen or comma-separated numbers")
    return np.asarray(values)


def _prepare_out(out: Path, force: bool) -> None:
    """Refuse to overwrite earlier results unless ``force``; with it, remove only our own files."""
    ours = [out / JSON_NAME, *(out / p for p in PNGS.values())]
    tb = out / TB_DIR
    if any(p.exists() for p in ours) or tb.exists():
        if not force:
            raise RunDirError(f"{out} already holds analysis results; pass --force to overwrite them or --out DIR")
        for p in ours:
            p.unlink(missing_ok=True)
        if tb.is_dir():
            for p in tb.glob("events.out.tfevents.*"):
                p.unlink()
            if not any(tb.iterdir()):
                tb.rmdir()
    out.mkdir(parents=True, exist_ok=True)


def run(args: argparse.Namespace) -> int:
    from pdlf.evaluation import evaluate_genome
    from pdlf.recording import ActivityRecorder, WeightRecorder, alive_mask, pca_2d, phase_bounds, phase_firing_rates
    from pdlf.runs import load_run

    for flag in ("seeds", "episode_steps", "every", "phases"):
        if getattr(args, flag) < 1:
            raise ConfigError(f"--{flag.replace('_', '-')}={getattr(args, flag)}: must be >= 1")
    if args.phases > args.episode_steps:
        raise ConfigError(f"--phases={args.phases}: at most --episode-steps ({args.episode_steps}) phases")
    run_ = load_run(args.run_dir)
    out = Path(args.out) if args.out else run_.run_dir / "analysis"
    goals = _goals(args.goals, run_)
    seeds = np.arange(args.seeds)
    genome = run_.genome(args.genome)
    _prepare_out(out, args.force)

    weights = WeightRecorder(every=args.every, rows=[0])
    activity = ActivityRecorder()
    ev = evaluate_genome(run_.cfg, genome, goals, seeds, run_.norm, perturbations=[weights, activity],
                         episode_steps=args.episode_steps)
    g, s = len(goals), len(seeds)
    lengths = ev.result.lengths
    spikes, traces = activity.spikes(), activity.traces()
    steps = spikes[0].shape[0]
    bounds = phase_bounds(steps, min(args.phases, steps))
    rates = [_nanmean(phase_firing_rates(sp, lengths, len(bounds)).reshape(g, s, len(bounds), -1), axis=1)
             for sp in spikes]  # per layer [G, phases, n]
    alive = alive_mask(steps, lengths)
    points = np.concatenate(traces, axis=2)[alive]  # [N, sum n]
    labels = np.broadcast_to(np.arange(g * s) // s, alive.shape)[alive]
    finite = np.isfinite(points).all(1)
    proj, ratio = pca_2d(points[finite])

    figures = {
        "weights": plot_weights(weights.stacked(), weights.steps, float(goals[0])),
        "firing": plot_firing(rates, goals, bounds),
        "pca": plot_pca(proj, labels[finite], goals, ratio),
    }
    if run_.kind == "plastic":
        stdp = stdp_summary(run_.cfg, genome, run_.spec.obs_dim, run_.spec.act_dim)
        figures["stdp"] = plot_stdp(stdp)
    else:
        stdp = {"skipped": "direct-weight run (rule none): no plasticity rule, so no STDP window",
                "lags": [], "mean_dw": []}
    pngs = {key: None for key in PNGS}
    writer = None
    if args.tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / TB_DIR))
    for key, fig in figures.items():
        pngs[key] = str(out / PNGS[key])
        fig.savefig(pngs[key], dpi=110)
        if writer is not None:
            writer.add_figure(f"analysis/{key}", fig, global_step=0, close=False)
    if writer is not None:
        writer.close()

    result = {
        "run_dir": str(run_.run_dir),
        "kind": run_.kind,
        "rule": run_.cfg.rule.name,
        "task": run_.cfg.env.name,
        "genome": args.genome,
        "goals": _round(goals),
        "seeds": seeds.tolist(),
        "episode_steps": steps,
        "out": str(out),
        "pngs": pngs,
        "tensorboard": str(out / TB_DIR) if args.tensorboard else None,
        "returns": _round(_nanmean(ev.returns, axis=1)),
        "weight_snapshot_steps": weights.steps,
        "firing_rates": {
            "phase_bounds": [list(b) for b in bounds],
            "goals": _round(goals),
            "layers": {f"l{i}": {"mean": _round(_nanmean(r, axis=2)), "per_neuron": _round(r, 4)}
                       for i, r in enumerate(rates)},
        },
        "pca_explained_variance": _round(ratio),
        "stdp": stdp,
    }
    (out / JSON_NAME).write_text(json.dumps(result, indent=1))
    if args.json:
        print(json.dumps(result))
    else:
        print(f"analysis of {run_.run_dir} ({run_.kind}, {args.genome} genome) in {out}")
        for key, path in pngs.items():
            print(f"  {key:8s} {path or '(skipped: ' + str(stdp['skipped']) + ')'}")
        print(f"  PCA explained variance {ratio[0]:.3f}, {ratio[1]:.3f}")
    return 0
