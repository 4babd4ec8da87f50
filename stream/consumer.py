"""App stage: the consume loop wiring Kafka, the process stage, the sink and the health instruments.

Delivery contract (at-least-once, made exactly-once in effect by the idempotent sink):

1. poll a batch (bounded by ``batch_size`` messages and ``batch_timeout_s`` seconds);
2. classify each message (``alignwatch.stream.process``): accepted events are buffered in the sink,
   rejected ones are buffered for the quarantine table AND sent to ``<topic><dlq_suffix>``
   with their reason and origin in headers — a bad message never blocks its partition;
3. hand the batch to the writer thread, which writes it to the sink in one transaction,
   and go on polling and decoding the next batch meanwhile. Before the next hand-off (or
   as soon as the write is done when no more messages come) wait for that write and for
   the batch's dead-letter sends to be acknowledged, then commit ``last offset + 1`` per
   partition. One batch at most is being written; nothing is committed before it is stored;
4. on a store outage the assigned partitions are paused, the same batch is retried with
   capped exponential backoff (polling keeps the group membership alive), and fetching
   resumes once it is written; nothing is lost and nothing is committed meanwhile;
5. on partition revocation and on ``stop()`` (the CLI wires SIGTERM/SIGINT to it) the batch
   being written and the pending batch are written and committed first; if the store is
   down at that moment they are dropped uncommitted and will be redelivered.

Auto-commit is off. Kafka transactions are not used (this design does not need them).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from alignwatch.config import Settings
from alignwatch.errors import BrokerError
from alignwatch.stream.contract import DecodeLimits, Event
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.process import Quarantined, classify_record, dlq_headers
from alignwatch.stream.sink import FlushResult, SinkBatch, StoreSink, StoreUnavailable

__all__ = [
    "REBALANCE_POLL_MS",
    "SWITCH_INTERVAL_S",
    "DLQ_MAX_MESSAGE_BYTES",
    "ConsumeReport",
    "ConsumerOptions",
    "IngestConsumer",
    "kafka_consumer",
    "kafka_producer",
    "reference_dead_letter",
]

log = logging.getLogger(__name__)

REBALANCE_POLL_MS = 10_000
"""How long the loop's poll may wait while the group (re)joins (see ``IngestConsumer.run``)."""

SWITCH_INTERVAL_S = 0.0005
"""Interpreter lock switch interval for a process that runs the consume loop
(``sys.setswitchinterval``). Its threads (poll and decode, the store writer, kafka-python's
network thread) take turns on the lock at every socket wait; at Python's default of 5 ms a
thread woken by the store or the broker can wait that long for the lock while decoding
runs. ``alignwatch consume`` sets this value, which measured 17 % more events/s than the
default in the ingest benchmark (docs/ingestion.md)."""


DLQ_MAX_MESSAGE_BYTES = 1_000_000
"""The largest dead letter sent whole (value plus headers). Kafka's brokers refuse larger
messages by default (``message.max.bytes``, 1,048,588 bytes); a larger rejected message is
kept whole in the quarantine table only, and a small reference record goes to the
dead-letter topic instead (see ``reference_dead_letter``)."""


