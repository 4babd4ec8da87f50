"""Commit on revocation, against the real Tansu broker and PostgreSQL: a consumer holding an
unwritten batch writes it and commits exactly its offsets before a second member of the group
is assigned any of its partitions, so the new owner reads none of those messages again; and a
revocation that arrives between two records of one poll commits no offset whose record is not
stored."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from helpers_stream import (
    build_consumer,
    count_events,
    expected_identities,
    id_checksum,
    read_topic,
    stored_identities,
)
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from alignwatch.store import connect
from alignwatch.stream.consumer import ConsumerOptions, IngestConsumer, kafka_consumer, kafka_producer
from alignwatch.stream.contract import DecodeLimits, RejectReason
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.simulator import messages, produce
from alignwatch.stream.sink import StoreSink

pytestmark = pytest.mark.integration

PARTITIONS = 3


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int | None]:
    """The group's committed offset per partition (OffsetFetch, without joining the group)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: reader.committed(TopicPartition(topic, p)) for p in range(PARTITIONS)}
    finally:
        reader.close()


def partitions_of(loop: IngestConsumer) -> set[int]:
    """Partitions currently assigned to the loop's consumer."""
    return {tp.partition for tp in loop.consumer.assignment()}


def wait_until(condition: Callable[[], bool], timeout_s: float) -> bool:
    """Poll ``condition`` every 50 ms until it holds or ``timeout_s`` passes; returns its last value."""
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


def test_a_revoked_pending_batch_is_stored_and_committed_before_the_new_member_is_assigned_its_partitions(
    broker, new_topic, kafka_settings, pg_store, sim_start
):
    topic = new_topic(partitions=PARTITIONS)
    group = f"g-{topic}"
    # one pending batch holds the whole topic: only a revocation or stop() writes it
    settings = kafka_settings(
        topics=[topic], consumer_group=group, batch_size=100_000, batch_timeout_s=60,
        session_timeout_ms=6000, heartbeat_interval_ms=2000,
    )  # fmt: skip
    clean = {"malformed_share": 0.0, "duplicate_share": 0.0}  # so that any duplicate is a re-read
    first_wave = list(messages("control", 31, sim_start, 28, 3_000, **clean))
    second_wave = list(messages("retail", 32, sim_start, 28, 1_500, **clean))
    assert not expected_identities(first_wave) & expected_identities(second_wave)
    engine = connect(pg_store)
    first = build_consumer(settings, engine)
    second = build_consumer(settings, engine)
    producer = kafka_producer(settings, acks=1, linger_ms=20, batch_size=1024 * 1024)
    threads: list[threading.Thread] = []
    try:
        first.subscribe([topic])
        threads.append(threading.Thread(target=first.run, daemon=True))
        threads[0].start()
        assert wait_until(lambda: partitions_of(first) == set(range(PARTITIONS)), 30)

        before = produce(producer, topic, first_wave)
        assert sum(before.ends.values()) == len(first_wave)
        assert wait_until(lambda: first.report.consumed == len(first_wave), 30)
        assert first.report.commits == 0 and count_events(engine) == 0  # held, not written
        assert committed_offsets(broker.bootstrap, group, topic) == {p: None for p in range(PARTITIONS)}

        second.subscribe([topic])
        threads.append(threading.Thread(target=second.run, daemon=True))
        threads[1].start()
        assert wait_until(lambda: bool(partitions_of(second)), 40)
        # the moment the new member holds partitions, the old one's batch is stored and committed
        assert count_events(engine) == len(first_wave)
        assert committed_offsets(broker.bootstrap, group, topic) == {
            p: before.ends.get(p, 0) for p in range(PARTITIONS)
        }
        assert first.report.commits == 1 and first.report.stored == len(first_wave)
        assert wait_until(
            lambda: partitions_of(first) | partitions_of(second) == set(range(PARTITIONS))
            and not partitions_of(first) & partitions_of(second),
            40,
        )
        taken = partitions_of(second)
        time.sleep(2)  # a new owner fetching from anything but the committed offsets would read now
        assert second.report.consumed == 0

        after = produce(producer, topic, second_wave)
        added = {p: after.ends.get(p, before.ends.get(p, 0)) - before.ends.get(p, 0) for p in range(PARTITIONS)}
        assert sum(added.values()) == len(second_wave)
        total = len(first_wave) + len(second_wave)
        assert wait_until(lambda: first.report.consumed + second.report.consumed >= total, 30)
    finally:
        producer.close()
        first.stop()
        second.stop()
        for thread in threads:
            thread.join(60)
    assert not any(thread.is_alive() for thread in threads)

    # the new owner read exactly the messages produced after it was assigned, none of the stored ones
    assert second.report.consumed == sum(added[p] for p in taken)
    assert second.report.duplicates == 0 and first.report.duplicates == 0
    assert first.report.consumed == len(first_wave) + sum(added[p] for p in set(range(PARTITIONS)) - taken)
    stored = stored_identities(engine)
    assert len(stored) == len(set(stored))
    assert id_checksum(stored) == id_checksum(expected_identities(first_wave + second_wave))
    assert committed_offsets(broker.bootstrap, group, topic) == {
        p: max(before.ends.get(p, 0), after.ends.get(p, 0)) for p in range(PARTITIONS)
    }
    engine.dispose()


