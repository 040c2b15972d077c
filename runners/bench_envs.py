"""``pdlf bench envs``: batched env stepping against stock gymnasium and raw physics, one run.

All three step the same workload: batch-episodes of ``--batch`` members (goals from the
training grid, seeds ``0, 1, ...``) driven by pre-drawn uniform random actions, until
``--batch × --steps`` member-steps are done (a terminating task such as hopper_vel runs several
batch-episodes). Each figure is env-steps per second:

- ``batched_steps_per_s``: `make_batched` over all members (member-steps actually stepped);
- ``raw_physics_steps_per_s``: one ``MjData`` of the task's model, ``mj_step`` × frame_skip
  only, replaying every member's episode (same initial state, actions and length);
- ``gym_steps_per_s``: one stock gymnasium env (``HalfCheetah-v5`` for halfcheetah_vel, …; the
  task's own id where no stock env exists) made with ``gym.make``, replaying the first episodes.

The process is pinned to one CPU; each measurement is repeated ``--repeats`` times, interleaved,
and the best rate of each is reported, so the ratios compare like with like.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import time

import numpy as np

# the stock gymnasium env each task is built on
STOCK_IDS = {
    "ant_dir": "Ant-v5",
    "swimmer_dir": "Swimmer-v5",
    "halfcheetah_vel": "HalfCheetah-v5",
    "hopper_vel": "Hopper-v5",
}
GYM_MEMBERS = 16  # members whose episodes the stock env replays (its rate needs no more)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--env", default="halfcheetah_vel", help="task name (see `pdlf envs`)")
    parser.add_argument("--batch", type=int, default=64, help="members stepped together")
    parser.add_argument("--steps", type=int, default=1000, help="steps per member and episode")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random actions")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


class Workload:
    """Goals, seeds and actions of batch-episode `e`; member lengths are filled by the batched
    run and replayed by the others."""

    def __init__(self, spec, batch: int, steps: int, seed: int, low, high) -> None:
        self.spec, self.batch, self.steps, self.seed = spec, batch, steps, seed
        self.low, self.high = low, high
        self.lengths: list[np.ndarray] = []  # per batch-episode: [B] steps each member ran

    def goals(self, e: int) -> np.ndarray:
        train = self.spec.train_goals()
        return train[(np.arange(self.batch) + e) % len(train)]

    def seeds(self, e: int) -> np.ndarray:
        return np.arange(self.batch) + e * self.batch

    def actions(self, e: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, e])
        return rng.uniform(self.low, self.high, size=(self.steps, self.batch, len(self.low)))


def time_batched(task: str, work: Workload, record: bool) -> tuple[float, int]:
    """Seconds and member-steps of `make_batched` over the workload (records lengths)."""
    from pdlf.envs import make_batched

    env = make_batched(task, work.batch, max_steps=work.steps)
    seconds, member_steps, e = 0.0, 0, 0
    while member_steps < work.batch * work.steps:
        actions = work.actions(e)
        env.reset(work.goals(e), work.seeds(e))
        lengths = np.zeros(work.batch, dtype=np.int64)
        t0 = time.perf_counter()
        for t in range(work.steps):
            if env.all_done:
                break
            lengths += ~env.done
            env.step(actions[t])
        seconds += time.perf_counter() - t0
        member_steps += int(lengths.sum())
        if record:
            work.lengths.append(lengths)
        e += 1
    return seconds, member_steps


def time_raw(gym_id: str, work: Workload) -> tuple[float, int] | None:
    """Seconds and env-steps of bare ``mj_step(nstep=frame_skip)`` replaying every episode;
    None if the task's env has no MuJoCo model."""
    import gymnasium as gym
    import mujoco

    env = gym.make(gym_id).unwrapped
    if not hasattr(env, "model") or not hasattr(env, "data"):
        return None
    model, frame_skip = env.model, int(getattr(env, "frame_skip", 1))
    data = mujoco.MjData(model)
    full = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state = np.zeros(mujoco.mj_stateSize(model, full))
    seconds, steps = 0.0, 0
    for e, lengths in enumerate(work.lengths):
        actions, goals, seeds = work.actions(e), work.goals(e), work.seeds(e)
        for b, n in enumerate(lengths.tolist()):
            env.reset(seed=int(seeds[b]), options={"goal": float(goals[b])})
            mujoco.mj_getState(model, env.data, state, full)
            mujoco.mj_setState(model, data, state, full)
            ctrl = data.ctrl
            t0 = time.perf_counter()
            for t in range(n):
                ctrl[:] = actions[t, b]
                mujoco.mj_step(model, data, frame_skip)
            seconds += time.perf_counter() - t0
            steps += n
    env.close()
    return seconds, steps


