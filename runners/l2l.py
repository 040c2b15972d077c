"""``pdlf l2l RUN_DIR``: learning to learn on a task family (`pdlf.l2l`).

    pdlf l2l RUN_DIR --tasks 100                       # 100 tasks of the run's family in a row
    pdlf l2l RUN_DIR --tasks 1000 --sequences 4 --json # 4 independent sequences, one JSON object
    pdlf l2l RUN_SYN_IP --compare RUN_SYN RUN_DIRECT   # conditions in one figure

The run's genome (``--genome``, default the centre) meets ``--tasks`` tasks of its family one
after another, its fast weights and intrinsic state carried across tasks (only activity is reset
between tasks); per task the trials to reach ``--threshold`` over the last ``--window``
trials, or a failure within ``--trials``. ``--json`` prints one object with ``family``, ``tasks``,
``failures``, ``trials_to_threshold`` (per sequence, null = failure), ``mean_trials`` (per task),
``slope`` and, with ``--compare``, the same for each other run under ``compare``. Output
(``--out``, default ``RUN_DIR/l2l``): ``l2l.json`` and ``l2l.png`` (trials to threshold along the
sequence, one line per run); existing files are kept unless ``--force``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from pdlf.runs import DEVICE_HELP

OUTPUTS = ("l2l.json", "l2l.png")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run made by `pdlf train` on dms, ctx_dms, gng_dr2 or gng_dr4")
    parser.add_argument("--tasks", type=int, default=100, help="tasks in a row (default 100)")
    parser.add_argument("--trials", type=int, default=100, help="trial limit per task (default 100)")
    parser.add_argument("--sequences", type=int, default=1, help="independent sequences in parallel (default 1)")
    parser.add_argument("--threshold", type=float, default=0.9, help="fraction correct to reach (default 0.9)")
    parser.add_argument("--window", type=int, default=20, help="trials the fraction is taken over (default 20)")
    parser.add_argument("--genome", choices=("best", "center"), default="center", help="which genome (default center)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the task draws (default 0)")
    parser.add_argument("--compare", nargs="+", metavar="RUN", default=[], help="other runs of the same family")
    parser.add_argument("--out", metavar="DIR", help="output directory (default RUN_DIR/l2l)")
    parser.add_argument("--force", action="store_true", help="replace earlier results in the output directory")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--device", metavar="DEV", help=DEVICE_HELP)


def _summary(result) -> dict:
    return {**dataclasses.asdict(result), "mean_trials": result.mean_trials()}


def run(args: argparse.Namespace) -> int:
    from pdlf.errors import ConfigError
    from pdlf.l2l import evaluate_l2l
    from pdlf.outputs import prepare_output_dir
    from pdlf.plots import new_figure, save_figure
    from pdlf.runs import load_run

    runs = [load_run(d, device=args.device) for d in [args.run_dir, *args.compare]]
    families = {r.cfg.env.name for r in runs}
    if len(families) > 1:
        raise ConfigError(f"--compare: the runs are on different tasks ({', '.join(sorted(families))}); compare runs of one family")
    results = []
    for r in runs:
        results.append(evaluate_l2l(r.cfg, r.genome(args.genome), args.tasks, args.trials, args.sequences,
                                    args.threshold, args.window, args.seed, r.norm))
    out = prepare_output_dir(Path(args.out) if args.out else runs[0].run_dir / "l2l", OUTPUTS, args.force)
    report = {**_summary(results[0]), "run": str(runs[0].run_dir),
              "compare": [{**_summary(res), "run": str(r.run_dir)} for r, res in zip(runs[1:], results[1:])]}
    (out / "l2l.json").write_text(json.dumps(report, indent=1))
    fig, ax = new_figure(figsize=(6.5, 4.2))
    for r, res in zip(runs, results):
        ax.plot(range(1, res.tasks + 1), res.mean_trials(), marker="o" if res.tasks <= 50 else None, ms=3,
                label=f"{r.label}: {res.failures} failures, slope {res.slope:+.2f}")
    ax.axhline(args.trials, color="grey", lw=0.8, ls="--", label="trial limit (failure)")
    ax.set(xlabel="task in the sequence", ylabel=f"trials to {args.threshold:.0%} over {args.window}",
           title=f"learning to learn: {results[0].family}")
    ax.legend(fontsize=8)
    save_figure(fig, out / "l2l.png", dpi=100)
    if args.json:
        print(json.dumps(report))
    else:
        for r, res in zip(runs, results):
            print(f"{r.label}: {res.tasks} tasks, {res.failures} failures, slope {res.slope:+.3f} trials per task")
        print(f"results in {out}")
    return 0
