"""The training loop: ask the searcher, evaluate on workers, tell, log, checkpoint.

    trainer = Trainer.create(cfg, run_dir)        # or Trainer.resume(run_dir)
    summary = trainer.run()

Run directory layout::

    RUN_DIR/config.yaml          the resolved config (every default spelled out)
    RUN_DIR/metrics.csv          one row per generation (fitness, per-goal returns, sigma, speed)
    RUN_DIR/tb/                  TensorBoard event files (same metrics)
    RUN_DIR/checkpoints/last.pkl the whole search state; `pdlf train --resume RUN_DIR` continues
    RUN_DIR/best.pt              {"genome", "fitness", "generation"} of the best member so far
    RUN_DIR/center.pt            {"genome", "generation"}: the distribution's centre (reported)

Fitness of a genome = sum over the goals of its mean return over ``env.repeats`` episodes, with
the same goals and env seeds for every member of a generation (common random numbers).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from pdlf.checkpoint import load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from pdlf.config import RunConfig, config_from_dict, save_config
from pdlf.errors import ConfigError, RunDirError
from pdlf.es.evaluator import Evaluator
from pdlf.es.searchers import generation_seed, make_searcher, sanitize_fitness
from pdlf.loggers import CSVLogger, ProgressLogger, TensorBoardLogger
from pdlf.normalizer import ObsNormalizer
from pdlf.plasticity.genome import GenomeLayout
from pdlf.snn.network import network_layers
from pdlf.workers import CENTER, GenerationTask

log = logging.getLogger(__name__)

CHECKPOINT = Path("checkpoints") / "last.pkl"
RESUMABLE_KEYS = ("es.generations", "ray.", "log.progress", "log.tensorboard", "checkpoint.every")


def default_run_name(cfg: RunConfig) -> str:
    return f"{cfg.env.name}__{cfg.rule.name}__s{cfg.es.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file() and (path / CHECKPOINT).is_file()


def env_seeds_for(cfg: RunConfig, generation: int, n_goals: int) -> np.ndarray:
    """``[G, R]`` env seeds of a generation: fresh every generation, shared by all members."""
    rng = np.random.default_rng(generation_seed(cfg.es.seed, generation, purpose=2))
    return rng.integers(0, 2**31 - 1, size=(n_goals, cfg.env.repeats), dtype=np.int64)


class Trainer:
    """Owns a run: its searcher, normaliser, evaluator, loggers and run directory."""

    def __init__(self, cfg: RunConfig, run_dir: Path, state: dict[str, Any] | None = None) -> None:
        from pdlf.envs import get_task

        self.cfg = cfg
        self.run_dir = run_dir
        self.spec = get_task(cfg.env.name)
        self.layout = GenomeLayout(network_layers(self.spec.obs_dim, self.spec.act_dim, cfg.agent), cfg.rule)
        self.goals = np.asarray(cfg.env.goals or self.spec.train_goals(), dtype=np.float64)
        for g in self.goals:
            self.spec.check_goal(g, cfg.env.extrapolate)
        self.searcher = make_searcher(cfg.es, self.layout.initial(), self.layout.bounds())
        self.normalizer = ObsNormalizer(self.spec.obs_dim, self.spec.goal_dim, cfg.env.obs_clip, cfg.env.normalize_obs)
        self.generation = 0
        self.env_steps = 0
        self.best: dict[str, Any] = {"fitness": -float("inf"), "genome": None, "generation": -1}
        if state is not None:
            self._load_state(state)
        self.evaluator: Evaluator | None = None

    # ------------------------------------------------------------------------ construction
    @classmethod
    def create(cls, cfg: RunConfig, run_dir: Path | None = None, force: bool = False) -> "Trainer":
        """A new run in ``run_dir`` (default ``log.root/log.name``); refuses to overwrite results."""
        run_dir = Path(run_dir) if run_dir else Path(cfg.log.root) / (cfg.log.name or default_run_name(cfg))
        if run_dir.exists() and any(run_dir.iterdir()):
            if not force:
                raise RunDirError(
                    f"run directory {run_dir} already has results; use --resume {run_dir} to continue it,"
                    " --force to overwrite it, or another log.name"
                )
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "config.yaml")
        return cls(cfg, run_dir)

    @classmethod
    def resume(cls, run_dir: Path, overrides: list[str] | tuple[str, ...] = ()) -> "Trainer":
        """Continue the run in ``run_dir`` from its last checkpoint (only some keys may change)."""
        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError(f"run directory {run_dir} does not exist; give the directory `pdlf train` made")
        if not is_run_dir(run_dir):
            raise RunDirError(f"{run_dir} is not a pdlf run (no config.yaml and {CHECKPOINT}); give a directory made by `pdlf train`")
        for text in overrides:
            key = text.split("=", 1)[0]
            if not any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS):
                raise ConfigError(f"cannot change {key!r} when resuming; only {', '.join(RESUMABLE_KEYS)} may change")
        state = load_checkpoint(run_dir / CHECKPOINT)
        cfg = config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text()), overrides)
        if overrides:
            save_config(cfg, run_dir / "config.yaml")
        return cls(cfg, run_dir, state)

    def _load_state(self, state: dict[str, Any]) -> None:
        self.searcher.load_state_dict(state["searcher"])
        self.normalizer.load_state_dict(state["normalizer"])
        self.generation = int(state["generation"])
        self.env_steps = int(state["env_steps"])
        self.best = state["best"]
        restore_rng_states(state["rng"])

    def state(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "env_steps": self.env_steps,
            "searcher": self.searcher.state_dict(),
            "normalizer": self.normalizer.state_dict(),
            "best": self.best,
            "config": self.cfg.to_dict(),
            "rng": rng_states(),
        }

    def checkpoint(self) -> None:
        save_checkpoint(self.run_dir / CHECKPOINT, self.state())
        torch.save({"genome": self.searcher.center(), "generation": self.generation}, self.run_dir / "center.pt")
        if self.best["genome"] is not None:
            torch.save(self.best, self.run_dir / "best.pt")

    # --------------------------------------------------------------------------- the loop
    def step(self) -> dict[str, Any]:
        """Run one generation; returns its metrics row."""
        assert self.evaluator is not None
        t0 = time.perf_counter()
        g = self.generation
        population = self.searcher.ask(g)
        task = GenerationTask(
            generation=g,
            population=population,
            center=self.searcher.center() if self.cfg.es.eval_center else None,
            goals=self.goals,
            env_seeds=env_seeds_for(self.cfg, g, len(self.goals)),
            norm=self.normalizer.freeze(),
        )
        members = list(range(population.popsize))
        result = self.evaluator.evaluate(task, members, include_center=self.cfg.es.eval_center)
        per_goal = result.per_goal(members)  # [P, G]
        raw_fitness = torch.as_tensor(per_goal.sum(axis=1))
        fitness, n_diverged = sanitize_fitness(raw_fitness)
        self.searcher.tell(population, fitness)
        if result.obs_stats is not None:
            self.normalizer.update(result.obs_stats)
        best_idx = int(torch.argmax(fitness))
        if n_diverged < len(members) and float(fitness[best_idx]) > self.best["fitness"]:
            self.best = {
                "fitness": float(fitness[best_idx]),
                "genome": population.genomes([best_idx])[0].clone(),
                "generation": g,
                "per_goal": per_goal[best_idx].tolist(),
            }
        self.env_steps += result.env_steps
        seconds = time.perf_counter() - t0
        finite = fitness[torch.isfinite(raw_fitness)] if n_diverged < len(members) else fitness
        row: dict[str, Any] = {
            "generation": g,
            "env_steps": self.env_steps,
            "fitness/best": float(finite.max()),
            "fitness/mean": float(finite.mean()),
            "fitness/min": float(finite.min()),
            "fitness/best_ever": self.best["fitness"],
        }
        if CENTER in result.returns:
            center_goal = result.returns[CENTER].mean(axis=1)
            row["fitness/center"] = float(center_goal.sum())
            for k, v in enumerate(center_goal):
                row[f"goal/{k}"] = float(v)
        for k, v in enumerate(per_goal.mean(axis=0)):
            row[f"goal_pop_mean/{k}"] = float(v)
        row.update({f"es/{k}": v for k, v in self.searcher.stats().items()})
        row.update(
            {
                "health/diverged": n_diverged,
                "health/retries": result.retries,
                "health/workers_alive": result.workers_alive,
                "perf/seconds": seconds,
                "perf/env_steps_per_s": result.env_steps / max(seconds, 1e-9),
            }
        )
        if n_diverged:
            log.warning("generation %d: %d members diverged (NaN/inf) and got the worst fitness", g, n_diverged)
        self.generation += 1
        return row

    def run(self, generations: int | None = None) -> dict[str, Any]:
        """Run until ``es.generations`` (or ``generations`` more); returns a summary."""
        end = self.cfg.es.generations if generations is None else self.generation + generations
        resumed = self.generation > 0
        loggers: list = [CSVLogger(self.run_dir / "metrics.csv", resume_from=self.generation if resumed else None)]
        if self.cfg.log.tensorboard:
            loggers.append(TensorBoardLogger(self.run_dir / "tb", purge_step=self.generation if resumed else None,
                                             config_text=yaml.safe_dump(self.cfg.to_dict(), sort_keys=False)))
        if self.cfg.log.progress:
            loggers.append(ProgressLogger(total=end, initial=self.generation))
        self.evaluator = Evaluator(self.cfg)
        t0 = time.perf_counter()
        steps0 = self.env_steps
        last: dict[str, Any] = {}
        try:
            while self.generation < end:
                last = self.step()
                for lg in loggers:
                    lg.log(last)
                every = self.cfg.checkpoint.every
                if every and self.generation % every == 0 and self.generation < end:
                    self.checkpoint()
            self.checkpoint()
            rss = self.evaluator.worker_rss_mib()
        finally:
            for lg in loggers:
                lg.close()
            self.evaluator.close()
            self.evaluator = None
        seconds = time.perf_counter() - t0
        return {
            "run_dir": str(self.run_dir),
            "generations": self.generation,
            "env_steps": self.env_steps,
            "best_fitness": self.best["fitness"],
            "center_fitness": last.get("fitness/center"),
            "env_steps_per_s": (self.env_steps - steps0) / max(seconds, 1e-9),
            "seconds": seconds,
            "worker_rss_mib": rss,
        }
