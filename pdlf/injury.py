"""Temporary and permanent injury of trained agents (what ``pdlf injury`` computes; spec §5).

    runs = load_runs(run_dir, compare)              # one run, or two of the same task
    sel = parse_goals("train", runs[0].spec, runs[0].train_goals())
    result = temporary_injury(runs, sel, env_seeds(3), steps=1000, window=(501, 549))
    write_injury(result, out, injury_stem("temporary"))

Steps are numbered from 1 as in every rollout hook (`pdlf.rollout.Perturbation`): step ``k`` is
the ``k``-th action, and a per-step curve holds step ``k`` at index ``k - 1``.

Temporary (`temporary_injury`): three conditions on the same goals and env seeds —
``intact``; ``erasure`` (`pdlf.perturb.WeightErasure`: every fast weight of every layer set to 0
after each step of the window, then plasticity runs again); ``silencing``
(`pdlf.perturb.Silencing`: no transmission and no plasticity during the window, weights kept).
The window ``(START, STOP)`` is inclusive (default 501 549) and must end
before the episode does. For each condition, from the per-step reward ``r̄[k]`` averaged over goals
and seeds (episodes that ended or diverged are left out of a step's mean):

- ``pre``: mean of ``r̄`` over the 100 steps before the window (``START-100 .. START-1``, clipped
  at step 1).
- ``min``: minimum of the smoothed curve over steps ``START .. T``, at step ``min_step``; the
  smoothed curve is a centred ``smooth``-step (default 20) moving average computed on that
  segment alone, truncated at its ends. ``min_raw`` is the minimum of ``r̄`` itself.
- ``threshold = min + 0.9 (pre - min)``: 90 % of the damage drop regained. Rewards may be negative,
  so the level is measured from the minimum, not as a ratio of ``pre``.
- ``recovery_steps``: with ``m[k]`` the centred moving average of ``r̄`` over the post-window
  segment ``STOP+1 .. T`` alone (so no damaged step enters it), the first step ``k > STOP`` such
  that ``m[j] >= threshold`` for all ``j`` in ``k .. k+19`` (``hold``, all inside the episode);
  ``recovery_steps = k - STOP`` (1 = back at the first step after the window). ``null`` (and
  ``recovered: false``) if there is no such step: "never".
- ``pre_noise``: std of the smoothed curve over the pre-window: a drop not well above it is noise,
  and its "recovery" (for ``intact`` above all) says nothing.
- ``final``: mean of ``r̄`` over the last ``min(100, T - STOP)`` steps; ``return_mean/std``: the
  episode return over goals × seeds.

Permanent (`permanent_injury`): for each fraction (default 0, 0.05, …, 0.95)
and each damage seed ``0 .. damage_seeds - 1``: ``neurons`` = `pdlf.perturb.NeuronLoss`
(``round(fraction · n)`` hidden neurons blocked from the first step: never spike, synapses 0 and
frozen); ``synapses`` = `pdlf.perturb.SynapseErasure` (PDLF's mode: a fresh random fraction of the
hidden→output synapses erased after every step). Reported: return mean ± std over damage seeds,
goals and env seeds, against fraction.

Identical damage: each damage object is built once and the very same object is passed to the
evaluation of every run, whose damage depends only on its seed, never on the
agent; goals and env seeds are the same too. The two runs must be of the same task.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from pdlf.errors import ConfigError
from pdlf.goals import GoalSelection
from pdlf.outputs import write_json
from pdlf.perturb import NeuronLoss, Silencing, SynapseErasure, WeightErasure
from pdlf.stats import finite_stats, quiet_nanmean

MODES = ("temporary", "permanent")
CONDITIONS = ("intact", "erasure", "silencing")
PERMANENT_KINDS = ("neurons", "synapses")
DEFAULT_WINDOW = (501, 549)
DEFAULT_FRACTIONS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, ..., 0.95
PRE_STEPS = 100
RECOVERY_FRACTION = 0.9


# ------------------------------------------------------------------------------------ damage
def temporary_damage(condition: str, window: tuple[int, int]) -> list:
    """The perturbations of one temporary-injury condition (``intact``, ``erasure``, ``silencing``)."""
    start, stop = window
    if condition == "intact":
        return []
    if condition == "erasure":
        return [WeightErasure(start, stop)]
    if condition == "silencing":
        return [Silencing(start, stop)]
    raise ConfigError(f"unknown condition {condition!r}: choose one of {', '.join(CONDITIONS)}")


def permanent_damage(kind: str, fraction: float, seed: int) -> list:
    """The perturbations of one permanent-injury point: ``neurons`` or ``synapses`` at ``fraction``."""
    if kind == "neurons":
        return [NeuronLoss(float(fraction), seed=int(seed))]
    if kind == "synapses":
        return [SynapseErasure(float(fraction), seed=int(seed))]
    raise ConfigError(f"--permanent-kind {kind!r}: choose one of {', '.join(PERMANENT_KINDS)}")


def parse_fractions(text: str) -> list[float]:
    """Comma-separated damaged fractions, each in ``[0, 1]`` (`ConfigError` naming ``--fractions``)."""
    try:
        fractions = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise ConfigError(f"--fractions {text!r}: give comma-separated numbers, e.g. 0,0.25,0.5") from None
    if not fractions or any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ConfigError(f"--fractions {text!r}: every fraction must lie in [0, 1]")
    return fractions


def check_window(window: Sequence[int], steps: int) -> tuple[int, int]:
    """``(start, stop)``, 1-based and inclusive, checked to end before the episode's last step."""
    start, stop = int(window[0]), int(window[1])
    if not 2 <= start <= stop:
        raise ConfigError(f"--window {start} {stop}: need 2 <= START <= STOP (steps are 1-based, inclusive)")
    if stop >= steps:
        raise ConfigError(f"--window {start} {stop} does not fit in an episode of {steps} steps: the window must end"
                          f" before the last step; give --episode-steps {stop + 1} or more, or an earlier --window")
    return start, stop


