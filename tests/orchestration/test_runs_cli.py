"""`alignwatch runs` tells an operator which runs failed validation, and on what."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
import sqlalchemy as sa

from alignwatch.cli import main
from alignwatch.expectations.runner import ExpectationOutcome, SuiteOutcome
from alignwatch.store import pipeline_runs

T0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _record_runs(engine: sa.Engine) -> None:
    suite = SuiteOutcome(
        suite="raw_events",
        success=False,
        rows=12,
        expectations=(
            ExpectationOutcome("expect_known_event_type", "every type is in the contract", True),
            ExpectationOutcome(
                "expect_csat_in_range", "CSAT is 1..5", False, kwargs={"min_value": 1, "max_value": 5},
                observed={"unexpected_count": 1, "partial_unexpected_list": [7]},
            ),
        ),
    )
    common = {"business": "bakery", "interval_start": T0, "interval_end": T0 + dt.timedelta(hours=1),
              "started_at": T0 + dt.timedelta(hours=1), "finished_at": T0 + dt.timedelta(hours=1, seconds=2)}
    with engine.begin() as conn:
        conn.execute(pipeline_runs.insert(), [
            {**common, "kind": "continuous", "status": "published", "value_count": 40,
             "validation": {"success": True, "failed": [], "suites": []}},
            {**common, "kind": "continuous", "status": "failed_validation", "value_count": 40,
             "validation": {"success": False, "failed": ["raw_events.expect_csat_in_range"],
                            "suites": [suite.as_json()]}},
        ])


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_runs_lists_newest_first_with_the_failing_expectation(
    store_url: str, store_engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    _record_runs(store_engine)
    code, out, _ = _cli(capsys, "runs", "--store", store_url)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    assert "failed_validation" in lines[0] and "failed: raw_events.expect_csat_in_range" in lines[0]
    assert "published" in lines[1] and "failed:" not in lines[1]

    code, out, _ = _cli(capsys, "runs", "--status", "published", "--json", "--store", store_url)
    listed = json.loads(out)
    assert [row["status"] for row in listed] == ["published"] and "validation" not in listed[0]


def test_one_run_shows_what_the_failing_expectation_observed(
    store_url: str, store_engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    _record_runs(store_engine)
    with store_engine.connect() as conn:
        failed_id = conn.execute(sa.select(sa.func.max(pipeline_runs.c.id))).scalar_one()
    code, out, _ = _cli(capsys, "runs", "--id", str(failed_id), "--store", store_url)
    assert code == 0
    assert "suite raw_events: FAILED (12 rows)" in out
    assert "FAIL expect_csat_in_range: CSAT is 1..5" in out
    assert '"partial_unexpected_list": [7]' in out
    assert "ok   expect_known_event_type" in out


def test_an_unknown_run_is_one_clear_error(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, "runs", "--id", "999", "--store", store_url)
    assert code == 1 and err.strip() == "error: no pipeline run with id 999"


def test_runs_marks_a_run_of_a_dead_process_abandoned_and_lists_it_by_that_status(
    store_url: str, store_engine: sa.Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "import json; from alignwatch.liveness import RunOwner; print(json.dumps(RunOwner.current().as_json()))"],
        capture_output=True, text=True, check=True,
    )
    owner = json.loads(child.stdout)
    _record_runs(store_engine)
    with store_engine.begin() as conn:
        conn.execute(pipeline_runs.insert().values(
            kind="nightly", business="bakery", interval_start=T0, interval_end=T0 + dt.timedelta(days=1),
            started_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=3), status="running", details={"owner": owner},
        ))

    code, out, _ = _cli(capsys, "runs", "--status", "abandoned", "--store", store_url)
    (line,) = out.strip().splitlines()
    assert code == 0 and "nightly" in line and "abandoned" in line
    assert line.endswith(f"error: process {owner['pid']} on host {owner['host']} is gone")

    code, out, _ = _cli(capsys, "runs", "--status", "running", "--store", store_url)
    assert code == 0 and out.strip() == "no runs yet"
