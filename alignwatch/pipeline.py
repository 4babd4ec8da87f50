"""One pipeline run: compute the metrics of an interval, validate them, publish them or not.

Every way of computing metrics goes through :func:`run_interval`: the Airflow DAGs
(``dags/``), ``alignwatch metrics compute`` and the embedded runner (``alignwatch run``).
The DAG tasks and the runner call the task functions below (:func:`continuous_task`,
:func:`nightly_task`, :func:`backfill_task`); the DAG files only wire them.

A run:

0. marks ``abandoned`` the runs left ``running`` by a process that died (see
   :func:`close_abandoned_runs`);
1. records a ``pipeline_runs`` row with status ``running`` and who runs it (host and
   process, in ``details["owner"]``);
2. computes the metric values, one step at a time (the whole interval by default; nightly
   runs step by local day, so that rolling windows exist at every day's end), and
   validates the stored events of the interval (suite ``raw_events``, once per run of
   contiguous steps);
3. validates the values (suite ``metric_values``);
4. when both suites pass, upserts the values into ``metric_values`` and marks the run
   ``published`` in the same transaction; otherwise marks it ``failed_validation`` and
   keeps the values in the run's ``details`` for inspection, leaving ``metric_values``
   (the published snapshot) untouched. An unexpected exception marks it ``error`` and is
   raised again (Airflow then retries the task).

Runs are keyed on their interval, never on the wall clock: running the same interval twice
writes the same rows (the upsert key is metric, labels, window kind and window end).

**Late data.** A nightly run recomputes its own ``days`` and, besides, every local day that
received events since the previous published nightly run (found from ``events.ingested_at``,
however old the day), with the days whose 7d and 28d windows cover it (the 27 days after
it): see :func:`plan_late_days`. At most ``max_late_days`` such days per run
(``ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS``), oldest first; the rest are recorded in the run's
``details["late"]["pending"]`` and recomputed by the next nightly run. Every nightly run
logs what it recomputed and what it left for later.

**Heartbeats.** Every continuous and nightly task records how it ended in
``pipeline_heartbeats`` (one row per business, kind and outcome, overwritten): published,
skipped (no hour closed in the interval: nothing to publish, but the pipeline is alive),
failed_validation or error. The exporter serves them
(``alignwatch_pipeline_last_heartbeat_timestamp_seconds``), so that the freshness alert
tells a pipeline that stopped from one that had nothing to publish between two hours.

**Airflow states.** :func:`task_result` turns an outcome into the task state Airflow
shows: a skipped run raises ``AirflowSkipException`` (the task is *skipped*), a run that
failed validation raises :class:`ValidationFailedError` (the task is retried, then
*failed*), a published run returns its JSON (the task *succeeds*).

**Reproducibility.** A stored value of a window is a function of the events, the strategy
and the run history *as it stood at the window's end*: the checklist's
``continuous_monitoring`` item counts only the runs published at or before the window's
end (``finished_at``), so the continuous, nightly, backfill and manual paths write
identical rows for the same window, whenever they run.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alignwatch.errors import AlignwatchError, ConfigError
from alignwatch.metrics.engine import Recomputation
from alignwatch.metrics.values import WINDOWS, MetricValue
from alignwatch.store.schema import events, metric_values, pipeline_heartbeats, pipeline_runs

if TYPE_CHECKING:
    from alignwatch.expectations.metric_values import MetricRules
    from alignwatch.expectations.runner import SuiteOutcome

__all__ = [
    "CONTINUOUS_LOOKBACK",
    "NIGHTLY_DAYS",
    "NIGHTLY_MAX_LATE_DAYS",
    "RUN_KINDS",
    "RUN_TIMEOUT",
    "HEARTBEAT_OUTCOMES",
    "AbandonedRun",
    "ContinuousWindows",
    "Granularity",
    "Heartbeat",
    "HeartbeatOutcome",
    "LatePlan",
    "RunKind",
    "RunOutcome",
    "RunOwner",
    "RunState",
    "Snapshot",
    "ValidationFailedError",
    "backfill_task",
    "close_abandoned_runs",
    "continuous_task",
    "continuous_windows",
    "changed_days",
    "day_ranges",
    "latest_snapshot",
    "nightly_range",
    "nightly_task",
    "plan_late_days",
    "process_running",
    "record_heartbeat",
    "run_interval",
    "task_result",
]

RunKind = Literal["continuous", "nightly", "backfill", "manual"]
RUN_KINDS: tuple[RunKind, ...] = ("continuous", "nightly", "backfill", "manual")
Granularity = Literal["hour", "day"]
RunStatus = Literal["running", "published", "failed_validation", "error", "abandoned", "skipped"]
HeartbeatOutcome = Literal["published", "skipped", "failed_validation", "error"]
HEARTBEAT_OUTCOMES: tuple[HeartbeatOutcome, ...] = ("published", "skipped", "failed_validation", "error")

# continuous runs recompute the closed hours of the last 24 h (late events of the day)
CONTINUOUS_LOOKBACK = dt.timedelta(hours=24)
# nightly runs recompute the last 7 days by default
NIGHTLY_DAYS = 7
# and at most this many older days that received late events (ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS)
NIGHTLY_MAX_LATE_DAYS = 62
# an event of day D is in the 28d windows ending at the ends of D, D+1, ..., D+27
ROLLING_DAYS = 28
# events ingested up to this long before a run's mark may have committed after its read
INGESTION_MARGIN = dt.timedelta(minutes=5)
# a run still running after this long is abandoned (settings: ALIGNWATCH_RUN_TIMEOUT_S)
RUN_TIMEOUT = dt.timedelta(hours=6)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

log = logging.getLogger(__name__)

Clock = Callable[[], dt.datetime]
Compute = Callable[..., list[MetricValue]]
Writer = Callable[[sa.Connection, int, Sequence[MetricValue]], Any]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# ----------------------------------------------------------------------------- outcomes


@dataclass(frozen=True)
class RunOutcome:
    """What a run did; ``as_json()`` is what a DAG task returns (XCom)."""

    run_id: int | None
    kind: RunKind
    status: RunStatus
    start: dt.datetime
    end: dt.datetime
    value_count: int = 0
    validation: dict[str, Any] = field(default_factory=dict)
    detail: str = ""
    gate_seconds: float = 0.0

    @property
    def published(self) -> bool:
        return self.status == "published"

    def as_json(self) -> dict[str, Any]:
        """Plain JSON form (the failed expectations by name, not the whole results)."""
        return {
            "run_id": self.run_id,
            "kind": self.kind,
            "status": self.status,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "value_count": self.value_count,
            "failed": list(self.validation.get("failed", [])),
            "detail": self.detail,
            "gate_seconds": round(self.gate_seconds, 4),
        }


@dataclass(frozen=True)
class RunState:
    """The newest finished run of one kind: its status, when it finished and what failed."""

    kind: str
    status: str
    finished_at: dt.datetime
    run_id: int
    failed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Heartbeat:
    """When a kind of run (continuous, nightly) of a business last ended with an outcome."""

    business: str
    kind: str
    outcome: str
    at: dt.datetime
    interval_end: dt.datetime
    run_id: int | None = None
    detail: str = ""


class ValidationFailedError(AlignwatchError):
    """A run's values failed their expectation suites and were not published (the Airflow task fails)."""


