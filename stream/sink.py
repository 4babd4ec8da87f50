"""Sink stage: buffered, idempotent writes of events and quarantine records.

``add`` and ``quarantine`` buffer; ``flush`` writes the whole buffer in ONE transaction:
events with a bulk insert-or-ignore on (``source``, ``event_id``) (PostgreSQL
``INSERT ... ON CONFLICT DO NOTHING``, SQLite's equivalent), quarantine records with an
upsert on their fingerprint (a redelivered bad message is one row whose ``seen_count``
grows). It returns how many events were new and how many were duplicates. When the
transaction fails the buffer is kept, so the caller may retry the same batch; when it
succeeds the buffer is emptied. Replaying any batch is therefore harmless: this is what
makes at-least-once delivery exactly-once in effect.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError

from alignwatch.errors import StoreError
from alignwatch.store.schema import events, quarantine
from stream.events import ROW_COLUMNS, Event, event_row, event_values
from stream.process import Quarantined, headers_to_json

__all__ = ["FlushResult", "SinkBatch", "StoreSink", "StoreUnavailable", "utcnow"]

# rows per INSERT statement (bounded by SQLite's 32766 bound parameters: 13 columns)
_CHUNK = 2000


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class StoreUnavailable(StoreError):
    """The store could not be written right now (connection refused, server gone); retry later."""


@dataclass(frozen=True)
class FlushResult:
    """What one flush wrote."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0

    def __add__(self, other: FlushResult) -> FlushResult:
        return FlushResult(
            self.stored + other.stored, self.duplicates + other.duplicates, self.quarantined + other.quarantined
        )


@dataclass
class SinkBatch:
    """What one write stores: distinct events by (source, id), repeats seen within the batch,
    and quarantine records by fingerprint."""

    events: dict[tuple[str, str], Event] = field(default_factory=dict)
    duplicates: int = 0
    quarantine: dict[str, Quarantined] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.events) + self.duplicates + len(self.quarantine)


