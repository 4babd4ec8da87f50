"""The shared, cached recomputation against windows read on their own, from the events.

``compute(cache=False)`` shares nothing between windows: each window's ethics inputs are
read for it, and each window of an ROI-realisation series before the range is read on its
own. A :class:`Recomputation` through the hour-aggregate cache slices the ethics inputs
from one read per block and folds the series from one read of the ROI groups before the
block. A simulated quarter of the ``ecommerce`` scenario (workforce events) and of the
``refunds`` scenario (decisions with segments, overrides and appeals) is stored on SQLite
and PostgreSQL, and the hour and day steps of its last six days, in blocks of three days,
are compared row for row.
"""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.metrics import engine as metric_engine
from alignwatch.metrics.engine import Recomputation, compute
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store.schema import aggregated_hours, events, hour_aggregates
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

from .builders import by_step, day_steps

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = dt.datetime(2026, 9, 1, tzinfo=dt.UTC)
DAYS = 92  # the 28-day windows' ROI series (three windows) reach the first day
EVENTS = 40_000
DAY = dt.timedelta(days=1)


@pytest.fixture(scope="module", params=["ecommerce", "refunds"])
def simulated(request: pytest.FixtureRequest, module_engine: sa.Engine):
    scenario = request.param
    loaded = load_strategy(EXAMPLES / f"{scenario}.yaml")
    strategy = loaded.model_copy(update={"business": loaded.business.model_copy(update={"timezone": "UTC"})})
    made = (make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject"))
            for e in simulate(scenario, 7, START, DAYS, EVENTS, strategy=strategy))
    rows = [event_row(event, event.time + dt.timedelta(minutes=1)) for event in made]
    with module_engine.begin() as conn:
        conn.execute(events.delete())
        conn.execute(hour_aggregates.delete())
        conn.execute(aggregated_hours.delete())
        conn.execute(events.insert(), rows)
    return module_engine, strategy, scenario


def test_a_recomputation_through_the_cache_gives_the_values_of_windows_read_on_their_own(
    simulated, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, strategy, scenario = simulated
    with engine.connect() as conn:
        decisions = conn.execute(sa.select(sa.func.count()).where(events.c.type == "automation.decision")).scalar_one()
    assert decisions > 0 or scenario == "ecommerce"
    # the last six days (their 28-day windows' ROI series reach back before the first event), blocks of
    # three days: the days cross two block boundaries
    steps = day_steps(START, DAYS - 6, 6)
    monkeypatch.setattr(metric_engine, "BLOCK", 3 * DAY)
    clock = START + (DAYS + 1) * DAY
    with Recomputation(engine, strategy, until=steps[-1][1], clock=lambda: clock) as session:
        shared = by_step(session.compute, engine, strategy, steps)
    reference = by_step(partial(compute, cache=False), engine, strategy, steps)
    assert [len(v) for v in shared] == [len(v) for v in reference]
    for got, expected in zip(shared, reference, strict=True):
        assert got == expected
    ethics = [v for values in shared for v in values if v.metric_id.startswith("ethics_") and v.value is not None]
    assert {v.metric_id for v in ethics} >= (
        {"ethics_reskilling_coverage", "ethics_parity_ratio", "ethics_override_rate"} if scenario == "refunds"
        else {"ethics_reskilling_coverage"}
    )
    judged = [v for values in shared for v in values if v.window == "28d" and v.metric_id == "pitfall_active"
              and v.labels["pitfall"] == "roi_miscalculation"
              and len(v.inputs["evidence"]["roi_realisation_by_window"]) == 3]
    assert judged  # series of three 28-day windows, two of them before the block's range, were judged
