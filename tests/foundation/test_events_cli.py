"""``alignwatch events``: schema check/write and validation of event files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from foundation_event_samples import envelope, with_data

from alignwatch.cli import main
from alignwatch.stream.contract import EVENT_TYPES


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_events_schemas_check_passes_on_the_committed_files(capsys: pytest.CaptureFixture[str]) -> None:
    root = Path(__file__).resolve().parents[2]
    code, out, _ = _run(["events", "schemas", "--check", "--dir", str(root / "docs/schemas"),
                         "--doc", str(root / "docs/events.md")], capsys)
    assert code == 0
    assert "up to date" in out


def test_events_schemas_check_fails_in_one_line_when_files_are_stale(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _run(["events", "schemas", "--dir", str(tmp_path / "schemas"), "--doc", str(tmp_path / "e.md")],
                        capsys)
    assert code == 1
    assert err.count("\n") == 1 and "events schemas --write" in err
    code, out, _ = _run(["events", "schemas", "--write", "--dir", str(tmp_path / "schemas"),
                         "--doc", str(tmp_path / "e.md")], capsys)
    assert code == 0 and f"wrote {len(EVENT_TYPES) + 3} file(s)" in out
    code, _, _ = _run(["events", "schemas", "--dir", str(tmp_path / "schemas"), "--doc", str(tmp_path / "e.md")],
                      capsys)
    assert code == 0


def test_events_validate_accepts_a_file_of_valid_events(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [json.dumps(envelope(event_type, time="2026-03-02T08:15:00Z")) for event_type in EVENT_TYPES]
    path = tmp_path / "good.jsonl"
    path.write_text("\n".join([*lines, "", lines[0]]) + "\n", encoding="utf-8")
    code, out, _ = _run(["events", "validate", str(path)], capsys)
    assert code == 0
    assert f"{len(EVENT_TYPES) + 1} valid (1 repeat an earlier (source, id)), 0 rejected" in out


def test_events_validate_reports_each_rejected_line_with_its_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        "\n".join([
            json.dumps(envelope("workforce.survey")),
            json.dumps(with_data("customer.feedback", csat=7)),
            "not json",
            json.dumps(envelope("workforce.survey", time="2026-03-02T08:15:00")),
        ]) + "\n",
        encoding="utf-8",
    )
    code, out, err = _run(["events", "validate", str(path)], capsys)
    assert code == 1
    assert f"{path}:2: invalid_payload: data.csat: 7 is above the maximum 5" in out
    assert f"{path}:3: not_json:" in out
    assert f"{path}:4: bad_time:" in out
    assert "1 valid" in err and "3 rejected" in err and "bad_time 1, invalid_payload 1, not_json 1" in err


def test_events_validate_names_a_missing_file_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["events", "validate", str(tmp_path / "absent.jsonl")], capsys)
    assert code == 2
    assert "absent.jsonl" in err and "Traceback" not in err
