"""Shared fixtures: stores on SQLite and on the real PostgreSQL at 127.0.0.1:5432.

PostgreSQL tests create a fresh database for the test session and drop it afterwards;
they never touch data they did not create.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.store import connect, upgrade

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
PG_ADMIN_URL = os.environ.get("ALIGNWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` are collected first (otherwise in their usual order), so the
    parallel tier of ``make test`` starts its long tests early instead of ending on them."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


def _pg_database(prefix: str) -> Iterator[str]:
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database created for this test session (dropped at the end)."""
    yield from _pg_database("alignwatch_test")


@pytest.fixture
def fresh_pg_url() -> Iterator[str]:
    """URL of a PostgreSQL database created for one test (dropped at the end)."""
    yield from _pg_database("alignwatch_t")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty, migrated store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        yield url
    else:
        yield from _migrated_pg()


def _migrated_pg() -> Iterator[str]:
    for url in _pg_database("alignwatch_t"):
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        yield url


@pytest.fixture
def store_engine(store_url: str) -> Iterator[sa.Engine]:
    """An engine on a migrated store, on SQLite and on PostgreSQL."""
    engine = connect(store_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def module_stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, sa.Engine]]:
    """Engines on a migrated SQLite store and a migrated PostgreSQL store, shared by one test
    module (for property tests that write many examples into the same stores)."""
    sqlite_engine = connect(f"sqlite:///{tmp_path_factory.mktemp('stores') / 'store.db'}")
    upgrade(sqlite_engine)
    for url in _migrated_pg():
        pg_engine = connect(url)
        try:
            yield {"sqlite": sqlite_engine, "postgresql": pg_engine}
        finally:
            pg_engine.dispose()
            sqlite_engine.dispose()
