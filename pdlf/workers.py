"""Rollout workers: one batched agent population and one batched env per process.

The driver sends each worker a `Slice` of a generation, ``(generation, slice_id, members)``, and
a reference to the generation's shared `GenerationTask` (one ``ray.put`` per generation: the
search distribution and seed, or the population matrix, the goals, the env seeds and the frozen
normaliser). The worker rebuilds its members' genomes itself and returns per-goal returns keyed
by ``(generation, slice_id)``.

`RolloutEngine` does the work and runs in any process (``ray.workers: 0`` uses it in the driver);
`RolloutWorker` is its Ray actor shell. `init_ray` starts or joins Ray on loopback only.
"""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass

import numpy as np
import torch

from pdlf.config import RunConfig, config_from_dict
from pdlf.es.searchers import Population
from pdlf.normalizer import FrozenNorm, ObsStats
from pdlf.rollout import rollout
from pdlf.snn.network import PlasticSNN

CENTER = -1  # member id of the distribution's centre


@dataclass(frozen=True)
class GenerationTask:
    """What every slice of one generation shares (sent once per generation).

    Attributes:
        generation: generation index.
        population: recipe of the members' genomes (`GaussianPopulation` or `ExplicitPopulation`).
        center: the centre genome ``[L]`` (member id ``CENTER``), or None.
        goals: ``[G]`` goals every member is scored on.
        env_seeds: ``[G, R]`` env seeds (common to all members: common random numbers).
        norm: frozen observation normaliser, or None.
    """

    generation: int
    population: Population | None
    center: torch.Tensor | None
    goals: np.ndarray
    env_seeds: np.ndarray
    norm: FrozenNorm | None


@dataclass(frozen=True)
class Slice:
    """A share of a generation's members; ``slice_id`` names it within the generation."""

    generation: int
    slice_id: int
    members: tuple[int, ...]


@dataclass
class SliceResult:
    """Returns ``[M, G, R]`` of a slice's members (NaN where diverged) and what it cost."""

    generation: int
    slice_id: int
    members: tuple[int, ...]
    returns: np.ndarray
    diverged: np.ndarray
    env_steps: int
    obs_stats: ObsStats | None
    seconds: float
    pid: int


class RolloutEngine:
    """Evaluates slices: builds genomes, steps agents × envs with `rollout`, gathers returns."""

    def __init__(self, cfg: RunConfig) -> None:
        from pdlf.envs import get_task, make_batched

        self.cfg = cfg
        self.spec = get_task(cfg.env.name)
        self._make_batched = make_batched
        agent_cfg = cfg.agent
        self.agent = PlasticSNN(self.spec.obs_dim, self.spec.act_dim, agent_cfg, cfg.rule)
        self._envs: dict[int, object] = {}

    def _env(self, batch: int):
        if batch not in self._envs:
            steps = self.cfg.env.episode_steps or None
            self._envs[batch] = self._make_batched(self.spec.name, batch, max_steps=steps, extrapolate=self.cfg.env.extrapolate)
        return self._envs[batch]

    def genomes(self, task: GenerationTask, members: tuple[int, ...]) -> torch.Tensor:
        rows = []
        pop_ids = [m for m in members if m != CENTER]
        pop_genomes = task.population.genomes(pop_ids) if pop_ids else None
        k = 0
        for m in members:
            if m == CENTER:
                rows.append(task.center.to(torch.float32))
            else:
                rows.append(pop_genomes[k])
                k += 1
        return torch.stack(rows)

    def evaluate(self, task: GenerationTask, slc: Slice, collect_stats: bool = True) -> SliceResult:
        t0 = time.perf_counter()
        genomes = self.genomes(task, slc.members)  # [M, L]
        m, (g, r) = len(slc.members), task.env_seeds.shape
        # rollout order: member-major, then goal, then repeat
        member_idx = np.repeat(np.arange(m), g * r)
        goals = np.tile(np.repeat(task.goals, r), m)
        seeds = np.tile(task.env_seeds.reshape(-1), m)
        total = m * g * r
        center_row = slc.members.index(CENTER) if CENTER in slc.members else -1
        returns = np.empty(total)
        diverged = np.zeros(total, dtype=bool)
        stats = None
        env_steps = 0
        chunk = max(1, int(self.cfg.ray.max_batch))
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            # the normaliser learns from the population's observations only, not the centre's
            stats_rows = member_idx[start:stop] != center_row if collect_stats and task.norm is not None else False
            res = rollout(
                self.agent,
                self._env(stop - start),
                genomes[member_idx[start:stop]],
                goals[start:stop],
                seeds[start:stop],
                agent_seeds=seeds[start:stop],
                norm=task.norm,
                collect_stats=stats_rows,
            )
            returns[start:stop] = res.returns
            diverged[start:stop] = res.diverged
            env_steps += res.env_steps
            if res.obs_stats is not None:
                stats = res.obs_stats if stats is None else stats.merged(res.obs_stats)
        return SliceResult(
            generation=slc.generation,
            slice_id=slc.slice_id,
            members=slc.members,
            returns=returns.reshape(m, g, r),
            diverged=diverged.reshape(m, g * r).any(axis=1),
            env_steps=env_steps,
            obs_stats=stats,
            seconds=time.perf_counter() - t0,
            pid=os.getpid(),
        )


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class RolloutWorker:
    """Ray actor shell around a `RolloutEngine` (one thread of torch per worker)."""

    def __init__(self, cfg_dict: dict) -> None:
        torch.set_num_threads(1)
        self.engine = RolloutEngine(config_from_dict(cfg_dict))

    def evaluate(self, task: GenerationTask, slc: Slice) -> SliceResult:
        return self.engine.evaluate(task, slc)

    def pid(self) -> int:
        return os.getpid()

    def rss_mib(self) -> float:
        return peak_rss_mib()


def init_ray(address: str = "", num_cpus: int | None = None) -> None:
    """Start a local Ray bound to 127.0.0.1 (``address`` empty) or join the cluster at ``address``.

    Sets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before importing Ray, so a local Ray listens on
    loopback only; no dashboard. Does nothing if Ray is already initialised in this process.
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return
    if address:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    else:
        # address="local" always starts a new Ray: never join another process's cluster by accident
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)


def remote_worker_class(cpus: float, gpus: float):
    """`RolloutWorker` as a restartable Ray actor class with the given resources."""
    import ray

    return ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=0)(RolloutWorker)
