r"""A directly evolved GRU on population-batched tensors: PDLF's working-memory "hybrid" branch.

Every genome has its own GRU weights (genes, fixed within an episode; no plasticity) and every
rollout its own state ``h``. With ``n_in`` inputs ``x_t``, ``H`` units and ``n_out`` outputs::

    g^x = x_t W_x + b          W_x [n_in, 3H], b [1, 3H]    (columns: gates r | z | n)
    g^h = h_{t-1} W_h          W_h [H, 3H]
    r   = sigmoid(g^x_r + g^h_r)
    z   = sigmoid(g^x_z + g^h_z)
    n   = tanh(g^x_n + r ⊙ (g^h_n + b_hn))                     b_hn [1, H]
    h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
    y_t = h_t w_out + b_out    w_out [H, n_out], b_out [1, n_out]

This is the GRU cell of PDLF's working-memory code (Flax's ``GRUCell``: biased input kernels,
unbiased hidden kernels except the candidate's, which sits inside ``r ⊙ (...)``) with a biased
linear readout, so 128 units on 3 inputs with one output have ``3·(3·128 + 128) + 3·128·128 + 128
+ 128 + 1 = 50,945`` genes, PDLF's logged size. Genome order of the blocks: ``W_x``, ``W_h``,
``b``, ``b_hn``, ``w_out``, ``b_out`` (`gru_blocks`).

Shapes: ``M`` genomes (``P`` leads every parameter) and ``M·R`` rollouts in genome-major order, ``R``
rollouts per genome (``R = 1``: one genome per rollout): `gru_step` reads ``h [M·R, H]`` as
``[M, R, H]`` so that each genome's weights are read once per step for all its rollouts.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

GRU_LAYER = "gru"
GRU_GENES = ("W_x", "W_h", "b", "b_hn", "w_out", "b_out")


class GRUParams(NamedTuple):
    """Weights of ``M`` GRUs: ``W_x [M, n_in, 3H]``, ``W_h [M, H, 3H]``, ``b [M, 1, 3H]``,
    ``b_hn [M, 1, H]``, ``w_out [M, H, n_out]``, ``b_out [M, 1, n_out]``."""

    W_x: Tensor
    W_h: Tensor
    b: Tensor
    b_hn: Tensor
    w_out: Tensor
    b_out: Tensor


def gru_blocks(n_in: int, hidden: int, n_out: int) -> list[tuple[str, str, tuple[int, int]]]:
    """The GRU's genome blocks ``(layer, gene, shape)`` in genome order (layer ``gru``)."""
    h3 = 3 * int(hidden)
    shapes = {"W_x": (int(n_in), h3), "W_h": (int(hidden), h3), "b": (1, h3), "b_hn": (1, int(hidden)),
              "w_out": (int(hidden), int(n_out)), "b_out": (1, int(n_out))}
    return [(GRU_LAYER, gene, shapes[gene]) for gene in GRU_GENES]


def gru_params(genes: dict[str, Tensor]) -> GRUParams:
    """`GRUParams` from the ``gru`` entry of `GenomeLayout.split` (copied, contiguous)."""
    return GRUParams(*(genes[g].clone(memory_format=torch.contiguous_format) for g in GRU_GENES))


def gru_init(pop: int, hidden: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> Tensor:
    """All-zero state ``h [P, H]``."""
    return torch.zeros(pop, hidden, device=device, dtype=dtype)


def gru_step(x: Tensor, h: Tensor, params: GRUParams) -> Tensor:
    """One GRU step of ``B = M·R`` rollouts: ``x [B, n_in]``, ``h [B, H]`` → new ``h [B, H]``."""
    m, (b, n) = params.W_x.shape[0], h.shape
    gx = torch.baddbmm(params.b, x.reshape(m, b // m, -1), params.W_x).reshape(b, 3 * n)
    gh = torch.bmm(h.reshape(m, b // m, n), params.W_h).reshape(b, 3 * n)
    r = torch.sigmoid(gx[:, :n] + gh[:, :n])
    z = torch.sigmoid(gx[:, n : 2 * n] + gh[:, n : 2 * n])
    b_hn = params.b_hn.expand(m, b // m, n).reshape(b, n)
    cand = torch.tanh(gx[:, 2 * n :] + r * (gh[:, 2 * n :] + b_hn))
    return torch.lerp(cand, h, z)  # (1 - z) * cand + z * h


def gru_readout(h: Tensor, params: GRUParams) -> Tensor:
    """The GRU's output ``h w_out + b_out`` for ``B = M·R`` rollouts: ``h [B, H]`` → ``[B, n_out]``."""
    m, (b, n) = params.W_x.shape[0], h.shape
    return torch.baddbmm(params.b_out, h.reshape(m, b // m, n), params.w_out).reshape(b, -1)


__all__ = ["GRU_LAYER", "GRU_GENES", "GRUParams", "gru_blocks", "gru_params", "gru_init", "gru_step", "gru_readout"]
