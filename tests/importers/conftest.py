"""Fixtures of the importer tests: the real event logs beside the repository and their mappings.

The logs live in ``<repo>/../shared/data/eventlogs`` (see its README for provenance: the
pm4py test data from the 4TU.ResearchData collection, and pandyke/bot-log-mining).
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EVENTLOGS = (REPO / ".." / "shared" / "data" / "eventlogs").resolve()
MAPPINGS = REPO / "examples" / "mappings"


@pytest.fixture(scope="session")
def eventlogs() -> Path:
    """The directory of the real event logs."""
    assert EVENTLOGS.is_dir(), f"real event logs expected in {EVENTLOGS}"
    return EVENTLOGS


@pytest.fixture(scope="session")
def mappings() -> Path:
    """The example mapping files."""
    return MAPPINGS
