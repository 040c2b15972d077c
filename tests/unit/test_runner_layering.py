"""Runners are thin: they call library functions, never the CLI parser or another runner."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RUNNERS = sorted((Path(__file__).resolve().parents[2] / "runners").glob("*.py"))


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports (``import a.b``, ``from a import b`` -> ``a.b`` too) or names in
    ``importlib.import_module("...")``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.add(str(node.args[0].value))
    return found


def _forbidden(module: str) -> bool:
    return module == "pdlf.cli" or module.startswith(("pdlf.cli.", "pdlf.runners.")) or module == "runners" \
        or module.startswith("runners.")


def test_report_does_not_import_the_cli():
    report = next(p for p in RUNNERS if p.name == "report.py")
    assert "pdlf.cli" not in imported_modules(report)


@pytest.mark.parametrize("path", RUNNERS, ids=[p.name for p in RUNNERS])
def test_no_runner_imports_the_cli_or_another_runner(path):
    assert not sorted(m for m in imported_modules(path) if _forbidden(m))
