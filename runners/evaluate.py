"""``pdlf eval RUN_DIR``: returns of a run's genomes on training and unseen goals (spec §5).

    pdlf eval runs/halfcheetah_vel__pdlf__s0__...                     # train + unseen, 3 seeds
    pdlf eval RUN_DIR --goals interp72 --seeds 1 --genome center      # PDLF's 72-goal figure set
    pdlf eval RUN_DIR --goals unseen --episode-steps 200 --json

Goal sets (``--goals``), for a task's range ``[g_min, g_max)`` with ``Δ = g_max - g_min``:
``train`` (the 8 training goals), ``unseen`` (12 evenly over the range, TASKS.md), ``all`` (both,
duplicates dropped, sorted) and ``interp72`` (72 evenly over ``[g_min + Δ/8, g_max - Δ/8]``,
endpoints included: PDLF's unseen-goal figure). A goal that coincides with a training goal counts
as seen, whatever set it came from.

Each genome (``best`` member so far, distribution ``center``, or both) runs every goal with env
seeds ``seed .. seed + N - 1`` in one batch through `pdlf.evaluation.evaluate_genome`. Reported per
goal: mean and std of the return over seeds and the returns; per genome: mean ± std over every
(goal, seed) episode of the seen goals and of the unseen goals. Episodes whose agent or env
diverged (NaN) are counted in ``diverged`` and left out of the means.

Output: ``OUT/eval_<goals>.json`` and ``OUT/eval_<goals>.png`` (``OUT`` defaults to
``RUN_DIR/eval``). Existing files are never overwritten without ``--force``: the command fails,
naming the directory. ``--json`` prints the same object to stdout.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from pdlf.errors import ConfigError, RunDirError

GOAL_SETS = ("train", "unseen", "all", "interp72")
GENOME_CHOICES = ("best", "center", "both")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--goals", choices=GOAL_SETS, default="all", help="goal set (default all = train + unseen)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="env seeds per goal (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="first env seed (seeds SEED..SEED+N-1)")
    parser.add_argument("--genome", choices=GENOME_CHOICES, default="both", help="which genome(s) to evaluate")
    parser.add_argument("--episode-steps", type=int, default=None, metavar="N",
                        help="episode length (default: the run's env.episode_steps, else the task's)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/eval)")
    parser.add_argument("--force", action="store_true", help="overwrite existing results in the output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


# --------------------------------------------------------------------------------- shared helpers
def goal_set(spec, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Goals ``[G]`` of set ``name`` for task ``spec`` and whether each is seen (a training goal)."""
    train = spec.train_goals()
    if name == "train":
        goals = train
    elif name == "unseen":
        goals = spec.unseen_goals()
    elif name == "all":
        goals = np.concatenate([train, spec.unseen_goals()])
        goals = np.sort(goals[_first_occurrences(goals)])
    elif name == "interp72":
        delta = spec.goal_high - spec.goal_low
        goals = np.linspace(spec.goal_low + delta / 8, spec.goal_high - delta / 8, 72)
    else:
        raise ConfigError(f"--goals {name!r}: choose one of {', '.join(GOAL_SETS)}")
    return goals.astype(np.float64), is_seen(goals, train)


def _first_occurrences(goals: np.ndarray) -> np.ndarray:
    keep = []
    for i, g in enumerate(goals):
        if not any(np.isclose(g, goals[j], rtol=1e-9, atol=1e-9) for j in keep):
            keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def is_seen(goals: np.ndarray, train: np.ndarray) -> np.ndarray:
    """``[G]`` bool: the goal coincides (to 1e-9) with one of the training goals."""
    return np.isclose(np.asarray(goals)[:, None], np.asarray(train)[None, :], rtol=1e-9, atol=1e-9).any(axis=1)


def env_seeds(n: int, first: int = 0) -> np.ndarray:
    if n < 1:
        raise ConfigError(f"--seeds {n}: give at least 1 seed")
    return np.arange(first, first + n, dtype=np.int64)


