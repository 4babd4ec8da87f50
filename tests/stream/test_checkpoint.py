"""The consume loop's Checkpoint alone: offsets stored, flushed and committed, no broker.

A fake consumer records what ``commit(offsets)`` receives; a fake producer acknowledges (or
refuses) dead letters. The Kafka tests (test_kafka_ingest, test_kafka_failures,
test_rebalance_commit, test_poison_chaos) hold the same contract against a real broker.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import pytest
from kafka.errors import CommitFailedError, KafkaTimeoutError
from kafka.structs import TopicPartition

from alignwatch.errors import BrokerError
from alignwatch.stream.checkpoint import Batch, Checkpoint
from alignwatch.stream.deadletters import DeadLetters
from alignwatch.stream.process import Origin, Quarantined
from alignwatch.stream.sink import FlushResult

P0 = TopicPartition("events", 0)
P1 = TopicPartition("events", 1)
ROWS: Any = object()  # the sink's batch: the checkpoint only carries it


class FakeFuture:
    def __init__(self, error: Exception | None = None) -> None:
        self.error = error

    def get(self, timeout: float) -> None:
        if self.error is not None:
            raise self.error


class FakeProducer:
    """Acknowledges every send, or refuses the ones to ``refuse`` with a timeout."""

    def __init__(self, refuse: str | None = None) -> None:
        self.refuse = refuse
        self.sent: list[tuple[str, bytes]] = []
        self.flushes = 0

    def send(self, topic: str, *, value: bytes, key: bytes | None, headers: Any) -> FakeFuture:
        self.sent.append((topic, value))
        return FakeFuture(KafkaTimeoutError("no ack") if topic == self.refuse else None)

    def flush(self) -> None:
        self.flushes += 1


class FakeCoordinator:
    def __init__(self, owner: FakeConsumer) -> None:
        self.owner = owner

    async def _commit_offsets_sync_async(self, offsets: dict[Any, Any]) -> None:
        self.owner.commit(offsets)


class FakeConsumer:
    """Records every commit: partition -> committed next offset."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.commits: list[dict[TopicPartition, int]] = []
        self._coordinator = FakeCoordinator(self)

    def commit(self, offsets: dict[Any, Any]) -> None:
        if self.error is not None:
            raise self.error
        self.commits.append({tp: meta.offset for tp, meta in offsets.items()})


def rejected(topic: str | None = "events", offset: int = 0) -> Quarantined:
    return Quarantined(b"{}", "conflicting_duplicate", "stored already", Origin(topic, 0, offset))


def make_checkpoint(
    consumer: FakeConsumer, producer: FakeProducer | None = None
) -> tuple[Checkpoint, list[Quarantined], list[Batch]]:
    rejections: list[Quarantined] = []
    commits: list[Batch] = []
    checkpoint = Checkpoint(
        consumer,
        DeadLetters(producer or FakeProducer(), suffix=".dlq"),
        on_rejected=rejections.append,
        on_committed=commits.append,
    )
    return checkpoint, rejections, commits


def written(result: FlushResult) -> Future[FlushResult]:
    future: Future[FlushResult] = Future()
    future.set_result(result)
    return future


def test_a_committed_batch_commits_the_offset_after_the_last_message_of_each_partition() -> None:
    consumer = FakeConsumer()
    checkpoint, _, commits = make_checkpoint(consumer)
    for tp, offset in ((P0, 4), (P0, 5), (P1, 9), (P0, 6)):
        checkpoint.store(tp, offset)

    batch = checkpoint.take(ROWS)
    checkpoint.seal(batch, FlushResult(stored=4))

    assert checkpoint.commit(batch) is True
    # offset + 1 of the last message read: 6 + 1 on partition 0, 9 + 1 on partition 1
    assert consumer.commits == [{P0: 7, P1: 10}]
    assert checkpoint.committed == {P0: 7, P1: 10}
    assert commits == [batch] and batch.messages == 4


def test_nothing_is_committed_while_the_batch_is_only_stored_or_flushed() -> None:
    consumer = FakeConsumer()
    checkpoint, _, _ = make_checkpoint(consumer)
    checkpoint.store(P0, 0)
    assert checkpoint.pending == 1 and checkpoint.stored == {P0: 1}

    batch = checkpoint.take(ROWS)
    checkpoint.flushing(batch, written(FlushResult(stored=1)))

    assert checkpoint.writing is batch
    assert checkpoint.pending == 0 and checkpoint.stored == {}  # the loop starts a new batch
    assert consumer.commits == [] and checkpoint.committed == {}


def test_taking_a_batch_starts_an_empty_one_with_its_own_offsets() -> None:
    checkpoint, _, _ = make_checkpoint(FakeConsumer())
    checkpoint.store(P0, 0)
    first = checkpoint.take(ROWS)
    checkpoint.store(P0, 1)
    second = checkpoint.take(ROWS)

    assert {tp: meta.offset for tp, meta in first.offsets.items()} == {P0: 1}
    assert {tp: meta.offset for tp, meta in second.offsets.items()} == {P0: 2}
    assert checkpoint.started is None


