"""``pdlf wm``: the working-memory copy task for plastic and direct agents at equal budgets.

    pdlf wm --L 8 --D 16                       train + test each kind at one (L, D)
    pdlf wm --sweep --lengths 8 16 --delays 0 16   accuracy heatmaps over an L × D grid
    pdlf wm --quick --json                     tiny budget, one JSON object on stdout
    pdlf wm --L 8 --D 16 es.popsize=128 ray.workers=2     # any run-config override
    pdlf wm --task assoc --L 8 --D 16          # associative recall (membrane reset on by default)
    pdlf wm --model pdlf-hybrid --json         # PDLF's reference model (or pdlf-gru), one JSON object

Each kind is an ordinary copy-task (or ``--task assoc``) run (`pdlf.wm`, ``configs/copy.yaml``,
``configs/assoc.yaml``) trained by the
`Trainer` into ``OUT/runs/<kind>[_L<L>_D<D>]`` (checkpoints, metrics.csv, TensorBoard), with the
same budget for every kind: popsize × generations × sequences of ``2L + D + 1`` steps. Each trained
centre is tested on the same held-out sequences with and without the membrane reset during the
delay (spec §5). Figures: ``train_curves.png`` and ``membrane_reset.png`` (one (L, D)),
``heatmap_<kind>.png`` (sweep, accuracy without | with the reset). ``result.json`` holds what
``--json`` prints; ``center_<kind>.pt`` (or ``center_<kind>_L<L>_D<D>.pt``) the genomes.

Precedence: ``configs/<task>.yaml``'s values (`pdlf.wm.TASK_CONFIGS`) < ``--config FILE`` (a run
config) < ``--sweep``'s smaller budget < ``--quick`` < flags < ``KEY=VALUE`` overrides.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from pdlf.config import RunConfig
from pdlf.errors import ConfigError
from pdlf.outputs import prepare_output_dir
from pdlf.plots import new_figure, save_figure
from pdlf.wm import HYBRID_GRU, KINDS, TASK_CONFIGS, WMResult, agent_steps, kind_config, recall_accuracy, recall_length, train

SWEEP_BUDGET = ("es.popsize=64", "es.generations=40", "env.repeats=16")
QUICK = ("es.popsize=8", "es.generations=3", "env.repeats=4", "agent.hidden=[8]")
QUICK_GRU = 4
# flag -> dotted config key, for the flags that default to None ("not given")
FLAG_KEYS = {
    "L": "env.params.length", "D": "env.params.delay", "popsize": "es.popsize", "generations": "es.generations",
    "batch": "env.repeats", "sigma": "es.sigma_init", "lr": "es.center_lr", "searcher": "es.searcher",
    "fitness": "env.params.reward", "seed": "es.seed", "rule": "rule.name", "workers": "ray.workers",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", help="dotted run-config overrides, e.g. es.popsize=128")
    parser.add_argument("--L", type=int, default=None, help="bits to memorise (default 8)")
    parser.add_argument("--D", type=int, default=None, help="delay steps (default 16)")
    parser.add_argument("--task", default="copy", help=f"memory task: {' or '.join(TASK_CONFIGS)}")
    parser.add_argument("--kinds", nargs="+", default=["plastic", "direct"], help=f"agent kinds ({', '.join(KINDS)})")
    parser.add_argument("--model", default=None, help="one agent kind alone (same as --kinds MODEL), e.g. pdlf-hybrid")
    parser.add_argument("--per-sequence-weights", action="store_true",
                        help="pdlf-hybrid: one fast-weight set per sequence instead of one per batch (PDLF's)")
    parser.add_argument("--sweep", action="store_true", help="train every (L, D) of --lengths × --delays")
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 16, 32, 64], help="sweep: L values")
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 8, 16, 32], help="sweep: D values")
    parser.add_argument("--quick", action="store_true", help="tiny budget (smoke tests)")
    parser.add_argument("--config", default=None, help="a copy-task run config (default: configs/copy.yaml's values)")
    parser.add_argument("--hidden", type=int, default=None, help="LIF neurons (default 16)")
    parser.add_argument("--no-recurrent", action="store_true", help="drop the hidden→hidden weights")
    parser.add_argument("--rule", default=None, help="plasticity rule of the plastic kinds (default pdlf)")
    parser.add_argument("--gru-hidden", type=int, default=None, help="GRU units of the hybrid kind (default 16)")
    parser.add_argument("--popsize", type=int, default=None, help="genomes per generation (es.popsize)")
    parser.add_argument("--generations", type=int, default=None, help="ES generations (es.generations)")
    parser.add_argument("--batch", type=int, default=None, help="sequences per generation (env.repeats)")
    parser.add_argument("--eval-batch", type=int, default=256, help="held-out test sequences")
    parser.add_argument("--sigma", type=float, default=None, help="initial search std (es.sigma_init)")
    parser.add_argument("--lr", type=float, default=None, help="centre learning rate (es.center_lr)")
    parser.add_argument("--searcher", default=None, help="es.searcher: pgpe, snes, xnes, cem, cmaes, openai_es")
    parser.add_argument("--fitness", default=None, help="reward per recall step: accuracy or margin")
    parser.add_argument("--seed", type=int, default=None, help="master seed (es.seed)")
    parser.add_argument("--workers", type=int, default=None, help="Ray rollout workers (0 = in-process)")
    parser.add_argument("--train-reset", action="store_true", help="membrane reset during training as well")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="output directory (default runs/wm/<timestamp>)")
    parser.add_argument("--force", action="store_true", help="overwrite an output directory that holds results")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def base_data(args: argparse.Namespace) -> dict:
    """The run-config mapping: ``configs/<--task>.yaml``'s values or ``--config``."""
    if not args.config:
        if args.task not in TASK_CONFIGS:
            raise ConfigError(f"--task {args.task!r}: choose {' or '.join(TASK_CONFIGS)}")
        return TASK_CONFIGS[args.task]
    path = Path(args.config)
    if not path.is_file():
        raise ConfigError(f"--config {args.config!r} does not exist: give a copy-task run config (see configs/copy.yaml)")
    from pdlf.config import load_config

    return load_config(path).to_dict()


