"""``pdlf sweep CONFIG KEY=V1,V2 ...``: train a config over a grid of overrides and rank the points.

    pdlf sweep configs/halfcheetah_vel.yaml rule.name=pdlf,none es.sigma_init=0.05,0.1 \\
        es.popsize=64 env.episode_steps=200 es.generations=50 --seeds 0 1
    pdlf sweep ... --json          # one JSON object: the grid and one record per point

Each ``KEY=V1,V2,...`` is an axis of the grid, a single value a fixed override (`pdlf.sweep`).
Runs go to ``--root`` (default ``runs/sweep/CONFIG_STEM``) as ``POINT/sSEED`` and are reused when
the sweep is run again (finished runs kept, interrupted ones resumed; a run of another config is
an error unless ``--force``). ``--root`` gets
``sweep.md`` (the table, best final centre fitness first, and the command) and ``sweep.json``,
both rewritten from the runs each time.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML config (see configs/)")
    parser.add_argument("axes", nargs="+", metavar="KEY=V1,V2", help="grid axes and fixed overrides")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="search seeds per point (default 0)")
    parser.add_argument("--root", help="where the runs and the summary go (default runs/sweep/CONFIG_STEM)")
    parser.add_argument("--force", action="store_true", help="replace runs of another config found in --root")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args: argparse.Namespace) -> int:
    from pdlf.sweep import run_sweep, sweep_table

    root = Path(args.root) if args.root else Path("runs") / "sweep" / Path(args.config).stem
    grid, runs = run_sweep(args.config, args.axes, args.seeds, root, args.force,
                           log=lambda line: print(line, file=sys.stderr))
    table = sweep_table(grid, runs)
    command = " ".join(["pdlf", "sweep", *map(shlex.quote, sys.argv[2:])]) if sys.argv[1:2] == ["sweep"] else "pdlf sweep"
    root.mkdir(parents=True, exist_ok=True)
    (root / "sweep.md").write_text("\n".join([f"# Sweep of {args.config}", "", "```bash", command, "```", "",
                                             *table.markdown(), ""]))
    summary = {"config": str(args.config), "grid": dict(grid), "seeds": args.seeds, "points": table.records()}
    (root / "sweep.json").write_text(json.dumps(summary, indent=1) + "\n")
    if args.json:
        print(json.dumps(summary))
    else:
        print("\n".join(table.markdown()))
        print(f"summary in {root / 'sweep.md'}")
    return 0
