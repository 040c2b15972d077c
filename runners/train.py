"""``pdlf train CONFIG [key=value ...]``: evolve plasticity rules (or direct weights) on a task.

    pdlf train configs/smoke.yaml                    # a small real run on the local Ray
    pdlf train configs/halfcheetah_vel.yaml es.popsize=128 ray.workers=8
    pdlf train configs/ant_dir.yaml --ray-address HEAD_IP:6379 --workers 32   # join a running Ray cluster
    pdlf train --resume runs/NAME [es.generations=200]         # continue from the last checkpoint

Ctrl-C (or SIGTERM, e.g. a scheduler's pre-emption) finishes the current generation, writes the
checkpoint, shuts the workers down and prints the `--resume` command; a second Ctrl-C abandons
the generation instead. The exit status is then 128 + the signal's number (130, 143).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from pdlf.config import load_config
from pdlf.errors import ConfigError
from pdlf.interrupts import exit_code


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config (see configs/)")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. es.popsize=32 ray.workers=0")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    parser.add_argument("--run-dir", metavar="DIR", help="where to write the run (default log.root/log.name)")
    parser.add_argument("--force", action="store_true", help="overwrite a run directory that already has results")
    parser.add_argument("--ray-address", metavar="ADDR", help="join the Ray cluster at ADDR (same as ray.address=ADDR)")
    parser.add_argument("--workers", type=int, metavar="N", help="Ray rollout workers, 0 = in-process (ray.workers=N)")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")


def run(args: argparse.Namespace) -> int:
    import evotorch  # noqa: F401  (sets up its own logging on import: before basicConfig, no warning)

    from pdlf.es.trainer import Trainer

    logging.basicConfig(level=logging.WARNING, format="pdlf: %(message)s")
    if args.ray_address:
        args.overrides.append(f"ray.address={args.ray_address}")
    if args.workers is not None:
        args.overrides.append(f"ray.workers={args.workers}")
    if args.resume:
        overrides = ([args.config] if args.config else []) + list(args.overrides)
        trainer = Trainer.resume(Path(args.resume), overrides)
    else:
        if not args.config:
            raise ConfigError("give a config file (e.g. configs/smoke.yaml) or --resume RUN_DIR")
        cfg = load_config(args.config, args.overrides)
        trainer = Trainer.create(cfg, Path(args.run_dir) if args.run_dir else None, force=args.force)
    summary = trainer.run()
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"run: {summary['run_dir']}")
        print(f"generations {summary['generations']}, env steps {summary['env_steps']}, "
              f"{summary['env_steps_per_s']:.0f} steps/s, best fitness {summary['best_fitness']:.2f}, "
              f"centre {summary['center_fitness']}")
    if summary["interrupted"]:
        print(f"pdlf: stopped by {summary['interrupted']} after generation {summary['generations']}; "
              f"checkpoint written. Continue with:\n  {summary['resume']}", file=sys.stderr)
    return exit_code(summary["interrupted"])
