"""Airflow shows what a run did: skipped when no hour closed, failed (after its retries) when
validation failed, success when it published; the nightly DAG catches up only when told.

The DAGs run with ``dag.test()`` on a real metadata DB against a PostgreSQL store.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.config import nightly_schedule
from alignwatch.errors import ConfigError
from alignwatch.store.schema import metric_values, pipeline_heartbeats, pipeline_runs

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
DAGS = Path(__file__).resolve().parents[2] / "dags"
DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)

pytestmark = [
    pytest.mark.integration,
    # dag.test() replaces an earlier run of the same logical date; when the DAG has two serialized
    # versions by then (another test ran it with other params), Airflow's own lazy load of
    # DagRun.serialized_dag warns while deleting that run (its metadata, not the store)
    pytest.mark.filterwarnings("ignore:Multiple rows returned with uselist=False:sqlalchemy.exc.SAWarning"),
]


@pytest.fixture
def airflow_store(store: sa.Engine, orchestration_store: str, monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """The store, named to the DAGs through Airflow Variables (from the environment)."""
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STORE_URL", orchestration_store)
    monkeypatch.setenv("AIRFLOW_VAR_ALIGNWATCH_STRATEGY_FILE", str(STRATEGY))
    return store


def run_dag(dag_bag: Any, dag_id: str, logical_date: dt.datetime) -> tuple[str, dict[str, str], dict[str, int]]:
    """``dag.test()`` the DAG: the run's state, each task's state and how often it was tried."""
    run = dag_bag.dags[dag_id].test(logical_date=logical_date)
    instances = run.get_task_instances()
    states = {ti.task_id: str(getattr(ti.state, "value", ti.state)) for ti in instances}
    tries = {ti.task_id: int(ti.try_number) for ti in instances}
    return str(getattr(run.state, "value", run.state)), states, tries


def statuses(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(pipeline_runs.c.status).order_by(pipeline_runs.c.id)).scalars())


def heartbeat_outcomes(engine: sa.Engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return {(row.kind, row.outcome) for row in conn.execute(sa.select(pipeline_heartbeats))}


def published_values(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(metric_values)).scalar_one())


def test_a_continuous_run_in_the_middle_of_an_hour_is_skipped_in_airflow_and_leaves_a_skipped_heartbeat(
    airflow_store: sa.Engine, dag_bag: Any, insert_events: Any, simulated: Any
) -> None:
    insert_events(airflow_store, simulated(DAY0, 2, 240), DAY0 + dt.timedelta(days=3))
    # the interval [13:20, 13:25) closes no hour
    state, tasks, _ = run_dag(dag_bag, "alignment_continuous", DAY0 + dt.timedelta(days=1, hours=13, minutes=25))
    assert tasks == {"aggregate": "skipped"}
    assert state == "success"  # a skipped task is not a failed run
    assert statuses(airflow_store) == []
    assert heartbeat_outcomes(airflow_store) == {("continuous", "skipped")}


def test_a_continuous_run_that_publishes_succeeds_in_airflow(
    airflow_store: sa.Engine, dag_bag: Any, insert_events: Any, simulated: Any
) -> None:
    insert_events(airflow_store, simulated(DAY0, 2, 240), DAY0 + dt.timedelta(days=3))
    state, tasks, _ = run_dag(dag_bag, "alignment_continuous", DAY0 + dt.timedelta(days=1, hours=13, minutes=2))
    assert (state, tasks) == ("success", {"aggregate": "success"})
    assert statuses(airflow_store) == ["published"]
    assert heartbeat_outcomes(airflow_store) == {("continuous", "published")}


def test_a_continuous_run_on_an_empty_store_fails_validation_and_fails_in_airflow_after_its_retries_publishing_nothing(
    airflow_store: sa.Engine, dag_bag: Any
) -> None:
    state, tasks, tries = run_dag(dag_bag, "alignment_continuous", DAY0 + dt.timedelta(days=1, hours=13, minutes=2))
    assert (state, tasks) == ("failed", {"aggregate": "failed"})
    retries = dag_bag.dags["alignment_continuous"].get_task("aggregate").retries
    assert tries == {"aggregate": retries + 1}
    # every try computed, found no data and held its values back: never an SAI of 0.0
    assert statuses(airflow_store) == ["failed_validation"] * (retries + 1)
    with airflow_store.connect() as conn:
        failed = conn.execute(sa.select(pipeline_runs.c.validation)).scalars().first()
    assert "raw_events.expect_events_in_window" in failed["failed"]
    assert published_values(airflow_store) == 0
    assert heartbeat_outcomes(airflow_store) == {("continuous", "failed_validation")}


def test_a_nightly_run_over_days_without_events_fails_in_airflow_and_publishes_nothing(
    airflow_store: sa.Engine, dag_bag: Any
) -> None:
    state, tasks, _ = run_dag(dag_bag, "alignment_nightly", DAY0 + dt.timedelta(days=2, hours=2))
    assert (state, tasks) == ("failed", {"recompute": "failed"})
    assert set(statuses(airflow_store)) == {"failed_validation"}
    assert published_values(airflow_store) == 0
    assert heartbeat_outcomes(airflow_store) == {("nightly", "failed_validation")}


PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("alignment_nightly")
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()},
                  "catchup": None if dag is None else dag.catchup,
                  "start": None if dag is None else dag.start_date.isoformat()}))
"""


def _parse_nightly(airflow_home: Path, **env: str) -> dict[str, Any]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALIGNWATCH_NIGHTLY_")} | env
    result = subprocess.run([sys.executable, "-c", PARSE, str(DAGS)], capture_output=True, text=True, check=True,
                            env=environ, timeout=120)  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_the_nightly_dag_does_not_catch_up_unless_told_and_then_starts_at_the_configured_date(airflow_db: Path) -> None:
    default = _parse_nightly(airflow_db)
    assert default == {"errors": {}, "catchup": False, "start": "2026-01-01T00:00:00+00:00"}
    told = _parse_nightly(airflow_db, ALIGNWATCH_NIGHTLY_CATCHUP="true", ALIGNWATCH_NIGHTLY_START_DATE="2026-03-02")
    assert told == {"errors": {}, "catchup": True, "start": "2026-03-02T00:00:00+00:00"}
    bad = _parse_nightly(airflow_db, ALIGNWATCH_NIGHTLY_CATCHUP="sometimes")
    assert bad["catchup"] is None
    assert any("ALIGNWATCH_NIGHTLY_CATCHUP: expected true or false, not 'sometimes'" in e for e in bad["errors"].values())


def test_nightly_schedule_settings_name_the_variable_and_the_bad_value() -> None:
    assert nightly_schedule({}) == (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), False)
    assert nightly_schedule({"ALIGNWATCH_NIGHTLY_CATCHUP": "Yes"})[1] is True
    with pytest.raises(ConfigError, match=r"ALIGNWATCH_NIGHTLY_START_DATE: expected an ISO date .*'March'"):
        nightly_schedule({"ALIGNWATCH_NIGHTLY_START_DATE": "March"})
