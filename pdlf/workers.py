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

import hashlib
import logging
import os
import resource
import socket
import time
from dataclasses import dataclass

import numpy as np
import torch

from pdlf.config import RunConfig, config_from_dict
from pdlf.errors import ClusterError, PdlfError
from pdlf.es.searchers import Population
from pdlf.normalizer import FrozenNorm, ObsStats
from pdlf.rollout import rollout
from pdlf.snn.network import task_agents

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
    checksum: str = ""  # `genome_checksum` of the genomes the worker evaluated


class RolloutEngine:
    """Evaluates slices: builds genomes, steps agents × envs with `rollout`, gathers returns."""

    def __init__(self, cfg: RunConfig) -> None:
        from pdlf.envs import get_task, make_batched

        self.cfg = cfg
        self.spec = get_task(cfg.env.name)
        self._make_batched = make_batched
        agent_cfg = cfg.agent
        self.agent = task_agents(self.spec, agent_cfg, cfg.rule)
        self._envs: dict[int, object] = {}

    def _env(self, batch: int):
        if batch not in self._envs:
            steps = self.cfg.env.episode_steps or None
            self._envs[batch] = self._make_batched(self.spec.name, batch, max_steps=steps,
                                                   extrapolate=self.cfg.env.extrapolate, params=self.cfg.env.params,
                                                   **self.cfg.env.physics())
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
        rows = g * r  # rollouts per member, consecutive: a chunk holds whole members
        chunk = max(1, int(self.cfg.ray.max_batch) // rows) * rows
        for start in range(0, total, chunk):
            stop = min(total, start + chunk)
            # the normaliser learns from the population's observations only, not the centre's
            stats_rows = member_idx[start:stop] != center_row if collect_stats and task.norm is not None else False
            env = self._env(stop - start)
            res = rollout(
                self.agent,
                env,
                genomes[start // rows : stop // rows],
                goals[start:stop],
                seeds[start:stop],
                agent_seeds=seeds[start:stop],
                norm=task.norm,
                collect_stats=stats_rows,
                rows_per_genome=rows,
                on_device=getattr(env, "resident", False),  # MuJoCo Warp: the episode stays on its device
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
            checksum=genome_checksum(genomes),
        )


def genome_checksum(genomes: torch.Tensor) -> str:
    """blake2b (128 bit, hex) of the float32 bytes of a ``[M, L]`` genome matrix, rows in member order.

    Driver and worker compute it from the same `GenerationTask`; a difference means the worker
    rebuilt other genomes (most likely another torch version samples differently). Costs ~7 ms
    for 64 x 20k genes (5 MB) on one core, small next to the slice's rollouts.
    """
    data = genomes.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
    return hashlib.blake2b(data.tobytes(), digest_size=16).hexdigest()


def peak_rss_mib() -> float:
    """This process's peak resident memory in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class RolloutWorker:
    """Ray actor shell around a `RolloutEngine` (one thread of torch per worker)."""

    def __init__(self, cfg_dict: dict) -> None:
        torch.set_num_threads(1)
        # bad input this process cannot run with (e.g. agent.device=cuda where it sees no GPU) is
        # kept and raised by every call, so the driver gets it as a task error and prints its line
        self.bad_input: PdlfError | None = None
        try:
            self.engine = RolloutEngine(config_from_dict(cfg_dict))
        except PdlfError as err:
            self.bad_input = err

    def evaluate(self, task: GenerationTask, slc: Slice) -> SliceResult:
        if self.bad_input is not None:
            raise self.bad_input
        return self.engine.evaluate(task, slc)

    def pid(self) -> int:
        if self.bad_input is not None:
            raise self.bad_input
        return os.getpid()

    def rss_mib(self) -> float:
        return peak_rss_mib()


def init_ray(address: str = "", num_cpus: int | None = None, connect_timeout_s: float = 10.0) -> bool:
    """Start a local Ray bound to 127.0.0.1 (``address`` empty) or join the cluster at ``address``.

    Sets ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` before importing Ray, so a local Ray listens on
    loopback only; no dashboard. Does nothing if Ray is already initialised in this process.
    Returns True if this call initialised Ray (the caller then owns it and shuts it down).
    Before joining, ``address`` (``host:port`` or ``ray://host:port``) is probed: a TCP connect,
    then a gRPC handshake, each within ``connect_timeout_s`` seconds; an address where no Ray
    listens raises `ClusterError` (one line) instead of letting ``ray.init`` retry for minutes.
    """
    os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    quiet_ray_logs()
    if ray.is_initialized():
        return False
    if address:
        if address != "auto":  # "auto" = the cluster `ray start` left on this machine: Ray finds it
            host, port = parse_address(address)
            probe_cluster(host, port, address, connect_timeout_s)
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
        except (ConnectionError, ValueError, RuntimeError) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ClusterError(f"cannot join the Ray cluster at {address}: {first} ({_CHECK})") from None
    else:
        # address="local" always starts a new Ray: never join another process's cluster by accident
        ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    return True


_CHECK = (
    "check that `ray start --head --port=PORT` runs on that host, that the port is the head's GCS port"
    " (6379 by default) and reachable from here, and that both sides run the same Ray version"
)


def parse_address(address: str) -> tuple[str, int]:
    """``(host, port)`` of ``host:port``, ``[v6]:port`` or ``ray://host:port``; `ClusterError` otherwise."""
    rest = address.strip()
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme != "ray":
            raise ClusterError(f"ray.address={address!r}: expected HOST:PORT (e.g. 10.0.0.5:6379), not a {scheme}:// URL")
    host, sep, port_text = rest.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ClusterError(f"ray.address={address!r}: expected HOST:PORT with a port in 1..65535 (e.g. 10.0.0.5:6379)")
    return host, int(port_text)


def probe_cluster(host: str, port: int, address: str, timeout_s: float) -> None:
    """Raise `ClusterError` unless a gRPC server (a Ray head's GCS) answers at ``host:port``.

    Two steps, each bounded by ``timeout_s`` seconds: a TCP connect (nothing listens, a firewall,
    a wrong host), then an HTTP/2 handshake through gRPC (something that is not Ray listens).
    """
    t0 = time.monotonic()
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as err:
        why = "timed out" if isinstance(err, socket.timeout) else (err.strerror or type(err).__name__)
        raise ClusterError(
            f"no Ray cluster at {address}: connecting to {host}:{port} failed ({why}) after"
            f" {time.monotonic() - t0:.1f} s; {_CHECK}"
        ) from None
    import grpc

    channel = grpc.insecure_channel(f"{host}:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout_s)
    except grpc.FutureTimeoutError:
        raise ClusterError(
            f"no Ray cluster at {address}: something listens on {host}:{port} but does not answer as a"
            f" Ray GCS (gRPC) within {timeout_s:g} s; {_CHECK}"
        ) from None
    finally:
        channel.close()


class _RayNoise(logging.Filter):
    """Drops Ray's chatter (INFO lines, the token-authentication notice); keeps real warnings."""

    NOISE = ("Token authentication is enabled", "SIGTERM handler is not set")

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        msg = record.getMessage()
        return not any(n in msg for n in self.NOISE)


def quiet_ray_logs() -> None:
    """Put `_RayNoise` on the handlers of Ray's ``ray`` logger (idempotent).

    Ray's own handler writes records of its child loggers too; a filter on the logger itself would
    not see those, so the filter goes on its handlers.
    """
    for handler in logging.getLogger("ray").handlers:
        if not any(isinstance(f, _RayNoise) for f in handler.filters):
            handler.addFilter(_RayNoise())


def remote_worker_class(cpus: float, gpus: float, cls: type | None = None):
    """``cls`` (default `RolloutWorker`) as a restartable Ray actor class with the given resources."""
    import ray

    return ray.remote(num_cpus=cpus, num_gpus=gpus, max_restarts=-1, max_task_retries=0)(cls or RolloutWorker)
