"""Late data: the older local days a nightly run recomputes besides its own.

A nightly run recomputes its own days and, besides, every local day that received events
since the previous published nightly run (found from ``events.ingested_at``, however old
the day), with the days whose 7d and 28d windows cover it (the 27 days after it): see
:func:`plan_late_days`. At most ``max_late_days`` such days per run
(``ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS``), oldest first; the rest are recorded in the run's
``details["late"]["pending"]`` and recomputed by the next nightly run (:func:`late_plan`
reads the store and returns the :class:`LatePlan`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from alignwatch.errors import ConfigError
from alignwatch.metrics.aggregates import hour_bucket
from alignwatch.store.schema import events, metric_values, pipeline_runs
from alignwatch.vocabulary import utc
from alignwatch.windows import DAY, ROLLING_DAYS, local_day, zone_of

__all__ = ["INGESTION_MARGIN", "NIGHTLY_MAX_LATE_DAYS", "LatePlan", "changed_days", "late_plan", "plan_late_days"]

# at most this many older days that received late events (ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS)
NIGHTLY_MAX_LATE_DAYS = 62
# events ingested up to this long before a run's mark may have committed after its read
INGESTION_MARGIN = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class LatePlan:
    """The days a nightly run recomputes besides its own, and the days it leaves for later.

    ``looked`` is False when no nightly run was published before (there is nothing to
    compare with: the run only sets its mark). ``ingested_through`` is this run's mark
    (the newest ``ingested_at`` it saw) and ``margin_events`` how many events were ingested
    in the :data:`INGESTION_MARGIN` up to it. ``changed`` are the local days of the events
    ingested after ``since``: the previous run's mark, or that mark less the margin when the
    margin's count changed since (an event whose transaction committed after the previous
    run's read); None when the previous run had seen no event. ``days`` are the days
    recomputed before the run's own range (oldest first); ``deferred`` the days before it
    left over by the bound; ``later`` the days after it that already have stored values
    (a nightly run of an earlier night, e.g. an Airflow backfill, never computes past its
    own night). ``deferred`` and ``later`` are the next nightly run's ``pending`` days.
    """

    since: dt.datetime | None
    ingested_through: dt.datetime | None
    changed: tuple[dt.date, ...] = ()
    days: tuple[dt.date, ...] = ()
    deferred: tuple[dt.date, ...] = ()
    later: tuple[dt.date, ...] = ()
    max_days: int = NIGHTLY_MAX_LATE_DAYS
    margin_events: int = 0
    looked: bool = True

    @property
    def pending(self) -> tuple[dt.date, ...]:
        """The days left for the next nightly run."""
        return tuple(sorted({*self.deferred, *self.later}))

    def as_json(self) -> dict[str, Any]:
        """What the run records in ``details["late"]`` (the next run reads the mark and ``pending``)."""
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "ingested_through": None if self.ingested_through is None else self.ingested_through.isoformat(),
            "margin_events": self.margin_events,
            "changed": [d.isoformat() for d in self.changed],
            "recomputed": [d.isoformat() for d in self.days],
            "pending": [d.isoformat() for d in self.pending],
            "max_days": self.max_days,
        }

    def describe(self) -> str:
        """One line: what is recomputed beyond the run's own days, and what is left for later."""
        if not self.looked:
            return (
                "no nightly run published before: late events are looked for from the next run on "
                f"(mark: {_iso(self.ingested_through)})"
            )
        text = f"{len(self.days)} late day(s) recomputed{_spans(self.days)}"
        when = "at any time" if self.since is None else f"after {self.since.isoformat()}"
        text += f" (events ingested {when}, on {len(self.changed)} day(s){_spans(self.changed)})"
        if not self.deferred and not self.later:
            return text + "; nothing left for later"
        if self.deferred:
            text += f"; left for later: {len(self.deferred)} day(s){_spans(self.deferred)} over the bound of {self.max_days}"
        if self.later:
            text += f"; left to the nights that cover them: {len(self.later)} day(s){_spans(self.later)} after this run's range"
        return text


def _iso(moment: dt.datetime | None) -> str:
    return "no event yet" if moment is None else moment.isoformat()


def _spans(days: Sequence[dt.date]) -> str:
    """`` 2026-02-01..2026-02-28, 2026-03-04`` (runs of consecutive days), or empty."""
    spans: list[list[dt.date]] = []
    for day in sorted(days):
        if spans and day - spans[-1][1] == DAY:
            spans[-1][1] = day
        else:
            spans.append([day, day])
    text = ", ".join(a.isoformat() if a == b else f"{a.isoformat()}..{b.isoformat()}" for a, b in spans)
    return f" ({text})" if text else ""


def plan_late_days(
    changed: Iterable[dt.date],
    pending: Iterable[dt.date],
    *,
    first: dt.date,
    stop: dt.date,
    max_days: int = NIGHTLY_MAX_LATE_DAYS,
) -> tuple[list[dt.date], list[dt.date], list[dt.date]]:
    """The local days to recompute besides ``[first, stop)``: (now, deferred, after).

    A day that received events changes its hour and day windows and the 7d and 28d windows
    ending at the ends of the day and of the 27 days after it, so each ``changed`` day
    brings those 28 days; ``pending`` days (left by the previous run) come as they are.
    Of the days before ``first``, the ``max_days`` oldest are recomputed now and the rest
    deferred; the days from ``stop`` on are returned apart (the caller keeps those that
    already have stored values).
    """
    if max_days < 0:
        raise ConfigError(f"max late days must be >= 0, not {max_days}")
    need = set(pending)
    for day in changed:
        need.update(day + dt.timedelta(days=k) for k in range(ROLLING_DAYS))
    before = sorted(d for d in need if d < first)
    after = sorted(d for d in need if d >= stop)
    return before[:max_days], before[max_days:], after