@dataclass(frozen=True)
class Snapshot:
    """The latest published values (per metric, labels and window kind) and the runs' state.

    ``validation_ok`` is the outcome of the newest validated run (published or
    failed_validation): False while the newest computation was held back by a suite, with
    ``failed_expectations`` naming which rules failed. ``heartbeats`` say when each kind of
    run last ended with each outcome (skipped runs included).
    """

    values: tuple[MetricValue, ...] = ()
    runs: tuple[RunState, ...] = ()
    validation_ok: bool | None = None
    failed_expectations: tuple[str, ...] = ()
    last_published_at: dt.datetime | None = None
    heartbeats: tuple[Heartbeat, ...] = ()


# ----------------------------------------------------------------------------- windows


@dataclass(frozen=True)
class ContinuousWindows:
    """The hour windows that closed in a data interval, and the range a run recomputes."""

    closed: tuple[dt.datetime, ...]
    start: dt.datetime
    end: dt.datetime


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    moment = _aware(moment)
    return moment.replace(minute=0, second=0, microsecond=0)


def _aware(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ConfigError(f"naive datetime {moment!r}: pipeline intervals must be timezone-aware")
    return dt.datetime.fromtimestamp(moment.timestamp(), dt.UTC)


def continuous_windows(
    data_interval_start: dt.datetime,
    data_interval_end: dt.datetime,
    lookback: dt.timedelta = CONTINUOUS_LOOKBACK,
) -> ContinuousWindows | None:
    """Which hour windows closed in [start, end), and the range to recompute.

    The range ends at the last closed hour and reaches back ``lookback`` (24 h: late
    events of the day are folded in) or to the first closed hour, whichever is earlier.
    None when no hour closed in the interval (a 5-minute run in the middle of an hour).
    """
    start, end = _aware(data_interval_start), _aware(data_interval_end)
    last_end = _floor_hour(end)
    closed = []
    moment = _floor_hour(start)
    while moment + HOUR <= last_end:
        if moment + HOUR > start:
            closed.append(moment)
        moment += HOUR
    if not closed:
        return None
    return ContinuousWindows(closed=tuple(closed), start=min(closed[0], last_end - lookback), end=last_end)


def nightly_range(at: dt.datetime, days: int = NIGHTLY_DAYS, tz: str = "UTC") -> tuple[dt.datetime, dt.datetime]:
    """The ``days`` whole local days before the local date of ``at``, as a UTC range.

    The nightly run at 02:00 local time recomputes [midnight ``days`` days ago, last
    midnight): DST-safe, since days are counted on the local calendar.
    """
    if days < 1:
        raise ConfigError(f"nightly days must be >= 1, not {days}")
    zone = _zone(tz)
    local_date = _aware(at).astimezone(zone).date()
    end = dt.datetime.combine(local_date, dt.time(), zone)
    start = dt.datetime.combine(local_date - dt.timedelta(days=days), dt.time(), zone)
    return _aware(start), _aware(end)


def day_ranges(start: dt.datetime, end: dt.datetime, tz: str = "UTC") -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut at local midnights (the steps of a nightly or backfill run)."""
    zone = _zone(tz)
    start, end = _aware(start), _aware(end)
    steps = []
    cursor = start
    while cursor < end:
        local = cursor.astimezone(zone)
        next_midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
        step_end = min(_aware(next_midnight), end)
        steps.append((cursor, step_end))
        cursor = step_end
    return steps


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {tz!r}") from exc


def _local_day(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The local day ``day`` as a UTC range."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + DAY, dt.time(), zone)
    return _aware(start), _aware(end)


def _blocks(steps: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The steps (sorted) merged into runs of contiguous ranges."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(steps):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


# ----------------------------------------------------------------------------- late data


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
    from alignwatch.metrics.aggregates import hour_bucket

    zone = _zone(tz)
    query = sa.select(sa.func.min(events.c.time), sa.func.max(events.c.time))
    if since is not None:
        query = query.where(events.c.ingested_at > _aware(since))
    rows = conn.execute(query.group_by(hour_bucket(conn.dialect.name))).all()
    return sorted({_aware(moment).astimezone(zone).date() for row in rows for moment in row})


def _stored_days(conn: sa.Connection, days: Sequence[dt.date], tz: str) -> list[dt.date]:
    """Those of ``days`` for which hour or day values are stored."""
    if not days:
        return []
    zone = _zone(tz)
    lo, hi = _local_day(min(days), zone)[0], _local_day(max(days), zone)[1]
    mv = metric_values.c
    ends = conn.execute(
        sa.select(mv.window_end)
        .where(mv.window.in_(("hour", "day")), mv.window_end > lo, mv.window_end <= hi)
        .distinct()
    ).scalars()
    stored = {(_aware(end) - dt.timedelta(microseconds=1)).astimezone(zone).date() for end in ends}
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
        return _Previous(_aware(row.started_at), None, ())
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


def _late_plan(engine: sa.Engine, *, first: dt.date, stop: dt.date, tz: str, max_days: int) -> LatePlan:
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
        mark = None if newest is None else _aware(newest)
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


# ----------------------------------------------------------------------------- abandoned runs


@dataclass(frozen=True)
class RunOwner:
    """The process that runs a pipeline run: its host name and pid.

    On Linux three more facts make the pid trustworthy: ``boot_id`` and ``pid_namespace``
    say whether a pid recorded under this host name means the same process here (not after
    a reboot, not in another container that shares the host name), and ``process_start``
    (clock ticks after boot) tells the recorded process from a later one given the same pid.
    """

    host: str
    pid: int
    boot_id: str | None = None
    pid_namespace: str | None = None
    process_start: int | None = None

    @classmethod
    def current(cls) -> RunOwner:
        """This process."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            pid=pid,
            boot_id=_read_text("/proc/sys/kernel/random/boot_id"),
            pid_namespace=_read_link("/proc/self/ns/pid"),
            process_start=_process_start(pid),
        )

    @classmethod
    def from_json(cls, data: Any) -> RunOwner | None:
        """The owner recorded in a run's ``details``; None when missing or malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("host"), str) or not isinstance(data.get("pid"), int):
            return None
        start = data.get("process_start")
        return cls(
            host=data["host"],
            pid=data["pid"],
            boot_id=data.get("boot_id") if isinstance(data.get("boot_id"), str) else None,
            pid_namespace=data.get("pid_namespace") if isinstance(data.get("pid_namespace"), str) else None,
            process_start=start if isinstance(start, int) else None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "boot_id": self.boot_id,
            "pid_namespace": self.pid_namespace,
            "process_start": self.process_start,
        }

    def sees(self, other: RunOwner) -> bool:
        """Whether ``other``'s pid can be looked up from here: same host, boot and pid namespace."""
        return (self.host, self.boot_id, self.pid_namespace) == (other.host, other.boot_id, other.pid_namespace)


