"""Fixtures of the run/report tests: a scorecard of the documented shape and a headless chromium."""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

# the helper module of these tests (helpers_run.py) is imported by name
sys.path.insert(0, str(Path(__file__).parent))

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture
def sample_scorecard() -> dict[str, Any]:
    """A scorecard with every key ``alignwatch.metrics.scorecard.build_scorecard`` returns."""
    return {
        "sai": 63.27,
        "contributions": {"cjai": 8.1, "spar": 9.4, "aac": 4.2, "sdur": 6.0, "ssai": 5.5, "financial": 7.9,
                          "customer": 9.6, "internal_process": 6.3, "learning_growth": 6.27},
        "indices": {"cjai": 0.5, "spar": 0.75, "aac": 0.41, "sdur": 0.6, "ssai": 0.33},
        "perspectives": {"financial": 55.0, "customer": 71.5, "internal_process": 48.25, "learning_growth": 62.0},
        "kpis": [
            {"id": "sell_through", "name": "Bread sold of bread baked", "perspective": "internal_process", "unit": "ratio",
             "direction": "up", "target": 0.9, "value": 0.62, "attainment": 0.69, "below_target": True,
             "red_flag_crossed": True, "events": 412, "min_events": 20},
            {"id": "csat", "name": "Customer satisfaction", "perspective": "customer", "unit": "score",
             "direction": "up", "target": 4.5, "value": 4.6, "attainment": 1.0, "below_target": False,
             "events": 12, "min_events": 20},
        ],
        "checklist": {"readiness": 0.625, "items": [
            {"id": "clear_strategy", "passed": True, "evidence": "4 goals declared", "source": "strategy"},
            {"id": "pilot_projects", "passed": False, "evidence": "oven went live without a pilot", "source": "strategy"},
        ]},
        "pitfalls": [
            {"id": "overproduction", "subject": "oven_scheduler", "severity": "critical",
             "evidence": {"units_produced": 1200, "units_ordered": 744, "sell_through": 0.62, "threshold": 0.8}},
            {"id": "feature_overload", "subject": "shop_suite", "severity": "warning",
             "evidence": {"features_used": 3, "features_licensed": 12, "usage_ratio": 0.25}},
        ],
        "drift": [{"kpi": "sell_through", "kind": "below_target", "message": "sell-through below target for 3 windows"}],
        "human_reachability": {"value": 0.95, "floor": 0.9},
        "priorities": [{"id": "invoicing", "name": "Invoicing", "rank": 1, "score": 812.5, "reason": "critical, 400 manual cases a month"}],
        "pilots": [{"automation_id": "chatbot", "name": "Order chatbot", "verdict": "iterate", "deltas": {"csat": -0.1}}],
    }


@pytest.fixture
def at() -> dt.datetime:
    return dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def png_colours(data: bytes) -> int:
    """Number of distinct pixel colours of an 8-bit RGB/RGBA, non-interlaced PNG (what chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
    assert header is not None
    width, height, depth, colour_type, _, _, interlace = header
    assert depth == 8 and colour_type in (2, 6) and interlace == 0, header
    bpp = 3 if colour_type == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    previous, colours, offset = bytearray(stride), set(), 0
    for _ in range(height):
        kind, line = raw[offset], bytearray(raw[offset + 1:offset + 1 + stride])
        offset += 1 + stride
        for i in range(stride):
            left = line[i - bpp] if i >= bpp else 0
            up, corner = previous[i], previous[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 0xFF
        colours.update(bytes(line[i:i + bpp]) for i in range(0, stride, bpp * 4))
        previous = line
    return len(colours)


@pytest.fixture
def colour_count() -> Callable[[bytes], int]:
    """The PNG colour counter, for screenshots."""
    return png_colours


@pytest.fixture
def chromium(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[bytes]]:
    """Run Debian's headless chromium with the given extra arguments and a throwaway profile."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed: `make test` installs it (TEST_DEBS)"
    profile = tmp_path / "chromium-profile"

    def run(*args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, timeout=60, check=True, cwd=tmp_path,
        )

    return run
