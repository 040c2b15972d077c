"""Associative recall: a working-memory task that only a synaptic (fast-weight) memory can pass.

The copy task's phases (``pdlf.envs.copy_task``), ``T = 2L + D + 1`` steps (``L`` = `length`,
``D`` = `delay`), with keys added and the recall order shuffled:

    steps [0, L)               input:  key e_t, bit b_t ~ U{0, 1}, input flag 1
    steps [L, L + D)           delay:  every channel 0
    steps [L + D, 2L + D)      recall: key e_pi(r), recall flag 1 (bit channel 0);
                                       target b_pi(r), r = t - (L + D)
    step  2L + D               end:    every channel 0, not scored

Observation (``K + 3 = 19`` channels, ``K = 16`` fixed so the task's dimensions are static):
``[key (K, one-hot e_i of position i, so L <= K), bit, input flag, recall flag]``. ``pi`` is a
random permutation of the ``L`` positions drawn per sequence, so the order of the recall steps
carries no information: only an association key -> bit stored during the input phase can answer.
With ``membrane_reset`` (the copy task's task hook, `MembraneReset`: membranes, spikes, traces
and any GRU state zeroed before actions ``L+1 .. L+D``, counted from 1: every delay step) nothing but the fast
weights survives to the recall phase, and an agent whose weights do not change (rule ``none``)
sees, at each recall step, only the keys shown so far in the recall phase: chance (0.5).

Action: one scalar; bit 1 iff ``output > 0.5``. Reward per recall step (``env.params.reward``):
``accuracy`` (1 if right, else 0; the return is the number of correct recalls, 0..L) or
``margin`` (``clip((2y - 1)(o - 0.5) / margin, -1, 1)``), as in the copy task; 0 elsewhere.
The task has no goal: goals in [0, 1] are range-checked and ignored, as for the copy task.

`AssocEnv` is the gymnasium env (one sequence per episode, drawn from ``reset(seed)``'s
``np_random``: the bits, then the permutation); `AssocBatchedEnv` (``make_batched("assoc", B,
params=...)``) steps ``B`` of them as numpy arrays, member ``b`` equal to ``AssocEnv`` reset with
``seeds[b]`` bit for bit (observations as float64 there, float32 here; rewards; episode end),
each distinct seed's sequence drawn once and cached. Both reuse the copy task's envs
(`CopyEnv`, `CopyBatchedEnv`): rewards, params, cache, episode length and hook are theirs.

>>> obs = assoc_observation(3, np.array([[1, 0]]), np.array([[1, 0]]), delay=1)
>>> np.flatnonzero(obs[0]).tolist()  # L=2, D=1: step index 3 = L + D is the first recall step, key e_1
[1, 18]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
from gymnasium.utils import seeding

from pdlf.envs.copy_batched import CopyBatchedEnv
from pdlf.envs.copy_task import PARAM_DEFAULTS, REWARDS, CopyEnv, CopyTaskConfig, check_copy_params
from pdlf.envs.tasks import TaskSpec, register_task
from pdlf.envs.vector import register_batched

N_KEYS = 16  # K: key channels, the largest length
BIT, INPUT_FLAG, RECALL_FLAG = N_KEYS, N_KEYS + 1, N_KEYS + 2  # channel indices
OBS_DIM = N_KEYS + 3
DEFAULT = CopyTaskConfig()  # L = 8, D = 16 (the copy task's defaults)


def check_assoc_params(params: Mapping[str, Any]) -> None:
    """The copy task's checks (`check_copy_params`), with ``length`` at most ``K = 16``."""
    check_copy_params(params, max_length=N_KEYS)


TASK = register_task(
    TaskSpec(
        name="assoc",
        gym_id="pdlf/Assoc-v0",
        obs_dim=OBS_DIM,
        act_dim=1,
        goal_dim=0,
        goal_low=0.0,
        goal_high=1.0,
        goal_units="unused",
        episode_steps=DEFAULT.steps,
        description=(
            f"associative recall: L key->bit pairs, D silent steps, the L keys again in a random "
            f"order, answer each key's bit; default L={DEFAULT.length} D={DEFAULT.delay}, "
            f"T = 2L+D+1 steps, obs = [key ({N_KEYS}, one-hot), bit, input flag, recall flag] "
            "(no goal: the value is accepted and ignored); env.params: length (1..16), delay, "
            f"reward ({'|'.join(REWARDS)}), margin, membrane_reset"
        ),
        params=tuple(PARAM_DEFAULTS),
        param_check=check_assoc_params,
    )
)


