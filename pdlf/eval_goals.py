"""Returns of a run's genomes on a set of goals (what ``pdlf eval`` computes; spec §5).

    run = load_run(run_dir)
    sel = parse_goals("all", run.spec, run.train_goals())
    result = evaluate_goals(run, sel, env_seeds(3))          # a JSON-ready dict
    write_eval(result, prepare_output_dir(out, eval_files(sel), force))

Each genome (``best`` member so far, distribution ``center``, or both) runs every goal with the
given env seeds in one batch through `pdlf.evaluation.evaluate_genome`. Reported per goal: mean
and std of the return over seeds, the returns, whether the goal is seen (a training goal) and
whether it lies outside the task's range (extrapolated); per genome: mean ± std over every
(goal, seed) episode of the seen goals and of the unseen goals. Episodes whose agent or env
diverged (NaN) are counted in ``diverged`` and left out of the means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pdlf.errors import ConfigError, RunDirError
from pdlf.goals import GoalSelection
from pdlf.outputs import write_json
from pdlf.stats import finite_stats

GENOME_CHOICES = ("best", "center", "both")


def eval_stem(sel: GoalSelection) -> str:
    """File stem of ``pdlf eval``'s outputs for goals ``sel``: ``eval_<label>``."""
    return f"eval_{sel.label}"


def eval_files(sel: GoalSelection) -> list[str]:
    """The files ``pdlf eval`` writes for goals ``sel`` (what ``--force`` replaces)."""
    stem = eval_stem(sel)
    return [f"{stem}.json", f"{stem}.png"]


def summarize_returns(goals: np.ndarray, seen: np.ndarray, outside: np.ndarray, returns: np.ndarray) -> dict:
    """Per-goal and seen/unseen statistics of ``returns [G, S]`` (NaN = diverged, left out)."""
    per_goal = []
    for g, s, o, r in zip(goals, seen, outside, returns):
        st = finite_stats(r)
        per_goal.append({"goal": float(g), "seen": bool(s), "extrapolated": bool(o), "mean": st.mean,
                         "std": st.std, "returns": r.tolist()})
    on_seen, on_unseen = finite_stats(returns[seen]), finite_stats(returns[~seen])
    return {
        "per_goal": per_goal,
        "seen_mean": on_seen.mean,
        "seen_std": on_seen.std,
        "unseen_mean": on_unseen.mean,
        "unseen_std": on_unseen.std,
        "n_seen_goals": int(seen.sum()),
        "n_unseen_goals": int((~seen).sum()),
        "n_extrapolated_goals": int(outside.sum()),
        "diverged": int((~np.isfinite(returns)).sum()),
    }


def evaluate_goals(
    run,
    sel: GoalSelection,
    seeds: Sequence[int] | np.ndarray,
    genome: str = "both",
    episode_steps: int | None = None,
) -> dict:
    """Evaluate ``run``'s genome(s) on goals ``sel`` × env ``seeds``.

    Args:
        run: a `pdlf.runs.LoadedRun`.
        sel: the goals (`pdlf.goals.parse_goals`).
        seeds: ``[S]`` env seeds.
        genome: ``best``, ``center`` or ``both`` (with ``both`` a missing best genome is skipped
            with a note; asked for alone it raises `RunDirError`).
        episode_steps: episode length (default: the run's ``env.episode_steps``, else the task's).

    Returns:
        The JSON-ready result (numpy arrays inside; `pdlf.outputs.jsonable` converts them):
        ``genomes`` maps each evaluated genome to `summarize_returns` of its returns.
    """
    from pdlf.evaluation import evaluate_genome

    if genome not in GENOME_CHOICES:
        raise ConfigError(f"--genome {genome!r}: choose one of {', '.join(GENOME_CHOICES)}")
    if episode_steps is not None and episode_steps < 1:
        raise ConfigError(f"--episode-steps {episode_steps}: give a positive number of steps")
    spec = run.spec
    seeds = np.asarray(seeds, dtype=np.int64)
    steps = int(episode_steps or run.cfg.env.episode_steps or spec.episode_steps)
    genomes, notes = {}, []
    for which in (["best", "center"] if genome == "both" else [genome]):
        try:
            weights = run.genome(which)
        except RunDirError as err:
            if genome != "both":
                raise
            notes.append(f"{which} skipped: {err}")
            continue
        ev = evaluate_genome(run.cfg, weights, sel.goals, seeds, run.norm, episode_steps=steps)
        genomes[which] = summarize_returns(sel.goals, sel.seen, sel.outside, ev.returns)
    return {
        "command": "eval",
        "run_dir": str(run.run_dir),
        "task": spec.name,
        "kind": run.kind,
        "rule": run.cfg.rule.name,
        "goal_set": sel.text,
        "goals": sel.goals,
        "seen": sel.seen,
        "extrapolated": sel.outside,
        "goal_range": [spec.goal_low, spec.goal_high],
        "goal_units": spec.goal_units,
        "seeds": seeds,
        "episode_steps": steps,
        "genomes": genomes,
        "notes": notes,
    }


def write_eval(result: dict, out: str | Path, stem: str) -> dict:
    """Write ``OUT/<stem>.png`` (return per goal) and ``OUT/<stem>.json``; returns ``result`` with
    their paths added under ``png`` and ``json``."""
    from pdlf.plots import return_per_goal

    out = Path(out)
    lines = {w: ([np.nan if p["mean"] is None else p["mean"] for p in s["per_goal"]],
                 [np.nan if p["std"] is None else p["std"] for p in s["per_goal"]])
             for w, s in result["genomes"].items()}
    png = return_per_goal(out / f"{stem}.png", result["goals"], result["seen"], lines,
                          title=f"{result['task']} ({result['kind']}): {Path(result['run_dir']).name}",
                          goal_label=f"goal ({result['goal_units']})")
    result = {**result, "png": str(png), "json": str(out / f"{stem}.json")}
    write_json(out / f"{stem}.json", result)
    return result
