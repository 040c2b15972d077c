"""The goals a runner evaluates on: one parser for every ``--goals`` argument.

    sel = parse_goals("all", spec)                 # a named set
    sel = parse_goals("2.5,5.0,12", spec)           # an explicit list (12 m/s: extrapolation)
    sel.goals, sel.seen, sel.outside                # [G] float64, [G] bool, [G] bool

Named sets, for a task's range ``[g_min, g_max)`` with ``Δ = g_max - g_min``:

- ``train``: the run's training goals (``env.goals``, else the task's 8-goal grid);
- ``unseen``: the task's 12 goals evenly over the range (TASKS.md);
- ``all``: both, duplicates dropped, sorted;
- ``interp72``: PDLF's 72 unseen-goal figure goals ``a + (b - a) i / 72``, ``i = 0..71`` (no
  endpoint), with ``a = g_min + Δ/8``, ``b = g_max - Δ/8`` and ``Δ`` the goal range;
- ``extrapolate``: 4 goals outside the range, ``g_min - Δ/9``, ``g_min - Δ/18``, ``g_max + Δ/18``,
  ``g_max + Δ/9`` (halfcheetah_vel: 0, 0.5, 10.5 and 11 m/s). Direction tasks (goals in rad) wrap
  around, so they have no goal outside their range and this set is an error for them.

An explicit list is comma-separated numbers in the task's goal units, kept in the given order.
A goal that coincides (to 1e-9) with a training goal counts as ``seen``, whatever the set.
A goal outside the task's range (`TaskSpec.check_goal`) is allowed, since evaluation may
extrapolate, and flagged in ``outside``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from pdlf.errors import ConfigError, GoalRangeError

GOAL_SETS = ("train", "unseen", "all", "interp72", "extrapolate")
_SAME = dict(rtol=1e-9, atol=1e-9)  # tolerance for "the same goal"
_LABEL_GOALS = 6  # explicit lists up to this long are spelled out in file names


@dataclass(frozen=True)
class GoalSelection:
    """Goals chosen by a ``--goals`` argument.

    Attributes:
        text: the argument as given (``"all"``, ``"2.5,5"``).
        goals: ``[G]`` float64 goals, in the task's units.
        seen: ``[G]`` bool, True where the goal is one of the run's training goals.
        outside: ``[G]`` bool, True where the goal lies outside the task's range (extrapolation).
    """

    text: str
    goals: np.ndarray
    seen: np.ndarray
    outside: np.ndarray

    @property
    def named(self) -> bool:
        """True for a named set (``train``, ``unseen``, ...), False for an explicit list."""
        return self.text in GOAL_SETS

    @property
    def label(self) -> str:
        """A file-name-safe name: the set's name, ``goals_2.5_5`` for a short list, else
        ``goals<G>_<hash>`` (a hash of the values, so two lists never share files)."""
        if self.named:
            return self.text
        values = [f"{g:g}" for g in self.goals]
        if len(values) <= _LABEL_GOALS:
            return "goals_" + "_".join(values)
        digest = hashlib.sha1(",".join(values).encode()).hexdigest()[:8]
        return f"goals{len(values)}_{digest}"


def is_seen(goals: Sequence[float], train: Sequence[float]) -> np.ndarray:
    """``[G]`` bool: the goal coincides (to 1e-9) with one of the training goals ``train``."""
    goals = np.asarray(goals, dtype=np.float64).reshape(-1)
    train = np.asarray(train, dtype=np.float64).reshape(-1)
    return np.isclose(goals[:, None], train[None, :], **_SAME).any(axis=1)


def outside_range(spec, goals: Sequence[float]) -> np.ndarray:
    """``[G]`` bool: ``spec.check_goal`` refuses the goal without extrapolation."""
    out = []
    for g in np.asarray(goals, dtype=np.float64).reshape(-1):
        try:
            spec.check_goal(g, extrapolate=False)
            out.append(False)
        except GoalRangeError:
            out.append(True)
    return np.asarray(out, dtype=bool)


def named_goals(spec, name: str, train: Sequence[float] | None = None) -> np.ndarray:
    """``[G]`` float64 goals of the named set ``name`` (one of `GOAL_SETS`) for task ``spec``."""
    train = spec.train_goals() if train is None or len(train) == 0 else np.asarray(train, dtype=np.float64)
    if name == "train":
        return np.asarray(train, dtype=np.float64).copy()
    if name == "unseen":
        return spec.unseen_goals().astype(np.float64)
    if name == "all":
        goals = np.concatenate([train, spec.unseen_goals()])
        keep = [i for i, g in enumerate(goals) if not is_seen([g], goals[:i]).any()]
        return np.sort(goals[keep]).astype(np.float64)
    if name == "interp72":
        delta = spec.goal_high - spec.goal_low
        a, b = spec.goal_low + delta / 8, spec.goal_high - delta / 8
        return a + (b - a) * np.arange(72, dtype=np.float64) / 72  # as PDLF's figure code: no endpoint
    if name == "extrapolate":
        if spec.goal_units == "rad":
            raise ConfigError(f"{spec.name}'s goals are directions (rad), which wrap around: no goal lies outside "
                              "its range; use train, unseen, all or interp72")
        delta = spec.goal_high - spec.goal_low
        return np.array([spec.goal_low - delta / 9, spec.goal_low - delta / 18,
                         spec.goal_high + delta / 18, spec.goal_high + delta / 9], dtype=np.float64)
    raise ConfigError(f"unknown goal set {name!r}: choose one of {', '.join(GOAL_SETS)}")


def parse_goals(text: str, spec, train: Sequence[float] | None = None, flag: str = "--goals") -> GoalSelection:
    """Parse a goals argument against task ``spec``: a name of `GOAL_SETS` or comma-separated numbers.

    Args:
        text: the argument.
        spec: the task's `TaskSpec` (``pdlf.envs.get_task(name)``).
        train: the run's training goals (default: the task's 8-goal grid).
        flag: the option's name, for error messages.

    Raises:
        ConfigError: one line naming ``flag``, the value and the accepted forms, if ``text`` is
            neither a set name nor a non-empty list of finite numbers.
    """
    text = str(text).strip()
    train = spec.train_goals() if train is None or len(train) == 0 else np.asarray(train, dtype=np.float64)
    if text in GOAL_SETS:
        goals = named_goals(spec, text, train)
    else:
        goals = np.asarray(_numbers(text, flag, spec), dtype=np.float64)
    return GoalSelection(text, goals, is_seen(goals, train), outside_range(spec, goals))


def _numbers(text: str, flag: str, spec) -> list[float]:
    accepted = (f"give one of {', '.join(GOAL_SETS)} or comma-separated goal values in {spec.goal_units}"
                f" (e.g. {spec.train_goals()[1]:g},{spec.train_goals()[2]:g})")
    parts = [p.strip() for p in text.split(",")]
    if not text or any(not p for p in parts):
        raise ConfigError(f"{flag} {text!r}: empty goal value; {accepted}")
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise ConfigError(f"{flag} {text!r}: {p!r} is neither a goal set nor a number; {accepted}") from None
        if not math.isfinite(v):
            raise ConfigError(f"{flag} {text!r}: {p!r} is not a finite number; {accepted}")
        values.append(v)
    return values
