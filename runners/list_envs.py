"""``pdlf envs``: list every registered task with its gym id, sizes and goal range."""

from __future__ import annotations

import argparse
import json


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list instead of a table")


def format_table(rows: list[dict]) -> str:
    """A plain-text table of `describe_tasks()` rows, one task per line."""
    header = ["task", "gym id", "obs", "act", "goal", "goal range", "steps", "description"]
    lines = [header]
    for r in rows:
        low, high = r["goal_range"]
        lines.append(
            [
                r["name"],
                r["id"],
                str(r["obs_dim"]),
                str(r["act_dim"]),
                str(r["goal_dim"]),
                f"[{low:.4g}, {high:.4g}) {r['goal_units']}",
                str(r["episode_steps"]),
                r["description"],
            ]
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(line, widths)) + "  " + line[-1]
        for line in lines
    )


def run(args: argparse.Namespace) -> int:
    from pdlf.envs import describe_tasks

    rows = describe_tasks()
    print(json.dumps(rows, indent=2) if args.json else format_table(rows))
    return 0
