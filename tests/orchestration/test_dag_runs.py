"""The DAGs run by Airflow (``dag.test()`` on a real metadata DB) against a PostgreSQL store."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.pipeline import backfill_task
from alignwatch.store.schema import pipeline_runs
from alignwatch.windows import nightly_range

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
INGESTED = DAY0 + dt.timedelta(days=30)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strategy() -> Any:
    from alignwatch.metrics.strategy import load_strategy

    return load_strategy(STRATEGY)


@pytest.fixture
def airflow_store(store: sa.Engine, orchestration_store: str, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """The store, named to the DAGs through Airflow Variables (from the environment)."""
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STORE_URL", orchestration_store)
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STRATEGY_FILE", str(STRATEGY))
    return store


def run_dag(dag_bag: Any, dag_id: str, logical_date: dt.datetime, conf: dict[str, Any] | None = None) -> Any:
    run = dag_bag.dags[dag_id].test(logical_date=logical_date, run_conf=conf)
    assert str(run.state) in ("success", "DagRunState.SUCCESS"), run.state
    return run


def forget_runs(engine: sa.Engine) -> None:
    """Back to a store with events but nothing computed."""
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE metric_values, pipeline_runs RESTART IDENTITY CASCADE"))


def run_rows(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).all()


def test_continuous_dag_publishes_the_same_values_as_metrics_compute_for_the_same_windows(
    airflow_store: sa.Engine, orchestration_store: str, dag_bag: Any, insert_events: Any, simulated: Any, metric_rows: Any
) -> None:
    from click.testing import CliRunner

    from alignwatch.cli import cli

    insert_events(airflow_store, simulated(DAY0, 2, 240), INGESTED)
    # the 5-minute interval [12:57, 13:02) closes the 12:00 hour: the last 24 hours are recomputed
    began = time.perf_counter()
    run_dag(dag_bag, "alignment_continuous", DAY0 + dt.timedelta(days=1, hours=13, minutes=2))
    print(f"continuous dag.test: {time.perf_counter() - began:.1f}s")
    (run,) = run_rows(airflow_store)
    assert run.kind == "continuous" and run.status == "published", run.validation
    start, end = DAY0 + dt.timedelta(hours=13), DAY0 + dt.timedelta(days=1, hours=13)
    assert (run.interval_start, run.interval_end) == (start, end)
    from_dag = {row[:5]: row[5] for row in metric_rows(airflow_store)}
    assert {key[2] for key in from_dag} == {"hour", "7d", "28d"}
    assert sum(1 for key in from_dag if key[2] == "hour" and key[0] == "sai") == 24

    forget_runs(airflow_store)
    began = time.perf_counter()
    result = CliRunner().invoke(
        cli,
        ["metrics", "compute", "--from", start.isoformat(), "--to", end.isoformat(),
         "--store", orchestration_store, "--strategy", str(STRATEGY)],
    )
    print(f"metrics compute: {time.perf_counter() - began:.1f}s")
    assert result.exit_code == 0, result.output
    from_cli = {row[:5]: row[5] for row in metric_rows(airflow_store)}
    assert {key: from_cli.get(key, "missing") for key in from_dag} == from_dag
    # the command cuts the range at local midnight: it adds the rolling windows ending there
    assert {key[2] for key in set(from_cli) - set(from_dag)} <= {"7d", "28d"}


def test_late_events_are_reflected_after_the_nightly_run_and_a_second_nightly_run_changes_nothing(
    airflow_store: sa.Engine, dag_bag: Any, insert_events: Any, simulated: Any, metric_rows: Any
) -> None:
    events = simulated(DAY0, 2, 240)
    late = [e for e in events[1::4] if e["time"] >= (DAY0 + dt.timedelta(days=1, hours=6)).isoformat()]
    on_time = [e for e in events if e not in late]
    insert_events(airflow_store, on_time, INGESTED)
    run_dag(dag_bag, "alignment_continuous", DAY0 + dt.timedelta(days=2, minutes=2))
    published = metric_rows(airflow_store)

    insert_events(airflow_store, late, INGESTED + dt.timedelta(hours=1))
    assert metric_rows(airflow_store) == published  # nothing moves until a run folds them in

    night = DAY0 + dt.timedelta(days=2, hours=2)
    run_dag(dag_bag, "alignment_nightly", night, {"days": 1})
    after_nightly = metric_rows(airflow_store)
    nightly = run_rows(airflow_store)[-1]
    assert nightly.kind == "nightly" and nightly.status == "published", nightly.validation
    assert (nightly.interval_start, nightly.interval_end) == nightly_range(night, 1, "Europe/Berlin")
    late_hours = {
        dt.datetime.fromisoformat(e["time"]).astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
        + dt.timedelta(hours=1)
        for e in late
    }
    hour_values = lambda rows: {(r[0], r[1], r[4]): r[5] for r in rows if r[2] == "hour" and r[4] in late_hours}  # noqa: E731
    before, after = hour_values(published), hour_values(after_nightly)
    changed = {key for key in before if before[key] != after.get(key)}
    assert changed, "the late events changed no published hour window"

    run_dag(dag_bag, "alignment_nightly", night + dt.timedelta(minutes=30), {"days": 1})
    assert run_rows(airflow_store)[-1].status == "published"
    assert metric_rows(airflow_store) == after_nightly


def test_backfill_of_three_days_writes_the_same_rows_as_three_single_day_nightly_runs(
    airflow_store: sa.Engine, dag_bag: Any, strategy: Any, insert_events: Any, simulated: Any, metric_rows: Any
) -> None:
    insert_events(airflow_store, simulated(DAY0, 4, 300), INGESTED)
    nights = [DAY0 + dt.timedelta(days=n, hours=2) for n in (2, 3, 4)]
    for night in nights:
        run_dag(dag_bag, "alignment_nightly", night, {"days": 1})
    assert [r.status for r in run_rows(airflow_store)] == ["published"] * 3
    single_days = metric_rows(airflow_store)

    forget_runs(airflow_store)
    start, end = nightly_range(nights[-1], 3, "Europe/Berlin")
    outcomes = backfill_task(airflow_store, strategy, start=start, end=end)
    assert [o.status for o in outcomes] == ["published"] * 3
    assert [(o.start, o.end) for o in outcomes] == [nightly_range(n, 1, "Europe/Berlin") for n in nights]
    assert metric_rows(airflow_store) == single_days
    assert {row[2] for row in single_days} == {"hour", "day", "7d", "28d"}


def test_airflow_backfill_of_the_nightly_dag_plans_one_run_per_night_each_recomputing_its_own_day(dag_bag: Any) -> None:
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import sync_bag_to_db
    from airflow.models.backfill import _create_backfill  # what `airflow backfill create` calls
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    DagBundlesManager().sync_bundles_to_db()
    sync_bag_to_db(dag_bag, "dags-folder", None)
    first = DAY0 + dt.timedelta(days=40)
    backfill = _create_backfill(
        dag_id="alignment_nightly",
        from_date=first,
        to_date=first + dt.timedelta(days=2, hours=3),
        max_active_runs=1,
        reverse=False,
        dag_run_conf={"days": 1},
        triggering_user_name="test",
    )
    with create_session() as session:
        runs = session.query(DagRun).filter(DagRun.backfill_id == backfill.id).order_by(DagRun.logical_date).all()
        planned = [(run.data_interval_start, run.data_interval_end, dict(run.conf or {})) for run in runs]
    assert len(planned) == 3
    assert all(conf == {"days": 1} for _, _, conf in planned)
    # each run's interval is one night; the task recomputes the local day before its end
    days = [nightly_range(end, 1, "Europe/Berlin") for _, end, _ in planned]
    assert [e - s for s, e in days] == [dt.timedelta(days=1)] * 3
    assert all(days[i][1] == days[i + 1][0] for i in range(2))
