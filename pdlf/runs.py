"""Reading a finished (or running) training run back: config, genomes, normaliser.

    run = load_run("runs/halfcheetah_vel__pdlf__s0__...")
    run.cfg, run.spec, run.genome("best"), run.genome("center"), run.norm

Every runner that takes a RUN_DIR (eval, injury, analysis) starts here, so a directory that does
not exist or is not a pdlf run fails the same way everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import yaml

from pdlf.checkpoint import load_checkpoint
from pdlf.config import RunConfig, config_from_dict
from pdlf.errors import RunDirError
from pdlf.normalizer import FrozenNorm, ObsNormalizer

CHECKPOINT = Path("checkpoints") / "last.pkl"
GENOME_KINDS = ("best", "center")
DEVICE_HELP = ("where to run the agents, and the physics of an env.backend=mjwarp run: cpu, cuda or cuda:N"
               " (default: the run's own agent.device and env.device)")


@dataclass
class LoadedRun:
    """A run directory's contents. ``norm`` is the normaliser as of the last checkpoint."""

    run_dir: Path
    cfg: RunConfig
    state: dict
    norm: FrozenNorm | None

    @property
    def spec(self):
        from pdlf.envs import get_task

        return get_task(self.cfg.env.name)

    @property
    def kind(self) -> str:
        """``plastic`` or ``direct`` (rule ``none``)."""
        return "direct" if self.cfg.rule.families() == {"none"} else "plastic"

    @property
    def label(self) -> str:
        """``kind (directory name)``: how reports and figure legends name the run."""
        return f"{self.kind} ({self.run_dir.name})"

    def train_goals(self) -> np.ndarray:
        """``[G]`` float64: the goals the run was trained on (``env.goals``, else the task's grid)."""
        return np.asarray(self.cfg.env.goals or self.spec.train_goals(), dtype=np.float64)

    def genome(self, which: str = "center") -> torch.Tensor:
        """The ``best`` member so far or the distribution's ``center``, ``[L]`` float32."""
        if which == "best":
            g = self.state["best"].get("genome")
            if g is None:
                raise RunDirError(f"run {self.run_dir} has no best genome yet; use the centre (--genome center)")
            return torch.as_tensor(g, dtype=torch.float32)
        if which == "center":
            from pdlf.es.searchers import make_searcher
            from pdlf.snn.network import task_layout

            layout = task_layout(self.spec, self.cfg.agent, self.cfg.rule)
            searcher = make_searcher(self.cfg.es, layout.initial(), layout.bounds())
            searcher.load_state_dict(self.state["searcher"])
            return searcher.center().to(torch.float32)
        raise RunDirError(f"unknown genome {which!r}: choose one of {', '.join(GENOME_KINDS)}")


def is_run_dir(path: str | Path) -> bool:
    """True if ``path`` holds a pdlf run: ``config.yaml`` and a checkpoint."""
    path = Path(path)
    return (path / "config.yaml").is_file() and (path / CHECKPOINT).is_file()


def check_run_dir(run_dir: str | Path) -> Path:
    """``run_dir`` as a `Path`; raises `RunDirError` (one line) if it is missing or not a pdlf run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunDirError(f"run directory {run_dir} does not exist; give a directory made by `pdlf train`")
    if not is_run_dir(run_dir):
        raise RunDirError(
            f"{run_dir} is not a pdlf run (it needs config.yaml and {CHECKPOINT}); give a directory made by `pdlf train`"
        )
    return run_dir


def load_run(run_dir: str | Path, device: str | None = None) -> LoadedRun:
    """Load ``run_dir``; raises `RunDirError` if it is missing or not a pdlf run.

    ``device`` (None: the run's own) moves what the run's config places on a device: see
    `placed_on`. A run trained on a GPU is evaluated on a CPU-only machine with ``device="cpu"``.
    """
    run_dir = check_run_dir(run_dir)
    cfg = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()))
    if device is not None:
        cfg = placed_on(cfg, device)
    state = load_checkpoint(run_dir / CHECKPOINT)
    from pdlf.envs import get_task

    spec = get_task(cfg.env.name)
    normalizer = ObsNormalizer(spec.obs_dim, spec.goal_dim, cfg.env.obs_clip, cfg.env.normalize_obs)
    normalizer.load_state_dict(state["normalizer"])
    return LoadedRun(run_dir, cfg, state, normalizer.freeze())


def placed_on(cfg: RunConfig, device: str) -> RunConfig:
    """``cfg`` with its agents on ``device`` (``cpu``, ``cuda``, ``cuda:N``), and its physics too
    where the backend is MuJoCo Warp (C MuJoCo stays on the CPU). What a genome earns does not
    depend on the device beyond float rounding, so evaluation may run anywhere; `ConfigError` for
    a malformed name."""
    env_device = device if cfg.env.backend == "mjwarp" else "cpu"
    return replace(cfg, env=replace(cfg.env, device=env_device), agent=replace(cfg.agent, device=device)).validate()
