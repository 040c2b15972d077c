"""Which locomotion runs `pdlf report` compares, at which budget, and where each one lives.

Two budgets:

- ``small``: the report's own short runs (``--popsize``, ``--generations``, ``--episode-steps``),
  a plastic and a direct-weight agent per task and seed, trained in ``--root``. CI uses it.
- ``full``: the main runs of ``configs/science/`` (≥ 50 M env steps each; settings chosen by the
  pilots in ``docs/pilots/``): per task the plastic agent (``TASK.yaml``), our direct-weight
  baseline (``TASK_direct.yaml``) and, where its config exists, PDLF's own direct-weight baseline
  (``TASK_pdlf_direct.yaml``). A finished run is *exported* to ``DOCS/runs/CONFIG/sSEED``
  (`export_run`: its config, metrics, centre and best genomes and last checkpoint, no TensorBoard
  files), which is committed, so the report can be regenerated from them on any machine; the runs
  are trained (or resumed) in ``SCIENCE_ROOT/CONFIG/sSEED`` first when their export is missing.

    plan = science_plan(["halfcheetah_vel"], [0, 1, 2], Path("docs/runs"))
    for run in plan: ensure_science_run(run, Path("runs/science"))
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from pdlf.checkpoint import load_checkpoint
from pdlf.config import RunConfig, load_config
from pdlf.errors import ConfigError
from pdlf.runs import CHECKPOINT

BUDGETS = ("small", "full")
SCIENCE_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "science"
# agent kind -> suffix of its config file in configs/science/ (after the task name)
SCIENCE_KINDS = {"plastic": "", "direct": "_direct", "pdlf_direct": "_pdlf_direct"}
# the files of a run that make it loadable (`pdlf.runs.load_run`) and reportable
EXPORTED = ("config.yaml", "metrics.csv", "center.pt", "best.pt", CHECKPOINT)


@dataclass(frozen=True)
class ScienceRun:
    """One main run: task, agent kind, search seed, its config file and its exported directory."""

    task: str
    kind: str
    seed: int
    config_path: Path
    export_dir: Path

    @property
    def name(self) -> str:
        """``CONFIG_STEM/sSEED``: the run's path below the export and training roots."""
        return f"{self.config_path.stem}/s{self.seed}"

    def config(self) -> RunConfig:
        return load_config(self.config_path, [f"es.seed={self.seed}", "log.progress=false"])


def science_kinds(task: str, configs: Path = SCIENCE_CONFIGS) -> list[str]:
    """The agent kinds with a config for ``task`` in ``configs`` (in `SCIENCE_KINDS` order)."""
    kinds = [k for k, suffix in SCIENCE_KINDS.items() if (configs / f"{task}{suffix}.yaml").is_file()]
    if not kinds:
        have = sorted(p.stem for p in configs.glob("*.yaml") if not p.stem.endswith("_direct"))
        raise ConfigError(f"no full-budget config for task {task!r} in {configs} (there: {', '.join(have) or 'none'}); "
                          f"use --budget small, or add {task}.yaml and {task}_direct.yaml there")
    return kinds


def export_dir(export_root: Path, task: str, kind: str, seed: int) -> Path:
    """``EXPORT_ROOT/CONFIG_STEM/sSEED``: where the full-budget run of (task, kind, seed) is kept."""
    return Path(export_root) / f"{task}{SCIENCE_KINDS[kind]}" / f"s{seed}"


def science_plan(tasks: Sequence[str], seeds: Sequence[int], export_root: Path,
                 configs: Path = SCIENCE_CONFIGS) -> list[ScienceRun]:
    """Every (task, kind, seed) run of the full budget, in task, kind, seed order."""
    return [ScienceRun(task, kind, seed, configs / f"{task}{SCIENCE_KINDS[kind]}.yaml",
                       export_dir(export_root, task, kind, seed))
            for task in tasks for kind in science_kinds(task, configs) for seed in seeds]


def finished_generations(run_dir: Path) -> int:
    """Generations in ``run_dir``'s last checkpoint (0 without one)."""
    path = Path(run_dir) / CHECKPOINT
    return int(load_checkpoint(path)["generation"]) if path.is_file() else 0


def is_exported(run: ScienceRun) -> bool:
    """True when ``run.export_dir`` holds every exported file and all the config's generations."""
    if not all((run.export_dir / f).is_file() for f in EXPORTED):
        return False
    return finished_generations(run.export_dir) >= run.config().es.generations


def export_run(run_dir: Path, dest: Path) -> Path:
    """Copy the `EXPORTED` files of the finished run ``run_dir`` to ``dest`` (made if missing;
    files there are replaced). Returns ``dest``."""
    missing = [f for f in EXPORTED if not (Path(run_dir) / f).is_file()]
    if missing:
        raise ConfigError(f"run {run_dir} lacks {', '.join(missing)}: it is not a finished pdlf run")
    for f in EXPORTED:
        (dest / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(Path(run_dir) / f, dest / f)
    return dest


def ensure_science_run(run: ScienceRun, science_root: Path) -> dict | None:
    """Make ``run``'s export exist: reuse it, or train (resume) the run in
    ``science_root/CONFIG/sSEED`` through `pdlf.es.trainer.train_or_reuse` and export it.

    Returns the training summary (None when nothing was trained); a summary with ``interrupted``
    set means a signal stopped the run: it is not exported, and the next call resumes it.
    """
    if is_exported(run):
        return None
    from pdlf.es.trainer import train_or_reuse

    work = Path(science_root) / run.name
    summary = train_or_reuse(run.config(), work)
    if summary is not None and summary.get("interrupted"):
        return summary
    export_run(work, run.export_dir)
    return summary
