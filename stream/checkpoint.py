"""The offsets of the consume loop, from a message read to its offset committed.

A message's offset moves through three places, all held by one :class:`Checkpoint`:

- **stored**: the message was read; its event is in the sink's open batch (or its rejection
  in quarantine, its dead letter to be sent with the batch), and ``offset + 1`` is the open
  batch's next offset for its partition (stored once per partition and poll: the last one);
- **flushed**: the open batch was taken out of the loop, its dead letters sent (all at once),
  and it is being written to the store in one transaction by the writer thread (one batch
  at most);
- **committed**: the batch's transaction committed, its dead letters were acknowledged, and
  the batch's next offsets were committed to Kafka.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from alignwatch.stream.deadletters import DeadLetter, DeadLetters
from alignwatch.stream.process import Quarantined
from alignwatch.stream.sink import FlushResult, SinkBatch

__all__ = ["Batch", "Checkpoint"]

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """A batch taken out of the loop: what to write, what to commit once written."""

    rows: SinkBatch
    offsets: dict[Any, OffsetAndMetadata]  # TopicPartition -> next offset
    messages: int
    dead_letters: list[DeadLetter]
    started: float
    write: Future[FlushResult] | None = None


@dataclass
class _Open:
    """The batch being filled by the loop."""

    offsets: dict[Any, int] = field(default_factory=dict)  # TopicPartition -> next offset
    rejected: list[tuple[str, bytes | None, Quarantined]] = field(default_factory=list)  # topic, key, record
    messages: int = 0
    started: float | None = None


class Checkpoint:
    """Owns the offsets stored, flushed and committed by one consume loop.

    ``consumer`` is the kafka-python consumer whose offsets are committed (anything with
    ``commit(offsets)``), ``dead_letters`` sends and awaits the dead letters; ``on_rejected``
    counts an event the sink turned away, ``on_committed`` a batch committed.

    Committing a batch (:meth:`seal`, then :meth:`commit`, or :meth:`commit_offsets` on
    revocation) goes in this order, and stops at the first step that fails, leaving the
    batch uncommitted (it is then redelivered, and the idempotent sink absorbs what was
    stored already):

    1. the batch's transaction has committed in the store (its ``FlushResult`` is given:
       nothing is committed before it is stored);
    2. the events the sink turned away (conflicting duplicates, rows the store refused) are
       counted and sent to the dead-letter topic;
    3. every dead letter of the batch is acknowledged by the broker;
    4. ``offset + 1`` of the batch's last message per partition is committed to Kafka;
    5. the commit is counted (``on_committed``) and the offsets are kept in ``committed``.
    """

    def __init__(
        self,
        consumer: Any,
        dead_letters: DeadLetters,
        *,
        on_rejected: Callable[[Quarantined], None] = lambda record: None,
        on_committed: Callable[[Batch], None] = lambda batch: None,
    ) -> None:
        self.consumer = consumer
        self.dead_letters = dead_letters
        self.on_rejected = on_rejected
        self.on_committed = on_committed
        self.writing: Batch | None = None
        """The flushed batch: taken out of the loop, being written, not yet committed."""
        self.committed: dict[Any, int] = {}
        """TopicPartition -> the last next offset committed by this checkpoint."""
        self._open = _Open()

    # -- stored ------------------------------------------------------------------

    def begin(self, now: float | None = None) -> float:
        """The time the open batch started, starting it now (or at monotonic time ``now``) if
        it is empty."""
        if self._open.started is None:
            self._open.started = time.monotonic() if now is None else now
        return self._open.started

    def store(self, tp: Any, offset: int, messages: int = 1) -> None:
        """Record the messages of ``tp`` up to the one at ``offset`` (``messages`` of them, read
        since the last call for ``tp``) as read into the open batch."""
        self.begin()
        self._open.offsets[tp] = offset + 1
        self._open.messages += messages

    def reject(self, topic: str, key: bytes | None, record: Quarantined) -> None:
        """A rejected message of the open batch: its dead letter is sent when the batch is
        taken, and must be acknowledged before the batch is committed."""
        self._open.rejected.append((topic, key, record))

    @property
    def pending(self) -> int:
        """Messages in the open batch."""
        return self._open.messages

    @property
    def started(self) -> float | None:
        """When the open batch got its first message (None while empty)."""
        return self._open.started

    @property
    def stored(self) -> dict[Any, int]:
        """TopicPartition -> the open batch's next offset (a copy)."""
        return dict(self._open.offsets)

    # -- flushed -----------------------------------------------------------------

    def take(self, rows: SinkBatch) -> Batch:
        """Close the open batch with the sink's ``rows`` and send its dead letters, all at once
        (the producer batches them; :meth:`seal` awaits them); the loop starts a new batch."""
        opened = self._open
        self._open = _Open()
        send = self.dead_letters.send
        return Batch(
            rows=rows,
            offsets={tp: OffsetAndMetadata(offset, "", -1) for tp, offset in opened.offsets.items()},
            messages=opened.messages,
            dead_letters=[send(topic, key, record) for topic, key, record in opened.rejected],
            started=opened.started if opened.started is not None else time.monotonic(),
        )

    def flushing(self, batch: Batch, write: Future[FlushResult]) -> None:
        """``batch`` is being written by ``write``."""
        batch.write = write
        self.writing = batch

    def drop(self) -> None:
        """Forget the flushed batch and the open one, uncommitted (they are redelivered)."""
        self.writing = None
        self._open = _Open()

    # -- committed ---------------------------------------------------------------

    def seal(self, batch: Batch, result: FlushResult) -> None:
        """Steps 2 and 3 for a batch whose transaction committed (step 1): its turned-away
        events counted and sent, every dead letter acknowledged. Raises ``BrokerError`` when
        a dead letter cannot be delivered."""
        # step 2: the turned-away events counted and dead-lettered
        for record in result.turned_away:
            self.on_rejected(record)
            if record.origin.topic is not None:
                batch.dead_letters.append(self.dead_letters.send(record.origin.topic, None, record))
        # step 3: every dead letter of the batch acknowledged
        self.dead_letters.wait(batch.dead_letters)

    def commit(self, batch: Batch) -> bool:
        """Steps 4 and 5 for a sealed batch, from the loop's thread. False when Kafka refused
        the commit (stored already: the redelivery after the rebalance is absorbed by the sink)."""
        try:  # step 4
            self.consumer.commit(batch.offsets)
        except KafkaError as exc:
            log.warning("offset commit failed (%s); messages will be redelivered and ignored as duplicates", exc)
            return False
        self._committed([batch])  # step 5
        return True

    async def commit_offsets(self, batches: list[Batch]) -> bool:
        """Steps 4 and 5 for sealed batches, together, on the consumer's network thread
        (partitions being revoked, where a blocking ``commit()`` is refused)."""
        offsets: dict[Any, OffsetAndMetadata] = {}
        for batch in batches:
            offsets.update(batch.offsets)
        try:  # step 4
            # the coroutine behind KafkaConsumer.commit(), awaited on the network thread: it
            # retries retriable errors every retry_backoff_ms until request_timeout_ms. The
            # public commit_async() is no substitute: when the coordinator is unknown (as after
            # a NotCoordinator error) its future is the coordinator lookup's, resolved before
            # the commit is sent, and kafka-python offers no public awaitable sleep for a backoff
            await self.consumer._coordinator._commit_offsets_sync_async(offsets)  # noqa: SLF001
        except KafkaError as exc:
            log.warning("offset commit on revocation failed (%s); redelivery is absorbed by the sink", exc)
            return False
        self._committed(batches)  # step 5
        return True

    def _committed(self, batches: list[Batch]) -> None:
        for batch in batches:
            for tp, offset in batch.offsets.items():
                self.committed[tp] = offset.offset
            self.on_committed(batch)
