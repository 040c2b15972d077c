"""Task specifications: the facts every consumer of a task needs, without building it.

A `TaskSpec` names a goal-conditioned task (TASKS.md), its gymnasium id, its dimensions and its
goal grids. Task modules register their spec with `register_task`; everything else looks tasks up
by name through `get_task`, which fails with a "did you mean" hint.

Goal grids (TASKS.md), for a goal range `[g_min, g_max)`:
- training: `g_k = g_min + k (g_max - g_min) / 8`, `k = 0..7`
- unseen:   `u_i = (1 - i/12) g_min + (i/12) g_max`, `i = 0..11`
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pdlf.errors import GoalRangeError
from pdlf.registry import Registry

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
    """One dict per registered task (name, id, dims, goal range): what ``pdlf envs`` prints."""
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
            }
        )
    return rows
