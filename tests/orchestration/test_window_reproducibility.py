"""Reproducibility: the same events and strategy give byte-identical stored rows for the
same window, whichever path computed it — the continuous DAG, the nightly DAG, a backfill,
``alignwatch metrics compute`` — on SQLite and on PostgreSQL.

A window's value may depend on the pipeline-run history only as it stood at the window's
end (runs that finished at or before it). The store's history here, by hand:

- run A (continuous) published, finished 3 March 12:00 UTC;
- run B (backfill) of the local day 2 March, published but finished on 30 November (long
  after the windows here ended): it must not count for them;
- run C (continuous) finished 5 March 06:00 UTC with ``failed_validation``: not published.

``continuous_monitoring`` passes when a run was published in (end − 2 days, end]: only A
can count, so a window passes exactly when its end lies in [3 March 12:00, 5 March 12:00)
UTC. Every path also records its own runs, finished today: none counts for March.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.pipeline import backfill_task
from alignwatch.store import connect
from alignwatch.store.schema import metric_values, pipeline_runs
from alignwatch.windows import nightly_range

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
UTC = dt.UTC
DAY0 = dt.datetime(2026, 3, 2, tzinfo=UTC)
INGESTED = DAY0 + dt.timedelta(days=30)
RUN_A = dt.datetime(2026, 3, 3, 12, tzinfo=UTC)
# the nightly run of 6 March (02:00 UTC, 03:00 in Berlin) with days=3: the local days 3, 4, 5 March
NIGHT = dt.datetime(2026, 3, 6, 2, tzinfo=UTC)
# Berlin is UTC+1 in early March: local midnights are 23:00 UTC the day before
MIDNIGHT_4 = dt.datetime(2026, 3, 3, 23, tzinfo=UTC)
MIDNIGHT_5 = dt.datetime(2026, 3, 4, 23, tzinfo=UTC)
MIDNIGHT_6 = dt.datetime(2026, 3, 5, 23, tzinfo=UTC)
MONITORING = ("checklist_item_passed", "item=continuous_monitoring")

pytestmark = [
    pytest.mark.integration,
    # dag.test() replaces an earlier run of the same logical date; when the DAG has two serialized
    # versions by then (another test ran it with other params), Airflow's own lazy load of
    # DagRun.serialized_dag warns while deleting that run (its metadata, not the store)
    pytest.mark.filterwarnings("ignore:Multiple rows returned with uselist=False:sqlalchemy.exc.SAWarning"),
]

Row = tuple[Any, ...]


def seed_history(engine: sa.Engine) -> None:
    """Runs A, B and C (see the module docstring)."""
    runs = [
        ("continuous", DAY0 + dt.timedelta(hours=35), RUN_A, RUN_A - dt.timedelta(hours=1), RUN_A, "published"),
        ("backfill", MIDNIGHT_4 - dt.timedelta(days=2), MIDNIGHT_4 - dt.timedelta(days=1), dt.datetime(2026, 11, 30, tzinfo=UTC),
         dt.datetime(2026, 11, 30, 0, 5, tzinfo=UTC), "published"),
        ("continuous", dt.datetime(2026, 3, 4, 5, tzinfo=UTC), dt.datetime(2026, 3, 5, 5, tzinfo=UTC),
         dt.datetime(2026, 3, 5, 5, 55, tzinfo=UTC), dt.datetime(2026, 3, 5, 6, tzinfo=UTC), "failed_validation"),
    ]
    with engine.begin() as conn:
        for kind, start, end, started, finished, status in runs:
            conn.execute(pipeline_runs.insert().values(
                kind=kind, business="Crumb & Co.", interval_start=start, interval_end=end,
                started_at=started, finished_at=finished, status=status, details={},
            ))


def take_rows(engine: sa.Engine) -> dict[tuple[Any, ...], Row]:
    """The stored rows in full (labels and inputs as canonical JSON), keyed on the upsert key; then emptied."""
    mv = metric_values.c
    query = sa.select(
        mv.metric_id, mv.labels_key, mv.window, mv.window_end, mv.window_start, mv.labels, mv.value, mv.inputs
    )
    with engine.begin() as conn:
        rows = {
            tuple(row[:4]): (*row[:5], json.dumps(row.labels, sort_keys=True), repr(row.value),
                             json.dumps(row.inputs, sort_keys=True))
            for row in conn.execute(query)
        }
        conn.execute(metric_values.delete())
    return rows


def run_dag(dag_bag: Any, dag_id: str, logical_date: dt.datetime, conf: dict[str, Any] | None = None) -> None:
    run = dag_bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state


def hours(start: dt.datetime, end: dt.datetime) -> set[dt.datetime]:
    """The ends of the hour windows in [start, end)."""
    return {start + dt.timedelta(hours=k + 1) for k in range(int((end - start) / dt.timedelta(hours=1)))}


@pytest.fixture
def history_store(store_url: str, monkeypatch: pytest.MonkeyPatch, insert_events: Any, simulated: Any) -> Any:
    """Five simulated bakery days and runs A, B, C, in a store named to the DAGs."""
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STORE_URL", store_url)
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STRATEGY_FILE", str(STRATEGY))
    engine = connect(store_url)
    insert_events(engine, simulated(DAY0 - dt.timedelta(days=1), 6, 720), INGESTED)
    seed_history(engine)
    yield engine
    engine.dispose()


def test_continuous_nightly_backfill_and_manual_paths_store_identical_rows_for_the_same_windows(
    history_store: sa.Engine, store_url: str, dag_bag: Any
) -> None:
    from click.testing import CliRunner

    from alignwatch.cli import cli
    from alignwatch.metrics.strategy import load_strategy

    engine = history_store
    start, end = nightly_range(NIGHT, 3, "Europe/Berlin")
    assert (start, end) == (MIDNIGHT_4 - dt.timedelta(days=1), MIDNIGHT_6)

    # nightly: one run over the three local days
    run_dag(dag_bag, "alignment_nightly", NIGHT, {"days": 3})
    nightly = take_rows(engine)
    # continuous: two runs whose data intervals close the hours ending at the local midnights
    # of 4 and 5 March; each recomputes the 24 hours before and the 7d/28d windows at its end
    run_dag(dag_bag, "alignment_continuous", MIDNIGHT_4 + dt.timedelta(minutes=2))
    run_dag(dag_bag, "alignment_continuous", MIDNIGHT_5 + dt.timedelta(minutes=2))
    continuous = take_rows(engine)
    # backfill: one run per day
    outcomes = backfill_task(engine, load_strategy(STRATEGY), start=start, end=end)
    assert [o.status for o in outcomes] == ["published"] * 3
    backfill = take_rows(engine)
    # manual: hour windows, then day windows, of the same range
    manual: dict[tuple[Any, ...], Row] = {}
    for granularity in ("hour", "day"):
        result = CliRunner().invoke(cli, [
            "metrics", "compute", "--from", start.isoformat(), "--to", end.isoformat(), "--granularity", granularity,
            "--store", store_url, "--strategy", str(STRATEGY),
        ])
        assert result.exit_code == 0, result.output
        manual.update(take_rows(engine))
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(pipeline_runs.c.status).where(pipeline_runs.c.id > 3)).scalars().all()
    assert statuses == ["published"] * 8

    paths = {"continuous": continuous, "nightly": nightly, "backfill": backfill, "manual": manual}
    for one, first in paths.items():
        for other, second in paths.items():
            shared = set(first) & set(second)
            assert shared, (one, other)
            assert {key: first[key] for key in shared} == {key: second[key] for key in shared}, (one, other)

    # what the paths share, window by window (metric_id "sai" as the witness)
    def windows(rows: dict[tuple[Any, ...], Row]) -> set[tuple[str, dt.datetime]]:
        return {(key[2], key[3]) for key in rows if key[0] == "sai"}

    day_ends = {MIDNIGHT_4, MIDNIGHT_5, MIDNIGHT_6}
    full = (
        {("hour", e) for e in hours(start, end)}
        | {("day", e) for e in day_ends}
        | {(kind, e) for kind in ("7d", "28d") for e in day_ends}
    )
    assert windows(nightly) == windows(backfill) == windows(manual) == full
    assert windows(continuous) == (
        {("hour", e) for e in hours(start, MIDNIGHT_5)} | {(kind, e) for kind in ("7d", "28d") for e in (MIDNIGHT_4, MIDNIGHT_5)}
    )

    # continuous_monitoring, by hand: passed exactly when the window's end is in [3 March 12:00, 5 March 12:00)
    monitoring = {(key[2], key[3]): float(row[6]) for key, row in nightly.items() if key[:2] == MONITORING}
    expected = {
        (kind, e): 1.0 if RUN_A <= e < RUN_A + dt.timedelta(days=2) else 0.0
        for kind, e in full
    }
    assert monitoring == expected
    # spelled out: day 3 March and 4 March passed, 5 March failed (run B finished in November)
    assert monitoring[("day", MIDNIGHT_4)] == monitoring[("day", MIDNIGHT_5)] == 1.0
    assert monitoring[("day", MIDNIGHT_6)] == 0.0
    assert monitoring[("hour", RUN_A)] == 1.0 and monitoring[("hour", RUN_A - dt.timedelta(hours=1))] == 0.0
