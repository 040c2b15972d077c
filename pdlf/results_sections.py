"""Regenerate single sections of docs/results.md and their rows of docs/results.json in place.

``pdlf report --stages docs`` rebuilds the whole report from every stage's saved numbers
(``--root``/results). When only one experiment was re-run on this machine (say the learning-to-learn
stage), ``--sections l2l`` rebuilds just its section and its table's rows and keeps every other
section and row exactly as committed, instead of dropping what this machine has not run.

A section is the lines from its ``## `` heading up to (not including) the next ``## `` heading
or the end of the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from pdlf.errors import ConfigError


def splice_section(text: str, heading: str, lines: list[str], before: str | None = None) -> str:
    """``text`` with the section whose heading line starts with ``heading`` replaced by ``lines``
    (a list of lines, its own heading first). A section not in ``text`` is inserted before the
    section starting with ``before`` (else at the end)."""
    rows = text.split("\n")
    start = next((i for i, r in enumerate(rows) if r.startswith(heading)), None)
    if start is None:
        at = next((i for i, r in enumerate(rows) if before and r.startswith(before)), len(rows))
        return "\n".join(rows[:at] + lines + rows[at:])
    stop = next((i for i in range(start + 1, len(rows)) if rows[i].startswith("## ")), len(rows))
    return "\n".join(rows[:start] + lines + rows[stop:])


def replace_rows(results: dict, table: str, rows: list[dict]) -> dict:
    """``results`` (docs/results.json) with every row of ``table`` replaced by ``rows`` (in the
    place of the first old one, else at the end)."""
    old = results.get("rows", [])
    first = next((i for i, r in enumerate(old) if r.get("table") == table), len(old))
    kept = [r for r in old if r.get("table") != table]
    cut = sum(1 for r in old[:first] if r.get("table") != table)
    return {**results, "rows": kept[:cut] + rows + kept[cut:]}


def update_sections(docs: Path, sections: list[tuple[str, list[str], str, list[dict]]], before: str | None = None) -> None:
    """Write each ``(heading, lines, table, rows)`` into ``docs/results.md`` and ``docs/results.json``
    (`splice_section`, `replace_rows`); both files must exist (`pdlf report --stages docs` makes them)."""
    md, js = Path(docs) / "results.md", Path(docs) / "results.json"
    for path in (md, js):
        if not path.is_file():
            raise ConfigError(f"--sections updates {path} in place, which does not exist: run the whole docs stage first"
                              " (pdlf report --stages docs)")
    text, results = md.read_text(), json.loads(js.read_text())
    for heading, lines, table, rows in sections:
        text = splice_section(text, heading, lines, before)
        results = replace_rows(results, table, rows)
    md.write_text(text)
    js.write_text(json.dumps(results, indent=1) + "\n")


__all__ = ["splice_section", "replace_rows", "update_sections"]
