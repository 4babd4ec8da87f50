"""Late data: one nightly run folds an event that arrives 30 days late into every stored
window that covers it (hour, day, and the 7d and 28d windows ending on the days after it),
on SQLite and on PostgreSQL, through the real nightly DAG (``dag.test()``).

The store holds a hand-written bakery day (``examples/bakery.yaml``, timezone
Europe/Berlin): on Wednesday 11 March 2026 (local), one order at 09:30 UTC from a new
customer (``repeat: false``). The KPI ``repeat_rate`` is repeat orders ÷ orders:

- before the late event: the day and every 7d/28d window covering 11 March: 0 ÷ 1 = 0.0;
- the late order (10:15 UTC on 11 March, ``repeat: true``) arrives on 10 April, 30 days
  later: the windows covering it become 1 ÷ 2 = 0.5, and its hour [10:00, 11:00) UTC,
  which held no order, 1 ÷ 1 = 1.0.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from alignwatch.pipeline import nightly_task
from alignwatch.store import connect
from alignwatch.store.schema import metric_values, pipeline_runs

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
UTC = dt.UTC
ON_TIME = dt.datetime(2026, 3, 11, 9, 30, tzinfo=UTC)
LATE = dt.datetime(2026, 3, 11, 10, 15, tzinfo=UTC)
LATE_INGESTED = dt.datetime(2026, 4, 10, 0, 30, tzinfo=UTC)  # 30 days after its time
# the nightly run of 10 April (02:00 UTC = 04:00 in Berlin) recomputes the local days 3 to 9 April
NIGHT = dt.datetime(2026, 4, 10, 2, 0, tzinfo=UTC)
BERLIN = ZoneInfo("Europe/Berlin")

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def local_midnight(day: dt.date) -> dt.datetime:
    """00:00 in Berlin of ``day``, in UTC."""
    return dt.datetime.combine(day, dt.time(), BERLIN).astimezone(UTC)


def order(event_id: str, time: dt.datetime, repeat: bool) -> dict[str, Any]:
    return {
        "type": "customer.order",
        "source": "test://bakery-till",
        "id": event_id,
        "time": time.isoformat(),
        "data": {"customer_id": "c1", "order_id": event_id, "amount": 12.0, "repeat": repeat},
    }


def repeat_rate(engine: sa.Engine) -> dict[tuple[str, dt.datetime], tuple[dt.datetime, float | None]]:
    """The stored kpi_value{kpi=repeat_rate} rows: (window, end) -> (start, value)."""
    mv = metric_values.c
    query = sa.select(mv.window, mv.window_start, mv.window_end, mv.value).where(
        mv.metric_id == "kpi_value", mv.labels_key == "kpi=repeat_rate"
    )
    with engine.connect() as conn:
        return {(row.window, row.window_end): (row.window_start, row.value) for row in conn.execute(query)}


def covering(rows: dict[tuple[str, dt.datetime], tuple[dt.datetime, float | None]], moment: dt.datetime) -> dict[Any, Any]:
    """The rows whose window [start, end) contains ``moment``."""
    return {key: value for key, (start, value) in rows.items() if start <= moment < key[1]}


def expected_covering(value_day: float, value_hour: float | None) -> dict[tuple[str, dt.datetime], float | None]:
    """By hand: the windows stored by nightly runs that contain 11 March 10:15 UTC.

    hour [10:00, 11:00) UTC; the local day 11 March ([10 March 23:00, 11 March 23:00) UTC);
    the 7d windows ending at the ends of 11..17 March and the 28d windows ending at the ends
    of 11 March..7 April (a 28d window ending at the end of day D spans D−27..D).
    """
    out: dict[tuple[str, dt.datetime], float | None] = {
        ("hour", dt.datetime(2026, 3, 11, 11, tzinfo=UTC)): value_hour,
        ("day", local_midnight(dt.date(2026, 3, 12))): value_day,
    }
    for k in range(7):
        out[("7d", local_midnight(dt.date(2026, 3, 12) + dt.timedelta(days=k)))] = value_day
    for k in range(28):
        out[("28d", local_midnight(dt.date(2026, 3, 12) + dt.timedelta(days=k)))] = value_day
    return out


def run_nightly_dag(dag_bag: Any, night: dt.datetime, conf: dict[str, Any]) -> None:
    run = dag_bag.dags["alignment_nightly"].test(logical_date=night, run_conf=conf)
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state


def newest_run(engine: sa.Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(1)).one()


@pytest.fixture
def dag_store(store_url: str, monkeypatch: pytest.MonkeyPatch, insert_events: Any) -> Any:
    """The store (SQLite or PostgreSQL) named to the DAGs, holding the on-time order."""
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STORE_URL", store_url)
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STRATEGY_FILE", str(STRATEGY))
    monkeypatch.delenv("ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS", raising=False)
    engine = connect(store_url)
    insert_events(engine, [order("o-1", ON_TIME, repeat=False)], ON_TIME + dt.timedelta(minutes=1))
    yield engine
    engine.dispose()


def test_an_event_30_days_late_is_in_every_stored_window_that_covers_it_after_one_nightly_dag_run(
    dag_store: sa.Engine, dag_bag: Any, insert_events: Any
) -> None:
    # history: the nightly run of 9 April recomputed 35 days (5 March..8 April), so every
    # window covering 11 March is stored, from the on-time order only
    run_nightly_dag(dag_bag, NIGHT - dt.timedelta(days=1), {"days": 35})
    before = repeat_rate(dag_store)
    assert covering(before, LATE) == expected_covering(value_day=0.0, value_hour=None)

    insert_events(dag_store, [order("o-2", LATE, repeat=True)], LATE_INGESTED)
    run_nightly_dag(dag_bag, NIGHT, {"days": 7})

    run = newest_run(dag_store)
    assert run.kind == "nightly" and run.status == "published", run.validation
    after = repeat_rate(dag_store)
    assert covering(after, LATE) == expected_covering(value_day=0.5, value_hour=1.0)
    # the on-time order's hour does not contain the late one: 0 repeat orders of 1, as before
    on_time_hour = ("hour", dt.datetime(2026, 3, 11, 10, tzinfo=UTC))
    assert after[on_time_hour][1] == before[on_time_hour][1] == 0.0
    # the first windows that do not cover 11 March are unchanged: no order at all
    assert after[("7d", local_midnight(dt.date(2026, 3, 19)))][1] is None
    assert after[("28d", local_midnight(dt.date(2026, 4, 9)))][1] is None
    # what the run recorded: 11 March changed; it and the 27 days after it are recomputed,
    # 11 March..2 April before the run's own days (3..9 April): 23 days, nothing left over
    late = run.details["late"]
    assert late["changed"] == ["2026-03-11"]
    assert late["recomputed"] == [(dt.date(2026, 3, 11) + dt.timedelta(days=k)).isoformat() for k in range(23)]
    assert late["pending"] == []
    assert (run.interval_start, run.interval_end) == (local_midnight(dt.date(2026, 3, 11)), local_midnight(dt.date(2026, 4, 10)))

    # the same night again finds nothing new and leaves the same rows
    run_nightly_dag(dag_bag, NIGHT + dt.timedelta(minutes=30), {"days": 7})
    again = newest_run(dag_store)
    assert again.status == "published" and again.details["late"]["recomputed"] == []
    assert repeat_rate(dag_store) == after


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)  # how late days are planned; both stores: the test above
def test_over_the_bound_a_nightly_run_logs_the_days_it_leaves_and_the_next_run_recomputes_them(
    dag_store: sa.Engine, caplog: pytest.LogCaptureFixture, insert_events: Any
) -> None:
    from alignwatch.metrics.strategy import load_strategy

    strategy = load_strategy(STRATEGY)
    assert nightly_task(dag_store, strategy, end=NIGHT - dt.timedelta(days=1), days=35).published
    insert_events(dag_store, [order("o-2", LATE, repeat=True)], LATE_INGESTED)

    # 23 days are needed before the run's own (11 March..2 April); at most 12 per run
    with caplog.at_level(logging.INFO, logger="alignwatch.pipeline"):
        first = nightly_task(dag_store, strategy, end=NIGHT, days=7, max_late_days=12)
    assert first.published, first.detail
    assert "12 late day(s) recomputed (2026-03-11..2026-03-22)" in caplog.text
    assert "left for later: 11 day(s) (2026-03-23..2026-04-02) over the bound of 12" in caplog.text
    rows = covering(repeat_rate(dag_store), LATE)
    # 28d windows ending at the ends of 11..22 March and of the own days 3..7 April are
    # recomputed (0.5); those ending at the ends of 23 March..2 April are not yet (0.0)
    stale = {("28d", local_midnight(dt.date(2026, 3, 24) + dt.timedelta(days=k))) for k in range(11)}
    assert {key for key, value in rows.items() if value == 0.0} == stale
    assert newest_run(dag_store).details["late"]["pending"] == [
        (dt.date(2026, 3, 23) + dt.timedelta(days=k)).isoformat() for k in range(11)
    ]

    second = nightly_task(dag_store, strategy, end=NIGHT + dt.timedelta(days=1), days=7, max_late_days=12)
    assert second.published, second.detail
    assert newest_run(dag_store).details["late"]["recomputed"] == [
        (dt.date(2026, 3, 23) + dt.timedelta(days=k)).isoformat() for k in range(11)
    ]
    assert newest_run(dag_store).details["late"]["pending"] == []
    assert covering(repeat_rate(dag_store), LATE) == expected_covering(value_day=0.5, value_hour=1.0)


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)  # concurrent commits: the server's case
def test_an_event_ingested_before_the_mark_but_committed_after_the_run_read_it_is_found_by_the_next_run(
    dag_store: sa.Engine, insert_events: Any
) -> None:
    from alignwatch.metrics.strategy import load_strategy

    strategy = load_strategy(STRATEGY)
    assert nightly_task(dag_store, strategy, end=NIGHT - dt.timedelta(days=1), days=35).published
    mark = newest_run(dag_store).details["late"]["ingested_through"]
    assert mark == (ON_TIME + dt.timedelta(minutes=1)).isoformat()  # the on-time order's ingestion
    # a writer stamped the late order one minute before that mark but committed it after the run's read
    insert_events(dag_store, [order("o-2", LATE, repeat=True)], ON_TIME)

    assert nightly_task(dag_store, strategy, end=NIGHT, days=7).published
    late = newest_run(dag_store).details["late"]
    # one more event in the 5 minutes up to the mark: the run looks 5 minutes further back
    assert late["since"] == (ON_TIME + dt.timedelta(minutes=1) - dt.timedelta(minutes=5)).isoformat()
    assert late["changed"] == ["2026-03-11"]
    assert covering(repeat_rate(dag_store), LATE) == expected_covering(value_day=0.5, value_hour=1.0)


def test_a_late_day_brings_the_27_days_after_it_and_pending_days_come_as_they_are() -> None:
    from alignwatch.late_days import plan_late_days

    def days(first: dt.date, count: int) -> list[dt.date]:
        return [first + dt.timedelta(days=k) for k in range(count)]

    # own range 1..7 March; late events on 1 February: 1..28 February (28 days), plus the
    # pending 5 January; 10 at most: 5 January and 1..9 February now, 10..28 February later
    now, deferred, after = plan_late_days(
        [dt.date(2026, 2, 1)], [dt.date(2026, 1, 5)], first=dt.date(2026, 3, 1), stop=dt.date(2026, 3, 8), max_days=10
    )
    assert now == [dt.date(2026, 1, 5), *days(dt.date(2026, 2, 1), 9)]
    assert deferred == days(dt.date(2026, 2, 10), 19)
    assert after == []
    # late events on 20 February: 20..28 February before the own range, 1..7 March inside it
    # (computed anyway), 8..19 March after it
    now, deferred, after = plan_late_days(
        [dt.date(2026, 2, 20)], [], first=dt.date(2026, 3, 1), stop=dt.date(2026, 3, 8)
    )
    assert (now, deferred, after) == (days(dt.date(2026, 2, 20), 9), [], days(dt.date(2026, 3, 8), 12))