def overrides_of(args: argparse.Namespace) -> list[str]:
    """Dotted overrides from --sweep, --quick, the flags and the trailing KEY=VALUE arguments."""
    out: list[str] = []
    if args.sweep:
        out += SWEEP_BUDGET
    if args.quick:
        out += QUICK
    for flag, key in FLAG_KEYS.items():
        if getattr(args, flag) is not None:
            out.append(f"{key}={getattr(args, flag)}")
    if args.hidden is not None:
        out.append(f"agent.hidden=[{args.hidden}]")
    if args.no_recurrent:
        out.append("agent.recurrent=false")
    if args.train_reset:
        out.append("env.params.membrane_reset=true")
    if args.json:  # stderr carries the per-kind lines; no progress bars between them
        out.append("log.progress=false")
    return out + list(args.overrides)


def cell_config(args: argparse.Namespace, kind: str, length: int | None = None, delay: int | None = None) -> RunConfig:
    cell = [f"env.params.length={length}"] if length is not None else []
    cell += [f"env.params.delay={delay}"] if delay is not None else []
    gru = args.gru_hidden if args.gru_hidden is not None else (QUICK_GRU if args.quick else HYBRID_GRU)
    shared = False if args.per_sequence_weights else None
    return kind_config(base_data(args), kind, [*overrides_of(args), *cell], gru_hidden=gru, shared_weights=shared)


OUTPUTS = ("result.json", "center_*.pt", "*.png", "runs")  # what `pdlf wm` writes into --out


def output_dir(args: argparse.Namespace) -> Path:
    """``--out`` (or a new timestamped dir), refusing one that holds results unless ``--force``."""
    out = Path(args.out) if args.out else Path("runs") / "wm" / time.strftime("%Y%m%d-%H%M%S")
    return prepare_output_dir(out, OUTPUTS, args.force, advice="or give another --out")


def train_and_test(cfg: RunConfig, run_dir: Path, eval_batch: int) -> tuple[WMResult, dict]:
    """Train one kind at one (L, D); test the centre with and without the membrane reset."""
    result = train(cfg, run_dir, force=True)
    reset = recall_accuracy(cfg, result.center, eval_batch, membrane_reset=True)
    summary = {
        "task": cfg.env.name,
        "generations": cfg.es.generations,
        "train_curve": [round(a, 4) for a in result.train_curve],
        "population_accuracy": [round(a, 4) for a in result.population_accuracy],
        "accuracy": recall_accuracy(cfg, result.center, eval_batch),
        "accuracy_reset": reset,
        "accuracy_membrane_reset": reset,
        "genome_size": int(result.center.numel()),
        "seconds_per_generation": round(result.seconds_per_generation, 4),
        "run_dir": str(run_dir),
    }
    return result, summary


def budget(cfg: RunConfig) -> dict:
    return {"popsize": cfg.es.popsize, "generations": cfg.es.generations, "batch": cfg.env.repeats,
            "agent_steps": agent_steps(cfg)}


# ------------------------------------------------------------------------------------ figures
def plot_curves(kinds: dict, title: str, path: Path) -> None:
    fig, ax = new_figure(figsize=(6, 4))
    for kind, s in kinds.items():
        ax.plot(range(1, len(s["train_curve"]) + 1), s["train_curve"], label=kind)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="chance")
    ax.set(xlabel="generation", ylabel="centre recall accuracy (validation)", ylim=(0, 1.02), title=title)
    ax.legend()
    save_figure(fig, path, dpi=100)


def plot_membrane_reset(kinds: dict, title: str, path: Path) -> None:
    fig, ax = new_figure(figsize=(5, 4))
    names = list(kinds)
    xs = range(len(names))
    width = 0.38
    normal = [kinds[k]["accuracy"] for k in names]
    reset = [kinds[k]["accuracy_membrane_reset"] for k in names]
    ax.bar([x - width / 2 for x in xs], normal, width, label="intact")
    ax.bar([x + width / 2 for x in xs], reset, width, label="membrane reset in delay")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(list(xs), names)
    ax.set(ylabel="test recall accuracy", ylim=(0, 1.05), title=title)
    ax.legend(loc="lower right")
    save_figure(fig, path, dpi=100)


