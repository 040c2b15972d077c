"""The learning-to-learn experiment (IP²-RSNN, spec §3), stage ``l2l`` of ``pdlf report``.

For each cognitive task family (`pdlf.l2l.FAMILIES`), each plasticity condition (`CONDITIONS`:
``configs/ip2/{family}__{condition}.yaml``, one shared base per family, so every condition of a
family has the same task, network size, search and budget) and each search seed, a run is trained
with `pdlf.es.trainer.train_or_reuse` (a finished run of the same config is reused, an interrupted
one resumed). The centres of a condition's seeds then meet ``--l2l-tasks`` tasks each
(`pdlf.l2l.evaluate_l2l_genomes`, all seeds in one batched rollout, the same task draws for every
condition): ``tasks / sequence_tasks`` sequences of ``sequence_tasks`` tasks, fast weights and
intrinsic state carried from task to task within a sequence. Per seed the stage records the
failures among all its tasks, the trials to threshold along the sequence (mean over sequences), the
slope, the fraction of trials correct, the run's final centre fitness (mean of its last
`pdlf.sweep.FINAL_WINDOW` generations) and the wall times.

The docs part (`l2l_table`, `l2l_figure`, `l2l_section`) turns them into a table per family beside
IP²-RSNN's published failure counts (`PAPER_FAILURES`) and one figure of trials to threshold along
the sequence, one panel per family and one line per condition.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pdlf.l2l import FAMILIES
from pdlf.stats import finite_stats
from pdlf.sweep import FINAL_WINDOW, summarise_run
from pdlf.tables import Table, stat_record

# condition -> what it is (configs/ip2/{family}__{condition}.yaml)
CONDITIONS = {
    "tf_delta": "three-factor delta rule on the readout (feedback modulator)",
    "tf_hebb": "three-factor Hebbian readout (feedback modulator)",
    "tf_rpe": "three-factor Hebbian readout (reward prediction error)",
    "tf_np": "three-factor Hebbian readout (node perturbation)",
    "tf_ip": "three-factor intrinsic plasticity of θ, τ, τ_d (feedback modulator), direct weights",
    "syn": "two-factor plasticity (PDLF's rule) on the readout",
    "none": "no plasticity (direct weights, memory in activity)",
    "gru": "GRU (direct weights)",
}
L2L_HEADING = "## Learning to learn on cognitive task families"  # the section's heading (prefix)
HEADLINE = "tf_delta"  # the condition shown beside IP²-RSNN's published numbers
GNG_FAMILIES = ("gng_dr2", "gng_dr4")  # the families the experiment runs by default
# IP²-RSNN's published failures per 1,000 tasks (spec §3): its own model on every family, and the
# 4-head self-attention baseline on the context-dependent task
PAPER_FAILURES = {("ip2-rsnn", f): 0 for f in FAMILIES} | {("4-head self-attention", "ctx_dms"): 64}
THRESHOLD, WINDOW = 0.9, 20  # the criterion: 90 % correct over the last 20 trials
EDGE = 10  # tasks averaged at the start and at the end of a sequence
CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "ip2"


@dataclass
class L2LExperiment:
    """What the experiment runs.

    Attributes:
        root: runs go to ``root/ip2/{family}__{condition}__s{seed}``.
        families: task families; seeds: search seeds (one run per condition each).
        generations: generations per run, or None for the configs' ``es.generations``.
        tasks: tasks evaluated per run, as ``tasks / sequence_tasks`` sequences of
            ``sequence_tasks`` tasks (state carried within a sequence).
        trial_limit: trials per task before it counts as a failure.
    """

    root: Path
    families: tuple[str, ...] = GNG_FAMILIES
    seeds: tuple[int, ...] = (0, 1, 2)
    generations: int | None = None
    tasks: int = 1000
    sequence_tasks: int = 100
    trial_limit: int = 50


def condition_config(exp: L2LExperiment, family: str, condition: str, seed: int):
    """The run config of ``condition`` on ``family`` for search seed ``seed``."""
    from pdlf.config import load_config

    path = CONFIGS / f"{family}__{condition}.yaml"
    overrides = [f"es.seed={seed}", "log.progress=false"]
    if exp.generations is not None:
        overrides.append(f"es.generations={exp.generations}")
    return load_config(path, overrides)


def run_l2l_experiment(exp: L2LExperiment, save: Callable[[str, Any], None]) -> None:
    """Train every (family, condition, seed) and evaluate learning to learn; ``save(name, obj)``
    keeps each condition's rows (one per seed) as ``l2l__{family}__{condition}``."""
    import torch

    from pdlf.errors import ConfigError
    from pdlf.es.trainer import train_or_reuse
    from pdlf.interrupts import StoppedBySignal
    from pdlf.l2l import evaluate_l2l_genomes
    from pdlf.runs import load_run

    if exp.tasks % exp.sequence_tasks:
        raise ConfigError(f"{exp.tasks} tasks do not split into sequences of {exp.sequence_tasks}: give a multiple")
    sequences = exp.tasks // exp.sequence_tasks
    for family in exp.families:
        for condition in CONDITIONS:
            runs = []
            for seed in exp.seeds:
                cfg = condition_config(exp, family, condition, seed)
                run_dir = Path(exp.root) / "ip2" / f"{family}__{condition}__s{seed}"
                summary = train_or_reuse(cfg, run_dir, replace=True)  # the report's own workspace
                if summary is not None and summary.get("interrupted"):
                    raise StoppedBySignal(summary["interrupted"], str(run_dir))
                runs.append(load_run(run_dir))
            if any(r.cfg.env.normalize_obs for r in runs):
                raise ConfigError(f"{family}__{condition}: the l2l stage evaluates seeds together and needs env.normalize_obs: false")
            t0 = time.time()
            centres = torch.stack([r.genome("center") for r in runs])
            results = evaluate_l2l_genomes(runs[0].cfg, centres, exp.sequence_tasks, exp.trial_limit, sequences,
                                           THRESHOLD, WINDOW, seed=0)
            eval_seconds = time.time() - t0
            rows = []
            for seed, run, res in zip(exp.seeds, runs, results):
                trained = summarise_run(run.run_dir)
                mean_trials = res.mean_trials()
                reached = [t for seq in res.trials_to_threshold for t in seq if t is not None]
                rows.append({
                    "seed": seed, "genome_size": int(centres.shape[1]), "tasks": exp.tasks, "sequences": sequences,
                    "trial_limit": exp.trial_limit, "failures": res.failures, "slope": res.slope,
                    "mean_trials": mean_trials,
                    "first_tasks_trials": float(np.mean(mean_trials[:EDGE])),
                    "last_tasks_trials": float(np.mean(mean_trials[-EDGE:])),
                    "accuracy": float(np.mean(res.accuracy)),
                    "median_trials": float(np.median(reached)) if reached else None,
                    "learning_share": final_learning_share(run.run_dir),
                    "final_center_fitness": trained["final_center"], "env_steps": trained["env_steps"],
                    "generations": run.cfg.es.generations, "train_minutes": trained["wall_s"] / 60,
                    "eval_minutes": eval_seconds / 60 / len(runs),
                })
            save(f"l2l__{family}__{condition}", rows)
            print(f"l2l {family} {condition}: failures {[r['failures'] for r in rows]} of {exp.tasks}, "
                  f"trials first {_mean(rows, 'first_tasks_trials'):.1f} -> last {_mean(rows, 'last_tasks_trials'):.1f} "
                  f"({eval_seconds:.0f} s evaluation)", file=sys.stderr)


