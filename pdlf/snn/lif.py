r"""Leaky integrate-and-fire neurons in PDLF's form, on population-batched tensors.

For one layer of ``n`` neurons in each of ``P`` agents (every tensor is ``[P, n]``)::

    m_t = I_t + (m_{t-1} - I_t) / tau          membrane relaxes toward the input current
    s_t = +1 if m_t > theta, -1 if m_t < -theta, else 0      (ternary; binary: s = [m_t > theta])
    m_t = 0 where s_t != 0                     reset on a spike of either sign
    z_t = z_{t-1} / e + s_t (1 - 1/e)          the neuron's trace, fixed decay 1/e

``tau`` (dimensionless, in steps; PDLF: e) and ``theta`` (PDLF: 0.1) are per-neuron tensors so
that intrinsic plasticity can change them during a lifetime. Units are arbitrary current units.

Two-compartment neuron (`two_compartment_step`, IP²-RSNN's): a dendrite ``d`` with its own time
constant ``tau_d`` filters the input current and feeds the soma, which spikes as above::

    d_t = I_t + (d_{t-1} - I_t) / tau_d        dendrite relaxes toward the input current
    m_t = d_t + (m_{t-1} - d_t) / tau_s        soma relaxes toward the dendrite
    (spikes, soma reset and trace as above; the dendrite is not reset by a spike)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

TRACE_DECAY = 1.0 / math.e  # fraction of the trace kept per step


class LIFState(NamedTuple):
    """State of one LIF layer: (somatic) membrane ``v``, spikes ``s``, trace ``z`` and, for
    two-compartment neurons, the dendrite ``d`` (None for point neurons); each ``[P, n]``."""

    v: Tensor
    s: Tensor
    z: Tensor
    d: Tensor | None = None

    def masked(self, alive: Tensor) -> "LIFState":
        """Every field times ``alive`` (``[P, n]`` 0/1): lost neurons hold no state."""
        return LIFState(self.v * alive, self.s * alive, self.z * alive, None if self.d is None else self.d * alive)


def lif_init(
    pop: int, n: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, dendrite: bool = False
) -> LIFState:
    """All-zero state for ``pop`` agents with ``n`` neurons each (with a dendrite if ``dendrite``)."""
    zeros = torch.zeros(pop, n, device=device, dtype=dtype)
    return LIFState(zeros, zeros.clone(), zeros.clone(), zeros.clone() if dendrite else None)


def lif_step(
    current: Tensor, state: LIFState, tau: Tensor, theta: Tensor, ternary: bool = True, inv_tau: Tensor | None = None
) -> LIFState:
    """One LIF step.

    Args:
        current: input current ``I_t``, ``[P, n]``.
        state: previous ``LIFState``.
        tau: membrane time constant per neuron, ``[P, n]`` (or broadcastable), > 1.
        theta: firing threshold per neuron, ``[P, n]`` (or broadcastable), > 0.
        ternary: spikes in {-1, 0, +1} (PDLF) if True, else binary {0, 1}.
        inv_tau: ``1 / tau`` if the caller keeps it (saves one op per step).

    Returns:
        The new state; ``state.s`` holds this step's spikes.
    """
    # lerp(a, b, w) = a + w (b - a): one fused op each for the membrane and the trace
    v = torch.lerp(current, state.v, 1.0 / tau if inv_tau is None else inv_tau)
    if ternary:
        s = torch.sign(v) * (v.abs() > theta)  # +1 above theta, -1 below -theta, else 0
    else:
        s = (v > theta).to(v.dtype)
    v = v * (1.0 - s.abs())  # reset where a spike of either sign (float ops beat a bool mask)
    z = torch.lerp(s, state.z, TRACE_DECAY)
    return LIFState(v, s, z)


def two_compartment_step(
    current: Tensor, state: LIFState, tau_d: Tensor, tau_s: Tensor, theta: Tensor, ternary: bool = True
) -> LIFState:
    """One step of two-compartment neurons (module docstring): the dendrite ``state.d`` filters
    ``current`` with ``tau_d``, then the soma is a `lif_step` driven by the dendrite.

    Args:
        current: input current ``I_t``, ``[P, n]``.
        state: previous state, with ``d`` set.
        tau_d, tau_s: dendritic and somatic time constants per neuron, ``[P, n]`` (or broadcastable), > 1.
        theta: somatic threshold per neuron, > 0.
        ternary: spikes in {-1, 0, +1} if True, else {0, 1}.
    """
    d = torch.lerp(current, state.d, 1.0 / tau_d)
    soma = lif_step(d, state, tau_s, theta, ternary)
    return LIFState(soma.v, soma.s, soma.z, d)
