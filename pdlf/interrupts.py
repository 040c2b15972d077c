"""Clean stops: the first Ctrl-C or SIGTERM asks a loop to stop at its next safe point.

    with StopSignals() as stop:
        while not stop.requested:
            one_generation()          # a second Ctrl-C/SIGTERM raises KeyboardInterrupt here

A cluster scheduler pre-empts a job with SIGTERM (SLURM, Kubernetes) and a user presses Ctrl-C;
both should leave a checkpoint behind. The first signal only records its name (`requested`), so
the current generation finishes and is checkpointed; a second one raises `KeyboardInterrupt` to
abandon the generation (the caller then saves the state of the last finished one). Handlers are
installed only in the main thread (Python allows no other) and restored on exit.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """Context manager turning SIGINT/SIGTERM into a stop request (see the module docstring).

    Attributes:
        requested: the first signal's name (``"SIGINT"``, ``"SIGTERM"``), or None.
        message: what to log when the first signal arrives (``{signal}`` is replaced).
    """

    def __init__(self, message: str = "{signal}: stopping after the current generation (again to abandon it)") -> None:
        self.requested: str | None = None
        self.message = message
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if self.requested is not None:
            raise KeyboardInterrupt(name)
        self.requested = name
        log.warning(self.message.format(signal=name))

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class StoppedBySignal(Exception):
    """A run inside a multi-run command (``pdlf report``, ``pdlf wm``) stopped early on a signal:
    the command stops too instead of going on to its next run. ``signal_name``: e.g. ``SIGTERM``."""

    def __init__(self, signal_name: str, run_dir: str) -> None:
        super().__init__(f"stopped by {signal_name} during the run in {run_dir} (checkpointed); "
                         "re-run the same command to continue: finished runs are reused")
        self.signal_name = signal_name


def exit_code(signal_name: str | None) -> int:
    """The shell's status for a process stopped by ``signal_name`` (128 + number), 0 for None."""
    return 0 if signal_name is None else 128 + int(getattr(signal, signal_name))


__all__ = ["StopSignals", "StoppedBySignal", "exit_code", "SIGNALS"]
