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
from stream.events import Event, event_row
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
        rows = [event_row(event, now) for event in self._events.values()]
        if self._dialect == "postgresql" and _driver(conn) == "psycopg":
            return _copy_insert_events(conn, rows)
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


_STAGE_COLUMNS = (
    "source", "event_id", "type", "time", "subject", "automation_id", "process_id",
    "touchpoint_id", "case_id", "actor_id", "data", "ingested_at",
)  # fmt: skip


def _driver(conn: sa.Connection) -> str:
    return conn.dialect.driver


_encode_json = msgspec.json.Encoder().encode  # compact JSON, as json.dumps(separators=(",", ":")), 7x faster


def _copy_rows(cursor: Any, table: str, rows: list[dict[str, Any]]) -> None:
    columns = ", ".join(_STAGE_COLUMNS)
    with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        write = copy.write_row
        for row in rows:
            write(
                (
                    row["source"], row["event_id"], row["type"], row["time"], row["subject"],
                    row["automation_id"], row["process_id"], row["touchpoint_id"], row["case_id"],
                    row["actor_id"], _encode_json(row["data"]).decode(), row["ingested_at"],
                )
            )  # fmt: skip


def _copy_insert_events(conn: sa.Connection, rows: list[dict[str, Any]]) -> int:
    """PostgreSQL bulk path; returns the rows inserted.

    Fast path: look up which (source, id) are already stored, COPY the others straight into
    ``events`` inside a savepoint. If a concurrent writer stored one of them meanwhile (a
    unique violation), roll back to the savepoint and take the safe path: COPY into a
    transaction-scoped staging table, then ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``.
    """
    import psycopg

    raw = conn.connection.driver_connection
    assert raw is not None
    with raw.cursor() as cursor:
        # the keys as two texts split on U+001F: identifiers never hold control characters
        # (the event contract refuses them; a key that did would only miss the lookup, and a
        # repeat then takes the unique-violation path below), and one text parameter is far
        # cheaper to send than a text[] (psycopg dumps arrays element by element in Python)
        cursor.execute(
            "SELECT e.source, e.event_id FROM events e "
            "JOIN unnest(string_to_array(%s, chr(31)), string_to_array(%s, chr(31))) AS k(source, event_id) "
            "USING (source, event_id)",
            ("\x1f".join([row["source"] for row in rows]), "\x1f".join([row["event_id"] for row in rows])),
        )
        known = {(source, event_id) for source, event_id in cursor.fetchall()}
        fresh = [row for row in rows if (row["source"], row["event_id"]) not in known]
        if not fresh:
            return 0
        try:
            with raw.transaction():  # a savepoint inside the sink's transaction
                _copy_rows(cursor, "events", fresh)
            return len(fresh)
        except psycopg.errors.UniqueViolation:
            pass
        columns = ", ".join(_STAGE_COLUMNS)
        cursor.execute(
            "CREATE TEMP TABLE IF NOT EXISTS alignwatch_stage_events ("
            "source text, event_id text, type text, time timestamptz, subject text, automation_id text, "
            "process_id text, touchpoint_id text, case_id text, actor_id text, data text, ingested_at timestamptz"
            ") ON COMMIT DELETE ROWS"
        )
        _copy_rows(cursor, "alignwatch_stage_events", fresh)
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
