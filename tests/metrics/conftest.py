"""Fixtures of the metric-engine tests: stores on both backends, emptied before each test.

The stores are created once per module and emptied before each test (events, metric
values, pipeline runs), so that hand-computed fixtures run on SQLite and PostgreSQL
without paying for a new database per test.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.metrics.strategy import Strategy
from alignwatch.store import connect, upgrade

from .builders import clear, make_strategy

PG_ADMIN_URL = os.environ.get("ALIGNWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture
def strategy() -> Strategy:
    return make_strategy()


def _pg_url() -> Iterator[str]:
    name = f"alignwatch_metrics_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def module_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    """A migrated store per module, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("metrics") / "store.db"
        engine = connect(f"sqlite:///{path}")
        upgrade(engine)
        yield engine
        engine.dispose()
    else:
        for url in _pg_url():
            engine = connect(url)
            upgrade(engine)
            yield engine
            engine.dispose()


@pytest.fixture
def store(module_engine: sa.Engine) -> sa.Engine:
    """An empty store (both backends)."""
    clear(module_engine)
    return module_engine


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[sa.Engine]:
    """An empty migrated SQLite store (scenario and property tests)."""
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


