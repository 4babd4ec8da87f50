"""The exporter says when it cannot read the store: one log line (no traceback) when the
store starts failing and one when it answers again, ``alignwatch_exporter_store_up`` 0/1 and
``alignwatch_exporter_store_errors_total``; it keeps serving (HTTP 200) meanwhile."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from alignwatch.metrics.exporter import SnapshotCache, SnapshotCollector, build_collector
from alignwatch.metrics.runs import Snapshot
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store import connect, upgrade

from .conftest import REPO

BAKERY = REPO / "examples" / "bakery.yaml"
BUSINESS = {"business": "riverside_bakery"}
PG_ADMIN_URL = os.environ.get("ALIGNWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


class Exporter:
    """``alignwatch export`` as a subprocess on a free port, re-reading the store every 0.3 s."""

    def __init__(self, store_url: str, tmp_path: Path) -> None:
        self.log = tmp_path / "export.log"
        self._handle = open(self.log, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from alignwatch.cli import main; main()", "export", "--store", store_url,
             "--strategy", str(BAKERY), "--port", "0", "--refresh", "0.3"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=self._handle, text=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("ALIGNWATCH_")},
        )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line + self.log.read_text()
        self.url = line.split()[1]

    def scrape(self) -> tuple[int, dict[str, float]]:
        """(HTTP status, this business's store health samples)."""
        with urllib.request.urlopen(self.url, timeout=10) as response:  # noqa: S310 - loopback
            status, text = int(response.status), response.read().decode()
        samples = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name.startswith("alignwatch_exporter_store_") and sample.labels == BUSINESS
        }
        return status, samples

    def wait_for(self, check: Callable[[dict[str, float]], bool], timeout_s: float = 30) -> dict[str, float]:
        deadline = time.monotonic() + timeout_s
        samples: dict[str, float] = {}
        while time.monotonic() < deadline:
            status, samples = self.scrape()
            assert status == 200
            if check(samples):
                return samples
            time.sleep(0.2)
        raise AssertionError(f"store health never matched: {samples}\n{self.log.read_text()}")

    def stop(self) -> str:
        """SIGTERM; the exporter's stderr (its log lines)."""
        self.process.send_signal(signal.SIGTERM)
        self.process.communicate(timeout=15)
        self._handle.close()
        assert self.process.returncode == 0, self.log.read_text()
        return self.log.read_text()


def failure_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "cannot read the store" in line]


def recovery_lines(log: str) -> list[str]:
    return [line for line in log.splitlines() if "the store answers again" in line]


@pytest.fixture
def missing_pg_database() -> Iterator[str]:
    """URL of a PostgreSQL database that does not exist (yet); dropped at the end if created."""
    name = f"alignwatch_missing_{uuid.uuid4().hex[:10]}"
    yield sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for database in (name, f"{name}_new"):
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.integration
def test_a_missing_postgresql_database_is_logged_once_served_as_store_down_then_recovery_is_seen(
    missing_pg_database: str, tmp_path: Path
) -> None:
    exporter = Exporter(missing_pg_database, tmp_path)
    try:
        down = exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_errors_total", 0) >= 3)
        assert down["alignwatch_exporter_store_up"] == 0.0
        # the database appears, migrated (prepared under another name, then renamed at once)
        name = sa.engine.make_url(missing_pg_database).database
        admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}_new"'))
        engine = connect(sa.engine.make_url(missing_pg_database).set(database=f"{name}_new").render_as_string(False))
        upgrade(engine)
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'ALTER DATABASE "{name}_new" RENAME TO "{name}"'))
        admin.dispose()
        up = exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_up") == 1.0)
        assert up["alignwatch_exporter_store_errors_total"] >= 3
    finally:
        log = exporter.stop()
    assert "Traceback" not in log
    [failure] = failure_lines(log)  # one line for the whole failing spell, not one per retry
    assert "WARNING exporter: cannot read the store (OperationalError: connection failed:" in failure
    assert "does not exist" in failure and failure.endswith("serving no values until it answers")
    [recovery] = recovery_lines(log)
    assert "failed read(s); serving its newest snapshot" in recovery


@pytest.mark.integration
def test_a_postgresql_port_that_refuses_connections_is_store_down_with_one_line(tmp_path: Path) -> None:
    from alignwatch.stream.broker import free_port

    exporter = Exporter(f"postgresql+psycopg://postgres:hunter22@127.0.0.1:{free_port()}/alignwatch", tmp_path)
    try:
        down = exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_errors_total", 0) >= 2)
        assert down["alignwatch_exporter_store_up"] == 0.0
    finally:
        log = exporter.stop()
    assert "Traceback" not in log
    [failure] = failure_lines(log)
    assert "Connection refused" in failure
    assert "hunter22" not in log


