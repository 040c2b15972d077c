"""What a command writes: its output directory (never overwritten silently) and JSON files.

    out = prepare_output_dir("runs/x/eval", ["eval_all.json", "eval_all.png"], force=args.force)
    write_json(out / "eval_all.json", result)

A directory "holds results" when one of the given glob patterns matches an entry in it
(``results=None``: when it has any entry at all). Without ``force`` such a directory is refused
with a `RunDirError` that names it and ``--force``, and nothing in it is touched; with ``force``
the matching entries (``results=None``: the whole directory) are removed first, so no stale file of
an earlier call is left beside the new ones. Entries that match no pattern are never touched.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from pdlf.errors import RunDirError

_LISTED = 4  # existing entries named in the error line


def existing_results(path: str | Path, results: Sequence[str] | None = None) -> list[Path]:
    """The entries of ``path`` that match the glob patterns ``results`` (None: every entry), sorted."""
    path = Path(path)
    if not path.is_dir():
        return []
    if results is None:
        return sorted(path.iterdir())
    return sorted({p for pattern in results for p in path.glob(pattern)})


def prepare_output_dir(
    path: str | Path,
    results: Sequence[str] | None = None,
    force: bool = False,
    advice: str = "or give another --out",
) -> Path:
    """Create ``path`` for a command's outputs; refuse to overwrite earlier results unless ``force``.

    Args:
        path: the output directory (created with its parents).
        results: glob patterns, relative to ``path``, of what the command writes; None = anything.
        force: replace earlier results: remove the matching entries (None: the whole directory).
        advice: the end of the error line: what else the user can do.

    Returns:
        ``path`` as a `Path`, existing and free of earlier results.

    Raises:
        RunDirError: ``path`` is a file, or holds results and ``force`` is False.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise RunDirError(f"output {path} exists and is not a directory; give another directory")
    found = existing_results(path, results)
    if found and not force:
        names = ", ".join(p.name for p in found[:_LISTED]) + (", ..." if len(found) > _LISTED else "")
        raise RunDirError(f"{path} already has results ({names}); pass --force to replace them, {advice}")
    if found and results is None:
        shutil.rmtree(path)
    else:
        for p in found:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def jsonable(x: Any) -> Any:
    """A JSON-safe copy: NaN/inf become None, numpy scalars and arrays become Python ones."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(float(x)) else None
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write `jsonable` ``obj`` to ``path`` (one trailing newline); returns the path."""
    path = Path(path)
    path.write_text(json.dumps(jsonable(obj), indent=indent) + "\n")
    return path


def rounded(values, digits: int = 6) -> list:
    """JSON-ready (nested) lists of ``values`` at ``digits`` significant digits, NaN/inf as None."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim > 1:
        return [rounded(a, digits) for a in arr]
    return [float(f"{v:.{digits}g}") if np.isfinite(v) else None for v in arr.reshape(-1)]


def print_result(result: dict, as_json: bool, summary: Callable[[dict], None] | None = None) -> None:
    """Print a command's ``result``: one `jsonable` JSON line (``--json``), else ``summary(result)``'s
    lines, or without ``summary`` an aligned ``key value`` table."""
    if as_json:
        print(json.dumps(jsonable(result)))
    elif summary is not None:
        summary(result)
    else:
        width = max(len(k) for k in result) + 2
        for k, v in result.items():
            print(f"{k:{width}s} {v}")