def reference_dead_letter(record: Quarantined, size: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The dead letter that stands in for a message too large to send: where it came from,
    why it was rejected, its size and fingerprint (its quarantine row's), as JSON."""
    origin = record.origin
    value = {
        "alignwatch_reference": True,
        "reason": record.reason,
        "message": record.message[:1024],
        "origin": {"topic": origin.topic, "partition": origin.partition, "offset": origin.offset},
        "size_bytes": size,
        "sha256": hashlib.sha256(record.raw).hexdigest(),
        "quarantine_fingerprint": record.fingerprint,
        "kept_in": "the quarantine table (alignwatch quarantine list --reason " + record.reason + ")",
    }
    headers = [(key, val) for key, val in dlq_headers(record) if key.startswith("alignwatch_")]
    headers.append(("alignwatch_reference", b"true"))
    return json.dumps(value, ensure_ascii=True).encode(), headers


@dataclass
class _DeadLetter:
    """A dead letter sent and not yet acknowledged, with what a stand-in needs."""

    future: Any
    topic: str
    key: bytes | None
    record: Quarantined
    size: int


@dataclass(frozen=True)
class ConsumerOptions:
    """How the consume loop batches, retries and stops."""

    batch_size: int = 2000
    batch_timeout_s: float = 1.0
    dlq_suffix: str = ".dlq"
    max_events: int | None = None  # stop after this many messages (valid or not)
    idle_timeout_s: float | None = None  # stop after this long without a message
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    progress_every_s: float = 5.0
    dlq_max_bytes: int = DLQ_MAX_MESSAGE_BYTES  # larger dead letters go as a reference record

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ConsumerOptions:
        """Options from the settings object, with explicit overrides (None = not given)."""
        values: dict[str, Any] = {
            "batch_size": settings.batch_size,
            "batch_timeout_s": settings.batch_timeout_s,
            "dlq_suffix": settings.dlq_suffix,
        }
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)


@dataclass
class ConsumeReport:
    """Counts of one consume run."""

    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    commits: int = 0
    store_retries: int = 0
    started: float = field(default_factory=time.monotonic)
    first_message_at: float | None = None
    last_commit_at: float | None = None

    @property
    def elapsed_s(self) -> float:
        """Seconds since the run started."""
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Messages consumed per second."""
        return self.consumed / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def active_rate(self) -> float:
        """Messages per second from the first message received to the last commit (join excluded)."""
        if self.first_message_at is None or self.last_commit_at is None or self.last_commit_at <= self.first_message_at:
            return 0.0
        return self.consumed / (self.last_commit_at - self.first_message_at)

    def line(self) -> str:
        """One progress line."""
        return (
            f"consumed {self.consumed} ({self.rate:,.0f}/s): stored {self.stored}, "
            f"duplicates {self.duplicates}, rejected {self.rejected}, commits {self.commits}"
            + (f", store retries {self.store_retries}" if self.store_retries else "")
        )


def kafka_consumer(
    settings: Settings, *, group: str | None = None, client_id: str = "alignwatch-consumer", **overrides: Any
) -> Any:
    """A kafka-python consumer configured from the settings: auto-commit off, earliest reset."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "group_id": group or settings.consumer_group,
        "client_id": client_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": settings.session_timeout_ms,
        "heartbeat_interval_ms": settings.heartbeat_interval_ms,
        "metadata_max_age_ms": settings.metadata_max_age_ms,
        "max_poll_records": settings.batch_size,
        "fetch_max_bytes": 64 * 1024 * 1024,
        "max_partition_fetch_bytes": 8 * 1024 * 1024,
        **settings.kafka_security(),
    }
    options.update(overrides)
    try:
        return KafkaConsumer(**options)
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"cannot connect a consumer to {', '.join(settings.bootstrap_servers)}: {exc}") from exc