def load_runs(run_dir: str | Path, compare: str | Path | None = None, device: str | None = None) -> list:
    """``[run]`` or ``[run, compared run]`` (`pdlf.runs.LoadedRun`, placed on ``device`` if given);
    the two must share a task."""
    from pdlf.runs import load_run

    runs = [load_run(run_dir, device=device)]
    if compare:
        other = load_run(compare, device=device)
        if other.cfg.env.name != runs[0].cfg.env.name:
            raise ConfigError(f"--compare {other.run_dir} is a {other.cfg.env.name} run but {runs[0].run_dir} is"
                              f" {runs[0].cfg.env.name}: compare runs of the same task")
        if other.run_dir.resolve() == runs[0].run_dir.resolve():
            raise ConfigError(f"--compare {other.run_dir} is RUN_DIR itself: give another run")
        runs.append(other)
    return runs


# ---------------------------------------------------------------------------------- measuring
def evaluate_damage(loaded, genome, goals, seeds, steps: int, damage: Sequence, probes: Sequence = ()):
    """Evaluate ``genome`` of ``loaded`` under ``damage`` (+ read-only ``probes``), rewards recorded.

    Returns ``(returns [G, S], rewards [steps, G, S])``, step ``k`` at ``rewards[k - 1]``; steps
    after an episode ended and every step of a diverged episode are NaN in ``rewards``; diverged
    returns are NaN.
    """
    from pdlf.evaluation import evaluate_genome

    ev = evaluate_genome(loaded.cfg, genome, goals, seeds, loaded.norm, perturbations=[*damage, *probes],
                         record_rewards=True, episode_steps=steps)
    g, s = len(goals), len(seeds)
    rewards = np.full((steps, g, s), np.nan)
    t = min(steps, ev.rewards.shape[0])
    rewards[:t] = ev.rewards[:t]
    lengths = ev.result.lengths.reshape(g, s)
    rewards[np.arange(steps)[:, None, None] >= lengths[None]] = np.nan  # index k-1 >= length: ended
    rewards[:, ev.result.diverged.reshape(g, s)] = np.nan
    return ev.returns, rewards


