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
from dataclasses import dataclass
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError

from alignwatch.errors import StoreError
from alignwatch.store.schema import events, quarantine
from stream.events import ROW_COLUMNS, Event, event_row, event_values
from stream.process import Quarantined, headers_to_json

__all__ = ["FlushResult", "StoreSink", "StoreUnavailable", "utcnow"]

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


class StoreSink:
    """Buffered idempotent writer to the store behind ``engine``."""

    def __init__(self, engine: sa.Engine, *, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.engine = engine
        self.clock = clock
        self._dialect = engine.dialect.name
        self._events: dict[tuple[str, str], Event] = {}
        self._batch_duplicates = 0
        self._quarantine: dict[str, Quarantined] = {}

    def __len__(self) -> int:
        return len(self._events) + self._batch_duplicates + len(self._quarantine)

    @property
    def pending_events(self) -> int:
        """Events buffered and not yet written."""
        return len(self._events)

    def add(self, event: Event) -> None:
        """Buffer an accepted event (a repeat of a buffered (source, id) counts as a duplicate)."""
        key = (event.source, event.id)
        if key in self._events:
            self._batch_duplicates += 1
        else:
            self._events[key] = event

    def quarantine(self, record: Quarantined) -> None:
        """Buffer a rejected message for the quarantine table."""
        self._quarantine.setdefault(record.fingerprint, record)

    def discard(self) -> None:
        """Drop the buffer without writing (its messages will be redelivered)."""
        self._events.clear()
        self._quarantine.clear()
        self._batch_duplicates = 0

    def flush(self, also: Callable[[sa.Connection], None] | None = None) -> FlushResult:
        """Write the buffer in one transaction; StoreUnavailable (buffer kept) when the store is down.

        ``also`` runs further statements in the same transaction (e.g. marking a quarantine
        row replayed together with storing its event).
        """
        if not self._events and not self._quarantine and not self._batch_duplicates and also is None:
            return FlushResult()
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                stored = self._insert_events(conn, now)
                quarantined = self._upsert_quarantine(conn, now)
                if also is not None:
                    also(conn)
        except (OperationalError, DBAPIError) as exc:
            if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
                raise StoreUnavailable(f"store write failed: {_first_line(exc)}") from exc
            raise StoreError(f"store write failed: {_first_line(exc)}") from exc
        result = FlushResult(
            stored=stored,
            duplicates=len(self._events) - stored + self._batch_duplicates,
            quarantined=quarantined,
        )
        self.discard()
        return result

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    def _insert_events(self, conn: sa.Connection, now: dt.datetime) -> int:
        if not self._events:
            return 0
        if self._dialect == "postgresql" and _driver(conn) == "psycopg":
            return _copy_insert_events(conn, self._events, now)
        rows = [event_row(event, now) for event in self._events.values()]
        statement = self._insert(events).on_conflict_do_nothing(index_elements=["source", "event_id"])
        statement = statement.returning(events.c.id)
        stored = 0
        for start in range(0, len(rows), _CHUNK):
            stored += len(conn.execute(statement, rows[start : start + _CHUNK]).all())
        return stored

    def _upsert_quarantine(self, conn: sa.Connection, now: dt.datetime) -> int:
        if not self._quarantine:
            return 0
        rows = [_quarantine_row(fingerprint, record, now) for fingerprint, record in self._quarantine.items()]
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
    lines = []
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


def _copy_insert_events(conn: sa.Connection, batch: dict[tuple[str, str], Event], now: dt.datetime) -> int:
    """PostgreSQL bulk path; returns the rows inserted.

    Fast path: look up which (source, id) are already stored, COPY the others straight into
    ``events`` inside a savepoint. If a concurrent writer stored one of them meanwhile (a
    unique violation), roll back to the savepoint and take the safe path: COPY into a
    transaction-scoped staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.
    """
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None
    columns = ", ".join(ROW_COLUMNS)
    with raw.cursor() as cursor:
        # the keys as two texts split on U+001F: identifiers never hold control characters
        # (the event contract refuses them; a key that did would only miss the lookup, and a
        # repeat then takes the unique-violation path below), and one text parameter is far
        # cheaper to send than a text[] (psycopg dumps arrays element by element in Python)
        cursor.execute(
            "SELECT e.source, e.event_id FROM events e "
            "JOIN unnest(string_to_array(%s, chr(31)), string_to_array(%s, chr(31))) AS k(source, event_id) "
            "USING (source, event_id)",
            ("\x1f".join([key[0] for key in batch]), "\x1f".join([key[1] for key in batch])),
        )
        known = {(source, event_id) for source, event_id in cursor.fetchall()}
        fresh = [event for key, event in batch.items() if key not in known] if known else list(batch.values())
        if not fresh:
            return 0
        text = _copy_text(fresh, now)
        try:
            with raw.transaction(), cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                copy.write(text)  # the transaction block is a savepoint inside the sink's transaction
            return len(fresh)
        except psycopg.errors.UniqueViolation:
            pass
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS alignwatch_stage_events ("
            "source text, event_id text, type text, time timestamptz, subject text, automation_id text, "
            "process_id text, touchpoint_id text, case_id text, actor_id text, data text, ingested_at timestamptz"
            ") ON COMMIT DELETE ROWS"
        )
        with cursor.copy(f"COPY alignwatch_stage_events ({columns}) FROM STDIN") as copy:
            copy.write(text)
        cursor.execute(
            f"INSERT INTO events ({columns}) SELECT {columns.replace('data,', 'data::json,')} "
            "FROM alignwatch_stage_events ON CONFLICT (source, event_id) DO NOTHING"
        )
        return int(cursor.rowcount)


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