def kafka_producer(settings: Settings, **overrides: Any) -> Any:
    """A kafka-python producer configured from the settings (used for dead letters and the simulator)."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    options: dict[str, Any] = {
        "bootstrap_servers": list(settings.bootstrap_servers),
        "acks": "all",
        "linger_ms": 20,
        "batch_size": 512 * 1024,
        "max_request_size": max(2 * settings.max_payload_bytes, 1024 * 1024),
        **settings.kafka_security(),
    }
    options.update(overrides)
    try:
        return KafkaProducer(**options)
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"cannot connect a producer to {', '.join(settings.bootstrap_servers)}: {exc}") from exc


@dataclass
class _Batch:
    """A batch taken from the loop: what to write, what to commit once written."""

    rows: SinkBatch
    offsets: dict[Any, Any]  # TopicPartition -> OffsetAndMetadata (next offset)
    messages: int
    dead_letters: list[_DeadLetter]
    started: float
    write: Future[FlushResult] | None = None


class IngestConsumer:
    """The consume loop. Every dependency is passed in; ``run()`` returns when stopped or done.

    ``consumer`` is a kafka-python ``KafkaConsumer`` (not yet subscribed), ``producer`` a
    ``KafkaProducer`` for the dead-letter topics.
    """

    def __init__(
        self,
        consumer: Any,
        producer: Any,
        sink: StoreSink,
        limits: DecodeLimits,
        metrics: PipelineMetrics,
        options: ConsumerOptions,
        *,
        on_progress: Callable[[ConsumeReport], None] | None = None,
        ensure_topic: Callable[[str], None] | None = None,
    ) -> None:
        self.consumer = consumer
        self.producer = producer
        self.sink = sink
        self.limits = limits
        self.metrics = metrics
        self.options = options
        self.on_progress = on_progress
        self._ensure_topic = ensure_topic
        self._stop = threading.Event()
        self._offsets: dict[Any, int] = {}  # TopicPartition -> next offset to commit
        self._dlq_futures: list[_DeadLetter] = []
        self._pending = 0  # messages in the current batch
        self._batch_started: float | None = None
        self._assigned_at: float | None = None  # idle time counts from the first assignment
        self._rebalancing = True  # from subscribing (or a revocation) to the next assignment
        self._closing = False
        self._writing: _Batch | None = None  # the batch the writer thread is writing
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alignwatch-writer")
        self.report = ConsumeReport()

    # -- control -----------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to write and commit what it holds, then return (safe from signal handlers)."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stop.is_set()

    def subscribe(self, topics: list[str] | None = None, pattern: str | None = None) -> None:
        """Subscribe with the rebalance listener that writes and commits on revocation.

        kafka-python 3 runs rebalance listeners on the consumer's network thread, where a
        blocking ``commit()`` is refused; the listener is therefore asynchronous and awaits
        the coordinator's commit coroutine.
        """
        from kafka import AsyncConsumerRebalanceListener

        loop = self

        class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                loop._rebalancing = True
                await loop._on_revoked(list(revoked))

            async def on_partitions_assigned(self, assigned: Any) -> None:
                loop._rebalancing = False
                loop._assigned_at = time.monotonic()
                log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))

            async def on_partitions_lost(self, lost: Any) -> None:
                # evicted from the group: the batches cannot be committed; they are redelivered
                loop._rebalancing = True
                loop._drop_batches()
                loop._forget(list(lost))

        if pattern:
            self.consumer.subscribe(pattern=pattern, listener=_Listener())
        else:
            self.consumer.subscribe(topics=list(topics or []), listener=_Listener())

    # -- the loop ----------------------------------------------------------------

    def run(self) -> ConsumeReport:
        """Consume until ``stop()``, ``max_events`` or ``idle_timeout_s``; then closes the
        consumer (leaving the group) and the dead-letter producer."""
        options = self.options
        last_message = time.monotonic()
        last_progress = time.monotonic()
        try:
            while not self._stop.is_set():
                room = options.batch_size - self._pending
                if options.max_events is not None:
                    room = min(room, options.max_events - self.report.consumed)
                if room <= 0:
                    self._hand_off()
                    if options.max_events is not None and self.report.consumed >= options.max_events:
                        break
                    continue
                # short polls: a rebalance may empty the batch while we wait
                wait_ms = 200 if self._pending == 0 else max(1, min(200, int(self._batch_time_left() * 1000)))
                if self._rebalancing:
                    # while the group (re)joins, one long poll: kafka-python 3.0.12 drops a join
                    # that completes between two polls when a subscription or metadata change
                    # started it, and the member keeps its old partitions (seen with short polls
                    # of 200 ms against joins of exactly 15 of them). No batch is pending here:
                    # revocation wrote and committed it
                    wait_ms = REBALANCE_POLL_MS
                records = self.consumer.poll(timeout_ms=wait_ms, max_records=room)
                got = 0
                for tp, messages in records.items():
                    for message in messages:
                        self._handle(tp, message)
                    got += len(messages)
                if got:
                    self.metrics.consumed.inc(got)
                    last_message = time.monotonic()
                    self._update_lag()
                if self._pending and (self._pending >= options.batch_size or self._batch_time_left() <= 0):
                    self._hand_off()
                    last_message = time.monotonic()  # idle time counts from the last write too
                elif self._writing is not None and self._writing.write is not None and self._writing.write.done():
                    self._settle()  # written while no batch filled up: commit it now
                if options.max_events is not None and self.report.consumed >= options.max_events:
                    break
                if (
                    options.idle_timeout_s is not None
                    and not self._pending
                    and self._writing is None
                    and self._assigned_at is not None
                    and time.monotonic() - max(last_message, self._assigned_at) >= options.idle_timeout_s
                ):
                    break
                if self.on_progress and time.monotonic() - last_progress >= options.progress_every_s:
                    last_progress = time.monotonic()
                    self.on_progress(self.report)
            self._hand_off()
            self._settle()
        finally:
            self._close()
        return self.report

    def _batch_time_left(self) -> float:
        if self._batch_started is None:
            return self.options.batch_timeout_s
        return self.options.batch_timeout_s - (time.monotonic() - self._batch_started)

    def _handle(self, tp: Any, message: Any) -> None:
        if self._batch_started is None:
            self._batch_started = time.monotonic()
            if self.report.first_message_at is None:
                self.report.first_message_at = self._batch_started
        if message.topic.endswith(self.options.dlq_suffix):
            # a pattern subscription that also matches dead-letter topics: skip, never loop
            self._offsets[tp] = message.offset + 1
            self._pending += 1
            return
        result = classify_record(
            message.value, message.headers, message.topic, message.partition, message.offset, self.limits
        )
        if isinstance(result, Quarantined):
            self.sink.quarantine(result)
            self._send_dead_letter(message.topic, message.key, result)
            self.metrics.rejected.labels(reason=result.reason).inc()
            self.report.rejected += 1
        else:
            assert isinstance(result, Event)
            self.sink.add(result, message)  # the record: kept if the sink turns the event away
        self.report.consumed += 1
        self._pending += 1
        self._offsets[tp] = message.offset + 1

    def _send_dead_letter(
        self, topic: str, key: bytes | None, record: Quarantined, into: list[_DeadLetter] | None = None
    ) -> None:
        """Send ``record`` to ``<topic><dlq_suffix>``: whole when it fits the dead-letter
        topic, else as a reference record (the quarantine row keeps it whole)."""
        from kafka.errors import MessageSizeTooLargeError

        dlq = topic + self.options.dlq_suffix
        if self._ensure_topic is not None:
            self._ensure_topic(dlq)
        headers = dlq_headers(record)
        size = len(record.raw) + sum(len(name) + len(value) for name, value in headers) + len(key or b"")
        future = None
        if size <= self.options.dlq_max_bytes:
            try:
                future = self.producer.send(dlq, value=record.raw, key=key, headers=headers)
            except MessageSizeTooLargeError:
                future = None
        if future is None:
            value, headers = reference_dead_letter(record, size)
            future = self.producer.send(dlq, value=value, key=key, headers=headers)
            size = 0  # a reference: nothing smaller to fall back to
        (self._dlq_futures if into is None else into).append(_DeadLetter(future, topic, key, record, size))

    def _send_turned_away(self, result: FlushResult, into: list[_DeadLetter]) -> None:
        """Dead letters and counts for the events the sink quarantined (conflicting
        duplicates, rows the store refused); sent before the batch is committed."""
        for record in result.turned_away:
            self.metrics.rejected.labels(reason=record.reason).inc()
            self.report.rejected += 1
            if record.origin.topic is not None:
                self._send_dead_letter(record.origin.topic, None, record, into)

    def _update_lag(self) -> None:
        for tp, next_offset in self._offsets.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                self.metrics.set_lag(tp.topic, tp.partition, highwater - next_offset)

    # -- write then commit -------------------------------------------------------

    def _take(self) -> _Batch:
        """The pending batch, taken out of the loop (the loop starts a new one)."""
        from kafka.structs import OffsetAndMetadata

        batch = _Batch(
            rows=self.sink.take(),
            offsets={tp: OffsetAndMetadata(offset, "", -1) for tp, offset in self._offsets.items()},
            messages=self._pending,
            dead_letters=self._dlq_futures,
            started=self._batch_started if self._batch_started is not None else time.monotonic(),
        )
        self._pending = 0
        self._batch_started = None
        self._offsets = {}
        self._dlq_futures = []
        return batch

    def _hand_off(self) -> None:
        """Commit the batch being written (waiting for it), then start writing the pending one."""
        if not self._settle() or not self._pending:
            return  # dropped (revoked, or stopping during an outage): redelivered later
        batch = self._take()
        batch.write = self._writer.submit(self.sink.write, batch.rows)
        self._writing = batch

    def _settle(self) -> bool:
        """Wait for the batch being written (retrying through store outages), then commit it.

        Returns False when it was dropped uncommitted (stopping during an outage, or the
        partitions were revoked meanwhile): it will be redelivered.
        """
        batch = self._writing
        if batch is None:
            return True
        assert batch.write is not None
        try:
            result = batch.write.result()
        except StoreUnavailable as exc:
            retried = self._write_with_retry(batch, exc)
            if retried is None:
                return False
            result = retried
        self._writing = None
        self._account(result)
        self._send_turned_away(result, batch.dead_letters)
        self._wait_dead_letters(batch.dead_letters)
        self._commit(batch)
        return True

    def _account(self, result: FlushResult) -> None:
        self.report.stored += result.stored
        self.report.duplicates += result.duplicates
        self.metrics.stored.inc(result.stored)
        self.metrics.duplicates.inc(result.duplicates)

    def _write_with_retry(self, batch: _Batch, exc: StoreUnavailable) -> FlushResult | None:
        delay = self.options.backoff_initial_s
        paused: list[Any] = []
        try:
            while True:
                self.metrics.store_retries.inc()
                self.report.store_retries += 1
                if self._stop.is_set():
                    log.warning("store unavailable while stopping; batches left uncommitted: %s", exc)
                    self._drop_batches()
                    return None
                if not paused:
                    paused = list(self.consumer.assignment())
                    self.consumer.pause(*paused)
                log.warning("store unavailable, retrying in %.1fs: %s", delay, exc)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    # keeps the group membership alive; paused partitions return nothing
                    wait_ms = max(1, int(min(0.5, deadline - time.monotonic()) * 1000))
                    for tp, messages in self.consumer.poll(timeout_ms=wait_ms).items():
                        # only partitions assigned by a rebalance meanwhile (not paused) get
                        # here: rewind them, they will be read again after the outage
                        self.consumer.seek(tp, messages[0].offset)
                    if self._writing is not batch:  # revoked meanwhile: dropped, redelivered later
                        return None
                delay = min(delay * 2, self.options.backoff_max_s)
                try:
                    return self.sink.write(batch.rows)
                except StoreUnavailable as again:
                    exc = again
        finally:
            if paused:
                still = [tp for tp in paused if tp in self.consumer.assignment()]
                if still:
                    self.consumer.resume(*still)

    def _wait_dead_letters(self, futures: list[_DeadLetter]) -> None:
        """Wait until every dead letter is acknowledged; one the broker refuses as too large
        is sent again as a reference record (its quarantine row keeps it whole)."""
        from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

        if not futures:
            return
        self.producer.flush()
        for letter in futures:
            try:
                letter.future.get(timeout=30)
            except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
                if not letter.size:
                    raise BrokerError(f"dead-letter send failed: {exc}") from exc
                log.warning("dead letter from %s refused as too large (%s); sending a reference record",
                            letter.record.origin.describe(), exc)  # fmt: skip
                value, headers = reference_dead_letter(letter.record, letter.size)
                retry = self.producer.send(letter.topic + self.options.dlq_suffix, value=value, key=letter.key,
                                           headers=headers)  # fmt: skip
                try:
                    retry.get(timeout=30)
                except KafkaError as again:
                    raise BrokerError(f"dead-letter send failed: {again}") from again
            except KafkaError as exc:
                raise BrokerError(f"dead-letter send failed: {exc}") from exc
        futures.clear()

    def _committed(self, batch: _Batch) -> None:
        self.report.commits += 1
        self.report.last_commit_at = time.monotonic()
        self.metrics.batch_size.observe(batch.messages)
        self.metrics.commit_latency.observe(time.monotonic() - batch.started)
        self.metrics.last_commit.set(time.time())

    def _commit(self, batch: _Batch) -> None:
        from kafka.errors import KafkaError

        try:
            self.consumer.commit(batch.offsets)
        except KafkaError as exc:
            # stored already; the redelivery after the rebalance is absorbed by the sink
            log.warning("offset commit failed (%s); messages will be redelivered and ignored as duplicates", exc)
            return
        self._committed(batch)

    def _drop_batches(self) -> None:
        """Forget the batch being written and the pending one, uncommitted (redelivered later)."""
        self.sink.discard()
        self._writing = None
        self._dlq_futures = []
        self._pending = 0
        self._batch_started = None
        self._offsets = {}

    async def _on_revoked(self, revoked: list[Any]) -> None:
        """Write and commit the batches before the partitions go (network thread).

        The batch being written is waited for, the pending one written here; both are
        committed together. If the first cannot be stored neither is committed; if only the
        second cannot, the first is.
        """
        from kafka.errors import KafkaError

        done: list[tuple[_Batch, FlushResult]] = []  # written in order; a failed one ends the list
        try:
            writing = self._writing
            if writing is not None and writing.write is not None:
                result = writing.write.result()  # the writer thread needs no network
                self._send_turned_away(result, writing.dead_letters)
                self._wait_dead_letters(writing.dead_letters)  # the producer has its own thread
                done.append((writing, result))
            if self._pending:
                pending = self._take()
                result = self.sink.write(pending.rows)
                self._send_turned_away(result, pending.dead_letters)
                self._wait_dead_letters(pending.dead_letters)
                done.append((pending, result))
        except (StoreUnavailable, BrokerError) as exc:
            log.warning("partitions revoked while a batch cannot be written; left uncommitted: %s", exc)
        self._drop_batches()
        for _, result in done:
            self._account(result)  # stored, whether or not the commit below succeeds
        if done:
            offsets: dict[Any, Any] = {}
            for batch, _ in done:
                offsets.update(batch.offsets)
            try:
                # the coroutine behind KafkaConsumer.commit(), awaited on the network thread: it
                # retries retriable errors every retry_backoff_ms until request_timeout_ms. The
                # public commit_async() is no substitute: when the coordinator is unknown (as after
                # a NotCoordinator error) its future is the coordinator lookup's, resolved before
                # the commit is sent, and kafka-python offers no public awaitable sleep for a backoff
                await self.consumer._coordinator._commit_offsets_sync_async(offsets)  # noqa: SLF001
            except KafkaError as exc:
                log.warning("offset commit on revocation failed (%s); redelivery is absorbed by the sink", exc)
            else:
                for batch, _ in done:
                    self._committed(batch)
        self._forget(revoked)

    def _forget(self, partitions: list[Any]) -> None:
        if not self._closing:  # keep the last lag readings of a consumer that stops
            for tp in partitions:
                self.metrics.forget_partition(tp.topic, tp.partition)

    def _close(self) -> None:
        self._closing = True
        self._writer.shutdown(wait=True)
        try:
            self.producer.close(timeout=10)  # flushes pending dead letters first
        except Exception as exc:  # noqa: BLE001 - closing: report and go on
            log.warning("producer close failed: %s", exc)
        self._close_consumer(self.consumer)

    @staticmethod
    def _close_consumer(consumer: Any) -> None:
        """Close the consumer without racing its network thread.

        kafka-python 3.0.12's ``KafkaConsumer.close()`` closes the broker connections from the
        calling thread while the client's network thread may be reading from one of them: that
        read then finds the socket gone and logs ``'NoneType' object has no attribute 'recv'``
        with a traceback at the exit of a clean run. So the group is left first (revocation
        listener, LeaveGroup: the group rebalances at once), then the network thread closes
        its own connections, then ``close()`` stops that thread.
        """
        net, manager = getattr(consumer, "_net", None), getattr(consumer, "_manager", None)
        coordinator = getattr(consumer, "_coordinator", None)
        if None not in (net, manager, coordinator) and not getattr(consumer, "_closed", True):
            try:
                coordinator.close(autocommit=False, timeout_ms=consumer.config["request_timeout_ms"])
                net.run(manager.close)
            except Exception as exc:  # noqa: BLE001 - closing: close() below still releases everything
                log.warning("leaving the consumer group on close failed: %s", exc)
        consumer.close(autocommit=False)