def time_gym(gym_id: str, work: Workload, stock: bool) -> tuple[float, int]:
    """Seconds and env-steps of one ``gym.make`` env replaying the first members' episodes."""
    import gymnasium as gym

    env = gym.make(gym_id)
    seconds, steps = 0.0, 0
    budget = GYM_MEMBERS * work.steps
    for e, lengths in enumerate(work.lengths):
        actions = work.actions(e).astype(np.float32)
        goals, seeds = work.goals(e), work.seeds(e)
        for b, n in enumerate(lengths.tolist()):
            options = None if stock else {"goal": float(goals[b])}
            env.reset(seed=int(seeds[b]), options=options)
            t0 = time.perf_counter()
            for t in range(n):
                _, _, terminated, truncated, _ = env.step(actions[t, b])
                steps += 1
                if terminated or truncated:
                    break
            seconds += time.perf_counter() - t0
            if steps >= budget:
                env.close()
                return seconds, steps
    env.close()
    return seconds, steps


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def pin_one_cpu() -> int | None:
    """Pin this process to one CPU of its current set; return it (None where unsupported)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def measure(task: str, batch: int, steps: int, repeats: int, seed: int) -> dict:
    """Run the three measurements `repeats` times, interleaved; return the report dict."""
    import gymnasium as gym
    import mujoco

    from pdlf.envs import get_task
    from pdlf.envs.locomotion import quiet_settotalmass
    from pdlf.envs.vector import KERNEL_ENVS

    spec = get_task(task)
    stock_id = STOCK_IDS.get(task, spec.gym_id)
    cpu = pin_one_cpu()
    with quiet_settotalmass():
        probe = gym.make(spec.gym_id)
        space = probe.action_space
        probe.close()
        work = Workload(spec, batch, steps, seed, space.low, space.high)
        best = {"batched": 0.0, "raw": None, "gym": 0.0}
        sizes = {}
        for r in range(repeats):
            seconds, n = time_batched(task, work, record=(r == 0))
            best["batched"] = max(best["batched"], n / seconds)
            sizes["batched"] = n
            raw = time_raw(spec.gym_id, work)
            if raw is not None:
                best["raw"] = max(best["raw"] or 0.0, raw[1] / raw[0])
                sizes["raw"] = raw[1]
            seconds, n = time_gym(stock_id, work, stock=stock_id != spec.gym_id)
            best["gym"] = max(best["gym"], n / seconds)
            sizes["gym"] = n
    raw_rate = best["raw"]
    return {
        "env": task,
        "path": "kernel" if task in KERNEL_ENVS else "gym",
        "batch": batch,
        "steps": steps,
        "repeats": repeats,
        "member_steps": sizes["batched"],
        "batched_steps_per_s": round(best["batched"], 1),
        "gym_id": stock_id,
        "gym_env_steps": sizes["gym"],
        "gym_steps_per_s": round(best["gym"], 1),
        "raw_physics_steps_per_s": None if raw_rate is None else round(raw_rate, 1),
        "ratio_to_raw_physics": None if raw_rate is None else round(best["batched"] / raw_rate, 3),
        "ratio_to_gym": round(best["batched"] / best["gym"], 3),
        "cpu": cpu,
        "threads": 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mujoco": mujoco.__version__,
        "gymnasium": gym.__version__,
        "torch": _version("torch"),
    }


def run(args: argparse.Namespace) -> int:
    report = measure(args.env, args.batch, args.steps, args.repeats, args.seed)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['env']}: batch {report['batch']}, {report['member_steps']} member-steps,"
          f" best of {report['repeats']} (env-steps/s, one CPU)")
    raw = report["raw_physics_steps_per_s"]
    rows = [
        ("batched (make_batched)", report["batched_steps_per_s"]),
        (f"gymnasium {report['gym_id']}", report["gym_steps_per_s"]),
        ("raw physics", raw),
    ]
    for name, rate in rows:
        print(f"  {name:<28} {'n/a' if rate is None else f'{rate:>10,.0f}'}")
    ratio = report["ratio_to_raw_physics"]
    print(f"  batched / raw physics        {'n/a' if ratio is None else f'{ratio:>10.3f}'}")
    print(f"  batched / gymnasium          {report['ratio_to_gym']:>10.3f}")
    return 0
