"""Recomputation: the steps of a nightly run or a backfill from shared reads give the values of ``compute``.

A simulated month of the ``ecommerce`` scenario is stored on SQLite and PostgreSQL; the
hour and day steps of its last six days are computed by one :class:`Recomputation` (its
block boundary inside the range) and, step by step and granularity by granularity, by
:func:`compute`, the reference: the values are compared row for row.
(``test_metrics_recomputation_reference.py`` compares it with windows read on their own.)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.metrics import engine as metric_engine
from alignwatch.metrics.engine import Recomputation, compute
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store.schema import events
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

from .builders import by_step, day_steps

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
DAYS = 40
EVENTS = 24_000
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module")
def month(module_engine: sa.Engine):
    loaded = load_strategy(EXAMPLES / "ecommerce.yaml")
    strategy = loaded.model_copy(update={"business": loaded.business.model_copy(update={"timezone": "UTC"})})
    made = (make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject"))
            for e in simulate("ecommerce", 18, START, DAYS, EVENTS, strategy=strategy))
    rows = [event_row(event, event.time + dt.timedelta(minutes=1)) for event in made]
    with module_engine.begin() as conn:
        conn.execute(events.insert(), rows)
    return module_engine, strategy


def test_a_recomputation_gives_the_values_of_compute_stepby_step(month, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, strategy = month
    steps = day_steps(START, DAYS - 6, 6)
    # blocks of three days: the six days cross a block boundary
    monkeypatch.setattr(metric_engine, "BLOCK", 3 * DAY)
    with Recomputation(engine, strategy, until=steps[-1][1]) as session:
        shared = by_step(session.compute, engine, strategy, steps)
    reference = by_step(compute, engine, strategy, steps)
    assert [len(v) for v in shared] == [len(v) for v in reference]
    for got, expected in zip(shared, reference, strict=True):
        assert got == expected


def test_a_recomputation_of_the_first_days_reads_no_event_before_the_store(month) -> None:
    engine, strategy = month
    steps = day_steps(START, 0, 3)
    with Recomputation(engine, strategy) as session:
        shared = by_step(session.compute, engine, strategy, steps)
    assert shared == by_step(compute, engine, strategy, steps)
