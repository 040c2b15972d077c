"""``pdlf wm``: the working-memory copy task for plastic and direct agents at equal budgets.

    pdlf wm --L 8 --D 16                       train + test each kind at one (L, D)
    pdlf wm --sweep --lengths 8 16 --delays 0 16   accuracy heatmaps over an L × D grid
    pdlf wm --quick --json                     tiny budget, one JSON object on stdout

Every kind gets the same budget: popsize × generations × batch sequences of ``2L + D + 1`` steps.
Each trained centre is tested on the same held-out sequences with and without the membrane
reset during the delay (spec §5). Figures: ``train_curves.png`` and ``membrane_reset.png`` (one
(L, D)), ``heatmap_<kind>.png`` (sweep, accuracy without | with the reset). ``result.json`` holds
what ``--json`` prints; ``center_<kind>.pt`` (or ``center_<kind>_L<L>_D<D>.pt``) the genomes.

Budget precedence: `pdlf.wm.WMConfig` defaults < ``--sweep``'s smaller budget < ``--quick`` <
``--config FILE.yaml`` (WMConfig fields) < explicit flags.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import yaml

from pdlf.errors import ConfigError, RunDirError
from pdlf.wm import KINDS, WMConfig, WMResult, evaluate, train_wm, wm_config_from_dict

SWEEP_BUDGET = {"popsize": 64, "generations": 40, "batch": 16, "eval_batch": 128}
QUICK = {"popsize": 8, "generations": 3, "batch": 4, "eval_batch": 16, "hidden": 8, "gru_hidden": 4}
# flag -> WMConfig field, for the flags that default to None ("not given")
FIELD_FLAGS = {
    "L": "length", "D": "delay", "hidden": "hidden", "rule": "rule", "gru_hidden": "gru_hidden", "popsize": "popsize",
    "generations": "generations", "batch": "batch", "eval_batch": "eval_batch", "sigma": "sigma", "lr": "lr",
    "searcher": "searcher", "fitness": "fitness", "seed": "seed",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--L", type=int, default=None, help="bits to memorise (default 8)")
    parser.add_argument("--D", type=int, default=None, help="delay steps (default 16)")
    parser.add_argument("--kinds", nargs="+", default=["plastic", "direct"], help=f"agent kinds ({', '.join(KINDS)})")
    parser.add_argument("--sweep", action="store_true", help="train every (L, D) of --lengths × --delays")
    parser.add_argument("--lengths", type=int, nargs="+", default=[8, 16, 32, 64], help="sweep: L values")
    parser.add_argument("--delays", type=int, nargs="+", default=[0, 8, 16, 32], help="sweep: D values")
    parser.add_argument("--quick", action="store_true", help="tiny budget (smoke tests)")
    parser.add_argument("--config", default=None, help="YAML file of WMConfig fields")
    parser.add_argument("--hidden", type=int, default=None, help="LIF neurons (default 16)")
    parser.add_argument("--no-recurrent", action="store_true", help="drop the hidden→hidden weights")
    parser.add_argument("--rule", default=None, help="plasticity rule of the plastic kinds (default pdlf)")
    parser.add_argument("--gru-hidden", type=int, default=None, help="GRU units of the hybrid kind")
    parser.add_argument("--popsize", type=int, default=None, help="genomes per generation")
    parser.add_argument("--generations", type=int, default=None, help="ES generations")
    parser.add_argument("--batch", type=int, default=None, help="sequences per generation")
    parser.add_argument("--eval-batch", type=int, default=None, help="validation and test sequences")
    parser.add_argument("--sigma", type=float, default=None, help="initial search std")
    parser.add_argument("--lr", type=float, default=None, help="centre learning rate")
    parser.add_argument("--searcher", default=None, help="pgpe, snes, xnes, cem or cmaes")
    parser.add_argument("--fitness", default=None, help="margin (smooth) or accuracy")
    parser.add_argument("--seed", type=int, default=None, help="master seed")
    parser.add_argument("--train-reset", action="store_true", help="membrane reset during training as well")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--out", default=None, help="output directory (default runs/wm/<timestamp>)")
    parser.add_argument("--force", action="store_true", help="overwrite an output directory that holds results")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def base_config(args: argparse.Namespace) -> WMConfig:
    """The run's `WMConfig` (kind left at its default) from presets, --config and flags."""
    data: dict = {}
    if args.sweep:
        data.update(SWEEP_BUDGET)
    if args.quick:
        data.update(QUICK)
    if args.config:
        path = Path(args.config)
        if not path.is_file():
            raise ConfigError(f"--config {args.config!r} does not exist: give a YAML file of WMConfig fields")
        loaded = yaml.safe_load(path.read_text()) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"--config {args.config}: expected a mapping of WMConfig fields")
        data.update(loaded)
    for flag, name in FIELD_FLAGS.items():
        if getattr(args, flag) is not None:
            data[name] = getattr(args, flag)
    if args.no_recurrent:
        data["recurrent"] = False
    if args.train_reset:
        data["train_reset"] = True
    data.pop("kind", None)
    return wm_config_from_dict(data)


def output_dir(args: argparse.Namespace) -> Path:
    """``--out`` (or a new timestamped dir), refusing one that holds results unless ``--force``."""
    out = Path(args.out) if args.out else Path("runs") / "wm" / time.strftime("%Y%m%d-%H%M%S")
    if out.exists() and not out.is_dir():
        raise RunDirError(f"--out {out} is a file: pick a new --out directory")
    if out.is_dir() and any(out.iterdir()) and not args.force:
        raise RunDirError(f"--out {out} already holds results: pass --force to overwrite them or pick a new --out")
    out.mkdir(parents=True, exist_ok=True)
    return out


