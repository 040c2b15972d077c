"""``pdlf eval RUN_DIR``: returns of a run's genomes on training and unseen goals (spec §5).

    pdlf eval runs/halfcheetah_vel__pdlf__s0__...                     # train + unseen, 3 seeds
    pdlf eval RUN_DIR --goals interp72 --seeds 1 --genome center      # PDLF's 72-goal figure set
    pdlf eval RUN_DIR --goals 2.5,5.0,12 --json                       # explicit goals (12: extrapolated)

``--goals`` takes a named set (``train``, ``unseen``, ``all`` = both, ``interp72``, ``extrapolate`` =
4 goals outside the range) or comma-separated goal values (`pdlf.goals`); a goal on the run's training grid counts as seen, and a
goal outside the task's range is evaluated anyway and reported as extrapolated. Each genome runs
every goal with env seeds ``SEED .. SEED + N - 1`` (`pdlf.eval_goals.evaluate_goals`). Reported per
goal: mean and std of the return over seeds; per genome: mean ± std over the seen goals' and the
unseen goals' episodes. Diverged (NaN) episodes are counted and left out of the means.

Output: ``OUT/eval_<goals>.json`` and ``.png`` (``OUT`` defaults to ``RUN_DIR/eval``; an explicit
list is named ``goals_2.5_5_12``). Existing files are never overwritten without ``--force``: the
command fails, naming the directory. ``--json`` prints the same object to stdout.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pdlf.eval_goals import GENOME_CHOICES
from pdlf.runs import DEVICE_HELP


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--goals", default="all", metavar="GOALS",
                        help="train, unseen, all (default: train + unseen), interp72, extrapolate, or comma-separated goal values")
    parser.add_argument("--seeds", type=int, default=3, metavar="N", help="env seeds per goal (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="first env seed (seeds SEED..SEED+N-1)")
    parser.add_argument("--genome", choices=GENOME_CHOICES, default="both", help="which genome(s) to evaluate")
    parser.add_argument("--episode-steps", type=int, default=None, metavar="N",
                        help="episode length (default: the run's env.episode_steps, else the task's)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/eval)")
    parser.add_argument("--force", action="store_true", help="replace earlier results of these goals in the output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--device", metavar="DEV", help=DEVICE_HELP)


def run(args: argparse.Namespace) -> int:
    from pdlf.eval_goals import eval_files, eval_stem, evaluate_goals, write_eval
    from pdlf.evaluation import check_positive, env_seeds
    from pdlf.goals import parse_goals
    from pdlf.outputs import prepare_output_dir, print_result
    from pdlf.runs import load_run

    loaded = load_run(args.run_dir, device=args.device)
    sel = parse_goals(args.goals, loaded.spec, loaded.train_goals())
    seeds = env_seeds(args.seeds, args.seed)
    check_positive(episode_steps=args.episode_steps)
    out = prepare_output_dir(Path(args.out) if args.out else loaded.run_dir / "eval", eval_files(sel), args.force)

    result = evaluate_goals(loaded, sel, seeds, args.genome, args.episode_steps)
    result = write_eval(result, out, eval_stem(sel))
    print_result(result, args.json, _print_summary)
    return 0


def _print_summary(result: dict) -> None:
    print(f"{result['task']} ({result['kind']}), goals {result['goal_set']} × {len(result['seeds'])} seeds,"
          f" {result['episode_steps']} steps")
    for which, s in result["genomes"].items():
        print(f"  {which:6s} seen {_fmt(s['seen_mean'], s['seen_std'])}   "
              f"unseen {_fmt(s['unseen_mean'], s['unseen_std'])}   diverged {s['diverged']}")
    extrapolated = [f"{g:g}" for g, o in zip(result["goals"], result["extrapolated"]) if o]
    if extrapolated:
        low, high = result["goal_range"]
        print(f"  extrapolated (outside the task's range [{low:g}, {high:g}] {result['goal_units']}, counted as"
              f" unseen): {', '.join(extrapolated)}")
    for note in result["notes"]:
        print(f"  note: {note}")
    print(f"  wrote {result['json']} and {result['png']}")


def _fmt(mean: float | None, std: float | None) -> str:
    return "n/a" if mean is None else f"{mean:.1f} ± {std:.1f}"
