"""A backfill in worker processes writes the rows and runs of a backfill in one process: spans of
consecutive days, each in a process of its own, a bad day held back by its own span's gate."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.errors import ConfigError
from alignwatch.metrics import hourcache
from alignwatch.metrics.engine import Recomputation
from alignwatch.metrics.strategy import load_strategy
from alignwatch.pipeline import RunOutcome, backfill_spans, backfill_task
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events, metric_values, pipeline_runs

from .test_backfill_gate import DAY0, INGESTED, local_days, odd_feedback

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"


def published_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """Every published row whole (inputs included), without the run that wrote it."""
    mv = metric_values.c
    query = sa.select(mv.metric_id, mv.labels_key, mv.window, mv.window_start, mv.window_end, mv.value, mv.inputs)
    with engine.connect() as conn:
        rows = [(*row[:3], row[3].astimezone(dt.UTC) if row[3].tzinfo else row[3],
                 row[4].astimezone(dt.UTC) if row[4].tzinfo else row[4], row[5], json.dumps(row[6], sort_keys=True))
                for row in conn.execute(query)]
    return sorted(rows, key=repr)


def runs(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """Each run's kind, day, status, value count and failed expectations, by day."""
    r = pipeline_runs.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.kind, r.interval_start, r.interval_end, r.status, r.value_count, r.validation)).all()
    return sorted((kind, utc(lo), utc(hi), status, count, tuple((validation or {}).get("failed", ())))
                  for kind, lo, hi, status, count, validation in rows)


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def start_again(engine: sa.Engine) -> None:
    """Empty the published values, the runs and the hour-aggregate cache (the events stay)."""
    with engine.begin() as conn:
        conn.execute(metric_values.delete())
        conn.execute(pipeline_runs.delete())
        hourcache.clear(conn)


def test_two_workers_write_the_rows_and_runs_of_one_process_and_hold_back_the_same_bad_day(
    store_engine: sa.Engine, insert_events: Any, simulated: Any
) -> None:
    strategy = load_strategy(STRATEGY)
    insert_events(store_engine, simulated(DAY0, 10, 10 * 60), INGESTED)
    days = local_days(3, 6)  # 24 .. 29 March (the 29th with 23 hours): spans 24..26 and 27..29
    bad_day = days[4]
    with store_engine.begin() as conn:
        conn.execute(events.insert().values(**odd_feedback("odd-1", bad_day[0] + dt.timedelta(hours=10), 7)))

    one = backfill_task(store_engine, strategy, start=days[0][0], end=days[-1][1])
    rows, one_runs = published_rows(store_engine), runs(store_engine)
    start_again(store_engine)
    reported: list[RunOutcome] = []
    two = backfill_task(store_engine, strategy, start=days[0][0], end=days[-1][1], workers=2, progress=reported.append)

    assert [o.status for o in one] == ["published"] * 4 + ["failed_validation", "published"]
    assert [(o.start, o.end, o.status, o.value_count) for o in two] == [(o.start, o.end, o.status, o.value_count)
                                                                       for o in one]
    assert sorted((o.start, o.status) for o in reported) == sorted((o.start, o.status) for o in two)
    assert len(rows) > 1000
    assert published_rows(store_engine) == rows
    assert runs(store_engine) == one_runs
    assert ("backfill", bad_day[0], bad_day[1], "failed_validation", one[4].value_count,
            ("raw_events.expect_payload_field_in_range",)) in one_runs
    with store_engine.connect() as conn:
        owners = {row.details["owner"]["pid"] for row in conn.execute(sa.select(pipeline_runs.c.details))}
    assert len(owners) == 2  # two processes wrote the runs


def test_more_workers_than_days_use_one_process_a_day(tmp_path: Path, insert_events: Any, simulated: Any) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    strategy = load_strategy(STRATEGY)
    insert_events(engine, simulated(DAY0, 4, 4 * 60), INGESTED)
    days = local_days(1, 2)
    outcomes = backfill_task(engine, strategy, start=days[0][0], end=days[-1][1], workers=8)
    assert [(o.start, o.end, o.status) for o in outcomes] == [(lo, hi, "published") for lo, hi in days]
    with engine.connect() as conn:
        owners = {row.details["owner"]["pid"] for row in conn.execute(sa.select(pipeline_runs.c.details))}
    engine.dispose()
    assert len(owners) == 2


def test_workers_refuse_what_they_cannot_share(tmp_path: Path) -> None:
    strategy = load_strategy(STRATEGY)
    days = local_days(1, 2)
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    session = Recomputation(engine, strategy)
    with pytest.raises(ConfigError, match="computes and writes with the engine's own functions"):
        backfill_task(engine, strategy, start=days[0][0], end=days[-1][1], workers=2, compute=session.compute)
    with pytest.raises(ConfigError, match="workers 0: expected 1 or more"):
        backfill_task(engine, strategy, start=days[0][0], end=days[-1][1], workers=0)
    engine.dispose()
    memory = connect("sqlite://")
    upgrade(memory)
    with pytest.raises(ConfigError, match="not an in-memory SQLite"):
        backfill_task(memory, strategy, start=days[0][0], end=days[-1][1], workers=2)
    memory.dispose()


def test_the_spans_cost_alike_the_first_one_reading_no_events_before_it() -> None:
    day = dt.timedelta(days=1)
    days = [(DAY0 + index * day, DAY0 + (index + 1) * day) for index in range(365)]
    # no events before the range: the second span reads the 28 + 84 days before it (0.35 a day): x days
    # against (365 - x) + 0.35 * 112 = 404.2 - x, equal at x = 202.1
    assert [(hi - lo) / day for lo, hi in backfill_spans(days, 2, 0.0)] == [202, 163]
    # 200 days of events before the range: both spans read the same lookback, so halves
    assert [(hi - lo) / day for lo, hi in backfill_spans(days, 2, 200.0)] == [183, 182]
    # 3 workers: x = y + 39.2 = z + 39.2 and x + y + z = 365 -> x = 147.8, y = z = 108.6
    assert [(hi - lo) / day for lo, hi in backfill_spans(days, 3, 0.0)] == [148, 109, 108]
    for workers in (1, 2, 5, 400):
        spans = backfill_spans(days, workers, 0.0)
        assert spans[0][0] == days[0][0] and spans[-1][1] == days[-1][1] and len(spans) <= workers
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))
