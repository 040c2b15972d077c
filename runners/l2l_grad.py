"""``pdlf l2l-grad``: learning to learn with a gradient inner loop (`pdlf.l2l_gradient`, IP²-RSNN's method).

    pdlf l2l-grad --family gng_dr4 --problems 1000 --trial-limit 2000 --seeds 0 1 2 --mask tau_d --lr 0.3 --out DIR
    pdlf l2l-grad --family gng_dr4 --grid --out DIR          # pick the mask and lr on a short sequence first

The agents' spiking network (``--config``'s agent section, default IP²-RSNN's: 32 recurrent
two-compartment neurons, membrane readout) learns each problem of the family trial by trial by
one gradient step per trial until 90 % correct over 20 trials (``--threshold``, ``--window``) or
the trial limit (a failure); weights and the intrinsic properties in ``--mask`` (of tau_d, tau_s,
theta; ``none`` = weights only, ``all``) carry over from problem to problem. ``--seeds`` are
independent sequences, run batched. ``--grid`` first runs all 8 masks × ``--grid-lrs`` on
``--grid-problems`` problems (seeds ``--grid-seeds``, limit ``--grid-trial-limit``) and uses the
best (fewest mean trials) for the main run, replacing ``--mask``/``--lr``.

Output (``--out``): ``l2l_grad.json`` (per seed: trials to criterion per problem, failures, mean
trials on problems 1–10, 101–200, 502–1001, mask, learning rates, wall time; the done-when checks;
with ``--grid``, the grid's ranking), ``l2l_grad.csv``, ``l2l_grad.png`` (beside Goudar et al.'s
published figures) and, with ``--grid``, ``l2l_grad_grid.json``; an output that exists is kept
unless ``--force``. ``--json`` prints the report as one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--family", help="dms, ctx_dms, gng_dr2 or gng_dr4 (default gng_dr4, or --config's env)")
    parser.add_argument("--config", metavar="CFG", help="a pdlf config whose agent section sets the network")
    parser.add_argument("--problems", type=int, default=1000, help="problems in a row (default 1000)")
    parser.add_argument("--trial-limit", type=int, default=2000, help="trials per problem before a failure (default 2000)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="independent sequences (default 0 1 2)")
    parser.add_argument("--mask", default="tau_d", help="intrinsic properties that learn: tau_d,tau_s,theta, none or all")
    parser.add_argument("--lr", type=float, default=0.3, help="learning rate of the weights (default 0.3)")
    parser.add_argument("--lr-ip", type=float, help="learning rate of the intrinsic properties (default --lr)")
    parser.add_argument("--optimizer", default="sgd", help="sgd (default) or adam")
    parser.add_argument("--clip", type=float, default=1.0, help="per-sequence gradient norm limit (0 = none; default 1)")
    parser.add_argument("--threshold", type=float, default=0.9, help="fraction correct to reach (default 0.9)")
    parser.add_argument("--window", type=int, default=20, help="trials the fraction is taken over (default 20)")
    parser.add_argument("--grid", action="store_true", help="choose mask and lr by a grid on a short sequence first")
    parser.add_argument("--grid-lrs", type=float, nargs="+", default=[0.1, 0.3, 1.0], help="grid learning rates (default 0.1 0.3 1)")
    parser.add_argument("--grid-problems", type=int, default=100, help="problems of the grid's sequence (default 100)")
    parser.add_argument("--grid-trial-limit", type=int, help="the grid's trial limit (default --trial-limit)")
    parser.add_argument("--grid-seeds", type=int, nargs="+", default=[100], help="the grid's sequences (default 100)")
    parser.add_argument("--out", metavar="DIR", required=True, help="output directory")
    parser.add_argument("--force", action="store_true", help="replace earlier results in the output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")


def run(args: argparse.Namespace) -> int:
    import torch

    from pdlf.l2l_gradient import IP2_AGENT, GradL2LConfig, Row, run_grid, run_sequences
    from pdlf.l2l_gradient_report import GRID_OUTPUT, OUTPUTS, build_report, write_outputs
    from pdlf.outputs import prepare_output_dir

    agent, family = IP2_AGENT, args.family
    if args.config:
        from pdlf.config import load_config

        loaded = load_config(args.config)
        agent, family = loaded.agent, family or loaded.env.name
    cfg = GradL2LConfig(family=family or "gng_dr4", problems=args.problems, trial_limit=args.trial_limit,
                        threshold=args.threshold, window=args.window, agent=agent, optimizer=args.optimizer,
                        clip=args.clip).validate()
    rows = [Row(s, args.mask, args.lr, args.lr_ip) for s in args.seeds]  # bad mask / lr: one line, before any work
    out = prepare_output_dir(Path(args.out), [*OUTPUTS, GRID_OUTPUT], args.force)
    torch.set_num_threads(1)

    def progress(label: str, every: int):
        def report(row: int, problem: int, trials: int | None) -> None:
            if not args.quiet and row == 0 and (problem + 1) % every == 0:
                done = f"{trials} trials" if trials else "failure"
                print(f"{label}: sequence 0 at problem {problem + 1}: {done}", file=sys.stderr, flush=True)
        return report

    grid = None
    if args.grid:
        grid_cfg = GradL2LConfig(**{**cfg.__dict__, "problems": args.grid_problems,
                                    "trial_limit": args.grid_trial_limit or cfg.trial_limit}).validate()
        grid = run_grid(grid_cfg, args.grid_lrs, args.grid_seeds, lr_ip=args.lr_ip, progress=progress("grid", 25))
        (out / GRID_OUTPUT).write_text(json.dumps(grid, indent=1))
        chosen = grid["chosen"]
        rows = [Row(s, chosen["mask"], chosen["lr"], args.lr_ip) for s in args.seeds]
    results = run_sequences(cfg, rows, progress(cfg.family, 50))
    report = build_report(cfg, results, grid)
    write_outputs(report, out)
    if args.json:
        print(json.dumps(report))
    else:
        for s in report["seeds"]:
            m = s["mean_trials"]
            print(f"{cfg.family} seed {s['seed']} ({s['mask']}, lr {s['lr']:g}): mean trials 1-10 {m['1-10']},"
                  f" 101-200 {m['101-200']}; {s['failures']} failures ({s['failures_after_50']} after problem 50),"
                  f" {s['wall_s']:.0f} s")
        d = report["done_when"]
        print(f"done-when {'met' if d['met'] else 'not met'}: ratio {d['ratio_101_200_to_1_10']}, "
              f"failures {d['failure_fraction']:.2%}, {d['failures_after_50']} after problem 50; results in {out}")
    return 0