def final_learning_share(run_dir: Path) -> float | None:
    """Mean ``fitness/learning_share`` (`pdlf.es.generation.FitnessParts`) of a run's last
    `FINAL_WINDOW` generations, or None for a run without mirrored pairs."""
    import csv

    with open(Path(run_dir) / "metrics.csv", newline="") as fh:
        values = [float(r["fitness/learning_share"]) for r in csv.DictReader(fh) if r.get("fitness/learning_share")]
    values = [v for v in values[-FINAL_WINDOW:] if np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _mean(rows: list[dict], key: str) -> float:
    return float(np.mean([r[key] for r in rows]))


def l2l_table(exp: L2LExperiment, load: Callable[[str], Any]) -> Table:
    """One row per (family, condition) over seeds, beside IP²-RSNN's published failures."""
    table = Table("l2l", ["family", "condition", "genes", "failures per run (of tasks)", "published failures (1,000 tasks)",
                          "median trials to threshold", f"trials to threshold, first {EDGE} tasks", f"last {EDGE} tasks",
                          "slope (trials per task)", "trials correct", f"centre fitness, last {FINAL_WINDOW} generations",
                          "learning share of the fitness spread", "train minutes per run"])
    for family in exp.families:
        for condition in CONDITIONS:
            rows = load(f"l2l__{family}__{condition}")
            if not rows:
                continue
            published = "; ".join(f"{who}: {n}" for (who, fam), n in PAPER_FAILURES.items()
                                  if fam == family and condition == HEADLINE)  # beside the paper's own model
            values = {k: [r.get(k) for r in rows] for k in ("failures", "median_trials", "first_tasks_trials",
                                                            "last_tasks_trials", "slope", "accuracy", "final_center_fitness",
                                                            "learning_share", "train_minutes")}
            table.add([family, condition, f"{rows[0]['genome_size']:,}",
                       f"{finite_stats(values['failures']).format(1)} (of {rows[0]['tasks']:,})", published or "n/a",
                       finite_stats(values["median_trials"]).format(1),
                       finite_stats(values["first_tasks_trials"]).format(1), finite_stats(values["last_tasks_trials"]).format(1),
                       finite_stats(values["slope"]).format(3), finite_stats(values["accuracy"]).format(3),
                       finite_stats(values["final_center_fitness"]).format(1), finite_stats(values["learning_share"]).format(3),
                       finite_stats(values["train_minutes"]).format(1)],
                      {"family": family, "condition": condition, "genome_size": rows[0]["genome_size"],
                       "tasks": rows[0]["tasks"], "sequences": rows[0]["sequences"], "trial_limit": rows[0]["trial_limit"],
                       "generations": rows[0]["generations"], "env_steps": rows[0]["env_steps"],
                       **{k: stat_record(v) for k, v in values.items()},
                       "published_failures": {who: n for (who, fam), n in PAPER_FAILURES.items() if fam == family},
                       "seeds": [r["seed"] for r in rows]})
    return table


def l2l_figure(exp: L2LExperiment, load: Callable[[str], Any], docs: Path) -> str | None:
    """``docs/l2l.png``: trials to threshold along the sequence (mean over seeds and sequences; the
    band is the spread over seeds), one panel per family, one line per condition; its file name,
    or None when the stage has not run."""
    from pdlf.plots import new_figure, save_figure

    families = [f for f in exp.families if any(load(f"l2l__{f}__{c}") for c in CONDITIONS)]
    if not families:
        return None
    fig, axes = new_figure(1, len(families), figsize=(4.2 * len(families), 3.8), squeeze=False)
    for ax, family in zip(axes[0], families):
        limit = None
        for condition in CONDITIONS:
            rows = load(f"l2l__{family}__{condition}")
            if not rows:
                continue
            curves = np.asarray([r["mean_trials"] for r in rows], dtype=float)  # [seeds, tasks per sequence]
            x = np.arange(1, curves.shape[1] + 1)
            mean, std = curves.mean(axis=0), curves.std(axis=0)
            ax.plot(x, mean, lw=1.2, label=condition)
            ax.fill_between(x, mean - std, mean + std, alpha=0.15)
            limit = rows[0]["trial_limit"]
        if limit is not None:
            ax.axhline(limit, color="grey", lw=0.8, ls="--")
        ax.set(title=family, xlabel="task in the sequence", ylabel=f"trials to {THRESHOLD:.0%} over {WINDOW}")
    axes[0][0].legend(fontsize=7)
    save_figure(fig, docs / "l2l.png", dpi=90)
    return "l2l.png"


def l2l_section(table: Table, figure: str | None) -> list[str]:
    """The results.md lines of the learning-to-learn experiment."""
    if not table.rows:
        return []
    first = table.rows[0]

    def _span(key: str) -> str:
        low, high = min(r[key] for r in table.rows), max(r[key] for r in table.rows)
        return f"{low:,}" if low == high else f"{low:,}–{high:,}"

    return [
        L2L_HEADING + " (three-factor rules and controls, `configs/ip2/`)",
        "",
        f"{len(CONDITIONS)} conditions per family, each `configs/ip2/{{family}}__{{condition}}.yaml` on the family's "
        "shared base (the same network: evolved input weights into 32 two-compartment LIF neurons whose dendrite "
        "keeps 95 % per step, read out from the soma's membrane; the same task, search and env-step budget): "
        + "; ".join(f"`{c}` {d}" for c, d in CONDITIONS.items()) + ". "
        f"Each run: {first['generations']} generations of PGPE (popsize 64), {_span('env_steps')} env steps. "
        "Training follows the evaluation's protocol: an episode is 2 tasks of 50 trials (a task is a new random "
        "stimulus → response mapping with feedback after every trial; membranes reset between the tasks, weights and "
        "intrinsic state carried over), and a member's 8 episodes are 4 mirrored pairs (the twin flips every correct "
        "answer), so an output bias cancels exactly; the *learning share* is the learning part's share of the "
        "fitness variance between members over the last generations (`fitness/learning_share`). "
        f"Evaluation (`pdlf.l2l`, the centre of each seed): {first['tasks']:,} tasks per run as "
        f"{first['sequences']} sequences of {first['tasks'] // first['sequences']} tasks (state carried within a "
        f"sequence), at most {first['trial_limit']} trials per task; trials to threshold is the first trial at which "
        f"{THRESHOLD:.0%} of the last {WINDOW} were correct (so {WINDOW} is the fewest possible), a failure when no "
        "window reaches it; the median is over the tasks that reached it. "
        "IP²-RSNN reports 0 failures over 1,000 tasks per family (its budget is not published). "
        "Regenerate with `pdlf report --stages l2l,docs --sections l2l --l2l-families gng_dr2 gng_dr4`.",
        "",
        *([f"![learning to learn]({figure})", ""] if figure else []),
        *table.markdown(),
        "",
    ]


__all__ = ["CONDITIONS", "L2L_HEADING", "PAPER_FAILURES", "L2LExperiment", "condition_config", "run_l2l_experiment", "l2l_table",
           "l2l_figure", "l2l_section"]
