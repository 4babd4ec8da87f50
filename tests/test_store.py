"""The store's schema and migrations behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alignwatch.errors import StoreError
from alignwatch.store import connect, events, upgrade
from alignwatch.store.engine import current_revision, head_revision, require_current
from alignwatch.store.schema import labels_key, metadata


def test_migrations_build_exactly_the_declared_schema(store_engine: sa.Engine) -> None:
    with store_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_upgrade_is_idempotent(store_engine: sa.Engine) -> None:
    before, after = upgrade(store_engine)
    assert before == after == head_revision()
    require_current(store_engine)


def test_an_unmigrated_store_is_reported_with_the_fix(tmp_path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 'empty.db'}")
    assert current_revision(engine) is None
    with pytest.raises(StoreError, match="alignwatch db upgrade"):
        require_current(engine)


def test_events_are_unique_on_source_and_id(store_engine: sa.Engine) -> None:
    row = {
        "source": "shop",
        "event_id": "e1",
        "type": "customer.order",
        "time": dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC),
        "data": {"amount": 3.5},
        "ingested_at": dt.datetime(2026, 3, 1, 12, 1, tzinfo=dt.UTC),
    }
    with store_engine.begin() as conn:
        conn.execute(events.insert(), [row])
    with pytest.raises(sa.exc.IntegrityError):
        with store_engine.begin() as conn:
            conn.execute(events.insert(), [row])
    with store_engine.begin() as conn:
        conn.execute(events.insert(), [{**row, "source": "crm"}])
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 2


def test_times_come_back_as_the_same_utc_instant(store_engine: sa.Engine) -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    written = dt.datetime(2026, 3, 1, 13, 30, 15, 123456, tzinfo=cet)
    with store_engine.begin() as conn:
        conn.execute(
            events.insert(),
            [{"source": "s", "event_id": "1", "type": "t", "time": written, "data": {}, "ingested_at": written}],
        )
        read = conn.execute(sa.select(events.c.time)).scalar_one()
        later = conn.execute(
            sa.select(sa.func.count()).where(events.c.time >= dt.datetime(2026, 3, 1, 12, 30, 15, tzinfo=dt.UTC))
        ).scalar_one()
    assert read == written and read.tzinfo == dt.UTC
    assert later == 1


def test_naive_datetimes_are_refused(store_engine: sa.Engine) -> None:
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        with store_engine.begin() as conn:
            conn.execute(
                events.insert(),
                [{"source": "s", "event_id": "1", "type": "t", "time": dt.datetime(2026, 1, 1), "data": {},
                  "ingested_at": dt.datetime(2026, 1, 1)}],
            )


def test_labels_key_is_canonical() -> None:
    assert labels_key({"kpi": "csat", "business": "bakery"}) == "business=bakery,kpi=csat"
    assert labels_key({"kpi": "csat"}) == "kpi=csat"
    assert labels_key({}) == ""