def changed_days(conn: sa.Connection, since: dt.datetime | None, tz: str = "UTC") -> list[dt.date]:
    """The local days of the events ingested after ``since`` (None: all events), oldest first.

    One grouped read on ``ix_events_ingested_at``: the earliest and latest event time of
    each UTC hour (an hour spans at most one local midnight, whatever the offset).
    """
    zone = zone_of(tz)
    query = sa.select(sa.func.min(events.c.time), sa.func.max(events.c.time))
    if since is not None:
        query = query.where(events.c.ingested_at > utc(since, "since"))
    rows = conn.execute(query.group_by(hour_bucket(conn.dialect.name))).all()
    return sorted({utc(moment, "event time").astimezone(zone).date() for row in rows for moment in row})


def _stored_days(conn: sa.Connection, days: Sequence[dt.date], tz: str) -> list[dt.date]:
    """Those of ``days`` for which hour or day values are stored."""
    if not days:
        return []
    zone = zone_of(tz)
    lo, hi = local_day(min(days), zone)[0], local_day(max(days), zone)[1]
    mv = metric_values.c
    ends = conn.execute(
        sa.select(mv.window_end)
        .where(mv.window.in_(("hour", "day")), mv.window_end > lo, mv.window_end <= hi)
        .distinct()
    ).scalars()
    stored = {(utc(end, "window end") - dt.timedelta(microseconds=1)).astimezone(zone).date() for end in ends}
    return [day for day in days if day in stored]


@dataclass(frozen=True)
class _Previous:
    """What the newest published nightly run recorded: its mark, its margin count, its pending days."""

    mark: dt.datetime | None
    margin_events: int | None
    pending: tuple[dt.date, ...]


def _previous_nightly(conn: sa.Connection) -> _Previous | None:
    """The newest published nightly run's record (None when there is none).

    A run published before marks were recorded gives its start time as the mark (and no
    margin count: the margin applies).
    """
    runs = pipeline_runs.c
    row = conn.execute(
        sa.select(runs.started_at, runs.details)
        .where(runs.kind == "nightly", runs.status == "published")
        .order_by(runs.finished_at.desc(), runs.id.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    late = row.details.get("late") if isinstance(row.details, dict) else None
    if not isinstance(late, dict) or "ingested_through" not in late:
        return _Previous(utc(row.started_at, "started_at"), None, ())
    mark, count = late.get("ingested_through"), late.get("margin_events")
    return _Previous(
        mark=dt.datetime.fromisoformat(mark) if isinstance(mark, str) else None,
        margin_events=count if isinstance(count, int) else None,
        pending=tuple(dt.date.fromisoformat(day) for day in late.get("pending", []) if isinstance(day, str)),
    )


def _margin_events(conn: sa.Connection, mark: dt.datetime | None) -> int:
    """How many events were ingested in ``(mark − INGESTION_MARGIN, mark]``."""
    if mark is None:
        return 0
    at = events.c.ingested_at
    return int(conn.execute(sa.select(sa.func.count()).where(at > mark - INGESTION_MARGIN, at <= mark)).scalar_one())


def late_plan(engine: sa.Engine, *, first: dt.date, stop: dt.date, tz: str, max_days: int) -> LatePlan:
    """What a nightly run over the local days ``[first, stop)`` recomputes besides them.

    The reads are ordered so that nothing is missed: the previous mark's margin is counted
    before this run's mark is read, and this run's margin before the changed days are read.
    """
    with engine.connect() as conn:
        previous = _previous_nightly(conn)
        look_from: dt.datetime | None = None  # None: every stored event
        if previous is not None and previous.mark is not None:
            settled = previous.margin_events is not None and _margin_events(conn, previous.mark) == previous.margin_events
            # an event committed after the previous run's read, with an earlier ingested_at, changes the count
            look_from = previous.mark if settled else previous.mark - INGESTION_MARGIN
        newest = conn.execute(sa.select(sa.func.max(events.c.ingested_at))).scalar()
        mark = None if newest is None else utc(newest, "newest")
        if previous is not None and previous.mark is not None and (mark is None or mark < previous.mark):
            mark = previous.mark  # events were deleted: keep the mark where it was
        margin = _margin_events(conn, mark)
        if previous is None:
            return LatePlan(since=None, ingested_through=mark, max_days=max_days, margin_events=margin, looked=False)
        changed = changed_days(conn, look_from, tz)
        now, deferred, after = plan_late_days(changed, previous.pending, first=first, stop=stop, max_days=max_days)
        later = _stored_days(conn, after, tz)
    return LatePlan(
        since=look_from,
        ingested_through=mark,
        changed=tuple(changed),
        days=tuple(now),
        deferred=tuple(deferred),
        later=tuple(later),
        max_days=max_days,
        margin_events=margin,
    )