class RevokingSink(StoreSink):
    """A real sink that, when its ``at``-th event is added (in the middle of a poll's records),
    has kafka-python's network thread run the loop's rebalance listener for every assigned
    partition, as a client running the listener beside the poll loop would, and notes the
    group's committed offsets and the stored keys the moment that revocation returns."""

    def __init__(self, engine: sa.Engine, at: int, bootstrap: str, group: str, topic: str) -> None:
        super().__init__(engine)
        self.at, self.bootstrap, self.group, self.topic = at, bootstrap, group, topic
        self.loop: IngestConsumer | None = None
        self.added = 0
        self.read_before = -1  # the loop's count of messages read, when the revocation came
        self.committed: dict[int, int] = {}
        self.stored: set[tuple[str, str]] = set()
        self.revoked = threading.Event()

    def add(self, event: Any, received: Any = None) -> None:
        super().add(event, received)
        self.added += 1
        if self.added == self.at:
            assert self.loop is not None
            self.read_before = self.loop.report.consumed  # counted per partition, once its records are in
            revoker = threading.Thread(target=self._revoke, daemon=True)
            revoker.start()
            revoker.join(0.5)  # the listener may act now, between two records of this poll

    def _revoke(self) -> None:
        assert self.loop is not None and self.loop.listener is not None
        consumer = self.loop.consumer
        consumer._net.run(self.loop.listener.on_partitions_revoked, set(consumer.assignment()))  # noqa: SLF001
        # what the revocation committed (commits come after the store: read the store second)
        self.committed = {tp.partition: offset for tp, offset in self.loop.checkpoint.committed.items()}
        self.stored = set(stored_identities(self.engine))
        self.revoked.set()


def identity(record: Any) -> tuple[str, str]:
    """(source, id) of a simulated message, in either Kafka mode."""
    headers = dict(record.headers or [])
    if "ce_id" in headers:
        return headers["ce_source"].decode(), headers["ce_id"].decode()
    envelope = json.loads(record.value)
    return envelope["source"], envelope["id"]


def test_a_revocation_between_two_records_of_one_poll_commits_no_offset_whose_record_is_not_stored(
    broker, new_topic, kafka_settings, pg_store, sim_start
):
    topic = new_topic(partitions=PARTITIONS)
    group = f"g-{topic}"
    # one pending batch for the whole run: only the revocation and the end write and commit
    settings = kafka_settings(topics=[topic], consumer_group=group, batch_size=100_000, batch_timeout_s=60)
    sent = list(messages("control", 41, sim_start, 28, 3_000, malformed_share=0.0, duplicate_share=0.0))
    producer = kafka_producer(settings, acks=1, linger_ms=20, batch_size=1024 * 1024)
    try:
        ends = produce(producer, topic, sent).ends
    finally:
        producer.close()
    engine = connect(pg_store)
    sink = RevokingSink(engine, 700, broker.bootstrap, group, topic)
    loop = IngestConsumer(
        kafka_consumer(settings),
        kafka_producer(settings),
        sink,
        DecodeLimits.from_settings(settings, live=True),
        PipelineMetrics(CollectorRegistry(), reasons=tuple(str(r) for r in RejectReason)),
        ConsumerOptions.from_settings(settings, max_events=len(sent)),
    )
    sink.loop = loop
    loop.subscribe([topic])
    report = loop.run()

    assert sink.revoked.wait(30)
    assert sink.added - sink.read_before >= 2  # it came after another record of the same partition
    at = {(record.partition, record.offset): identity(record) for record in read_topic(broker.bootstrap, topic, len(sent))}
    assert sum(sink.committed.values()) >= sink.at  # the revocation committed what it had written ...
    unstored = [key for (p, offset), key in at.items() if offset < sink.committed.get(p, 0) and key not in sink.stored]
    assert unstored == []  # ... and nothing beyond it
    # the run went on and ended with every event stored once and every offset committed
    assert report.consumed == len(sent) and report.commits == 2
    stored = stored_identities(engine)
    assert len(stored) == len(set(stored)) and id_checksum(stored) == id_checksum(expected_identities(sent))
    assert committed_offsets(broker.bootstrap, group, topic) == {p: ends.get(p, 0) for p in range(PARTITIONS)}
    engine.dispose()