def assoc_sequence(length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One sequence from `rng`: the ``[L]`` bits, then the ``[L]`` recall permutation (both
    int64; recall step ``r`` asks for position ``order[r]``)."""
    bits = rng.integers(0, 2, size=length)
    order = rng.permutation(length)
    return bits, order


def assoc_observation(k: int, bits: np.ndarray, order: np.ndarray, delay: int) -> np.ndarray:
    """The channels of step index ``k`` (0-based) of each sequence, ``[B, K + 3]`` float64.

    Args:
        k: step index; zeros once ``k >= T`` (the observation after the last step).
        bits, order: ``[B, L]`` each, as `assoc_sequence` draws them.
        delay: D.
    """
    n, length = bits.shape
    obs = np.zeros((n, OBS_DIM), dtype=np.float64)
    recall_start = length + delay
    if k < length:
        obs[:, k] = 1.0
        obs[:, BIT] = bits[:, k]
        obs[:, INPUT_FLAG] = 1.0
    elif recall_start <= k < recall_start + length:
        obs[np.arange(n), order[:, k - recall_start]] = 1.0
        obs[:, RECALL_FLAG] = 1.0
    return obs


class AssocEnv(CopyEnv):
    """Associative recall as a gymnasium env: one sequence per episode (module docstring).

    Observation ``Box(0, 1, (19,))``; action ``Box(0, 1, (1,))``; rewards, ``info`` and the
    episode end are `CopyEnv`'s. ``length`` must lie in 1..16 (`ConfigError` otherwise).
    """

    task = TASK

    def __init__(
        self,
        length: int = DEFAULT.length,
        delay: int = DEFAULT.delay,
        goal: float | None = None,
        extrapolate: bool = False,
        render_mode: str | None = None,
        reward: str = "accuracy",
        margin: float = 0.5,
    ) -> None:
        check_assoc_params({"length": length, "delay": delay})
        super().__init__(length, delay, goal, extrapolate, render_mode, reward, margin)

    def _draw(self) -> tuple[np.ndarray, np.ndarray]:
        L, D, T = self.cfg.length, self.cfg.delay, self.cfg.steps
        bits, order = assoc_sequence(L, self.np_random)
        inputs = np.stack([assoc_observation(k, bits[None], order[None], D)[0] for k in range(T)])
        targets = np.zeros(T, dtype=np.int64)
        targets[self.cfg.recall_start : self.cfg.recall_stop] = bits[order]
        return inputs.astype(np.float32), targets


class AssocBatchedEnv(CopyBatchedEnv):
    """``B`` associative-recall episodes (module docstring); made by ``make_batched("assoc", B,
    params=...)`` with the copy task's params and checks (``length`` at most 16).

    Attributes (besides `CopyBatchedEnv`'s):
        items: ``[B, L]`` int8, the bits in input order (position ``i`` has key ``e_i``).
        order: ``[B, L]`` int8, the recall permutation: recall step ``r`` shows key ``order[:, r]``.
        recall_targets: ``[B, L]`` int8, ``items[b, order[b, r]]``.
    """

    task = TASK

    def __init__(
        self,
        batch_size: int,
        max_steps: int | None = None,
        extrapolate: bool = False,
        params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(batch_size, max_steps, extrapolate, params)
        self.order = np.zeros((self.batch_size, self.cfg.length), dtype=np.int8)

    def _draw(self, seed: int) -> np.ndarray:
        """``[2, L]`` int8: the bits and the order ``AssocEnv.reset(seed=seed)`` draws."""
        rng, _ = seeding.np_random(int(seed))
        return np.stack(assoc_sequence(self.cfg.length, rng)).astype(np.int8)

    def _assign(self, rows: np.ndarray) -> None:
        self.items, self.order = rows[:, 0], rows[:, 1]
        self.recall_targets = np.take_along_axis(self.items, self.order.astype(np.intp), axis=1)

    def _observe(self, k: int) -> np.ndarray:
        return assoc_observation(k, self.items, self.order, self.cfg.delay)


register_batched(TASK.name, AssocBatchedEnv)
gymnasium.register(id=TASK.gym_id, entry_point="pdlf.envs.assoc_task:AssocEnv")
