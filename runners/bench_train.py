"""``pdlf bench train``: the whole training pipeline's env-steps/s against evotorch GymNE, one run.

For each ``--workers`` count, a `Trainer` (plastic SNN, rule ``pdlf``, hidden 128, real Ray rollout
workers, run directory in a temporary folder; ``--workers 0``: the rollouts in this process, as a
run with ``ray.workers: 0``) runs ``--generations`` generations; the first is a warm-up that also
waits for the workers to start, the rest are timed. In the same run it times
evotorch's stock `GymNE` (linear policy, observation normalisation, one process) on the stock
gymnasium env with the same population size and episode length (``--no-gymne``: not), and the raw physics
(``mj_step`` × frame_skip on one ``MjData``).

Prints one JSON object (``--json``) or a table. Key fields (env-steps/s throughout):
``pipeline_steps_per_s`` (the smallest worker count, normally 1), ``pipeline_steps_per_s_by_workers``,
``scaling_2_vs_1``, ``raw_physics_steps_per_s``, ``ratio_to_raw_physics`` (pipeline / raw, the
pipeline's share of one core's physics rate), ``evotorch_gymne_steps_per_s`` and
``speedup_vs_evotorch`` (pipeline / GymNE), ``worker_rss_mib`` (peak RSS of each worker).

``--backend mjwarp --device DEV`` runs the pipeline on MuJoCo Warp (env.backend / env.device; on
a GPU the agents move there too, ``agent.device``, each worker reserves one GPU, and the episodes
stay on the device: `pdlf.rollout` with ``on_device``) and, in the
same run, on C MuJoCo with the smallest worker count: ``mujoco_pipeline_steps_per_s`` and
``ratio_to_mujoco_pipeline``. ``agent_steps_per_s`` is the plastic SNN alone with as many agents as
a worker steps together (``agent_batch``, from ``--max-batch``) on the agents' device.
"""

from __future__ import annotations

import argparse
import os
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from pdlf.errors import ConfigError

