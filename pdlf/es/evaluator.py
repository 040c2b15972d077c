"""Fans a generation out to rollout workers and gathers per-goal returns, surviving dead and hung workers.

Members are cut into a fixed number of slices (``ray.workers``, however many workers are alive),
so results do not depend on which worker ran which slice, nor on retries: a run with a fixed
seed and worker count gives the same numbers. Each result is keyed by ``(generation, slice_id)``;
a late or repeated result for a slice already counted is dropped.

Every wait has a deadline:

- joining a cluster: `init_ray` probes the address within ``ray.connect_timeout_s``;
- worker start: ``ray.start_timeout_s``; workers the cluster cannot place (too few CPUs) are
  reported once and the run goes on with the rest;
- a slice: ``max(ray.slice_timeout_floor_s, ray.slice_timeout_factor x the slowest recent slice)``
  (``ray.first_slice_timeout_s`` before any slice was measured), times the number of slices
  queued on its worker. A slice past its deadline is re-run on another worker (the first result
  wins; a slice's returns depend only on the slice); the late worker is restarted (``ray.kill``,
  Ray brings it back) and rejoins once it answers a ping.

A worker that died (a killed process, a lost node) or was restarted is "suspect": it gets no work
until its ping answers. Pending pings are checked with timeout 0 at each generation, never waited
on while another worker can run the slices, so losing a node costs no time per generation.

Each result carries a checksum of the genomes its worker rebuilt; the driver checks it against
the genomes of its own `GenerationTask`, so a worker with another torch version (which samples
other genomes from the same seed) is an error, not silently different numbers.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import torch

from pdlf.config import RunConfig
from pdlf.errors import ClusterError, PdlfError, WorkerMismatchError
from pdlf.normalizer import ObsStats
from pdlf.es.worker_pool import WorkerPool
from pdlf.workers import CENTER, GenerationTask, RolloutEngine, Slice, SliceResult, genome_checksum

log = logging.getLogger(__name__)



@dataclass
class GenerationResult:
    """Returns of every requested member: ``returns[member] -> [G, R]`` (NaN where diverged).

    ``late_slices`` counts slices re-run because they passed their deadline (``retries`` counts
    re-runs after a worker died).
    """

    returns: dict[int, np.ndarray]
    diverged: dict[int, bool]
    env_steps: int
    obs_stats: ObsStats | None
    retries: int
    workers_alive: int
    seconds_per_slice: list[float]
    late_slices: int = 0

    def per_goal(self, members: list[int]) -> np.ndarray:
        """``[N, G]`` mean return over repeats per goal of ``members`` (NaN where diverged).

        A genome's fitness is the sum of its row (spec §4).
        """
        return np.stack([self.returns[m].mean(axis=1) for m in members])


def split_members(members: list[int], n_slices: int) -> list[tuple[int, ...]]:
    """Contiguous, near-equal shares of ``members`` (empty shares dropped)."""
    parts = np.array_split(np.asarray(members, dtype=np.int64), max(1, n_slices))
    return [tuple(int(m) for m in p) for p in parts if len(p)]


def expected_checksums(task: GenerationTask, slices: list[Slice]) -> dict[int, str]:
    """``slice_id -> genome_checksum`` of the ``[M, L]`` genomes a worker must rebuild for each slice.

    The population's rows are built once for all slices (one ``genomes`` call per generation);
    row selection is exact, so they equal the rows a worker builds for its share alone.
    """
    pop_ids = sorted({m for s in slices for m in s.members if m != CENTER})
    rows = task.population.genomes(pop_ids) if pop_ids else None
    where = {m: k for k, m in enumerate(pop_ids)}
    out = {}
    for s in slices:
        parts = [task.center.to(torch.float32) if m == CENTER else rows[where[m]] for m in s.members]
        out[s.slice_id] = genome_checksum(torch.stack(parts))
    return out


@dataclass
class _Run:
    """One submission of a slice to a worker; ``deadline`` in `time.monotonic` seconds."""

    slice: Slice
    actor: int
    deadline: float
    late: bool = False


@dataclass
class _Generation:
    """Book-keeping of one generation's remote evaluation."""

    task_ref: object
    slices: dict[int, Slice]
    checksums: dict[int, str]
    pending: dict = field(default_factory=dict)  # ObjectRef -> _Run
    results: dict[int, SliceResult] = field(default_factory=dict)
    attempts: dict[int, int] = field(default_factory=dict)  # slice_id -> re-runs after a death
    late_actors: set[int] = field(default_factory=set)
    retries: int = 0
    late_slices: int = 0


