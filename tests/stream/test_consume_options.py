"""``alignwatch consume`` options: --topic-pattern, --metrics-port, and SIGTERM with a batch pending.

Each test runs the command as a subprocess against the session's Tansu broker and a fresh
PostgreSQL store.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from helpers_stream import count_events, expected_identities, stored_identities

from alignwatch.config import Settings
from alignwatch.store import connect
from alignwatch.store.schema import quarantine
from alignwatch.stream.broker import ensure_topics, free_port
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.simulator import ProduceReport, SimMessage, messages, produce

pytestmark = pytest.mark.integration

ALIGNWATCH = str(Path(sys.executable).parent / "alignwatch")
SESSION_TIMEOUT_MS = 6000


def start_consume(bootstrap: str, store_url: str, log_path: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """``alignwatch consume`` as a subprocess (output to ``log_path``), with ALIGNWATCH_* ``env`` on top."""
    environment = {
        **os.environ,
        "ALIGNWATCH_SESSION_TIMEOUT_MS": str(SESSION_TIMEOUT_MS),
        "ALIGNWATCH_HEARTBEAT_INTERVAL_MS": str(SESSION_TIMEOUT_MS // 3),
        "ALIGNWATCH_BATCH_TIMEOUT_S": "0.5",
        **env,
    }
    command = [ALIGNWATCH, "consume", "--bootstrap-servers", bootstrap, "--store", store_url, *args]
    with open(log_path, "ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=environment)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the process if a failed assertion left it running."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def send(bootstrap: str, topic: str, sent: list[SimMessage]) -> ProduceReport:
    """Produce the messages to ``topic`` and wait for the acks."""
    producer = kafka_producer(Settings(bootstrap_servers=[bootstrap]), acks=1)
    try:
        return produce(producer, topic, sent)
    finally:
        producer.close()


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample the exporter on ``port`` serves: (name, sorted labels) -> value; empty if not up yet."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def wait_for(condition: Callable[[], Any], timeout_s: float, proc: subprocess.Popen[bytes], log_path: Path) -> Any:
    """Poll ``condition`` until it returns something truthy; fail (with the log) on timeout or early exit."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        assert proc.poll() is None, f"consume exited with {proc.returncode}:\n{log_path.read_text(errors='replace')}"
        time.sleep(0.2)
    raise AssertionError(f"not reached within {timeout_s:.0f}s:\n{log_path.read_text(errors='replace')}")


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: list[int]) -> dict[int, int | None]:
    """The group's committed offset of each partition of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: reader.committed(TopicPartition(topic, p)) for p in partitions}
    finally:
        reader.close()


def test_a_topic_pattern_consumes_every_matching_topic_and_nothing_from_a_topic_it_does_not_match(
    broker, pg_store, sim_start, tmp_path
):
    prefix = f"shop-{uuid.uuid4().hex[:8]}"
    orders, crm, other = f"{prefix}.orders", f"{prefix}.crm", f"other-{prefix}.orders"
    ensure_topics(broker.bootstrap, [orders, crm, other], partitions=2)
    batches = {
        topic: list(messages("ecommerce", seed, sim_start, 28, 300, malformed_share=0, duplicate_share=0))
        for seed, topic in enumerate((orders, crm, other), start=11)
    }
    identities = {topic: expected_identities(sent) for topic, sent in batches.items()}
    assert all(len(ids) == 300 for ids in identities.values())
    assert not identities[orders] & identities[crm] and not (identities[orders] | identities[crm]) & identities[other]
    for topic, sent in batches.items():
        send(broker.bootstrap, topic, sent)

    log = tmp_path / "consume.log"
    proc = start_consume(
        broker.bootstrap, pg_store, log,
        "--topic-pattern", rf"{prefix}\..*", "--group", f"g-{prefix}", "--idle-timeout", "4",
    )  # fmt: skip
    try:
        assert proc.wait(timeout=50) == 0, log.read_text()
    finally:
        stop(proc)

    output = log.read_text()
    assert "done: consumed 600" in output, output
    engine = connect(pg_store)
    try:
        stored = stored_identities(engine)
    finally:
        engine.dispose()
    assert len(stored) == 600
    assert set(stored) == identities[orders] | identities[crm]


def test_a_matching_topic_created_after_the_start_is_consumed_after_the_next_metadata_refresh(
    broker, pg_store, sim_start, tmp_path
):
    prefix = f"late-{uuid.uuid4().hex[:8]}"
    first, late = f"{prefix}.orders", f"{prefix}.crm"
    ensure_topics(broker.bootstrap, [first], partitions=1)
    early = list(messages("ecommerce", 21, sim_start, 28, 100, malformed_share=0, duplicate_share=0))
    later = list(messages("ecommerce", 22, sim_start, 28, 100, malformed_share=0, duplicate_share=0))
    wanted = expected_identities(early) | expected_identities(later)
    assert len(wanted) == 200
    send(broker.bootstrap, first, early)

    log = tmp_path / "consume.log"
    engine = connect(pg_store)
    proc = start_consume(
        broker.bootstrap, pg_store, log, "--topic-pattern", rf"{prefix}\..*", "--group", f"g-{prefix}",
        ALIGNWATCH_METADATA_MAX_AGE_MS="2000",
    )  # fmt: skip
    try:
        wait_for(lambda: count_events(engine) == 100, 60, proc, log)
        ensure_topics(broker.bootstrap, [late], partitions=1)  # after the consumer subscribed
        send(broker.bootstrap, late, later)
        wait_for(lambda: set(stored_identities(engine)) == wanted, 60, proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
        assert len(stored_identities(engine)) == 200  # each once
    finally:
        stop(proc)
        engine.dispose()


def test_the_metrics_port_serves_consumed_stored_and_rejected_counts_and_a_lag_gauge_per_partition(
    broker, new_topic, pg_store, sim_start, tmp_path
):
    topic = new_topic(partitions=3)
    sent = list(messages("retail", 5, sim_start, 28, 1000, malformed_share=0.03, duplicate_share=0.01))
    malformed = sum(1 for m in sent if m.kind == "malformed")
    duplicates = sum(1 for m in sent if m.kind == "duplicate")
    valid = len(expected_identities(sent))
    assert (malformed, duplicates, valid) == (30, 10, 960)
    produced = send(broker.bootstrap, topic, sent)
    assert sorted(produced.ends) == [0, 1, 2]

    port = free_port()
    log = tmp_path / "consume.log"
    proc = start_consume(
        broker.bootstrap, pg_store, log,
        "--topic", topic, "--group", f"g-{topic}", "--metrics-port", str(port), "--idle-timeout", "45",
    )  # fmt: skip
    try:

        def settled() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            samples = scrape(port)
            lags = [k for k in samples if k[0] == "alignwatch_ingest_consumer_lag_messages"]
            done = (
                samples.get(("alignwatch_ingest_events_stored_total", ())) == valid
                and samples.get(("alignwatch_ingest_events_consumed_total", ())) == len(sent)
                and len(lags) == 3
                and all(samples[k] == 0 for k in lags)
            )
            return samples if done else None

        samples = wait_for(settled, 40, proc, log)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        stop(proc)

    assert samples[("alignwatch_ingest_events_consumed_total", ())] == 1000
    assert samples[("alignwatch_ingest_events_stored_total", ())] == 960
    assert samples[("alignwatch_ingest_events_duplicates_total", ())] == 10
    rejected = {
        dict(labels)["reason"]: value
        for (name, labels), value in samples.items()
        if name == "alignwatch_ingest_events_rejected_total"
    }
    assert sum(rejected.values()) == 30
    per_reason = sa.select(quarantine.c.reason_code, sa.func.sum(quarantine.c.seen_count)).group_by(
        quarantine.c.reason_code
    )
    engine = connect(pg_store)
    try:
        with engine.connect() as conn:
            quarantined = dict(conn.execute(per_reason).all())
    finally:
        engine.dispose()
    assert {reason: value for reason, value in rejected.items() if value} == quarantined
    lag_partitions = {
        dict(labels)["partition"]
        for (name, labels), _ in samples.items()
        if name == "alignwatch_ingest_consumer_lag_messages" and dict(labels)["topic"] == topic
    }
    assert lag_partitions == {"0", "1", "2"}


def test_sigterm_with_a_pending_batch_stores_it_commits_every_partition_to_its_end_and_exits_0(
    broker, new_topic, pg_store, sim_start, tmp_path
):
    topic = new_topic(partitions=3)
    sent = list(messages("control", 8, sim_start, 28, 1500, malformed_share=0, duplicate_share=0))
    produced = send(broker.bootstrap, topic, sent)
    assert sum(produced.ends.values()) == 1500 and sorted(produced.ends) == [0, 1, 2]

    port = free_port()
    group = f"g-{topic}"
    log = tmp_path / "consume.log"
    proc = start_consume(
        broker.bootstrap, pg_store, log,
        "--topic", topic, "--group", group, "--metrics-port", str(port),
        ALIGNWATCH_BATCH_SIZE="100000", ALIGNWATCH_BATCH_TIMEOUT_S="600",
    )  # fmt: skip
    engine = connect(pg_store)
    try:
        wait_for(lambda: scrape(port).get(("alignwatch_ingest_events_consumed_total", ())) == 1500, 40, proc, log)
        time.sleep(0.5)  # the batch stays pending: nothing is written before the timeout or a stop
        assert count_events(engine) == 0
        assert scrape(port).get(("alignwatch_ingest_events_stored_total", ())) == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        stop(proc)
    try:
        assert count_events(engine) == 1500
        assert set(stored_identities(engine)) == expected_identities(sent)
    finally:
        engine.dispose()
    assert "done: consumed 1500 " in log.read_text()
    assert committed_offsets(broker.bootstrap, group, topic, sorted(produced.ends)) == produced.ends
