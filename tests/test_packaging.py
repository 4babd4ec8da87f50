"""The distribution's generic top-level package names resolve to this project."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["alignwatch", "stream", "metrics", "expectations"])
def test_top_level_package_is_this_projects_folder(name: str) -> None:
    module = importlib.import_module(name)
    assert Path(module.__file__).resolve().parent == REPO / name
    assert (REPO / name / "py.typed").exists()
