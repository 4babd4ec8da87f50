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

from alignwatch.metrics.card import Scorecard

# the helper modules of these tests (helpers_run.py, helpers_scorecard.py) are imported by name
sys.path.insert(0, str(Path(__file__).parent))

from helpers_scorecard import bakery_scorecard  # noqa: E402

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
def sample_scorecard() -> Scorecard:
    """A scorecard of the bakery: every part ``alignwatch.metrics.scorecard.build_scorecard`` fills."""
    return bakery_scorecard()


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
