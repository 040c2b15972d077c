r"""Three-factor plasticity: an eligibility trace per synapse, turned into a weight change by a modulator.

Two-factor rules (`pdlf.plasticity.rules`) change a weight from the activity on its two sides
alone. A three-factor rule keeps that coincidence as an *eligibility trace* ``e`` and changes the
weight only when a third signal, the *modulator* ``M`` (`pdlf.plasticity.modulators`: an evolved
read of the feedback input, the reward prediction error, or node perturbation's), arrives; the
trace bridges the gap between the activity and the feedback (``λ^k`` of it is left ``k`` steps
later).

For one layer, with ``u`` its input (``[P, n_in]``: exactly what ``W`` multiplies, i.e. the
observation, the previous layer's spikes, or the membranes the readout reads), ``y`` its post
activity (``[P, n_out]``: the hidden trace ``z`` or the action, as the two-factor rules see it)
and fast weights ``W`` (``[P, n_in, n_out]``), every step::

    tf_hebb   ū ← ū + α (u − ū),  ȳ ← ȳ + α (y − ȳ)             running means (α = 1 / CENTRE_WINDOW),
              e ← λ ⊙ e + (u − ū_prev) (y − ȳ_prev)ᵀ               taken before this step's update
              ΔW = η ⊙ M ⊙ e                                       M: [P, n_out], broadcast over inputs

    tf_delta  e ← λ e + u                                          the eligible input, [P, n_in]
              ŷ = eᵀ W                                             what W answers to it, [P, n_out]
              ΔW = ρ ⊙ G ⊙ e (T − ŷ)ᵀ / (DELTA_EPS + ‖e‖²)          normalised delta (NLMS) rule

with ``λ = sigmoid(decay)`` in (0, 1) (genes ``decay``), ``η`` the gene ``eta`` (any sign), and
for the delta rule the rate ``ρ = 2 sigmoid(eta)`` in (0, 2): the range where the normalised delta
rule is stable (with ``G = 1`` and ``ρ = 1`` one update makes ``eᵀW = T`` exactly). ``T`` (target)
and ``G`` (gate, in [0, 1]) are the feedback modulator's two reads. The delta rule's ``decay`` is
one per layer whatever the granularity (its trace is per input, not per synapse).

Eligibility traces are activity, not memory of the task: ``PlasticSNN.reset_membranes`` zeroes them
with the membranes (between tasks of a learning-to-learn sequence); the running means are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

CENTRE_WINDOW = 10.0  # steps of the running means that centre tf_hebb's activities
DELTA_EPS = 1e-2  # regulariser of the delta rule's normalisation, in (activity units)^2


def eligibility_decay(decay_gene: Tensor) -> Tensor:
    """``λ = sigmoid(decay)``: the fraction of the eligibility trace kept per step, in (0, 1)."""
    return torch.sigmoid(decay_gene)


def delta_rate(eta_gene: Tensor) -> Tensor:
    """``ρ = 2 sigmoid(eta)``: the delta rule's rate, bounded to (0, 2)."""
    return 2.0 * torch.sigmoid(eta_gene)


@dataclass
class HebbTrace:
    """State of `tf_hebb` for one layer: eligibility ``e`` ``[P, n_in, n_out]`` and running means
    ``u_mean`` ``[P, n_in]``, ``y_mean`` ``[P, n_out]``."""

    e: Tensor
    u_mean: Tensor
    y_mean: Tensor

    @classmethod
    def zeros(cls, pop: int, n_in: int, n_out: int, like: Tensor) -> "HebbTrace":
        z = like.new_zeros
        return cls(z(pop, n_in, n_out), z(pop, n_in), z(pop, n_out))


@dataclass
class DeltaTrace:
    """State of `tf_delta` for one layer: the eligible input ``e`` ``[P, n_in]``."""

    e: Tensor

    @classmethod
    def zeros(cls, pop: int, n_in: int, like: Tensor) -> "DeltaTrace":
        return cls(like.new_zeros(pop, n_in))


def hebb_eligibility_(trace: HebbTrace, u: Tensor, y: Tensor, decay: Tensor) -> Tensor:
    """Advance `tf_hebb`'s trace by one step in place (module docstring); returns ``e``.

    Args:
        trace: the layer's state.
        u: ``[P, n_in]`` layer input; y: ``[P, n_out]`` post activity.
        decay: ``λ`` broadcastable to ``[P, n_in, n_out]``.
    """
    du = u - trace.u_mean
    dy = y - trace.y_mean
    trace.e.mul_(decay).add_(du.unsqueeze(2) * dy.unsqueeze(1))
    trace.u_mean.add_(du, alpha=1.0 / CENTRE_WINDOW)
    trace.y_mean.add_(dy, alpha=1.0 / CENTRE_WINDOW)
    return trace.e


def hebb_update_(w: Tensor, trace: HebbTrace, u: Tensor, y: Tensor, eta: Tensor, decay: Tensor, modulator: Tensor) -> Tensor:
    """One `tf_hebb` step on ``w`` ``[P, n_in, n_out]`` in place: ``W += η ⊙ M ⊙ e``.

    ``modulator`` is ``[P, n_out]`` or ``[P, 1]``; ``eta``, ``decay`` broadcast to ``w``.
    """
    e = hebb_eligibility_(trace, u, y, decay)
    return w.add_(eta * modulator.unsqueeze(1) * e)


def delta_update_(w: Tensor, trace: DeltaTrace, u: Tensor, rate: Tensor, decay: Tensor, target: Tensor, gate: Tensor) -> Tensor:
    """One `tf_delta` step on ``w`` ``[P, n_in, n_out]`` in place (module docstring).

    Args:
        trace: the layer's eligible input.
        u: ``[P, n_in]`` layer input.
        rate: ``ρ`` in (0, 2), broadcastable to ``w``.
        decay: ``λ`` broadcastable to ``[P, 1]``.
        target, gate: ``[P, n_out]`` (or ``[P, 1]``) the feedback modulator's reads; ``G`` in [0, 1].
    """
    e = trace.e.mul_(decay.reshape(decay.shape[0], -1)[:, :1]).add_(u)
    y_hat = torch.bmm(e.unsqueeze(1), w).squeeze(1)  # [P, n_out]
    step = gate * (target - y_hat) / (DELTA_EPS + (e * e).sum(1, keepdim=True))  # [P, n_out]
    return w.add_(rate * e.unsqueeze(2) * step.unsqueeze(1))


__all__ = ["CENTRE_WINDOW", "DELTA_EPS", "eligibility_decay", "delta_rate", "HebbTrace", "DeltaTrace",
           "hebb_eligibility_", "hebb_update_", "delta_update_"]
