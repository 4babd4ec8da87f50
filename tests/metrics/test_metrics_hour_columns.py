"""The hour-aggregate cache's packed columns: one row per hour and SLA with its groups and samples, read back bit
for bit (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command

from alignwatch.metrics.aggregates import MEASURES, Aggregate, fetch_aggregates, order
from alignwatch.metrics.engine import compute
from alignwatch.metrics.groups import ID_DTYPE, SUM_DTYPE, HourColumns, HourGroups, HourSamples, as_row, fold_facts
from alignwatch.metrics.hourcache import cached_aggregates, cached_columns, cached_hours
from alignwatch.store import connect, upgrade
from alignwatch.store.engine import _alembic_config
from alignwatch.store.schema import aggregated_hours, hour_aggregates

from .builders import DAY0, at, execution, finance, insert, run, touch, usage
from .builders import order as order_event

H = dt.timedelta(hours=1)
HOUR0 = int(DAY0.timestamp() // 3600)
LATER = DAY0 + dt.timedelta(days=2)
SLA = 300.0


def _group(type_: str, hour: int, sums: dict[str, float], **ids: str | None) -> Aggregate:
    return Aggregate(type_, HOUR0 + hour, ids.get("automation_id"), ids.get("process_id"), ids.get("touchpoint_id"),
                     ids.get("actor"), ids.get("dataset"), ids.get("k1"), ids.get("k2"), sums)


def _bits(value: float) -> bytes:
    return struct.pack("<d", value)


def test_an_hour_packed_and_unpacked_gives_back_its_groups_in_order_bit_for_bit() -> None:
    groups = [
        # a None identifier sorts before the text 'None', as `order` and the columns sort them
        _group("customer.touchpoint", 0, {"n": 3.0, "resolved": 2.0}, touchpoint_id="chat", k1="web", k2="None"),
        _group("customer.touchpoint", 0, {"n": 1.0}, touchpoint_id="chat", k1="web", k2=None),
        _group("automation.run", 0, {"n": 2.0, "cost": 0.1 + 0.2, "failed": 1.0}, automation_id="bot", process_id="p"),
        _group("automation.run", 0, {"n": 1.0, "cost": 1e16 + 2.0}, automation_id="bot", process_id="Ä-ünïcode"),
        _group("finance.entry", 0, {"n": 1.0, "amount": 151_999_907.39999998}, automation_id=None, k1="revenue"),
        _group("customer.order.product", 0, {"n": 1.0}, actor="c1", k2="sku-1"),
    ]
    samples = [("run_duration", HOUR0, "bot", "p", 12.5, 2), ("cycle_time", HOUR0, None, "p", 0.1 + 0.2, 1),
               ("run_duration", HOUR0, "bot", "p", 3.0, 1), ("order_amount", HOUR0, None, None, 1e16 + 2.0, 3)]
    columns = HourColumns.of_rows(HOUR0, [as_row(g) for g in groups], samples)
    layout, ids, sums, packed = columns.pack()
    # 4 bytes per identifier code (7 columns), 8 bytes per sum: each type's rows × the measures the type carries,
    # runs 2 × (n, failed, cost), products 1 × (n), touchpoints 2 × (n, resolved), finance 1 × (n, amount)
    assert len(ids) == 4 * 7 * 6
    assert columns.measures == ("n", "failed", "cost", "resolved", "amount")
    assert len(sums) == 8 * (2 * 3 + 1 * 1 + 2 * 2 + 1 * 2)
    # 20 bytes per sample: int32 key, float64 value, int64 count
    assert len(packed) == 20 * 4
    back = HourColumns.unpack(HOUR0, json.loads(layout), ids, sums, packed)
    assert back.ids.dtype == ID_DTYPE and back.sums.dtype == SUM_DTYPE
    # `order` ties None with 'None' (both 'None'); the columns put None first
    expected = [as_row(g) for g in sorted(groups, key=lambda g: (*order(g), g.k2 is not None))]
    assert [row[:9] for row in back.rows()] == [row[:9] for row in expected]
    for got, want in zip(back.rows(), expected, strict=True):
        assert {name: _bits(v) for name, v in got[9].items()} == {name: _bits(v) for name, v in want[9].items()}
    assert [t for t, _, _ in back.types] == ["automation.run", "customer.order.product", "customer.touchpoint",
                                              "finance.entry"]
    assert back.types[0] == ("automation.run", 2, ("n", "failed", "cost"))
    # the samples by distribution, automation, process and value
    assert back.sample_rows() == [("cycle_time", HOUR0, None, "p", 0.1 + 0.2, 1),
                                  ("order_amount", HOUR0, None, None, 1e16 + 2.0, 3),
                                  ("run_duration", HOUR0, "bot", "p", 3.0, 1), ("run_duration", HOUR0, "bot", "p", 12.5, 2)]
    assert _bits(back.sample_rows()[0][4]) == _bits(0.1 + 0.2)


def test_an_hour_without_groups_packs_to_empty_columns() -> None:
    empty = HourColumns.of_rows(HOUR0, [])
    layout, ids, sums, samples = empty.pack()
    assert (ids, sums, samples) == (b"", b"", b"")
    back = HourColumns.unpack(HOUR0, json.loads(layout), ids, sums, samples)
    assert (back.rows(), back.sample_rows()) == ([], [])


def _day(rng_seed: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for hour in (0, 1, 4, 7, 23):  # hours 2, 3, 5, 6, 8 … 22 stay empty
        t = at(hour + 0.25 + rng_seed / 100)
        rows += [
            run(t, "bot", "pack", "failed" if hour % 2 else "succeeded", cost=0.1 * (hour + 1)),
            execution(t, "pack", hour % 3 == 0, cycle=40.5 + hour),
            touch(t, "chat", "automation", resolved=True),
            order_event(t, amount=19.99 + hour, repeat=hour % 2 == 1),
            finance(t, "revenue", 1e8 / 3 + hour, "bot"),
            usage(t, "bot", "a", f"u{hour}"),
        ]
    return rows


def _cached(store: sa.Engine, clock: dt.datetime) -> list[Aggregate]:
    with store.connect() as conn:
        return cached_aggregates(conn, DAY0, DAY0 + dt.timedelta(days=1), sla_s=SLA, now=lambda: clock)


def _fetched(store: sa.Engine) -> list[Aggregate]:
    with store.connect() as conn:
        return fetch_aggregates(conn, DAY0, DAY0 + dt.timedelta(days=1), sla_s=SLA)


def _stored(store: sa.Engine) -> dict[int, Any]:
    with store.connect() as conn:
        return {int(row.hour) - HOUR0: row for row in conn.execute(sa.select(hour_aggregates))}


def test_the_cache_stores_one_row_per_hour_with_groups_and_reads_back_what_the_events_give(store) -> None:
    insert(store, _day(1))
    cold = _cached(store, LATER)
    stored = _stored(store)
    assert sorted(stored) == [0, 1, 4, 7, 23]  # one row per hour with groups, none for the empty hours
    with store.connect() as conn:
        marks = {int(m.hour) - HOUR0: m.groups for m in conn.execute(sa.select(aggregated_hours))}
    assert len(marks) == 24
    # hour 0: a run, an execution, a touch, an order and its product-less order group, a finance entry, a usage
    hour0 = [a for a in cold if a.hour == HOUR0]
    assert marks[0] == len(hour0) and marks[2] == 0
    assert len(stored[0].ids) == 4 * 7 * len(hour0)
    assert len(stored[0].sums) % 8 == 0 and len(stored[0].sums) // 8 <= len(hour0) * len(MEASURES)
    warm = _cached(store, LATER + dt.timedelta(minutes=1))
    expected = _fetched(store)
    assert cold == expected
    assert warm == expected
    # the revenue of hour 7, 1e8 / 3 + 7, comes back as the very double the statement summed
    revenue = [a["amount"] for a in warm if a.type == "finance.entry" and a.hour == HOUR0 + 7]
    assert [_bits(v) for v in revenue] == [_bits(1e8 / 3 + 7)]


def test_a_late_event_in_a_cached_hour_replaces_that_hours_row(store) -> None:
    insert(store, _day(2))
    _cached(store, LATER)
    before = _stored(store)
    late = run(at(4.5), "oven", "bake", "succeeded", cost=2.5)
    late["ingested_at"] = LATER + H  # after the hour was cached
    insert(store, [late])
    again = _cached(store, LATER + 2 * H)
    assert again == _fetched(store)
    after = _stored(store)
    assert len(after[4].ids) == len(before[4].ids) + 4 * 7  # one more group in hour 4
    assert {h: (r.ids, r.sums, r.layout) for h, r in after.items() if h != 4} == {
        h: (r.ids, r.sums, r.layout) for h, r in before.items() if h != 4}
    oven = [a for a in again if a.automation_id == "oven"]
    assert [(a.hour - HOUR0, a["cost"], a["n"]) for a in oven] == [(4, 2.5, 1.0)]


def test_a_late_event_in_an_empty_cached_hour_gives_it_a_row(store) -> None:
    insert(store, _day(3))
    _cached(store, LATER)
    assert 5 not in _stored(store)
    late = execution(at(5.5), "bake", True, units_out=7.0)
    late["ingested_at"] = LATER + H
    insert(store, [late])
    assert _cached(store, LATER + 2 * H) == _fetched(store)
    assert len(_stored(store)[5].ids) == 4 * 7  # one group
    with store.connect() as conn:
        mark = conn.execute(sa.select(aggregated_hours).where(aggregated_hours.c.hour == HOUR0 + 5)).one()
    assert mark.groups == 1


def _old_group_row() -> dict[str, Any]:
    return {"hour": HOUR0, "sla_s": SLA, "type": "automation.run", "automation_id": "bot", "process_id": "pack",
            "touchpoint_id": None, "actor": None, "dataset": None, "k1": None, "k2": None, "sums": {"n": 99}}


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return str(request.getfixturevalue("fresh_pg_url"))


def test_the_migration_to_columns_drops_the_old_cache_and_the_next_computation_rebuilds_it(empty_url, strategy) -> None:
    engine = connect(empty_url)
    try:
        upgrade(engine, "0006")
        with engine.begin() as conn:
            conn.execute(sa.insert(aggregated_hours), [{"hour": HOUR0, "sla_s": SLA, "groups": 1, "max_event_id": 0,
                                                        "aggregated_at": LATER}])
            conn.execute(sa.text("INSERT INTO hour_aggregates (hour, sla_s, type, automation_id, process_id, sums) "
                                 "VALUES (:hour, :sla_s, :type, :automation_id, :process_id, :sums)"),
                         {**_old_group_row(), "sums": '{"n": 99}'})
        assert upgrade(engine) == ("0006", "0007")
        with engine.connect() as conn:
            # the marks went with the groups: no hour is served from the old cache
            assert conn.execute(sa.select(sa.func.count()).select_from(aggregated_hours)).scalar_one() == 0
            assert conn.execute(sa.select(sa.func.count()).select_from(hour_aggregates)).scalar_one() == 0
        insert(engine, _day(4))
        end = DAY0 + dt.timedelta(days=1)
        cached = compute(engine, strategy, start=DAY0, end=end, granularity="hour", cache=True, clock=lambda: LATER)
        assert cached == compute(engine, strategy, start=DAY0, end=end, granularity="hour", cache=False)
        assert sorted(_stored(engine))[:5] == [0, 1, 4, 7, 23]
        # and back: the downgrade restores the table of groups, empty with its marks
        command.downgrade(_alembic_config(engine), "0006")
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(aggregated_hours)).scalar_one() == 0
            assert "type" in {c["name"] for c in sa.inspect(conn).get_columns("hour_aggregates")}
        assert upgrade(engine) == ("0006", "0007")
    finally:
        engine.dispose()


def test_the_packed_sums_are_little_endian_doubles_and_the_codes_little_endian_int32(store) -> None:
    insert(store, [finance(at(0.5), "revenue", 1e8 / 3, "bot")])
    _cached(store, LATER)
    row = _stored(store)[0]
    assert np.frombuffer(row.ids, dtype="<i4").tolist() == [0] * 7  # one group: every code is the first value
    # the group's measures: n = 1, amount = 1e8 / 3 (MEASURES order)
    assert row.sums == struct.pack("<2d", 1.0, 1e8 / 3)


def _sample_set(samples: HourSamples) -> list[tuple[Any, ...]]:
    return sorted((*samples.keys[k], h, v, c) for k, h, v, c in zip(
        samples.key.tolist(), samples.hours.tolist(), samples.values.tolist(), samples.counts.tolist(), strict=True))


def test_the_samples_of_cached_hours_are_those_of_the_events_cold_warm_and_after_a_late_event(store) -> None:
    insert(store, _day(5))
    lo, hi = DAY0 - 2 * H + dt.timedelta(minutes=30), DAY0 + dt.timedelta(days=1)  # a partial hour at the start

    def through_cache(clock: dt.datetime, distributions: tuple[str, ...]) -> HourSamples:
        with store.connect() as conn:
            return cached_columns(conn, lo, hi, sla_s=SLA, now=lambda: clock, distributions=distributions)[1]

    def from_events(distributions: tuple[str, ...]) -> HourSamples:
        with store.connect() as conn:
            return HourSamples.read(conn, lo, hi, distributions)

    every = ("cycle_time", "order_amount", "run_duration")
    # the first read asks for no samples: the hours are cached with the samples of every distribution
    assert _sample_set(through_cache(LATER, ())) == []
    for wanted in (every, ("cycle_time",), ("order_amount", "run_duration")):
        assert _sample_set(through_cache(LATER + dt.timedelta(minutes=1), wanted)) == _sample_set(from_events(wanted))
    cycles = _sample_set(from_events(("cycle_time",)))
    assert [(h - HOUR0, v, c) for _, _, _, h, v, c in cycles] == [(0, 40.5, 1), (1, 41.5, 1), (4, 44.5, 1), (7, 47.5, 1),
                                                                   (23, 63.5, 1)]
    late = execution(at(7.75), "pack", True, cycle=47.5)  # the same value again in hour 7: its count becomes 2
    late["ingested_at"] = LATER + H
    insert(store, [late])
    after = _sample_set(through_cache(LATER + 2 * H, every))
    assert after == _sample_set(from_events(every))
    assert ("cycle_time", None, "pack", HOUR0 + 7, 47.5, 2) in after


def test_the_hours_cut_to_some_types_fold_the_facts_of_those_types_as_the_whole_hours_do(store) -> None:
    insert(store, _day(1) + _day(2))
    later = DAY0 + dt.timedelta(days=2)
    with store.connect() as conn:
        pieces = cached_hours(conn, DAY0, DAY0 + dt.timedelta(days=1), sla_s=SLA, now=lambda: later)
    kept = frozenset({"automation.run", "finance.entry"})
    cut = [piece.only(kept) for piece in pieces]
    assert {type_ for piece in cut for type_, _, _ in piece.types} == kept
    assert all(len(piece.samples) == 0 for piece in cut)
    assert [[row for row in piece.rows() if row[0] in kept] for piece in pieces] == [piece.rows() for piece in cut]
    end = DAY0 + dt.timedelta(days=1)
    whole = fold_facts(DAY0, end, HourGroups(pieces, kept), HourSamples.of_hours((), ()), [])
    assert fold_facts(DAY0, end, HourGroups(cut, kept), HourSamples.of_hours((), ()), []) == whole
    assert whole.runs and whole.finance  # the runs and the bookings were folded