def plot_heatmap(kind: str, grid: dict, lengths: list[int], delays: list[int], path: Path) -> None:
    fig, axes = new_figure(1, 2, figsize=(9, 4), layout="constrained", squeeze=False)
    for ax, key, label in zip(axes[0], ("accuracy", "accuracy_membrane_reset"), ("intact", "membrane reset")):
        im = ax.imshow(grid[key], vmin=0.5, vmax=1.0, cmap="viridis", origin="lower")
        for i in range(len(lengths)):
            for j in range(len(delays)):
                ax.text(j, i, f"{grid[key][i][j]:.2f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(delays)), delays)
        ax.set_yticks(range(len(lengths)), lengths)
        ax.set(xlabel="delay D", ylabel="length L", title=f"{kind}: {label}")
    fig.colorbar(im, ax=axes[0].tolist(), label="test recall accuracy")
    save_figure(fig, path, dpi=100)


# ------------------------------------------------------------------------------------- modes
def run_single(args: argparse.Namespace, kinds: list[str], out: Path, log) -> dict:
    summaries: dict = {}
    for kind in kinds:
        cfg = cell_config(args, kind)
        result, summaries[kind] = train_and_test(cfg, out / "runs" / kind, args.eval_batch)
        summaries[kind] = {"model": kind, **summaries[kind]}
        torch.save(result.center, out / f"center_{kind}.pt")
        log(f"{kind:8s} L={cfg.env.params['length']} D={cfg.env.params['delay']}: accuracy {summaries[kind]['accuracy']:.3f}, "
            f"with membrane reset {summaries[kind]['accuracy_membrane_reset']:.3f} "
            f"({summaries[kind]['seconds_per_generation']:.3f} s/generation)")
    cfg = cell_config(args, kinds[0])
    length, delay = recall_length(cfg), int(cfg.env.params["delay"])
    reset = " (membrane reset in training)" if cfg.env.params.get("membrane_reset") else ""
    title = f"{cfg.env.name} task L={length} D={delay}{reset}"
    pngs = [out / "train_curves.png", out / "membrane_reset.png"]
    plot_curves(summaries, title, pngs[0])
    plot_membrane_reset(summaries, title, pngs[1])
    report = {"mode": "single", "task": cfg.env.name, "L": length, "D": delay, "budget": budget(cfg), "kinds": summaries,
              "pngs": [str(p) for p in pngs], "config": cfg.to_dict()}
    if len(kinds) == 1:  # one model: its numbers at the top level too
        report.update({k: v for k, v in summaries[kinds[0]].items() if k not in ("train_curve", "population_accuracy")})
    return report


def run_sweep(args: argparse.Namespace, kinds: list[str], lengths: list[int], delays: list[int], out: Path, log) -> dict:
    grid: dict = {}
    pngs = []
    for kind in kinds:
        cells = {key: [[0.0] * len(delays) for _ in lengths] for key in
                 ("accuracy", "accuracy_membrane_reset", "seconds_per_generation")}
        for i, length in enumerate(lengths):
            for j, delay in enumerate(delays):
                cfg = cell_config(args, kind, length, delay)
                result, s = train_and_test(cfg, out / "runs" / f"{kind}_L{length}_D{delay}", args.eval_batch)
                torch.save(result.center, out / f"center_{kind}_L{length}_D{delay}.pt")
                for key in cells:
                    cells[key][i][j] = s[key]
                log(f"{kind:8s} L={length:3d} D={delay:3d}: accuracy {s['accuracy']:.3f}, "
                    f"with membrane reset {s['accuracy_membrane_reset']:.3f}")
        grid[kind] = cells
        path = out / f"heatmap_{kind}.png"
        plot_heatmap(kind, cells, lengths, delays, path)
        pngs.append(str(path))
    cfg = cell_config(args, kinds[0])
    return {"mode": "sweep", "task": cfg.env.name, "L": lengths, "D": delays, "budget": budget(cfg), "grid": grid,
            "pngs": pngs,
            "config": cfg.to_dict()}


def run(args: argparse.Namespace) -> int:
    if args.model is not None:
        args.kinds = [args.model]
    for flag in ("lengths", "delays"):
        if not getattr(args, flag):
            raise ConfigError(f"--{flag}: give at least one value")
    for kind in args.kinds:  # validate every cell before spending any time
        cell_config(args, kind)
        if args.sweep:
            for length in args.lengths:
                for delay in args.delays:
                    cell_config(args, kind, length, delay)
    if args.eval_batch < 1:
        raise ConfigError(f"--eval-batch={args.eval_batch}: must be >= 1")
    if args.threads < 1:
        raise ConfigError(f"--threads={args.threads}: must be >= 1")
    torch.set_num_threads(args.threads)
    out = output_dir(args)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    if args.sweep:
        report = run_sweep(args, list(args.kinds), list(args.lengths), list(args.delays), out, log)
    else:
        report = run_single(args, list(args.kinds), out, log)
    report["out"] = str(out)
    (out / "result.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
    else:
        print(f"results in {out}")
    return 0