def recovery_metrics(curve: Sequence[float], window: tuple[int, int], smooth: int = 20, hold: int = 20,
                     pre_steps: int = PRE_STEPS, fraction: float = RECOVERY_FRACTION) -> dict:
    """Pre-injury level, minimum, recovery threshold and steps to recover of ``curve`` (``[T]``,
    step ``k`` at index ``k-1``) for a damage window ``(start, stop)``; definitions in the module doc."""
    from pdlf.plots import moving_average

    curve = np.asarray(curve, dtype=np.float64)
    start, stop = window
    T = curve.size
    before = curve[max(0, start - 1 - pre_steps): start - 1]
    pre = quiet_nanmean(before)
    after = moving_average(curve[start - 1:], smooth)
    if np.isfinite(after).any():
        i_min = int(np.nanargmin(after))
        low, min_step = float(after[i_min]), start + i_min
    else:
        low, min_step = float("nan"), None
    threshold = low + fraction * (pre - low)
    post = moving_average(curve[stop:], smooth)
    ok = post >= threshold  # NaN compares False
    recovery = None
    if np.isfinite(threshold):
        for i in range(0, post.size - hold + 1):
            if ok[i: i + hold].all():
                recovery = i + 1  # step stop + 1 + i, counted from the window's last step
                break
    return {
        "pre": pre,
        "pre_noise": float(np.nanstd(moving_average(before, smooth))) if np.isfinite(before).any() else None,
        "min": low,
        "min_step": min_step,
        "min_raw": float(np.nanmin(curve[start - 1:])) if np.isfinite(curve[start - 1:]).any() else None,
        "drop": pre - low,
        "threshold": threshold,
        "recovery_steps": recovery,
        "recovery_step": None if recovery is None else stop + recovery,
        "recovered": recovery is not None,
        "final": quiet_nanmean(curve[max(stop, T - pre_steps):]),
    }


def _header(mode: str, runs: Sequence, sel: GoalSelection, seeds, steps: int, genome: str) -> dict:
    return {
        "command": "injury", "mode": mode, "run_dir": str(runs[0].run_dir), "task": runs[0].spec.name,
        "kind": runs[0].kind, "compare": str(runs[1].run_dir) if len(runs) > 1 else None, "genome": genome,
        "goal_set": sel.text, "goals": sel.goals, "seen": sel.seen, "extrapolated": sel.outside,
        "seeds": np.asarray(seeds, dtype=np.int64), "episode_steps": int(steps),
    }


def _run_entry(loaded) -> dict:
    return {"run_dir": str(loaded.run_dir), "kind": loaded.kind, "rule": loaded.cfg.rule.name, "label": loaded.label}


def temporary_injury(runs: Sequence, sel: GoalSelection, seeds, steps: int,
                     window: tuple[int, int] = DEFAULT_WINDOW, smooth: int = 20, hold: int = 20,
                     genome: str = "center") -> dict:
    """Intact, erasure and silencing of ``runs`` (one or two `LoadedRun`) on goals × ``seeds``.

    Returns the JSON-ready result: per run, per condition `recovery_metrics` of the mean per-step
    reward ``curve`` ``[steps]`` plus return mean/std over goals × seeds.
    """
    if smooth < 1 or hold < 1:
        raise ConfigError("--smooth and --hold must be at least 1 step")
    window = check_window(window, steps)
    damage = {c: temporary_damage(c, window) for c in CONDITIONS}  # one set of objects for every run
    results = []
    for loaded in runs:
        weights = loaded.genome(genome)
        conditions = {}
        for cond in CONDITIONS:
            returns, rewards = evaluate_damage(loaded, weights, sel.goals, seeds, steps, damage[cond])
            curve = quiet_nanmean(rewards.reshape(steps, -1), axis=1)
            st = finite_stats(returns)
            conditions[cond] = {
                **recovery_metrics(curve, window, smooth, hold),
                "return_mean": st.mean, "return_std": st.std, "returns": returns,
                "diverged": int((~np.isfinite(returns)).sum()), "curve": curve,
            }
        results.append({**_run_entry(loaded), "conditions": conditions})
    return {**_header("temporary", runs, sel, seeds, steps, genome),
            "window": list(window), "smooth": smooth, "hold": hold, "pre_steps": PRE_STEPS,
            "recovery_fraction": RECOVERY_FRACTION,
            "damage": {c: [repr(p) for p in d] for c, d in damage.items()}, "runs": results}


