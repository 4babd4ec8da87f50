"""Fixtures of the event-contract tests: a fixed clock and the sample events."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# the sample module of these tests (foundation_event_samples.py) is imported by name
sys.path.insert(0, str(Path(__file__).parent))

from foundation_event_samples import NOW  # noqa: E402

from alignwatch.stream.contract import DecodeLimits  # noqa: E402


@pytest.fixture
def limits() -> DecodeLimits:
    """Default decode limits on a fixed clock (``NOW``)."""
    return DecodeLimits(now=lambda: NOW)
