"""The Ray actors that roll slices out, and which of them may take work now.

A worker is *ready* once it answered a ping (its ``pid()``); a worker that died (a killed
process, a lost node) or was restarted for being late is *suspect* until its pending ping answers.
Pings are checked with timeout 0 whenever the evaluator looks (`poll_pings`), and waited on only
when no worker at all is ready (`await_worker`), so a lost node never stalls a generation.
Workers the cluster cannot place (too few CPUs) are reported once at `start` and join later if
room appears.
"""

from __future__ import annotations

import logging
import time

from pdlf.config import RunConfig
from pdlf.errors import ClusterError, PdlfError
from pdlf.workers import RolloutWorker, init_ray, remote_worker_class

log = logging.getLogger(__name__)

RSS_TIMEOUT_S = 10.0  # a worker that does not report within this is left out of `ask_ready`'s answer


class WorkerPool:
    """``ray.workers`` restartable rollout actors (`pdlf.workers.RolloutWorker`).

    Attributes:
        actors: the actor handles, index = worker id.
        ready: ids of the workers that answered and get work.
        pings: suspect worker id -> its pending ping.
        pids: worker id -> process id, as last reported.
        blocking_ping_waits: waits on pings with a timeout > 0 (only when no worker is ready).
        owns_ray: this pool initialised Ray (no Ray was running), so `close` shuts it down.
        bad_input: the `PdlfError` a worker raised on the config (`RolloutWorker.bad_input`), if any.

    ``worker_cls`` replaces `RolloutWorker` as the actor class: a seam for tests that inject
    hung or faulty workers.
    """

    def __init__(self, cfg: RunConfig, worker_cls: type | None = None) -> None:
        self.cfg = cfg
        self.blocking_ping_waits = 0
        self.ready: set[int] = set()
        self.pings: dict[int, object] = {}
        self.pids: dict[int, int] = {}
        self.bad_input: PdlfError | None = None
        self.owns_ray = init_ray(cfg.ray.address, num_cpus=None, connect_timeout_s=cfg.ray.connect_timeout_s)
        cls = remote_worker_class(cfg.ray.cpus_per_worker, cfg.ray.gpus_per_worker, worker_cls or RolloutWorker)
        cfg_dict = cfg.to_dict()
        self.actors: list = [cls.remote(cfg_dict) for _ in range(cfg.ray.workers)]
        self.start()

    def close(self) -> None:
        """Kill every actor (Ray does not restart a killed-for-good actor); shut down a Ray this pool started."""
        import ray

        for a in self.actors:
            try:
                ray.kill(a)
            except Exception:  # an actor already gone is fine
                pass
        self.actors = []
        self.ready = set()
        self.pings = {}
        if self.owns_ray:
            ray.shutdown()
            self.owns_ray = False

    def start(self) -> None:
        """Wait (up to ``ray.start_timeout_s``) for the workers the cluster can place.

        Workers beyond the cluster's CPUs stay pending and join if room appears (they are
        reported once); none placed at all is a `ClusterError`.
        """
        import ray

        rc = self.cfg.ray
        n = len(self.actors)
        cpus = float(ray.cluster_resources().get("CPU", 0.0))
        placeable = min(n, int(cpus // rc.cpus_per_worker + 1e-9))
        if placeable == 0:
            self.close()
            raise ClusterError(
                f"no rollout worker fits: the cluster has {cpus:g} CPUs and ray.cpus_per_worker={rc.cpus_per_worker:g};"
                " lower ray.cpus_per_worker or add nodes"
            )
        self.pings = {i: a.pid.remote() for i, a in enumerate(self.actors)}
        ray.wait(list(self.pings.values()), num_returns=placeable, timeout=rc.start_timeout_s)
        errors = self.poll_pings()
        if not self.ready:
            self.close()
            if self.bad_input is not None:  # the workers refused the config: its own line
                raise self.bad_input
            why = f" (first error: {errors[0]})" if errors else f" within ray.start_timeout_s={rc.start_timeout_s:g} s"
            raise ClusterError(
                f"none of {n} rollout workers started{why}; check the cluster's CPUs ({cpus:g}) against"
                f" ray.workers x ray.cpus_per_worker and the workers' Python environment"
            )
        if len(self.ready) < n:
            log.warning(
                "%d of %d rollout workers started: the cluster has %g CPUs and each worker reserves %g"
                " (ray.cpus_per_worker); going on with %d (results do not change). Lower ray.workers or"
                " ray.cpus_per_worker, or add nodes, to use all of them.",
                len(self.ready), n, cpus, rc.cpus_per_worker, len(self.ready),
            )

    def poll_pings(self, timeout: float = 0.0) -> list[str]:
        """Take back suspect actors whose ping answered (waiting up to ``timeout`` seconds).

        Returns the first line of each error a ping raised (that actor is pinged afresh; one that
        refused the config, `bad_input`, is not pinged again).
        """
        import ray

        if not self.pings:
            return []
        if timeout > 0:
            self.blocking_ping_waits += 1
        refs = list(self.pings.values())
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        done = set(done)
        errors = []
        for i, ping in list(self.pings.items()):
            if ping not in done:
                continue
            try:
                self.pids[i] = int(ray.get(ping))
            except Exception as err:  # died again, or its constructor failed: ping afresh
                if isinstance(getattr(err, "cause", None), PdlfError):  # `RolloutWorker.bad_input`:
                    self.bad_input = err.cause  # it fails alike every time, so it is not pinged again
                    del self.pings[i]
                    continue
                errors.append(str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__)
                self.pings[i] = self.actors[i].pid.remote()
                continue
            del self.pings[i]
            if i not in self.ready:
                self.ready.add(i)
                log.info("worker %d (pid %d) is back", i, self.pids[i])
        return errors

    def suspect(self, i: int, kill: bool = False) -> None:
        """Take actor ``i`` out of work until it answers a ping; ``kill`` restarts it first."""
        import ray

        self.ready.discard(i)
        if kill:
            try:
                ray.kill(self.actors[i], no_restart=False)  # Ray restarts it (max_restarts=-1)
            except Exception:  # already gone: its restart is under way
                pass
        self.pings[i] = self.actors[i].pid.remote()

    def await_worker(self) -> None:
        """Block until some suspect worker answers: only when no worker is left to run a slice."""
        rc = self.cfg.ray
        t_end = time.monotonic() + rc.start_timeout_s
        while not self.ready and self.pings and time.monotonic() < t_end:
            self.poll_pings(timeout=min(1.0, max(0.0, t_end - time.monotonic())))
        if not self.ready:
            if self.bad_input is not None and not self.pings:  # every worker left refused the config
                raise self.bad_input
            raise ClusterError(
                f"no rollout worker answered for ray.start_timeout_s={rc.start_timeout_s:g} s"
                f" ({len(self.actors)} configured); check the cluster's nodes"
            )

    def ask_ready(self, method: str) -> list:
        """``method()`` of each ready actor (index order); those that do not answer in time are left out."""
        import ray

        order = sorted(self.ready)
        refs = [getattr(self.actors[i], method).remote() for i in order]
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=RSS_TIMEOUT_S)
        out = []
        for ref in refs:
            if ref in done:
                try:
                    out.append(ray.get(ref))
                except Exception:  # died meanwhile: left out
                    pass
        return out
