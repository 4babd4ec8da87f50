"""Runs left ``running`` by a process that died, or running too long, are marked abandoned."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.liveness import RunOwner, close_abandoned_runs
from alignwatch.pipeline import continuous_task, run_interval
from alignwatch.store.schema import pipeline_runs

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
DAY0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
OWNER_OF_A_CHILD = "import json; from alignwatch.liveness import RunOwner; print(json.dumps(RunOwner.current().as_json()))"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strategy() -> Any:
    from alignwatch.metrics.strategy import load_strategy

    return load_strategy(STRATEGY)


def gone_owner() -> dict[str, Any]:
    """The owner record of a process that ran on this host and has exited."""
    child = subprocess.run([sys.executable, "-c", OWNER_OF_A_CHILD], capture_output=True, text=True, check=True)
    return json.loads(child.stdout)


def record_running(engine: sa.Engine, owner: dict[str, Any], started_ago: dt.timedelta) -> int:
    """A ``running`` row as run_interval records it, started ``started_ago`` before now."""
    with engine.begin() as conn:
        return int(
            conn.execute(
                pipeline_runs.insert()
                .values(
                    kind="continuous",
                    business="bakery",
                    interval_start=DAY0,
                    interval_end=DAY0 + dt.timedelta(hours=1),
                    started_at=dt.datetime.now(dt.UTC) - started_ago,
                    status="running",
                    details={"owner": owner},
                )
                .returning(pipeline_runs.c.id)
            ).scalar_one()
        )


def run_row(engine: sa.Engine, run_id: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).where(pipeline_runs.c.id == run_id)).one()


def no_values(*_args: Any, **_kwargs: Any) -> list[Any]:
    return []


def test_a_run_left_running_by_a_process_that_is_gone_is_marked_abandoned_by_the_next_run(
    store_engine: sa.Engine, strategy: Any
) -> None:
    owner = gone_owner()
    assert owner["host"] == socket.gethostname() and owner["pid"] != os.getpid()
    stale = record_running(store_engine, owner, dt.timedelta(minutes=1))

    outcome = run_interval(store_engine, strategy, start=DAY0, end=DAY0 + dt.timedelta(hours=1), compute=no_values)

    row = run_row(store_engine, stale)
    assert row.status == "abandoned" and row.finished_at is not None
    assert row.details["error"] == f"process {owner['pid']} on host {owner['host']} is gone"
    assert row.details["owner"] == owner
    new = run_row(store_engine, outcome.run_id)
    assert new.status == outcome.status != "running"
    assert new.details["owner"]["pid"] == os.getpid() and new.details["owner"]["host"] == socket.gethostname()


def test_a_pid_given_to_a_later_process_does_not_keep_a_dead_run_open(store_engine: sa.Engine) -> None:
    earlier = {**RunOwner.current().as_json(), "process_start": RunOwner.current().process_start - 1}
    stale = record_running(store_engine, earlier, dt.timedelta(minutes=1))

    (closed,) = close_abandoned_runs(store_engine)

    assert closed.run_id == stale and run_row(store_engine, stale).status == "abandoned"


def test_a_run_of_a_killed_process_not_yet_reaped_by_its_parent_is_marked_abandoned(store_engine: sa.Engine) -> None:
    child = subprocess.Popen([sys.executable, "-c", OWNER_OF_A_CHILD], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        owner = json.loads(child.stdout.read())
        stat = Path(f"/proc/{child.pid}/stat")
        deadline = time.monotonic() + 10
        while stat.read_text().rpartition(")")[2].split()[0] != "Z":  # exited, not waited for
            assert time.monotonic() < deadline, "the child did not exit"
            time.sleep(0.01)
        stale = record_running(store_engine, owner, dt.timedelta(minutes=1))

        (closed,) = close_abandoned_runs(store_engine)

        assert closed.run_id == stale and closed.reason == f"process {child.pid} on host {owner['host']} is gone"
    finally:
        child.stdout.close()  # type: ignore[union-attr]
        child.wait()


def test_a_run_started_longer_ago_than_the_limit_is_marked_abandoned_by_the_next_run(
    store_engine: sa.Engine, strategy: Any
) -> None:
    stale = record_running(store_engine, RunOwner.current().as_json(), dt.timedelta(hours=6, minutes=5))

    run_interval(store_engine, strategy, start=DAY0, end=DAY0 + dt.timedelta(hours=1), compute=no_values)

    row = run_row(store_engine, stale)
    assert row.status == "abandoned" and row.details["error"] == "running for more than 6 h"


def test_the_limit_is_read_from_alignwatch_run_timeout_s_by_the_tasks(
    store_engine: sa.Engine, strategy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALIGNWATCH_RUN_TIMEOUT_S", "60")
    stale = record_running(store_engine, {"host": "worker-elsewhere", "pid": 4242}, dt.timedelta(minutes=2))

    continuous_task(store_engine, strategy, start=DAY0, end=DAY0 + dt.timedelta(hours=1), compute=no_values)

    row = run_row(store_engine, stale)
    assert row.status == "abandoned" and row.details["error"] == "running for more than 1 min"


def test_a_recent_run_of_a_live_process_or_of_another_host_is_left_running(store_engine: sa.Engine) -> None:
    live = record_running(store_engine, RunOwner.current().as_json(), dt.timedelta(minutes=5))
    elsewhere = record_running(store_engine, {**gone_owner(), "host": "worker-elsewhere"}, dt.timedelta(minutes=5))
    unknown = record_running(store_engine, {}, dt.timedelta(minutes=5))

    assert close_abandoned_runs(store_engine) == []

    for run_id in (live, elsewhere, unknown):
        row = run_row(store_engine, run_id)
        assert row.status == "running" and row.finished_at is None
