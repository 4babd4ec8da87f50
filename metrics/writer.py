"""Publication of metric values: one upsert of many rows into ``metric_values``.

A nightly run or a backfill publishes tens of thousands of values at once. Passing them
through SQLAlchemy's parameter processing (a JSON type, a timestamp type, a dictionary per
row) cost more than computing them, so the rows are built here once as the database
receives them:

- the labels and inputs as JSON text, serialised once (``json.dumps``: the text the JSON
  column type would write), NaN and infinities refused (``allow_nan=False``);
- timestamps through the column type's own bind processing (naive UTC text on SQLite,
  ``timestamptz`` on PostgreSQL);
- the same key twice in one call: the last value wins, as one row after the other would.

SQLite receives one ``executemany`` of the compiled upsert; PostgreSQL a ``COPY`` into a
temporary table and one ``INSERT … SELECT … ON CONFLICT DO UPDATE`` from it. The stored
rows are those of the statement-per-row upsert (``tests/metrics/test_metrics_writer.py``).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from alignwatch.metrics.values import MetricValue
from alignwatch.store.schema import metric_values

__all__ = ["COLUMNS", "KEY", "write_values"]

# the columns a publication writes, in the order of the rows built below
COLUMNS = ("metric_id", "labels_key", "labels", "window", "window_start", "window_end", "value", "inputs",
           "computed_at", "run_id")  # fmt: skip
# the unique key of a stored value
KEY = ("metric_id", "labels_key", "window", "window_end")
_UPDATED = tuple(column for column in COLUMNS if column not in KEY)
_STAGE = "alignwatch_metric_values_stage"


def write_values(
    conn: sa.Connection, run_id: int, values: Sequence[MetricValue], *, computed_at: dt.datetime | None = None
) -> int:
    """Upsert ``values`` into ``metric_values`` (key: metric, labels, window kind, window end).

    Returns the number of values given (a key given twice counts twice, as before; the
    last one is stored).
    """
    if not values:
        return 0
    stamp = computed_at or dt.datetime.now(dt.UTC)
    dialect = conn.dialect
    process = metric_values.c.window_start.type.dialect_impl(dialect).bind_processor(dialect)
    # a run's values share a few window bounds and label sets: each converted once
    moments: dict[dt.datetime, Any] = {}
    labels_json: dict[tuple[tuple[str, str], ...], str] = {}  # in their order: the JSON text keeps it

    def moment(when: dt.datetime) -> Any:
        found = moments.get(when)
        if found is None:
            found = moments[when] = process(when) if process is not None else when
        return found

    stored_stamp = moment(stamp)
    rows: dict[tuple[str, str, str, dt.datetime], tuple[Any, ...]] = {}
    for v in values:
        items = tuple(v.labels.items())
        labels = labels_json.get(items)
        if labels is None:
            labels = labels_json[items] = json.dumps(dict(items))
        key = v.labels_key
        rows[(v.metric_id, key, v.window, v.window_end)] = (
            v.metric_id,
            key,
            labels,
            v.window,
            moment(v.window_start),
            moment(v.window_end),
            v.value,
            json.dumps(v.inputs, allow_nan=False, default=str) if v.inputs else "{}",
            stored_stamp,
            run_id,
        )
    if dialect.name == "postgresql":
        _copy_upsert(conn, list(rows.values()))
    else:
        _executemany_upsert(conn, list(rows.values()))
    return len(values)


@functools.cache
def _sqlite_upsert() -> str:
    """SQLite's upsert of one row, compiled once, its parameters in the order of ``COLUMNS``."""
    statement = sqlite.insert(metric_values).values({column: sa.bindparam(column) for column in COLUMNS})
    statement = statement.on_conflict_do_update(
        index_elements=list(KEY), set_={column: statement.excluded[column] for column in _UPDATED}
    )
    compiled = statement.compile(dialect=sqlite.dialect())
    if tuple(compiled.positiontup or ()) != COLUMNS:
        raise RuntimeError(f"the upsert takes its parameters as {compiled.positiontup}, not as {COLUMNS}")
    return compiled.string


def _executemany_upsert(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    conn.exec_driver_sql(_sqlite_upsert(), rows)


def _copy_upsert(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    names = ", ".join(f'"{column}"' for column in COLUMNS)
    updates = ", ".join(f'"{column}" = excluded."{column}"' for column in _UPDATED)
    key = ", ".join(f'"{column}"' for column in KEY)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    # a temporary table of the session, emptied at commit and after each use
    cursor.execute(
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
        f"SELECT {names} FROM metric_values WITH NO DATA"
    )
    with cursor.copy(f"COPY {_STAGE} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(
        f"INSERT INTO metric_values ({names}) SELECT {names} FROM {_STAGE} "
        f"ON CONFLICT ({key}) DO UPDATE SET {updates}"
    )
    cursor.execute(f"TRUNCATE {_STAGE}")
