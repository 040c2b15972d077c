"""Outputs of the gradient learning-to-learn runs (`pdlf.l2l_gradient`): the JSON report, the CSV of
trials to criterion, the figure beside Goudar et al.'s published figures, and Markdown for the report.

Every summary counts a failure at the trial limit (so a mean over problems is a lower bound of
the true mean where there are failures) and numbers problems from 1. Ranges: problems 1–10,
101–200 and 502–1001 (Goudar's late block), each reported where the sequence reaches its end.

Goudar's reference (Goudar, Peysakhovich, Freedman, Buffalo & Wang 2023, "Schema formation in a
neural population subspace underlies learning-to-learn in flexible sensorimotor problem-solving",
Nat. Neurosci.; github.com/xjwanglab/learning-2-learn): an RNN trained by gradient descent on
1,001 problems in a row took a median 2,895 trials on problem 1, a mean 19.9 trials on problems
502–1,001, no failures, and its learning curve's time constant had a median of 37 problems. The
figure draws these published figures and the exponential they define,
``19.9 + (2895 - 19.9) exp(-(n - 1) / 37)``: a curve built from three numbers, not their data.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

GOUDAR = {"problems": 1001, "first_median": 2895.0, "late_mean": 19.9, "late_range": [502, 1001], "failures": 0,
          "tau_median": 37.0, "source": "Goudar et al. 2023, Nat. Neurosci. (github.com/xjwanglab/learning-2-learn)"}
RANGES = {"1-10": (1, 10), "101-200": (101, 200), "502-1001": (502, 1001)}
LAST = 500  # also "last 500": the sequence's last 500 problems (Goudar's late block is 502-1001 of 1,001)
OUTPUTS = ("l2l_grad.json", "l2l_grad.csv", "l2l_grad.png")
GRID_OUTPUT = "l2l_grad_grid.json"
LATE_FROM = 50  # the done-when's "no failures after problem 50"


def goudar_curve(n: np.ndarray) -> np.ndarray:
    """The exponential through Goudar's published figures at problems ``n`` (1-based)."""
    g = GOUDAR
    return g["late_mean"] + (g["first_median"] - g["late_mean"]) * np.exp(-(np.asarray(n, float) - 1) / g["tau_median"])


def range_mean(trials: Sequence[int | None], first: int, last: int, limit: int) -> float | None:
    """Mean trials to criterion over problems ``first..last`` (1-based, inclusive; failures at
    ``limit``), or None if the sequence does not reach ``last``."""
    if len(trials) < last:
        return None
    return float(np.mean([limit if t is None else t for t in trials[first - 1:last]]))


def sequence_summary(result, limit: int) -> dict:
    """One row's JSON object: seed, mask, learning rates, trials (null = failure), failures,
    failures after problem 50, the range means, wall time."""
    from pdlf.l2l_gradient_net import mask_name

    t = result.trials
    return {"seed": result.row.seed, "mask": mask_name(result.row.mask), "lr": result.row.lr, "lr_ip": result.row.ip_lr,
            "problems": len(t), "failures": sum(x is None for x in t),
            "failures_after_50": sum(x is None for x in t[LATE_FROM:]),
            "mean_trials": {**{k: range_mean(t, a, b, limit) for k, (a, b) in RANGES.items()},
                            "last 500": range_mean(t, len(t) - LAST + 1, len(t), limit) if len(t) >= 2 * LAST else None},
            "wall_s": round(float(result.wall_s), 2), "trials": t}


def done_when(seeds: Sequence[dict], problems: int) -> dict:
    """The issue's targets on the per-seed summaries: ``ratio`` (pooled mean on 101–200 over
    pooled mean on 1–10) ≤ 1/3, failures ≤ 1 % of all problems, none after problem 50, ≥ 3 seeds."""
    early = [s["mean_trials"]["1-10"] for s in seeds]
    late = [s["mean_trials"]["101-200"] for s in seeds]
    ratio = None if None in late else float(np.mean(late) / np.mean(early))
    failures = sum(s["failures"] for s in seeds)
    checks = {"ratio_101_200_to_1_10": ratio, "ratio_ok": ratio is not None and ratio <= 1 / 3,
              "failure_fraction": failures / max(1, problems * len(seeds)),
              "failures_ok": failures <= 0.01 * problems * len(seeds),
              "failures_after_50": sum(s["failures_after_50"] for s in seeds),
              "seeds": len(seeds), "seeds_ok": len(seeds) >= 3}
    checks["late_failures_ok"] = checks["failures_after_50"] == 0
    checks["met"] = all(checks[k] for k in ("ratio_ok", "failures_ok", "late_failures_ok", "seeds_ok"))
    return checks


def build_report(cfg, results, grid: dict | None = None) -> dict:
    """The run's JSON object: settings, per-seed summaries, the done-when checks, Goudar's figures."""
    seeds = [sequence_summary(r, cfg.trial_limit) for r in results]
    return {"family": cfg.family, "problems": cfg.problems, "trial_limit": cfg.trial_limit,
            "threshold": cfg.threshold, "window": cfg.window, "optimizer": cfg.optimizer, "clip": cfg.clip,
            "init_gain": cfg.init_gain, "slope": cfg.slope, "hidden": list(cfg.agent.hidden),
            "neuron": cfg.agent.neuron, "readout": cfg.agent.readout, "before_reset": cfg.before_reset,
            "recurrent": cfg.agent.recurrent,
            "wall_s": round(max(r.wall_s for r in results), 2), "seeds": seeds,
            "done_when": done_when(seeds, cfg.problems), "goudar": GOUDAR, "grid": grid}


