"""``pdlf injury RUN_DIR``: temporary and permanent injury of a run's agent (spec §5).

    pdlf injury RUN_DIR --mode temporary                          # steps 501-549, 1000-step episodes
    pdlf injury RUN_PLASTIC --mode temporary --compare RUN_DIRECT # both runs, identical damage
    pdlf injury RUN_DIR --mode permanent --fractions 0,0.25,0.5 --permanent-kind synapses --json

Temporary (``--mode temporary``): three conditions on the same goals and env seeds —
``intact``; ``erasure`` (`pdlf.perturb.WeightErasure`: every fast weight of every layer set to 0
after each step of the window, then plasticity runs again); ``silencing``
(`pdlf.perturb.Silencing`: no transmission and no plasticity during the window, weights kept).
Steps are 1-based; the window ``--window START STOP`` is inclusive (default 501 549) and must end
before the episode does. For each condition, from the per-step reward ``r̄[k]`` averaged over goals
and seeds (episodes that ended or diverged are left out of a step's mean):

- ``pre``: mean of ``r̄`` over the 100 steps before the window (``START-100 .. START-1``, clipped
  at step 1).
- ``min``: minimum of the smoothed curve over steps ``START .. T``, at step ``min_step``; the
  smoothed curve is a centred ``--smooth``-step (default 20) moving average computed on that
  segment alone, truncated at its ends. ``min_raw`` is the minimum of ``r̄`` itself.
- ``threshold = min + 0.9 (pre - min)``: 90 % of the damage drop regained. Rewards may be negative,
  so the level is measured from the minimum, not as a ratio of ``pre``.
- ``recovery_steps``: with ``m[k]`` the centred moving average of ``r̄`` over the post-window
  segment ``STOP+1 .. T`` alone (so no damaged step enters it), the first step ``k > STOP`` such
  that ``m[j] >= threshold`` for all ``j`` in ``k .. k+19`` (``--hold``, all inside the episode);
  ``recovery_steps = k - STOP`` (1 = back at the first step after the window). ``null`` (and
  ``recovered: false``) if there is no such step: "never".
- ``pre_noise``: std of the smoothed curve over the pre-window: a drop not well above it is noise,
  and its "recovery" (for ``intact`` above all) says nothing.
- ``final``: mean of ``r̄`` over the last ``min(100, T - STOP)`` steps; ``return_mean/std``: the
  episode return over goals × seeds.

Permanent (``--mode permanent``): for each fraction in ``--fractions`` (default 0, 0.05, …, 0.95)
and each damage seed ``0 .. --damage-seeds - 1``: ``neurons`` = `pdlf.perturb.NeuronLoss`
(``round(fraction · n)`` hidden neurons blocked from the first step: never spike, synapses 0 and
frozen); ``synapses`` = `pdlf.perturb.SynapseErasure` (PDLF's mode: a fresh random fraction of the
hidden→output synapses erased after every step). Reported: return mean ± std over damage seeds,
goals and env seeds, against fraction.

Identical damage: each damage object is built once and the very same object is passed to the
evaluation of every run (``--compare RUN_B``), whose damage depends only on its seed, never on the
agent; goals and env seeds are the same too. The two runs must be of the same task.

Output: ``OUT/temporary.{json,png}`` or ``OUT/permanent_<kind>.{json,png}``, ``OUT`` defaulting to
``RUN_DIR/injury`` (of the first run). Existing files are never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
import json
import warnings
from typing import Sequence

import numpy as np

from pdlf.errors import ConfigError
from pdlf.perturb import NeuronLoss, Silencing, SynapseErasure, WeightErasure
from pdlf.runners.evaluate import GOAL_SETS, clean, env_seeds, finite_stats, goal_set, output_dir, write_json

CONDITIONS = ("intact", "erasure", "silencing")
PERMANENT_KINDS = ("neurons", "synapses")
DEFAULT_FRACTIONS = tuple(round(0.05 * i, 2) for i in range(20))  # 0, 0.05, ..., 0.95
PRE_STEPS = 100
RECOVERY_FRACTION = 0.9


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--mode", choices=("temporary", "permanent"), required=True, help="which protocol")
    parser.add_argument("--window", type=int, nargs=2, default=(501, 549), metavar=("START", "STOP"),
                        help="temporary: damaged steps, 1-based, inclusive (default 501 549)")
    parser.add_argument("--fractions", default=",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
                        help="permanent: comma-separated damaged fractions (default 0,0.05,...,0.95)")
    parser.add_argument("--permanent-kind", choices=PERMANENT_KINDS, default="neurons",
                        help="permanent: hidden neurons lost from the start, or hidden→output synapses erased every step")
    parser.add_argument("--damage-seeds", type=int, default=1, metavar="N",
                        help="permanent: damage draws 0..N-1 per fraction (default 1)")
    parser.add_argument("--goals", choices=GOAL_SETS, default="train", help="goal set (default train)")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="env seeds per goal (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="first env seed (seeds SEED..SEED+N-1)")
    parser.add_argument("--genome", choices=("best", "center"), default="center", help="which genome (default center)")
    parser.add_argument("--episode-steps", type=int, default=1000, metavar="N", help="episode length (default 1000)")
    parser.add_argument("--smooth", type=int, default=20, metavar="N", help="temporary: moving-average width (default 20)")
    parser.add_argument("--hold", type=int, default=20, metavar="N",
                        help="temporary: steps the smoothed curve must stay at the recovery level (default 20)")
    parser.add_argument("--compare", metavar="RUN_B", help="a second run (same task) given identical damage")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/injury)")
    parser.add_argument("--force", action="store_true", help="overwrite existing results in the output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


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
    try:
        fractions = [float(f) for f in text.split(",") if f.strip()]
    except ValueError:
        raise ConfigError(f"--fractions {text!r}: give comma-separated numbers, e.g. 0,0.25,0.5") from None
    if not fractions or any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ConfigError(f"--fractions {text!r}: every fraction must lie in [0, 1]")
    return fractions


def check_window(window: Sequence[int], steps: int) -> tuple[int, int]:
    start, stop = int(window[0]), int(window[1])
    if not 2 <= start <= stop:
        raise ConfigError(f"--window {start} {stop}: need 2 <= START <= STOP (steps are 1-based, inclusive)")
    if stop >= steps:
        raise ConfigError(f"--window {start} {stop} does not fit in an episode of {steps} steps: the window must end"
                          f" before the last step; give --episode-steps {stop + 1} or more, or an earlier --window")
    return start, stop


# ---------------------------------------------------------------------------------- measuring
def evaluate_damage(loaded, genome, goals, seeds, steps: int, damage: Sequence, probes: Sequence = ()):
    """Evaluate ``genome`` of ``loaded`` under ``damage`` (+ read-only ``probes``), rewards recorded.

    Returns ``(returns [G, S], rewards [steps, G, S])``; steps after an episode ended and every step
    of a diverged episode are NaN in ``rewards``; diverged returns are NaN.
    """
    from pdlf.evaluation import evaluate_genome

    ev = evaluate_genome(loaded.cfg, genome, goals, seeds, loaded.norm, perturbations=[*damage, *probes],
                         record_rewards=True, episode_steps=steps)
    g, s = len(goals), len(seeds)
    rewards = np.full((steps, g, s), np.nan)
    t = min(steps, ev.rewards.shape[0])
    rewards[:t] = ev.rewards[:t]
    lengths = ev.result.lengths.reshape(g, s)
    rewards[np.arange(steps)[:, None, None] >= lengths[None]] = np.nan
    rewards[:, ev.result.diverged.reshape(g, s)] = np.nan
    return ev.returns, rewards


def _nanmean(x: np.ndarray, axis=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def recovery_metrics(curve: Sequence[float], window: tuple[int, int], smooth: int = 20, hold: int = 20,
                     pre_steps: int = PRE_STEPS, fraction: float = RECOVERY_FRACTION) -> dict:
    """Pre-injury level, minimum, recovery threshold and steps to recover of ``curve`` (``[T]``,
    step ``k`` at index ``k-1``) for a damage window ``(start, stop)``; definitions in the module doc."""
    from pdlf.plots import moving_average

    curve = np.asarray(curve, dtype=np.float64)
    start, stop = window
    T = curve.size
    before = curve[max(0, start - 1 - pre_steps): start - 1]
    pre = _nanmean(before)
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
        "final": _nanmean(curve[max(stop, T - pre_steps):]),
    }


def _run_label(loaded) -> str:
    return f"{loaded.kind} ({loaded.run_dir.name})"


def _load_runs(args) -> list:
    from pdlf.runs import load_run

    runs = [load_run(args.run_dir)]
    if args.compare:
        other = load_run(args.compare)
        if other.cfg.env.name != runs[0].cfg.env.name:
            raise ConfigError(f"--compare {other.run_dir} is a {other.cfg.env.name} run but {runs[0].run_dir} is"
                              f" {runs[0].cfg.env.name}: compare runs of the same task")
        if other.run_dir.resolve() == runs[0].run_dir.resolve():
            raise ConfigError(f"--compare {other.run_dir} is RUN_DIR itself: give another run")
        runs.append(other)
    return runs


def run_temporary(runs, genomes, goals, seeds, steps, window, smooth, hold) -> tuple[list, dict]:
    damage = {c: temporary_damage(c, window) for c in CONDITIONS}  # one set of objects for every run
    results = []
    for loaded, genome in zip(runs, genomes):
        conditions = {}
        for cond in CONDITIONS:
            returns, rewards = evaluate_damage(loaded, genome, goals, seeds, steps, damage[cond])
            curve = _nanmean(rewards.reshape(steps, -1), axis=1)
            mean, std = finite_stats(returns)
            conditions[cond] = {
                **recovery_metrics(curve, window, smooth, hold),
                "return_mean": mean, "return_std": std, "returns": returns,
                "diverged": int((~np.isfinite(returns)).sum()), "curve": curve,
            }
        results.append({"run_dir": str(loaded.run_dir), "kind": loaded.kind, "rule": loaded.cfg.rule.name,
                        "label": _run_label(loaded), "conditions": conditions})
    return results, {c: [repr(p) for p in d] for c, d in damage.items()}


def run_permanent(runs, genomes, goals, seeds, steps, kind, fractions, damage_seeds) -> tuple[list, dict]:
    damage = {(f, d): permanent_damage(kind, f, d) for f in fractions for d in range(damage_seeds)}
    results = [{"run_dir": str(r.run_dir), "kind": r.kind, "rule": r.cfg.rule.name, "label": _run_label(r),
                "points": [], "mean": [], "std": []} for r in runs]
    for f in fractions:
        for res, loaded, genome in zip(results, runs, genomes):
            returns = np.stack([evaluate_damage(loaded, genome, goals, seeds, steps, damage[(f, d)])[0]
                                for d in range(damage_seeds)])  # [D, G, S]
            mean, std = finite_stats(returns)
            blocked = (int(NeuronLoss(f).mask(loaded.cfg.agent.hidden[0]).sum())
                       if kind == "neurons" else None)  # the count depends on f and n only
            res["points"].append({"fraction": f, "n_blocked": blocked, "mean": mean, "std": std,
                                  "per_goal_mean": _nanmean(returns, axis=(0, 2)), "returns": returns,
                                  "diverged": int((~np.isfinite(returns)).sum())})
            res["mean"].append(mean)
            res["std"].append(std)
    return results, {f"{f:g}": [repr(p) for d in range(damage_seeds) for p in damage[(f, d)]] for f in fractions}


# ------------------------------------------------------------------------------------ the runner
def run(args: argparse.Namespace) -> int:
    from pdlf.plots import injury_curves, return_vs_fraction

    if args.episode_steps < 1:
        raise ConfigError(f"--episode-steps {args.episode_steps}: give a positive number of steps")
    if args.smooth < 1 or args.hold < 1:
        raise ConfigError("--smooth and --hold must be at least 1 step")
    if args.damage_seeds < 1:
        raise ConfigError(f"--damage-seeds {args.damage_seeds}: give at least 1")
    steps = int(args.episode_steps)
    window = check_window(args.window, steps) if args.mode == "temporary" else None
    fractions = parse_fractions(args.fractions) if args.mode == "permanent" else None
    runs = _load_runs(args)
    spec = runs[0].spec
    goals, seen = goal_set(spec, args.goals)
    seeds = env_seeds(args.seeds, args.seed)
    stem = "temporary" if args.mode == "temporary" else f"permanent_{args.permanent_kind}"
    out = output_dir(runs[0].run_dir, args.out, "injury", [stem + ".json", stem + ".png"], args.force)
    genomes = [r.genome(args.genome) for r in runs]

    result = {
        "command": "injury", "mode": args.mode, "run_dir": str(runs[0].run_dir), "task": spec.name,
        "kind": runs[0].kind, "compare": str(runs[1].run_dir) if len(runs) > 1 else None, "genome": args.genome,
        "goal_set": args.goals, "goals": goals, "seen": seen, "seeds": seeds, "episode_steps": steps,
    }
    title = f"{spec.name}: " + " vs ".join(_run_label(r) for r in runs)
    if args.mode == "temporary":
        results, damage = run_temporary(runs, genomes, goals, seeds, steps, window, args.smooth, args.hold)
        curves, styles, colors = {}, {}, {}
        for i, res in enumerate(results):
            for j, cond in enumerate(CONDITIONS):
                label = cond if len(results) == 1 else f"{cond}: {res['label']}"
                curves[label] = res["conditions"][cond]["curve"]
                styles[label], colors[label] = ("-", "--", ":")[i % 3], f"C{j}"
        png = injury_curves(out / f"{stem}.png", curves, window, args.smooth, title + " — temporary injury",
                            styles, colors)
        result.update({"window": list(window), "smooth": args.smooth, "hold": args.hold, "pre_steps": PRE_STEPS,
                       "recovery_fraction": RECOVERY_FRACTION})
    else:
        results, damage = run_permanent(runs, genomes, goals, seeds, steps, args.permanent_kind, fractions,
                                        args.damage_seeds)
        what = "hidden neurons lost" if args.permanent_kind == "neurons" else "hidden→output synapses erased per step"
        png = return_vs_fraction(out / f"{stem}.png", fractions,
                                 {r["label"]: (_nan(r["mean"]), _nan(r["std"])) for r in results},
                                 xlabel=f"fraction of {what}", title=title + " — permanent injury")
        result.update({"permanent_kind": args.permanent_kind, "fractions": fractions,
                       "damage_seeds": list(range(args.damage_seeds))})
    result.update({"damage": damage, "runs": results, "png": str(png), "json": str(out / f"{stem}.json")})
    write_json(out / f"{stem}.json", result)
    if args.json:
        print(json.dumps(clean(result)))
    else:
        _print_summary(result)
    return 0


def _nan(values: list) -> list:
    return [np.nan if v is None else v for v in values]


def _print_summary(result: dict) -> None:
    print(f"{result['task']}: {result['mode']} injury, {len(result['goals'])} goals × {len(result['seeds'])} seeds,"
          f" {result['episode_steps']} steps")
    for res in result["runs"]:
        print(f"  {res['label']}")
        if result["mode"] == "temporary":
            for cond, m in res["conditions"].items():
                rec = "never" if m["recovery_steps"] is None else f"{m['recovery_steps']} steps"
                ret = "n/a" if m["return_mean"] is None else f"{m['return_mean']:.1f} ± {m['return_std']:.1f}"
                print(f"    {cond:9s} pre {m['pre']:8.3f}  min {m['min']:8.3f}  recovery {rec:>11s}  return {ret}")
        else:
            for p in res["points"]:
                shown = "n/a" if p["mean"] is None else f"{p['mean']:.1f} ± {p['std']:.1f}"
                print(f"    fraction {p['fraction']:4.2f}  return {shown}")
    print(f"  wrote {result['json']} and {result['png']}")