def test_events_the_sink_turned_away_are_counted_and_dead_lettered_before_the_commit() -> None:
    producer = FakeProducer()
    consumer = FakeConsumer()
    checkpoint, rejections, _ = make_checkpoint(consumer, producer)
    checkpoint.store(P0, 0)
    checkpoint.store(P0, 1)
    batch = checkpoint.take(ROWS)
    turned_away = (rejected(offset=1), rejected(topic=None))  # an event built in code has no topic

    checkpoint.seal(batch, FlushResult(stored=1, quarantined=2, turned_away=turned_away))

    assert rejections == list(turned_away)
    assert [topic for topic, _ in producer.sent] == ["events.dlq"]  # only the one with an origin topic
    assert producer.flushes == 1 and batch.dead_letters == []  # acknowledged
    assert consumer.commits == []  # sealing commits nothing
    checkpoint.commit(batch)
    assert consumer.commits == [{P0: 2}]


def test_a_batch_sends_its_dead_letters_together_when_taken_and_awaits_them_before_the_commit() -> None:
    producer = FakeProducer()
    consumer = FakeConsumer()
    checkpoint, _, _ = make_checkpoint(consumer, producer)
    checkpoint.reject("events", None, rejected(offset=0))
    checkpoint.reject("events", b"k", rejected(offset=2))
    checkpoint.store(P0, 2, messages=3)
    assert producer.sent == []  # nothing sent while the batch is open

    batch = checkpoint.take(ROWS)
    assert [topic for topic, _ in producer.sent] == ["events.dlq", "events.dlq"] and producer.flushes == 0
    assert len(batch.dead_letters) == 2 and batch.messages == 3

    checkpoint.seal(batch, FlushResult(quarantined=2))
    assert producer.flushes == 1 and batch.dead_letters == []  # flushed once, every one acknowledged
    checkpoint.commit(batch)
    assert consumer.commits == [{P0: 3}]


def test_a_dropped_batch_sends_no_dead_letter() -> None:
    producer = FakeProducer()
    checkpoint, _, _ = make_checkpoint(FakeConsumer(), producer)
    checkpoint.reject("events", None, rejected(offset=0))
    checkpoint.store(P0, 0)
    checkpoint.drop()  # redelivered later, and rejected again then
    assert producer.sent == [] and checkpoint.take(ROWS).dead_letters == []


def test_a_dead_letter_the_broker_does_not_acknowledge_stops_the_commit() -> None:
    consumer = FakeConsumer()
    checkpoint, _, commits = make_checkpoint(consumer, FakeProducer(refuse="events.dlq"))
    checkpoint.store(P0, 3)
    checkpoint.reject("events", None, rejected(offset=3))
    batch = checkpoint.take(ROWS)

    with pytest.raises(BrokerError, match="dead-letter send failed"):
        checkpoint.seal(batch, FlushResult(quarantined=1))

    assert consumer.commits == [] and commits == []


def test_a_commit_kafka_refuses_leaves_the_batch_uncommitted_for_redelivery() -> None:
    consumer = FakeConsumer(error=CommitFailedError())
    checkpoint, _, commits = make_checkpoint(consumer)
    checkpoint.store(P0, 0)
    batch = checkpoint.take(ROWS)
    checkpoint.seal(batch, FlushResult(stored=1))

    assert checkpoint.commit(batch) is False
    assert checkpoint.committed == {} and commits == []


def test_on_revocation_the_batches_are_committed_together_the_later_offset_winning() -> None:
    consumer = FakeConsumer()
    checkpoint, _, commits = make_checkpoint(consumer)
    checkpoint.store(P0, 0)
    checkpoint.store(P1, 0)
    writing = checkpoint.take(ROWS)
    checkpoint.store(P0, 1)
    pending = checkpoint.take(ROWS)

    assert asyncio.run(checkpoint.commit_offsets([writing, pending])) is True
    # one commit: partition 0 at 1 + 1 (the pending batch's), partition 1 at 0 + 1
    assert consumer.commits == [{P0: 2, P1: 1}]
    assert commits == [writing, pending]


def test_dropping_forgets_the_open_and_the_flushed_batch_uncommitted() -> None:
    consumer = FakeConsumer()
    checkpoint, _, _ = make_checkpoint(consumer)
    checkpoint.store(P0, 0)
    checkpoint.flushing(checkpoint.take(ROWS), written(FlushResult(stored=1)))
    checkpoint.store(P0, 1)

    checkpoint.drop()

    assert checkpoint.writing is None and checkpoint.pending == 0 and checkpoint.stored == {}
    assert consumer.commits == []