@dataclass(frozen=True)
class AbandonedRun:
    """A run :func:`close_abandoned_runs` marked ``abandoned``, and why."""

    run_id: int
    reason: str


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _read_link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None if none."""
    text = _read_text(f"/proc/{pid}/stat")
    return None if text is None else text.rpartition(")")[2].split()


def _process_start(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def process_running(owner: RunOwner) -> bool:
    """Whether the process ``owner`` names still runs on this host (True when unsure).

    Linux: ``/proc/<pid>`` is not a zombie and started when the recorded process did.
    Without a readable ``/proc/<pid>`` (other systems, ``hidepid``): signal 0 reaches the
    pid (a process of another user counts as running).
    """
    fields = _proc_stat(owner.pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        return owner.process_start is None or len(fields) <= 19 or int(fields[19]) == owner.process_start
    if os.name == "nt":
        return True  # os.kill would terminate the process
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _hours(limit: dt.timedelta) -> str:
    seconds = limit.total_seconds()
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def close_abandoned_runs(
    engine: sa.Engine,
    *,
    timeout: dt.timedelta = RUN_TIMEOUT,
    clock: Clock = _utcnow,
    here: RunOwner | None = None,
    running: Callable[[RunOwner], bool] = process_running,
) -> list[AbandonedRun]:
    """Mark ``abandoned`` every ``running`` run whose process is gone or that runs too long.

    A run is abandoned when it was started on this host (same host name, boot and pid
    namespace as ``here``, by default this process) by a process that no longer runs, or
    when it started more than ``timeout`` ago, wherever it runs. ``finished_at`` is set and
    ``details["error"]`` says why. Cheap: one read on the ``(status, started_at)`` index,
    and an update only of the runs it closes. A run whose process was in fact alive and
    finishes later still records its real outcome over ``abandoned``.
    """
    here = here or RunOwner.current()
    now = clock()
    runs = pipeline_runs.c
    closed: list[AbandonedRun] = []
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(runs.id, runs.started_at, runs.details).where(runs.status == "running").order_by(runs.id)
        ).all()
        for row in rows:
            details = dict(row.details) if isinstance(row.details, dict) else {}
            owner = RunOwner.from_json(details.get("owner"))
            if now - row.started_at > timeout:
                reason = f"running for more than {_hours(timeout)}"
            elif owner is not None and here.sees(owner) and not running(owner):
                reason = f"process {owner.pid} on host {owner.host} is gone"
            else:
                continue
            details["error"] = reason
            updated = conn.execute(
                pipeline_runs.update()
                .where(runs.id == row.id, runs.status == "running")
                .values(status="abandoned", finished_at=now, details=details)
            )
            if updated.rowcount:
                closed.append(AbandonedRun(int(row.id), reason))
    return closed


# ----------------------------------------------------------------------------- the run


def run_interval(
    engine: sa.Engine,
    strategy: Any,
    *,
    start: dt.datetime,
    end: dt.datetime,
    kind: RunKind = "manual",
    granularity: Granularity | Sequence[Granularity] = "hour",
    trigger: str | None = None,
    steps: Sequence[tuple[dt.datetime, dt.datetime]] | None = None,
    compute: Compute | None = None,
    write: Writer | None = None,
    rules: MetricRules | None = None,
    event_types: Iterable[str] | None = None,
    clock: Clock = _utcnow,
    run_timeout: dt.timedelta = RUN_TIMEOUT,
    details: dict[str, Any] | None = None,
    validate: Sequence[tuple[dt.datetime, dt.datetime]] | None = None,
) -> RunOutcome:
    """Compute [start, end), validate, and publish only if every expectation holds.

    ``steps`` cuts the interval into sub-ranges computed one by one (rolling windows at
    each step's end); by default the interval is one step. Steps need not be contiguous
    (a nightly run's late days): the events are validated once per run of contiguous
    steps, or on each range of ``validate`` when given. ``details`` are recorded in the
    run's ``details`` beside its owner.
    ``compute``, ``write`` and ``rules`` default to the metric engine's
    ``compute``/``write_values`` and the rules derived from the catalogue; ``clock`` only
    stamps the run's bookkeeping times.
    Runs left ``running`` by a dead process, or for longer than ``run_timeout``, are marked
    ``abandoned`` first (:func:`close_abandoned_runs`).
    """
    start, end = _aware(start), _aware(end)
    if end <= start:
        raise ConfigError(f"empty interval [{start.isoformat()}, {end.isoformat()})")
    if kind not in RUN_KINDS:
        raise ConfigError(f"unknown run kind {kind!r} (one of {', '.join(RUN_KINDS)})")
    granularities: tuple[Granularity, ...] = (granularity,) if isinstance(granularity, str) else tuple(granularity)
    if compute is None or write is None:
        from alignwatch.metrics import engine as metric_engine

        # the steps of one run share their reads of the events (values as from compute)
        compute = compute or Recomputation(engine, strategy, until=end).compute
        write = write or metric_engine.write_values
    business = _business(strategy)
    owner = RunOwner.current()
    close_abandoned_runs(engine, timeout=run_timeout, clock=clock, here=owner)
    recorded = {**(details or {}), "owner": owner.as_json()}
    with engine.begin() as conn:
        run_id = int(
            conn.execute(
                pipeline_runs.insert()
                .values(
                    kind=kind,
                    business=business,
                    interval_start=start,
                    interval_end=end,
                    started_at=clock(),
                    status="running",
                    trigger=trigger,
                    details=recorded,
                )
                .returning(pipeline_runs.c.id)
            ).scalar_one()
        )
    try:
        values = _compute_steps(compute, engine, strategy, steps or [(start, end)], granularities)
        began = time.perf_counter()
        blocks = validate if validate is not None else _blocks(steps or [(start, end)])
        suites = _validate(engine, strategy, blocks, values, rules, event_types)
        gate_seconds = time.perf_counter() - began
    except BaseException as exc:
        with engine.begin() as conn:
            _finish(conn, run_id, "error", clock(), details={**recorded, "error": f"{type(exc).__name__}: {exc}"})
        raise
    failed = [f"{outcome.suite}.{item.expectation}" for outcome in suites for item in outcome.failed]
    validation = {
        "success": not failed,
        "failed": failed,
        "seconds": round(gate_seconds, 4),
        "suites": [outcome.as_json() for outcome in suites],
    }
    if failed:
        with engine.begin() as conn:
            _finish(
                conn,
                run_id,
                "failed_validation",
                clock(),
                value_count=len(values),
                validation=validation,
                details={**recorded, "held_back": [_value_json(v) for v in values]},
            )
        status: RunStatus = "failed_validation"
        detail = "validation failed: " + ", ".join(sorted(set(failed)))
    else:
        try:
            with engine.begin() as conn:
                write(conn, run_id, values)
                _finish(conn, run_id, "published", clock(), value_count=len(values), validation=validation)
        except BaseException as exc:
            with engine.begin() as conn:
                _finish(conn, run_id, "error", clock(), details={**recorded, "error": f"{type(exc).__name__}: {exc}"})
            raise
        status = "published"
        detail = f"published {len(values)} values"
    return RunOutcome(
        run_id=run_id,
        kind=kind,
        status=status,
        start=start,
        end=end,
        value_count=len(values),
        validation=validation,
        detail=detail,
        gate_seconds=gate_seconds,
    )


def _compute_steps(
    compute: Compute,
    engine: sa.Engine,
    strategy: Any,
    steps: Sequence[tuple[dt.datetime, dt.datetime]],
    granularities: Sequence[Granularity],
) -> list[MetricValue]:
    """Values of every step and granularity; a key computed twice (rolling windows) once."""
    by_key: dict[tuple[Any, ...], MetricValue] = {}
    for step_start, step_end in steps:
        for granularity in granularities:
            for value in compute(engine, strategy, start=step_start, end=step_end, granularity=granularity):
                by_key[value.key] = value
    return [by_key[key] for key in sorted(by_key, key=lambda k: (k[0], k[1], WINDOWS.index(k[2]), k[3]))]


def _validate(
    engine: sa.Engine,
    strategy: Any,
    blocks: Sequence[tuple[dt.datetime, dt.datetime]],
    values: Sequence[MetricValue],
    rules: MetricRules | None,
    event_types: Iterable[str] | None,
) -> list[SuiteOutcome]:
    """The ``raw_events`` suite on each block of events, then ``metric_values``."""
    from alignwatch.expectations.metric_values import check_metric_values, rules_from_catalogue
    from alignwatch.expectations.raw_events import check_raw_events, strategy_expects_events

    types = None if event_types is None else tuple(event_types)
    with engine.connect() as conn:
        # no data: the strategy expects events, yet none lies in the run's interval nor in the
        # 28 days before it that its rolling windows read (a quiet day beside busy ones is not
        # "no data"; a fresh store or a range far from every event is, and its values, an SAI
        # of 0.0 from nothing, are never published)
        reach = [(lo - ROLLING_DAYS * DAY, hi) for lo, hi in blocks]
        expect = strategy_expects_events(strategy) and not _any_event(conn, reach)
        raw = [check_raw_events(conn, start=lo, end=hi, event_types=types, expect_events=expect) for lo, hi in blocks]
    metrics = check_metric_values(values, rules if rules is not None else rules_from_catalogue(strategy))
    return [*raw, metrics]


def _any_event(conn: sa.Connection, blocks: Sequence[tuple[dt.datetime, dt.datetime]]) -> bool:
    """Whether any event lies in one of ``blocks`` (one indexed lookup per block)."""
    t = events.c.time
    return any(
        conn.execute(sa.select(events.c.id).where(t >= lo, t < hi).limit(1)).first() is not None for lo, hi in blocks
    )


def _finish(
    conn: sa.Connection,
    run_id: int,
    status: RunStatus,
    finished_at: dt.datetime,
    *,
    value_count: int | None = None,
    validation: dict[str, Any] | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    changes: dict[str, Any] = {"status": status, "finished_at": finished_at}
    if value_count is not None:
        changes["value_count"] = value_count
    if validation is not None:
        changes["validation"] = validation
    if details is not None:
        changes["details"] = details
    conn.execute(pipeline_runs.update().where(pipeline_runs.c.id == run_id).values(**changes))


def _value_json(value: MetricValue) -> dict[str, Any]:
    number = value.value
    return {
        "metric_id": value.metric_id,
        "labels": dict(value.labels),
        "window": value.window,
        "window_start": value.window_start.isoformat(),
        "window_end": value.window_end.isoformat(),
        "value": number if number is None or math.isfinite(number) else str(number),
    }


# ----------------------------------------------------------------------------- snapshot


def latest_snapshot(engine: sa.Engine) -> Snapshot:
    """The published values of the newest window of each kind, plus the runs' state.

    The values are one read: for each window kind, the rows whose ``window_end`` is that
    kind's newest (each maximum is an index lookup on ``(window, window_end)``). A second,
    small grouped read gives the newest run of each kind and status.
    """
    mv = metric_values
    newest = {
        kind: sa.select(sa.func.max(mv.c.window_end)).where(mv.c.window == kind).scalar_subquery()
        for kind in WINDOWS
    }
    condition = sa.or_(*(sa.and_(mv.c.window == kind, mv.c.window_end == newest[kind]) for kind in WINDOWS))
    query = sa.select(
        mv.c.metric_id, mv.c.labels, mv.c.window, mv.c.window_start, mv.c.window_end, mv.c.value, mv.c.inputs
    ).where(condition)
    runs = pipeline_runs
    ranked = sa.select(
        runs.c.id,
        runs.c.kind,
        runs.c.status,
        runs.c.finished_at,
        runs.c.validation,
        sa.func.row_number()
        .over(partition_by=(runs.c.kind, runs.c.status), order_by=(runs.c.finished_at.desc(), runs.c.id.desc()))
        .label("rank"),
    ).where(runs.c.finished_at.is_not(None)).subquery()
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        run_rows = conn.execute(sa.select(ranked).where(ranked.c.rank == 1)).all()
        beats = conn.execute(sa.select(pipeline_heartbeats)).all()
    values = tuple(
        MetricValue(
            metric_id=row.metric_id,
            labels=dict(row.labels or {}),
            window=row.window,
            window_start=row.window_start,
            window_end=row.window_end,
            value=row.value,
            inputs=dict(row.inputs or {}),
        )
        for row in rows
    )
    states = tuple(
        RunState(
            kind=row.kind,
            status=row.status,
            finished_at=row.finished_at,
            run_id=int(row.id),
            failed=tuple((row.validation or {}).get("failed", []) if isinstance(row.validation, dict) else ()),
        )
        for row in run_rows
    )
    validated = [s for s in states if s.status in ("published", "failed_validation")]
    newest_validated = max(validated, key=lambda s: (s.finished_at, s.run_id)) if validated else None
    published = [s.finished_at for s in states if s.status == "published"]
    return Snapshot(
        values=values,
        runs=states,
        validation_ok=None if newest_validated is None else newest_validated.status == "published",
        failed_expectations=() if newest_validated is None else newest_validated.failed,
        last_published_at=max(published) if published else None,
        heartbeats=tuple(
            Heartbeat(row.business, row.kind, row.outcome, row.at, row.interval_end, row.run_id, row.detail or "")
            for row in sorted(beats, key=lambda r: (r.business, r.kind, r.outcome))
        ),
    )


# ----------------------------------------------------------------------------- tasks


def _resolve(store: Any, strategy: Any) -> tuple[sa.Engine, Any, bool]:
    """An engine and a strategy from objects, a URL and a path, or the settings (entry points)."""
    from alignwatch.store import connect

    settings = None
    if store is None or strategy is None:
        from alignwatch.config import load_settings

        settings = load_settings()
    owned = False
    if store is None or isinstance(store, str):
        from alignwatch.store.engine import require_current

        store = connect(store if store is not None else settings.store_url)  # type: ignore[union-attr]
        owned = True
        try:
            require_current(store)  # a clear StoreError when the store is not migrated
        except BaseException:
            store.dispose()
            raise
    if strategy is None or isinstance(strategy, str | Path):
        from alignwatch.config import load_settings
        from alignwatch.metrics.strategy import load_strategy

        settings = settings or load_settings()
        strategy = load_strategy(Path(strategy) if strategy is not None else settings.strategy_file,
                                 max_bytes=settings.max_strategy_bytes)  # fmt: skip
    return store, strategy, owned


def _with_timeout(run_options: dict[str, Any]) -> dict[str, Any]:
    """The run options, with the settings' run timeout (ALIGNWATCH_RUN_TIMEOUT_S) unless given."""
    if "run_timeout" in run_options:
        return run_options
    from alignwatch.config import load_settings

    return {**run_options, "run_timeout": dt.timedelta(seconds=load_settings().run_timeout_s)}


def _timezone(strategy: Any) -> str:
    return str(getattr(getattr(strategy, "business", None), "timezone", None) or "UTC")


def record_heartbeat(
    engine: sa.Engine,
    *,
    business: str,
    kind: RunKind,
    outcome: HeartbeatOutcome,
    at: dt.datetime,
    interval_end: dt.datetime,
    run_id: int | None = None,
    detail: str = "",
) -> None:
    """Record that a ``kind`` run of ``business`` ended with ``outcome`` at ``at`` (one upsert)."""
    if outcome not in HEARTBEAT_OUTCOMES:
        raise ConfigError(f"unknown heartbeat outcome {outcome!r} (one of {', '.join(HEARTBEAT_OUTCOMES)})")
    row = {
        "business": business,
        "kind": kind,
        "outcome": outcome,
        "at": _aware(at),
        "interval_end": _aware(interval_end),
        "run_id": run_id,
        "detail": detail[:2000],
    }
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        statement = insert(pipeline_heartbeats).values(**row)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["business", "kind", "outcome"],
                set_={key: statement.excluded[key] for key in ("at", "interval_end", "run_id", "detail")},
            )
        )