def permanent_injury(runs: Sequence, sel: GoalSelection, seeds, steps: int, kind: str = "neurons",
                     fractions: Sequence[float] = DEFAULT_FRACTIONS, damage_seeds: int = 1,
                     genome: str = "center") -> dict:
    """Return against damaged fraction for ``runs`` (one or two `LoadedRun`): ``neurons`` lost or
    ``synapses`` erased, ``damage_seeds`` draws per fraction, identical for every run.

    Returns the JSON-ready result: per run, ``points`` (per fraction: returns ``[D, G, S]``, mean,
    std, per-goal mean) and the ``mean``/``std`` lists against ``fractions``.
    """
    if damage_seeds < 1:
        raise ConfigError(f"--damage-seeds {damage_seeds}: give at least 1")
    fractions = [float(f) for f in fractions]
    damage = {(f, d): permanent_damage(kind, f, d) for f in fractions for d in range(damage_seeds)}
    weights = [r.genome(genome) for r in runs]
    results = [{**_run_entry(r), "points": [], "mean": [], "std": []} for r in runs]
    for f in fractions:
        for res, loaded, w in zip(results, runs, weights):
            returns = np.stack([evaluate_damage(loaded, w, sel.goals, seeds, steps, damage[(f, d)])[0]
                                for d in range(damage_seeds)])  # [D, G, S]
            st = finite_stats(returns)
            blocked = (int(NeuronLoss(f).mask(loaded.cfg.agent.hidden[0]).sum())
                       if kind == "neurons" else None)  # the count depends on f and n only
            res["points"].append({"fraction": f, "n_blocked": blocked, "mean": st.mean, "std": st.std,
                                  "per_goal_mean": quiet_nanmean(returns, axis=(0, 2)), "returns": returns,
                                  "diverged": int((~np.isfinite(returns)).sum())})
            res["mean"].append(st.mean)
            res["std"].append(st.std)
    return {**_header("permanent", runs, sel, seeds, steps, genome),
            "permanent_kind": kind, "fractions": fractions, "damage_seeds": list(range(damage_seeds)),
            "damage": {f"{f:g}": [repr(p) for d in range(damage_seeds) for p in damage[(f, d)]] for f in fractions},
            "runs": results}


# ------------------------------------------------------------------------------------ outputs
def injury_stem(mode: str, kind: str = "neurons") -> str:
    """File stem of ``pdlf injury``'s outputs: ``temporary`` or ``permanent_<kind>``."""
    if mode not in MODES:
        raise ConfigError(f"--mode {mode!r}: choose one of {', '.join(MODES)}")
    return "temporary" if mode == "temporary" else f"permanent_{kind}"


def injury_files(mode: str, kind: str = "neurons") -> list[str]:
    """The files ``pdlf injury`` writes in this mode (what ``--force`` replaces)."""
    stem = injury_stem(mode, kind)
    return [f"{stem}.json", f"{stem}.png"]


def write_injury(result: dict, out: str | Path, stem: str) -> dict:
    """Write ``OUT/<stem>.png`` (reward curves or return against fraction) and ``OUT/<stem>.json``;
    returns ``result`` with their paths added under ``png`` and ``json``."""
    from pdlf.plots import injury_curves, return_vs_fraction

    out = Path(out)
    runs = result["runs"]
    title = f"{result['task']}: " + " vs ".join(r["label"] for r in runs)
    if result["mode"] == "temporary":
        curves, styles, colors = {}, {}, {}
        for i, res in enumerate(runs):
            for j, cond in enumerate(CONDITIONS):
                label = cond if len(runs) == 1 else f"{cond}: {res['label']}"
                curves[label] = res["conditions"][cond]["curve"]
                styles[label], colors[label] = ("-", "--", ":")[i % 3], f"C{j}"
        png = injury_curves(out / f"{stem}.png", curves, tuple(result["window"]), result["smooth"],
                            title + " — temporary injury", styles, colors)
    else:
        what = ("hidden neurons lost" if result["permanent_kind"] == "neurons"
                else "hidden→output synapses erased per step")
        lines = {r["label"]: (_nan(r["mean"]), _nan(r["std"])) for r in runs}
        png = return_vs_fraction(out / f"{stem}.png", result["fractions"], lines, xlabel=f"fraction of {what}",
                                 title=title + " — permanent injury")
    result = {**result, "png": str(png), "json": str(out / f"{stem}.json")}
    write_json(out / f"{stem}.json", result)
    return result


def _nan(values: list) -> list:
    return [np.nan if v is None else v for v in values]