def train_and_test(cfg: WMConfig) -> tuple[WMResult, dict]:
    """Train one kind at one (L, D); test the centre with and without the membrane reset."""
    result = train_wm(cfg)
    summary = {
        "train_curve": [round(a, 4) for a in result.train_curve],
        "population_accuracy": [round(a, 4) for a in result.population_accuracy],
        "accuracy": evaluate(cfg, result.center),
        "accuracy_membrane_reset": evaluate(cfg, result.center, membrane_reset=True),
        "genome_size": int(result.center.numel()),
        "seconds_per_generation": round(result.seconds_per_generation, 4),
    }
    return result, summary


def budget(cfg: WMConfig) -> dict:
    steps = cfg.task.steps
    return {"popsize": cfg.popsize, "generations": cfg.generations, "batch": cfg.batch, "episode_steps": steps,
            "agent_steps": cfg.popsize * cfg.generations * cfg.batch * steps}


# ------------------------------------------------------------------------------------ figures
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(kinds: dict, title: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind, s in kinds.items():
        ax.plot(range(1, len(s["train_curve"]) + 1), s["train_curve"], label=kind)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--", label="chance")
    ax.set(xlabel="generation", ylabel="centre recall accuracy (validation)", ylim=(0, 1.02), title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_membrane_reset(kinds: dict, title: str, path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 4))
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
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_heatmap(kind: str, grid: dict, lengths: list[int], delays: list[int], path: Path) -> None:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4), squeeze=False)
    for ax, key, label in zip(axes[0], ("accuracy", "accuracy_membrane_reset"), ("intact", "membrane reset")):
        im = ax.imshow(grid[key], vmin=0.5, vmax=1.0, cmap="viridis", origin="lower")
        for i in range(len(lengths)):
            for j in range(len(delays)):
                ax.text(j, i, f"{grid[key][i][j]:.2f}", ha="center", va="center", color="w", fontsize=8)
        ax.set_xticks(range(len(delays)), delays)
        ax.set_yticks(range(len(lengths)), lengths)
        ax.set(xlabel="delay D", ylabel="length L", title=f"{kind}: {label}")
    fig.colorbar(im, ax=axes[0].tolist(), label="test recall accuracy")
    fig.savefig(path, dpi=100)
    plt.close(fig)


# ------------------------------------------------------------------------------------- modes
def run_single(base: WMConfig, kinds: list[str], out: Path, log) -> dict:
    summaries: dict = {}
    for kind in kinds:
        cfg = base.replace(kind=kind)
        result, summaries[kind] = train_and_test(cfg)
        torch.save(result.center, out / f"center_{kind}.pt")
        log(f"{kind:8s} L={cfg.length} D={cfg.delay}: accuracy {summaries[kind]['accuracy']:.3f}, "
            f"with membrane reset {summaries[kind]['accuracy_membrane_reset']:.3f} "
            f"({summaries[kind]['seconds_per_generation']:.3f} s/generation)")
    title = f"copy task L={base.length} D={base.delay}"
    pngs = [out / "train_curves.png", out / "membrane_reset.png"]
    plot_curves(summaries, title, pngs[0])
    plot_membrane_reset(summaries, title, pngs[1])
    return {"mode": "single", "L": base.length, "D": base.delay, "budget": budget(base), "kinds": summaries,
            "pngs": [str(p) for p in pngs]}


def run_sweep(base: WMConfig, kinds: list[str], lengths: list[int], delays: list[int], out: Path, log) -> dict:
    grid: dict = {}
    pngs = []
    for kind in kinds:
        cells = {key: [[0.0] * len(delays) for _ in lengths] for key in
                 ("accuracy", "accuracy_membrane_reset", "seconds_per_generation")}
        for i, length in enumerate(lengths):
            for j, delay in enumerate(delays):
                cfg = base.replace(kind=kind, length=length, delay=delay)
                result, s = train_and_test(cfg)
                torch.save(result.center, out / f"center_{kind}_L{length}_D{delay}.pt")
                for key in cells:
                    cells[key][i][j] = s[key]
                log(f"{kind:8s} L={length:3d} D={delay:3d}: accuracy {s['accuracy']:.3f}, "
                    f"with membrane reset {s['accuracy_membrane_reset']:.3f}")
        grid[kind] = cells
        path = out / f"heatmap_{kind}.png"
        plot_heatmap(kind, cells, lengths, delays, path)
        pngs.append(str(path))
    return {"mode": "sweep", "L": lengths, "D": delays, "budget": budget(base), "grid": grid, "pngs": pngs}


def run(args: argparse.Namespace) -> int:
    for kind in args.kinds:
        if kind not in KINDS:
            raise ConfigError(f"--kinds {kind!r}: choose from {', '.join(KINDS)}")
    for flag in ("lengths", "delays"):
        if not getattr(args, flag):
            raise ConfigError(f"--{flag}: give at least one value")
    base = base_config(args)
    if args.sweep:  # validate every cell before spending any time
        for length in args.lengths:
            for delay in args.delays:
                base.replace(length=length, delay=delay)
    for kind in args.kinds:
        base.replace(kind=kind)
    if args.threads < 1:
        raise ConfigError(f"--threads={args.threads}: must be >= 1")
    torch.set_num_threads(args.threads)
    out = output_dir(args)
    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    if args.sweep:
        report = run_sweep(base, list(args.kinds), list(args.lengths), list(args.delays), out, log)
    else:
        report = run_single(base, list(args.kinds), out, log)
    report["config"] = {k: v for k, v in base.__dict__.items() if k not in ("kind", "length", "delay")}
    report["out"] = str(out)
    (out / "result.json").write_text(json.dumps(report, indent=1))
    if args.json:
        print(json.dumps(report))
    else:
        print(f"results in {out}")
    return 0