def _business(strategy: Any) -> str:
    return str(getattr(getattr(strategy, "business", None), "name", "") or "default")


def _beat(engine: sa.Engine, strategy: Any, outcome: RunOutcome, at: dt.datetime) -> None:
    """The heartbeat of a finished task (its outcome's status)."""
    record_heartbeat(
        engine, business=_business(strategy), kind=outcome.kind, outcome=outcome.status,  # type: ignore[arg-type]
        at=at, interval_end=outcome.end, run_id=outcome.run_id, detail=outcome.detail,
    )  # fmt: skip


def _beat_error(engine: sa.Engine, strategy: Any, kind: RunKind, end: dt.datetime, at: dt.datetime, exc: BaseException) -> None:
    """The heartbeat of a task that raised; a store that cannot record it is logged, never raised over ``exc``."""
    try:
        record_heartbeat(
            engine, business=_business(strategy), kind=kind, outcome="error", at=at, interval_end=end,
            detail=f"{type(exc).__name__}: {exc}",
        )  # fmt: skip
    except Exception as failure:  # noqa: BLE001 - the task's own exception is what Airflow must see
        log.warning("could not record the error heartbeat of a %s run: %s", kind, failure)


def task_result(outcome: RunOutcome) -> dict[str, Any]:
    """What an Airflow task returns for ``outcome``, or the exception that sets its state.

    ``skipped`` raises ``AirflowSkipException`` (the task shows *skipped*: nothing to
    publish); ``failed_validation`` raises :class:`ValidationFailedError` (the task is
    retried, then shows *failed*); otherwise the outcome's JSON (XCom).
    """
    if outcome.status == "skipped":
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(outcome.detail or "nothing to publish")
    if outcome.status == "failed_validation":
        raise ValidationFailedError(
            f"run {outcome.run_id} [{outcome.start.isoformat()}, {outcome.end.isoformat()}) was not published: {outcome.detail}"
        )
    return outcome.as_json()


