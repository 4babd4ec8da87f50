"""The hour-aggregate cache gives exactly the values read from the events (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.metrics import hourcache
from alignwatch.metrics.engine import compute
from alignwatch.metrics.hourcache import SAFETY_MARGIN
from alignwatch.metrics.values import MetricValue
from alignwatch.store.schema import aggregated_hours, events, hour_aggregates

from .builders import (
    DAY0,
    at,
    ev,
    execution,
    feedback,
    finance,
    insert,
    make_strategy,
    order,
    run,
    touch,
    usage,
    workforce,
)

END = DAY0 + dt.timedelta(days=1)
LATER = END + dt.timedelta(days=1)  # the clock of the first cached computation: the day is closed


def _day_events(seed: int) -> list[dict[str, Any]]:
    """A day of every aggregated type, spread over the hours, with a few empty hours."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for hour in (0, 1, 2, 5, 8, 9, 13, 17, 22, 23):
        t = at(hour + rng.random() * 0.9)
        rows += [
            run(t, "bot", "pack", rng.choice(["succeeded", "failed"]), manual_intervention=rng.random() < 0.3,
                cost=round(rng.random() * 3, 3)),
            run(t, "oven", "bake"),
            execution(t, "pack", rng.random() < 0.7, cycle=round(30 + rng.random() * 90, 2),
                      errors=rng.randint(0, 1), rework=rng.randint(0, 1)),
            execution(t, "bake", True, units_out=float(rng.randint(5, 20))),
            touch(t, "chat", rng.choice(["automation", "human"]), resolved=rng.random() < 0.8,
                  escalation_requested=True, escalation_fulfilled_s=round(rng.random() * 600, 1)),
            touch(t, "phone", "human"),
            feedback(t, touchpoint_id="chat", csat=rng.randint(1, 5), nps=rng.randint(0, 10)),
            order(t, amount=round(rng.random() * 50, 2), repeat=rng.random() < 0.5, units=float(rng.randint(1, 4))),
            finance(t, rng.choice(["cost", "saving", "revenue"]), round(rng.random() * 100, 2), "bot"),
            usage(t, "bot", rng.choice(["a", "b"]), f"u{rng.randint(1, 3)}"),
            ev("integration.issue", t, automation_id="bot", kind="sync_failure", records=rng.randint(1, 3)),
            ev("data.produced", t, dataset_id=f"d{hour}", automation_id="bot"),
            ev("data.used", t, dataset_id=f"d{hour}", used_for="decision", strategic=True),
            workforce(t, "task", f"e{rng.randint(1, 2)}", automation_id="bot", augmented=True,
                      minutes_saved=round(rng.random() * 20, 1)),
            workforce(t, "skill", "e1", skill="ops", kind="training"),
            workforce(t, "survey", "e2", satisfaction=rng.randint(1, 5)),
        ]
    return rows


def _compute(store: sa.Engine, strategy: Any, *, cache: bool, clock: dt.datetime = LATER) -> list[MetricValue]:
    return compute(store, strategy, start=DAY0, end=END, granularity="hour", cache=cache, clock=lambda: clock)


@pytest.fixture(params=["through the indexes", "through the range"])
def look(request, monkeypatch) -> str:
    """The look for late events either way: the events since the marks through their indexes
    (few: the usual case), or the range's events by time (more than the look follows)."""
    if request.param == "through the range":
        monkeypatch.setattr(hourcache, "_FOLLOW", 0)
    return str(request.param)


def _marks(store: sa.Engine) -> dict[int, Any]:
    with store.connect() as conn:
        return {row.hour: row for row in conn.execute(sa.select(aggregated_hours))}


def test_cached_and_uncached_compute_give_identical_values_cold_and_warm(store, strategy) -> None:
    insert(store, _day_events(1))
    uncached = _compute(store, strategy, cache=False)
    assert not _marks(store)  # the uncached path writes nothing
    cold = _compute(store, strategy, cache=True)
    marks = _marks(store)
    # every closed hour of the range read, the 28 days; the ROI-realisation series of the 28d window also folds
    # the 28 days before them (the bot booked a cost in the 28 days), read from the first event before the
    # range on: there is none, so no hour before the range is read
    assert len(marks) == 28 * 24
    warm = _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(minutes=1))
    assert cold == uncached
    assert warm == uncached
    # the warm run served every hour from the cache: no mark was rewritten
    assert {h: m.aggregated_at for h, m in _marks(store).items()} == {h: m.aggregated_at for h, m in marks.items()}
    assert any(v.value is not None for v in warm if v.window == "hour")


