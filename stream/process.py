"""Process stage: pure functions from a raw message and its origin to what the sink stores.

No Kafka, no database: a message (value bytes, headers, where it came from) becomes either
an accepted ``Event`` or a ``Quarantined`` record carrying the reason code, the human
message, the raw bytes and the origin, ready for the dead-letter topic and the quarantine
table.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from alignwatch.stream import decode as reference
from alignwatch.stream.contract import DecodeLimits, Event, Rejection
from alignwatch.stream.encode import encode_structured
from alignwatch.stream.fastdecode import PlainEvent, decode_message, decode_plain, decode_structured

__all__ = [
    "Origin",
    "Quarantined",
    "Received",
    "classify_line",
    "classify_message",
    "classify_record",
    "dlq_headers",
    "headers_from_json",
    "headers_to_json",
    "quarantined_event",
]

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True)
class Origin:
    """Where a message came from: a Kafka topic/partition/offset or a file/line."""

    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    file: str | None = None
    line: int | None = None

    def describe(self) -> str:
        """``topic[partition]@offset`` or ``file:line``."""
        if self.topic is not None:
            return f"{self.topic}[{self.partition}]@{self.offset}"
        if self.file is not None:
            return f"{self.file}:{self.line}"
        return "<unknown>"


@dataclass(frozen=True)
class Quarantined:
    """A rejected message, kept whole with its reason and origin."""

    raw: bytes
    reason: str
    message: str
    origin: Origin
    headers: Headers = field(default_factory=list)
    source: str | None = None
    event_id: str | None = None

    @property
    def fingerprint(self) -> str:
        """sha256 over origin and raw bytes: the same message redelivered is one quarantine row."""
        digest = hashlib.sha256()
        digest.update(self.origin.describe().encode("utf-8", "backslashreplace"))
        digest.update(b"\0")
        for key, value in self.headers:
            digest.update(key.encode("utf-8", "backslashreplace") + b"=" + (value or b"") + b"\0")
        digest.update(self.raw)
        return digest.hexdigest()


class Received(NamedTuple):
    """A message as received, for a record that is accepted by the decoder but may still be
    quarantined by the sink (a conflicting duplicate, a row the store refuses). A Kafka
    ``ConsumerRecord`` serves as well: it has ``value``, ``headers``, ``topic``,
    ``partition`` and ``offset``."""

    value: bytes
    headers: Headers
    origin: Origin


def quarantined_event(event: Event, received: Any, reason: str, message: str) -> Quarantined:
    """The quarantine record of an accepted ``event`` that the sink turns away, kept with the
    bytes it arrived as. ``received`` is a :class:`Received`, a Kafka ``ConsumerRecord``, or
    None (an event built in code: its structured-mode encoding is kept, origin unknown)."""
    if received is None:
        raw, headers, origin = encode_structured(event), [], Origin()
    elif isinstance(received, Received):
        raw, headers, origin = received.value, list(received.headers), received.origin
    else:
        raw = received.value if received.value is not None else b""
        headers = [(key, value if value is not None else b"") for key, value in (received.headers or [])]
        origin = Origin(topic=received.topic, partition=received.partition, offset=received.offset)
    return Quarantined(
        raw=raw, reason=reason, message=message, origin=origin, headers=headers, source=event.source,
        event_id=event.id,
    )  # fmt: skip


def _quarantined(rejection: Rejection, raw: bytes, origin: Origin, headers: Headers) -> Quarantined:
    return Quarantined(
        raw=raw,
        reason=str(rejection.reason),
        message=rejection.message,
        origin=origin,
        headers=list(headers),
        source=getattr(rejection, "source", None),
        event_id=getattr(rejection, "event_id", None),
    )


def classify_message(
    value: bytes | None, headers: Headers | None, origin: Origin, limits: DecodeLimits
) -> Event | Quarantined:
    """Decode one Kafka message (structured or binary mode) into an event or a quarantine record."""
    raw = value if value is not None else b""
    hdrs = [(key, val if val is not None else b"") for key, val in (headers or [])]
    result = decode_message(raw, hdrs, limits)
    if isinstance(result, Rejection):
        return _quarantined(result, raw, origin, hdrs)
    return result


def classify_record(
    value: bytes | None, headers: Headers | None, topic: str, partition: int, offset: int, limits: DecodeLimits
) -> PlainEvent | Event | Quarantined:
    """``classify_message`` for the consumer's Kafka records: a plain valid event stays a
    :class:`~alignwatch.stream.fastdecode.PlainEvent` (its ``event()`` is the event
    ``classify_message`` returns), and the headers are copied and the ``Origin`` built only
    for the other records (the hot path: most records are plain and valid)."""
    if value is not None:
        plain = decode_plain(value, headers, limits)
        if plain is not None:
            return plain
    raw = value if value is not None else b""
    hdrs = [(key, val if val is not None else b"") for key, val in headers] if headers else []
    result = reference.decode_message(raw, hdrs, limits)  # what decode_message gives when the fast path declines
    if isinstance(result, Rejection):
        return _quarantined(result, raw, Origin(topic=topic, partition=partition, offset=offset), hdrs)
    return result


def classify_line(raw: bytes, origin: Origin, limits: DecodeLimits) -> Event | Quarantined:
    """Decode one JSON line (a structured-mode event) into an event or a quarantine record."""
    result = decode_structured(raw, limits)
    if isinstance(result, Rejection):
        return _quarantined(result, raw, origin, [])
    return result


def dlq_headers(record: Quarantined) -> Headers:
    """Headers of the dead-letter copy: the original headers plus reason and origin."""
    origin = record.origin
    extra: Headers = [
        ("alignwatch_reason", record.reason.encode()),
        ("alignwatch_message", record.message.encode("utf-8", "backslashreplace")[:4096]),
        ("alignwatch_origin_topic", (origin.topic or "").encode()),
        ("alignwatch_origin_partition", str(origin.partition if origin.partition is not None else "").encode()),
        ("alignwatch_origin_offset", str(origin.offset if origin.offset is not None else "").encode()),
    ]
    return [(key, value) for key, value in record.headers if not key.startswith("alignwatch_")] + extra


def headers_to_json(headers: Headers) -> list[list[str]] | None:
    """Headers as JSON-safe ``[[key, base64 value], ...]`` (None when there are none)."""
    if not headers:
        return None
    return [[key, base64.b64encode(value).decode("ascii")] for key, value in headers]


def headers_from_json(stored: list[list[str]] | None) -> Headers:
    """Inverse of ``headers_to_json``."""
    return [(key, base64.b64decode(value)) for key, value in (stored or [])]
