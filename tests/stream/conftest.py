"""Fixtures of the ingestion tests: one Tansu broker per session, fresh topics and stores."""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from alignwatch.config import Settings
from alignwatch.store import connect, upgrade
from alignwatch.stream.broker import TansuBroker, ensure_topics

# the helper module of these tests (helpers_stream.py) is imported by name
sys.path.insert(0, str(Path(__file__).parent))

# measured on Tansu: a group join takes about session_timeout_ms / 2
SESSION_TIMEOUT_MS = 6000
HEARTBEAT_INTERVAL_MS = 2000


@pytest.fixture(scope="session")
def broker() -> Iterator[TansuBroker]:
    """A Tansu broker shared by the session's Kafka tests (stopped by PID at the end)."""
    with TansuBroker() as running:
        yield running


@pytest.fixture
def new_topic(broker: TansuBroker) -> Callable[..., str]:
    """Create a fresh topic (and its dead-letter topic); returns its name."""

    def create(partitions: int = 3) -> str:
        name = f"events-{uuid.uuid4().hex[:8]}"
        ensure_topics(broker.bootstrap, [name, name + ".dlq"], partitions=partitions)
        return name

    return create


@pytest.fixture
def pg_store(fresh_pg_url: str) -> str:
    """URL of a fresh, migrated PostgreSQL store for one test."""
    engine = connect(fresh_pg_url)
    upgrade(engine)
    engine.dispose()
    return fresh_pg_url


@pytest.fixture
def kafka_settings(broker: TansuBroker) -> Callable[..., Settings]:
    """Settings for the test broker with the join-friendly timeouts, plus overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "bootstrap_servers": [broker.bootstrap],
            "session_timeout_ms": SESSION_TIMEOUT_MS,
            "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            "batch_timeout_s": 0.5,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture(scope="session")
def sim_start() -> dt.datetime:
    """Start of simulated periods: 28 days ago at midnight UTC (so no event is in the future)."""
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=28)