def _migrate_and_see_it_up(url: str, exporter: Exporter) -> None:
    """Create or migrate the store at ``url``, then wait until ``exporter`` reads it."""
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_up") == 1.0)


def test_an_unmigrated_sqlite_store_is_store_down_until_it_is_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    (tmp_path / "store.db").touch()  # an empty file is an empty SQLite database
    exporter = Exporter(url, tmp_path)
    try:
        down = exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_errors_total", 0) >= 2)
        assert down["alignwatch_exporter_store_up"] == 0.0
        _migrate_and_see_it_up(url, exporter)
    finally:
        log = exporter.stop()
    assert "Traceback" not in log
    # the first spell is the unmigrated store; a read while the migrations run may see some
    # tables and not yet others (another short spell, or the same spell with another missing
    # table): an error is said once, again only when it changes, and the store ends up recovered
    failures, recoveries = failure_lines(log), recovery_lines(log)
    assert "cannot read the store (OperationalError: no such table:" in failures[0]
    assert len(recoveries) >= 1
    said = [line.split("exporter: ", 1)[1] for line in log.splitlines() if line in failures or line in recoveries]
    assert all(this != previous for previous, this in itertools.pairwise(said)), said
    assert log.rindex("the store answers again") > log.rindex("cannot read the store")


def test_a_missing_sqlite_store_is_store_down_never_created_and_up_once_created(tmp_path: Path) -> None:
    store = tmp_path / "not-yet" / "store.db"
    url = f"sqlite:///{store}"
    exporter = Exporter(url, tmp_path)
    try:
        down = exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_errors_total", 0) >= 3)
        assert down["alignwatch_exporter_store_up"] == 0.0
        assert not (tmp_path / "not-yet").exists()  # three failed reads created neither the file nor its folder
        _migrate_and_see_it_up(url, exporter)
    finally:
        log = exporter.stop()
    assert "Traceback" not in log
    assert "cannot read the store (OperationalError: unable to open database file)" in failure_lines(log)[0]
    assert log.rindex("the store answers again") > log.rindex("cannot read the store")


def test_a_store_that_is_not_a_database_is_store_down(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    path.write_bytes(b"this is not a database file " * 100)
    exporter = Exporter(f"sqlite:///{path}", tmp_path)
    try:
        exporter.wait_for(lambda s: s.get("alignwatch_exporter_store_up") == 0.0)
    finally:
        log = exporter.stop()
    [failure] = failure_lines(log)
    assert "file is not a database" in failure


def test_the_collector_of_build_collector_serves_store_health_on_a_plain_registry(tmp_path: Path) -> None:
    # as alignwatch run registers it: the health comes with every collect(), read from the cache
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = connect(url)
    try:
        registry = CollectorRegistry()
        registry.register(build_collector(engine, load_strategy(BAKERY), ttl_s=0))
        assert registry.get_sample_value("alignwatch_exporter_store_up", BUSINESS) == 0.0
        assert registry.get_sample_value("alignwatch_exporter_store_errors_total", BUSINESS) == 2.0  # two scrapes
        upgrade(engine)
        assert registry.get_sample_value("alignwatch_exporter_store_up", BUSINESS) == 1.0
        assert registry.get_sample_value("alignwatch_exporter_store_errors_total", BUSINESS) == 2.0
    finally:
        engine.dispose()


def test_the_cache_logs_a_failing_spell_once_a_new_message_again_and_the_recovery(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[Exception | None] = [
        None, OSError("store down"), OSError("store down"), OSError("store down"), RuntimeError("other\nfailure"), None,
    ]

    def loader() -> Snapshot:
        outcome = outcomes.pop(0)
        if outcome is not None:
            raise outcome
        return Snapshot()

    cache = SnapshotCache(loader, ttl_s=float("inf"))
    caplog.set_level(logging.INFO, logger="alignwatch.metrics.exporter")
    health = []
    for _ in range(6):
        cache.refresh()
        health.append((cache.health().up, cache.health().errors))
    assert health == [(True, 0), (False, 1), (False, 2), (False, 3), (False, 4), (True, 4)]
    assert [r.getMessage() for r in caplog.records] == [
        "exporter: cannot read the store (OSError: store down); serving the previous snapshot until it answers",
        "exporter: cannot read the store (RuntimeError: other failure); serving the previous snapshot until it answers",
        "exporter: the store answers again after 4 failed read(s); serving its newest snapshot",
    ]
    assert all(record.exc_info is None for record in caplog.records)


def test_without_a_health_source_the_collector_serves_no_store_health() -> None:
    registry = CollectorRegistry()
    registry.register(SnapshotCollector(Snapshot, business="b", families={}))
    assert registry.get_sample_value("alignwatch_exporter_store_up", {"business": "b"}) is None
