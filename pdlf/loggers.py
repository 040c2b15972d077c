"""Run loggers: metrics.csv, TensorBoard scalars and a progress bar, fed one row per generation.

Each logger takes ``log(row)`` with a flat dict of metric name → number and ``close()``. Names
use TensorBoard-style tags (``fitness/best``, ``goal/3``, ``es/sigma_mean``, ``perf/env_steps_per_s``);
the CSV uses the same names as columns.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

TIMING_KEYS = ("perf/seconds", "perf/env_steps_per_s", "perf/eta_s")  # vary run to run


class CSVLogger:
    """Appends rows to ``metrics.csv``; on resume, drops rows at or after the resumed generation."""

    def __init__(self, path: Path, resume_from: int | None = None) -> None:
        self.path = path
        self._fields: list[str] | None = None
        if resume_from is not None and path.exists():
            with open(path, newline="") as fh:
                rows = [r for r in csv.DictReader(fh) if int(r["generation"]) < resume_from]
                fields = list(rows[0].keys()) if rows else None
            if fields:
                with open(path, "w", newline="") as fh:
                    w = csv.DictWriter(fh, fieldnames=fields)
                    w.writeheader()
                    w.writerows(rows)
                self._fields = fields
            else:
                path.unlink()

    def log(self, row: dict[str, Any]) -> None:
        new = self._fields is None
        if new:
            self._fields = list(row.keys())
        with open(self.path, "a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=self._fields, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)

    def close(self) -> None:
        pass


class TensorBoardLogger:
    """Scalars to TensorBoard event files; ``purge_step`` drops events past a resumed generation.

    The event file is opened with the first row, so a start that fails before its first
    generation leaves no ``tb/`` behind (its run directory then holds only ``config.yaml``, which
    the next ``pdlf train`` into it reuses without ``--force``).
    """

    def __init__(self, log_dir: Path, purge_step: int | None = None, config_text: str = "") -> None:
        self.log_dir, self.purge_step, self.config_text = log_dir, purge_step, config_text
        self.writer = None

    def _open(self):
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(log_dir=str(self.log_dir), purge_step=self.purge_step)
        if self.config_text and self.purge_step is None:
            writer.add_text("config", "```\n" + self.config_text + "\n```", 0)
        return writer

    def log(self, row: dict[str, Any]) -> None:
        if self.writer is None:
            self.writer = self._open()
        step = int(row["generation"])
        for key, value in row.items():
            if "/" in key and isinstance(value, (int, float)):
                self.writer.add_scalar(key, value, step)
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class ProgressLogger:
    """A progress bar on stderr with best fitness, env-steps/s and ETA."""

    def __init__(self, total: int, initial: int = 0) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=initial, unit="gen", file=sys.stderr, dynamic_ncols=True)

    def log(self, row: dict[str, Any]) -> None:
        self.bar.set_postfix(
            best=f"{row['fitness/best']:.1f}",
            center=f"{row.get('fitness/center', float('nan')):.1f}",
            sps=f"{row['perf/env_steps_per_s']:.0f}",
        )
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
