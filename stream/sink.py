"""Sink stage: buffered, idempotent writes of events and quarantine records.

``add`` and ``quarantine`` buffer; ``flush`` writes the whole buffer in ONE transaction:
events with a bulk insert-or-ignore on (``source``, ``event_id``) (PostgreSQL
``INSERT ... ON CONFLICT DO NOTHING``, SQLite's equivalent), quarantine records with an
upsert on their fingerprint (a redelivered bad message is one row whose ``seen_count``
grows). It returns how many events were new and how many were duplicates. When the
transaction fails the buffer is kept, so the caller may retry the same batch; when it
succeeds the buffer is emptied. Replaying any batch is therefore harmless: this is what
makes at-least-once delivery exactly-once in effect.

Nothing is dropped silently, and no record can stop a partition:

- *first write wins*: an event whose (``source``, ``id``) is stored already (or buffered
  earlier in the same batch) with the same type, time, subject and data is a duplicate;
  with any of those different it is a *conflicting duplicate*: the stored version stays
  authoritative and the newcomer is kept in the quarantine table (reason
  ``conflicting_duplicate``), in the same transaction;
- *a row the store refuses* (a data or constraint error of the database, not an outage)
  is isolated by splitting the batch until the refused events are alone; each is
  quarantined with reason ``store_rejected`` and the database's message, the rest is
  stored. Only an unreachable store raises :class:`StoreUnavailable` (retry later);
- the quarantine write cannot fail on a record's content: raw bytes are stored as they
  came, and text the database cannot hold (NUL, unpaired surrogates) is escaped.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import psycopg
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError

from alignwatch.errors import StoreError
from alignwatch.store.schema import events, quarantine
from alignwatch.stream.contract import Event, RejectReason
from alignwatch.stream.fastdecode import PlainEvent
from alignwatch.stream.process import Quarantined, headers_to_json, quarantined_event
from alignwatch.stream.rows import ROW_COLUMNS, event_row, event_values, payload_dict, plain_identifiers

__all__ = ["FlushResult", "SinkBatch", "StoreSink", "StoreUnavailable", "storable_text", "utcnow"]

log = logging.getLogger(__name__)

# rows per INSERT statement (bounded by SQLite's 32766 bound parameters: 13 columns)
_CHUNK = 2000


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


class StoreUnavailable(StoreError):
    """The store could not be written right now (connection refused, server gone); retry later."""


@dataclass(frozen=True)
class FlushResult:
    """What one flush wrote. ``quarantined`` counts every quarantine row written (rejected by
    the decoder or by the sink); ``turned_away`` are the records the sink itself quarantined
    (conflicting duplicates, rows the store refused), for the dead-letter topic and the
    health counters."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    turned_away: tuple[Quarantined, ...] = ()

    def __add__(self, other: FlushResult) -> FlushResult:
        return FlushResult(
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.quarantined + other.quarantined,
            self.turned_away + other.turned_away,
        )


Key = tuple[str, str]
Content = tuple[str, dt.datetime, str | None, dict[str, Any]]  # type, time, subject, data
Buffered = Event | PlainEvent  # a plain event is made a typed one only when turned away


@dataclass
class SinkBatch:
    """What one write stores: distinct events by (source, id) with the message each came
    from and, for PostgreSQL, the COPY line each is written as (built when it was added,
    ``ingested_at`` left out: the write appends it); identical repeats seen within the
    batch, quarantine records by fingerprint, and the repeats within the batch that conflict
    with the first one (already quarantine records, in ``quarantine``: ``conflicts`` counts them)."""

    events: dict[Key, Buffered] = field(default_factory=dict)
    received: dict[Key, Any] = field(default_factory=dict)
    lines: dict[Key, str] = field(default_factory=dict)  # keys of ``events`` only
    duplicates: int = 0
    quarantine: dict[str, Quarantined] = field(default_factory=dict)
    conflicts: list[Quarantined] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.events) + self.duplicates + len(self.quarantine)


def _content(event: Buffered) -> Content:
    data = event.payload() if isinstance(event, PlainEvent) else payload_dict(event.data)
    return (event.type, event.time, event.subject, data)


def _same(event: Buffered, stored: Content) -> bool:
    """Whether ``event`` is the stored version again (times compare as instants, numbers as
    values: 2 and 2.0 are the same)."""
    return _content(event) == stored


def _typed(event: Buffered) -> Event:
    return event.event() if isinstance(event, PlainEvent) else event


