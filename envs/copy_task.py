"""PDLF's working-memory copy task (TASKS.md) as pure torch tensors, and a gymnasium view of it.

A sequence of ``T = 2L + D + 1`` steps (``L`` = `length`, ``D`` = `delay`) has three phases:

    steps [0, L)               input:  memory bit x_t ~ U{0, 1}, input flag 1
    steps [L, L + D)           delay:  every channel 0
    steps [L + D, 2L + D)      recall: recall flag 1, target y_t = x_{t - (L + D)}
    step  2L + D               end:    every channel 0, not scored

Input channels (binary reference, ``C = 3``): ``[memory bit, input flag, recall flag]``. This is
PDLF's generator: its recall flag is on at steps ``L + D .. 2L + D - 1`` of ``2L + D + 1``, so the
recall window follows the delay at once (at ``D = 0``, the last input step) and the extra step is
an unscored silent step at the end.

Output: one scalar per step; the predicted bit is ``output > threshold`` (default 0.5, for outputs
in [0, 1]). Score: the fraction of the ``L`` recall steps whose predicted bit equals the target;
chance is 0.5.

K-class variant (``n_classes = K > 2``, or ``feature_dim > 1``): each input step shows the
prototype vector of a class drawn uniformly from ``K``, plus ``noise * N(0, 1)`` per feature
(input phase only); the channels are ``[features (F), input flag, recall flag]``. Prototypes: the
bit itself for the reference (``K = 2``, ``F = 1``), one-hot rows when ``F == K``, otherwise
fixed random ``+-1/sqrt(F)`` patterns drawn from `prototype_seed`. With ``K > 2`` the output is
``K`` logits per step and the prediction their argmax; with ``K = 2`` it stays one scalar.

Shapes: time-major per batch, population leading: inputs ``[T, B, C]``, targets ``[T, B]``,
outputs ``[*P, T, B]`` (scalar output) or ``[*P, T, B, K]`` (logits), scores ``[*P, B]``.

>>> cfg = CopyTaskConfig(length=3, delay=2)
>>> batch = make_copy_batch(cfg, batch=4, generator=torch.Generator().manual_seed(0))
>>> tuple(batch.inputs.shape), int(batch.recall_mask.sum())
((9, 4, 3), 3)
>>> float(copy_accuracy(oracle_outputs(batch), batch))
1.0
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import gymnasium
import numpy as np
import torch
from gymnasium import spaces

from pdlf.envs.tasks import TaskSpec, register_task
from pdlf.errors import ConfigError, ShapeError
from pdlf.registry import did_you_mean


@dataclass(frozen=True)
class CopyTaskConfig:
    """One copy-task condition.

    Attributes:
        length: L, items to memorise (and to recall), >= 1.
        delay: D, silent steps between input and recall, >= 0 (one unscored silent step ends
            the sequence).
        n_classes: K, item classes; 2 is the binary reference task.
        feature_dim: F, input channels that carry the item (1 for the reference).
        noise: std of the Gaussian noise added to the item features during the input phase.
        threshold: a scalar output above it predicts bit 1 (only when ``n_classes == 2``).
        prototype_seed: seed of the random prototype patterns (only when ``1 < F != K``).
    """

    length: int = 8
    delay: int = 16
    n_classes: int = 2
    feature_dim: int = 1
    noise: float = 0.0
    threshold: float = 0.5
    prototype_seed: int = 0

    def __post_init__(self) -> None:
        minimum = {"length": 1, "delay": 0, "n_classes": 2, "feature_dim": 1}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int) and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"copy task {f.name}: expected an integer, got {value!r}")
            if f.name in minimum and value < minimum[f.name]:
                raise ConfigError(f"copy task {f.name}: must be >= {minimum[f.name]}, got {value}")
        if not (self.noise >= 0.0 and math.isfinite(self.noise)):
            raise ConfigError(f"copy task noise: must be finite and >= 0, got {self.noise!r}")
        if self.feature_dim == 1 and self.n_classes > 2:
            raise ConfigError(
                f"copy task feature_dim: {self.n_classes} classes need feature_dim >= 2"
            )

    @property
    def steps(self) -> int:
        """T = 2L + D + 1."""
        return 2 * self.length + self.delay + 1

    @property
    def recall_start(self) -> int:
        """First recall step (0-based), L + D."""
        return self.length + self.delay

    @property
    def recall_stop(self) -> int:
        """One past the last recall step, 2L + D (step 2L + D is the unscored end step)."""
        return self.recall_start + self.length

    @property
    def input_dim(self) -> int:
        """C = F + 2 input channels."""
        return self.feature_dim + 2

    @property
    def output_dim(self) -> int:
        """1 (a scalar, thresholded) for K = 2, else K logits."""
        return 1 if self.n_classes == 2 else self.n_classes


@dataclass(frozen=True)
class CopyBatch:
    """A batch of copy-task sequences.

    Attributes:
        cfg: the condition.
        inputs: ``[T, B, C]`` float32 input channels.
        targets: ``[T, B]`` int64 class (bit) to output; 0 outside the recall window.
        recall_mask: ``[T]`` bool, True on the L recall steps.
        items: ``[B, L]`` int64, the presented classes in order.
    """

    cfg: CopyTaskConfig
    inputs: torch.Tensor
    targets: torch.Tensor
    recall_mask: torch.Tensor
    items: torch.Tensor


def class_prototypes(cfg: CopyTaskConfig) -> torch.Tensor:
    """The feature vector of each class, ``[K, F]`` float32 (see the module docstring)."""
    k, f = cfg.n_classes, cfg.feature_dim
    if f == 1:
        return torch.tensor([[0.0], [1.0]])
    if f == k:
        return torch.eye(k)
    g = torch.Generator().manual_seed(cfg.prototype_seed)
    signs = torch.randint(0, 2, (k, f), generator=g).float() * 2.0 - 1.0
    return signs / math.sqrt(f)


def make_copy_batch(
    cfg: CopyTaskConfig,
    batch: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> CopyBatch:
    """Draw `batch` sequences: items U{0..K-1} per step, noise N(0, 1), both from `generator`."""
    L, T, r0, r1 = cfg.length, cfg.steps, cfg.recall_start, cfg.recall_stop
    items = torch.randint(0, cfg.n_classes, (batch, L), generator=generator)
    features = class_prototypes(cfg)[items]  # [B, L, F]
    if cfg.noise > 0.0:
        features = features + cfg.noise * torch.randn(features.shape, generator=generator)
    inputs = torch.zeros(T, batch, cfg.input_dim)
    inputs[:L, :, : cfg.feature_dim] = features.transpose(0, 1)
    inputs[:L, :, cfg.feature_dim] = 1.0
    inputs[r0:r1, :, cfg.feature_dim + 1] = 1.0
    targets = torch.zeros(T, batch, dtype=torch.long)
    targets[r0:r1] = items.T
    recall_mask = torch.zeros(T, dtype=torch.bool)
    recall_mask[r0:r1] = True
    return CopyBatch(
        cfg=cfg,
        inputs=inputs.to(device),
        targets=targets.to(device),
        recall_mask=recall_mask.to(device),
        items=items.to(device),
    )


def predictions(outputs: torch.Tensor, batch: CopyBatch) -> torch.Tensor:
    """Predicted class per step, ``[*P, T, B]`` int64, from outputs of the shapes above."""
    cfg = batch.cfg
    T, B = batch.targets.shape
    if cfg.output_dim == 1:
        if outputs.shape[-2:] != (T, B):
            raise ShapeError(f"copy outputs: expected [*P, {T}, {B}], got {list(outputs.shape)}")
        return (outputs > cfg.threshold).long()
    if outputs.shape[-3:] != (T, B, cfg.n_classes):
        raise ShapeError(
            f"copy outputs: expected [*P, {T}, {B}, {cfg.n_classes}], got {list(outputs.shape)}"
        )
    return outputs.argmax(dim=-1)


def copy_score(outputs: torch.Tensor, batch: CopyBatch) -> torch.Tensor:
    """Fraction of recall steps answered correctly per sequence, ``[*P, B]`` float32 in [0, 1].

    Args:
        outputs: ``[*P, T, B]`` scalar outputs, or ``[*P, T, B, K]`` logits when K > 2; any
            number of leading (population) axes.
    """
    r0, r1 = batch.cfg.recall_start, batch.cfg.recall_stop
    pred = predictions(outputs, batch)[..., r0:r1, :]  # [*P, L, B]
    return (pred == batch.targets[r0:r1]).float().mean(dim=-2)


def copy_accuracy(outputs: torch.Tensor, batch: CopyBatch) -> torch.Tensor:
    """Mean of `copy_score` over the batch, ``[*P]``."""
    return copy_score(outputs, batch).mean(dim=-1)


def oracle_outputs(batch: CopyBatch) -> torch.Tensor:
    """Perfect outputs: the target bit as 0/1 ``[T, B]``, or one-hot logits ``[T, B, K]``."""
    if batch.cfg.output_dim == 1:
        return batch.targets.float()
    return torch.nn.functional.one_hot(batch.targets, batch.cfg.n_classes).float()


DEFAULT = CopyTaskConfig()

REWARDS = ("accuracy", "margin")
# a run config's env.params for the copy task, with their defaults (pdlf.envs.copy_batched)
PARAM_DEFAULTS: dict[str, object] = {
    "length": DEFAULT.length,
    "delay": DEFAULT.delay,
    "reward": "accuracy",
    "margin": 0.5,
    "membrane_reset": False,
}


def check_copy_params(params: Mapping[str, Any], max_length: int | None = None) -> None:
    """Raise a one-line `ConfigError` naming ``env.params.KEY`` for the first unusable value.

    ``length`` integer >= 1 (and <= `max_length` when given: the associative-recall task's keys
    are one-hot over 16 positions); ``delay`` integer >= 0; ``reward`` one of `REWARDS`;
    ``margin`` a finite number > 0; ``membrane_reset`` true or false. Unknown keys are
    `TaskSpec.check_params`'s.
    """
    for key, value in params.items():
        problem = None
        is_int = isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        if key == "length" and max_length is not None:
            if not is_int or not 1 <= value <= max_length:
                problem = f"must be an integer in 1..{max_length}"
        elif key in ("length", "delay"):
            low = 1 if key == "length" else 0
            if not is_int or value < low:
                problem = f"must be an integer >= {low}"
        elif key == "reward":
            if not isinstance(value, str) or value not in REWARDS:
                problem = did_you_mean(str(value), REWARDS)
        elif key == "margin":
            number = isinstance(value, (int, float, np.integer, np.floating))
            number = number and not isinstance(value, (bool, np.bool_))
            if not number or not (math.isfinite(value) and value > 0):
                problem = "must be a finite number > 0"
        elif key == "membrane_reset":
            if not isinstance(value, (bool, np.bool_)):
                problem = "must be true or false"
        if problem is not None:
            raise ConfigError(f"env.params.{key}={value!r}: {problem}")


def copy_params(
    params: Mapping[str, Any] | None = None, task: TaskSpec | None = None
) -> dict[str, Any]:
    """`PARAM_DEFAULTS` updated with ``params``, after ``task.check_params`` (names and values;
    default task: the copy task's `TASK`; the associative-recall task takes the same keys)."""
    params = dict(params or {})
    (TASK if task is None else task).check_params(params)
    return {**PARAM_DEFAULTS, **params}


TASK = register_task(
    TaskSpec(
        name="copy",
        gym_id="pdlf/Copy-v0",
        obs_dim=3,
        act_dim=1,
        goal_dim=0,
        goal_low=0.0,
        goal_high=1.0,
        goal_units="unused",
        episode_steps=DEFAULT.steps,
        description=(
            f"working-memory copy task, default L={DEFAULT.length} D={DEFAULT.delay}, "
            "T = 2L+D+1 steps (no goal: the value is accepted and ignored); "
            "env.params: length, delay, reward (accuracy|margin), margin, membrane_reset"
        ),
        params=tuple(PARAM_DEFAULTS),
        param_check=check_copy_params,
    )
)


class CopyEnv(gymnasium.Env):
    """The binary copy task as a gymnasium env: one sequence per episode.

    The copy task has no goal; to fit the task interface a goal in [0, 1] is accepted (and range
    checked) but changes nothing, so the training "grid" repeats one task with 8 sequences.

    Observation: ``Box(0, 1, (3,))``, the channels of the current step. Action: ``Box(0, 1, (1,))``,
    the output; bit 1 when above 0.5. Reward (``reward="accuracy"``, the default): 1 for each
    recall step answered correctly, else 0; with ``reward="margin"``:
    ``clip((2y - 1)(o - 0.5) / margin, -1, 1)`` on each recall step (``y`` the target bit, ``o``
    the unclipped output), 0 elsewhere. The episode terminates after ``T = 2L + D + 1`` steps
    (33 with the defaults L = 8, D = 16).
    ``info``: ``recall`` (this step was scored), ``correct``, ``target``, ``t``.

    Subclasses (``pdlf.envs.assoc_task.AssocEnv``) set `task` and override `_draw`; the
    observation width is ``task.obs_dim``.
    """

    metadata = {"render_modes": []}
    task: TaskSpec = TASK

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
        check_copy_params({"reward": reward, "margin": margin})
        self.cfg = CopyTaskConfig(length=length, delay=delay)
        self._reward, self._margin = reward, float(margin)
        self._extrapolate = bool(extrapolate)
        self._goal = None if goal is None else self.task.check_goal(goal, self._extrapolate)
        self.render_mode = render_mode
        width = self.task.obs_dim
        self.observation_space = spaces.Box(0.0, 1.0, shape=(width,), dtype=np.float32)
        self.action_space = spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32)
        self._inputs = np.zeros((self.cfg.steps, width), dtype=np.float32)
        self._targets = np.zeros(self.cfg.steps, dtype=np.int64)
        self._t = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if options is not None and options.get("goal") is not None:
            self.task.check_goal(options["goal"], self._extrapolate)
        self._inputs, self._targets = self._draw()
        self._t = 0
        return self._inputs[0].copy(), {"t": 0}

    def _draw(self) -> tuple[np.ndarray, np.ndarray]:
        """A new sequence from ``self.np_random``: inputs ``[T, obs_dim]`` float32 and targets
        ``[T]`` int64 (0 outside the recall window)."""
        g = torch.Generator().manual_seed(int(self.np_random.integers(2**62)))
        batch = make_copy_batch(self.cfg, 1, g)
        return batch.inputs[:, 0].numpy(), batch.targets[:, 0].numpy()

    def step(self, action):
        t = self._t
        if t >= self.cfg.steps:
            raise RuntimeError(f"the {self.task.name} episode is over: call reset()")
        recall = self.cfg.recall_start <= t < self.cfg.recall_stop
        out = float(np.asarray(action).reshape(-1)[0])
        bit = int(out > self.cfg.threshold)
        correct = recall and bit == self._targets[t]
        reward = float(correct)
        if self._reward == "margin":
            sign = 2.0 * float(self._targets[t]) - 1.0
            reward = margin_reward(sign, out, self.cfg.threshold, self._margin) if recall else 0.0
        self._t = t + 1
        done = self._t == self.cfg.steps
        obs = self._inputs[self._t].copy() if not done else np.zeros_like(self._inputs[0])
        info = {"recall": recall, "correct": correct, "target": int(self._targets[t]), "t": t}
        return obs, float(reward), done, False, info


def margin_reward(sign, output, threshold: float, margin: float):
    """``clip(sign * (output - threshold) / margin, -1, 1)``, scalars or arrays (one formula for
    the gym env and the batched env, so that both give the same bits)."""
    return np.clip(sign * (output - threshold) / margin, -1.0, 1.0)


gymnasium.register(id=TASK.gym_id, entry_point="pdlf.envs.copy_task:CopyEnv")
