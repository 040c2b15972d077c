r"""The third factor: where a three-factor rule's modulator ``M_t`` comes from (``rule.modulator``).

``feedback``      an evolved linear read of the task's feedback input: ``f_t`` ``[P, n_fb]`` are
                  the observation's feedback channels (`pdlf.envs.tasks.TaskSpec.feedback_channels`;
                  the cognitive tasks show the correct response there after every trial)::

                      M_t = f_t R + b                 per post neuron (genes ``L.read`` [n_fb, n_out], ``L.bias``)
                      G_t = clip(f_t Q + c, 0, 1)     tf_delta's gate (genes ``L.gate``, ``L.gate_bias``); T_t = M_t

``reward``        the reward prediction error, one per agent: the reward ``r_{t-1}`` of the
                  previous action (`pdlf.rollout.rollout` hands it to ``act``) minus a running baseline::

                      M_t = δ_t = r_{t-1} − b_{t-1},   b_t = b_{t-1} + β δ_t,   β = sigmoid(gene ``baseline``)

``perturbation``  Miconi's node perturbation: ``reward``'s δ_t, and every three-factor layer's
                  post current gets noise ``σ ξ_t`` (``σ = |gene L.noise|``, one per layer;
                  ``ξ`` uniform in [−1, 1), `perturbation_noise`), so the Hebbian trace of centred
                  activity correlates the noise with the input and δ_t says whether it helped.

Modulator genes are direct (start at 0, unbounded), in the genome layer ``mod`` (`modulator_blocks`).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor

MODULATORS = ("feedback", "reward", "perturbation")
MOD_LAYER = "mod"  # genome layer of the modulator genes
_MASK32 = 0xFFFFFFFF


def modulator_blocks(modulator: str, layers: Sequence[tuple[str, int, str]], n_feedback: int) -> list[tuple[str, str, tuple[int, int]]]:
    """Genome blocks ``(MOD_LAYER, gene, shape)`` of ``modulator`` for the three-factor layers
    ``(name, n_out, rule family name)`` (``tf_hebb`` or ``tf_delta``), in genome order; none when
    no layer is three-factor (and for reward-driven intrinsic rules only, `baseline` alone)."""
    blocks: list[tuple[str, str, tuple[int, int]]] = []
    if modulator in ("reward", "perturbation"):
        blocks.append((MOD_LAYER, "baseline", (1, 1)))
    for name, n_out, rule in layers:
        if modulator == "feedback":
            blocks += [(MOD_LAYER, f"{name}.read", (n_feedback, n_out)), (MOD_LAYER, f"{name}.bias", (1, n_out))]
            if rule == "tf_delta":
                blocks += [(MOD_LAYER, f"{name}.gate", (n_feedback, n_out)), (MOD_LAYER, f"{name}.gate_bias", (1, n_out))]
        elif modulator == "perturbation":
            blocks.append((MOD_LAYER, f"{name}.noise", (1, 1)))
    return blocks


def feedback_read(feedback: Tensor, read: Tensor, bias: Tensor) -> Tensor:
    """``f R + b``: ``feedback [P, n_fb]``, ``read [P, n_fb, n]``, ``bias [P, 1, n]`` → ``[P, n]``."""
    return torch.baddbmm(bias, feedback.unsqueeze(1), read).squeeze(1)


def feedback_gate(feedback: Tensor, gate: Tensor, bias: Tensor) -> Tensor:
    """``clip(f Q + c, 0, 1)``, ``[P, n]``."""
    return feedback_read(feedback, gate, bias).clamp_(0.0, 1.0)


def reward_prediction_error(baseline: Tensor, reward: Tensor, rate: Tensor) -> tuple[Tensor, Tensor]:
    """``(δ, b')`` with ``δ = r − b`` and ``b' = b + β δ``; every tensor ``[P, 1]``, ``β`` in (0, 1)."""
    delta = reward - baseline
    return delta, baseline + rate * delta


def _mix32(x: Tensor) -> Tensor:
    """A 32-bit integer hash (xor-shift-multiply, two rounds) of int64 values in [0, 2^32)."""
    x = x ^ (x >> 16)
    x = (x * 0x7FEB352D) & _MASK32
    x = x ^ (x >> 15)
    x = (x * 0x846CA68B) & _MASK32
    return x ^ (x >> 16)


def perturbation_noise(seeds: Tensor, step: int, n: int, salt: int = 0) -> Tensor:
    """``ξ`` ``[P, n]`` uniform in [−1, 1): a counter-based hash of (agent seed, step, neuron, salt).

    Each agent's noise depends on its own seed only, never on its position in the batch, so a
    rollout is reproducible from its name. ``seeds`` is ``[P]`` int64; ``salt`` tells layers apart.
    """
    s = _mix32((seeds & _MASK32) ^ _mix32(torch.full_like(seeds, (step * 0x9E3779B1 + salt * 0x85EBCA77) & _MASK32)))
    j = _mix32(torch.arange(n, dtype=torch.int64, device=seeds.device) + 0x68E31DA4)
    h = _mix32(s.unsqueeze(1) ^ j.unsqueeze(0))
    return h.to(torch.float64).mul_(2.0 / 2**32).sub_(1.0)


__all__ = ["MODULATORS", "MOD_LAYER", "modulator_blocks", "feedback_read", "feedback_gate", "reward_prediction_error",
           "perturbation_noise"]
