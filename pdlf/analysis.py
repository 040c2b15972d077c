"""What a trained agent's network does during an episode (what ``pdlf analyze`` computes; spec §5).

    run = load_run(run_dir)
    sel = parse_goals("train", run.spec, run.train_goals())
    analysis = analyze_run(run, sel, env_seeds(1), episode_steps=1000, every=100, phases=4)
    result = write_analysis(analysis, prepare_output_dir(out, ANALYSIS_FILES, force))

One batch of episodes (goals × seeds) runs through the one rollout loop with recording hooks
(`pdlf.recording`); from the records it makes

- ``weights``: every layer's fast weights at a few snapshot steps (first goal, first seed);
- ``firing``: mean ``|spike|`` rate per hidden neuron in each of ``phases`` equal phases of the
  episode, per goal (seeds averaged);
- ``pca``: the hidden traces of every step projected on their first two principal components,
  coloured by goal;
- ``stdp`` (plastic runs only): the rule's effective STDP window (`pdlf.stdp`).

Steps are numbered from 1, as in every rollout hook: ``weight_snapshot_steps`` are the steps after
which the weights were recorded, and phase ``p`` covers steps ``phase_steps[p][0] ..
phase_steps[p][1]`` (inclusive). A firing rate is null where every episode of that goal had ended
before the phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from pdlf.errors import ConfigError
from pdlf.goals import GoalSelection
from pdlf.outputs import rounded, write_json
from pdlf.stats import quiet_nanmean

PNGS = {"weights": "weights.png", "firing": "firing_rates.png", "pca": "pca.png", "stdp": "stdp.png"}
JSON_NAME = "analysis.json"
TB_DIR = "tb"
ANALYSIS_FILES = (JSON_NAME, *PNGS.values(), TB_DIR)  # what --force replaces
FIGURE_DPI = 110


@dataclass
class Analysis:
    """The numbers (``result``, JSON-ready) and the matplotlib figures (key of `PNGS` -> Figure)."""

    result: dict
    figures: dict


def analyze_run(
    run,
    sel: GoalSelection,
    seeds: Sequence[int] | np.ndarray,
    genome: str = "center",
    episode_steps: int = 1000,
    every: int = 100,
    phases: int = 4,
) -> Analysis:
    """Record one batch of ``run``'s episodes and summarise it (see the module doc).

    Args:
        run: a `pdlf.runs.LoadedRun`.
        sel: the goals (`pdlf.goals.parse_goals`).
        seeds: ``[S]`` env seeds.
        genome: ``center`` or ``best``.
        episode_steps: steps per episode.
        every: fast-weight snapshot period in steps (snapshots after steps 1, 1 + every, ...).
        phases: equal phases of the episode for firing rates (at most ``episode_steps``).
    """
    from pdlf.analysis_plots import plot_firing, plot_pca, plot_stdp, plot_weights
    from pdlf.evaluation import evaluate_genome
    from pdlf.recording import ActivityRecorder, WeightRecorder, alive_mask, pca_2d, phase_bounds, phase_firing_rates

    check_analysis_args(len(seeds), episode_steps, every, phases)
    goals = sel.goals
    seeds = np.asarray(seeds, dtype=np.int64)
    weights_genome = run.genome(genome)
    weights = WeightRecorder(every=every, rows=[0])
    activity = ActivityRecorder()
    ev = evaluate_genome(run.cfg, weights_genome, goals, seeds, run.norm, perturbations=[weights, activity],
                         episode_steps=episode_steps)
    g, s = len(goals), len(seeds)
    lengths = ev.result.lengths
    spikes, traces = activity.spikes(), activity.traces()
    steps = spikes[0].shape[0]
    bounds = phase_bounds(steps, min(phases, steps))  # [start, stop) indices; index i is step i + 1
    phase_steps = [(a + 1, b) for a, b in bounds]
    rates = [quiet_nanmean(phase_firing_rates(sp, lengths, len(bounds)).reshape(g, s, len(bounds), -1), axis=1)
             for sp in spikes]  # per layer [G, phases, n]
    alive = alive_mask(steps, lengths)
    points = np.concatenate(traces, axis=2)[alive]  # [N, sum n]
    labels = np.broadcast_to(np.arange(g * s) // s, alive.shape)[alive]
    finite = np.isfinite(points).all(1)
    proj, ratio = pca_2d(points[finite])

    figures = {
        "weights": plot_weights(weights.stacked(), weights.steps, float(goals[0])),
        "firing": plot_firing(rates, goals, phase_steps),
        "pca": plot_pca(proj, labels[finite], goals, ratio),
    }
    if run.kind == "plastic":
        from pdlf.stdp import stdp_summary

        stdp = stdp_summary(run.cfg, weights_genome, run.spec.obs_dim, run.spec.act_dim)
        if not stdp.get("skipped"):
            figures["stdp"] = plot_stdp(stdp)
    else:
        stdp = {"skipped": "direct-weight run (rule none): no plasticity rule, so no STDP window",
                "lags": [], "mean_dw": []}
    result = {
        "run_dir": str(run.run_dir),
        "kind": run.kind,
        "rule": run.cfg.rule.name,
        "task": run.cfg.env.name,
        "genome": genome,
        "goal_set": sel.text,
        "goals": rounded(goals),
        "extrapolated": [bool(o) for o in sel.outside],
        "seeds": seeds.tolist(),
        "episode_steps": steps,
        "returns": rounded(quiet_nanmean(ev.returns, axis=1)),
        "weight_snapshot_steps": list(weights.steps),
        "firing_rates": {
            "phase_steps": [list(p) for p in phase_steps],
            "goals": rounded(goals),
            "layers": {f"l{i}": {"mean": rounded(quiet_nanmean(r, axis=2)), "per_neuron": rounded(r, 4)}
                       for i, r in enumerate(rates)},
        },
        "pca_explained_variance": rounded(ratio),
        "stdp": stdp,
    }
    return Analysis(result, figures)


def check_analysis_args(seeds: int, episode_steps: int, every: int, phases: int) -> None:
    """`ConfigError` naming the flag if a count is below 1 or there are more phases than steps."""
    from pdlf.evaluation import check_positive

    check_positive(seeds=seeds, episode_steps=episode_steps, every=every, phases=phases)
    if phases > episode_steps:
        raise ConfigError(f"--phases {phases}: at most --episode-steps ({episode_steps}) phases")


def write_analysis(analysis: Analysis, out: str | Path, tensorboard: bool = False) -> dict:
    """Save the figures as ``OUT/<name>.png`` (and as TensorBoard images under ``OUT/tb``) and the
    numbers as ``OUT/analysis.json``; returns the result with ``out``, ``pngs`` and ``tensorboard``."""
    from pdlf.plots import save_figure

    out = Path(out)
    pngs: dict[str, str | None] = {key: None for key in PNGS}
    writer = None
    if tensorboard:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(out / TB_DIR))
    for key, fig in analysis.figures.items():
        pngs[key] = str(save_figure(fig, out / PNGS[key], dpi=FIGURE_DPI))
        if writer is not None:
            writer.add_figure(f"analysis/{key}", fig, global_step=0, close=False)
    if writer is not None:
        writer.close()
    result = {**analysis.result, "out": str(out), "pngs": pngs,
              "tensorboard": str(out / TB_DIR) if tensorboard else None}
    write_json(out / JSON_NAME, result)
    return result