def continuous_task(
    store: sa.Engine | str | None = None,
    strategy: Any = None,
    *,
    start: dt.datetime,
    end: dt.datetime,
    trigger: str | None = "airflow:alignment_continuous",
    lookback: dt.timedelta = CONTINUOUS_LOOKBACK,
    **run_options: Any,
) -> RunOutcome:
    """The continuous task: the hour windows that closed in [start, end), plus the last 24 h.

    ``store`` is an engine or a store URL, ``strategy`` a Strategy or a strategy file; None
    reads them from the settings (ALIGNWATCH_STORE_URL, ALIGNWATCH_STRATEGY_FILE). When no
    hour closed in the interval the outcome is ``skipped``: no run is recorded, only the
    heartbeat. Every outcome (and an exception, as ``error``) records a heartbeat stamped
    by ``run_options["clock"]`` (default: the wall clock; the embedded runner's simulated
    clock in the demo).
    """
    windows = continuous_windows(start, end, lookback)
    clock: Clock = run_options.get("clock", _utcnow)
    engine, strategy, owned = _resolve(store, strategy)
    try:
        if windows is None:
            outcome = RunOutcome(
                None, "continuous", "skipped", _aware(start), _aware(end), detail="no hour closed in the interval"
            )
        else:
            try:
                outcome = run_interval(
                    engine,
                    strategy,
                    start=windows.start,
                    end=windows.end,
                    kind="continuous",
                    granularity="hour",
                    trigger=trigger,
                    **_with_timeout(run_options),
                )
            except Exception as exc:
                _beat_error(engine, strategy, "continuous", windows.end, clock(), exc)
                raise
        _beat(engine, strategy, outcome, clock())
        return outcome
    finally:
        if owned:
            engine.dispose()


