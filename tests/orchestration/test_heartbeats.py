"""Every continuous run leaves a heartbeat with its outcome, and the exporter serves it.

Published, skipped (no hour closed), failed validation and error: on SQLite and
PostgreSQL, through ``continuous_task`` (what the DAG and ``alignwatch run`` call).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from alignwatch.metrics.runs import latest_snapshot
from alignwatch.pipeline import continuous_task
from alignwatch.store.schema import pipeline_heartbeats, pipeline_runs

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def strategy() -> Any:
    from alignwatch.metrics.strategy import load_strategy

    return load_strategy(STRATEGY)


def beats(engine: sa.Engine) -> dict[str, tuple[dt.datetime, dt.datetime, int | None]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(pipeline_heartbeats)).all()
    assert {(row.business, row.kind) for row in rows} <= {("Riverside Bakery", "continuous")}
    return {row.outcome: (row.at, row.interval_end, row.run_id) for row in rows}


def clock_at(moment: dt.datetime) -> Any:
    return lambda: moment


def test_a_run_that_closes_no_hour_records_a_skipped_heartbeat_and_no_run(store_engine: sa.Engine, strategy: Any) -> None:
    ran = DAY0 + dt.timedelta(hours=10, minutes=5, seconds=3)
    outcome = continuous_task(store_engine, strategy, start=DAY0 + dt.timedelta(hours=10), end=DAY0 + dt.timedelta(hours=10, minutes=5),
                              clock=clock_at(ran))  # fmt: skip
    assert outcome.status == "skipped" and outcome.run_id is None
    assert outcome.detail == "no hour closed in the interval"
    assert beats(store_engine) == {"skipped": (ran, DAY0 + dt.timedelta(hours=10, minutes=5), None)}
    with store_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pipeline_runs)).scalar_one() == 0

    later = ran + dt.timedelta(minutes=5)
    continuous_task(store_engine, strategy, start=DAY0 + dt.timedelta(hours=10, minutes=5),
                    end=DAY0 + dt.timedelta(hours=10, minutes=10), clock=clock_at(later))  # fmt: skip
    assert beats(store_engine)["skipped"][0] == later  # one row per outcome, overwritten


def test_published_failed_and_error_runs_each_leave_their_heartbeat_beside_the_skipped_one(
    store_engine: sa.Engine, strategy: Any, insert_events: Any, simulated: Any
) -> None:
    insert_events(store_engine, simulated(DAY0, 2, 240), DAY0 + dt.timedelta(days=3))
    end = DAY0 + dt.timedelta(days=1, hours=13)
    published = continuous_task(store_engine, strategy, start=end - dt.timedelta(minutes=5), end=end,
                                clock=clock_at(end + dt.timedelta(seconds=40)))  # fmt: skip
    assert published.status == "published", published.validation
    # a day with no event in it nor in the 28 days before it: no data, held back
    empty_end = DAY0 + dt.timedelta(days=40)
    failed = continuous_task(store_engine, strategy, start=empty_end - dt.timedelta(minutes=5), end=empty_end,
                             clock=clock_at(empty_end + dt.timedelta(seconds=20)))  # fmt: skip
    assert failed.status == "failed_validation"

    def broken(*args: Any, **kwargs: Any) -> list[Any]:
        raise RuntimeError("the engine broke")

    with pytest.raises(RuntimeError, match="the engine broke"):
        continuous_task(store_engine, strategy, start=end, end=end + dt.timedelta(hours=1), compute=broken,
                        clock=clock_at(end + dt.timedelta(hours=1, seconds=9)))  # fmt: skip
    continuous_task(store_engine, strategy, start=end + dt.timedelta(hours=1, minutes=5),
                    end=end + dt.timedelta(hours=1, minutes=10), clock=clock_at(end + dt.timedelta(hours=1, minutes=10)))  # fmt: skip

    recorded = beats(store_engine)
    assert recorded == {
        "published": (end + dt.timedelta(seconds=40), end, published.run_id),
        "failed_validation": (empty_end + dt.timedelta(seconds=20), empty_end, failed.run_id),
        "error": (end + dt.timedelta(hours=1, seconds=9), end + dt.timedelta(hours=1), None),
        "skipped": (end + dt.timedelta(hours=1, minutes=10), end + dt.timedelta(hours=1, minutes=10), None),
    }

    from alignwatch.metrics.exporter import HEARTBEAT, build_collector

    registry = CollectorRegistry()
    registry.register(build_collector(store_engine, strategy, ttl_s=0))
    for outcome, (at, _end, _run) in recorded.items():
        served = registry.get_sample_value(HEARTBEAT.name, {"business": "riverside_bakery", "kind": "continuous", "outcome": outcome})
        assert served == at.timestamp(), outcome
    assert {beat.outcome for beat in latest_snapshot(store_engine).heartbeats} == set(recorded)
