"""One task kernel for numpy arrays and torch tensors: `namespace(x)` returns the functions to use.

The locomotion kernels (`pdlf.envs.locomotion.LocomotionKernel`) compute observations, rewards and
terminations with ``xp = namespace(qpos)``, and the rollout loop (`pdlf.rollout`) its checks, with
only the functions listed in `NUMPY_NAMES`.
For numpy arrays ``xp`` is numpy itself, so the C MuJoCo path runs exactly the numpy code it always
ran; for torch tensors (MuJoCo Warp's device-resident state) it is `torch_namespace`, torch's
functions under numpy's names, so the same kernel runs on the tensors' device without a host copy.
"""

from __future__ import annotations

from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import torch

# the numpy functions a kernel may call as ``xp.NAME`` (each exists under this name in the torch
# namespace too, with numpy's ``axis=`` keyword and numpy's meaning)
NUMPY_NAMES = ("abs", "all", "clip", "concatenate", "cos", "einsum", "full_like", "isfinite", "sin", "sqrt",
               "square", "stack", "sum", "where", "zeros_like")


def _zeros_like(x: torch.Tensor, dtype: Any = None) -> torch.Tensor:
    """``numpy.zeros_like`` for a tensor; ``dtype`` may be a Python or numpy type (``bool``)."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return torch.zeros_like(x, dtype=dtype)
    return torch.zeros_like(x, dtype=TORCH_DTYPES[np.dtype(dtype)])


TORCH_DTYPES = {np.dtype(bool): torch.bool, np.dtype(np.float32): torch.float32,
                np.dtype(np.float64): torch.float64, np.dtype(np.int64): torch.int64}

torch_namespace = SimpleNamespace(
    abs=torch.abs,
    all=torch.all,
    clip=torch.clip,
    concatenate=torch.concatenate,
    cos=torch.cos,
    einsum=torch.einsum,
    full_like=torch.full_like,
    isfinite=torch.isfinite,
    sin=torch.sin,
    sqrt=torch.sqrt,
    square=torch.square,
    stack=torch.stack,
    sum=torch.sum,
    where=torch.where,
    zeros_like=_zeros_like,
)


def namespace(x: Any) -> ModuleType | SimpleNamespace:
    """numpy for a numpy array (or anything that is not a tensor), `torch_namespace` for a tensor."""
    return torch_namespace if isinstance(x, torch.Tensor) else np