def test_an_hour_with_no_events_is_cached_as_empty_and_stays_without_data(store, strategy) -> None:
    insert(store, _day_events(2))
    uncached = _compute(store, strategy, cache=False)
    _compute(store, strategy, cache=True)
    warm = _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(minutes=1))
    assert warm == uncached
    empty_hour = int(at(3).timestamp() // 3600)
    assert _marks(store)[empty_hour].groups == 0
    hour_three = [v for v in warm if v.window == "hour" and v.window_start == at(3) and v.metric_id == "spar"]
    assert hour_three and all(v.value is None for v in hour_three)


def test_a_late_event_in_an_already_cached_hour_is_reflected(store, strategy, look) -> None:
    insert(store, _day_events(3))
    before = _compute(store, strategy, cache=True)
    late = execution(at(8.5), "pack", False, cycle=999.0, errors=1)
    late["ingested_at"] = LATER + dt.timedelta(hours=1)  # ingested after the hour was cached
    insert(store, [late])
    after = _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(hours=2))
    assert after == _compute(store, strategy, cache=False)
    assert after != before
    hour = int(at(8).timestamp() // 3600)
    assert _marks(store)[hour].aggregated_at == LATER + dt.timedelta(hours=2)  # re-aggregated


def test_a_late_event_stamped_before_the_cache_read_is_found_by_its_id(store, strategy, look) -> None:
    insert(store, _day_events(4))
    _compute(store, strategy, cache=True)
    late = order(at(13.2), amount=123.45, repeat=True)
    late["ingested_at"] = LATER - 3 * SAFETY_MARGIN  # stamped long before the read, committed after it
    insert(store, [late])
    assert _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(hours=1)) == _compute(
        store, strategy, cache=False
    )


def test_shuffled_arrival_in_two_batches_gives_the_values_of_the_whole_set(store, strategy, look) -> None:
    rows = _day_events(5)
    random.Random(7).shuffle(rows)
    half = len(rows) // 2
    for row in rows[half:]:
        row["ingested_at"] = LATER + dt.timedelta(hours=1)  # the second batch arrives after the first cached run
    insert(store, rows[:half])
    _compute(store, strategy, cache=True)
    insert(store, rows[half:])
    assert _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(hours=2)) == _compute(
        store, strategy, cache=False
    )


def test_another_escalation_sla_is_cached_apart(store, strategy) -> None:
    insert(store, _day_events(6))
    strict = make_strategy(thresholds={"escalation_sla_s": 60})
    _compute(store, strategy, cache=True)
    assert _compute(store, strict, cache=True) == _compute(store, strict, cache=False)
    with store.connect() as conn:
        slas = set(conn.execute(sa.select(hour_aggregates.c.sla_s).distinct()).scalars())
    assert slas == {float(strategy.thresholds.escalation_sla_s), 60.0}


def test_an_hour_still_open_at_the_read_is_not_cached(store, strategy) -> None:
    insert(store, _day_events(8))
    clock = at(23.5)  # during the day's last hour
    assert _compute(store, strategy, cache=True, clock=clock) == _compute(store, strategy, cache=False)
    marks = _marks(store)
    assert int(at(22).timestamp() // 3600) in marks
    assert int(at(23).timestamp() // 3600) not in marks


def test_a_warm_run_after_the_safety_margin_moves_the_marks_forward_without_reading_the_hours(store, strategy) -> None:
    insert(store, _day_events(9))
    _compute(store, strategy, cache=True)
    groups = {h: m.groups for h, m in _marks(store).items()}
    later = LATER + 2 * SAFETY_MARGIN
    assert _compute(store, strategy, cache=True, clock=later) == _compute(store, strategy, cache=False)
    marks = _marks(store)
    assert {m.aggregated_at for m in marks.values()} == {later}
    assert {h: m.groups for h, m in marks.items()} == groups


def test_events_emptied_with_restarted_ids_are_not_served_from_the_cache(store, strategy, look) -> None:
    insert(store, _day_events(10))
    _compute(store, strategy, cache=True)
    with store.begin() as conn:
        if store.dialect.name == "postgresql":
            conn.execute(sa.text("TRUNCATE events RESTART IDENTITY"))
        else:
            conn.execute(sa.text("DELETE FROM events"))  # SQLite reuses ids from 1 in an emptied table
    insert(store, _day_events(11)[:20])
    assert _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(minutes=1)) == _compute(
        store, strategy, cache=False
    )


def test_a_late_event_outside_the_range_leaves_its_cached_hours_as_they_are(store, strategy, look) -> None:
    insert(store, _day_events(12))
    _compute(store, strategy, cache=True)
    marks = _marks(store)
    late = order(END + dt.timedelta(hours=3), amount=9.5, repeat=False)  # the day after the range
    late["ingested_at"] = LATER + dt.timedelta(hours=1)
    insert(store, [late])
    later = LATER + dt.timedelta(hours=2)
    assert _compute(store, strategy, cache=True, clock=later) == _compute(store, strategy, cache=False)
    # no hour was aggregated again: each mark kept its groups and only moved forward
    after = _marks(store)
    assert set(after) == set(marks)
    assert {h: m.groups for h, m in after.items()} == {h: m.groups for h, m in marks.items()}
    assert {m.aggregated_at for m in after.values()} == {later}


def test_a_late_event_with_an_older_id_is_found_by_its_ingestion_time(store, strategy, look) -> None:
    # a transaction that took its id before the read and committed after it: only its ingestion time tells
    insert(store, _day_events(13))
    with store.begin() as conn:
        gap = conn.execute(sa.select(sa.func.min(events.c.id))).scalar_one()
        conn.execute(sa.delete(events).where(events.c.id == gap))
    _compute(store, strategy, cache=True)
    late = order(at(9.4), amount=77.0, repeat=True)
    late["id"] = gap
    late["ingested_at"] = LATER + dt.timedelta(hours=1)
    insert(store, [late])
    after = _compute(store, strategy, cache=True, clock=LATER + dt.timedelta(hours=2))
    assert after == _compute(store, strategy, cache=False)
    assert _marks(store)[int(at(9).timestamp() // 3600)].aggregated_at == LATER + dt.timedelta(hours=2)
