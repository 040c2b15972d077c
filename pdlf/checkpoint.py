"""Checkpoints of the whole search state, written atomically, read with clear errors.

A checkpoint holds everything a run needs to continue exactly: the next generation, the
searcher's distribution and optimiser moments, the observation normaliser, the best genome so far,
the resolved config and the global RNG states. It is written to a temporary file in the same
directory and renamed over the old one, so a killed process leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdlf.errors import CheckpointError

FORMAT = "pdlf-checkpoint"
VERSION = 1


def rng_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (picklable) to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        pickle.dump(payload, fh, protocol=pickle.HIGHEST_PROTOCOL)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint; a missing, corrupt or foreign file raises `CheckpointError`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: the run has not written one yet; start it again without --resume")
    try:
        with open(path, "rb") as fh:
            payload = pickle.load(fh)
    except Exception as err:  # truncated or overwritten files fail in many ways
        raise CheckpointError(
            f"checkpoint {path} is corrupt ({type(err).__name__}); restore it from a copy or start a new run"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a pdlf checkpoint; point --resume at a run directory made by `pdlf train`")
    if payload.get("version") != VERSION:
        raise CheckpointError(f"checkpoint {path} has version {payload.get('version')}, this pdlf reads {VERSION}")
    return payload
