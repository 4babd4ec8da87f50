"""Operator view of the quarantine table: list, show, and replay after a fix.

``replay`` re-decodes the stored raw bytes (and headers, for binary-mode messages) with the
code as it is now. An event that decodes is stored exactly once (insert-or-ignore on
(source, id)) and its row is marked ``replayed``; one that still fails stays quarantined
with status ``rejected_again`` and the new reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from alignwatch.errors import StoreError
from alignwatch.store.schema import quarantine
from alignwatch.stream.contract import DecodeLimits, Rejection
from alignwatch.stream.decode import decode_message
from alignwatch.stream.process import Origin, Received, headers_from_json
from alignwatch.stream.sink import StoreSink, utcnow

__all__ = ["ReplayReport", "get_entry", "list_entries", "replay"]

LIST_COLUMNS = (
    quarantine.c.id,
    quarantine.c.reason_code,
    quarantine.c.message,
    quarantine.c.origin_topic,
    quarantine.c.origin_partition,
    quarantine.c.origin_offset,
    quarantine.c.origin_file,
    quarantine.c.origin_line,
    quarantine.c.first_seen,
    quarantine.c.seen_count,
    quarantine.c.status,
)


def list_entries(
    engine: sa.Engine, *, reason: str | None = None, status: str | None = None, limit: int = 100
) -> list[dict[str, Any]]:
    """Quarantine rows (without the raw bytes), oldest first, optionally filtered."""
    query = sa.select(*LIST_COLUMNS).order_by(quarantine.c.id).limit(limit)
    if reason:
        query = query.where(quarantine.c.reason_code == reason)
    if status:
        query = query.where(quarantine.c.status == status)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(query)]


def get_entry(engine: sa.Engine, entry_id: int) -> dict[str, Any]:
    """One quarantine row with its raw bytes and headers; StoreError when there is none."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(quarantine).where(quarantine.c.id == entry_id)).first()
    if row is None:
        raise StoreError(f"no quarantine entry with id {entry_id}")
    return dict(row._mapping)


@dataclass(frozen=True)
class ReplayReport:
    """Outcome of a replay."""

    replayed: int = 0  # decoded now and newly stored
    already_stored: int = 0  # decoded now; (source, id) was already in the store
    still_rejected: int = 0


def _executing(statement: sa.Executable) -> Callable[[sa.Connection], None]:
    """A step for ``StoreSink.flush(also=...)`` that runs ``statement`` in the flush's transaction."""

    def run(conn: sa.Connection) -> None:
        conn.execute(statement)

    return run


def replay(
    engine: sa.Engine,
    limits: DecodeLimits,
    *,
    entry_id: int | None = None,
    reason: str | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ReplayReport:
    """Re-decode quarantined messages (not yet replayed) and store those that pass, exactly once."""
    query = sa.select(quarantine).where(quarantine.c.status != "replayed").order_by(quarantine.c.id)
    if entry_id is not None:
        query = query.where(quarantine.c.id == entry_id)
    if reason:
        query = query.where(quarantine.c.reason_code == reason)
    with engine.connect() as conn:
        rows = [dict(row._mapping) for row in conn.execute(query)]
    if entry_id is not None and not rows:
        raise StoreError(f"no quarantine entry with id {entry_id} waiting for replay")
    replayed = already = still = 0
    for row in rows:
        result = decode_message(bytes(row["raw"]), headers_from_json(row["headers"]), limits)
        now = clock()
        if isinstance(result, Rejection):
            update: dict[str, Any] = {"status": "rejected_again", "reason_code": str(result.reason), "message": result.message}
            still += 1
            with engine.begin() as conn:
                conn.execute(sa.update(quarantine).where(quarantine.c.id == row["id"]).values(**update))
            continue
        sink = StoreSink(engine, clock=clock)
        origin = Origin(topic=row["origin_topic"], partition=row["origin_partition"], offset=row["origin_offset"],
                        file=row["origin_file"], line=row["origin_line"])  # fmt: skip
        sink.add(result, Received(bytes(row["raw"]), headers_from_json(row["headers"]), origin))
        mark = (
            sa.update(quarantine).where(quarantine.c.id == row["id"]).values(status="replayed", replayed_at=now)
        )
        # the event and the status change commit together
        written = sink.flush(also=_executing(mark))
        stored = written.stored
        if written.turned_away:  # stored already with other content: the first version stays
            turned = written.turned_away[0]
            update = {"status": "rejected_again", "reason_code": turned.reason, "message": turned.message,
                      "replayed_at": None}  # fmt: skip
            with engine.begin() as conn:
                conn.execute(sa.update(quarantine).where(quarantine.c.id == row["id"]).values(**update))
            still += 1
        elif stored:
            replayed += 1
        else:
            already += 1
    return ReplayReport(replayed=replayed, already_stored=already, still_rejected=still)
