"""``pdlf injury RUN_DIR``: temporary and permanent injury of a run's agent (spec §5).

    pdlf injury RUN_DIR --mode temporary                          # steps 501-549, 1000-step episodes
    pdlf injury RUN_PLASTIC --mode temporary --compare RUN_DIRECT # both runs, identical damage
    pdlf injury RUN_DIR --mode permanent --fractions 0,0.25,0.5 --permanent-kind synapses --json

Temporary: intact, erasure (every fast weight set to 0 after each step of the window) and
silencing (no transmission, no plasticity during the window); reported per condition: the
pre-injury reward per step, the minimum and the steps to regain 90 % of the drop. Permanent:
return against the fraction of hidden neurons lost (or hidden→output synapses erased every step).
Steps are 1-based, as in every rollout hook; ``--window START STOP`` is inclusive. The protocols
and every reported number are defined in `pdlf.injury`. ``--goals`` takes a goal set (``train``,
``unseen``, ``all``, ``interp72``, ``extrapolate``) or comma-separated goal values (`pdlf.goals`).

Output: ``OUT/temporary.{json,png}`` or ``OUT/permanent_<kind>.{json,png}``, ``OUT`` defaulting to
``RUN_DIR/injury`` (of the first run). Existing files are never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pdlf.injury import DEFAULT_FRACTIONS, DEFAULT_WINDOW, MODES, PERMANENT_KINDS
from pdlf.runs import DEVICE_HELP


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--mode", choices=MODES, required=True, help="which protocol")
    parser.add_argument("--window", type=int, nargs=2, default=DEFAULT_WINDOW, metavar=("START", "STOP"),
                        help="temporary: damaged steps, 1-based, inclusive (default 501 549)")
    parser.add_argument("--fractions", default=",".join(f"{f:g}" for f in DEFAULT_FRACTIONS),
                        help="permanent: comma-separated damaged fractions (default 0,0.05,...,0.95)")
    parser.add_argument("--permanent-kind", choices=PERMANENT_KINDS, default="neurons",
                        help="permanent: hidden neurons lost from the start, or hidden→output synapses erased every step")
    parser.add_argument("--damage-seeds", type=int, default=1, metavar="N",
                        help="permanent: damage draws 0..N-1 per fraction (default 1)")
    parser.add_argument("--goals", default="train", metavar="GOALS",
                        help="train (default), unseen, all, interp72, extrapolate, or comma-separated goal values")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="env seeds per goal (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="first env seed (seeds SEED..SEED+N-1)")
    parser.add_argument("--genome", choices=("best", "center"), default="center", help="which genome (default center)")
    parser.add_argument("--episode-steps", type=int, default=1000, metavar="N", help="episode length (default 1000)")
    parser.add_argument("--smooth", type=int, default=20, metavar="N", help="temporary: moving-average width (default 20)")
    parser.add_argument("--hold", type=int, default=20, metavar="N",
                        help="temporary: steps the smoothed curve must stay at the recovery level (default 20)")
    parser.add_argument("--compare", metavar="RUN_B", help="a second run (same task) given identical damage")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/injury)")
    parser.add_argument("--force", action="store_true", help="replace earlier results of this mode in the output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--device", metavar="DEV", help=DEVICE_HELP)


def run(args: argparse.Namespace) -> int:
    from pdlf import injury
    from pdlf.evaluation import check_positive, env_seeds
    from pdlf.goals import parse_goals
    from pdlf.outputs import prepare_output_dir, print_result

    # every argument is checked before anything is written
    check_positive(episode_steps=args.episode_steps, smooth=args.smooth, hold=args.hold,
                   damage_seeds=args.damage_seeds)
    steps = int(args.episode_steps)
    window = injury.check_window(args.window, steps) if args.mode == "temporary" else None
    fractions = injury.parse_fractions(args.fractions) if args.mode == "permanent" else None
    runs = injury.load_runs(args.run_dir, args.compare, device=args.device)
    sel = parse_goals(args.goals, runs[0].spec, runs[0].train_goals())
    seeds = env_seeds(args.seeds, args.seed)
    out = prepare_output_dir(Path(args.out) if args.out else runs[0].run_dir / "injury",
                             injury.injury_files(args.mode, args.permanent_kind), args.force)

    if args.mode == "temporary":
        result = injury.temporary_injury(runs, sel, seeds, steps, window, args.smooth, args.hold, args.genome)
    else:
        result = injury.permanent_injury(runs, sel, seeds, steps, args.permanent_kind, fractions,
                                         args.damage_seeds, args.genome)
    result = injury.write_injury(result, out, injury.injury_stem(args.mode, args.permanent_kind))
    print_result(result, args.json, _print_summary)
    return 0


def _print_summary(result: dict) -> None:
    print(f"{result['task']}: {result['mode']} injury, {len(result['goals'])} goals × {len(result['seeds'])} seeds,"
          f" {result['episode_steps']} steps")
    for res in result["runs"]:
        print(f"  {res['label']}")
        if result["mode"] == "temporary":
            for cond, m in res["conditions"].items():
                rec = "never" if m["recovery_steps"] is None else f"{m['recovery_steps']} steps"
                ret = "n/a" if m["return_mean"] is None else f"{m['return_mean']:.1f} ± {m['return_std']:.1f}"
                low = f"min {m['min']:8.3f} at step {m['min_step']}"
                print(f"    {cond:9s} pre {m['pre']:8.3f}  {low}  recovery {rec:>11s}  return {ret}")
        else:
            for p in res["points"]:
                shown = "n/a" if p["mean"] is None else f"{p['mean']:.1f} ± {p['std']:.1f}"
                print(f"    fraction {p['fraction']:4.2f}  return {shown}")
    print(f"  wrote {result['json']} and {result['png']}")
