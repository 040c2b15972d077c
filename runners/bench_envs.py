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

``--backend mjwarp --device DEV`` times `make_batched` on MuJoCo Warp (``batched_steps_per_s``,
its numpy contract with one host copy of the state per step; ``device_resident_steps_per_s``, its
`step_tensors` with actions already on the device) and, in the same run, the C MuJoCo batched env
on the same workload
(``mujoco_batched_steps_per_s``, ``ratio_to_mujoco_batched``); ``mjwarp_setup_s`` is the first
env's construction (Warp start-up, kernels compiled or loaded from the cache, graph capture).
``agent_steps_per_s`` is the plastic SNN alone (rule pdlf, hidden 128) with ``--batch`` agents
on the env's device (torch's CPU otherwise).

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
    parser.add_argument("--backend", default="mujoco", help="physics: mujoco (C MuJoCo) or mjwarp (MuJoCo Warp)")
    parser.add_argument("--device", default="cpu", help="where mjwarp simulates: cpu, cuda or cuda:N")
    parser.add_argument("--friction-cone", default="pyramidal", help="pyramidal or elliptic, in either backend")
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


def time_batched(task: str, work: Workload, record: bool, physics: dict | None = None) -> tuple[float, int]:
    """Seconds and member-steps of `make_batched` over the workload (records lengths); `physics`
    are make_batched's ``backend``, ``device`` and ``friction_cone`` (default: C MuJoCo)."""
    from pdlf.envs import make_batched

    env = make_batched(task, work.batch, max_steps=work.steps, **(physics or {}))
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


def time_resident(task: str, work: Workload, physics: dict) -> tuple[float, int]:
    """Seconds and member-steps of MuJoCo Warp's device-resident stepping (`step_tensors`) over
    the workload's first batch-episodes: actions already on the device, the device synchronised
    at the end, member-steps counted from the ``done`` flags read after the clock stops. Like the
    rollout loop, it asks whether every member is done only every `DEVICE_DONE_CHECK` steps."""
    import torch

    from pdlf.envs import make_batched
    from pdlf.rollout import DEVICE_DONE_CHECK

    env = make_batched(task, work.batch, max_steps=work.steps, **physics)
    seconds, member_steps, e = 0.0, 0, 0
    while member_steps < work.batch * work.steps:
        actions = torch.as_tensor(work.actions(e), dtype=torch.float32, device=env.torch_device)
        env.reset_tensors(work.goals(e), work.seeds(e))
        alive = []
        sync = torch.cuda.synchronize if env.torch_device.type == "cuda" else (lambda: None)
        sync()
        t0 = time.perf_counter()
        done = torch.zeros(work.batch, dtype=torch.bool, device=env.torch_device)
        for t in range(work.steps):
            if t % DEVICE_DONE_CHECK == 0 and t and bool(done.all()):  # as the rollout loop asks
                break
            alive.append(~done)
            _, _, done = env.step_tensors(actions[t])
        sync()
        seconds += time.perf_counter() - t0
        env.check_capacity()
        member_steps += int(torch.stack(alive).sum())
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


