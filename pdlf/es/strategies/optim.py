"""Centre optimisers as pure functions over plain state: ``step(state, grad) -> (ascent, state)``.

``grad`` [L] is an ascent direction (fitness increases along it); the returned ``ascent`` [L] is
added to the centre. States are dicts of tensors and numbers, so they checkpoint as data.

    sgd:     a = lr · g
    adam:    m ← β1 m + (1-β1) g;  v ← β2 v + (1-β2) g²;  t ← t + 1
             a = (lr / (1-β1^t)) · m / (√v / √(1-β2^t) + ε)           (torch.optim.Adam's order of operations)
    clipup:  v ← clip(μ v + lr · g / ‖g‖, max_speed);  a = v            (Toklu et al. 2020; clip rescales the norm)
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

State = dict[str, Any]

ADAM_BETAS = (0.9, 0.999)
ADAM_EPS = 1e-8
CLIPUP_MOMENTUM = 0.9


def init(kind: str, length: int, lr: float, max_speed: float = 0.0) -> State:
    """A fresh optimiser state for ``kind`` (sgd, adam or clipup) over ``length`` genes."""
    if kind == "sgd":
        return {"kind": "sgd", "lr": float(lr)}
    if kind == "adam":
        zeros = torch.zeros(length, dtype=torch.float32)
        return {"kind": "adam", "lr": float(lr), "m": zeros, "v": zeros.clone(), "t": 0}
    if kind == "clipup":
        speed = float(max_speed) if max_speed > 0 else 2.0 * float(lr)
        return {"kind": "clipup", "lr": float(lr), "max_speed": speed,
                "velocity": torch.zeros(length, dtype=torch.float32)}
    raise ValueError(f"unknown optimizer {kind!r}")


def step(state: State, grad: Tensor) -> tuple[Tensor, State]:
    """The ascent step [L] for ``grad`` [L] and the optimiser's next state (inputs are not modified)."""
    kind, lr = state["kind"], state["lr"]
    grad = grad.to(torch.float32)
    if kind == "sgd":
        return lr * grad, dict(state)
    if kind == "adam":
        b1, b2 = ADAM_BETAS
        t = state["t"] + 1
        m = state["m"] * b1 + (1.0 - b1) * grad
        v = state["v"] * b2 + (1.0 - b2) * grad * grad
        denom = v.sqrt() / math.sqrt(1.0 - b2**t) + ADAM_EPS
        ascent = (lr / (1.0 - b1**t)) * m / denom
        return ascent, {**state, "m": m, "v": v, "t": t}
    if kind == "clipup":
        norm = float(torch.linalg.vector_norm(grad))
        # an all-zero gradient (e.g. every member tied) means "no information": keep coasting
        scaled = grad * (lr / norm) if norm > 0 else torch.zeros_like(grad)
        velocity = CLIPUP_MOMENTUM * state["velocity"] + scaled
        speed = float(torch.linalg.vector_norm(velocity))
        if speed > state["max_speed"]:
            velocity = velocity * (state["max_speed"] / speed)
        return velocity.clone(), {**state, "velocity": velocity}
    raise ValueError(f"unknown optimizer {kind!r}")


__all__ = ["init", "step", "ADAM_BETAS", "ADAM_EPS", "CLIPUP_MOMENTUM"]
