"""Checkpoints of the whole search state, written atomically, read with clear errors.

A checkpoint holds everything a run needs to continue exactly: the next generation, the
searcher's distribution and optimiser moments, the observation normaliser, the best genome so far,
the resolved config and the global RNG states. It is written to a temporary file in the same
directory and renamed over the old one, so a killed process leaves the previous checkpoint intact.

A checkpoint holds plain data only (dicts, lists, numbers, strings, numpy arrays, torch tensors;
`check_plain` refuses anything else, such as a library's optimiser object, whose pickled layout
would tie the file to that library's version). It records the versions of python, torch,
evotorch, mujoco, ray, numpy and pdlf that wrote it; resuming under other versions warns, since
the numbers may then differ from an uninterrupted run's.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import pickle
import platform
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pdlf.errors import CheckpointError

log = logging.getLogger(__name__)

FORMAT = "pdlf-checkpoint"
VERSION = 2  # 2: searcher states are plain tensors (1 pickled evotorch and cma objects)
VERSIONED_PACKAGES = ("torch", "evotorch", "mujoco", "ray", "numpy", "pdlf")
_PLAIN = (str, int, float, bool, type(None), np.ndarray, np.generic, torch.Tensor)


def software_versions() -> dict[str, str]:
    """``{"python": "3.11.7", "torch": "2.13.0", ...}`` of this process ("absent" if not installed)."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def check_plain(value: Any, where: str = "state") -> None:
    """Raise `TypeError` naming the first value in ``value`` that is not plain data."""
    if isinstance(value, dict):
        for k, v in value.items():
            check_plain(v, f"{where}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            check_plain(v, f"{where}[{i}]")
    elif not isinstance(value, _PLAIN):
        raise TypeError(f"checkpoint {where} is a {type(value).__module__}.{type(value).__name__}: "
                        "checkpoints hold plain data only (tensors, arrays, numbers, strings)")


def version_differences(saved: dict[str, str]) -> list[str]:
    """``["torch 2.13.0 -> 2.14.1", ...]``: packages whose version differs from this process's."""
    now = software_versions()
    return [f"{k} {saved[k]} -> {now.get(k, 'absent')}" for k in saved if saved[k] != now.get(k, "absent")]


def rng_states() -> dict[str, Any]:
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    np.random.set_state(states["numpy"])
    random.setstate(states["python"])


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write ``state`` (picklable) to ``path`` atomically (temp file + rename)."""
    path = Path(path)
    check_plain(state)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, "versions": software_versions(), **state}
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
        raise CheckpointError(
            f"checkpoint {path} has format version {payload.get('version')}, this pdlf reads {VERSION}"
            " (version 1 held pickled evotorch objects); continue it with the pdlf that wrote it, or start a new run"
        )
    changed = version_differences(payload.get("versions", {}))
    if changed:
        log.warning("resuming %s under other software versions (%s): numbers may differ from an uninterrupted run",
                    path, ", ".join(changed))
    return payload
