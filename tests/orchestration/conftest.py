"""Fixtures of the orchestration tests: one Airflow metadata DB and one PostgreSQL store
per test session (a temporary ``AIRFLOW_HOME`` with a SQLite metadata DB, the ``dags/``
folder, no examples, no delay between retries).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"


@pytest.fixture(scope="session")
def airflow_db() -> Iterator[Path]:
    """A migrated Airflow metadata DB (SQLite file in a temporary AIRFLOW_HOME).

    Airflow reads its configuration when first imported, so the environment is set here,
    before anything imports it, and restored when the session ends (processes other tests
    start must not inherit it).
    """
    if "airflow.settings" in sys.modules:
        pytest.fail("Airflow was imported before the orchestration tests configured it")
    home = Path(tempfile.mkdtemp(prefix="alignwatch-airflow-"))
    patch = pytest.MonkeyPatch()
    for name, value in {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DEFAULT_TASK_RETRY_DELAY": "0",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }.items():
        patch.setenv(name, value)
    from airflow.utils.db import upgradedb

    upgradedb()
    yield home
    patch.undo()
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def dag_bag(airflow_db: Path) -> Any:
    """The DagBag of ``dags/``."""
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS))


@pytest.fixture(scope="session")
def orchestration_store(pg_database: str) -> str:
    """The session's PostgreSQL store, migrated once."""
    from alignwatch.store import connect, upgrade

    engine = connect(pg_database)
    upgrade(engine)
    engine.dispose()
    return pg_database


@pytest.fixture
def store(orchestration_store: str) -> Iterator[sa.Engine]:
    """An engine on the session store, emptied before the test."""
    from alignwatch.store import connect

    engine = connect(orchestration_store)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE metric_values, pipeline_runs, pipeline_heartbeats, events, quarantine, hour_aggregates, aggregated_hours RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()


def _insert_events(engine: sa.Engine, events: Iterable[dict[str, Any]], ingested_at: dt.datetime) -> int:
    """Store CloudEvent dicts (as the sink would) and return how many were stored."""
    from alignwatch.store.schema import events as events_table
    from alignwatch.stream.decode import make_event
    from alignwatch.stream.rows import event_row

    rows = [
        event_row(
            make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")),
            ingested_at,
        )
        for e in events
    ]
    if rows:
        with engine.begin() as conn:
            conn.execute(events_table.insert(), rows)
    return len(rows)


def _metric_rows(engine: sa.Engine) -> list[tuple[Any, ...]]:
    """The published rows, without the run that wrote them or when."""
    from alignwatch.store.schema import metric_values as mv

    query = sa.select(
        mv.c.metric_id, mv.c.labels_key, mv.c.window, mv.c.window_start, mv.c.window_end, mv.c.value
    ).order_by(mv.c.metric_id, mv.c.labels_key, mv.c.window, mv.c.window_end)
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(query)]


@pytest.fixture
def insert_events() -> Any:
    """``insert_events(engine, cloud_event_dicts, ingested_at) -> count``."""
    return _insert_events


@pytest.fixture
def metric_rows() -> Any:
    """``metric_rows(engine)``: published rows (metric, labels, window, start, end, value)."""
    return _metric_rows


@pytest.fixture
def simulated() -> Any:
    """``simulated(start, days, events, seed=5)``: the bakery simulator's CloudEvent dicts."""
    from alignwatch.stream.simulator import simulate

    def generate(start: dt.datetime, days: int, events: int, seed: int = 5) -> list[dict[str, Any]]:
        return list(simulate("bakery", seed, start, days, events, late_share=0.0))

    return generate