class Evaluator:
    """Evaluates generations in-process (``ray.workers: 0``, on one torch thread like a worker)
    or on a pool of Ray actors.

    ``worker_cls`` replaces `RolloutWorker` (a class with its methods) as the actor class: a seam
    for tests that inject hung or faulty workers.
    """

    def __init__(self, cfg: RunConfig, worker_cls: type | None = None) -> None:
        self.cfg = cfg
        self.n_slices = max(1, cfg.ray.workers)
        self.total_retries = 0
        self._engine: RolloutEngine | None = None
        self.pool: WorkerPool | None = None
        self._recent: deque[float] = deque(maxlen=2 * self.n_slices)  # slice seconds, last ~2 generations
        if cfg.ray.workers == 0:
            # one torch thread, as in each Ray worker: the rollouts' tensors are small, and runs
            # that share a machine's cores slowed 5-20x with a thread per core each (measured)
            torch.set_num_threads(1)
            self._engine = RolloutEngine(cfg)
        else:
            self.pool = WorkerPool(cfg, worker_cls)

    @property
    def blocking_ping_waits(self) -> int:
        """Waits on pings with a timeout > 0 so far (only when no worker was ready)."""
        return self.pool.blocking_ping_waits if self.pool is not None else 0

    # ---------------------------------------------------------------------------- public
    def evaluate(self, task: GenerationTask, members: list[int], include_center: bool = False) -> GenerationResult:
        shares = split_members(members, self.n_slices)
        if include_center:  # ride with the smallest share: a slice of its own would step a tiny batch
            shares[-1] = shares[-1] + (CENTER,)
        slices = [Slice(task.generation, i, ms) for i, ms in enumerate(shares)]
        if self._engine is not None:
            results = {s.slice_id: self._engine.evaluate(task, s) for s in slices}
            return self._gather(slices, results, 0, 0)
        gen = self._evaluate_remote(task, slices)
        return self._gather(slices, gen.results, gen.retries, gen.late_slices)

    def worker_pids(self) -> list[int]:
        """Process ids of the workers that answer now (this process's for ``ray.workers: 0``)."""
        if self._engine is not None:
            import os

            return [os.getpid()]
        return self.pool.ask_ready("pid")

    def worker_rss_mib(self) -> list[float]:
        """Peak resident memory (MiB) of each worker that answers in time (`WorkerPool.ask_ready`)."""
        if self._engine is not None:
            from pdlf.workers import peak_rss_mib

            return [peak_rss_mib()]
        return self.pool.ask_ready("rss_mib")

    def close(self) -> None:
        """Stop the workers (nothing to stop in-process). Safe to call twice."""
        if self.pool is not None:
            self.pool.close()

    # ------------------------------------------------------------------------- deadlines
    def slice_timeout(self) -> float:
        """Seconds one slice may take: ``max(floor, factor x slowest recent slice)``, or the first-generation value."""
        rc = self.cfg.ray
        if not self._recent:
            return rc.first_slice_timeout_s
        return max(rc.slice_timeout_floor_s, rc.slice_timeout_factor * max(self._recent))

    def _submit(self, gen: _Generation, s: Slice, avoid: set[int] = frozenset()) -> int | None:
        """Send slice ``s`` to the least-loaded ready actor not in ``avoid``; its index, or None if there is none.

        The deadline counts the slices already queued on that actor: they run one after another.
        """
        load = {i: 0 for i in self.pool.ready if i not in avoid and i not in gen.late_actors}
        if not load:
            return None
        for run in gen.pending.values():
            if run.actor in load:
                load[run.actor] += 1
        i = min(load, key=lambda j: (load[j], (j - s.slice_id) % len(self.pool.actors)))
        deadline = time.monotonic() + (load[i] + 1) * self.slice_timeout()
        gen.pending[self.pool.actors[i].evaluate.remote(gen.task_ref, s)] = _Run(s, i, deadline)
        return i

    def _evaluate_remote(self, task: GenerationTask, slices: list[Slice]) -> _Generation:
        import ray

        self.pool.poll_pings()  # timeout 0: take back workers that answered since the last generation
        if not self.pool.ready:
            self.pool.await_worker()
        gen = _Generation(ray.put(task), {s.slice_id: s for s in slices}, expected_checksums(task, slices))
        gen.attempts = {s.slice_id: 0 for s in slices}
        for s in slices:
            self._submit(gen, s)
        while len(gen.results) < len(slices):
            waiting = [r for r in gen.pending.values() if not r.late]
            next_deadline = min((r.deadline for r in waiting), default=time.monotonic() + 1.0)
            timeout = max(0.0, next_deadline - time.monotonic())
            done, _ = ray.wait(list(gen.pending), num_returns=1, timeout=timeout)
            if done:
                self._collect(gen, done[0])
            else:
                self._handle_late(gen)
            self.pool.poll_pings()  # timeout 0: restarted workers rejoin as soon as they answer
        self._drop_stale(gen)
        self.total_retries += gen.retries
        return gen

    def _collect(self, gen: _Generation, ref) -> None:
        """Take a finished run's result (or its worker's death) into ``gen``."""
        import ray
        from ray.exceptions import RayActorError, RayTaskError

        run = gen.pending.pop(ref)
        s = run.slice
        try:
            res: SliceResult = ray.get(ref)
        except RayTaskError as err:
            if isinstance(err.cause, PdlfError):  # bad input (e.g. an env.device the worker lacks):
                raise err.cause from None         # its one line, not Ray's traceback; a re-run fails alike
            raise
        except RayActorError as err:
            self.pool.suspect(run.actor)
            if s.slice_id in gen.results or any(r.slice.slice_id == s.slice_id for r in gen.pending.values()):
                return  # another copy of the slice won or still runs
            self._rerun_after_death(gen, run, err)
            return
        if res.generation != s.generation or s.slice_id in gen.results:
            return  # a late copy of a slice already counted
        self._check(gen, res)
        gen.results[s.slice_id] = res
        self._recent.append(res.seconds)
        for other_ref, other in list(gen.pending.items()):  # the other copies lost the race
            if other.slice.slice_id == s.slice_id:
                self._cancel(gen, other_ref)

    def _rerun_after_death(self, gen: _Generation, run: _Run, err: Exception) -> None:
        s = run.slice
        gen.attempts[s.slice_id] += 1
        gen.retries += 1
        if gen.attempts[s.slice_id] > self.cfg.ray.max_retries:
            raise ClusterError(
                f"slice {s.slice_id} of generation {s.generation} failed {gen.attempts[s.slice_id]} times"
                f" (last: {type(err).__name__}); raise ray.max_retries or check the cluster"
            )
        j = self._submit(gen, s, avoid={run.actor})
        if j is None:  # no other worker is ready: restart the late ones, wait for one to come back
            for i in list(gen.late_actors):
                self.pool.suspect(i, kill=True)
                gen.late_actors.discard(i)
            self.pool.await_worker()
            j = self._submit(gen, s)
        if j is None:
            raise ClusterError(f"no worker left to re-run slice {s.slice_id} of generation {s.generation}")
        log.warning("worker %d died during generation %d; re-running slice %d on worker %d",
                    run.actor, s.generation, s.slice_id, j)

    def _handle_late(self, gen: _Generation) -> None:
        """Re-run the slices of every worker past a deadline on other workers; restart a late worker without stand-in.

        All slices queued on a late worker are re-run at once: they wait behind the late one.
        """
        now = time.monotonic()
        late = {r.actor for r in gen.pending.values() if not r.late and r.deadline <= now}
        restarted: set[int] = set()
        for run in list(gen.pending.values()):
            if run.late or run.actor not in late:
                continue
            s = run.slice
            gen.late_actors.add(run.actor)
            gen.late_slices += 1
            j = None if run.actor in restarted else self._submit(gen, s, avoid={run.actor})
            if j is not None:
                run.late = True
                log.warning(
                    "worker %d (pid %s) passed the %.1f s deadline on slice %d of generation %d; re-running it on"
                    " worker %d (the first result wins)",
                    run.actor, self.pool.pids.get(run.actor, "?"), self.slice_timeout(), s.slice_id, s.generation, j,
                )
                continue
            # nobody else can run it: restart the late worker; its death re-runs its slices (`_collect`)
            if run.actor not in restarted:
                log.warning(
                    "worker %d (pid %s) passed the %.1f s deadline on slice %d of generation %d and no other"
                    " worker is free; restarting it", run.actor, self.pool.pids.get(run.actor, "?"),
                    self.slice_timeout(), s.slice_id, s.generation,
                )
                self.pool.suspect(run.actor, kill=True)
                restarted.add(run.actor)
            gen.late_actors.discard(run.actor)  # restarted: it may take work again once it answers
            run.deadline = now + self.cfg.ray.start_timeout_s  # its RayActorError comes well before

    def _cancel(self, gen: _Generation, ref) -> None:
        """Forget a losing copy of a slice; a late worker still busy with it is restarted."""
        import ray

        run = gen.pending.pop(ref)
        if run.late and run.actor in self.pool.ready:
            log.warning("restarting worker %d (pid %s): it was late on slice %d of generation %d",
                        run.actor, self.pool.pids.get(run.actor, "?"), run.slice.slice_id, run.slice.generation)
            self.pool.suspect(run.actor, kill=True)
            gen.late_actors.discard(run.actor)
        else:
            try:
                ray.cancel(ref)  # a copy still queued never starts
            except Exception:  # already running or finished: its result is dropped
                pass

    def _drop_stale(self, gen: _Generation) -> None:
        """Runs left after all slices are in are losing copies: cancel them."""
        for ref in list(gen.pending):
            self._cancel(gen, ref)

    def _check(self, gen: _Generation, res: SliceResult) -> None:
        """`WorkerMismatchError` unless the worker evaluated the genomes the driver sent."""
        want = gen.checksums[res.slice_id]
        if res.checksum != want:
            raise WorkerMismatchError(
                f"generation {res.generation}, slice {res.slice_id}: worker pid {res.pid} evaluated other genomes"
                f" than the driver sent (checksum {res.checksum[:12] or 'missing'} != {want[:12]}); most likely"
                " the worker runs another torch (or pdlf) version than the driver: install the same versions"
                " on every node"
            )

    # --------------------------------------------------------------------------- gather
    def _gather(self, slices: list[Slice], results: dict[int, SliceResult], retries: int, late: int) -> GenerationResult:
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
            workers_alive=len(self.pool.ready) if self.pool is not None else 1,
            seconds_per_slice=[results[s.slice_id].seconds for s in slices],
            late_slices=late,
        )
