"""The cold read of the events into hour columns gives, bit for bit, the columns of the groups and samples read one
by one (SQLite and PostgreSQL).

``read_hours`` (what the hour-aggregate cache reads for the hours it lacks) builds its columns from the fetched rows
at once and counts the samples itself; ``by_hour`` of ``fetch_aggregates`` and ``read_samples`` builds them group by
group. The events below hold the edge cases: a NULL identifier beside the text ``'None'``, boolean keys (SQLite
fetches ``1``/``0``), texts that read as the same key as a boolean (``'1'`` and ``'true'``: two groups with the same
identifiers, kept in the order fetched), a sum of -0.0, a value repeated in an hour, hours without events, partial
hours, an empty range. On SQLite the grouped statement is one select per event type: the same groups, sums and order
as the single statement with a guard per type.
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.metrics.aggregates import (
    DISTRIBUTIONS,
    MEASURES,
    aggregate_query,
    fetch_aggregates,
    guarded_query,
)
from alignwatch.metrics.groups import as_row, by_hour, read_hours, read_samples

from .builders import DAY0, at, ev, execution, finance, insert, order, run, touch, usage, workforce

H = dt.timedelta(hours=1)
SLA = 300.0
EVERY = tuple(sorted(DISTRIBUTIONS))


def _patched(row: dict[str, Any], **data: Any) -> dict[str, Any]:
    """``row`` with payload fields replaced as stored (past the event contract, as an older producer might)."""
    return {**row, "data": {**row["data"], **data}}


def _events() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for hour in (0, 1, 5, 23):  # the other hours have no events
        t = at(hour + 0.25)
        rows += [
            run(t, "bot", "pack", cost=0.1 * (hour + 1)),
            run(t + dt.timedelta(minutes=5), "bot", "pack", "failed", cost=0.2),  # the same group: 0.1·(h+1) + 0.2
            run(t, "None", "pack", cost=1.5),  # the text 'None' ...
            {**run(t, "nobody", "pack", cost=2.5), "automation_id": None},  # ... and NULL: two groups, NULL first
            run(t, "refund", "pack", cost=-0.0),  # a sum of -0.0 is no measure
            execution(t, "pack", True, cycle=40.5 + hour),
            execution(t + dt.timedelta(minutes=10), "pack", True, cycle=40.5 + hour),  # the same value: counted twice
            execution(t, "pack", False, cycle=41.0, errors=1),
            touch(t, "chat", "human"),
            # handled_by '1' and 'true' are both the key 'true' (as SQLite's boolean 1 is): two groups alike
            _patched(touch(t, "chat", "human"), handled_by="1"),
            _patched(touch(t, "chat", "human", resolved=False), handled_by="true"),
            _patched(touch(t, "mail", "automation"), channel="0"),
            _patched(touch(t, "mail", "automation"), channel="false"),
            order(t, amount=19.99 + hour, repeat=hour % 2 == 1, product_ids=["1", "true", "sku-9"]),
            order(t, amount=5.0, product_ids=["sku-9"]),
            finance(t, "revenue", 1e8 / 3 + hour, "bot"),
            finance(t, "cost", 0.1, None),
            usage(t, "bot", "a", f"u{hour}"),
            ev("data.used", t, dataset_id="d1", used_for="decision", strategic=hour % 2 == 0),
            workforce(t, "task", "e1", automation_id="bot", augmented=True, minutes_saved=3.5),
            workforce(t, "survey", "e2", satisfaction=4),
        ]
    return rows


def _packed(pieces: list[Any]) -> list[tuple[int, tuple[str, bytes, bytes, bytes]]]:
    return [(piece.hour, piece.pack()) for piece in pieces]


def _both(store: sa.Engine, lo: dt.datetime, hi: dt.datetime, distributions: tuple[str, ...]) -> tuple[Any, Any]:
    """(the cold read, the groups and samples read one by one), each as packed hours."""
    with store.connect() as conn:
        read = read_hours(conn, lo, hi, sla_s=SLA, distributions=distributions)
        one_by_one = by_hour(map(as_row, fetch_aggregates(conn, lo, hi, sla_s=SLA)),
                             read_samples(conn, lo, hi, distributions))
    return _packed(read), _packed(one_by_one)


@pytest.mark.parametrize("distributions", [EVERY, ("cycle_time",), ()])
def test_the_hours_read_at_once_are_the_columns_of_the_groups_and_samples_read_one_by_one(store, distributions) -> None:
    insert(store, _events())
    for lo, hi in [
        (DAY0, DAY0 + dt.timedelta(days=1)),
        (DAY0 + dt.timedelta(minutes=20), DAY0 + 5 * H + dt.timedelta(minutes=20)),  # partial hours at both ends
        (DAY0 + 2 * H, DAY0 + 5 * H),  # no events
        (DAY0, DAY0),  # no range
    ]:
        read, one_by_one = _both(store, lo, hi, distributions)
        assert read == one_by_one
    with store.connect() as conn:
        hours = read_hours(conn, DAY0, DAY0 + dt.timedelta(days=1), sla_s=SLA, distributions=distributions)
    assert [piece.hour - int(DAY0.timestamp()) // 3600 for piece in hours] == [0, 1, 5, 23]
    rows = hours[0].rows()
    # the touchpoints handled by '1' and by 'true' stay two groups with the same identifiers
    chat = [row[9] for row in rows if row[0] == "customer.touchpoint" and row[4] == "chat" and row[8] == "true"]
    assert len(chat) == 2 and sorted(sums.get("resolved", 0.0) for sums in chat) == [0.0, 1.0]
    runs = [(row[2], row[9]) for row in rows if row[0] == "automation.run"]
    assert [automation for automation, _ in runs] == [None, "None", "bot", "refund"]
    assert runs[2][1]["cost"] == 0.1 + 0.2 and "cost" not in runs[3][1]
    assert ("true" in hours[0].values[6]) and ("1" not in hours[0].values[6])  # products '1' and 'true' alike too
    if "cycle_time" in distributions:
        assert ("cycle_time", hours[0].hour, None, "pack", 40.5, 2) in hours[0].sample_rows()
    else:
        assert all(not len(piece.samples) for piece in hours)


def test_a_negative_zero_or_a_nan_value_is_counted_as_the_database_groups_it(store) -> None:
    t = at(3.5)
    rows = _events() + [
        _patched(execution(t, "pack", True), cycle_time_s=-0.0),
        _patched(execution(t, "pack", True), cycle_time_s=0.0),
        # a number as text: PostgreSQL casts 'NaN' to NaN (SQLite to 0.0), which no sort can order
        _patched(execution(t, "pack", True), cycle_time_s="NaN"),
        _patched(execution(t, "pack", True), cycle_time_s="NaN"),
        _patched(run(t, "bot", "pack"), cost="NaN", duration_s="Infinity"),
    ]
    insert(store, rows)
    lo, hi = DAY0, DAY0 + dt.timedelta(days=1)
    read, one_by_one = _both(store, lo, hi, EVERY)
    assert read == one_by_one
    with store.connect() as conn:
        hours = {piece.hour: piece for piece in read_hours(conn, lo, hi, sla_s=SLA, distributions=EVERY)}
    cycles = [row[4:] for row in hours[int(t.timestamp()) // 3600].sample_rows() if row[0] == "cycle_time"]
    if store.dialect.name == "postgresql":
        assert [count for value, count in cycles if math.isnan(value)] == [2]  # the two NaN are one value
    assert [count for value, count in cycles if value == 0.0] == [2 if store.dialect.name == "postgresql" else 4]


def _measured(row: Any) -> tuple[Any, ...]:
    """A fetched group as the aggregates read it: identifiers and the bits of each measure it carries."""
    return (*row[:9], [(name, struct.pack("<d", float(value))) for name, value in zip(MEASURES, row[9:], strict=True)
                       if value])


def test_sqlite_reads_each_type_apart_with_the_groups_sums_and_order_of_the_guarded_statement(sqlite_store) -> None:
    insert(sqlite_store, _events())
    lo, hi = DAY0 + dt.timedelta(minutes=20), DAY0 + dt.timedelta(days=1)
    with sqlite_store.connect() as conn:
        by_type = conn.execute(aggregate_query("sqlite", lo, hi, SLA)).fetchall()
        guarded = conn.execute(guarded_query("sqlite", lo, hi, SLA)).fetchall()
    assert len(by_type) > 50
    assert [_measured(row) for row in by_type] == [_measured(row) for row in guarded]