def nightly_task(
    store: sa.Engine | str | None = None,
    strategy: Any = None,
    *,
    end: dt.datetime,
    days: int = NIGHTLY_DAYS,
    trigger: str | None = "airflow:alignment_nightly",
    max_late_days: int | None = None,
    **run_options: Any,
) -> RunOutcome:
    """The nightly task: recompute the ``days`` local days before ``end``'s local date, and the late days.

    Hour and day windows of every day, rolling windows at every day's end. Besides its own
    days, the run recomputes every older local day that received events since the previous
    published nightly run (``events.ingested_at``), with the 27 days after it (their 7d and
    28d windows cover it), and the days the previous run left for later: at most
    ``max_late_days`` of them, oldest first (default: ``ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS``);
    the rest are recorded in ``details["late"]`` for the next run (:class:`LatePlan`). The
    plan is logged. Idempotent: the same ``end`` writes the same rows (a second run finds
    no new late day).
    """
    engine, strategy, owned = _resolve(store, strategy)
    try:
        tz = _timezone(strategy)
        start, stop = nightly_range(end, days, tz)
        zone = _zone(tz)
        first_day, stop_day = start.astimezone(zone).date(), stop.astimezone(zone).date()
        if max_late_days is None:
            from alignwatch.config import load_settings

            max_late_days = load_settings().nightly_max_late_days
        plan = _late_plan(engine, first=first_day, stop=stop_day, tz=tz, max_days=max_late_days)
        late = [_local_day(day, zone) for day in plan.days]
        steps = sorted([*late, *day_ranges(start, stop, tz)])
        log.info(
            "nightly run: its %d day(s) %s..%s (%s); %s",
            days, first_day.isoformat(), (stop_day - DAY).isoformat(), tz, plan.describe(),
        )
        clock: Clock = run_options.get("clock", _utcnow)
        try:
            outcome = run_interval(
                engine,
                strategy,
                start=steps[0][0],
                end=stop,
                kind="nightly",
                granularity=("hour", "day"),
                steps=steps,
                trigger=trigger,
                details={"late": plan.as_json()},
                # the run's own days are validated first and as before (the volume band of the
                # same days earlier); then each run of late days on its own
                validate=[(start, stop), *_blocks(late)],
                **_with_timeout(run_options),
            )
        except Exception as exc:
            _beat_error(engine, strategy, "nightly", stop, clock(), exc)
            raise
        outcome = replace(outcome, detail=f"{outcome.detail}; {plan.describe()}")
        _beat(engine, strategy, outcome, clock())
        return outcome
    finally:
        if owned:
            engine.dispose()


def backfill_task(
    store: sa.Engine | str | None = None,
    strategy: Any = None,
    *,
    start: dt.datetime,
    end: dt.datetime,
    trigger: str | None = "backfill",
    **run_options: Any,
) -> list[RunOutcome]:
    """Recompute any range [start, end) as one run per local day, oldest first.

    Each day is computed, gated and published on its own, exactly as a nightly run with
    ``days=1`` would (a bad day holds back only itself), so a backfill of a range writes
    the same rows as the single-day runs of that range.
    """
    engine, strategy, owned = _resolve(store, strategy)
    run_options = _with_timeout(run_options)
    if "compute" not in run_options:
        # the days share their reads of the events (values as from compute, day by day)
        run_options["compute"] = Recomputation(engine, strategy, until=_aware(end)).compute
    try:
        return [
            run_interval(
                engine,
                strategy,
                start=day_start,
                end=day_end,
                kind="backfill",
                granularity=("hour", "day"),
                trigger=trigger,
                **run_options,
            )
            for day_start, day_end in day_ranges(start, end, _timezone(strategy))
        ]
    finally:
        if owned:
            engine.dispose()