def output_dir(run_dir: Path, out: str | None, default_name: str, files: list[str], force: bool) -> Path:
    """The output directory; fails (naming it and ``--force``) if any of ``files`` already exist there."""
    path = Path(out) if out else Path(run_dir) / default_name
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output {path} exists and is not a directory; give another --out")
    existing = [f for f in files if (path / f).exists()]
    if existing and not force:
        raise RunDirError(f"{path} already holds results ({', '.join(existing)}); pass --force to overwrite them"
                          " or give another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def finite_stats(x: np.ndarray) -> tuple[float | None, float | None]:
    """Mean and (population) std of the finite entries of ``x``; ``None`` if there are none."""
    x = np.asarray(x, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    if x.size == 0:
        return None, None
    return float(x.mean()), float(x.std())


def clean(x):
    """A JSON-safe copy: NaN/inf become None, numpy scalars and arrays become Python ones."""
    if isinstance(x, dict):
        return {str(k): clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [clean(v) for v in x]
    if isinstance(x, np.ndarray):
        return clean(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_json(path: Path, obj: dict) -> Path:
    path.write_text(json.dumps(clean(obj), indent=1) + "\n")
    return path


# ----------------------------------------------------------------------------------- the runner
def summarize(goals: np.ndarray, seen: np.ndarray, returns: np.ndarray) -> dict:
    """Per-goal and seen/unseen statistics of ``returns [G, S]``."""
    per_goal = []
    for g, s, r in zip(goals, seen, returns):
        mean, std = finite_stats(r)
        per_goal.append({"goal": float(g), "seen": bool(s), "mean": mean, "std": std, "returns": r.tolist()})
    seen_mean, seen_std = finite_stats(returns[seen])
    unseen_mean, unseen_std = finite_stats(returns[~seen])
    return {
        "per_goal": per_goal,
        "seen_mean": seen_mean,
        "seen_std": seen_std,
        "unseen_mean": unseen_mean,
        "unseen_std": unseen_std,
        "n_seen_goals": int(seen.sum()),
        "n_unseen_goals": int((~seen).sum()),
        "diverged": int((~np.isfinite(returns)).sum()),
    }


def run(args: argparse.Namespace) -> int:
    from pdlf.evaluation import evaluate_genome
    from pdlf.plots import return_per_goal
    from pdlf.runs import load_run

    loaded = load_run(args.run_dir)
    spec = loaded.spec
    goals, seen = goal_set(spec, args.goals)
    seeds = env_seeds(args.seeds, args.seed)
    if args.episode_steps is not None and args.episode_steps < 1:
        raise ConfigError(f"--episode-steps {args.episode_steps}: give a positive number of steps")
    steps = args.episode_steps or loaded.cfg.env.episode_steps or spec.episode_steps
    stem = f"eval_{args.goals}"
    out = output_dir(loaded.run_dir, args.out, "eval", [stem + ".json", stem + ".png"], args.force)

    wanted = ["best", "center"] if args.genome == "both" else [args.genome]
    genomes, notes = {}, []
    for which in wanted:
        try:
            genome = loaded.genome(which)
        except RunDirError as err:
            if args.genome != "both":
                raise
            notes.append(f"{which} skipped: {err}")
            continue
        ev = evaluate_genome(loaded.cfg, genome, goals, seeds, loaded.norm, episode_steps=steps)
        genomes[which] = summarize(goals, seen, ev.returns)

    png = return_per_goal(
        out / f"{stem}.png", goals, seen,
        {w: ([np.nan if p["mean"] is None else p["mean"] for p in s["per_goal"]],
             [np.nan if p["std"] is None else p["std"] for p in s["per_goal"]]) for w, s in genomes.items()},
        title=f"{spec.name} ({loaded.kind}): {loaded.run_dir.name}",
        goal_label=f"goal ({spec.goal_units})",
    )
    result = {
        "command": "eval",
        "run_dir": str(loaded.run_dir),
        "task": spec.name,
        "kind": loaded.kind,
        "rule": loaded.cfg.rule.name,
        "goal_set": args.goals,
        "goals": goals,
        "seen": seen,
        "seeds": seeds,
        "episode_steps": int(steps),
        "genomes": genomes,
        "notes": notes,
        "png": str(png),
        "json": str(out / f"{stem}.json"),
    }
    write_json(out / f"{stem}.json", result)
    if args.json:
        print(json.dumps(clean(result)))
    else:
        print(f"{spec.name} ({loaded.kind}), goals {args.goals} × {len(seeds)} seeds, {steps} steps")
        for which, s in genomes.items():
            print(f"  {which:6s} seen {_fmt(s['seen_mean'], s['seen_std'])}   "
                  f"unseen {_fmt(s['unseen_mean'], s['unseen_std'])}   diverged {s['diverged']}")
        for note in notes:
            print(f"  note: {note}")
        print(f"  wrote {result['json']} and {png}")
    return 0


def _fmt(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.1f} ± {std:.1f}"