class StoreSink:
    """Buffered idempotent writer to the store behind ``engine``.

    ``flush`` writes the buffer and empties it. A caller that writes in another thread while
    the next batch is gathered uses ``take`` (the buffer, emptied) and ``write`` (one batch,
    one transaction; it may be retried) instead. ``write`` is safe to call from one thread
    while another calls ``add``/``quarantine``/``take``.
    """

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._dialect = engine.dialect.name
        self._batch = SinkBatch()

    def __len__(self) -> int:
        return len(self._batch)

    @property
    def pending_events(self) -> int:
        """Events buffered and not yet written."""
        return len(self._batch.events)

    def add(self, event: Event) -> None:
        """Buffer an accepted event (a repeat of a buffered (source, id) counts as a duplicate)."""
        key = (event.source, event.id)
        events = self._batch.events
        if key in events:
            self._batch.duplicates += 1
        else:
            events[key] = event

    def quarantine(self, record: Quarantined) -> None:
        """Buffer a rejected message for the quarantine table."""
        self._batch.quarantine.setdefault(record.fingerprint, record)

    def discard(self) -> None:
        """Drop the buffer without writing (its messages will be redelivered)."""
        self._batch = SinkBatch()

    def take(self) -> SinkBatch:
        """The buffer, for ``write``; the sink starts a new, empty one."""
        batch, self._batch = self._batch, SinkBatch()
        return batch

    def flush(self, also: Callable[[sa.Connection], None] | None = None) -> FlushResult:
        """Write the buffer in one transaction; StoreUnavailable (buffer kept) when the store is down.

        ``also`` runs further statements in the same transaction (e.g. marking a quarantine
        row replayed together with storing its event).
        """
        result = self.write(self._batch, also)
        self.discard()
        return result

    def write(self, batch: SinkBatch, also: Callable[[sa.Connection], None] | None = None) -> FlushResult:
        """Write ``batch`` in one transaction (StoreUnavailable when the store is down: retry it)."""
        if not batch and also is None:
            return FlushResult()
        now = self.clock()
        try:
            try:
                stored, quarantined = self._write_once(batch, also, now, safe=False)
            except _KeyTaken:  # a concurrent writer stored one of the keys meanwhile: start over
                stored, quarantined = self._write_once(batch, also, now, safe=True)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
                raise StoreUnavailable(f"store write failed: {_first_line(exc)}") from exc
            raise StoreError(f"store write failed: {_first_line(exc)}") from exc
        return FlushResult(
            stored=stored, duplicates=len(batch.events) - stored + batch.duplicates, quarantined=quarantined
        )

    def _write_once(
        self, batch: SinkBatch, also: Callable[[sa.Connection], None] | None, now: dt.datetime, *, safe: bool
    ) -> tuple[int, int]:
        with self.engine.begin() as conn:
            stored = self._insert_events(conn, batch.events, now, safe=safe)
            quarantined = self._upsert_quarantine(conn, batch.quarantine, now)
            if also is not None:
                also(conn)
        return stored, quarantined

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    def _insert_events(
        self, conn: sa.Connection, batch: dict[tuple[str, str], Event], now: dt.datetime, *, safe: bool
    ) -> int:
        if not batch:
            return 0
        if self._dialect == "postgresql" and _driver(conn) == "psycopg":
            return _copy_insert_events(conn, batch, now, safe=safe)
        rows = [event_row(event, now) for event in batch.values()]
        statement = self._insert(events).on_conflict_do_nothing(index_elements=["source", "event_id"])
        statement = statement.returning(events.c.id)
        stored = 0
        for start in range(0, len(rows), _CHUNK):
            stored += len(conn.execute(statement, rows[start : start + _CHUNK]).all())
        return stored

    def _upsert_quarantine(self, conn: sa.Connection, batch: dict[str, Quarantined], now: dt.datetime) -> int:
        if not batch:
            return 0
        rows = [_quarantine_row(fingerprint, record, now) for fingerprint, record in batch.items()]
        base = self._insert(quarantine)
        statement = base.on_conflict_do_update(
            index_elements=["fingerprint"],
            set_={"last_seen": base.excluded.last_seen, "seen_count": quarantine.c.seen_count + 1},
        )
        for start in range(0, len(rows), _CHUNK // 2):
            conn.execute(statement, rows[start : start + _CHUNK // 2])
        return len(rows)


def _driver(conn: sa.Connection) -> str:
    return conn.dialect.driver


_encode_json = msgspec.json.Encoder().encode  # compact JSON, as json.dumps(separators=(",", ":")), 7x faster
_COPY_SEPARATORS = len(ROW_COLUMNS) - 1
_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_field(value: Any) -> str:
    """One value in COPY's text format: ``\\N`` for NULL, backslash and separators escaped."""
    if value is None:
        return "\\N"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        value = _encode_json(value).decode()
    return str(value).translate(_COPY_SPECIAL)


def _copy_text(batch: list[Event], now: dt.datetime) -> bytes:
    """The rows of ``batch`` as one block of COPY text (``ROW_COLUMNS`` order).

    Built here rather than row by row through psycopg's ``write_row``, which adapts every
    value one at a time: this is the consumer's hottest loop. A line is joined as is, then
    checked: identifiers and payload JSON rarely hold a backslash, tab or line break (or a
    value that is not text), and the few lines that do are rebuilt field by field, escaped.
    """
    now_text = now.isoformat()
    lines: list[str] = []
    append = lines.append
    encode = _encode_json
    for event in batch:
        source, event_id, kind, time, subject, automation, process, touchpoint, case, actor, data, _ = (
            event_values(event, now)
        )
        try:
            line = "\t".join(
                (
                    source, event_id, kind, time.isoformat(),
                    "\\N" if subject is None else subject,
                    "\\N" if automation is None else automation,
                    "\\N" if process is None else process,
                    "\\N" if touchpoint is None else touchpoint,
                    "\\N" if case is None else case,
                    "\\N" if actor is None else actor,
                    encode(data).decode(), now_text,
                )
            )  # fmt: skip
        except TypeError:  # an identifier that is not text (a number): every field adapted below
            line = ""
        nulls = (subject, automation, process, touchpoint, case, actor).count(None)  # one "\\N" each
        if not line or line.count("\\") != nulls or "\n" in line or "\r" in line or line.count("\t") != _COPY_SEPARATORS:
            line = "\t".join(map(_copy_field, event_values(event, now)))
        append(line)
    lines.append("")
    return "\n".join(lines).encode()


KNOWN_KEYS_SQL = (
    "SELECT k.source, k.event_id "
    "FROM unnest(string_to_array(%s, chr(31)), string_to_array(%s, chr(31))) AS k(source, event_id) "
    "CROSS JOIN LATERAL (SELECT 1 FROM events e WHERE e.source = k.source AND e.event_id = k.event_id LIMIT 1) AS hit"
)
"""Which of a batch's keys are stored already. One probe of the unique index per key, whatever
the table's statistics say: as a plain join, on a table that grew since it was last analyzed,
the planner may sort or hash the whole table instead (264 ms instead of 5 ms for 2,000 keys
against 300,000 never-analyzed rows); the ``LIMIT 1`` subquery cannot be turned into such a join."""


class _KeyTaken(Exception):
    """The direct COPY met a key stored after the lookup (the transaction is aborted)."""


def _copy_insert_events(
    conn: sa.Connection, batch: dict[tuple[str, str], Event], now: dt.datetime, *, safe: bool
) -> int:
    """PostgreSQL bulk path; returns the rows inserted.

    Fast path: look up which (source, id) are already stored and COPY the others straight
    into ``events``. If a concurrent writer stored one of them in between, the COPY fails
    on the unique key and aborts the transaction: ``_KeyTaken`` tells the caller to start
    over with ``safe=True``, which COPYs into a transaction-scoped staging table and then
    runs ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. The fast path costs no extra round
    trip (no savepoint); the safe one is for that rare race.
    """
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None
    columns = ", ".join(ROW_COLUMNS)
    with raw.cursor() as cursor:
        if safe:
            cursor.execute(
                "CREATE TEMP TABLE IF NOT EXISTS alignwatch_stage_events ("
                "source text, event_id text, type text, time timestamptz, subject text, automation_id text, "
                "process_id text, touchpoint_id text, case_id text, actor_id text, data text, "
                "ingested_at timestamptz) ON COMMIT DELETE ROWS"
            )
            with cursor.copy(f"COPY alignwatch_stage_events ({columns}) FROM STDIN") as copy:
                copy.write(_copy_text(list(batch.values()), now))
            cursor.execute(
                f"INSERT INTO events ({columns}) SELECT {columns.replace('data,', 'data::json,')} "
                "FROM alignwatch_stage_events ON CONFLICT (source, event_id) DO NOTHING"
            )
            return int(cursor.rowcount)
        # the keys as two texts split on U+001F: identifiers never hold control characters
        # (the event contract refuses them; a key that did would only miss the lookup, and a
        # repeat then takes the safe path), and one text parameter is far cheaper to send
        # than a text[] (psycopg dumps arrays element by element in Python)
        cursor.execute(
            KNOWN_KEYS_SQL, ("\x1f".join([key[0] for key in batch]), "\x1f".join([key[1] for key in batch]))
        )
        known = {(source, event_id) for source, event_id in cursor.fetchall()}
        fresh = [event for key, event in batch.items() if key not in known] if known else list(batch.values())
        if not fresh:
            return 0
        try:
            with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                copy.write(_copy_text(fresh, now))
        except psycopg.errors.UniqueViolation as exc:
            raise _KeyTaken(str(exc)) from exc
        return len(fresh)


def _quarantine_row(fingerprint: str, record: Quarantined, now: dt.datetime) -> dict[str, Any]:
    origin = record.origin
    return {
        "fingerprint": fingerprint,
        "raw": record.raw,
        "headers": headers_to_json(record.headers),
        "reason_code": record.reason,
        "message": record.message,
        "origin_topic": origin.topic,
        "origin_partition": origin.partition,
        "origin_offset": origin.offset,
        "origin_file": origin.file,
        "origin_line": origin.line,
        "source": (record.source or None) and record.source[:512],
        "event_id": (record.event_id or None) and record.event_id[:256],
        "first_seen": now,
        "last_seen": now,
        "seen_count": 1,
        "status": "quarantined",
    }


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
