"""Shared pieces of the ``pdlf bench`` benchmarks: raw-physics timing and ES-generation timing."""

from __future__ import annotations

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
