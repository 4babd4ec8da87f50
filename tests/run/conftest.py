"""Fixtures of the run/report tests: a typed scorecard and a headless chromium."""

from __future__ import annotations

import datetime as dt
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from alignwatch.metrics.card import (
    Checklist,
    ChecklistLine,
    Contribution,
    IndexLine,
    KpiBelowTarget,
    KpiLine,
    PilotVerdict,
    Priority,
    Scorecard,
)
from alignwatch.metrics.formulas import Finding, HumanReachability

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


def kpi_line(name: str, perspective: str, unit: str, target: float, value: float, attainment: float, events: float,
             *, below_target: bool, red_flag_crossed: bool | None = None) -> KpiLine:
    """A KPI of a scorecard, direction up, judged from 20 events."""
    return KpiLine(name=name, perspective=perspective, measure="custom", unit=unit, direction="up", target=target,
                   baseline=None, red_flag=None, value=value, events=events, attainment=attainment,
                   below_target=below_target, red_flag_crossed=red_flag_crossed, min_events=20,
                   judged=events >= 20, not_judged=None if events >= 20 else f"{events:g} events, fewer than min_events 20",
                   note=None)


def empty_scorecard() -> Scorecard:
    """The scorecard of a window without any event."""
    return Scorecard(
        business="New shop", window="7d", start=dt.datetime(2026, 2, 22, tzinfo=dt.UTC),
        end=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), sai=None, contributions=(), indices={}, perspectives={}, kpis={},
        checklist=Checklist(None, 0, {}), pitfalls=(), drift=(), human_reachability=HumanReachability(value=None),
        priorities=(), pilots=(),
    )


@pytest.fixture
def sample_scorecard() -> Scorecard:
    """A scorecard of the bakery: every part ``alignwatch.metrics.scorecard.build_scorecard`` fills."""
    points = {"cjai": 8.1, "spar": 9.4, "aac": 4.2, "sdur": 6.0, "ssai": 5.5, "financial": 7.9, "customer": 9.6,
              "internal_process": 6.3, "learning_growth": 6.27}
    sell_through = kpi_line("Bread sold of bread baked", "internal_process", "ratio", 0.9, 0.62, 0.69, 412,
                            below_target=True, red_flag_crossed=True)
    return Scorecard(
        business="Corner Bakery", window="7d", start=dt.datetime(2026, 2, 22, tzinfo=dt.UTC),
        end=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        sai=63.27,
        contributions=tuple(Contribution(name, None, 1 / 9, p) for name, p in points.items()),
        indices={"cjai": IndexLine(0.5), "spar": IndexLine(0.75), "aac": IndexLine(0.41), "sdur": IndexLine(0.6),
                 "ssai": IndexLine(0.33)},
        perspectives={"financial": 55.0, "customer": 71.5, "internal_process": 48.25, "learning_growth": 62.0},
        kpis={"sell_through": sell_through,
              "csat": kpi_line("Customer satisfaction", "customer", "score", 4.5, 4.6, 1.0, 12, below_target=False)},
        checklist=Checklist(0.625, 1, {
            "clear_strategy": ChecklistLine("passed", "4 goals declared", "strategy"),
            "pilot_projects": ChecklistLine("failed", "oven went live without a pilot", "strategy"),
        }),
        pitfalls=(
            Finding("overproduction", "oven_scheduler", True, "critical",
                    {"units_produced": 1200, "units_ordered": 744, "sell_through": 0.62}, {"sell_through_min": 0.8},
                    "sell-through 0.62 below 0.8"),
            Finding("feature_overload", "shop_suite", True, "warning",
                    {"features_used": 3, "features_licensed": 12, "usage_ratio": 0.25}, {"feature_usage_min": 0.5},
                    "3 of 12 licensed features used"),
        ),
        drift=(KpiBelowTarget("sell_through", 0.62, 0.9, 412, False, "KPI sell_through at 0.62 against target 0.9"),),
        human_reachability=HumanReachability(value=0.95, requested=40, within_sla=38, floor=0.9, sla_s=300,
                                             below_floor=False),
        # 0.5 goal weight × 2 (supporting) × 325 manual cases a month × 2.50 a case = 812.5
        priorities=(Priority("invoicing", "Invoicing", 812.5, 0.5, "supporting", 1.0, 325.0, 2.5, True, (), 1),),
        pilots=(PilotVerdict("chatbot", "Order chatbot", "iterate", "KPI attainment moved -0.10 on average",
                             {"csat": -0.1}),),
    )


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
