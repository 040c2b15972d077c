"""Results tables that are written twice: as markdown for docs/results.md and as one JSON object
per row for docs/results.json, so results can be compared across versions by program.

    t = Table("assoc", ["agent", "recall accuracy"])
    t.add(["plastic", "0.95 ± 0.02"], {"agent": "plastic", "accuracy": stat_record([0.93, 0.97])})
    t.markdown()    # ["| agent | recall accuracy |", "|---|---|", "| plastic | 0.95 ± 0.02 |"]
    t.records()     # [{"table": "assoc", "agent": "plastic", "accuracy": {"mean": 0.95, ...}}]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pdlf.stats import finite_stats


def stat_record(values) -> dict[str, Any]:
    """``{"mean", "std", "n", "values"}`` over the finite entries of ``values`` (per-seed numbers;
    None and NaN kept in ``values`` as null, left out of the statistics)."""
    s = finite_stats(values)
    listed = [None if v is None or not np.isfinite(float(v)) else float(v) for v in np.asarray(values, dtype=object).ravel()]
    return {"mean": s.mean, "std": s.std, "n": s.count, "values": listed}


@dataclass
class Table:
    """A named table: ``columns`` (markdown headers) and rows added as (cells, record) pairs."""

    name: str
    columns: list[str]
    cells: list[list[str]] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def add(self, cells: list[str], record: dict[str, Any]) -> None:
        """Append a row: ``cells`` (one string per column) for markdown, ``record`` for JSON."""
        if len(cells) != len(self.columns):
            raise ValueError(f"table {self.name}: {len(cells)} cells for {len(self.columns)} columns")
        self.cells.append([str(c) for c in cells])
        self.rows.append(dict(record))

    def markdown(self) -> list[str]:
        """The table as markdown lines (header, rule, rows)."""
        lines = ["| " + " | ".join(self.columns) + " |", "|" + "---|" * len(self.columns)]
        return lines + ["| " + " | ".join(c) + " |" for c in self.cells]

    def records(self) -> list[dict[str, Any]]:
        """One JSON-ready object per row, each naming its table."""
        return [{"table": self.name, **r} for r in self.rows]


__all__ = ["Table", "stat_record"]
