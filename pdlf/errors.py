"""Typed errors of pdlf.

Every error a user can cause (a wrong config key, an unknown env or rule, a genome of the wrong
length, a corrupt checkpoint) is a `PdlfError`: the CLI prints its message as one line, naming the
problem and the fix, and exits with status 2 instead of a traceback.
"""

from __future__ import annotations


class PdlfError(Exception):
    """Base class of every error pdlf raises on bad input."""


class ConfigError(PdlfError, ValueError):
    """A config file or override is wrong: unknown key, wrong type, value out of range."""


class UnknownNameError(PdlfError, KeyError):
    """A name (rule, env, searcher, neuron kind) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class GenomeShapeError(PdlfError, ValueError):
    """A genome vector or batch has the wrong length for the network and rule."""


class ShapeError(PdlfError, ValueError):
    """An input tensor (observation, action) has the wrong shape."""


class CheckpointError(PdlfError, RuntimeError):
    """A checkpoint is missing, corrupt, or from an incompatible version."""


class RunDirError(PdlfError, RuntimeError):
    """A run directory is missing, not a pdlf run, or would be overwritten."""


class GoalRangeError(PdlfError, ValueError):
    """A goal lies outside the task's goal range and extrapolation was not requested."""


class ClusterError(PdlfError, RuntimeError):
    """A Ray cluster cannot be reached or joined, or no rollout worker could be started on it."""


class WorkerMismatchError(PdlfError, RuntimeError):
    """A rollout worker evaluated other genomes than the driver sent (checksums differ)."""