def write_csv(report: dict, path: Path) -> Path:
    """``problem,seed_<s>...`` rows of trials to criterion (empty = failure)."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["problem", *(f"seed_{s['seed']}" for s in report["seeds"])])
        for j in range(report["problems"]):
            w.writerow([j + 1, *("" if s["trials"][j] is None else s["trials"][j] for s in report["seeds"])])
    return path


def plot_report(report: dict, path: Path) -> Path:
    """Trials to criterion against problem (log y): the seeds' mean (a 10-problem moving mean),
    their min–max band, failures as crosses at the limit, beside Goudar's published figures."""
    from pdlf.plots import moving_average, new_figure, save_figure

    limit = report["trial_limit"]
    y = np.array([[limit if t is None else t for t in s["trials"]] for s in report["seeds"]], dtype=float)
    n = np.arange(1, y.shape[1] + 1)
    fig, ax = new_figure(figsize=(7.0, 4.4))
    ax.fill_between(n, moving_average(y.min(0), 10), moving_average(y.max(0), 10), color="C0", alpha=0.2,
                    label=f"min-max over {y.shape[0]} seeds (10-problem moving mean)")
    ax.plot(n, moving_average(y.mean(0), 10), color="C0", lw=1.5,
            label=f"this SNN, gradient inner loop: mean ({report['seeds'][0]['mask']}, lr {report['seeds'][0]['lr']:g})")
    fails = [(j + 1) for s in report["seeds"] for j, t in enumerate(s["trials"]) if t is None]
    if fails:
        ax.plot(fails, [limit] * len(fails), "x", color="C3", ms=4, label=f"failures ({len(fails)})")
    g = GOUDAR
    gn = np.arange(1, g["problems"] + 1)
    ax.plot(gn, goudar_curve(gn), color="k", lw=1, ls="--",
            label=f"Goudar 2023 (published: problem 1 median {g['first_median']:.0f}, tau {g['tau_median']:.0f} problems)")
    ax.hlines(g["late_mean"], *g["late_range"], color="k", lw=2.5, label=f"Goudar: mean {g['late_mean']} on 502-1001")
    ax.axhline(limit, color="grey", lw=0.8, ls=":", label="trial limit (failure)")
    ax.set_yscale("log")
    ax.set(xlabel="problem", ylabel=f"trials to {report['threshold']:.0%} over {report['window']}",
           title=f"learning to learn, gradient inner loop: {report['family']}")
    ax.legend(fontsize=7)
    return save_figure(fig, path, dpi=110)


def write_outputs(report: dict, out: Path) -> list[Path]:
    """``l2l_grad.json``, ``l2l_grad.csv`` and ``l2l_grad.png`` in ``out`` (must exist)."""
    (out / "l2l_grad.json").write_text(json.dumps(report, indent=1))
    return [out / "l2l_grad.json", write_csv(report, out / "l2l_grad.csv"), plot_report(report, out / "l2l_grad.png")]


def _fmt(x: float | None, digits: int = 1) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def gradient_l2l_table(reports: Sequence[dict]) -> list[str]:
    """Markdown table, one line per seed of each saved report (the JSON's objects)."""
    lines = ["| family | seed | mask | lr | problems | mean trials 1–10 | 101–200 | 502–1001 | last 500 | failures | after 50 | wall (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for rep in reports:
        for s in rep["seeds"]:
            m = s["mean_trials"]
            lines.append(f"| {rep['family']} | {s['seed']} | {s['mask']} | {s['lr']:g} | {s['problems']:,} |"
                         f" {_fmt(m['1-10'])} | {_fmt(m['101-200'])} | {_fmt(m['502-1001'])} | {_fmt(m.get('last 500'))} | {s['failures']} |"
                         f" {s['failures_after_50']} | {_fmt(s['wall_s'], 0)} |")
    g = GOUDAR
    lines.append(f"| Goudar 2023 (RNN) | – | – | – | {g['problems']:,} | {g['first_median']:,.0f} (problem 1, median) | – |"
                 f" {g['late_mean']} | {g['late_mean']} | {g['failures']} | {g['failures']} | – |")
    return lines


def gradient_l2l_section(reports: Sequence[dict], heading: str = "### Learning to learn, gradient inner loop") -> list[str]:
    """A Markdown section: what was run, the table, and each family's done-when verdict."""
    lines = [heading, "",
             "The agents' two-compartment spiking network trained trial by trial by back-propagation with"
             " surrogate spikes (`pdlf l2l-grad`, `pdlf.l2l_gradient`), its weights and masked intrinsic"
             " properties carried from problem to problem; trials to 90 % correct over 20 trials, failures"
             " counted at the trial limit. Goudar's row: their published figures.", "",
             *gradient_l2l_table(reports), ""]
    for rep in reports:
        d = rep["done_when"]
        verdict = "met" if d["met"] else "not met"
        grid = rep.get("grid")
        chosen = f"; chosen by a grid over {len(grid['ranking'])} settings on {grid['problems']} problems" if grid else ""
        lines.append(f"- {rep['family']} ({rep['problems']:,} problems, limit {rep['trial_limit']:,}{chosen}): target {verdict}:"
                     f" 101–200 / 1–10 = {_fmt(d['ratio_101_200_to_1_10'], 3)} (target ≤ 0.333),"
                     f" failures {d['failure_fraction']:.2%} (≤ 1 %), {d['failures_after_50']} after problem 50 (0),"
                     f" {d['seeds']} seeds.")
    return lines
