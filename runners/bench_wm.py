"""``pdlf bench wm``: seconds per ES generation of each working-memory model, measured in one run.

    pdlf bench wm --json                               copy task, L = 8, D = 16, popsize 256
    pdlf bench wm --task assoc --models plastic direct pdlf-gru

Every model is its ordinary run config (`pdlf.wm.kind_config` on ``configs/<task>.yaml``'s values,
so popsize 256 and that task's sequences per generation), timed over ``--generations`` generations
after one warm-up (`pdlf.benchmarks.time_generations`). Prints per model the seconds per
generation, generations per second, seconds per genome evaluation (all of a member's sequences)
and agent-steps per second, and ``ratio_to_gru``: the model's time per generation over
``pdlf-gru``'s (below 1 = faster than PDLF's GRU baseline). Speed targets are checked against
these ratios, never in timed tests.
"""

from __future__ import annotations

import argparse

import torch

from pdlf.wm import KINDS, TASK_CONFIGS

DEFAULT_MODELS = ("plastic", "direct", "pdlf-hybrid", "pdlf-gru")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--task", default="copy", help=f"memory task: {' or '.join(TASK_CONFIGS)}")
    parser.add_argument("--models", nargs="+", default=list(DEFAULT_MODELS), help=f"models ({', '.join(KINDS)})")
    parser.add_argument("--L", type=int, default=8, help="bits to memorise")
    parser.add_argument("--D", type=int, default=16, help="delay steps")
    parser.add_argument("--popsize", type=int, default=256, help="genomes per generation")
    parser.add_argument("--generations", type=int, default=2, help="timed generations per model")
    parser.add_argument("--workers", type=int, default=0, help="Ray rollout workers (0 = in-process)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from pdlf.benchmarks import time_generations
    from pdlf.errors import ConfigError
    from pdlf.outputs import print_result
    from pdlf.wm import agent_steps, kind_config

    if args.task not in TASK_CONFIGS:
        raise ConfigError(f"--task {args.task!r}: choose {' or '.join(TASK_CONFIGS)}")
    if args.generations < 1:
        raise ConfigError(f"--generations={args.generations}: must be >= 1")
    overrides = [f"env.params.length={args.L}", f"env.params.delay={args.D}", f"es.popsize={args.popsize}",
                 f"ray.workers={args.workers}", "log.progress=false", "checkpoint.every=100000"]
    configs = {m: kind_config(TASK_CONFIGS[args.task], m, overrides) for m in args.models}  # all checked first
    torch.set_num_threads(args.threads)
    models = {}
    for model, cfg in configs.items():
        seconds = time_generations(cfg, args.generations)
        steps = agent_steps(cfg) / cfg.es.generations  # agent-steps per generation (centre not counted)
        models[model] = {
            "seconds_per_generation": round(seconds, 4),
            "generations_per_second": round(1.0 / seconds, 3),
            "seconds_per_genome_evaluation": round(seconds / cfg.es.popsize, 6),
            "agent_steps_per_second": round(steps / seconds),
            "sequences_per_generation": cfg.env.repeats * len(cfg.env.goals),
            "weight_sharing": cfg.agent.weight_sharing,
        }
    gru = models.get("pdlf-gru")
    for entry in models.values():
        entry["ratio_to_gru"] = round(entry["seconds_per_generation"] / gru["seconds_per_generation"], 3) if gru else None
    result = {"benchmark": "wm", "task": args.task, "L": args.L, "D": args.D, "popsize": args.popsize,
              "workers": args.workers, "threads": args.threads, "generations_timed": args.generations,
              "torch": torch.__version__, "models": models}
    print_result(result, args.json)
    return 0
