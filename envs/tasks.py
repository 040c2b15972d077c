"""Task specifications: the facts every consumer of a task needs, without building it.

A `TaskSpec` names a goal-conditioned task (TASKS.md), its gymnasium id, its dimensions and its
goal grids. Task modules register their spec with `register_task`; everything else looks tasks up
by name through `get_task`, which fails with a "did you mean" hint.

Goal grids (TASKS.md), for a goal range `[g_min, g_max)`:
- training: `g_k = g_min + k (g_max - g_min) / 8`, `k = 0..7`
- unseen:   `u_i = (1 - i/12) g_min + (i/12) g_max`, `i = 0..11`
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pdlf.errors import ConfigError, GoalRangeError
from pdlf.registry import Registry, did_you_mean

N_TRAIN_GOALS = 8
N_UNSEEN_GOALS = 12


@dataclass(frozen=True)
class TaskSpec:
    """Static description of one multi-task environment.

    Attributes:
        name: short task name used in configs (``"halfcheetah_vel"``).
        gym_id: gymnasium id (``"pdlf/HalfCheetahVel-v0"``).
        obs_dim: observation size the agent sees, goal columns included.
        act_dim: action size.
        goal_dim: number of trailing observation columns that hold the raw goal value (never
            normalised); 0 where the goal is seen only through an egocentric observation.
        goal_low, goal_high: goal range ``[goal_low, goal_high)`` (units: rad or m/s).
        goal_units: units of the goal value, for reports.
        episode_steps: steps per episode (1000 for every PDLF task).
        description: one line for ``pdlf envs``.
        params: names of the task's own settings (``env.params`` in a run config); empty for
            tasks that have none.
        param_check: optional validator of the values, ``param_check(params)``, called by
            `check_params` once every key is known; it raises a one-line `ConfigError` naming
            ``env.params.KEY`` for the first bad value. None: any value is accepted.
        feedback_channels: observation columns that carry the task's feedback (the cognitive
            tasks' correct answer after each trial), read by ``rule.modulator=feedback``; () = none.
        mirror_bit: ``seed + mirror_bit`` gives the mirrored twin of episode ``seed`` (every
            correct answer flipped; `pdlf.envs.cognitive`), used by ``env.mirror_pairs``; 0 = the
            task has no twins.
    """

    name: str
    gym_id: str
    obs_dim: int
    act_dim: int
    goal_dim: int
    goal_low: float
    goal_high: float
    goal_units: str
    episode_steps: int = 1000
    description: str = ""
    params: tuple[str, ...] = ()
    param_check: Callable[[Mapping[str, Any]], None] | None = field(default=None, compare=False)
    feedback_channels: tuple[int, ...] = ()
    mirror_bit: int = 0

    def check_params(self, params: dict) -> None:
        """Raise `ConfigError` naming the first key of ``params`` this task does not take, or
        (through `param_check`) the first key whose value it cannot use."""
        if not isinstance(params, Mapping):
            raise ConfigError(f"env.params must be a mapping of names to values, got {params!r}")
        for key in params:
            if key not in self.params:
                if self.params:
                    hint = did_you_mean(str(key), self.params)
                else:
                    hint = f"{self.name} takes no env.params"
                raise ConfigError(
                    f"unknown config key 'env.params.{key}' for task {self.name}: {hint}"
                )
        if self.param_check is not None:
            self.param_check(params)

    def train_goals(self) -> np.ndarray:
        """The 8 training goals, shape ``[8]``."""
        k = np.arange(N_TRAIN_GOALS, dtype=np.float64)
        return self.goal_low + k * (self.goal_high - self.goal_low) / N_TRAIN_GOALS

    def unseen_goals(self) -> np.ndarray:
        """The 12 held-out goals evenly spaced over the range, shape ``[12]``."""
        i = np.arange(N_UNSEEN_GOALS, dtype=np.float64) / N_UNSEEN_GOALS
        return (1.0 - i) * self.goal_low + i * self.goal_high

    def check_goal(self, goal: float, extrapolate: bool = False) -> float:
        """Return `goal` as a float, or raise `GoalRangeError` if it lies outside the range."""
        g = float(goal)
        if not extrapolate and not (self.goal_low <= g <= self.goal_high):
            raise GoalRangeError(
                f"goal {g:g} is outside {self.name}'s range [{self.goal_low:g}, {self.goal_high:g}]"
                f" ({self.goal_units}); pass extrapolate=True to evaluate outside the range"
            )
        return g


TASKS: Registry[TaskSpec] = Registry("task")


def register_task(spec: TaskSpec) -> TaskSpec:
    """Add `spec` to the task registry (called once by each task module)."""
    return TASKS.register(spec.name, spec)


def get_task(name: str) -> TaskSpec:
    """The registered `TaskSpec` called `name`; unknown names raise `UnknownNameError`."""
    return TASKS.get(name)


def describe_tasks() -> list[dict]:
    """One dict per registered task (name, id, dims, goal range, params): what ``pdlf envs``
    prints."""
    rows = []
    for name in TASKS:
        s = TASKS.get(name)
        rows.append(
            {
                "name": s.name,
                "id": s.gym_id,
                "obs_dim": s.obs_dim,
                "act_dim": s.act_dim,
                "goal_dim": s.goal_dim,
                "goal_range": [s.goal_low, s.goal_high],
                "goal_units": s.goal_units,
                "episode_steps": s.episode_steps,
                "description": s.description,
                "params": list(s.params),
            }
        )
    return rows
