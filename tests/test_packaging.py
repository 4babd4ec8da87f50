"""The repository's top-level folders are installed under the ``alignwatch`` namespace.

``stream/``, ``metrics/`` and ``expectations/`` stay top-level folders of the repository;
``alignwatch/stream``, ``alignwatch/metrics`` and ``alignwatch/expectations`` link to them,
so the only import names the distribution installs are ``alignwatch`` and its subpackages.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("stream", "metrics", "expectations")
SOURCES = ("alignwatch", "stream", "metrics", "expectations", "dags", "bench", "tests", "scripts")


@pytest.mark.parametrize("name", FOLDERS)
def test_each_folder_is_imported_as_a_subpackage_of_alignwatch(name: str) -> None:
    module = importlib.import_module(f"alignwatch.{name}")
    assert Path(module.__file__).resolve().parent == REPO / name
    assert (REPO / name / "py.typed").exists()


def _bare_imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        found += [f"{path.relative_to(REPO)}:{node.lineno}: {name}" for name in names if name.split(".")[0] in FOLDERS]
    return found


def test_no_source_imports_a_folder_by_its_bare_top_level_name() -> None:
    # importing `metrics.engine` beside `alignwatch.metrics.engine` would load the module twice
    # each file once, by its real path (not again through alignwatch/<folder>)
    files = sorted({p.resolve() for folder in SOURCES for p in (REPO / folder).rglob("*.py")})
    bare = [line for path in files for line in _bare_imports(path)]
    assert len(files) > 100
    assert bare == []
