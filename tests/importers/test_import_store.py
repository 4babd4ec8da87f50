"""Imports into the store (SQLite and PostgreSQL): idempotent re-import, and nothing
half-imported left behind when a log turns out to be broken."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.cli import main
from alignwatch.store import connect
from alignwatch.store.schema import events

pytestmark = pytest.mark.integration


def _count(url: str, source: str) -> dict[str, int]:
    engine = connect(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.type, sa.func.count()).where(events.c.source == source).group_by(events.c.type)
            ).all()
    finally:
        engine.dispose()
    return {type_: count for type_, count in rows}


def _ids(url: str, source: str) -> set[str]:
    engine = connect(url)
    try:
        with engine.connect() as conn:
            return set(conn.execute(sa.select(events.c.event_id).where(events.c.source == source)).scalars())
    finally:
        engine.dispose()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def test_importing_a_log_twice_stores_every_event_once_with_the_same_ids(
    store_url: str, eventlogs: Path, mappings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, mapping = str(eventlogs / "company_business_process_log.xes.gz"), str(mappings / "company_bot.yaml")
    code, out, err = _run(capsys, "import", "xes", log, "--mapping", mapping, "--store", store_url, "--quiet")
    assert code == 0, err
    assert '"events": 132' in out and '"cases": 20' in out and '"stored": 80' in out
    counts = _count(store_url, "import/company_bot")
    assert counts == {"automation.run": 20, "customer.touchpoint": 40, "process.execution": 20}
    first_ids = _ids(store_url, "import/company_bot")
    code, out, err = _run(capsys, "import", "xes", log, "--mapping", mapping, "--store", store_url, "--quiet")
    assert code == 0, err
    assert '"stored": 0' in out and '"duplicates": 80' in out
    assert _ids(store_url, "import/company_bot") == first_ids
    assert _count(store_url, "import/company_bot") == counts


def _truncated_copy(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def test_a_truncated_log_fails_naming_where_it_broke_and_leaves_nothing_behind(
    store_url: str, eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _truncated_copy(eventlogs / "helpdesk.xes.gz", tmp_path / "helpdesk.xes.gz")
    code, out, err = _run(
        capsys, "import", "xes", str(broken), "--mapping", str(mappings / "helpdesk.yaml"), "--store", store_url, "--quiet"
    )
    assert code != 0
    assert "helpdesk.xes.gz: the file breaks off after the last complete <trace> (it starts at line" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert _count(store_url, "import/helpdesk") == {}


def test_keep_partial_keeps_what_was_imported_before_the_break(
    store_url: str, eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = _truncated_copy(eventlogs / "helpdesk.xes.gz", tmp_path / "helpdesk.xes.gz")
    code, _, err = _run(
        capsys, "import", "xes", str(broken), "--mapping", str(mappings / "helpdesk.yaml"),
        "--store", store_url, "--quiet", "--keep-partial",
    )
    assert code != 0 and "breaks off" in err
    kept = _count(store_url, "import/helpdesk")
    assert 0 < sum(kept.values()) < 21_348


def test_a_failed_reimport_leaves_the_earlier_import_untouched(
    store_url: str, eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log, mapping = eventlogs / "company_business_process_log.xes.gz", str(mappings / "company_bot.yaml")
    assert _run(capsys, "import", "xes", str(log), "--mapping", mapping, "--store", store_url, "--quiet")[0] == 0
    before = _count(store_url, "import/company_bot")
    text = gzip.decompress(log.read_bytes()).decode("utf-8")
    garbled = tmp_path / "company.xes"
    garbled.write_text(text[: len(text) * 2 // 3] + "<event><string key=", encoding="utf-8")
    code, _, err = _run(capsys, "import", "xes", str(garbled), "--mapping", mapping, "--store", store_url, "--quiet")
    assert code != 0 and "malformed XES at line" in err
    assert _count(store_url, "import/company_bot") == before == {
        "automation.run": 20, "customer.touchpoint": 40, "process.execution": 20,
    }


def test_robot_log_import_stores_one_run_per_job_and_case(
    store_url: str, eventlogs: Path, mappings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "import", "uipath-log", str(eventlogs / "company_bot_log_uipath.txt.gz"),
        "--mapping", str(mappings / "company_bot_uipath.yaml"), "--store", store_url, "--quiet",
    )
    assert code == 0, err
    assert _count(store_url, "import/company_bot_uipath") == {"automation.run": 20}
