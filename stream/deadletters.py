"""Dead letters: a rejected message sent to ``<topic><dlq_suffix>`` with its reason and origin
in headers, and acknowledged by the broker before the offsets behind it are committed."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from alignwatch.errors import BrokerError
from alignwatch.stream.process import Quarantined, dlq_headers

__all__ = ["DLQ_MAX_MESSAGE_BYTES", "DeadLetter", "DeadLetters", "reference_dead_letter"]

log = logging.getLogger(__name__)

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
class DeadLetter:
    """A dead letter sent and not yet acknowledged, with what a stand-in needs."""

    future: Any
    topic: str
    key: bytes | None
    record: Quarantined
    size: int  # 0 for a reference record: nothing smaller to fall back to


class DeadLetters:
    """Sends dead letters through ``producer`` (a kafka-python ``KafkaProducer``) and waits
    for their acknowledgement. ``ensure_topic`` creates a dead-letter topic before its first
    use (pattern subscriptions, whose topics are not known in advance)."""

    def __init__(
        self,
        producer: Any,
        *,
        suffix: str,
        max_bytes: int = DLQ_MAX_MESSAGE_BYTES,
        ensure_topic: Callable[[str], None] | None = None,
    ) -> None:
        self.producer = producer
        self.suffix = suffix
        self.max_bytes = max_bytes
        self._ensure_topic = ensure_topic

    def send(self, topic: str, key: bytes | None, record: Quarantined) -> DeadLetter:
        """Send ``record`` to ``<topic><suffix>``: whole when it fits the dead-letter topic,
        else as a reference record (the quarantine row keeps it whole). Does not wait: the
        producer batches what is sent together, and :meth:`wait` awaits the acknowledgements.
        Raises ``BrokerError`` when the producer refuses the send."""
        dlq = topic + self.suffix
        if self._ensure_topic is not None:
            self._ensure_topic(dlq)
        headers = dlq_headers(record)
        size = len(record.raw) + sum(len(name) + len(value) for name, value in headers) + len(key or b"")
        future = None
        try:
            if size <= self.max_bytes:
                try:
                    future = self.producer.send(dlq, value=record.raw, key=key, headers=headers)
                except MessageSizeTooLargeError:
                    future = None
            if future is None:
                value, headers = reference_dead_letter(record, size)
                future = self.producer.send(dlq, value=value, key=key, headers=headers)
                size = 0
        except KafkaError as exc:  # e.g. no metadata for the topic within max_block_ms
            raise BrokerError(f"dead-letter send failed: {exc}") from exc
        return DeadLetter(future, topic, key, record, size)

    def wait(self, letters: list[DeadLetter]) -> None:
        """Wait until every dead letter is acknowledged, then empty ``letters``; one the broker
        refuses as too large is sent again as a reference record (its quarantine row keeps it
        whole). Raises ``BrokerError`` when one cannot be delivered."""
        if not letters:
            return
        self.producer.flush()
        for letter in letters:
            try:
                letter.future.get(timeout=30)
            except (MessageSizeTooLargeError, RecordListTooLargeError) as exc:
                if not letter.size:
                    raise BrokerError(f"dead-letter send failed: {exc}") from exc
                log.warning("dead letter from %s refused as too large (%s); sending a reference record",
                            letter.record.origin.describe(), exc)  # fmt: skip
                value, headers = reference_dead_letter(letter.record, letter.size)
                retry = self.producer.send(letter.topic + self.suffix, value=value, key=letter.key, headers=headers)
                try:
                    retry.get(timeout=30)
                except KafkaError as again:
                    raise BrokerError(f"dead-letter send failed: {again}") from again
            except KafkaError as exc:
                raise BrokerError(f"dead-letter send failed: {exc}") from exc
        letters.clear()