def _conflict(event: Buffered, received: Any, stored_at: str) -> Quarantined:
    return quarantined_event(
        _typed(event),
        received,
        RejectReason.CONFLICTING_DUPLICATE,
        f"(source, id) = ({event.source!r}, {event.id!r}) is {stored_at} with a different type, time, "
        "subject or data; the first version stays authoritative",
    )


class _Refused(Exception):
    """The database refused the content of the batch (a data or constraint error)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# SQLSTATE classes of a refusal of content: data exception, integrity constraint violation,
# program limit exceeded (e.g. an index row too large), a trigger's RAISE
_REFUSAL_CLASSES = frozenset({"22", "23", "54", "P0"})


def _is_outage(exc: Exception) -> bool:
    """Whether the store is unreachable (retry later) rather than refusing something."""
    if isinstance(exc, OperationalError) or getattr(exc, "connection_invalidated", False):
        return True
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


def _is_refusal(exc: Exception) -> bool:
    """Whether the database refused the rows (not the connection, the schema or the server)."""
    orig = getattr(exc, "orig", None) or exc
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate[:2] in _REFUSAL_CLASSES
    if isinstance(orig, sqlite3.IntegrityError | sqlite3.DataError):
        return True
    return getattr(orig, "sqlite_errorname", None) in {"SQLITE_TOOBIG", "SQLITE_MISMATCH"}


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
        self._copy = self._dialect == "postgresql" and engine.dialect.driver == "psycopg"  # events go by COPY
        self._batch = SinkBatch()
        base = self._insert(quarantine)
        self._quarantine_upsert = base.on_conflict_do_update(
            index_elements=["fingerprint"],
            set_={"last_seen": base.excluded.last_seen, "seen_count": quarantine.c.seen_count + 1},
        )

    def __len__(self) -> int:
        return len(self._batch)

    @property
    def pending_events(self) -> int:
        """Events buffered and not yet written."""
        return len(self._batch.events)

    def add(self, event: Buffered, received: Any = None) -> None:
        """Buffer an accepted event (typed, or plain as the consumer's decoder leaves it) and
        the message it came from (a ``Received``, a Kafka record, or None for an event built
        in code); for PostgreSQL its COPY line is built here, by the caller's thread. A repeat
        of a buffered (source, id) is a duplicate, or a conflicting duplicate (quarantined)
        when its content differs."""
        key = (event.source, event.id)
        batch = self._batch
        first = batch.events.get(key)
        if first is None:
            batch.events[key] = event
            if received is not None:
                batch.received[key] = received
            if self._copy:
                batch.lines[key] = _plain_line(event) if isinstance(event, PlainEvent) else _event_line(event)
        elif _same(event, _content(first)):
            batch.duplicates += 1
        else:
            record = _conflict(event, received, "earlier in the same batch")
            batch.quarantine.setdefault(record.fingerprint, record)
            batch.conflicts.append(record)

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
        """Write ``batch`` in one transaction (StoreUnavailable when the store is down: retry it).

        When the database refuses some of its rows, the batch is written in parts until the
        refused events are alone; they are quarantined as ``store_rejected`` and everything
        else is stored (each part in its own transaction: writes are idempotent, so a crash
        in between only replays). With ``also`` (a replay marking its quarantine row) a
        refusal is a ``StoreError`` instead: that row must not be marked replayed.
        """
        if not batch and also is None:
            return FlushResult()
        now = self.clock()
        try:
            return self._write(batch, also, now)
        except _Refused as refused:
            if also is not None:
                raise StoreError(f"store write failed: {refused.message}") from refused
            log.warning("the store refused a batch of %d events (%s); isolating the refused rows",
                        len(batch.events), refused.message)  # fmt: skip
            return self._write_isolating(batch, now)

    def _write(self, batch: SinkBatch, also: Callable[[sa.Connection], None] | None, now: dt.datetime) -> FlushResult:
        """One transaction; ``_Refused`` when the database refuses its content."""
        try:
            try:
                stored, known = self._write_once(batch, also, now, safe=False)
            except _KeyTaken:  # a concurrent writer stored one of the keys meanwhile: start over
                stored, known = self._write_once(batch, also, now, safe=True)
        except (DBAPIError, psycopg.Error) as exc:  # the COPY path raises the driver's own errors
            if _is_outage(exc):
                raise StoreUnavailable(f"store write failed: {_first_line(exc)}") from exc
            if _is_refusal(exc):
                raise _Refused(_first_line(exc)) from exc
            raise StoreError(f"store write failed: {_first_line(exc)}") from exc
        conflicts = len(known)
        return FlushResult(
            stored=stored,
            duplicates=len(batch.events) - stored - conflicts + batch.duplicates,
            quarantined=len(batch.quarantine) + conflicts,
            turned_away=(*batch.conflicts, *known),
        )

    def _write_once(
        self, batch: SinkBatch, also: Callable[[sa.Connection], None] | None, now: dt.datetime, *, safe: bool
    ) -> tuple[int, list[Quarantined]]:
        """Events, then the conflicting duplicates found among them and the batch's quarantine
        records, in one transaction: (events stored, conflicting duplicates quarantined)."""
        with self.engine.begin() as conn:
            stored, versions = self._insert_events(conn, batch, now, safe=safe)
            conflicts = [
                _conflict(batch.events[key], batch.received.get(key), "stored already")
                for key, version in versions.items()
                if not _same(batch.events[key], version)
            ]
            records = dict(batch.quarantine)
            for record in conflicts:
                records.setdefault(record.fingerprint, record)
            self._upsert_quarantine(conn, records, now)
            if also is not None:
                also(conn)
        return stored, conflicts

    def _write_isolating(self, batch: SinkBatch, now: dt.datetime) -> FlushResult:
        """Write ``batch`` in halves, recursively, until each refused event is alone; then
        its quarantine records and the ``store_rejected`` ones in one last transaction."""
        refused: list[Quarantined] = []

        def attempt(keys: list[Key]) -> FlushResult:
            part = SinkBatch(
                events={key: batch.events[key] for key in keys},
                received=batch.received,
                lines={key: batch.lines[key] for key in keys if key in batch.lines},
            )
            try:
                return self._write(part, None, now)
            except _Refused as exc:
                if len(keys) > 1:
                    middle = len(keys) // 2
                    return attempt(keys[:middle]) + attempt(keys[middle:])
                event = batch.events[keys[0]]
                record = quarantined_event(
                    _typed(event), batch.received.get(keys[0]), RejectReason.STORE_REJECTED,
                    f"the store refused the event: {exc.message}",
                )  # fmt: skip
                log.warning("store_rejected: (%r, %r) from %s: %s",
                            event.source, event.id, record.origin.describe(), exc.message)  # fmt: skip
                refused.append(record)
                return FlushResult()

        written = attempt(list(batch.events))
        rest = SinkBatch(quarantine=dict(batch.quarantine), conflicts=batch.conflicts)
        for record in refused:
            rest.quarantine.setdefault(record.fingerprint, record)
        try:
            tail = self._write(rest, None, now)
        except _Refused as exc:  # quarantine rows are escaped: this means a broken store
            raise StoreError(f"store write failed: the quarantine table refused a record: {exc.message}") from exc
        return written + tail + FlushResult(duplicates=batch.duplicates, turned_away=tuple(refused))

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self._dialect == "postgresql" else sqlite.insert(table)

    def _insert_events(
        self, conn: sa.Connection, batch: SinkBatch, now: dt.datetime, *, safe: bool
    ) -> tuple[int, dict[Key, Content]]:
        """Insert the new events: (how many were new, the stored version of the others)."""
        if not batch.events:
            return 0, {}
        if self._copy:
            return _copy_insert_events(conn, batch, now, safe=safe)
        rows = [event_row(event, now) for event in batch.events.values()]
        statement = self._insert(events).on_conflict_do_nothing(index_elements=["source", "event_id"])
        statement = statement.returning(events.c.source, events.c.event_id)
        inserted: set[Key] = set()
        for start in range(0, len(rows), _CHUNK):
            inserted.update((source, event_id) for source, event_id in conn.execute(statement, rows[start : start + _CHUNK]))
        if len(inserted) == len(batch.events):
            return len(inserted), {}
        return len(inserted), _stored_versions(conn, [key for key in batch.events if key not in inserted])

    def _upsert_quarantine(self, conn: sa.Connection, batch: dict[str, Quarantined], now: dt.datetime) -> int:
        """Upsert quarantine records on their fingerprint (a repeat raises ``seen_count``)."""
        if not batch:
            return 0
        rows = [_quarantine_row(fingerprint, record, now) for fingerprint, record in batch.items()]
        for start in range(0, len(rows), _CHUNK // 2):
            conn.execute(self._quarantine_upsert, rows[start : start + _CHUNK // 2])
        return len(rows)


def _stored_versions(conn: sa.Connection, keys: list[Key]) -> dict[Key, Content]:
    """The stored type, time, subject and data of ``keys`` (the duplicates of a batch: few)."""
    columns = (events.c.source, events.c.event_id, events.c.type, events.c.time, events.c.subject, events.c.data)
    found: dict[Key, Content] = {}
    for start in range(0, len(keys), 400):
        chunk = keys[start : start + 400]
        query = sa.select(*columns).where(sa.tuple_(events.c.source, events.c.event_id).in_(chunk))
        for source, event_id, kind, time, subject, data in conn.execute(query):
            found[(source, event_id)] = (kind, time, subject, data)
    return found


_encode_json = msgspec.json.Encoder().encode  # compact JSON, as json.dumps(separators=(",", ":")), 7x faster
_COPY_SEPARATORS = len(ROW_COLUMNS) - 2  # in a line without ingested_at
_COPY_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_NULL = "\\N"
_NOT_YET = dt.datetime.min.replace(tzinfo=dt.UTC)  # ingested_at: appended when the batch is written


def _copy_field(value: Any) -> str:
    """One value in COPY's text format: ``\\N`` for NULL, backslash and separators escaped."""
    if value is None:
        return _NULL
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        value = _encode_json(value).decode()
    return str(value).translate(_COPY_SPECIAL)


def _utc_text(text: str) -> bool:
    """Whether an RFC 3339 time (as the decoder accepted it) is one PostgreSQL reads as the
    instant the decoder made of it: UTC (``Z`` or ``+00:00``) with a ``T`` and at most six
    fractional digits (beyond, Python truncates where PostgreSQL rounds)."""
    return text[10] == "T" and (text[-1] == "Z" and len(text) <= 27 or len(text) <= 32 and text.endswith("+00:00"))


def _plain_line(event: PlainEvent) -> str:
    """The COPY line of a plain event (``ROW_COLUMNS`` order, ``ingested_at`` left out). Its
    texts go in as they are: a plain event holds no backslash or control character (the
    decoder leaves any such message to the reference path), and msgspec writes its payload
    without either. The time goes as the message wrote it when that is UTC text PostgreSQL
    reads as the same instant (most are: formatting it again is a third of the line's cost)."""
    automation, process, touchpoint, case, actor = plain_identifiers(event)
    stamp = event.time_text
    return _joined(event.source, event.id, event.type, stamp if _utc_text(stamp) else event.time.isoformat(),
                   event.subject, automation, process, touchpoint, case, actor, event.data)


def _joined(source: str, event_id: str, kind: str, time: str, subject: str | None, automation: str | None,
            process: str | None, touchpoint: str | None, case: str | None, actor: str | None, data: Any) -> str:
    """The fields of a COPY line joined as they are (NULL for a missing identifier, the payload as JSON)."""
    return "\t".join(
        (
            source, event_id, kind, time,
            _NULL if subject is None else subject,
            _NULL if automation is None else automation,
            _NULL if process is None else process,
            _NULL if touchpoint is None else touchpoint,
            _NULL if case is None else case,
            _NULL if actor is None else actor,
            _encode_json(data).decode(),
        )
    )  # fmt: skip


def _event_line(event: Event) -> str:
    """The COPY line of a typed event (``ROW_COLUMNS`` order, ``ingested_at`` left out).

    Built here rather than row by row through psycopg's ``write_row``, which adapts every
    value one at a time. A line is joined as is, then checked: identifiers and payload JSON
    rarely hold a backslash, tab or line break (or a value that is not text), and the few
    lines that do are rebuilt field by field, escaped.
    """
    values = event_values(event, _NOT_YET)[:-1]
    source, event_id, kind, time, subject, automation, process, touchpoint, case, actor, data = values
    try:
        line = _joined(source, event_id, kind, time.isoformat(), subject, automation, process, touchpoint, case, actor,
                       data)
    except TypeError:  # an identifier that is not text (a number): every field adapted below
        line = ""
    nulls = (subject, automation, process, touchpoint, case, actor).count(None)  # one "\\N" each
    if not line or line.count("\\") != nulls or "\n" in line or "\r" in line or line.count("\t") != _COPY_SEPARATORS:
        line = "\t".join(map(_copy_field, values))
    return line


def _copy_text(lines: list[str], now: dt.datetime) -> bytes:
    """The COPY text of ``lines`` (built by ``_plain_line`` or ``_event_line``), each ended by
    ``ingested_at``: one join, whatever the number of lines."""
    end = f"\t{now.isoformat()}\n"
    return (end.join(lines) + end).encode()


KNOWN_KEYS_SQL = (
    "SELECT k.source, k.event_id, hit.type, hit.time, hit.subject, hit.data "
    "FROM unnest(string_to_array(%s, chr(31)), string_to_array(%s, chr(31))) AS k(source, event_id) "
    "CROSS JOIN LATERAL (SELECT e.type, e.time, e.subject, e.data FROM events e "
    "WHERE e.source = k.source AND e.event_id = k.event_id LIMIT 1) AS hit"
)
"""Which of a batch's keys are stored already, with their stored version (to tell a repeat
from a conflicting duplicate). One probe of the unique index per key, whatever the table's
statistics say: as a plain join, on a table that grew since it was last analyzed, the
planner may sort or hash the whole table instead (264 ms instead of 5 ms for 2,000 keys
against 300,000 never-analyzed rows); the ``LIMIT 1`` subquery cannot be turned into such a join."""


class _KeyTaken(Exception):
    """The direct COPY met a key stored after the lookup (the transaction is aborted)."""


def _copy_insert_events(
    conn: sa.Connection, batch: SinkBatch, now: dt.datetime, *, safe: bool
) -> tuple[int, dict[Key, Content]]:
    """PostgreSQL bulk path; returns the rows inserted and the stored version of the others.

    Fast path: look up which (source, id) are already stored and COPY the lines of the others
    straight into ``events``. If a concurrent writer stored one of them in between, the COPY
    fails on the unique key and aborts the transaction: ``_KeyTaken`` tells the caller to start
    over with ``safe=True``, which COPYs into a transaction-scoped staging table and then
    runs ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``. The fast path costs no extra round
    trip (no savepoint); the safe one is for that rare race.
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    events_, lines = batch.events, batch.lines
    if len(lines) != len(events_):  # a batch its sink buffered without lines
        lines = {key: batch.lines.get(key) or _copy_line(event) for key, event in events_.items()}
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
                copy.write(_copy_text(list(lines.values()), now))
            cursor.execute(
                f"INSERT INTO events ({columns}) SELECT {columns.replace('data,', 'data::json,')} "
                "FROM alignwatch_stage_events ON CONFLICT (source, event_id) DO NOTHING RETURNING source, event_id"
            )
            inserted = {(source, event_id) for source, event_id in cursor.fetchall()}
            if len(inserted) == len(events_):
                return len(inserted), {}
            return len(inserted), _stored_versions(conn, [key for key in events_ if key not in inserted])
        # the keys as two texts split on U+001F: identifiers never hold control characters
        # (the event contract refuses them; a key that did would only miss the lookup, and a
        # repeat then takes the safe path), and one text parameter is far cheaper to send
        # than a text[] (psycopg dumps arrays element by element in Python)
        cursor.execute(
            KNOWN_KEYS_SQL, ("\x1f".join([key[0] for key in events_]), "\x1f".join([key[1] for key in events_]))
        )
        known: dict[Key, Content] = {
            (source, event_id): (kind, time, subject, data)
            for source, event_id, kind, time, subject, data in cursor.fetchall()
        }
        fresh = [line for key, line in lines.items() if key not in known] if known else list(lines.values())
        if not fresh:
            return 0, known
        try:
            with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                copy.write(_copy_text(fresh, now))
        except psycopg.errors.UniqueViolation as exc:
            raise _KeyTaken(str(exc)) from exc
        return len(fresh), known


def _copy_line(event: Buffered) -> str:
    return _plain_line(event) if isinstance(event, PlainEvent) else _event_line(event)


def storable_text(text: str) -> str:
    """``text`` as any store can hold it: NUL written ``\\x00`` and unpaired surrogates as
    ``\\udcxx`` escapes (PostgreSQL's text refuses both); anything else unchanged."""
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def _storable_or_none(text: str | None, limit: int) -> str | None:
    return storable_text(text)[:limit] if text else None


def _quarantine_row(fingerprint: str, record: Quarantined, now: dt.datetime) -> dict[str, Any]:
    """The quarantine row of ``record``: raw bytes as they came, every text made storable."""
    origin = record.origin
    headers = [(storable_text(key), value) for key, value in record.headers]
    return {
        "fingerprint": fingerprint,
        "raw": record.raw,
        "headers": headers_to_json(headers),
        "reason_code": record.reason,
        "message": storable_text(record.message),
        "origin_topic": _storable_or_none(origin.topic, 255),
        "origin_partition": origin.partition,
        "origin_offset": origin.offset,
        "origin_file": _storable_or_none(origin.file, 1024),
        "origin_line": origin.line,
        "source": _storable_or_none(record.source, 512),
        "event_id": _storable_or_none(record.event_id, 256),
        "first_seen": now,
        "last_seen": now,
        "seen_count": 1,
        "status": "quarantined",
    }


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
