"""``quarantine list`` and ``quarantine show`` print producer-controlled text literally: no
rich markup, no links, every control character escaped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from alignwatch.cli.output import printable

ALIGNWATCH = str(Path(sys.executable).parent / "alignwatch")
ESC = "\x1b"

BASE = {
    "specversion": "1.0",
    "source": "shop",
    "time": "2026-01-05T10:00:00Z",
    "datacontenttype": "application/json",
    "data": {},
}
# (type, id) of events rejected as unknown_type; every text is shown in the listing's message
POISON = [
    ("[/]", "closing-tag"),
    ("[link=https://evil.example/]click me[/link]", "link"),
    ("[bold red]alarm[/]", "markup"),
    (":thumbs_up: ok", "emoji"),
    (f"{ESC}[2J{ESC}[31mred", f"id-{ESC}]8;;https://evil.example/{ESC}\\"),
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALIGNWATCH, *args], capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"}
    )


@pytest.fixture
def poisoned_store(tmp_path: Path) -> str:
    """A store whose quarantine holds the POISON events and a raw line with an escape sequence."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    lines = [json.dumps({**BASE, "type": kind, "id": event_id}) for kind, event_id in POISON]
    lines.append(f"not json [/] [link=x]y[/link] {ESC}[31m red {ESC}[0m")
    path = tmp_path / "poison.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert run("db", "upgrade", "--store", url).returncode == 0
    ingested = run("ingest", str(path), "--store", url)
    assert ingested.stdout.strip() == f"stored 0, duplicates 0, quarantined {len(lines)}", ingested.stderr
    return url


def test_quarantine_list_prints_markup_and_links_literally_and_never_crashes(poisoned_store: str) -> None:
    result = run("quarantine", "list", "--store", poisoned_store)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and "MarkupError" not in result.stderr
    assert "type: '[/]' is not one of the known event types" in result.stdout
    assert "type: '[link=https://evil.example/]click me[/link]'" in result.stdout
    assert "type: '[bold red]alarm[/]'" in result.stdout
    assert "type: ':thumbs_up: ok'" in result.stdout  # no emoji substitution
    assert ESC not in result.stdout
    assert result.stdout.rstrip().endswith(f"{len(POISON) + 1} entries")


def test_quarantine_show_escapes_control_characters_in_every_field(poisoned_store: str) -> None:
    result = run("quarantine", "show", str(len(POISON)), "--store", poisoned_store)
    assert result.returncode == 0, result.stderr
    assert ESC not in result.stdout
    # the id came from JSON "\u001b" escapes: stored with a real ESC, shown escaped
    assert "event_id: id-\\x1b]8;;https://evil.example/\\x1b\\" in result.stdout.splitlines()

    raw_line = run("quarantine", "show", str(len(POISON) + 1), "--store", poisoned_store)
    assert raw_line.returncode == 0, raw_line.stderr
    assert ESC not in raw_line.stdout
    assert "raw: not json [/] [link=x]y[/link] \\x1b[31m red \\x1b[0m" in raw_line.stdout.splitlines()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain text, [brackets] and \\ backslashes", "plain text, [brackets] and \\ backslashes"),
        (f"{ESC}[31m", "\\x1b[31m"),
        ("one\ntwo\rthree\tfour", "one\\ntwo\\rthree\\tfour"),
        ("\x00\x07\x7f\x9b", "\\x00\\x07\\x7f\\x9b"),
        ("left\u202eright\u200b", "left\\u202eright\\u200b"),
        ("line\u2028separator", "line\\u2028separator"),
        ("tag\U000e0041", "tag\\U000e0041"),
        ("café ☕ 東京", "café ☕ 東京"),
    ],
    ids=["printable", "escape", "line breaks", "C0 C1 DEL", "bidi zero-width", "separator", "tag char", "unicode"],
)
def test_printable_escapes_control_and_invisible_characters_and_keeps_the_rest(text: str, shown: str) -> None:
    assert printable(text) == shown
