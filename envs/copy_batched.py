"""The binary copy task as a `BatchedEnv`: ``B`` sequences stepped as numpy arrays.

``make_batched("copy", B, params={...})`` builds a `CopyBatchedEnv`. Its settings are a run
config's ``env.params`` (`pdlf.envs.copy_task.PARAM_DEFAULTS`):

- ``length`` (L, default 8) and ``delay`` (D, default 16): every episode is
  ``T = 2L + D + 1`` steps, whatever the task spec's default length; ``max_steps`` must be None
  (or T).
- ``reward``: ``accuracy`` (1 per recall step answered correctly, i.e. ``output > 0.5`` equals
  the target bit; an episode's return is the number of correct recall bits, 0..L) or ``margin``
  (``clip((2y - 1)(o - 0.5) / margin, -1, 1)`` per recall step, as ``pdlf.wm.wm_fitness``).
- ``margin`` (0.5): the output distance at which the margin reward saturates.
- ``membrane_reset`` (false): the working-memory test as part of the task. The env then carries
  one task hook (`MembraneReset`) that calls ``agent.reset_membranes()`` before each silent step,
  i.e. before actions number ``L+1 .. L+D+1`` (steps counted from 1, as every hook counts them),
  so that only what the fast weights hold can reach the recall window.

Member ``b`` is exactly ``gym.make("pdlf/Copy-v0", length=L, delay=D, reward=..., margin=...)``
reset with ``seed=seeds[b]``: same observations (float64 here, float32 there; the values are 0/1),
rewards and episode end. Its bits depend on its seed alone. A generation evaluates many members on
a few seeds (common random numbers), so each distinct seed's sequence is drawn once (the gym env's
own draw) and cached; the batch is an index into that table.

The copy task has no goal: goals are range-checked like every task's and otherwise ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium.utils import seeding

from pdlf.envs.copy_task import TASK, CopyTaskConfig, copy_params, margin_reward
from pdlf.envs.vector import BatchedEnv, register_batched
from pdlf.errors import ConfigError

CACHE_LIMIT = 1 << 16  # distinct seeds kept per env before the cache is cleared


class MembraneReset:
    """Task hook: ``agent.reset_membranes()`` before actions number ``first .. last`` (inclusive,
    counted from 1). Zeroes membranes, spikes, traces and any recurrent state the agent keeps
    there; the fast weights are kept. Has the `pdlf.rollout.Perturbation` interface."""

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = int(first), int(last)

    def before_step(self, step: int, agent, obs: np.ndarray) -> None:
        if self.first <= step <= self.last:
            agent.reset_membranes()
        return None

    def after_step(self, step: int, agent, reward: np.ndarray) -> None:
        return None

    def __repr__(self) -> str:
        return f"MembraneReset(first={self.first}, last={self.last})"


def sequence_bits(cfg: CopyTaskConfig, seed: int) -> np.ndarray:
    """The ``[L]`` bits that ``CopyEnv.reset(seed=seed)`` draws: the same calls in the same order
    (the gym env's seeded ``np_random`` seeds a torch generator, whose first draw is
    `make_copy_batch`'s ``items``), without building the rest of the batch (~4x faster)."""
    rng, _ = seeding.np_random(int(seed))
    g = torch.Generator().manual_seed(int(rng.integers(2**62)))
    return torch.randint(0, cfg.n_classes, (1, cfg.length), generator=g)[0].numpy().astype(np.int8)


class CopyBatchedEnv(BatchedEnv):
    """``B`` binary copy-task episodes (module docstring).

    Attributes (besides `BatchedEnv`'s):
        cfg: the `CopyTaskConfig` (length, delay).
        params: the full settings, defaults filled in.
        recall_start: 0-based index of the first recall step, ``L + D`` (PDLF's window).
        items: ``[B, L]`` int8, the bits of the current episodes, in input order.
        recall_targets: ``[B, L]`` int8, the target of each recall step (here `items` itself).
        task_hooks: ``(MembraneReset(L+1, L+D),)`` (before each of the D delay steps' actions)
            with ``membrane_reset``, else empty.

    Subclasses of the same phase structure (``pdlf.envs.assoc_task.AssocBatchedEnv``) set
    `task` and override `_draw` (one seed's sequence), `_assign` (the batch's from those) and
    `_observe`; the per-seed cache, the rewards, the episode end and the hook are shared.
    """

    task = TASK

    def __init__(
        self,
        batch_size: int,
        max_steps: int | None = None,
        extrapolate: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        self.params = copy_params(params, self.task)
        length, delay = int(self.params["length"]), int(self.params["delay"])
        self.cfg = CopyTaskConfig(length=length, delay=delay)
        T = self.cfg.steps
        if max_steps is not None and int(max_steps) != T:
            raise ConfigError(
                f"env.episode_steps={max_steps}: the {self.task.name} task's episodes are"
                f" T = 2L+D+1 = {T} steps (length={length}, delay={delay});"
                " set it to 0 (the task's own)"
            )
        super().__init__(self.task, batch_size, T, extrapolate)
        self.recall_start = self.cfg.recall_start
        self.reward_kind = str(self.params["reward"])
        self.margin = float(self.params["margin"])
        if self.params["membrane_reset"]:
            self.task_hooks = (MembraneReset(self.cfg.length + 1, self.recall_start),)
        self.items = np.zeros((self.batch_size, self.cfg.length), dtype=np.int8)
        self.recall_targets = self.items
        self._cache: dict[int, np.ndarray] = {}

    def _draw(self, seed: int) -> np.ndarray:
        """The sequence of `seed` as the gym env draws it: here its ``[L]`` bits."""
        return sequence_bits(self.cfg, seed)

    def _sequence(self, seed: int) -> np.ndarray:
        """`_draw`, cached per distinct seed."""
        drawn = self._cache.get(seed)
        if drawn is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            drawn = self._cache[seed] = self._draw(seed)
        return drawn

    def _assign(self, rows: np.ndarray) -> None:
        """Make ``rows`` (``[B, ...]``, one `_draw` result per member) the current episodes."""
        self.items = self.recall_targets = rows

    def _observe(self, k: int) -> np.ndarray:
        """Observations of step index ``k`` (0-based) for every member; zeros once ``k == T``."""
        obs = np.zeros((self.batch_size, 3), dtype=np.float64)
        if k < self.cfg.length:
            obs[:, 0] = self.items[:, k]
            obs[:, 1] = 1.0
        elif self.recall_start <= k < self.cfg.recall_stop:
            obs[:, 2] = 1.0
        return obs

    def _reset(self, goals: np.ndarray, seeds: list[int]) -> np.ndarray:
        distinct, index = np.unique(np.asarray(seeds, dtype=np.int64), return_inverse=True)
        table = np.stack([self._sequence(int(s)) for s in distinct])  # [U, ...]
        self._assign(table[index.reshape(-1)])
        return self._observe(0)

    def _step(self, actions: np.ndarray, active: np.ndarray):
        t = self.steps  # 0-based index of the step being taken (action number t + 1)
        out = actions[:, 0]
        reward = np.zeros(self.batch_size, dtype=np.float64)
        if self.recall_start <= t < self.cfg.recall_stop:
            target = self.recall_targets[:, t - self.recall_start]
            if self.reward_kind == "margin":
                sign = 2.0 * target.astype(np.float64) - 1.0
                reward = margin_reward(sign, out, self.cfg.threshold, self.margin)
            else:
                reward = ((out > self.cfg.threshold) == (target == 1)).astype(np.float64)
        terminated = np.full(self.batch_size, t + 1 >= self.cfg.steps)
        return self._observe(t + 1), reward, terminated


register_batched(TASK.name, CopyBatchedEnv)
