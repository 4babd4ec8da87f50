"""The code passes the checks `make test` holds it to (configured in pyproject.toml):
ruff, the one-way layers (import-linter), mypy, and no function-level import of the
project's own modules outside the places where it is deliberate."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

# the helper module of these checks (helpers_imports.py) is imported by name
sys.path.insert(0, str(Path(__file__).parent))

from helpers_imports import absolute_imports, import_lines  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SOURCES = ("alignwatch", "stream", "metrics", "expectations", "dags")
#: where project modules are imported inside functions on purpose, and why (elsewhere a
#: comment right above the imports must say why, e.g. the suites that load Great Expectations)
DELIBERATE = {
    # each command imports what it runs when it is called, so `alignwatch --help` stays fast
    "alignwatch/cli",
    # Airflow's best practice: no work at DAG-parse time, heavy imports inside the tasks
    "dags",
}


def _run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(part) for part in command], cwd=REPO, capture_output=True, text=True, timeout=600)


def test_ruff_finds_nothing() -> None:
    result = _run(BIN / "ruff", "check", "--output-format", "concise", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_layers_import_one_way() -> None:
    result = _run(BIN / "lint-imports", "--no-cache")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr


def _said_why(lines: list[str], imports: set[int], lineno: int) -> bool:
    """Whether a comment stands right above the group of imports that holds line ``lineno``
    (``imports``: the lines import statements span, so a parenthesised import of several
    lines stays in its group)."""
    index = lineno - 2
    while index >= 0 and index + 1 in imports:
        index -= 1
    return index >= 0 and lines[index].strip().startswith("#")


def _function_level_imports(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    tree = ast.parse(source, filename=str(path))
    lines, spans = source.splitlines(), import_lines(tree)
    found = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node, names in absolute_imports(function):
            if any(name.split(".")[0] == "alignwatch" for name in names) and not _said_why(lines, spans, node.lineno):
                found.append(f"{path.relative_to(REPO)}:{node.lineno}: {lines[node.lineno - 1].strip()}")
    return found


_GROUPED = """\
def load():
    # the suites load Great Expectations: only when they run
    from alignwatch.expectations.events import (
        build_suite,
        run_suite,
    )
    from alignwatch.expectations.metric_values import (
        check_values,
    )
    import alignwatch.errors
"""

_SILENT = """\
def load():
    value = 1
    from alignwatch.expectations.events import (
        build_suite,
    )
"""


def test_a_comment_above_a_group_of_parenthesised_imports_says_why_for_each_of_them() -> None:
    grouped, silent = ast.parse(_GROUPED), ast.parse(_SILENT)
    assert [_said_why(_GROUPED.splitlines(), import_lines(grouped), node.lineno) for node, _ in absolute_imports(grouped)] == [
        True, True, True]
    # the import right under `value = 1` has no comment above it
    assert [_said_why(_SILENT.splitlines(), import_lines(silent), node.lineno) for node, _ in absolute_imports(silent)] == [
        False]


def test_project_modules_are_imported_at_module_level_except_where_deliberate() -> None:
    files = sorted({p.resolve() for folder in SOURCES for p in (REPO / folder).rglob("*.py")})
    allowed = [REPO / place for place in DELIBERATE]
    inside = [
        line
        for path in files
        if not any(path.is_relative_to(place) for place in allowed)
        for line in _function_level_imports(path)
    ]
    assert len(files) > 60
    assert inside == [], "\n".join(inside)


# mypy's incremental cache, kept across checkouts like pip's: a file whose content is
# unchanged is not checked again (mypy compares hashes when modification times differ), which
# takes the check from about 60 s to a few seconds on a fresh clone
MYPY_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "alignwatch" / "mypy"


@pytest.mark.slow
def test_mypy_finds_nothing() -> None:
    result = _run(BIN / "mypy", "--cache-dir", MYPY_CACHE)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr
