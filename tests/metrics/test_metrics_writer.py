"""Publication: ``write_values`` stores exactly what a statement-per-row upsert stores.

The reference below is the plain SQLAlchemy upsert, one parameter set per value, with the
inputs made plain JSON first (``json.loads(json.dumps(..., default=str))``). Both write the
same values into the same store in turn; the stored rows, read back as the database holds
them (JSON and timestamps as text), must be identical, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alignwatch.metrics.engine import compute, write_values
from alignwatch.metrics.values import MetricValue
from alignwatch.store.schema import metric_values, pipeline_runs

from .builders import DAY0, at, execution, insert, order, run

UTC = dt.UTC
STAMP = dt.datetime(2026, 3, 3, 4, 5, 6, 789012, tzinfo=UTC)


def reference_write(conn: sa.Connection, run_id: int, values: list[MetricValue], stamp: dt.datetime) -> None:
    """The statement-per-row upsert through SQLAlchemy's column types."""
    rows = [
        {
            "metric_id": v.metric_id, "labels_key": v.labels_key, "labels": dict(v.labels), "window": v.window,
            "window_start": v.window_start, "window_end": v.window_end, "value": v.value,
            "inputs": json.loads(json.dumps(v.inputs, allow_nan=False, default=str)) if v.inputs else {},
            "computed_at": stamp, "run_id": run_id,
        }
        for v in values
    ]  # fmt: skip
    insert_ = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert_(metric_values)
    statement = statement.on_conflict_do_update(
        index_elements=["metric_id", "labels_key", "window", "window_end"],
        set_={c: statement.excluded[c] for c in ("labels", "window_start", "value", "inputs", "computed_at", "run_id")},
    )
    for row in rows:
        conn.execute(statement, row)


def stored(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """Every stored value as the database holds it: JSON and timestamps cast to text."""
    text = sa.String()
    columns = [sa.cast(c, text) if c.name in ("labels", "inputs", "window_start", "window_end", "computed_at") else c
               for c in metric_values.c if c.name != "id"]  # fmt: skip
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(sa.select(*columns)))


def new_run(conn: sa.Connection) -> int:
    return int(conn.execute(
        pipeline_runs.insert().values(kind="manual", business="shop", interval_start=DAY0, interval_end=DAY0,
                                      started_at=DAY0, status="running").returning(pipeline_runs.c.id)
    ).scalar_one())  # fmt: skip


def value(metric: str, v: float | None, inputs: dict[str, Any], window_end: dt.datetime, **labels: str) -> MetricValue:
    return MetricValue(metric, dict(labels), "day", window_end - dt.timedelta(days=1), window_end, v, inputs)


def both_ways(store: sa.Engine, batches: list[list[MetricValue]]) -> tuple[list[Any], list[Any]]:
    """The rows the reference stores for ``batches`` (one call each), then those write_values stores."""
    results = []
    for writer in ("reference", "write_values"):
        with store.begin() as conn:
            conn.execute(metric_values.delete())
            conn.execute(pipeline_runs.delete())
        for batch in batches:
            with store.begin() as conn:
                run_id = new_run(conn)
                if writer == "reference":
                    reference_write(conn, run_id, batch, STAMP)
                else:
                    write_values(conn, run_id, batch, computed_at=STAMP)
        results.append([row[:-1] for row in stored(store)])  # run ids differ between the two passes
    return results[0], results[1]


def test_computed_values_are_stored_as_the_statement_per_row_upsert_stores_them(store, strategy) -> None:
    insert(store, [
        run(at(9), "bot", "orders"), run(at(10), "bot", "orders", status="failed"),
        execution(at(9.5), "orders", automated=True, cycle=42.5), order(at(11), amount=19.99, repeat=True),
    ])  # fmt: skip
    values = compute(store, strategy, start=DAY0, end=DAY0 + dt.timedelta(days=1), granularity="hour")
    assert len(values) > 100
    reference, written = both_ways(store, [values])
    assert written == reference
    assert len(written) == len({v.key for v in values})


def test_a_second_publication_updates_the_stored_values_in_place(store) -> None:
    end = dt.datetime(2026, 3, 2, tzinfo=UTC)
    first = [value("sai", 50.0, {"parts": [1, 2]}, end, business="shop"), value("kpi_value", None, {}, end, kpi="x")]
    second = [value("sai", 61.25, {"parts": (3, 4), "note": "late"}, end, business="shop"),
              value("kpi_value", 0.5, {"n": 2}, end + dt.timedelta(days=1), kpi="x")]  # fmt: skip
    reference, written = both_ways(store, [first, second])
    assert written == reference
    assert [(row[0], row[6]) for row in written] == [("kpi_value", None), ("kpi_value", 0.5), ("sai", 61.25)]


def test_a_key_given_twice_in_one_call_keeps_the_last_value(store) -> None:
    end = dt.datetime(2026, 3, 2, tzinfo=UTC)
    batch = [value("sai", 1.0, {"a": 1}, end, business="shop"), value("sai", 2.0, {"a": 2}, end, business="shop")]
    reference, written = both_ways(store, [batch])
    assert written == reference
    assert [(row[6], json.loads(row[7])) for row in written] == [(2.0, {"a": 2})]


def test_times_in_another_zone_are_stored_in_utc_and_odd_inputs_as_their_text(store) -> None:
    berlin_midnight = dt.datetime(2026, 3, 2, tzinfo=ZoneInfo("Europe/Berlin"))  # 23:00 UTC the day before
    batch = [value("kpi_value", 0.25, {"when": dt.date(2026, 3, 1), "ids": ("b", "a"), "nested": {"k": [1.5]}},
                   berlin_midnight, kpi="x")]  # fmt: skip
    reference, written = both_ways(store, [batch])
    assert written == reference
    assert json.loads(written[0][7]) == {"when": "2026-03-01", "ids": ["b", "a"], "nested": {"k": [1.5]}}
    assert "2026-03-01 23:00:00" in written[0][5]


def test_a_non_finite_input_is_refused_and_nothing_of_the_call_is_stored(store) -> None:
    end = dt.datetime(2026, 3, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="not JSON compliant"), store.begin() as conn:
        write_values(conn, new_run(conn), [value("sai", 1.0, {}, end), value("sai", 1.0, {"x": float("nan")}, end, b="1")])
    assert stored(store) == []
