"""App stage: the consume loop wiring Kafka, the process stage, the sink and the health instruments.

Delivery contract (at-least-once, made exactly-once in effect by the idempotent sink):

1. poll a batch (bounded by ``batch_size`` messages and ``batch_timeout_s`` seconds);
2. classify each message (``alignwatch.stream.process``): accepted events are buffered in the sink,
   rejected ones are buffered for the quarantine table AND for ``<topic><dlq_suffix>``
   with their reason and origin in headers — a bad message never blocks its partition;
3. hand the batch to the writer thread, which writes it to the sink in one transaction,
   send the batch's dead letters (all at once: the producer batches them), and go on
   polling and decoding the next batch meanwhile. Before the next hand-off (or
   as soon as the write is done when no more messages come) wait for that write and for
   the batch's dead-letter sends to be acknowledged, then commit ``last offset + 1`` per
   partition. One batch at most is being written; nothing is committed before it is stored;
4. on a store outage the assigned partitions are paused, the same batch is retried with
   capped exponential backoff (polling keeps the group membership alive), and fetching
   resumes once it is written; nothing is lost and nothing is committed meanwhile;
5. on partition revocation and on ``stop()`` (the CLI wires SIGTERM/SIGINT to it) the batch
   being written and the pending batch are written and committed first; if the store is
   down at that moment they are dropped uncommitted and will be redelivered.

A consumer that stores nothing because its group gave it nothing says so: when it has no
partition assigned ``join_timeout_s`` (the session timeout) after it began to (re)join,
or joined with none (other members hold every partition), it logs one warning naming the
group and the broker and keeps it in ``report.waiting`` until partitions are assigned.

Auto-commit is off. Kafka transactions are not used (this design does not need them).
The offsets stored, being written and committed are held by one
:class:`~alignwatch.stream.checkpoint.Checkpoint`, whose docstring numbers the commit steps;
dead letters are sent and awaited by :class:`~alignwatch.stream.deadletters.DeadLetters`.
:func:`build_consumer` wires the loop from the settings for ``alignwatch consume`` and
``alignwatch run`` alike.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from kafka import AsyncConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from alignwatch.config import Settings
from alignwatch.errors import BrokerError
from alignwatch.stream.broker import ensure_topics
from alignwatch.stream.checkpoint import Batch, Checkpoint
from alignwatch.stream.contract import DecodeLimits
from alignwatch.stream.deadletters import DLQ_MAX_MESSAGE_BYTES, DeadLetters
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.process import Quarantined, classify_record
from alignwatch.stream.sink import FlushResult, StoreSink, StoreUnavailable

__all__ = [
    "REBALANCE_POLL_MS",
    "SWITCH_INTERVAL_S",
    "ConsumeReport",
    "ConsumerOptions",
    "IngestConsumer",
    "build_consumer",
    "kafka_consumer",
    "kafka_producer",
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
    join_timeout_s: float = 10.0  # no partition this long after (re)joining began: warn

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: Any) -> ConsumerOptions:
        """Options from the settings object, with explicit overrides (None = not given)."""
        values: dict[str, Any] = {
            "batch_size": settings.batch_size,
            "batch_timeout_s": settings.batch_timeout_s,
            "dlq_suffix": settings.dlq_suffix,
            "join_timeout_s": settings.session_timeout_ms / 1000,
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
    #: why nothing is being consumed, while the group assigns this consumer no partition
    #: (see ``IngestConsumer``); empty once partitions are assigned
    waiting: str = ""

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
        self.dead_letters = DeadLetters(
            producer, suffix=options.dlq_suffix, max_bytes=options.dlq_max_bytes, ensure_topic=ensure_topic
        )
        self.checkpoint = Checkpoint(
            consumer, self.dead_letters, on_rejected=self._count_rejected, on_committed=self._committed
        )
        self._stop = threading.Event()
        self._assigned_at: float | None = None  # idle time counts from the first assignment
        self._rebalancing = True  # from subscribing (or a revocation) to the next assignment
        self._joining_since = time.monotonic()  # when the current (re)join began
        self._assigned_none = False  # the last assignment was empty
        self._closing = False
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="alignwatch-writer")
        # held while a poll's records go into the open batch, and by the rebalance listener
        # while it writes and drops the batches: a revocation never falls between two
        # records of one poll (see _take_in)
        self._intake = threading.Lock()
        self.listener: AsyncConsumerRebalanceListener | None = None  # given to the consumer by subscribe()
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
        loop = self

        class _Listener(AsyncConsumerRebalanceListener):  # type: ignore[misc]
            async def on_partitions_revoked(self, revoked: Any) -> None:
                loop._rejoining()
                await loop._on_revoked(list(revoked))

            async def on_partitions_assigned(self, assigned: Any) -> None:
                loop._rebalancing = False
                loop._assigned_at = time.monotonic()
                loop._on_assigned(list(assigned))

            async def on_partitions_lost(self, lost: Any) -> None:
                # evicted from the group: the batches cannot be committed; they are redelivered
                loop._rejoining()
                with loop._intake:
                    loop._drop_batches()
                loop._forget(list(lost))

        self.listener = _Listener()

        self._rejoining()
        if pattern:
            self.consumer.subscribe(pattern=pattern, listener=self.listener)
        else:
            self.consumer.subscribe(topics=list(topics or []), listener=self.listener)

    # -- the group ---------------------------------------------------------------

    @property
    def group(self) -> str:
        """The consumer group (as the Kafka client was configured)."""
        return str(self._client_config().get("group_id"))

    @property
    def brokers(self) -> str:
        """The bootstrap servers, comma-separated (as the Kafka client was configured)."""
        servers = self._client_config().get("bootstrap_servers") or []
        return servers if isinstance(servers, str) else ",".join(str(server) for server in servers)

    def _client_config(self) -> dict[str, Any]:
        config = getattr(self.consumer, "config", None)
        return config if isinstance(config, dict) else {}

    def _rejoining(self) -> None:
        if not self._rebalancing:
            self._joining_since = time.monotonic()
        self._rebalancing = True

    def _on_assigned(self, assigned: list[Any]) -> None:
        names = sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned)
        if assigned:
            if self.report.waiting:
                log.warning("consumer group %r on %s: partitions assigned after all: %s",
                            self.group, self.brokers, ", ".join(names))
            else:
                log.info("assigned %s", names)
            self._assigned_none = False
            self.report.waiting = ""
            return
        # a member with no partition stores nothing until the group rebalances
        self._assigned_none = True
        self.report.waiting = (
            f"consumer group {self.group!r} on {self.brokers} assigned this consumer no partition: other members "
            "hold every partition of its topics, so it stores nothing (give this consumer a group of its own "
            "with --group, or add partitions)"
        )
        log.warning("%s", self.report.waiting)

    def _watch_join(self) -> None:
        """Warn once when the group has not assigned partitions ``join_timeout_s`` after the join began."""
        if not self._rebalancing or self.report.waiting:
            return
        waited = time.monotonic() - self._joining_since
        if waited < self.options.join_timeout_s:
            return
        self.report.waiting = (
            f"consumer group {self.group!r} on {self.brokers}: no partition assigned {waited:.0f} s after joining "
            f"began (session timeout {self.options.join_timeout_s:g} s); another member may hold the group "
            "(another alignwatch run or consume with the same group?), so nothing is stored meanwhile"
        )
        log.warning("%s", self.report.waiting)

    # -- the loop ----------------------------------------------------------------

    def run(self) -> ConsumeReport:
        """Consume until ``stop()``, ``max_events`` or ``idle_timeout_s``; then closes the
        consumer (leaving the group) and the dead-letter producer."""
        options = self.options
        checkpoint = self.checkpoint
        last_message = time.monotonic()
        last_progress = time.monotonic()
        try:
            while not self._stop.is_set():
                room = options.batch_size - checkpoint.pending
                if options.max_events is not None:
                    room = min(room, options.max_events - self.report.consumed)
                if room <= 0:
                    self._hand_off()
                    if options.max_events is not None and self.report.consumed >= options.max_events:
                        break
                    continue
                # short polls: a rebalance may empty the batch while we wait
                wait_ms = 200 if checkpoint.pending == 0 else max(1, min(200, int(self._batch_time_left() * 1000)))
                if self._rebalancing:
                    # while the group (re)joins, one long poll: kafka-python 3.0.12 drops a join
                    # that completes between two polls when a subscription or metadata change
                    # started it, and the member keeps its old partitions (seen with short polls
                    # of 200 ms against joins of exactly 15 of them). No batch is pending here:
                    # revocation wrote and committed it. Until the join is overdue the poll ends
                    # when it becomes so, for the warning to come on time (_watch_join)
                    wait_ms = REBALANCE_POLL_MS
                    if not self.report.waiting:
                        overdue_in = self._joining_since + self.options.join_timeout_s - time.monotonic()
                        wait_ms = max(1000, min(wait_ms, int(overdue_in * 1000) + 1))
                records = self.consumer.poll(timeout_ms=wait_ms, max_records=room)
                self._watch_join()
                if records:
                    self.metrics.consumed.inc(self._take_in(records))
                    last_message = time.monotonic()
                    self._update_lag()
                if checkpoint.pending and (checkpoint.pending >= options.batch_size or self._batch_time_left() <= 0):
                    self._hand_off()
                    last_message = time.monotonic()  # idle time counts from the last write too
                elif (writing := checkpoint.writing) is not None and writing.write is not None and writing.write.done():
                    self._settle()  # written while no batch filled up: commit it now
                if options.max_events is not None and self.report.consumed >= options.max_events:
                    break
                if (
                    options.idle_timeout_s is not None
                    and not checkpoint.pending
                    and checkpoint.writing is None
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
        started = self.checkpoint.started
        if started is None:
            return self.options.batch_timeout_s
        return self.options.batch_timeout_s - (time.monotonic() - started)

    def _take_in(self, polled: dict[Any, list[Any]]) -> int:
        """Classify a poll's records into the open batch, partition by partition; returns how
        many were read.

        Each clock is read once per poll (the decoder's limits see that one instant), and one
        offset per partition is stored: its last record's, after all its records are in the
        sink's batch. kafka-python 3.0.12 runs the rebalance listener on its network thread,
        but only inside a call of this thread's (``poll()`` joining the group, ``close()``),
        never while these records are handled. ``_intake`` keeps the intake whole even for a
        client that ran the listener beside this loop: the listener then waits, and takes the
        batches between two polls' records, never between two records of one poll.
        """
        checkpoint, sink, report = self.checkpoint, self.sink, self.report
        now = self.limits.now()
        limits = dataclasses.replace(self.limits, now=lambda: now)
        suffix = self.options.dlq_suffix
        read = 0
        with self._intake:
            started = checkpoint.begin(time.monotonic())
            if report.first_message_at is None:
                report.first_message_at = started
            for tp, records in polled.items():
                if not records:
                    continue
                read += len(records)
                topic = tp.topic
                if topic.endswith(suffix):
                    # a pattern subscription that also matches dead-letter topics: skip, never loop
                    checkpoint.store(tp, records[-1].offset, len(records))
                    continue
                partition = tp.partition
                for record in records:
                    result = classify_record(record.value, record.headers, topic, partition, record.offset, limits)
                    if isinstance(result, Quarantined):
                        sink.quarantine(result)
                        checkpoint.reject(topic, record.key, result)
                        self._count_rejected(result)
                    else:
                        sink.add(result, record)  # the record: kept if the sink turns the event away
                report.consumed += len(records)
                checkpoint.store(tp, records[-1].offset, len(records))
        return read

    def _count_rejected(self, record: Quarantined) -> None:
        self.metrics.rejected.labels(reason=record.reason).inc()
        self.report.rejected += 1

    def _update_lag(self) -> None:
        for tp, next_offset in self.checkpoint.stored.items():
            highwater = self.consumer.highwater(tp)
            if highwater is not None:
                self.metrics.set_lag(tp.topic, tp.partition, highwater - next_offset)

    # -- write then commit -------------------------------------------------------

    def _hand_off(self) -> None:
        """Commit the batch being written (waiting for it), then start writing the pending one."""
        if not self._settle() or not self.checkpoint.pending:
            return  # dropped (revoked, or stopping during an outage): redelivered later
        with self._intake:
            batch = self.checkpoint.take(self.sink.take())
            self.checkpoint.flushing(batch, self._writer.submit(self.sink.write, batch.rows))

    def _settle(self) -> bool:
        """Wait for the batch being written (retrying through store outages), then commit it
        (the steps of :class:`~alignwatch.stream.checkpoint.Checkpoint`).

        Returns False when it was dropped uncommitted (stopping during an outage, or the
        partitions were revoked meanwhile): it will be redelivered.
        """
        batch = self.checkpoint.writing
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
        self.checkpoint.writing = None
        self._account(result)
        self.checkpoint.seal(batch, result)
        self.checkpoint.commit(batch)
        return True

    def _account(self, result: FlushResult) -> None:
        self.report.stored += result.stored
        self.report.duplicates += result.duplicates
        self.metrics.stored.inc(result.stored)
        self.metrics.duplicates.inc(result.duplicates)

    def _write_with_retry(self, batch: Batch, exc: StoreUnavailable) -> FlushResult | None:
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
                    if self.checkpoint.writing is not batch:  # revoked meanwhile: dropped, redelivered later
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

    def _committed(self, batch: Batch) -> None:
        self.report.commits += 1
        self.report.last_commit_at = time.monotonic()
        self.metrics.batch_size.observe(batch.messages)
        self.metrics.commit_latency.observe(time.monotonic() - batch.started)
        self.metrics.last_commit.set(time.time())

    def _drop_batches(self) -> None:
        """Forget the batch being written and the pending one, uncommitted (redelivered later)."""
        self.sink.discard()
        self.checkpoint.drop()

    async def _on_revoked(self, revoked: list[Any]) -> None:
        """Write and commit the batches before the partitions go (network thread).

        The batch being written is waited for, the pending one written here; both are
        committed together. If the first cannot be stored neither is committed; if only the
        second cannot, the first is.
        """
        checkpoint = self.checkpoint
        done: list[tuple[Batch, FlushResult]] = []  # written in order; a failed one ends the list
        with self._intake:  # never between two records of one poll (see _take_in)
            try:
                writing = checkpoint.writing
                if writing is not None and writing.write is not None:
                    result = writing.write.result()  # the writer thread needs no network
                    checkpoint.seal(writing, result)  # the producer has its own thread
                    done.append((writing, result))
                if checkpoint.pending:
                    pending = checkpoint.take(self.sink.take())
                    result = self.sink.write(pending.rows)
                    checkpoint.seal(pending, result)
                    done.append((pending, result))
            except (StoreUnavailable, BrokerError) as exc:
                log.warning("partitions revoked while a batch cannot be written; left uncommitted: %s", exc)
            self._drop_batches()
        for _, result in done:
            self._account(result)  # stored, whether or not the commit below succeeds
        if done:
            await checkpoint.commit_offsets([batch for batch, _ in done])
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
        if net is not None and manager is not None and coordinator is not None and not getattr(consumer, "_closed", True):
            try:
                coordinator.close(autocommit=False, timeout_ms=consumer.config["request_timeout_ms"])
                net.run(manager.close)
            except Exception as exc:  # noqa: BLE001 - closing: close() below still releases everything
                log.warning("leaving the consumer group on close failed: %s", exc)
        consumer.close(autocommit=False)


def build_consumer(
    settings: Settings,
    engine: sa.Engine,
    metrics: PipelineMetrics,
    *,
    live: bool = True,
    options: ConsumerOptions | None = None,
    on_progress: Callable[[ConsumeReport], None] | None = None,
    partitions: int = 1,
) -> IngestConsumer:
    """The consume loop of ``alignwatch consume`` and ``alignwatch run``, wired from the
    settings and subscribed to their topics (or topic pattern); ``run()`` starts it.

    Events go to the store behind ``engine``; ``live=False`` (replays, demos) lifts the age
    limit of the decoder. With a topic pattern the dead-letter topics are not known in
    advance: each is created (with ``partitions`` partitions) before its first dead letter.
    """
    known_dlqs: set[str] = set()

    def ensure_dlq(topic: str) -> None:
        if topic not in known_dlqs:
            ensure_topics(settings.bootstrap_servers, [topic], partitions=partitions, **settings.kafka_security())
            known_dlqs.add(topic)

    loop = IngestConsumer(
        kafka_consumer(settings),
        kafka_producer(settings),
        StoreSink(engine),
        DecodeLimits.from_settings(settings, live=live),
        metrics,
        options or ConsumerOptions.from_settings(settings),
        on_progress=on_progress,
        ensure_topic=ensure_dlq if settings.topic_pattern else None,
    )
    loop.subscribe(settings.topics, settings.topic_pattern)
    return loop
