"""Failure drills against the real broker and PostgreSQL: SIGKILL mid-ingest, store outage."""

from __future__ import annotations

import random
import signal
import threading
import time
import uuid

import pytest
import sqlalchemy as sa
from helpers_stream import (
    build_consumer,
    committed_offsets,
    consumer_process,
    count_events,
    expected_identities,
    id_checksum,
    quarantine_rows,
    stored_identities,
)
from prometheus_client import CollectorRegistry

from alignwatch.store import connect
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.simulator import messages, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

# short sessions so that each restart after a SIGKILL rejoins quickly (a join takes ~session/2)
SESSION_MS = 3000


def _committed_total(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    return sum(committed_offsets(bootstrap, group, topic, partitions))


def test_a_consumer_killed_at_five_random_moments_of_a_50k_ingest_loses_and_duplicates_nothing(
    broker, new_topic, kafka_settings, pg_store, sim_start, tmp_path
):
    topic = new_topic(partitions=3)
    group = f"g-{topic}"
    settings = kafka_settings(topics=[topic], consumer_group=group)
    sent = list(messages("bakery", 2024, sim_start, 28, 50_000))
    expected = expected_identities(sent)
    producer = kafka_producer(settings, acks=1, linger_ms=20, batch_size=1024 * 1024)
    produce(producer, topic, sent)
    producer.close()

    engine = connect(pg_store)
    rng = random.Random(5)
    kill_points = sorted(rng.sample(range(2_000, len(expected) - 2_000), 5))
    log = tmp_path / "consumer.log"
    for point in kill_points:
        proc = consumer_process(
            broker.bootstrap, topic, group, pg_store, log, "--batch-size", "1000", session_timeout_ms=SESSION_MS
        )
        try:
            deadline = time.monotonic() + 60
            while count_events(engine) < point and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            assert proc.poll() is None, log.read_text()
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
    final = consumer_process(
        broker.bootstrap, topic, group, pg_store, log, "--idle-timeout", "3", session_timeout_ms=SESSION_MS
    )
    assert final.wait(timeout=120) == 0, log.read_text()

    stored = stored_identities(engine)
    assert len(stored) == len(set(stored))
    assert id_checksum(stored) == id_checksum(expected)
    assert len(quarantine_rows(engine)) == sum(1 for m in sent if m.kind == "malformed")
    assert _committed_total(broker.bootstrap, group, topic, 3) == len(sent)
    assert log.read_text().count("assigned") >= 6
    engine.dispose()


@pytest.fixture
def limited_role_store(pg_store: str):  # type: ignore[no-untyped-def]
    """The fresh store plus a LOGIN role that may use it; yields (admin engine, role URL, revoke, grant)."""
    role = f"aw_outage_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(pg_store, isolation_level="AUTOCOMMIT")
    database = admin.url.database
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(sa.text(f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC'))
        conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))
        conn.execute(sa.text(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(sa.text(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    role_url = admin.url.set(username=role).render_as_string(hide_password=False)

    def revoke() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'REVOKE CONNECT ON DATABASE "{database}" FROM "{role}"'))
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})

    def grant() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'GRANT CONNECT ON DATABASE "{database}" TO "{role}"'))

    try:
        yield admin, role_url, revoke, grant
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = :r"), {"r": role})
        time.sleep(0.5)  # terminated sessions drop their temporary tables
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP OWNED BY "{role}"'))
            conn.execute(sa.text(f'DROP ROLE "{role}"'))
        admin.dispose()


def test_a_twenty_second_store_outage_mid_ingest_loses_nothing_and_commits_nothing_before_it_is_stored(
    broker, new_topic, kafka_settings, limited_role_store, sim_start
):
    admin, role_url, revoke, grant = limited_role_store
    topic = new_topic(partitions=3)
    group = f"g-{topic}"
    settings = kafka_settings(topics=[topic], consumer_group=group, batch_size=1000)
    sent = list(messages("control", 77, sim_start, 28, 30_000))
    engine = connect(role_url)
    registry = CollectorRegistry()
    loop = build_consumer(settings, engine, registry, idle_timeout_s=4.0, backoff_initial_s=0.2, backoff_max_s=2.0)
    loop.subscribe([topic])
    failures: list[BaseException] = []

    def run() -> None:
        try:
            loop.run()
        except BaseException as exc:  # surfaced by the assertion below
            failures.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    producer = kafka_producer(settings, acks=1, linger_ms=20, batch_size=1024 * 1024)
    produce(producer, topic, sent[:10_000])
    deadline = time.monotonic() + 60
    while count_events(admin) < 3_000 and time.monotonic() < deadline:
        time.sleep(0.02)

    revoke()
    outage_started = time.monotonic()
    produce(producer, topic, sent[10_000:])
    producer.close()
    time.sleep(2)  # the batch in flight when the store went away is settled (written or failing)
    stored_at_start = count_events(admin)
    committed_at_start = _committed_total(broker.bootstrap, group, topic, 3)
    while time.monotonic() - outage_started < 20:
        time.sleep(1)
        assert count_events(admin) == stored_at_start
        assert _committed_total(broker.bootstrap, group, topic, 3) == committed_at_start
    assert thread.is_alive()
    assert registry.get_sample_value("alignwatch_ingest_store_retries_total") >= 3
    # nothing beyond what is stored was committed: every committed offset is covered by a stored row
    with admin.connect() as conn:
        quarantined = conn.execute(sa.text("SELECT count(*) FROM quarantine")).scalar_one()
    assert committed_at_start <= stored_at_start + quarantined + sum(1 for m in sent[:10_000] if m.kind == "duplicate")
    grant()
    thread.join(120)
    assert not thread.is_alive()
    assert failures == []

    stored = stored_identities(admin)
    assert len(stored) == len(set(stored))
    assert id_checksum(stored) == id_checksum(expected_identities(sent))
    assert len(quarantine_rows(admin)) == sum(1 for m in sent if m.kind == "malformed")
    assert _committed_total(broker.bootstrap, group, topic, 3) == len(sent)
    engine.dispose()
