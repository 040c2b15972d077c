"""Shared pieces of the ``pdlf bench`` benchmarks: raw-physics, agent-step and ES-generation
timing, and the physics backend's description."""

from __future__ import annotations

import importlib.metadata
import time

import numpy as np


def time_physics(gym_id: str, steps: int) -> tuple[float, int]:
    """Seconds per env step of raw physics (``mj_step`` × frame_skip) and the frame skip."""
    import gymnasium as gym
    import mujoco

    env = gym.make(gym_id).unwrapped
    model, data = env.model, env.data
    frame_skip = int(getattr(env, "frame_skip", 1))
    rng = np.random.default_rng(0)
    ctrl = rng.uniform(-1, 1, size=(steps, model.nu))
    mujoco.mj_resetData(model, data)
    t0 = time.perf_counter()
    for t in range(steps):
        data.ctrl[:] = ctrl[t]
        for _ in range(frame_skip):
            mujoco.mj_step(model, data)
    dt = (time.perf_counter() - t0) / steps
    env.close()
    return dt, frame_skip


def time_generations(cfg, generations: int) -> float:
    """Wall seconds per ES generation of run config ``cfg`` (sampling, every rollout, the update):
    a throw-away `Trainer` in a temporary directory, one warm-up generation, then the mean of
    ``generations`` timed ones."""
    import tempfile
    from pathlib import Path

    from pdlf.es.evaluator import Evaluator
    from pdlf.es.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        trainer = Trainer.create(cfg, Path(tmp) / "run")
        trainer.evaluator = Evaluator(cfg)
        try:
            trainer.step()  # warm-up: env caches, allocations
            t0 = time.perf_counter()
            for _ in range(generations):
                trainer.step()
            return (time.perf_counter() - t0) / generations
        finally:
            trainer.evaluator.close()
            trainer.evaluator = None


def time_agent_steps(obs_dim: int, act_dim: int, pop: int, device: str = "cpu", steps: int = 200,
                     hidden: tuple[int, ...] = (128,), rule: str = "pdlf") -> float:
    """Agent-steps per second of ``pop`` plastic SNN agents (``act`` on one ``[pop, obs_dim]``
    batch, random genomes and observations) on the torch ``device``: the agent alone, no env.

    Twenty untimed steps warm up, then ``steps`` are timed (the device synchronised around them).
    """
    import torch

    from pdlf.plasticity.catalog import RuleConfig
    from pdlf.snn.network import AgentConfig, PlasticSNN

    net = PlasticSNN(obs_dim, act_dim, AgentConfig(hidden=tuple(hidden), device=device), RuleConfig(name=rule))
    gen = torch.Generator().manual_seed(0)
    net.reset(torch.randn(pop, net.layout.size, generator=gen) * 0.1, 0)
    obs = (torch.randn(16, pop, obs_dim, generator=gen)).to(net.device)
    sync = torch.cuda.synchronize if net.device.type == "cuda" else (lambda: None)
    for t in range(20):
        net.act(obs[t % 16])
    sync()
    t0 = time.perf_counter()
    for t in range(steps):
        net.act(obs[t % 16])
    sync()
    return pop * steps / (time.perf_counter() - t0)


def physics_versions(backend: str) -> dict[str, str | None]:
    """Installed versions of the physics packages a benchmark used (MuJoCo Warp's only for
    ``backend == "mjwarp"``)."""
    names = ("mujoco", "mujoco-warp", "warp-lang") if backend == "mjwarp" else ("mujoco",)
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name.replace("-", "_")] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name.replace("-", "_")] = None
    return out
