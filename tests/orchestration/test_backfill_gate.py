"""A backfill validates the stored events of a block of days in one run, with a verdict per day:
each day's ``raw_events`` outcome is the one the per-day gate gives, a bad day is held back and
reported, and the good days around it are published."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alignwatch.metrics.strategy import load_strategy
from alignwatch.pipeline import backfill_task
from alignwatch.store.schema import events, metric_values, pipeline_runs
from alignwatch.windows import day_ranges

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
TZ = "Europe/Berlin"
# ten local days around the change to summer time (Sunday 29 March 2026 has 23 hours)
DAY0 = dt.datetime(2026, 3, 21, tzinfo=dt.UTC)
INGESTED = DAY0 + dt.timedelta(days=30)


def local_days(first: int, count: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """The local days DAY0 + first .. DAY0 + first + count - 1 (Berlin), as UTC ranges."""
    start = dt.datetime(2026, 3, 21 + first, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    return day_ranges(start.astimezone(dt.UTC), (start + dt.timedelta(days=count + 1)).astimezone(dt.UTC), TZ)[:count]


def odd_feedback(event_id: str, at: dt.datetime, csat: Any) -> dict[str, Any]:
    return {
        "source": "sim://bakery/survey", "event_id": event_id, "type": "customer.feedback", "time": at,
        "actor_id": "c-1", "data": {"customer_id": "c-1", "csat": csat}, "ingested_at": INGESTED,
    }  # fmt: skip


def per_day_gate(engine: sa.Engine, day: tuple[dt.datetime, dt.datetime], expect: bool = False) -> dict[str, Any]:
    from alignwatch.expectations.raw_events import check_raw_events

    with engine.connect() as conn:
        return check_raw_events(conn, start=day[0], end=day[1], expect_events=expect).as_json()


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_a_block_with_one_bad_day_publishes_the_good_days_and_reports_the_bad_one_as_the_per_day_gate_does(
    store_engine: sa.Engine, insert_events: Any, simulated: Any
) -> None:
    strategy = load_strategy(STRATEGY)
    assert strategy.business.timezone == TZ
    insert_events(store_engine, simulated(DAY0, 10, 10 * 60), INGESTED)
    days = local_days(6, 4)  # 27 .. 30 March, the 29th with 23 hours
    bad_day = days[2]
    with store_engine.begin() as conn:
        conn.execute(events.insert().values(**odd_feedback("odd-1", bad_day[0] + dt.timedelta(hours=10), 7)))

    outcomes = backfill_task(store_engine, strategy, start=days[0][0], end=days[-1][1])

    assert [(o.start, o.end) for o in outcomes] == days
    assert [o.status for o in outcomes] == ["published", "published", "failed_validation", "published"]
    assert outcomes[2].validation["failed"] == ["raw_events.expect_payload_field_in_range"]
    with store_engine.connect() as conn:
        runs = conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).all()
        day_ends = set(conn.execute(sa.select(metric_values.c.window_end).where(metric_values.c.window == "day")).scalars())
    # the bad day is held back, the days around it are published
    assert {end.astimezone(dt.UTC) for end in day_ends} == {days[0][1], days[1][1], days[3][1]}
    for run, day in zip(runs, days, strict=True):
        (raw,) = [suite for suite in run.validation["suites"] if suite["suite"] == "raw_events"]
        assert same(raw, per_day_gate(store_engine, day)), day
    (raw,) = [suite for suite in runs[2].validation["suites"] if suite["suite"] == "raw_events"]
    (csat,) = [e for e in raw["expectations"] if e["kwargs"].get("column") == "csat"]
    assert csat["success"] is False
    assert csat["observed"]["unexpected_count"] == 1 and csat["observed"]["partial_unexpected_list"] == [7.0]
    assert raw["rows"] == per_day_gate(store_engine, bad_day)["rows"]


def test_the_block_gate_gives_every_day_the_per_day_gates_outcome_whatever_fails(
    store_engine: sa.Engine, insert_events: Any, simulated: Any
) -> None:
    from alignwatch.expectations.raw_events import check_raw_events_days

    insert_events(store_engine, simulated(DAY0, 10, 10 * 60), INGESTED)
    days = local_days(0, 10)  # 21 .. 30 March: the first three without history, the 29th with 23 hours
    non_numeric, emptied, out_of_range = days[5], days[6], days[9]
    with store_engine.begin() as conn:
        conn.execute(events.insert().values(**odd_feedback("odd-5", non_numeric[0] + dt.timedelta(hours=9), "5")))
        conn.execute(events.delete().where(events.c.time >= emptied[0], events.c.time < emptied[1]))
        conn.execute(events.insert().values(**odd_feedback("odd-9", out_of_range[0] + dt.timedelta(hours=11), 0)))
    expects = [n % 2 == 0 for n in range(len(days))]

    with store_engine.connect() as conn:
        block = check_raw_events_days(conn, days, expect_events=expects)

    per_day = [per_day_gate(store_engine, day, expect) for day, expect in zip(days, expects, strict=True)]
    assert [o.success for o in block] == [p["success"] for p in per_day]
    for day, outcome, expected in zip(days, block, per_day, strict=True):
        assert same(outcome.as_json(), expected), day
    failed = {day: set(p["failed"]) for day, p in zip(days, per_day, strict=True) if p["failed"]}
    # the emptied day falls below the band learned from the days before it (60 events a day:
    # at least 0.2 x 60 = 12) and, asked for events, holds none
    assert failed == {
        non_numeric: {"expect_payload_field_in_range"},
        emptied: {"expect_volume_within_learned_band", "expect_events_in_window"},
        out_of_range: {"expect_payload_field_in_range"},
    }
    # a passing day reports its own rows and bounds
    assert block[8].rows == per_day[8]["rows"] > 0
