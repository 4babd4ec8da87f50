"""Paths the CLI reads and writes: a store that does not exist is never created by a command
that only reads or adds to it, and a path that cannot be read, written or created is one
line naming it, never a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from alignwatch.cli import main
from alignwatch.store import connect, upgrade

REPO = Path(__file__).resolve().parents[1]
STRATEGY = str(REPO / "examples" / "bakery.yaml")


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out, captured.err


def _tree(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def _migrated_store(directory: Path) -> str:
    url = f"sqlite:///{directory / 'store.db'}"
    engine = connect(url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return url


# every command that reads a store, or adds to one that must exist; none may create it
READING_COMMANDS = [
    ["scorecard", "--strategy", STRATEGY],
    ["scorecard", "--strategy", STRATEGY, "--at", "2026-03-08"],
    ["explain", "sai", "--strategy", STRATEGY],
    ["explain", "ethics", "--strategy", STRATEGY],
    ["runs"],
    ["runs", "--id", "1"],
    ["quarantine", "list"],
    ["quarantine", "show", "1"],
    ["quarantine", "replay", "--reason", "time_in_future"],
    ["db", "current"],
    ["report", "--strategy", STRATEGY, "--out", "report.html"],
    ["metrics", "compute", "--strategy", STRATEGY, "--from", "2026-03-01", "--to", "2026-03-02"],
    ["metrics", "backfill", "--strategy", STRATEGY, "--from", "2026-03-01", "--to", "2026-03-03", "--workers", "2"],
]


@pytest.mark.parametrize("command", READING_COMMANDS, ids=lambda command: " ".join(command[:2]))
def test_a_command_on_a_store_that_does_not_exist_says_how_to_create_it_in_one_line_and_creates_nothing(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # a relative --out or store path would land here
    url = "sqlite:///missing/dir/store.db"
    code, out, err = _main([*command, "--store", url], capsys)
    assert code != 0
    assert err.strip().count("\n") == 0 and "Traceback" not in err, err
    assert err.startswith(f"error: store {url} does not exist (no file missing/dir/store.db)"), err
    assert "alignwatch db upgrade --store sqlite:///missing/dir/store.db" in err and "make run" in err
    assert _tree(tmp_path) == [], "the command created files or directories"


def test_ingest_into_a_store_that_does_not_exist_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    events = tmp_path / "events.jsonl"
    events.write_text("")
    code, _out, err = _main(["ingest", str(events), "--store", "sqlite:///store.db"], capsys)
    assert code != 0 and err.count("\n") == 1 and "does not exist" in err, err
    assert _tree(tmp_path) == ["events.jsonl"]


def test_db_upgrade_still_creates_the_store_and_its_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _err = _main(["db", "upgrade", "--store", f"sqlite:///{tmp_path / 'new' / 'store.db'}"], capsys)
    assert code == 0 and "store migrated from empty" in out
    assert (tmp_path / "new" / "store.db").is_file()


@pytest.mark.parametrize(("out", "named"), [
    # the directory above the file does not exist and cannot be made (nothing is created under /proc)
    ("/proc/nope/x.html", "/proc/nope/x.html: /proc/nope: No such file or directory"),
    # the directory above the file is a regular file
    ("{tmp}/a-file/x.html", "{tmp}/a-file/x.html: {tmp}/a-file: File exists"),
])
def test_a_report_that_cannot_be_written_is_one_line_naming_the_path(
    out: str, named: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    url = _migrated_store(tmp_path)
    (tmp_path / "a-file").write_text("not a directory")
    before = _tree(tmp_path)
    code, stdout, err = _main(["report", "--store", url, "--strategy", STRATEGY,
                               "--out", out.format(tmp=tmp_path)], capsys)
    assert code == 1
    assert err == f"error: cannot write the report to {named.format(tmp=tmp_path)}\n"
    assert not stdout
    assert _tree(tmp_path) == before


def test_a_var_directory_that_cannot_be_created_stops_the_run_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    os.environ.pop("ALIGNWATCH_STORE_URL", None)
    code, out, err = _main(["run", "--var", str(tmp_path / "a-file" / "var"), "--duration", "5"], capsys)
    assert code == 1
    assert err == f"error: cannot create the --var directory {tmp_path / 'a-file' / 'var'}: Not a directory\n"
    assert "broker:" not in out and _tree(tmp_path) == ["a-file"]


def test_a_file_a_command_cannot_write_without_a_message_of_its_own_is_still_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    code, _out, err = _main(["render", "rules", "--strategy", STRATEGY, "--out", str(tmp_path / "a-file" / "rules")], capsys)
    assert code == 1
    assert err.startswith("error: cannot read or write ") and err.count("\n") == 1 and "Traceback" not in err, err
