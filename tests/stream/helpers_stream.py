"""Helpers shared by the ingestion tests (imported by path-independent name)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from alignwatch.config import Settings
from alignwatch.store.schema import events, quarantine
from alignwatch.stream.consumer import ConsumerOptions, IngestConsumer, kafka_consumer, kafka_producer
from alignwatch.stream.contract import DecodeLimits, RejectReason
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.simulator import SimMessage
from alignwatch.stream.sink import StoreSink


def id_checksum(identities: Iterable[tuple[str, str]]) -> tuple[int, str]:
    """Count and order-independent sha256 over sorted (source, id) pairs."""
    pairs = sorted(set(identities))
    digest = hashlib.sha256()
    for source, event_id in pairs:
        digest.update(f"{source}\0{event_id}\n".encode())
    return len(pairs), digest.hexdigest()


def expected_identities(messages: Iterable[SimMessage]) -> set[tuple[str, str]]:
    """(source, id) of every valid event among the messages."""
    return {m.identity for m in messages if m.identity is not None}


def stored_identities(engine: sa.Engine) -> list[tuple[str, str]]:
    """(source, event_id) of every stored event (a list: duplicates would show)."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(events.c.source, events.c.event_id))]


def quarantine_rows(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every quarantine row."""
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(sa.select(quarantine))]


def build_consumer(
    settings: Settings, engine: sa.Engine, registry: CollectorRegistry | None = None, **options: Any
) -> IngestConsumer:
    """An IngestConsumer wired to the test broker and store."""
    metrics = PipelineMetrics(registry or CollectorRegistry(), reasons=tuple(str(r) for r in RejectReason))
    return IngestConsumer(
        kafka_consumer(settings),
        kafka_producer(settings),
        StoreSink(engine),
        DecodeLimits.from_settings(settings, live=True),
        metrics,
        ConsumerOptions.from_settings(settings, **options),
    )


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """The offsets ``group`` committed on each partition of ``topic`` (0 where none)."""
    from kafka import KafkaConsumer, TopicPartition

    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return [reader.committed(TopicPartition(topic, p)) or 0 for p in range(partitions)]
    finally:
        reader.close()


def read_topic(bootstrap: str, topic: str, expected: int, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``topic`` (all partitions, from the beginning), without a group."""
    import time

    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                             max_partition_fetch_bytes=16 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500)
            for messages in batch.values():
                records.extend(messages)
            if len(records) >= expected and not batch:
                break
        return records
    finally:
        consumer.close()


def consumer_process(
    bootstrap: str, topic: str, group: str, store_url: str, log_path: Any, *extra: str, session_timeout_ms: int = 6000
) -> Any:
    """Start ``alignwatch consume`` as a subprocess (stderr and stdout to ``log_path``)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "ALIGNWATCH_SESSION_TIMEOUT_MS": str(session_timeout_ms),
        "ALIGNWATCH_HEARTBEAT_INTERVAL_MS": str(session_timeout_ms // 3),
        "ALIGNWATCH_BATCH_TIMEOUT_S": "0.5",
    }
    command = [
        str(Path(sys.executable).parent / "alignwatch"), "consume",
        "--bootstrap-servers", bootstrap, "--topic", topic, "--group", group, "--store", store_url, *extra,
    ]  # fmt: skip
    handle = open(log_path, "ab")
    try:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env=env)
    finally:
        handle.close()


def last_assignment(log_path: Any) -> set[int] | None:
    """Partitions in the last assignment a consumer process logged: an ``assigned [...]`` line,
    or, when the join took longer than the session timeout (it had warned that it waits), a
    ``... partitions assigned after all: ...`` line."""
    import re
    from pathlib import Path

    marker = "partitions assigned after all: "
    assignments = [
        line.split(marker, 1)[-1]
        for line in Path(log_path).read_text(errors="replace").splitlines()
        if line.startswith("assigned") or marker in line
    ]
    if not assignments:
        return None
    return {int(p) for p in re.findall(r"\[(\d+)\]", assignments[-1])}


def count_events(engine: sa.Engine) -> int:
    """Rows in the events table."""
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())
