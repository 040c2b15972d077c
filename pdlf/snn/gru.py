r"""A directly evolved GRU on population-batched tensors: PDLF's working-memory "hybrid" branch.

Every agent of a population has its own GRU weights (genes, fixed within an episode; no
plasticity) and its own state ``h``. With ``n_in`` inputs ``x_t``, ``H`` units and ``n_out``
outputs, per agent::

    g^x = x_t W_x + b          W_x [n_in, 3H], b [1, 3H]    (columns: gates r | z | n)
    g^h = h_{t-1} W_h          W_h [H, 3H]
    r   = sigmoid(g^x_r + g^h_r)
    z   = sigmoid(g^x_z + g^h_z)
    n   = tanh(g^x_n + r ⊙ g^h_n)
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
    y_t = h_t w_out            w_out [H, n_out]

One bias per gate (no separate hidden bias; PDLF's form). Genome order of the blocks: ``W_x``,
``W_h``, ``b``, ``w_out`` (`gru_blocks`). The step is a pure function over explicit state
(`gru_step`), batched over the population with ``bmm``; ``P`` is the first axis of every tensor.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

GRU_LAYER = "gru"
GRU_GENES = ("W_x", "W_h", "b", "w_out")


class GRUParams(NamedTuple):
    """Weights of ``P`` GRUs: ``W_x [P, n_in, 3H]``, ``W_h [P, H, 3H]``, ``b [P, 1, 3H]``,
    ``w_out [P, H, n_out]``."""

    W_x: Tensor
    W_h: Tensor
    b: Tensor
    w_out: Tensor


def gru_blocks(n_in: int, hidden: int, n_out: int) -> list[tuple[str, str, tuple[int, int]]]:
    """The GRU's genome blocks ``(layer, gene, shape)`` in genome order (layer ``gru``)."""
    h3 = 3 * int(hidden)
    shapes = {"W_x": (int(n_in), h3), "W_h": (int(hidden), h3), "b": (1, h3), "w_out": (int(hidden), int(n_out))}
    return [(GRU_LAYER, gene, shapes[gene]) for gene in GRU_GENES]


def gru_params(genes: dict[str, Tensor]) -> GRUParams:
    """`GRUParams` from the ``gru`` entry of `GenomeLayout.split` (copied, contiguous)."""
    return GRUParams(*(genes[g].clone(memory_format=torch.contiguous_format) for g in GRU_GENES))


def gru_init(pop: int, hidden: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """All-zero state ``h [P, H]``."""
    return torch.zeros(pop, hidden, device=device, dtype=dtype)


def gru_step(x: Tensor, h: Tensor, params: GRUParams) -> Tensor:
    """One GRU step for ``P`` agents: ``x [P, n_in]``, ``h [P, H]`` → new ``h [P, H]``."""
    n = h.shape[1]
    gx = torch.baddbmm(params.b, x.unsqueeze(1), params.W_x).squeeze(1)  # [P, 3H]
    gh = torch.bmm(h.unsqueeze(1), params.W_h).squeeze(1)
    r = torch.sigmoid(gx[:, :n] + gh[:, :n])
    z = torch.sigmoid(gx[:, n : 2 * n] + gh[:, n : 2 * n])
    cand = torch.tanh(gx[:, 2 * n :] + r * gh[:, 2 * n :])
    return torch.lerp(cand, h, z)  # (1 - z) * cand + z * h


def gru_readout(h: Tensor, params: GRUParams) -> Tensor:
    """The GRU's output ``h [P, H] @ w_out [P, H, n_out]`` → ``[P, n_out]``."""
    return torch.bmm(h.unsqueeze(1), params.w_out).squeeze(1)


__all__ = ["GRU_LAYER", "GRU_GENES", "GRUParams", "gru_blocks", "gru_params", "gru_init", "gru_step", "gru_readout"]
