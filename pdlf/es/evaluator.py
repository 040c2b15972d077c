"""Fans a generation out to rollout workers and gathers per-goal returns, surviving dead workers.

Members are cut into a fixed number of slices (one per configured worker), so results do not
depend on which worker ran which slice, nor on retries: a run with a fixed seed and worker count
gives the same numbers. Each result is keyed by ``(generation, slice_id)``; a late or repeated
result for a slice already counted is dropped. A slice whose worker died (a killed process, a
lost node) is re-run on a worker that is alive, up to ``ray.max_retries`` times per slice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pdlf.config import RunConfig
from pdlf.normalizer import ObsStats
from pdlf.workers import CENTER, GenerationTask, RolloutEngine, Slice, SliceResult, init_ray, remote_worker_class

log = logging.getLogger(__name__)

PING_TIMEOUT_S = 10.0  # an actor that does not answer a ping within this is skipped for a generation


@dataclass
class GenerationResult:
    """Returns of every requested member: ``returns[member] -> [G, R]`` (NaN where diverged)."""

    returns: dict[int, np.ndarray]
    diverged: dict[int, bool]
    env_steps: int
    obs_stats: ObsStats | None
    retries: int
    workers_alive: int
    seconds_per_slice: list[float]

    def per_goal(self, members: list[int]) -> np.ndarray:
        """``[N, G]`` mean return over repeats per goal of ``members`` (NaN where diverged).

        A genome's fitness is the sum of its row (spec §4).
        """
        return np.stack([self.returns[m].mean(axis=1) for m in members])


def split_members(members: list[int], n_slices: int) -> list[tuple[int, ...]]:
    """Contiguous, near-equal shares of ``members`` (empty shares dropped)."""
    parts = np.array_split(np.asarray(members, dtype=np.int64), max(1, n_slices))
    return [tuple(int(m) for m in p) for p in parts if len(p)]


class Evaluator:
    """Evaluates generations in-process (``ray.workers: 0``) or on a pool of Ray actors."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg
        self.n_slices = max(1, cfg.ray.workers)
        self.total_retries = 0
        self._engine: RolloutEngine | None = None
        self._actors: list = []
        self._suspect: dict[int, object] = {}  # actor index -> pending ping ref
        if cfg.ray.workers == 0:
            self._engine = RolloutEngine(cfg)
        else:
            init_ray(cfg.ray.address, num_cpus=None)
            cls = remote_worker_class(cfg.ray.cpus_per_worker, cfg.ray.gpus_per_worker)
            cfg_dict = cfg.to_dict()
            self._actors = [cls.remote(cfg_dict) for _ in range(cfg.ray.workers)]
            import ray

            ray.get([a.pid.remote() for a in self._actors])  # wait until every worker has started

    # ---------------------------------------------------------------------------- public
    def evaluate(self, task: GenerationTask, members: list[int], include_center: bool = False) -> GenerationResult:
        shares = split_members(members, self.n_slices)
        if include_center:  # ride with the smallest share: a slice of its own would step a tiny batch
            shares[-1] = shares[-1] + (CENTER,)
        slices = [Slice(task.generation, i, ms) for i, ms in enumerate(shares)]
        if self._engine is not None:
            results = {s.slice_id: self._engine.evaluate(task, s) for s in slices}
            retries = 0
        else:
            results, retries = self._evaluate_remote(task, slices)
        return self._gather(slices, results, retries)

    def worker_pids(self) -> list[int]:
        import ray

        if self._engine is not None:
            import os

            return [os.getpid()]
        return ray.get([a.pid.remote() for a in self._actors])

    def worker_rss_mib(self) -> list[float]:
        import ray

        if self._engine is not None:
            from pdlf.workers import peak_rss_mib

            return [peak_rss_mib()]
        return ray.get([a.rss_mib.remote() for a in self._actors])

    def close(self) -> None:
        import ray

        for a in self._actors:
            try:
                ray.kill(a)
            except Exception:  # an actor already gone is fine
                pass
        self._actors = []

    # --------------------------------------------------------------------------- internals
    def _alive(self) -> list[int]:
        """Indices of actors that answer a ping now (a lost node's actors do not).

        An actor whose ping is still pending after ``PING_TIMEOUT_S`` is left out of this
        generation and taken back once its ping answers (Ray restarts it where it can).
        """
        import ray

        pings = {i: self._suspect.get(i) or self._actors[i].pid.remote() for i in range(len(self._actors))}
        ready, _ = ray.wait(list(pings.values()), num_returns=len(pings), timeout=PING_TIMEOUT_S)
        ready = set(ready)
        self._suspect = {}
        for i, ping in pings.items():
            ok = False
            if ping in ready:
                try:
                    ray.get(ping)
                    ok = True
                except Exception:  # died again: ping afresh next time
                    ping = self._actors[i].pid.remote()
            if not ok:
                self._suspect[i] = ping
        alive = [i for i in range(len(self._actors)) if i not in self._suspect]
        return alive or list(range(len(self._actors)))

    def _evaluate_remote(self, task: GenerationTask, slices: list[Slice]) -> tuple[dict[int, SliceResult], int]:
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        task_ref = ray.put(task)
        alive = self._alive()
        pending: dict = {}  # ref -> (slice, actor index)
        attempts = {s.slice_id: 0 for s in slices}
        for k, s in enumerate(slices):
            i = alive[k % len(alive)]
            pending[self._actors[i].evaluate.remote(task_ref, s)] = (s, i)
        results: dict[int, SliceResult] = {}
        retries = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            s, i = pending.pop(ref)
            try:
                res = ray.get(ref)
            except RayActorError as err:
                attempts[s.slice_id] += 1
                retries += 1
                if attempts[s.slice_id] > self.cfg.ray.max_retries:
                    raise RuntimeError(
                        f"slice {s.slice_id} of generation {s.generation} failed {attempts[s.slice_id]} times"
                        f" (last: {type(err).__name__}); raise ray.max_retries or check the cluster"
                    ) from None
                self._suspect[i] = self._actors[i].pid.remote()
                others = [j for j in range(len(self._actors)) if j not in self._suspect] or [i]
                j = others[(s.slice_id + attempts[s.slice_id]) % len(others)]
                log.warning("worker %d died during generation %d; re-running slice %d on worker %d",
                            i, s.generation, s.slice_id, j)
                pending[self._actors[j].evaluate.remote(task_ref, s)] = (s, j)
                continue
            except RayTaskError:
                raise
            if res.generation == s.generation and res.slice_id not in results:
                results[res.slice_id] = res
        self.total_retries += retries
        return results, retries

    def _gather(self, slices: list[Slice], results: dict[int, SliceResult], retries: int) -> GenerationResult:
        returns: dict[int, np.ndarray] = {}
        diverged: dict[int, bool] = {}
        stats: ObsStats | None = None
        env_steps = 0
        for s in slices:  # fixed slice order: merged statistics do not depend on timing
            res = results[s.slice_id]
            for k, m in enumerate(res.members):
                returns[m] = res.returns[k]
                diverged[m] = bool(res.diverged[k])
            env_steps += res.env_steps
            if res.obs_stats is not None:
                stats = res.obs_stats if stats is None else stats.merged(res.obs_stats)
        return GenerationResult(
            returns=returns,
            diverged=diverged,
            env_steps=env_steps,
            obs_stats=stats,
            retries=retries,
            workers_alive=len(self._actors) - len(self._suspect) if self._actors else 1,
            seconds_per_slice=[results[s.slice_id].seconds for s in slices],
        )