# pdlf task -> the stock gymnasium env GymNE runs (same body, no goal)
STOCK_ENVS = {
    "halfcheetah_vel": "HalfCheetah-v5",
    "ant_dir": "Ant-v5",
    "hopper_vel": "Hopper-v5",
    "swimmer_dir": "Swimmer-v5",
}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="halfcheetah_vel", choices=sorted(STOCK_ENVS), help="task")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2],
                        help="Ray worker counts to time (0: rollouts in this process, no Ray)")
    parser.add_argument("--popsize", type=int, default=64, help="population size (both pipelines)")
    parser.add_argument("--generations", type=int, default=3, help="generations per run, the first untimed")
    parser.add_argument("--episode-steps", type=int, default=200, help="steps per episode (both pipelines)")
    parser.add_argument("--seed", type=int, default=0, help="search seed")
    parser.add_argument("--backend", default="mujoco", help="physics: mujoco (C MuJoCo) or mjwarp (MuJoCo Warp)")
    parser.add_argument("--device", default="cpu", help="where mjwarp simulates (and the agents run): cpu, cuda, cuda:N")
    parser.add_argument("--friction-cone", default="pyramidal", help="pyramidal or elliptic, in either backend")
    parser.add_argument("--max-batch", type=int, default=128,
                        help="rollouts a worker steps together (ray.max_batch; a GPU wants thousands)")
    parser.add_argument("--no-gymne", action="store_true", help="skip the evotorch GymNE reference (no evotorch needed)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def pipeline_config(args: argparse.Namespace, workers: int, backend: str | None = None):
    """The benchmark's run config: ``args``' physics, or C MuJoCo on the CPU if ``backend="mujoco"``."""
    from pdlf.config import config_from_dict

    backend = backend or args.backend
    device = args.device if backend == "mjwarp" else "cpu"
    on_gpu = device.startswith("cuda")
    return config_from_dict(
        {
            "env": {"name": args.env, "episode_steps": args.episode_steps, "backend": backend, "device": device,
                    "friction_cone": args.friction_cone},
            "agent": {"hidden": [128], "device": device},
            "rule": {"name": "pdlf"},
            "es": {"popsize": args.popsize, "generations": args.generations, "seed": args.seed},
            # more workers than cores: share the cores rather than wait for a free one
            "ray": {"workers": workers, "cpus_per_worker": min(1.0, (os.cpu_count() or 1) / max(1, workers)),
                    "gpus_per_worker": 1.0 if on_gpu and workers else 0.0, "max_batch": args.max_batch},
            "log": {"tensorboard": False, "progress": False},
        }
    )


def time_pipeline(args: argparse.Namespace, workers: int, backend: str | None = None) -> dict[str, Any]:
    """Env-steps/s of ``Trainer.step`` after one warm-up generation, and the workers' peak RSS
    (``workers == 0``: the rollouts run in this process, without Ray)."""
    from pdlf.es.evaluator import Evaluator
    from pdlf.es.trainer import Trainer
    from pdlf.workers import init_ray, peak_rss_mib

    cfg = pipeline_config(args, workers, backend)
    with tempfile.TemporaryDirectory(prefix="pdlf-bench-train-") as tmp:
        trainer = Trainer.create(cfg, Path(tmp) / "run")
        if workers:
            init_ray()  # a fresh local Ray on loopback, shut down below
        try:
            trainer.evaluator = Evaluator(cfg)  # what Trainer.run does, without its loggers
            trainer.step()  # warm-up: includes the workers' start-up
            steps0, t0 = trainer.env_steps, time.perf_counter()
            for _ in range(args.generations - 1):
                trainer.step()
            seconds = time.perf_counter() - t0
            steps = trainer.env_steps - steps0
            rss = trainer.evaluator.worker_rss_mib() if workers else [peak_rss_mib()]
        finally:
            if trainer.evaluator is not None:
                trainer.evaluator.close()
                trainer.evaluator = None
            if workers:
                import ray

                ray.shutdown()
    return {"steps_per_s": steps / seconds, "env_steps": steps, "seconds": seconds, "worker_rss_mib": rss}


def time_gymne(args: argparse.Namespace, gym_id: str) -> dict[str, Any]:
    """Env-steps/s of evotorch's `GymNE` + PGPE in one process, after one warm-up generation."""
    from evotorch.algorithms import PGPE
    from evotorch.neuroevolution import GymNE

    problem = GymNE(
        env=gym_id,
        network="Linear(obs_length, act_length)",
        observation_normalization=True,
        episode_length=args.episode_steps,
        num_actors=0,  # this process only
    )
    searcher = PGPE(problem, popsize=args.popsize, center_learning_rate=0.01, stdev_learning_rate=0.1, stdev_init=0.04)
    searcher.step()
    steps0, t0 = problem.interaction_count, time.perf_counter()
    for _ in range(args.generations - 1):
        searcher.step()
    seconds = time.perf_counter() - t0
    steps = problem.interaction_count - steps0
    return {"steps_per_s": steps / seconds, "env_steps": steps, "seconds": seconds}


def run(args: argparse.Namespace) -> int:
    from pdlf.envs import get_task
    from pdlf.benchmarks import physics_versions, time_agent_steps, time_physics
    from pdlf.outputs import print_result

    if args.generations < 2:
        raise ConfigError(f"--generations={args.generations}: need >= 2 (the first one is an untimed warm-up)")
    if any(w < 0 for w in args.workers):
        raise ConfigError(f"--workers {args.workers}: every count must be >= 0 (0: in this process, no Ray)")
    if args.episode_steps < 1:
        raise ConfigError(f"--episode-steps={args.episode_steps}: must be >= 1")
    cfg = pipeline_config(args, 1)  # checks --backend, --device, --friction-cone and --max-batch
    spec = get_task(args.env)
    workers = sorted(set(args.workers))
    if not args.no_gymne:
        import evotorch  # noqa: F401  (configures its logger on import; then quieten it)

        logging.getLogger("evotorch").setLevel(logging.WARNING)  # its INFO lines go to stdout
    torch.set_num_threads(1)  # GymNE and the driver on one thread, like each Ray worker

    load_before = os.getloadavg()[0]
    by_workers: dict[str, dict[str, Any]] = {str(w): time_pipeline(args, w) for w in workers}
    reference = time_pipeline(args, workers[0], "mujoco") if args.backend != "mujoco" else None
    gymne = None if args.no_gymne else time_gymne(args, STOCK_ENVS[args.env])
    goals = len(spec.train_goals())
    agent_batch = min(max(1, args.max_batch // goals) * goals, (args.popsize + 1) * goals)  # a worker's batch
    agent_rate = time_agent_steps(spec.obs_dim, spec.act_dim, agent_batch, cfg.agent.device)
    phys_s, frame_skip = time_physics(spec.gym_id, 5000)
    raw = 1.0 / phys_s

    base = by_workers[str(workers[0])]["steps_per_s"]
    rate = {w: round(r["steps_per_s"], 1) for w, r in by_workers.items()}
    result = {
        "benchmark": "train",
        "env": spec.name,
        "backend": args.backend,
        "device": cfg.env.device,
        "friction_cone": args.friction_cone,
        "stock_env": STOCK_ENVS[args.env],
        "workers": workers,
        "ratio_workers": workers[0],
        "popsize": args.popsize,
        "episode_steps": args.episode_steps,
        "generations": args.generations,
        "timed_generations": args.generations - 1,
        "goals": len(spec.train_goals()),
        "pipeline_eval_center": True,  # pdlf also evaluates the centre: popsize + 1 genomes a generation
        "pipeline_steps_per_s": rate[str(workers[0])],
        "pipeline_steps_per_s_by_workers": rate,
        "scaling_2_vs_1": (
            round(by_workers["2"]["steps_per_s"] / by_workers["1"]["steps_per_s"], 3)
            if "1" in by_workers and "2" in by_workers else None
        ),
        "raw_physics_steps_per_s": round(raw, 1),
        "frame_skip": frame_skip,
        "ratio_to_raw_physics": round(base / raw, 4),
        "evotorch_gymne_steps_per_s": None if gymne is None else round(gymne["steps_per_s"], 1),
        "speedup_vs_evotorch": None if gymne is None else round(base / gymne["steps_per_s"], 3),
        "mujoco_pipeline_steps_per_s": None if reference is None else round(reference["steps_per_s"], 1),
        "ratio_to_mujoco_pipeline": None if reference is None else round(base / reference["steps_per_s"], 3),
        "agent_steps_per_s": round(agent_rate, 1),
        "agent_batch": agent_batch,
        "agent_device": cfg.agent.device,
        "max_batch": args.max_batch,
        "worker_rss_mib": {w: [round(x, 1) for x in r["worker_rss_mib"]] for w, r in by_workers.items()},
        "pipeline_env_steps_timed": {w: r["env_steps"] for w, r in by_workers.items()},
        "gymne_env_steps_timed": None if gymne is None else gymne["env_steps"],
        "cpus": os.cpu_count(),
        # other processes' load makes the figures noisy: compare with "cpus"
        "load_avg_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "torch": torch.__version__,
        **physics_versions(args.backend),
    }
    print_result(result, args.json)
    return 0
