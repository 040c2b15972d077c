"""``pdlf analyze RUN_DIR``: what a trained agent's network does during an episode (spec §5).

    pdlf analyze runs/halfcheetah_vel__pdlf__s0__...                 # -> RUN_DIR/analysis/
    pdlf analyze RUN_DIR --goals unseen --seeds 2 --every 50 --json
    pdlf analyze RUN_DIR --goals 2.5,5,12 --out /tmp/a --force --tensorboard   # also OUT/tb images

One batch of episodes (goals × env seeds ``0..S-1``) runs with recording hooks; `pdlf.analysis`
turns the records into ``weights.png`` (fast weights after a few steps), ``firing_rates.png``
(hidden firing rate per phase and goal), ``pca.png`` (hidden traces on two principal components),
``stdp.png`` (plastic runs: the rule's effective STDP window) and ``analysis.json`` (the numbers,
what ``--json`` prints). Steps are 1-based, as in every rollout hook. ``--goals`` takes a goal
set (``train``, ``unseen``, ``all``, ``interp72``) or comma-separated goal values (`pdlf.goals`).
Earlier results in OUT are never overwritten without ``--force``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pdlf.runs import DEVICE_HELP


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a directory made by `pdlf train`")
    parser.add_argument("--genome", choices=("best", "center"), default="center",
                        help="the distribution's centre (default: what training reports) or the best member")
    parser.add_argument("--goals", default="train", metavar="GOALS",
                        help="train (the run's training goals), unseen, all, interp72, or comma-separated goal values")
    parser.add_argument("--seeds", type=int, default=1, help="env seeds per goal (0..N-1)")
    parser.add_argument("--episode-steps", type=int, default=1000, help="steps per episode")
    parser.add_argument("--every", type=int, default=100, help="fast-weight snapshot period in steps")
    parser.add_argument("--phases", type=int, default=4, help="equal phases of the episode for firing rates")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/analysis)")
    parser.add_argument("--force", action="store_true", help="replace earlier analysis results in the output directory")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON object")
    parser.add_argument("--device", metavar="DEV", help=DEVICE_HELP)
    parser.add_argument("--tensorboard", action="store_true",
                        help="also write the figures as TensorBoard images under OUT/tb")


def run(args: argparse.Namespace) -> int:
    from pdlf.analysis import ANALYSIS_FILES, analyze_run, check_analysis_args, write_analysis
    from pdlf.evaluation import env_seeds
    from pdlf.goals import parse_goals
    from pdlf.outputs import prepare_output_dir, print_result
    from pdlf.runs import load_run

    check_analysis_args(args.seeds, args.episode_steps, args.every, args.phases)
    loaded = load_run(args.run_dir, device=args.device)
    sel = parse_goals(args.goals, loaded.spec, loaded.train_goals())
    seeds = env_seeds(args.seeds)
    out = prepare_output_dir(Path(args.out) if args.out else loaded.run_dir / "analysis", ANALYSIS_FILES, args.force)

    analysis = analyze_run(loaded, sel, seeds, args.genome, args.episode_steps, args.every, args.phases)
    result = write_analysis(analysis, out, args.tensorboard)
    print_result(result, args.json, _print_summary)
    return 0


def _print_summary(result: dict) -> None:
    print(f"analysis of {result['run_dir']} ({result['kind']}, {result['genome']} genome) in {result['out']}")
    for key, path in result["pngs"].items():
        print(f"  {key:8s} {path or '(skipped: ' + str(result['stdp']['skipped']) + ')'}")
    ratio = result["pca_explained_variance"]
    print(f"  PCA explained variance {ratio[0]:.3f}, {ratio[1]:.3f}")
    print(f"  weights recorded after steps {', '.join(map(str, result['weight_snapshot_steps']))}")
