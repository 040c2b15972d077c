"""The training loop: ask the searcher, score the generation, tell, log, checkpoint.

    trainer = Trainer.create(cfg, run_dir)        # or Trainer.resume(run_dir)
    summary = trainer.run()

One generation, step by step (each step one function):

    population = searcher.ask(g)                                   # pdlf.es.searchers
    scored     = generation_fitness(evaluator, cfg, population, ...)  # pdlf.es.generation
        -> evaluator.evaluate(task, members)                       # pdlf.es.evaluator: slices to workers
        -> RolloutEngine.evaluate(task, slice)                     # pdlf.workers: genomes, envs
        -> rollout(agent, env, genomes, goals, seeds)              # pdlf.rollout: the one time loop
    searcher.tell(population, scored.fitness)
    loggers.log(metrics_row(...)); checkpoint()

Run directory layout::

    RUN_DIR/config.yaml          the resolved config (every default spelled out)
    RUN_DIR/metrics.csv          one row per generation (fitness, per-goal returns, sigma, speed)
    RUN_DIR/tb/                  TensorBoard event files (same metrics)
    RUN_DIR/checkpoints/last.pkl the whole search state; `pdlf train --resume RUN_DIR` continues
    RUN_DIR/best.pt              {"genome", "fitness", "generation"} of the best member so far
    RUN_DIR/center.pt            {"genome", "generation"}: the distribution's centre (reported)

Ctrl-C or SIGTERM stops cleanly: the current generation finishes (a second signal abandons it),
the checkpoint is written, the workers and a Ray this trainer started are shut down, and the
summary says how to resume; the resumed run's metrics equal an uninterrupted run's.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from pdlf.checkpoint import load_checkpoint, restore_rng_states, rng_states, save_checkpoint
from pdlf.config import RunConfig, config_from_dict, save_config
from pdlf.errors import ClusterError, ConfigError
from pdlf.es.evaluator import Evaluator
from pdlf.es.generation import GenerationFitness, generation_fitness, new_normalizer, training_goals
from pdlf.es.searchers import Population, make_searcher
from pdlf.interrupts import StopSignals
from pdlf.loggers import CSVLogger, ProgressLogger, TensorBoardLogger
from pdlf.outputs import prepare_output_dir
from pdlf.runs import CHECKPOINT, check_run_dir
from pdlf.snn.network import task_layout

log = logging.getLogger(__name__)

RUN_OUTPUTS = ("metrics.csv", "tb", "checkpoints", "best.pt", "center.pt")  # what a run writes besides config.yaml
RESUMABLE_KEYS = ("es.generations", "ray.", "log.progress", "log.tensorboard", "checkpoint.every")


def is_resumable(key: str) -> bool:
    """Whether the dotted config ``key`` may change when a run is resumed (`RESUMABLE_KEYS`)."""
    return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)


def _flat(cfg: RunConfig) -> dict[str, Any]:
    """``{"section.key": value}`` of the resolved config."""
    return {f"{section}.{k}": v for section, values in cfg.to_dict().items() for k, v in values.items()}


def default_run_name(cfg: RunConfig) -> str:
    return f"{cfg.env.name}__{cfg.rule.name}__s{cfg.es.seed}__{time.strftime('%Y%m%d-%H%M%S')}"


def metrics_row(scored: GenerationFitness, env_steps: int, best_ever: float, searcher_stats: dict[str, float],
                seconds: float) -> dict[str, Any]:
    """One metrics.csv / TensorBoard row for a scored generation (see the README for the keys)."""
    finite = scored.finite
    result = scored.result
    row: dict[str, Any] = {
        "generation": scored.generation,
        "env_steps": env_steps,
        "fitness/best": float(finite.max()),
        "fitness/mean": float(finite.mean()),
        "fitness/min": float(finite.min()),
        "fitness/best_ever": best_ever,
    }
    if scored.center_per_goal is not None:
        row["fitness/center"] = float(scored.center_per_goal.sum())
        for k, v in enumerate(scored.center_per_goal):
            row[f"goal/{k}"] = float(v)
    for k, v in enumerate(scored.per_goal.mean(axis=0)):
        row[f"goal_pop_mean/{k}"] = float(v)
    if scored.parts is not None:  # env.mirror_pairs: how much of the spread is learning
        row["fitness/learning_var"] = scored.parts.learning_var
        row["fitness/bias_var"] = scored.parts.bias_var
        row["fitness/learning_share"] = scored.parts.learning_share
    row.update({f"es/{k}": v for k, v in searcher_stats.items()})
    row.update(
        {
            "health/diverged": scored.n_diverged,
            "health/retries": result.retries,
            "health/workers_alive": result.workers_alive,
            "perf/seconds": seconds,
            "perf/env_steps_per_s": result.env_steps / max(seconds, 1e-9),
        }
    )
    return row


class Trainer:
    """Owns a run: its searcher, normaliser, evaluator, loggers and run directory."""

    def __init__(self, cfg: RunConfig, run_dir: Path, state: dict[str, Any] | None = None) -> None:
        from pdlf.envs import get_task

        self.cfg = cfg
        self.run_dir = run_dir
        self.spec = get_task(cfg.env.name)
        self.layout = task_layout(self.spec, cfg.agent, cfg.rule)
        self.goals = training_goals(cfg)
        self.searcher = make_searcher(cfg.es, self.layout.initial(), self.layout.bounds())
        self.normalizer = new_normalizer(cfg)
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
        # a directory holding only config.yaml (a start that failed to reach its workers, or failed
        # before its first generation was logged) is reused
        prepare_output_dir(run_dir, RUN_OUTPUTS, force, advice=f"use --resume {run_dir} to continue it, or another log.name")
        save_config(cfg, run_dir / "config.yaml")
        return cls(cfg, run_dir)

    @classmethod
    def resume(cls, run_dir: Path, overrides: list[str] | tuple[str, ...] = ()) -> "Trainer":
        """Continue the run in ``run_dir`` from its last checkpoint (only some keys may change)."""
        run_dir = check_run_dir(run_dir)
        stored = yaml.safe_load((run_dir / "config.yaml").read_text())
        as_stored = config_from_dict(stored).to_dict()
        for text in overrides:
            key = text.split("=", 1)[0]
            # any key may be repeated with the value the run already has (a job script's fixed overrides)
            if not is_resumable(key) and config_from_dict(stored, [text]).to_dict() != as_stored:
                raise ConfigError(f"cannot change {key!r} when resuming; only {', '.join(RESUMABLE_KEYS)} may change")
        state = load_checkpoint(run_dir / CHECKPOINT)
        cfg = config_from_dict(stored, overrides)
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
        """Everything needed to continue exactly: fresh copies of plain tensors, arrays and numbers."""
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
        assert self.evaluator is not None, "call run(), or set trainer.evaluator, before step()"
        t0 = time.perf_counter()
        population = self.searcher.ask(self.generation)
        center = self.searcher.center() if self.cfg.es.eval_center else None
        scored = generation_fitness(self.evaluator, self.cfg, population, self.goals, self.normalizer, center)
        self.searcher.tell(population, scored.fitness)
        self._track_best(population, scored)
        self.env_steps += scored.env_steps
        self.generation += 1
        if scored.n_diverged:
            log.warning("generation %d: %d members diverged (NaN/inf) and got the worst fitness",
                        scored.generation, scored.n_diverged)
        return metrics_row(scored, self.env_steps, self.best["fitness"], self.searcher.stats(),
                           time.perf_counter() - t0)

    def _track_best(self, population: Population, scored: GenerationFitness) -> None:
        """Keep the best member seen so far (never a diverged one)."""
        if scored.n_diverged == population.popsize:
            return
        i = int(torch.argmax(scored.fitness))
        if float(scored.fitness[i]) > self.best["fitness"]:
            self.best = {
                "fitness": float(scored.fitness[i]),
                "genome": population.genomes([i])[0].clone(),
                "generation": scored.generation,
                "per_goal": scored.per_goal[i].tolist(),
            }

    def _loggers(self, end: int) -> list:
        resumed = self.generation > 0
        loggers: list = [CSVLogger(self.run_dir / "metrics.csv", resume_from=self.generation if resumed else None)]
        if self.cfg.log.tensorboard:
            loggers.append(TensorBoardLogger(self.run_dir / "tb", purge_step=self.generation if resumed else None,
                                             config_text=yaml.safe_dump(self.cfg.to_dict(), sort_keys=False)))
        if self.cfg.log.progress:
            loggers.append(ProgressLogger(total=end, initial=self.generation))
        return loggers

    def run(self, generations: int | None = None) -> dict[str, Any]:
        """Run until ``es.generations`` (or ``generations`` more); returns a summary.

        The summary's ``interrupted`` is the signal that stopped the run early (None if it ran
        to the end); ``resume`` is the command that continues it.
        """
        end = self.cfg.es.generations if generations is None else self.generation + generations
        loggers: list = []
        t0 = time.perf_counter()
        steps0 = self.env_steps
        last: dict[str, Any] = {}
        rss: list[float] = []
        stop = StopSignals()
        try:
            self.evaluator = Evaluator(self.cfg)  # connects first: a bad address fails before any output
            loggers = self._loggers(end)
            # installed after Ray starts: Ray replaces SIGTERM's handler with one that aborts
            with stop:
                while self.generation < end and not stop.requested:
                    finished = self.state()  # copies: what an abandoned generation falls back to
                    try:
                        last = self.step()
                    except KeyboardInterrupt:
                        self._load_state(finished)
                        stop.requested = stop.requested or "SIGINT"
                        log.warning("generation %d abandoned; keeping the state after generation %d",
                                    self.generation, self.generation - 1)
                        break
                    except ClusterError:
                        # a job-wide SIGTERM (SLURM pre-emption) can take the Ray cluster down while
                        # this generation runs: keep every finished one rather than fail the run
                        if not stop.requested:
                            raise
                        self._load_state(finished)
                        log.warning("generation %d lost with the Ray cluster after %s; keeping the state after "
                                    "generation %d", self.generation, stop.requested, self.generation - 1)
                        break
                    for lg in loggers:
                        lg.log(last)
                    every = self.cfg.checkpoint.every
                    if every and self.generation % every == 0 and self.generation < end:
                        self.checkpoint()
                self.checkpoint()
            rss = self.evaluator.worker_rss_mib() if not stop.requested else []
        finally:
            for lg in loggers:
                lg.close()
            if self.evaluator is not None:
                self.evaluator.close()  # also shuts down a Ray it started
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
            "interrupted": stop.requested,
            "resume": f"pdlf train --resume {self.run_dir}" if self.generation < end else None,
        }


def train_or_reuse(cfg: RunConfig, run_dir: str | Path, replace: bool = False) -> dict[str, Any] | None:
    """Bring the run of ``cfg`` in ``run_dir`` to ``cfg.es.generations`` generations.

    A run there of the same resolved config, the keys that may change on resume aside
    (`RESUMABLE_KEYS`: the budget, Ray, logging), is resumed from its checkpoint with ``cfg``'s
    values of those keys (so raising the budget extends it), or left as it is when it has all its
    generations (then None is returned); with no run there a new one starts. Anything else in
    ``run_dir`` (a run of another config) is an error, or, with ``replace``, removed for a new run.
    A run with more generations than asked is an error (its later generations would be
    mislabelled), never replaced. Returns the summary of `Trainer.run` (its ``interrupted`` set when
    a signal stopped it: the caller should stop too; the next call resumes).
    """
    run_dir = Path(run_dir)
    wanted = _flat(cfg)
    try:
        stored = _flat(config_from_dict(yaml.safe_load((run_dir / "config.yaml").read_text())))
        same = ({k: v for k, v in stored.items() if not is_resumable(k)}
                == {k: v for k, v in wanted.items() if not is_resumable(k)}) and (run_dir / CHECKPOINT).is_file()
    except (OSError, ValueError, TypeError, KeyError, AttributeError, ConfigError, yaml.YAMLError):
        same = False
    if not same:
        if run_dir.is_dir() and any(run_dir.iterdir()) and not replace:
            raise ConfigError(f"{run_dir} holds a run of another config; use another directory, or replace it (--force)")
        return Trainer.create(cfg, run_dir, force=replace and run_dir.exists()).run()
    done = int(load_checkpoint(run_dir / CHECKPOINT)["generation"])
    if done > cfg.es.generations:
        raise ConfigError(f"{run_dir} has {done} generations, more than es.generations={cfg.es.generations}; "
                          f"ask for at least {done} or use another run directory")
    if done == cfg.es.generations:
        return None
    # JSON is YAML: the override parser reads every value back as it was
    overrides = [f"{k}={json.dumps(v)}" for k, v in wanted.items() if is_resumable(k) and stored.get(k) != v]
    return Trainer.resume(run_dir, overrides).run()