def measure(task: str, batch: int, steps: int, repeats: int, seed: int, backend: str = "mujoco",
            device: str = "cpu", friction_cone: str = "pyramidal") -> dict:
    """Run the measurements `repeats` times, interleaved; return the report dict."""
    import gymnasium as gym
    import mujoco

    from pdlf.benchmarks import physics_versions, time_agent_steps
    from pdlf.config import EnvConfig
    from pdlf.envs import get_task, make_batched
    from pdlf.envs.locomotion import quiet_settotalmass
    from pdlf.envs.vector import KERNEL_ENVS

    spec = get_task(task)
    physics = EnvConfig(name=task, backend=backend, device=device, friction_cone=friction_cone)
    physics.validate()
    reference = {**physics.physics(), "backend": "mujoco", "device": "cpu"}  # C MuJoCo, same cone
    stock_id = STOCK_IDS.get(task, spec.gym_id)
    cpu = pin_one_cpu()
    import torch

    torch.set_num_threads(1)  # one pinned CPU: more torch threads would only contend for it
    setup_s = None
    if backend == "mjwarp":  # the first env pays Warp's start-up and kernel loading: timed apart
        t0 = time.perf_counter()
        make_batched(task, batch, max_steps=steps, **physics.physics()).close()
        setup_s = time.perf_counter() - t0
    with quiet_settotalmass():
        probe = gym.make(spec.gym_id)
        space = probe.action_space
        probe.close()
        work = Workload(spec, batch, steps, seed, space.low, space.high)
        best = {"batched": 0.0, "raw": None, "gym": 0.0, "mujoco_batched": None, "resident": None}
        sizes = {}
        for r in range(repeats):
            seconds, n = time_batched(task, work, record=(r == 0), physics=physics.physics())
            best["batched"] = max(best["batched"], n / seconds)
            sizes["batched"] = n
            if backend == "mjwarp":
                seconds, n = time_resident(task, work, physics.physics())
                best["resident"] = max(best["resident"] or 0.0, n / seconds)
            if backend != "mujoco":
                seconds, n = time_batched(task, work, record=False, physics=reference)
                best["mujoco_batched"] = max(best["mujoco_batched"] or 0.0, n / seconds)
            raw = time_raw(spec.gym_id, work)
            if raw is not None:
                best["raw"] = max(best["raw"] or 0.0, raw[1] / raw[0])
                sizes["raw"] = raw[1]
            seconds, n = time_gym(stock_id, work, stock=stock_id != spec.gym_id)
            best["gym"] = max(best["gym"], n / seconds)
            sizes["gym"] = n
    raw_rate, c_rate = best["raw"], best["mujoco_batched"]
    agent_device = device if backend == "mjwarp" else "cpu"
    return {
        "env": task,
        "path": "mjwarp" if backend == "mjwarp" else "kernel" if task in KERNEL_ENVS else "gym",
        "backend": backend,
        "device": device,
        "friction_cone": friction_cone,
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
        "device_resident_steps_per_s": None if best["resident"] is None else round(best["resident"], 1),
        "mujoco_batched_steps_per_s": None if c_rate is None else round(c_rate, 1),
        "ratio_to_mujoco_batched": None if c_rate is None else round(best["batched"] / c_rate, 3),
        "mjwarp_setup_s": None if setup_s is None else round(setup_s, 2),
        "agent_steps_per_s": round(time_agent_steps(spec.obs_dim, spec.act_dim, batch, agent_device), 1),
        "agent_device": agent_device,
        "cpu": cpu,
        "threads": 1,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "mujoco": mujoco.__version__,
        "gymnasium": gym.__version__,
        "torch": _version("torch"),
        **physics_versions(backend),
    }


def run(args: argparse.Namespace) -> int:
    report = measure(args.env, args.batch, args.steps, args.repeats, args.seed, args.backend, args.device,
                     args.friction_cone)
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"{report['env']}: batch {report['batch']}, {report['member_steps']} member-steps,"
          f" best of {report['repeats']} (env-steps/s, one CPU)")
    raw = report["raw_physics_steps_per_s"]
    where = "" if report["backend"] == "mujoco" else f", {report['backend']} on {report['device']}"
    rows = [
        (f"batched (make_batched{where})", report["batched_steps_per_s"]),
        (f"gymnasium {report['gym_id']}", report["gym_steps_per_s"]),
        ("raw physics", raw),
    ]
    if report["device_resident_steps_per_s"] is not None:
        rows.append(("device-resident (step_tensors)", report["device_resident_steps_per_s"]))
    if report["mujoco_batched_steps_per_s"] is not None:
        rows.append(("C MuJoCo batched", report["mujoco_batched_steps_per_s"]))
    rows.append((f"agent alone ({report['agent_device']}, agent-steps/s)", report["agent_steps_per_s"]))
    ratios = [("batched / raw physics", report["ratio_to_raw_physics"]),
              ("batched / gymnasium", report["ratio_to_gym"])]
    if report["ratio_to_mujoco_batched"] is not None:
        ratios.append(("batched / C MuJoCo batched", report["ratio_to_mujoco_batched"]))
    width = max(28, *(len(name) for name, _ in rows + ratios))
    for name, rate in rows:
        print(f"  {name:<{width}} {'n/a' if rate is None else f'{rate:>10,.0f}'}")
    for name, ratio in ratios:
        print(f"  {name:<{width}} {'n/a' if ratio is None else f'{ratio:>10.3f}'}")
    return 0
