"""The `pdlf` command line: a thin dispatcher to the runner modules.

Each command lives in a module of `pdlf.runners` that defines
`configure(parser: argparse.ArgumentParser) -> None` and `run(args: argparse.Namespace) -> int`.
Runner modules keep their heavy imports (Ray, MuJoCo, evotorch) inside `run`.
A `PdlfError` (bad input) is printed as one line and exits with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import sys

from pdlf.errors import PdlfError
from pdlf.interrupts import StoppedBySignal, exit_code

# command -> (runner module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("pdlf.runners.train", "evolve plasticity rules (or direct weights) on a task"),
    "envs": ("pdlf.runners.list_envs", "list the tasks with their dims, goal ranges and ids"),
    "eval": ("pdlf.runners.evaluate", "returns of a run's genomes on training and unseen goals"),
    "injury": ("pdlf.runners.injury", "temporary and permanent injury tests of a run"),
    "wm": ("pdlf.runners.working_memory", "working-memory copy task: train, sweep, membrane reset"),
    "analyze": ("pdlf.runners.analysis", "weights, firing rates and hidden-state embeddings of a run"),
    "l2l": ("pdlf.runners.l2l", "learning to learn: a run meets a sequence of tasks of its family"),
    "l2l-grad": ("pdlf.runners.l2l_grad", "learning to learn with a gradient inner loop (IP²-RSNN's method)"),
    "sweep": ("pdlf.runners.sweep", "train a config over a grid of overrides and rank the settings"),
    "report": ("pdlf.runners.report", "the science report: plastic vs direct at equal env-step budgets"),
    "render": ("pdlf.runners.render", "an MP4/GIF video of a run's agent, headless"),
}

# `pdlf bench NAME`: benchmark -> (runner module, one-line help)
BENCHMARKS: dict[str, tuple[str, str]] = {
    "agent": ("pdlf.runners.bench_agent", "agent cost per agent-step against MuJoCo physics"),
    "envs": ("pdlf.runners.bench_envs", "batched env stepping against gymnasium and raw physics"),
    "train": ("pdlf.runners.bench_train", "the whole training pipeline against evotorch GymNE"),
    "wm": ("pdlf.runners.bench_wm", "seconds per ES generation of each working-memory model"),
}


def _module_exists(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def _add_commands(sub, table: dict[str, tuple[str, str]]) -> None:
    for name, (module, help_text) in table.items():
        if not _module_exists(module):
            continue
        p = sub.add_parser(name, help=help_text, description=help_text)
        importlib.import_module(module).configure(p)
        p.set_defaults(_runner=module)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pdlf", description="Evolve the plasticity rules of spiking-network agents (PDLF) on MuJoCo tasks."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_commands(sub, COMMANDS)
    bench = sub.add_parser("bench", help="throughput benchmarks printing JSON")
    _add_commands(bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK"), BENCHMARKS)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # `key=value` overrides may follow options (pdlf train CFG --force es.popsize=8)
    if extra and hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = list(args.overrides) + extra
    elif extra:
        parser.error("unrecognized arguments: " + " ".join(extra))
    logging.getLogger("evotorch").setLevel(logging.WARNING)  # its INFO lines go to stdout
    try:
        return int(importlib.import_module(args._runner).run(args) or 0)
    except PdlfError as err:
        print(f"pdlf: error: {err}", file=sys.stderr)
        return 2
    except StoppedBySignal as stop:
        print(f"pdlf: {stop}", file=sys.stderr)
        return exit_code(stop.signal_name)


if __name__ == "__main__":
    sys.exit(main())
