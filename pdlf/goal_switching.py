"""Goal switching within one episode (spec §5): the target changes on a schedule and the agent
must follow it without being told anything but the new goal in its observation.

    res = goal_switch_episodes(load_run(run_dir), DEFAULT_SCHEDULES["halfcheetah_vel"], seeds=[0, 1])
    res["target"]            # [T] the scheduled goal of each step (m/s or rad)
    res["velocity"]          # [T, S, k] the velocity the reward measures (m/s; k = 1: x, k = 2: xy)
    res["tracking_error"]    # mean error over the settled half of every segment, per env seed

The switch goes through `pdlf.perturb.GoalSwitch` with the env, so the observation *and* the
reward follow the new goal; the achieved velocity is read from the physics after every step by
`TrackRecorder`, with the task kernel's own ``track`` (the quantity its reward differentiates).
For velocity tasks the error is ``|v_x - v*|`` (m/s); for direction tasks it is the angle between
the heading of the moving-average velocity and the target direction (rad).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from pdlf.errors import ConfigError

# one schedule per task: [(first step, goal)], every goal on the task's 8-goal training grid
DEFAULT_SCHEDULES: dict[str, list[tuple[int, float]]] = {
    "halfcheetah_vel": [(1, 2.125), (251, 5.5), (501, 3.25), (751, 7.75)],  # m/s
    "hopper_vel": [(1, 0.6), (251, 1.4), (501, 0.8), (751, 1.8)],  # m/s
    "swimmer_dir": [(1, 0.0), (251, math.pi / 2), (501, -math.pi), (751, -math.pi / 2)],  # a square
    "ant_dir": [(1, 0.0), (251, math.pi / 2), (501, -math.pi), (751, -math.pi / 2)],
}
HEADING_WINDOW = 25  # steps of velocity averaged before the heading of a direction task is taken


class TrackRecorder:
    """A rollout probe that records the kernel's tracked position of every member after each step.

    ``positions`` is ``[T + 1, B, k]`` (m) once the episode ran: row 0 before the first action.
    """

    def __init__(self, env) -> None:
        from pdlf.envs.vector import KERNEL_ENVS

        if env.spec.name not in KERNEL_ENVS:
            raise ConfigError(f"goal switching records locomotion velocities; {env.spec.name} is not one of "
                              f"{', '.join(sorted(KERNEL_ENVS))}")
        self.env = env
        self.kernel = KERNEL_ENVS[env.spec.name].kernel
        model, _ = env.physics(0)
        self.dt = float(model.opt.timestep) * self.kernel.frame_skip  # s per env step
        self._rows: list[np.ndarray] = []

    def _read(self) -> np.ndarray:
        return np.stack([np.array(self.kernel.track(self.env.physics(b)[1]), dtype=np.float64)
                         for b in range(self.env.batch_size)])

    def before_step(self, step: int, agent, obs: np.ndarray) -> None:
        if step == 1:
            self._rows = [self._read()]

    def after_step(self, step: int, agent, reward: np.ndarray) -> None:
        self._rows.append(self._read())

    @property
    def positions(self) -> np.ndarray:
        return np.stack(self._rows)

    def velocity(self) -> np.ndarray:
        """``[T, B, k]`` velocity over each step, m/s (what the reward uses)."""
        return np.diff(self.positions, axis=0) / self.dt


def target_of_steps(schedule: Sequence[tuple[int, float]], steps: int) -> np.ndarray:
    """``[steps]`` the scheduled goal of steps 1..steps (NaN before the first entry)."""
    target = np.full(steps, np.nan)
    for first, goal in sorted(schedule):
        target[first - 1:] = goal
    return target


def heading_angle(velocity: np.ndarray, window: int = HEADING_WINDOW) -> np.ndarray:
    """``[T, ...]`` heading (rad) of the trailing ``window``-step mean of ``velocity [T, ..., 2]``."""
    c = np.cumsum(velocity, axis=0)
    mean = c.copy()
    mean[window:] = c[window:] - c[:-window]
    return np.arctan2(mean[..., 1], mean[..., 0])


def tracking_errors(units: str, schedule: Sequence[tuple[int, float]], velocity: np.ndarray) -> np.ndarray:
    """``[S]`` mean tracking error of each episode over the settled (second) half of every segment.

    Args:
        units: the task's goal units: ``rad`` (direction: angle error, rad) or a speed (``|v_x - v*|``, m/s).
        schedule: ``[(first step, goal)]``.
        velocity: ``[T, S, k]`` velocity per step (m/s).
    """
    steps = velocity.shape[0]
    target = target_of_steps(schedule, steps)
    if units == "rad":
        angle = heading_angle(velocity)
        error = np.abs(np.angle(np.exp(1j * (angle - target[:, None]))))  # wrapped to [0, pi]
    else:
        error = np.abs(velocity[..., 0] - target[:, None])
    firsts = sorted(first for first, _ in schedule) + [steps + 1]
    settled = np.zeros(steps, dtype=bool)
    for a, b in zip(firsts[:-1], firsts[1:]):
        settled[(a - 1 + b - 1) // 2: b - 1] = True
    return error[settled].mean(axis=0)


def check_schedule(schedule: Sequence[tuple[int, float]], steps: int) -> list[tuple[int, float]]:
    """``schedule`` sorted; `ConfigError` unless it starts at step 1 and every step is in 1..steps."""
    schedule = sorted((int(a), float(g)) for a, g in schedule)
    if not schedule or schedule[0][0] != 1 or schedule[-1][0] > steps or len({a for a, _ in schedule}) < len(schedule):
        raise ConfigError(f"goal schedule {schedule}: give distinct first steps, the first at step 1, all <= {steps}")
    return schedule


def goal_switch_episodes(run, schedule: Sequence[tuple[int, float]], seeds: Sequence[int], steps: int = 1000,
                         genome: str = "center") -> dict:
    """Episodes of ``run``'s ``genome`` (a `pdlf.runs.LoadedRun`) whose goal follows ``schedule``.

    Returns a JSON-ready dict: ``schedule``, ``seeds``, ``steps``, ``dt`` (s), ``target [T]``,
    ``velocity [T, S, k]`` (m/s), ``returns [S]``, ``tracking_error [S]`` (`tracking_errors`) and
    ``error_units``.
    """
    from pdlf.evaluation import evaluate_genome
    from pdlf.perturb import GoalSwitch

    schedule = check_schedule(schedule, steps)
    spec = run.spec
    probes: list[TrackRecorder] = []

    def hooks(env):
        probes.append(TrackRecorder(env))
        return [GoalSwitch(schedule, spec.goal_dim, env=env), probes[0]]

    ev = evaluate_genome(run.cfg, run.genome(genome), [schedule[0][1]], seeds, run.norm, episode_steps=steps,
                         env_hooks=hooks)
    velocity = probes[0].velocity()
    return {
        "task": spec.name, "kind": run.kind, "run_dir": str(run.run_dir), "genome": genome,
        "schedule": [list(e) for e in schedule], "seeds": [int(s) for s in seeds], "steps": steps,
        "dt": probes[0].dt, "target": target_of_steps(schedule, steps).tolist(), "velocity": velocity.tolist(),
        "returns": ev.returns[0].tolist(), "tracking_error": tracking_errors(spec.goal_units, schedule, velocity).tolist(),
        "error_units": "rad" if spec.goal_units == "rad" else spec.goal_units,
    }
