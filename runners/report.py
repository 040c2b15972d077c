"""``pdlf report``: plastic versus direct-weight agents at equal env-step budgets, several seeds.

Reproduces, at budgets that fit a 2-core machine, the comparisons of PDLF's paper on our stack:
for each task and seed it trains a plastic SNN (rule ``pdlf``) and a direct-weight SNN (rule
``none``, same network, envs, ES and budget), then runs the evaluation runners on both:

1. training curves (the distribution centre's fitness against env steps);
2. seen versus unseen goals (``pdlf eval --goals all``);
3. temporary injury (``pdlf injury --mode temporary``: erasure and silencing, steps 501–549);
4. permanent injury (``pdlf injury --mode permanent``: neuron loss swept over fractions);
5. the working-memory copy test (``pdlf wm``: L=8, D=16, with and without membrane reset);
6. PDLF's own working-memory models on the copy task (``pdlf wm --model pdlf-hybrid`` and
   ``pdlf-gru``, L=8, D=16), beside PDLF's logged numbers;
7. associative recall (``pdlf wm --task assoc``: L=8, D=16, membrane reset in training and test), the
   test only a memory in the weights can pass.
8. the rule ablation on halfcheetah_vel and the copy task;
9. learning to learn on the cognitive task families (`pdlf.l2l_experiment`: five plasticity
   conditions from ``configs/ip2/``, ``pdlf l2l``'s measures over 1,000 tasks per run).

It writes figures, ``results.md`` (tables of mean ± std over seeds, and the exact command) and
``results.json`` (one object per table row, `pdlf.tables`) into ``--docs``. Runs live under ``--root`` and are reused: a finished run is not retrained and an
interrupted one is resumed, so the command can be re-run after a crash. Every stage reads only
what earlier stages wrote, so ``--stages`` can redo one part.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from pdlf.stats import finite_stats
from pdlf.snn.network import PDLF_DIRECT_AGENT
from pdlf.l2l import FAMILIES
from pdlf.l2l_experiment import GNG_FAMILIES, L2L_HEADING, L2LExperiment, l2l_figure, l2l_section, l2l_table, run_l2l_experiment
from pdlf.locomotion_runs import BUDGETS, SCIENCE_CONFIGS, ensure_science_run, export_dir, science_kinds, science_plan
from pdlf.tables import Table, stat_record

KINDS = {"plastic": "pdlf", "direct": "none"}
LOCOMOTION_STAGES = ("train", "eval", "injury", "switch", "videos")  # the stages whose runs depend on --budget
STAGES = ("train", "eval", "injury", "switch", "videos", "wm", "pdlf_wm", "assoc", "assoc_grid", "ablation", "l2l", "docs")
# associative recall over L: L -> the delay it trains at (L = 8: the assoc stage's runs); every
# centre is tested at each delay of ASSOC_EVAL_DELAYS
ASSOC_GRID = {4: 8, 8: 16, 16: 8}
ASSOC_EVAL_DELAYS = (8, 32)
ABLATION_RULES = ("pdlf", "scp", "pdp", "hebb_abcd", "none")  # full rule, SCP only, PDP only, Najarro & Risi, none
ABLATION_TASK = "halfcheetah_vel"
# PDLF's logged copy-task accuracies (hybrid vs GRU), spec §5 / the issue: (L, D) -> (hybrid, gru)
PDLF_COPY = {(8, 16): (0.883, 0.789), (8, 32): (0.78, 0.67), (64, 0): (0.66, 0.57)}
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
HEADING_NOTE = "25-step mean"  # pdlf.goal_switching.HEADING_WINDOW
SPEED_SMOOTH = 20  # steps of the moving average drawn for speed tasks in the goal-switching figure
INJURY_STEPS = 1000  # PDLF's protocol: the damage window 501-549 inside 1000-step episodes
# PDLF's published returns (spec §6), mean over the 8 training goals: task -> (plastic mean, plastic
# std, direct-weight mean); its direct-weight baseline is its own network (our ``pdlf_direct`` kind)
PDLF_TRAIN_GOALS = {"ant_dir": (6094, 802, 1069), "swimmer_dir": (10531, 827, 31), "halfcheetah_vel": (-549, 95, -1598),
                    "hopper_vel": (869, 38, 730)}
# and over its 72 interpolated unseen goals: task -> (plastic, direct-weight)
PDLF_INTERP72 = {"ant_dir": (5345, 1288), "halfcheetah_vel": (-623, -2502)}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--budget", choices=BUDGETS, default="small",
                        help="locomotion runs: small = the report's own short runs (--popsize, --generations, "
                             "--episode-steps; CI), full = the >= 50 M env-step main runs of configs/science/, "
                             "kept in DOCS/runs (default small)")
    parser.add_argument("--science-configs", default=str(SCIENCE_CONFIGS),
                        help="the full budget's configs: TASK.yaml, TASK_direct.yaml [, TASK_pdlf_direct.yaml] "
                             "(default configs/science)")
    parser.add_argument("--science-root", default="runs/science",
                        help="where full-budget runs train before their export to DOCS/runs (default runs/science)")
    parser.add_argument("--tasks", nargs="+", default=["halfcheetah_vel", "swimmer_dir"], help="tasks to compare on")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="search seeds (one run per kind each)")
    parser.add_argument("--popsize", type=int, default=16, help="ES population per generation")
    parser.add_argument("--generations", type=int, default=20, help="generations per run")
    parser.add_argument("--episode-steps", type=int, default=1000, help="steps per training episode")
    parser.add_argument("--hidden", type=int, default=128, help="hidden LIF neurons")
    parser.add_argument("--center-lr", type=float, default=0.05, help="PGPE centre learning rate (both kinds)")
    parser.add_argument("--sigma", type=float, default=0.1, help="PGPE initial sigma (both kinds)")
    parser.add_argument("--workers", type=int, default=2, help="Ray rollout workers")
    parser.add_argument("--eval-seeds", type=int, default=2, help="env seeds per goal in the evaluations")
    parser.add_argument("--wm-generations", type=int, default=100, help="generations of the working-memory runs")
    parser.add_argument("--pdlf-wm-generations", type=int, default=100,
                        help="generations of the copy-task runs of PDLF's models (pdlf-hybrid, pdlf-gru)")
    parser.add_argument("--assoc-generations", type=int, default=1000, help="generations of the associative-recall runs")
    parser.add_argument("--l2l-families", nargs="+", default=list(GNG_FAMILIES), choices=FAMILIES,
                        help="task families of the learning-to-learn stage (configs/ip2/; default gng_dr2 gng_dr4)")
    parser.add_argument("--l2l-generations", type=int, default=None,
                        help="generations of its runs (default: the configs' es.generations)")
    parser.add_argument("--l2l-tasks", type=int, default=1000, help="tasks evaluated per learning-to-learn run")
    parser.add_argument("--l2l-sequence-tasks", type=int, default=100,
                        help="tasks per sequence: plastic state is carried within a sequence (default 100)")
    parser.add_argument("--l2l-trials", type=int, default=50, help="trial limit per task (default 50)")
    parser.add_argument("--video-width", type=int, default=320, help="frame width of the report's videos (pixels)")
    parser.add_argument("--video-height", type=int, default=240, help="frame height of the report's videos (pixels)")
    parser.add_argument("--root", default="runs/report", help="where the runs are kept (reused when re-run)")
    parser.add_argument("--docs", default="docs", help="where results.md and the figures go")
    parser.add_argument("--stages", default=None,
                        help=f"comma-separated subset of {','.join(STAGES)} (default: all; with --budget small all "
                             "but videos, whose 1,000-step episodes the small budget does not evaluate)")
    parser.add_argument("--sections", default=None,
                        help=f"with the docs stage: regenerate only these comma-separated sections of results.md "
                             f"(and their rows of results.json) in place, keeping the rest as it is: {','.join(SECTIONS)} "
                             "(default: the whole report)")
    parser.add_argument("--json", action="store_true", help="print the collected numbers as JSON")


# ------------------------------------------------------------------------------------ helpers
def _fmt(values, digits: int = 1) -> str:
    """``mean ± std`` over seeds of the finite ``values`` (None, NaN left out), or ``n/a``."""
    return finite_stats(values).format(digits)


def small_run_dir(args, task: str, kind: str, seed: int) -> Path:
    """Directory of a small-budget locomotion run (also the ablation's runs, at either budget)."""
    return Path(args.root) / f"{task}__{kind}__s{seed}"


def run_dir_for(args, task: str, kind: str, seed: int) -> Path:
    """Directory of the compared locomotion run of ``kind`` at ``--budget``."""
    if args.budget == "full":
        return export_dir(Path(args.docs) / "runs", task, kind, seed)
    return small_run_dir(args, task, kind, seed)


def kinds_for(args, task: str) -> list[str]:
    """The agent kinds compared on ``task`` at ``--budget`` (full: those with a configs/science/ file)."""
    return science_kinds(task, Path(args.science_configs)) if args.budget == "full" else list(KINDS)


def compared_runs(args, task: str, seed: int) -> list[tuple[str, Path]]:
    """``(kind, run dir)`` of the compared runs of ``task`` and ``seed`` that exist; a missing one
    (a full-budget run not yet trained) is named on stderr and left out of the evaluations."""
    from pdlf.runs import is_run_dir

    found = []
    for kind in kinds_for(args, task):
        run_dir = run_dir_for(args, task, kind, seed)
        if is_run_dir(run_dir):
            found.append((kind, run_dir))
        else:
            print(f"report: no run {run_dir} yet: left out (train it with --stages train)", file=sys.stderr)
    return found


def result_name(args, name: str) -> str:
    """Name of a locomotion result file: full-budget results are kept apart from the small ones."""
    return f"full__{name}" if args.budget == "full" else name


def train_config(args, task: str, kind: str, seed: int, rule: str | None = None, extra: tuple[str, ...] = ()):
    """The locomotion run config of ``kind`` (its rule from `KINDS`, or ``rule``) at the report's
    budget, plus ``extra`` overrides."""
    from pdlf.config import load_config

    repo_configs = Path(__file__).resolve().parents[1] / "configs"
    base = repo_configs / f"{task}.yaml"
    overrides = [
        f"rule.name={rule or KINDS[kind]}",
        f"es.seed={seed}",
        f"es.popsize={args.popsize}",
        f"es.generations={args.generations}",
        f"es.center_lr={args.center_lr}",
        f"es.sigma_init={args.sigma}",
        f"env.episode_steps={args.episode_steps}",
        f"agent.hidden=[{args.hidden}]",
        f"ray.workers={args.workers}",
        "log.progress=false",
        "checkpoint.every=5",
        *extra,
    ]
    if base.is_file():
        return load_config(base, overrides)
    from pdlf.config import config_from_dict

    return config_from_dict({"env": {"name": task}}, overrides)


# ------------------------------------------------------------------------------------- stages
def stage_train(args) -> None:
    if args.budget == "full":
        for run in science_plan(args.tasks, args.seeds, Path(args.docs) / "runs", Path(args.science_configs)):
            t0 = time.time()
            summary = ensure_science_run(run, Path(args.science_root))
            if summary is not None and summary.get("interrupted"):  # resumed by the next `pdlf report`
                from pdlf.interrupts import StoppedBySignal

                raise StoppedBySignal(summary["interrupted"], run.name)
            if summary is not None:
                print(f"trained {run.name}: {summary['env_steps']} env steps, {time.time() - t0:.0f} s", file=sys.stderr)
        return
    for task in args.tasks:
        for seed in args.seeds:
            for kind in KINDS:
                _train_run(args, task, kind, seed)


def _train_run(args, task: str, kind: str, seed: int, rule: str | None = None, extra: tuple[str, ...] = ()) -> Path:
    """Train (or resume, or reuse when finished) one locomotion run; returns its directory."""
    from pdlf.es.trainer import train_or_reuse

    run_dir = small_run_dir(args, task, kind, seed)
    t0 = time.time()
    summary = train_or_reuse(train_config(args, task, kind, seed, rule, extra), run_dir, replace=True)
    if summary is None:  # finished before
        return run_dir
    if summary.get("interrupted"):  # resumed by the next `pdlf report`
        from pdlf.interrupts import StoppedBySignal

        raise StoppedBySignal(summary["interrupted"], str(run_dir))
    print(f"trained {run_dir.name}: {summary['env_steps']} env steps, centre "
          f"{summary['center_fitness']:.1f}, {time.time() - t0:.0f} s", file=sys.stderr)
    return run_dir


def _metrics(run_dir: Path) -> list[dict[str, str]]:
    import csv

    with open(run_dir / "metrics.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def stage_ablation(args) -> None:
    """The rule ablation (`ABLATION_RULES`) on halfcheetah_vel at the report's locomotion budget and
    on the copy task (L = 8, D = 16, ``--wm-generations``): final fitness or recall accuracy, and
    how many members diverged (NaN/inf actions or states) over the whole search, PDLF's claim being
    that without PDP the networks diverge."""
    from pdlf.wm import COPY_CONFIG, kind_config, load_finished, recall_accuracy, train

    rows: dict[str, dict[str, list]] = {ABLATION_TASK: {}, "copy": {}}
    locomotion = [(rule, next((k for k, r in KINDS.items() if r == rule), f"rule-{rule}"), rule, ())
                  for rule in ABLATION_RULES]
    # PDLF's own direct-weight baseline (its neurons: tau 2, threshold 1, biases, tanh output)
    locomotion.append(("none_pdlf_neurons", "pdlf-direct", "none",
                       tuple(f"agent.{k}={v}" for k, v in PDLF_DIRECT_AGENT.items())))
    for label, kind, rule, extra in locomotion:
        rows[ABLATION_TASK][label] = []
        for seed in args.seeds:
            metrics = _metrics(_train_run(args, ABLATION_TASK, kind, seed, rule, extra))
            rows[ABLATION_TASK][label].append({
                "seed": seed, "final_center_fitness": float(metrics[-1]["fitness/center"]),
                "best_ever_fitness": float(metrics[-1]["fitness/best_ever"]),
                "diverged_members": sum(int(float(m["health/diverged"])) for m in metrics),
                "env_steps": int(metrics[-1]["env_steps"])})
    for rule in ABLATION_RULES:
        rows["copy"][rule] = []
        for seed in args.seeds:
            wm_kind = "direct" if rule == "none" else "plastic"
            cfg = kind_config(COPY_CONFIG, wm_kind, ["env.params.length=8", "env.params.delay=16",
                                                     f"es.generations={args.wm_generations}", f"es.seed={seed}",
                                                     "log.progress=false", *([f"rule.name={rule}"] if rule != "none" else [])])
            run_dir = Path(args.root) / "ablation_copy" / f"{rule}__s{seed}"
            res = load_finished(cfg, run_dir) or train(cfg, run_dir, force=True)
            rows["copy"][rule].append({
                "seed": seed, "accuracy": recall_accuracy(cfg, res.center, 256),
                "diverged_members": sum(int(float(m["health/diverged"])) for m in _metrics(run_dir)),
                "genome_size": int(res.center.numel())})
        print(f"ablation {rule}: done", file=sys.stderr)
    _save(args, "ablation", rows)


def _json_path(args, name: str) -> Path:
    return Path(args.root) / "results" / f"{name}.json"


def _save(args, name: str, obj: Any) -> None:
    path = _json_path(args, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def _load(args, name: str) -> Any:
    path = _json_path(args, name)
    return json.loads(path.read_text()) if path.is_file() else None


def eval_steps(args) -> int:
    """Evaluation episode length: the small budget's training length; 1,000 steps (the tasks' own,
    as PDLF's) for the full budget, which trains on 200-step episodes."""
    return INJURY_STEPS if args.budget == "full" else args.episode_steps


def stage_eval(args) -> None:
    """Centre's returns on the training and unseen goals (``pdlf eval --goals all``), on PDLF's 72
    interpolated goals (``--goals interp72``) and, for tasks whose goals do not wrap around, on goals
    outside the range (``--goals extrapolate``) of every run. Outputs go to the results directory,
    never into the (possibly committed) run directories."""
    from pdlf.eval_goals import eval_files, eval_stem, evaluate_goals, write_eval
    from pdlf.evaluation import env_seeds
    from pdlf.goals import parse_goals
    from pdlf.outputs import jsonable, prepare_output_dir
    from pdlf.runs import load_run

    for task in args.tasks:
        for seed in args.seeds:
            for kind, run_dir in compared_runs(args, task, seed):
                run = load_run(run_dir)
                goal_sets = [("all", "eval"), ("interp72", "eval72")]  # 12-goal grid; PDLF's 72 goals
                if run.spec.goal_units != "rad":
                    goal_sets.append(("extrapolate", "evalx"))
                for goal_set, prefix in goal_sets:
                    name = result_name(args, f"{prefix}__{task}__{kind}__s{seed}")
                    sel = parse_goals(goal_set, run.spec, run.train_goals())
                    out = prepare_output_dir(Path(args.root) / "results" / name, eval_files(sel), force=True)
                    res = evaluate_goals(run, sel, env_seeds(args.eval_seeds), "center", eval_steps(args))
                    _save(args, name, jsonable(write_eval(res, out, eval_stem(sel))))


def stage_injury(args) -> None:
    """Temporary and permanent injury (``pdlf injury``) of each seed's plastic and direct runs."""
    from pdlf import injury
    from pdlf.evaluation import env_seeds
    from pdlf.goals import parse_goals
    from pdlf.outputs import jsonable, prepare_output_dir

    from pdlf.runs import load_run

    seeds = env_seeds(args.eval_seeds)
    for task in args.tasks:
        for seed in args.seeds:
            found = compared_runs(args, task, seed)
            if not found:
                continue
            kinds = [k for k, _ in found]
            runs = [load_run(d) for _, d in found]  # the same damage objects reach every run
            sel = parse_goals("train", runs[0].spec, runs[0].train_goals())
            out = prepare_output_dir(Path(args.root) / "results" / result_name(args, f"injury__{task}__s{seed}"),
                                     [*injury.injury_files("temporary"), *injury.injury_files("permanent")], force=True)
            temporary = injury.temporary_injury(runs, sel, seeds, INJURY_STEPS)
            temporary = injury.write_injury(temporary, out, injury.injury_stem("temporary"))
            _save(args, result_name(args, f"temporary__{task}__s{seed}"), {**jsonable(temporary), "kinds": kinds})
            permanent = injury.permanent_injury(runs, sel, seeds, INJURY_STEPS, fractions=FRACTIONS)
            permanent = injury.write_injury(permanent, out, injury.injury_stem("permanent"))
            _save(args, result_name(args, f"permanent__{task}__s{seed}"), {**jsonable(permanent), "kinds": kinds})


def stage_switch(args) -> None:
    """Goal switching within a 1,000-step episode (`pdlf.goal_switching`, the task's default schedule)
    for every compared run, ``--eval-seeds`` env seeds."""
    from pdlf.evaluation import env_seeds
    from pdlf.goal_switching import DEFAULT_SCHEDULES, goal_switch_episodes
    from pdlf.runs import load_run

    for task in args.tasks:
        if task not in DEFAULT_SCHEDULES:
            continue
        for seed in args.seeds:
            for kind, run_dir in compared_runs(args, task, seed):
                res = goal_switch_episodes(load_run(run_dir), DEFAULT_SCHEDULES[task], env_seeds(args.eval_seeds),
                                           INJURY_STEPS)
                _save(args, result_name(args, f"switch__{task}__{kind}__s{seed}"), res)


def video_path(args, task: str, kind: str, what: str) -> Path:
    """``DOCS/videos/TASK__KIND__WHAT.mp4`` (``what``: ``switch`` or ``erasure``), budget-tagged when small."""
    budget = "" if args.budget == "full" else "__small"
    return Path(args.docs) / "videos" / f"{task}__{kind}__{what}{budget}.mp4"


def stage_videos(args) -> None:
    """One video per task and agent kind of the first seed's run (`pdlf render`): the goal-switching
    episode and the temporary erasure (steps 501–549) on the first training goal."""
    from pdlf.goal_switching import DEFAULT_SCHEDULES
    from pdlf.render import render_run
    from pdlf.runs import load_run

    seed = args.seeds[0]
    for task in args.tasks:
        for kind, run_dir in compared_runs(args, task, seed):
            run = load_run(run_dir)
            if task in DEFAULT_SCHEDULES:
                render_run(run, video_path(args, task, kind, "switch"), schedule=DEFAULT_SCHEDULES[task],
                           steps=INJURY_STEPS, width=args.video_width, height=args.video_height, force=True)
            render_run(run, video_path(args, task, kind, "erasure"), injury="temporary", steps=INJURY_STEPS,
                       width=args.video_width, height=args.video_height, force=True)


def _videos_section(args) -> list[str]:
    """Links to the videos that exist, one line per task."""
    lines = []
    for task in args.tasks:
        links = [f"[{kind}, {what}]({video_path(args, task, kind, what).relative_to(Path(args.docs)).as_posix()})"
                 for kind in kinds_for(args, task) for what in ("switch", "erasure")
                 if video_path(args, task, kind, what).is_file()]
        if links:
            lines.append(f"- {task} (seed {args.seeds[0]}): " + ", ".join(links))
    return lines


def _memory_stage(args, name: str, task: str, overrides: list[str], kinds: tuple[str, ...],
                  runs: str | None = None, eval_delays: tuple[int, ...] = ()) -> None:
    """Train each kind on a working-memory task for every seed (a finished run of the same config
    is reused; runs live in ``root/runs``, default ``root/name``); test each centre with and without
    the membrane reset, at the training delay and at each of ``eval_delays``."""
    from pdlf.wm import TASK_CONFIGS, agent_steps, kind_config, load_finished, recall_accuracy, train

    rows = {}
    for kind in kinds:
        rows[kind] = []
        for seed in args.seeds:
            cfg = kind_config(TASK_CONFIGS[task], kind, [*overrides, f"es.seed={seed}", "log.progress=false"])
            run_dir = Path(args.root) / (runs or name) / f"{kind}__s{seed}"
            t0 = time.time()
            res = load_finished(cfg, run_dir) or train(cfg, run_dir, force=True)
            rows[kind].append({
                "seed": seed,
                "accuracy": recall_accuracy(cfg, res.center, 256),
                "accuracy_membrane_reset": recall_accuracy(cfg, res.center, 256, membrane_reset=True),
                "train_curve": list(map(float, res.train_curve)),
                "seconds_per_generation": res.seconds_per_generation,
                "wall_minutes": res.seconds_per_generation * cfg.es.generations / 60,
                "genome_size": int(res.center.numel()),
                "generations": cfg.es.generations,
                "budget_agent_steps": agent_steps(cfg),
            })
            if eval_delays:  # the same genome tested at other delays (the layout does not depend on D)
                rows[kind][-1]["by_delay"] = {}
                for delay in eval_delays:
                    at = kind_config(TASK_CONFIGS[task], kind, [*overrides, f"es.seed={seed}", f"env.params.delay={delay}"])
                    rows[kind][-1]["by_delay"][str(delay)] = {
                        "accuracy": recall_accuracy(at, res.center, 256),
                        "accuracy_membrane_reset": recall_accuracy(at, res.center, 256, membrane_reset=True)}
            print(f"{name} {kind} seed {seed}: {rows[kind][-1]['accuracy']:.3f} -> "
                  f"{rows[kind][-1]['accuracy_membrane_reset']:.3f} with membrane reset ({time.time() - t0:.0f} s)",
                  file=sys.stderr)
    _save(args, name, rows)


def stage_wm(args) -> None:
    _memory_stage(args, "wm", "copy", ["env.params.length=8", "env.params.delay=16", f"es.generations={args.wm_generations}"],
                  ("plastic", "direct"))


def _pdlf_wm_name(length: int, delay: int) -> str:
    return f"pdlf_wm_L{length}_D{delay}"


def stage_pdlf_wm(args) -> None:
    """PDLF's reference models on the copy task at the (L, D) cells PDLF logged (`PDLF_COPY`)."""
    for length, delay in PDLF_COPY:
        _memory_stage(args, _pdlf_wm_name(length, delay), "copy",
                      [f"env.params.length={length}", f"env.params.delay={delay}",
                       f"es.generations={args.pdlf_wm_generations}"],
                      ("pdlf-hybrid", "pdlf-gru"))


def stage_assoc_grid(args) -> None:
    """Associative recall over L (`ASSOC_GRID`: each L trained at one delay; L = 8 reuses the assoc
    stage's runs), every centre tested at the delays `ASSOC_EVAL_DELAYS` with and without the reset."""
    for length, delay in ASSOC_GRID.items():
        runs = "assoc" if (length, delay) == (8, 16) else None
        _memory_stage(args, f"assoc_L{length}", "assoc",
                      [f"env.params.length={length}", f"env.params.delay={delay}",
                       f"es.generations={args.assoc_generations}"],
                      ("plastic", "direct"), runs=runs, eval_delays=ASSOC_EVAL_DELAYS)


def stage_assoc(args) -> None:
    _memory_stage(args, "assoc", "assoc",
                  ["env.params.length=8", "env.params.delay=16", f"es.generations={args.assoc_generations}"],
                  ("plastic", "direct", "pdlf-gru"))


def l2l_experiment(args) -> L2LExperiment:
    return L2LExperiment(Path(args.root), tuple(args.l2l_families), tuple(args.seeds), args.l2l_generations,
                         args.l2l_tasks, args.l2l_sequence_tasks, args.l2l_trials)


def stage_l2l(args) -> None:
    """Learning to learn (`pdlf.l2l_experiment`): every cognitive family x plasticity condition x seed."""
    run_l2l_experiment(l2l_experiment(args), lambda name, obj: _save(args, name, obj))


# --------------------------------------------------------------------------------- the report
def _pdlf_number(task: str, kind: str, which: str) -> str:
    """PDLF's published number beside our ``kind`` on ``task`` (``train`` goals or ``interp72``)."""
    if which == "train" and task in PDLF_TRAIN_GOALS:
        mean, std, direct = PDLF_TRAIN_GOALS[task]
        return f"{mean:,} ± {std:,}" if kind == "plastic" else f"{direct:,}"
    if which == "interp72" and task in PDLF_INTERP72:
        return f"{PDLF_INTERP72[task][0 if kind == 'plastic' else 1]:,}"
    return "–"


def _training_table_and_figures(args, docs: Path) -> tuple[Table, dict]:
    from pdlf.plots import lines_with_spread

    table = Table("training", ["task", "agent", "seeds", "env steps per run", "final centre fitness",
                               "best-ever member fitness", "wall time per run (min)"])
    numbers: dict = {}
    for task in args.tasks:
        series = {}
        for kind in kinds_for(args, task):
            curves, steps, best, final, minutes = [], [], [], [], []
            for seed in args.seeds:
                run_dir = run_dir_for(args, task, kind, seed)
                if not (run_dir / "metrics.csv").is_file():
                    continue
                rows = _metrics(run_dir)
                curves.append([float(r["fitness/center"]) for r in rows])
                steps.append([int(r["env_steps"]) for r in rows])
                best.append(float(rows[-1]["fitness/best_ever"]))
                final.append(curves[-1][-1])
                minutes.append(sum(float(r["perf/seconds"]) for r in rows) / 60)
            if not curves:
                continue
            n = min(len(c) for c in curves)
            c = np.asarray([c[:n] for c in curves])
            x = np.asarray(steps[0][:n])
            series[kind] = (x, c.mean(axis=0), c.std(axis=0))
            numbers[(task, kind)] = {"final": final, "best": best, "env_steps": [s[-1] for s in steps]}
            table.add([task, kind, str(len(curves)), f"{steps[0][-1]:,}", _fmt(final), _fmt(best), _fmt(minutes)],
                      {"task": task, "agent": kind, "env_steps": steps[0][-1], "final_center_fitness": stat_record(final),
                       "best_ever_fitness": stat_record(best), "minutes_per_run": stat_record(minutes)})
        if series:
            lines_with_spread(docs / f"training_{task}.png", series, "env steps (per run)",
                              "centre fitness (sum of returns over 8 goals)",
                              f"{task}: mean ± std over seeds {args.seeds}", markers=False)
    return table, numbers


def _eval_results(args, prefix: str, task: str, kind: str) -> list[dict]:
    """The centre's saved ``pdlf eval`` results of ``prefix`` for every seed that has one."""
    found = [_load(args, result_name(args, f"{prefix}__{task}__{kind}__s{seed}")) for seed in args.seeds]
    return [r["genomes"]["center"] for r in found if r is not None]


def _eval_table(args) -> Table:
    table = Table("goals", ["task", "agent", "return on training goals", "return on unseen goals",
                            "PDLF, training goals"])
    for task in args.tasks:
        for kind in kinds_for(args, task):
            res = _eval_results(args, "eval", task, kind)
            seen, unseen = [g["seen_mean"] for g in res], [g["unseen_mean"] for g in res]
            table.add([task, kind, _fmt(seen), _fmt(unseen), _pdlf_number(task, kind, "train")],
                      {"task": task, "agent": kind, "seen_return": stat_record(seen), "unseen_return": stat_record(unseen),
                       "pdlf_train_goals": _pdlf_number(task, kind, "train")})
    return table


def _interp72_table(args) -> Table:
    """Mean return of the centre over PDLF's 72 interpolated goals (`pdlf.goals`, ``interp72``)."""
    table = Table("goals_interp72", ["task", "agent", "mean return over the 72 goals", "diverged episodes",
                                     "PDLF, 72 goals"])
    for task in args.tasks:
        for kind in kinds_for(args, task):
            res = _eval_results(args, "eval72", task, kind)
            means = [finite_stats([g["mean"] for g in r["per_goal"]]).mean for r in res]
            diverged = sum(r["diverged"] for r in res)
            table.add([task, kind, _fmt(means), str(diverged), _pdlf_number(task, kind, "interp72")],
                      {"task": task, "agent": kind, "interp72_return": stat_record(means), "diverged": diverged,
                       "pdlf_interp72": _pdlf_number(task, kind, "interp72")})
    return table


def _extrapolation_table(args) -> Table:
    """Return of the centre on each goal outside the task's range (``--goals extrapolate``)."""
    table = Table("goals_extrapolated", ["task", "agent", "goal", "return", "return on the nearest training goal"])
    for task in args.tasks:
        for kind in kinds_for(args, task):
            res = _eval_results(args, "evalx", task, kind)
            inside = _eval_results(args, "eval", task, kind)
            if not res:
                continue
            for i, goal in enumerate(g["goal"] for g in res[0]["per_goal"]):
                values = [r["per_goal"][i]["mean"] for r in res]
                near = []
                for r in inside:  # the seen goal closest to this one, per seed
                    seen = [g for g in r["per_goal"] if g["seen"]]
                    near.append(min(seen, key=lambda g: abs(g["goal"] - goal))["mean"])
                table.add([task, kind, f"{goal:g}", _fmt(values), _fmt(near)],
                          {"task": task, "agent": kind, "goal": goal, "return": stat_record(values),
                           "nearest_training_goal_return": stat_record(near)})
    return table


def _run_result(res: dict, kind: str) -> dict | None:
    """The entry of ``kind`` in a saved injury result (its ``kinds`` list; old results: plastic, direct)."""
    kinds = res.get("kinds", list(KINDS))
    return res["runs"][kinds.index(kind)] if kind in kinds else None


def _injury_tables_and_figures(args, docs: Path) -> tuple[Table, Table]:
    from pdlf.plots import injury_curves, return_vs_fraction

    shown = (0.0, 0.3, 0.6, 0.9)
    temp = Table("temporary_injury", ["task", "agent", "condition", "pre-injury reward/step", "lowest reward/step",
                                      "reward/step, last 100 steps", "steps to recover 90 %", "seeds recovered"])
    perm = Table("permanent_injury", ["task", "agent", *(f"lost {f:g}" for f in shown)])
    for task in args.tasks:
        kinds = kinds_for(args, task)
        temporary = [r for r in (_load(args, result_name(args, f"temporary__{task}__s{seed}")) for seed in args.seeds) if r]
        permanent = [r for r in (_load(args, result_name(args, f"permanent__{task}__s{seed}")) for seed in args.seeds) if r]
        curves: dict[str, list] = {}
        perm_means: dict[str, list] = {k: [] for k in kinds}
        fractions = permanent[0]["fractions"] if permanent else None
        for kind in kinds:
            for cond in ("erasure", "silencing"):
                pre, low, final, rec, ok = [], [], [], [], 0
                for res in temporary:
                    entry = _run_result(res, kind)
                    if entry is None:
                        continue
                    c = entry["conditions"][cond]
                    pre.append(c["pre"])
                    low.append(c["min"])
                    final.append(c["final"])
                    rec.append(c["recovery_steps"])
                    ok += bool(c["recovered"])
                    curves.setdefault(f"{kind}, {cond}", []).append(c["curve"])
                if pre:
                    temp.add([task, kind, cond, _fmt(pre, 2), _fmt(low, 2), _fmt(final, 2), _fmt(rec, 0),
                              f"{ok}/{len(pre)}"],
                             {"task": task, "agent": kind, "condition": cond, "pre_reward_per_step": stat_record(pre),
                              "lowest_reward_per_step": stat_record(low), "final_reward_per_step": stat_record(final),
                              "recovery_steps": stat_record(rec),
                              "seeds_recovered": ok, "seeds": len(pre)})
            for res in permanent:
                entry = _run_result(res, kind)
                if entry is not None:
                    perm_means[kind].append(entry["mean"])
            if perm_means[kind]:
                m = np.asarray(perm_means[kind], dtype=np.float64)
                pick = [fractions.index(f) for f in shown]
                perm.add([task, kind, *(_fmt(m[:, i]) for i in pick)],
                         {"task": task, "agent": kind,
                          "return_by_fraction_lost": {f"{f:g}": stat_record(m[:, i]) for f, i in zip(shown, pick)}})
        if curves:
            mean_curves = {label: np.nanmean(np.asarray(c, dtype=np.float64), axis=0) for label, c in curves.items()}
            injury_curves(docs / f"injury_temporary_{task}.png", mean_curves, (501, 549),
                          title=f"{task}: all fast weights erased / silenced after steps 501–549 (mean over seeds)")
        if fractions is not None:
            lines = {k: (np.mean(v, axis=0), np.std(v, axis=0)) for k, v in perm_means.items() if v}
            return_vs_fraction(docs / f"injury_permanent_{task}.png", fractions, lines,
                               title=f"{task}: hidden neurons lost from episode start (mean ± std over seeds)")
    return temp, perm


def _switch_table_and_figures(args, docs: Path) -> tuple[Table, list[str]]:
    """Tracking error per task and kind, and one figure per task: the scheduled target and each
    kind's achieved forward velocity (speed tasks) or heading (direction tasks), mean ± std over runs."""
    from pdlf.goal_switching import heading_angle
    from pdlf.plots import lines_with_spread, moving_average

    table = Table("goal_switching", ["task", "agent", "seeds", "tracking error", "episode return"])
    figures = []
    for task in args.tasks:
        series: dict = {}
        units, schedule = "", []
        for kind in kinds_for(args, task):
            found = [_load(args, result_name(args, f"switch__{task}__{kind}__s{seed}")) for seed in args.seeds]
            found = [r for r in found if r is not None]
            if not found:
                continue
            units, schedule = found[0]["error_units"], found[0]["schedule"]
            errors = [float(np.mean(r["tracking_error"])) for r in found]
            returns = [float(np.nanmean(r["returns"])) for r in found]
            table.add([task, kind, str(len(found)), f"{_fmt(errors, 2)} {units}", _fmt(returns)],
                      {"task": task, "agent": kind, "tracking_error": stat_record(errors), "error_units": units,
                       "episode_return": stat_record(returns), "schedule": schedule})
            velocity = np.asarray([r["velocity"] for r in found], dtype=np.float64)  # [runs, T, S, k]
            target = np.asarray(found[0]["target"], dtype=np.float64)  # [T]
            if units == "rad":  # heading drawn as target + its wrapped difference: no jump at ±π
                heading = np.moveaxis(heading_angle(np.moveaxis(velocity, 1, 0)), 0, 1)  # [runs, T, S]
                achieved = target[:, None] + np.angle(np.exp(1j * (heading - target[:, None])))
            else:  # the per-step velocity of a running gait oscillates: a centred 20-step mean
                achieved = np.apply_along_axis(moving_average, 1, velocity[..., 0], SPEED_SMOOTH)
            per_run = achieved.mean(axis=2)  # over env seeds: [runs, T]
            x = np.arange(1, len(target) + 1)
            series.setdefault("target", (x, target, np.zeros(len(x))))
            series[kind] = (x, per_run.mean(axis=0), per_run.std(axis=0))
        if series:
            ylabel = (f"heading of the {HEADING_NOTE} velocity (rad)" if units == "rad"
                      else f"forward velocity, centred {SPEED_SMOOTH}-step mean (m/s)")
            lines_with_spread(docs / f"goal_switching_{task}.png", series, "step", ylabel,
                              f"{task}: target switched at steps {', '.join(str(a) for a, _ in schedule[1:])}",
                              markers=False)
            figures.append(f"![goal switching {task}](goal_switching_{task}.png)")
    return table, figures


def _assoc_grid_table(args) -> Table:
    table = Table("assoc_grid", ["L", "trained at D", "tested at D", "agent", "recall accuracy",
                                 "with membrane reset during the delay"])
    for length, trained in ASSOC_GRID.items():
        rows = _load(args, f"assoc_L{length}") or {}
        for delay in ASSOC_EVAL_DELAYS:
            for kind, runs in rows.items():
                at = [r["by_delay"][str(delay)] for r in runs if "by_delay" in r]
                acc, reset = [a["accuracy"] for a in at], [a["accuracy_membrane_reset"] for a in at]
                table.add([str(length), str(trained), str(delay), kind, _fmt(acc, 3), _fmt(reset, 3)],
                          {"L": length, "trained_delay": trained, "delay": delay, "agent": kind,
                           "accuracy": stat_record(acc), "accuracy_membrane_reset": stat_record(reset),
                           "seeds": [r["seed"] for r in runs]})
    return table


def _ablation_table(args) -> Table:
    rows = _load(args, "ablation") or {}
    table = Table("ablation", ["task", "rule", "score", "diverged members (all generations, all seeds)", "seeds"])
    for task, by_rule in rows.items():
        key, label = ("accuracy", "recall accuracy") if task == "copy" else ("final_center_fitness", "final centre fitness")
        for rule, runs in by_rule.items():
            values = [r[key] for r in runs]
            diverged = sum(r["diverged_members"] for r in runs)
            table.add([task, rule, f"{label} {_fmt(values, 3 if task == 'copy' else 1)}", str(diverged), str(len(runs))],
                      {"task": task, "rule": rule, "score_kind": key, "score": stat_record(values),
                       "diverged_members": diverged, "seeds": [r["seed"] for r in runs]})
    return table


def _memory_columns(lead: list[str], pdlf: bool) -> list[str]:
    """Columns of a memory table: ``lead``, then agent, genes, accuracies (PDLF's beside ours), times."""
    return [*lead, "agent", "genes", "recall accuracy", *(["PDLF's logged accuracy"] if pdlf else []),
            "with membrane reset during the delay", "seconds per generation", "wall minutes per run"]


def _memory_table(args, name: str, pdlf_numbers: dict[str, float] | None = None, table: Table | None = None,
                  lead: dict[str, Any] | None = None) -> Table:
    """One row per agent kind of memory stage ``name``: accuracy with and without the reset, time.
    ``pdlf_numbers`` (kind -> accuracy PDLF logged) adds a column beside ours; ``lead`` (column ->
    value) adds leading columns; rows go into ``table`` when given (its columns must match)."""
    rows = _load(args, name)
    lead = lead or {}
    table = table or Table(name, _memory_columns(list(lead), pdlf=bool(pdlf_numbers)))
    for kind, runs in (rows or {}).items():
        acc, reset = [r["accuracy"] for r in runs], [r["accuracy_membrane_reset"] for r in runs]
        secs = [r["seconds_per_generation"] for r in runs]
        wall = [r.get("wall_minutes") for r in runs]
        cells = [*map(str, lead.values()), kind,
                 f"{runs[0].get('genome_size', 'n/a'):,}" if "genome_size" in runs[0] else "n/a",
                 _fmt(acc, 3), _fmt(reset, 3), _fmt(secs, 2), _fmt(wall, 1)]
        record = {**lead, "agent": kind, "genome_size": runs[0].get("genome_size"), "generations": runs[0].get("generations"),
                  "budget_agent_steps": runs[0].get("budget_agent_steps"), "accuracy": stat_record(acc),
                  "accuracy_membrane_reset": stat_record(reset), "seconds_per_generation": stat_record(secs),
                  "wall_minutes": stat_record(wall), "seeds": [r["seed"] for r in runs]}
        if pdlf_numbers:
            cells.insert(len(lead) + 3, f"{pdlf_numbers[kind]:.3f}" if kind in pdlf_numbers else "n/a")
            record["pdlf_accuracy"] = pdlf_numbers.get(kind)
        table.add(cells, record)
    return table


def _budget_section(args) -> list[str]:
    """The report's "Budget" paragraph for ``--budget``."""
    if args.budget == "full":
        plan = science_plan(args.tasks, args.seeds, Path(args.docs) / "runs", Path(args.science_configs))
        cfg = plan[0].config()
        per_gen = (cfg.es.popsize + 1) * 8 * cfg.env.episode_steps
        return [
            "## Budget (equal for every agent): the main runs",
            "",
            f"Per task and seed, the configs of `configs/science/` (settings chosen by the pilots in `docs/pilots/`, "
            f"the same for every agent): PGPE with popsize {cfg.es.popsize} for {cfg.es.generations} generations on "
            f"the 8 training goals, {cfg.env.episode_steps}-step training episodes, one per goal, plus the centre's "
            f"evaluation: {per_gen:,} env steps per generation, {per_gen * cfg.es.generations / 1e6:.1f} M per run "
            f"(PDLF's runs had about 10^10). Centre learning rate {cfg.es.center_lr} (Adam), initial sigma "
            f"{cfg.es.sigma_init}. Agents: the plastic SNN (rule `pdlf`, fast weights from zero every episode), our "
            "direct-weight SNN (rule `none`: the same network, the weights are the genome) and, on halfcheetah_vel, "
            "PDLF's own direct-weight baseline (`pdlf_direct`: its neurons, biases and tanh output). "
            f"Seeds: {args.seeds}. The finished runs (config, metrics, centre and best genomes, last checkpoint) "
            "are in `docs/runs/CONFIG/sSEED`; a run missing there is left out and the seed count says so. "
            f"Evaluations use the distribution's centre, {INJURY_STEPS:,}-step episodes, {args.eval_seeds} env "
            "seeds per goal.",
            "",
        ]
    per_gen = args.popsize + 1
    return [
        "## Budget (equal for both agents)",
        "",
        f"Per task and seed, a plastic SNN (rule `pdlf`: SCP + PDP per synapse, fast weights from zero) and a "
        f"direct-weight SNN (rule `none`: the same {args.hidden}-neuron LIF network, the weights are the genome) are "
        f"trained by PGPE with popsize {args.popsize} for {args.generations} generations on the 8 training goals, "
        f"{args.episode_steps}-step episodes, one episode per goal (plus the centre's evaluation each generation: "
        f"{per_gen} × 8 episodes per generation). Neither task ends episodes early, so both agents get exactly "
        f"the same env steps. PGPE: centre learning rate {args.center_lr} (Adam), initial sigma {args.sigma}, "
        f"sigma learning rate 0.07, at most ±20 % per generation, centred ranks; PDLF used popsize 256, "
        f"sigma 0.04 and thousands of generations, so these runs are about 1/1000 of PDLF's budget and show "
        f"early learning only. Seeds: {args.seeds}. Evaluations use the distribution's centre, "
        f"{args.eval_seeds} env seeds per goal.",
        "",
    ]


def stage_docs(args, command: str, timings: dict[str, float]) -> dict:
    import torch

    docs = Path(args.docs)
    docs.mkdir(parents=True, exist_ok=True)
    training, numbers = _training_table_and_figures(args, docs)
    ablation, assoc_grid = _ablation_table(args), _assoc_grid_table(args)
    goals, goals72, extrapolated = _eval_table(args), _interp72_table(args), _extrapolation_table(args)
    temp, perm = _injury_tables_and_figures(args, docs)
    switching, switching_png = _switch_table_and_figures(args, docs)
    wm, assoc = _memory_table(args, "wm"), _memory_table(args, "assoc")
    pdlf_wm = Table("pdlf_wm", _memory_columns(["L", "D"], pdlf=True))
    for (length, delay), (hybrid, gru) in PDLF_COPY.items():
        _memory_table(args, _pdlf_wm_name(length, delay), {"pdlf-hybrid": hybrid, "pdlf-gru": gru}, table=pdlf_wm,
                      lead={"L": length, "D": delay})
    experiment = l2l_experiment(args)
    l2l = l2l_table(experiment, lambda name: _load(args, name))
    l2l_png = l2l_figure(experiment, lambda name: _load(args, name), docs)
    text = [
        "# Plastic versus direct-weight SNN agents: results on this platform",
        "",
        "Made by `pdlf report`; every number below comes from the runs it made. Regenerate with:",
        "",
        "```bash",
        command,
        "```",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, torch {torch.__version__}.",
        "Throughout, ± is the standard deviation over seeds with ddof = 0 (numpy's default"
        + (f"; over {len(args.seeds)} seeds the sample standard deviation, ddof = 1, is "
           f"{np.sqrt(len(args.seeds) / (len(args.seeds) - 1)):.2f}× larger)." if len(args.seeds) > 1 else ")."),
        "Wall time per stage (its last run): "
        + ", ".join(f"{k} {v / 60:.1f} min" for k, v in timings.items()) + ".",
        "",
        *_budget_section(args),
        "## Training curves",
        "",
        *[f"![training {t}](training_{t}.png)" for t in args.tasks],
        "",
        *training.markdown(),
        "",
        "## Seen versus unseen goals",
        "",
        f"Mean return of the centre over {eval_steps(args):,}-step episodes on the 8 training goals and the "
        "unseen goals of the 12-goal grid (those not on the training grid), mean ± std over seeds; beside them "
        "PDLF's published means over its 8 training goals (spec §6; its direct-weight number is its own "
        "baseline network, our `pdlf_direct`).",
        "",
        *goals.markdown(),
        "",
        "PDLF's 72 unseen goals (`--goals interp72`: `a + (b − a)·i/72`, i = 0…71, `a = g_min + Δ/8`, "
        "`b = g_max − Δ/8`, Δ the goal range; PDLF's figure code), mean return over the goals, mean ± std over seeds:",
        "",
        *goals72.markdown(),
        "",
        "Goals outside the training range (extrapolation; `--goals extrapolate`: g_min − Δ/9, g_min − Δ/18, "
        "g_max + Δ/18, g_max + Δ/9; direction tasks wrap around and have none), beside the return on the "
        "nearest training goal:",
        "",
        *extrapolated.markdown(),
        "",
        "## Temporary injury (PDLF protocol)",
        "",
        "All fast weights erased after each of steps 501–549 (erasure), or all transmission blocked over "
        "the same steps with the weights kept (silencing). The same damage objects are applied to every "
        "agent. Pre-injury: mean reward per step over the 100 steps before the window; last 100 steps: the "
        "same over the episode's last 100, to set against it. Recovery: first step after the window from "
        "which the 20-step moving average stays at or above min + 0.9 (pre − min) for 20 steps (`pdlf "
        "injury` docstring); an agent can come most of the way back without meeting it.",
        "",
        *[f"![temporary injury {t}](injury_temporary_{t}.png)" for t in args.tasks],
        "",
        *temp.markdown(),
        "",
        "## Permanent injury",
        "",
        "A fraction of hidden neurons blocked from the first step (never spike, synapses 0), the same "
        "neurons for every agent; episode return, mean ± std over seeds.",
        "",
        *[f"![permanent injury {t}](injury_permanent_{t}.png)" for t in args.tasks],
        "",
        *perm.markdown(),
        "",
        "## Goal switching within an episode",
        "",
        "One 1,000-step episode per env seed whose goal changes every 250 steps (`pdlf.goal_switching`: "
        "halfcheetah_vel 2.125 → 5.5 → 3.25 → 7.75 m/s; swimmer_dir 0 → π/2 → −π → −π/2 rad, a square; every "
        "goal on the training grid). The env's goal switches too, so the reward follows it. Tracking error: "
        "mean over the second half of each 250-step segment of |v − v*| (m/s) or of the angle between the "
        "heading of the 25-step mean velocity and the target (rad), mean ± std over seeds.",
        "",
        *switching_png,
        "",
        *switching.markdown(),
        "",
        *(["Videos (`pdlf render`, the centre, env seed 0): the goal-switching episode and the erasure of all fast "
           "weights over steps 501–549 on the first training goal, with the goal and the step on each frame:", "",
           *videos, ""] if (videos := _videos_section(args)) else []),
        "## Working memory (copy task, L = 8, D = 16)",
        "",
        f"`configs/copy.yaml` (popsize 256, {args.wm_generations} generations, 32 sequences per generation, "
        "hidden 16 with plastic recurrent weights for the plastic agent), the same budget for both agents. "
        "Membrane reset: membranes, spikes and traces zeroed on every delay step, fast weights kept.",
        "",
        *wm.markdown(),
        "",
        "## PDLF's own working-memory models (copy task)",
        "",
        f"`pdlf wm --model pdlf-hybrid` and `--model pdlf-gru` (`pdlf.wm`: PDLF's plastic LIF 3→128→1 with the "
        f"plain ABCD rule and a tanh readout post, fast weights shared by the 32 sequences of a generation, plus a "
        f"128-unit GRU, 53,505 genes; the GRU alone, 50,945 genes), popsize 256, {args.pdlf_wm_generations} "
        f"generations, 32 sequences per generation, recall window as PDLF's generator, at the (L, D) cells PDLF "
        f"logged. PDLF trained for 12,000 "
        f"generations, so ours are {args.pdlf_wm_generations / 12000:.1%} of its budget. PDLF's plastic 0.883 was "
        "measured without a reset; only its GRU-carrying direct-weight hybrid was reset (75 % → 50 %).",
        "",
        *pdlf_wm.markdown(),
        "",
        "## Associative recall: memory only in the weights (L = 8, D = 16)",
        "",
        f"`configs/assoc.yaml` (popsize 256, {args.assoc_generations} generations, 16 sequences per generation, "
        "32 hidden LIF neurons without recurrence, margin reward, PDLF's rule without its D term), the same budget "
        "and network for the plastic and direct agents, and PDLF's 128-unit GRU (`pdlf-gru`) at the same budget. "
        "Each bit is shown with a one-hot key; recall shows only the keys, in a shuffled order; membranes, "
        "spikes, traces and the GRU state are zeroed on every delay step in training and test, so no activity "
        "survives the delay and a fixed-weight network or a GRU is at chance (0.5) by construction. "
        "Accuracy on 256 held-out sequences.",
        "",
        *assoc.markdown(),
        "",
        "Over the recall length L: each L trained at one delay (3 seeds, the same budget), every centre tested at "
        "other delays, with and without the reset. With the rule's D term gone, a silent delay step changes no "
        "fast weight, so a genome's recall does not depend on the delay's length.",
        "",
        *assoc_grid.markdown(),
        "",
        "## Rule ablation",
        "",
        f"The same search with each rule of the catalogue: `pdlf` (SCP + PDP), `scp` (SCP only: genes η, A, C), "
        f"`pdp` (PDP only: η, B, D), `hebb_abcd` (Najarro & Risi) and `none` (direct weights), and on "
        f"{ABLATION_TASK} also PDLF's own direct-weight baseline (`none_pdlf_neurons`: τ 2, threshold 1, biases, "
        f"tanh output; `configs/halfcheetah_vel_pdlf_direct.yaml`); {ABLATION_TASK} at the "
        + ("locomotion budget above (the `pdlf` and `none` rows are the runs above)" if args.budget == "small" else
           f"small locomotion budget (popsize {args.popsize}, {args.generations} generations, {args.episode_steps}-step "
           "episodes), not the main runs'")
        + f", and the copy task at L = 8, "
        f"D = 16 with {args.wm_generations} generations (`configs/copy.yaml`, the plastic agent's network). PDLF "
        "states that without PDP the networks diverge; a diverged member is one whose actions or env state "
        "became NaN/inf in an episode (it then gets the worst fitness).",
        "",
        *ablation.markdown(),
        "",
        *l2l_section(l2l, l2l_png),
        *gradient_section(docs)[0],
    ]
    discussion = docs / "discussion.md"
    if discussion.is_file():
        text += ["## What this shows", "", discussion.read_text().strip(), ""]
    (docs / "results.md").write_text("\n".join(text))
    tables = (training, goals, goals72, extrapolated, temp, perm, switching, wm, pdlf_wm, assoc, assoc_grid, ablation, l2l)
    results = {"command": command, "rows": [row for t in tables for row in t.records()] + gradient_section(docs)[1]}
    (docs / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    return {f"{t}/{k}": v for (t, k), v in numbers.items()}


SECTIONS = ("l2l", "l2l_grad", "discussion")  # what --sections regenerates in place (discussion: docs/discussion.md)
GRADIENT_HEADING = "## Learning to learn with a gradient inner loop"
GRADIENT_FAMILIES = ("gng_dr4", "gng_dr2")  # DOCS/l2l_gradient/FAMILY/l2l_grad.json, written by `pdlf l2l-grad`


def gradient_section(docs: Path) -> tuple[list[str], list[dict]]:
    """The results.md lines and results.json rows of the gradient inner loop's saved runs
    (`pdlf.l2l_gradient_report`); none where no run is saved."""
    from pdlf.l2l_gradient_report import gradient_l2l_section

    paths = [docs / "l2l_gradient" / f / "l2l_grad.json" for f in GRADIENT_FAMILIES]
    reports = [json.loads(p.read_text()) for p in paths if p.is_file()]
    if not reports:
        return [], []
    lines = [*gradient_l2l_section(reports, heading=GRADIENT_HEADING), "",
             *[f"![gradient inner loop, {r['family']}](l2l_gradient/{r['family']}/l2l_grad.png)" for r in reports], "",
             f"Made by `pdlf l2l-grad` (commands and the optimiser's choice: `l2l_gradient/summary.md`).", ""]
    rows = [{"table": "l2l_grad", "family": r["family"], "problems": r["problems"], "trial_limit": r["trial_limit"],
             "optimizer": r["optimizer"], **{k: v for k, v in seed.items() if k != "trials"}, "done_when": r["done_when"]}
            for r in reports for seed in r["seeds"]]
    return lines, rows


def stage_docs_sections(args, sections: list[str]) -> None:
    """Regenerate ``sections`` of results.md / results.json in place (`pdlf.results_sections`)."""
    from pdlf.results_sections import splice_section, update_sections

    docs = Path(args.docs)
    parts = []
    if "l2l" in sections:
        experiment = l2l_experiment(args)
        table = l2l_table(experiment, lambda name: _load(args, name))
        figure = l2l_figure(experiment, lambda name: _load(args, name), docs)
        parts.append((L2L_HEADING, l2l_section(table, figure), "l2l", table.records()))
    if "l2l_grad" in sections:
        lines, rows = gradient_section(docs)
        if lines:
            parts.append((GRADIENT_HEADING, lines, "l2l_grad", rows))
    update_sections(docs, parts, before="## What this shows")
    discussion = docs / "discussion.md"
    if "discussion" in sections and discussion.is_file():
        md = docs / "results.md"
        md.write_text(splice_section(md.read_text(), "## What this shows",
                                     ["## What this shows", "", discussion.read_text().strip(), ""]))


def reproducing_command(argv: list[str]) -> str:
    """The ``pdlf report`` command line that redoes every stage: ``argv`` without ``--stages``."""
    if argv[:1] != ["report"]:
        return "pdlf report"
    kept, skip = [], False
    for a in argv[1:]:
        if skip:
            skip = False
        elif a == "--stages":
            skip = True
        elif not a.startswith("--stages="):
            kept.append(shlex.quote(a))
    return " ".join(["pdlf", "report", *kept])


def run(args: argparse.Namespace) -> int:
    from pdlf.errors import ConfigError

    if args.stages is None:
        args.stages = ",".join(s for s in STAGES if args.budget == "full" or s != "videos")
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    for s in stages:
        if s not in STAGES:
            raise ConfigError(f"--stages has {s!r}: choose from {', '.join(STAGES)}")
    command = reproducing_command(sys.argv[1:])
    for name, stage in (("train", stage_train), ("eval", stage_eval), ("injury", stage_injury),
                        ("switch", stage_switch), ("videos", stage_videos), ("wm", stage_wm),
                        ("pdlf_wm", stage_pdlf_wm), ("assoc", stage_assoc), ("assoc_grid", stage_assoc_grid),
                        ("ablation", stage_ablation),
                        ("l2l", stage_l2l)):
        if name in stages:
            t0 = time.time()
            stage(args)
            # re-read before writing: stages run in parallel processes each add their own time
            key = f"{name} ({args.budget} budget)" if name in LOCOMOTION_STAGES else name
            _save(args, "timings", {**(_load(args, "timings") or {}), key: time.time() - t0})
    numbers = {}
    sections = [s.strip() for s in (args.sections or "").split(",") if s.strip()]
    for s in sections:
        if s not in SECTIONS:
            raise ConfigError(f"--sections has {s!r}: choose from {', '.join(SECTIONS)}")
    if "docs" in stages and sections:
        stage_docs_sections(args, sections)
    elif "docs" in stages:
        numbers = stage_docs(args, command, _load(args, "timings") or {})
    if args.json:
        print(json.dumps(numbers))
    return 0
