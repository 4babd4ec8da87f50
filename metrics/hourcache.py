"""Hour-aggregate cache: the engine's per-hour groups and samples of closed hours, kept in the store.

The engine folds every window from per-hour grouped aggregates (:mod:`alignwatch.metrics.aggregates`).
The groups of an hour that has ended do not change unless an event of that hour arrives
late, so they are written to ``hour_aggregates`` (one row per hour and SLA, the hour's
groups as packed columns: :class:`~alignwatch.metrics.groups.HourColumns`) with a mark in
``aggregated_hours`` (hour, SLA the sums were taken with, largest ``events.id`` and the
time of the read). A later computation reads the groups of the hours it finds
marked and aggregates from the events only:

- the hours without a mark (never aggregated, or aggregated with another escalation SLA);
- the hours that received events since their mark: an event of the hour with a larger
  ``events.id`` than the mark's, or ingested later than the mark's read time minus
  :data:`SAFETY_MARGIN` (which covers transactions that committed after the read with an
  earlier id or ingestion time). Both are found through indexes (primary key,
  ``ix_events_ingested_at``);
- the hour still open at the read and any partial hour at the edges of the range
  (never written);
- every marked hour when the largest ``events.id`` is below a mark's (the events were
  emptied and their ids restarted). Other deletions of events are not detected: empty the
  cache with :func:`clear` when deleting events.

The distribution samples of a cached hour (the values percentiles are taken over:
:func:`alignwatch.metrics.aggregates.fetch_samples`, every distribution's) are kept in the
same row, written and invalidated with its groups under the same mark. A percentile is
not a sum, but it is taken over the samples of the window's hours put together and
sorted, so reading them per hour gives the same percentile as reading the window at once
(:func:`cached_columns`).

The groups read back are the very values the uncached path computes (the same statement
over the same hour, the same conversions, the sums stored as the doubles they are), sorted
in the same order (:func:`cached_aggregates`) or as columns in that order
(:func:`cached_groups`, :mod:`alignwatch.metrics.groups`), so the metrics come out
identical. Each hour is stored already sorted, so a range is read as ~24 rows a day, one
``frombuffer`` per column and a concatenation, with no parse or sort per group. An empty
hour is marked with no groups (and has no row). A store migrated to this format (migration
0007) starts with an empty cache: the first computation aggregates its hours from the
events, as a cold run does. Two computations writing the same
hours at once: the second one's write fails on the marks' key and is dropped, its result
(from the same events) is still returned.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from alignwatch.metrics.aggregates import (
    DISTRIBUTIONS,
    HOUR_S,
    Aggregate,
    fetch_rows,
    hour_bucket,
    hour_of,
    order,
)
from alignwatch.metrics.groups import HourColumns, HourGroups, HourSamples, read_hours
from alignwatch.store.schema import aggregated_hours, events, hour_aggregates

__all__ = ["SAFETY_MARGIN", "cached_aggregates", "cached_columns", "cached_groups", "cached_hours", "clear"]

#: events ingested up to this long before a mark's read may have committed after it
SAFETY_MARGIN = dt.timedelta(minutes=5)
_CHUNK = 500
#: the most events since the marks that the look for late events follows through an index
_FOLLOW = 50_000
_WEEK_HOURS = 7 * 24


def _moment(hour: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(hour * HOUR_S, dt.UTC)


def _ceil_hour(moment: dt.datetime) -> int:
    return -int(-moment.timestamp() // HOUR_S)


def _floor_hour(moment: dt.datetime) -> int:
    return int(moment.timestamp() // HOUR_S)


def _runs(hours: Iterable[int]) -> Iterator[tuple[int, int]]:
    """Contiguous ``[first, last + 1)`` runs of sorted hour indexes."""
    first = previous = None
    for hour in hours:
        if previous is not None and hour == previous + 1:
            previous = hour
            continue
        if first is not None and previous is not None:
            yield first, previous + 1
        first = previous = hour
    if first is not None and previous is not None:
        yield first, previous + 1


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _stale(conn: sa.Connection, marks: dict[int, Any], first: int, last: int) -> set[int]:
    """The marked hours of ``[first, last)`` that received events since their mark.

    An event since a mark has a larger id than the lowest mark's or was ingested after the
    oldest mark's read (less the margin). When each of these sets holds at most
    :data:`_FOLLOW` events (the events since the last runs, in a store whose runs keep up),
    they are found through their own index (primary key, ``ix_events_ingested_at``) and
    only they are read: the look costs what arrived, not the range. Otherwise the
    range's events are read by time.
    """
    if not marks:
        return set()
    e = events.c
    lowest_id = min(mark.max_event_id for mark in marks.values())
    oldest = min(mark.aggregated_at for mark in marks.values()) - SAFETY_MARGIN
    bucket = hour_bucket(conn.dialect.name).label("hour")
    newer, later = e.id > lowest_id, e.ingested_at > oldest
    if _at_most(conn, newer, _FOLLOW) and _at_most(conn, later, _FOLLOW):
        # (the range is kept by the hour of each group: a condition on the time would lead the
        # database to the time index and through every event of the range)
        queries = [sa.select(bucket, sa.func.max(e.id), sa.func.max(e.ingested_at)).where(since)
                   .group_by(sa.literal_column("1")) for since in (newer, later)]
    else:
        queries = [sa.select(bucket, sa.func.max(e.id), sa.func.max(e.ingested_at))
                   .where(e.time >= _moment(first), e.time < _moment(last), sa.or_(newer, later))
                   .group_by(sa.literal_column("1"))]
    out = set()
    for query in queries:
        for found, top_id, last_ingested in conn.execute(query):
            hour = hour_of(found)
            mark = marks.get(hour)
            if mark is not None and (top_id > mark.max_event_id or last_ingested > mark.aggregated_at - SAFETY_MARGIN):
                out.add(hour)
    return out


def _at_most(conn: sa.Connection, condition: sa.ColumnElement[bool], count: int) -> bool:
    """Whether at most ``count`` events meet ``condition`` (counted up to ``count + 1``)."""
    some = sa.select(sa.literal(1).label("one")).where(condition).limit(count + 1).subquery()
    return int(conn.execute(sa.select(sa.func.count()).select_from(some)).scalar_one()) <= count


def _read(conn: sa.Connection, sla_s: float, first: int, last: int, skip: set[int]) -> list[HourColumns]:
    """The cached hours of ``[first, last)`` but ``skip``, a week per statement (a driver holds a result whole)."""
    h = hour_aggregates.c
    out: list[HourColumns] = []
    for week in range(first, last, _WEEK_HOURS):
        statement = (sa.select(h.hour, h.layout, h.ids, h.sums, h.samples)
                     .where(h.sla_s == sla_s, h.hour >= week, h.hour < min(week + _WEEK_HOURS, last)))
        rows = [row for row in _packed_rows(conn, statement) if int(row[0]) not in skip]
        # the layouts parsed in one call (a parse per row costs more than the read)
        layouts = json.loads("[" + ",".join(row[1] for row in rows) + "]")
        out += (HourColumns.unpack(int(hour), layout, ids, sums, samples)
                for (hour, _, ids, sums, samples), layout in zip(rows, layouts, strict=True))
    return out


def _packed_rows(conn: sa.Connection, statement: sa.Select[Any]) -> list[Any]:
    """The rows of a read of ``hour_aggregates`` as the driver gives them.

    Through psycopg, in binary: the packed columns come as their bytes, not as hex text to
    decode (113 days of the benchmark's cached hours: 0.11 s instead of 0.31 s through
    ``Row`` objects). Elsewhere through the result's cursor (:func:`fetch_rows`).
    """
    driver: Any = conn.connection.driver_connection
    if conn.dialect.driver != "psycopg" or driver is None:
        return fetch_rows(conn, statement)
    compiled = statement.compile(dialect=conn.dialect)
    with driver.cursor(binary=True) as cursor:
        cursor.execute(str(compiled), compiled.params)
        return list(cursor.fetchall())


def _write(
    conn: sa.Connection,
    sla_s: float,
    hours: list[int],
    pieces: list[HourColumns],
    verified: list[int],
    max_event_id: int,
    read_at: dt.datetime,
) -> None:
    """Replace the groups and marks of ``hours``, move the marks of ``verified`` hours forward.

    A concurrent writer of the same hours wins (this write is dropped).
    """
    conn.commit()
    try:
        with conn.begin():
            a = aggregated_hours.c
            for chunk in _chunks(verified):
                conn.execute(
                    sa.update(aggregated_hours)
                    .where(a.sla_s == sla_s, a.hour.in_(chunk))
                    .values(max_event_id=max_event_id, aggregated_at=read_at)
                )
            for chunk in _chunks(hours):
                conn.execute(sa.delete(hour_aggregates).where(hour_aggregates.c.sla_s == sla_s, hour_aggregates.c.hour.in_(chunk)))
                conn.execute(sa.delete(aggregated_hours).where(aggregated_hours.c.sla_s == sla_s, aggregated_hours.c.hour.in_(chunk)))
            counts = {piece.hour: piece.size for piece in pieces}
            marks = [
                {"hour": hour, "sla_s": sla_s, "groups": counts.get(hour, 0), "max_event_id": max_event_id,
                 "aggregated_at": read_at}
                for hour in hours
            ]
            for chunk in _chunks(marks, 5000):
                conn.execute(sa.insert(aggregated_hours), chunk)
            for part in _chunks([piece for piece in pieces if piece.size or len(piece.samples)], 200):
                rows = []
                for piece in part:
                    layout, ids, sums, samples = piece.pack()
                    rows.append({"hour": piece.hour, "sla_s": sla_s, "layout": layout, "ids": ids, "sums": sums,
                                 "samples": samples})
                conn.execute(sa.insert(hour_aggregates), rows)
    except IntegrityError:
        pass


def cached_aggregates(
    conn: sa.Connection,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    sla_s: float,
    now: Callable[[], dt.datetime],
) -> list[Aggregate]:
    """The aggregates of ``[lo, hi)``, identical to ``fetch_aggregates``, through the cache.

    Commits ``conn``'s transaction when it writes hours: call it on a connection of its own.
    ``now`` is the clock the marks' read times are taken from.
    """
    out = [
        Aggregate(type_, hour, automation_id, process_id, touchpoint_id, actor, dataset, k1, k2, sums)
        for piece in _cached_hours(conn, lo, hi, sla_s=sla_s, now=now)
        for type_, hour, automation_id, process_id, touchpoint_id, actor, dataset, k1, k2, sums in piece.rows()
    ]
    out.sort(key=order)
    return out


def cached_groups(
    conn: sa.Connection,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    sla_s: float,
    now: Callable[[], dt.datetime],
    types: frozenset[str] | None = None,
) -> HourGroups:
    """The groups of ``[lo, hi)`` as :func:`cached_aggregates` reads them, as columns (no object per group).

    ``types``: only the groups of these event types (the hours are checked and cached whole).
    """
    return HourGroups(_cached_hours(conn, lo, hi, sla_s=sla_s, now=now, distributions=()), types)


def cached_columns(
    conn: sa.Connection,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    sla_s: float,
    now: Callable[[], dt.datetime],
    types: frozenset[str] | None = None,
    distributions: Iterable[str] = (),
) -> tuple[HourGroups, HourSamples]:
    """The groups (of ``types``) and the samples of ``distributions`` of ``[lo, hi)``, through the cache.

    The samples are those :meth:`HourSamples.read` reads from the events: every distribution's
    samples of an hour are cached with its groups, under the same mark.
    """
    wanted = tuple(distributions)
    pieces = _cached_hours(conn, lo, hi, sla_s=sla_s, now=now, distributions=wanted)
    return HourGroups(pieces, types), HourSamples.of_hours(pieces, wanted)


def cached_hours(
    conn: sa.Connection,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    sla_s: float,
    now: Callable[[], dt.datetime],
    distributions: Iterable[str] = (),
) -> list[HourColumns]:
    """The columns of each hour of ``[lo, hi)`` through the cache, in no particular order, with
    (at least) the samples of ``distributions``: what :func:`cached_columns` assembles."""
    return _cached_hours(conn, lo, hi, sla_s=sla_s, now=now, distributions=tuple(distributions))


def _fetch(conn: sa.Connection, lo: dt.datetime, hi: dt.datetime, sla_s: float, distributions: Iterable[str]) -> list[HourColumns]:
    """The groups and the samples of ``distributions`` of ``[lo, hi)`` from the events, hour by hour."""
    return read_hours(conn, lo, hi, sla_s=sla_s, distributions=distributions)


def _cached_hours(
    conn: sa.Connection,
    lo: dt.datetime,
    hi: dt.datetime,
    *,
    sla_s: float,
    now: Callable[[], dt.datetime],
    distributions: tuple[str, ...] = (),
) -> list[HourColumns]:
    """The groups of ``[lo, hi)``, hour by hour in no particular order: cached hours from the cache, the others from the events.

    The hours not cached carry the samples of ``distributions`` (at least), the cached ones those of every distribution.
    """
    read_at = now()
    first = _ceil_hour(lo)
    last = min(_floor_hour(hi), _floor_hour(read_at))
    if last <= first:
        return _fetch(conn, lo, hi, sla_s, distributions)
    max_event_id = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))).scalar_one())
    a = aggregated_hours.c
    marks = {
        int(mark.hour): mark
        for mark in conn.execute(
            sa.select(a.hour, a.max_event_id, a.aggregated_at).where(a.sla_s == sla_s, a.hour >= first, a.hour < last)
        )
    }
    if marks and max(mark.max_event_id for mark in marks.values()) > max_event_id:
        # ids went back: events were deleted and the ids restarted; no mark can be trusted
        stale = set(marks)
    else:
        stale = _stale(conn, marks, first, last)
    todo = [hour for hour in range(first, last) if hour not in marks or hour in stale]
    out: list[HourColumns] = []
    # the partial hours at the edges of the range (never cached)
    if lo < _moment(first):
        out += _fetch(conn, lo, _moment(first), sla_s, distributions)
    if _moment(last) < hi:
        out += _fetch(conn, _moment(last), hi, sla_s, distributions)
    if len(todo) < last - first:
        out += _read(conn, sla_s, first, last, set(todo))
    fresh: list[HourColumns] = []
    for start, end in _runs(todo):
        # a week at a time: the groups of a cold block become columns without all their objects at once
        for week in range(start, end, _WEEK_HOURS):
            fresh += _fetch(conn, _moment(week), _moment(min(week + _WEEK_HOURS, end)), sla_s, DISTRIBUTIONS)
    # hours found unchanged: their marks move to this read, so that the next look for late
    # events starts here and not at the oldest mark
    verified = [
        hour
        for hour, mark in marks.items()
        if hour not in stale and (mark.max_event_id < max_event_id or mark.aggregated_at < read_at - SAFETY_MARGIN)
    ]
    if todo or verified:
        _write(conn, sla_s, todo, fresh, sorted(verified), max_event_id, read_at)
    return out + fresh


def clear(conn: sa.Connection) -> None:
    """Forget every cached hour (the next computation aggregates from the events)."""
    conn.execute(sa.delete(hour_aggregates))
    conn.execute(sa.delete(aggregated_hours))
