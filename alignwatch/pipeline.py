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
   validates the stored events of the interval (suite ``raw_events``);
3. validates the values (suite ``metric_values``);
4. when both suites pass, upserts the values into ``metric_values`` and marks the run
   ``published`` in the same transaction; otherwise marks it ``failed_validation`` and
   keeps the values in the run's ``details`` for inspection, leaving ``metric_values``
   (the published snapshot) untouched. An unexpected exception marks it ``error`` and is
   raised again (Airflow then retries the task).

Runs are keyed on their interval, never on the wall clock: running the same interval twice
writes the same rows (the upsert key is metric, labels, window kind and window end).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alignwatch.errors import ConfigError
from alignwatch.store.schema import metric_values, pipeline_runs
from metrics.values import WINDOWS, MetricValue

if TYPE_CHECKING:
    from expectations.metric_values import MetricRules
    from expectations.runner import SuiteOutcome

__all__ = [
    "CONTINUOUS_LOOKBACK",
    "NIGHTLY_DAYS",
    "RUN_KINDS",
    "RUN_TIMEOUT",
    "AbandonedRun",
    "ContinuousWindows",
    "Granularity",
    "RunKind",
    "RunOutcome",
    "RunOwner",
    "RunState",
    "Snapshot",
    "backfill_task",
    "close_abandoned_runs",
    "continuous_task",
    "continuous_windows",
    "day_ranges",
    "latest_snapshot",
    "nightly_range",
    "nightly_task",
    "process_running",
    "run_interval",
]

RunKind = Literal["continuous", "nightly", "backfill", "manual"]
RUN_KINDS: tuple[RunKind, ...] = ("continuous", "nightly", "backfill", "manual")
Granularity = Literal["hour", "day"]
RunStatus = Literal["running", "published", "failed_validation", "error", "abandoned", "skipped"]

# continuous runs recompute the closed hours of the last 24 h (late events of the day)
CONTINUOUS_LOOKBACK = dt.timedelta(hours=24)
# nightly runs recompute the last 7 days by default
NIGHTLY_DAYS = 7
# a run still running after this long is abandoned (settings: ALIGNWATCH_RUN_TIMEOUT_S)
RUN_TIMEOUT = dt.timedelta(hours=6)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)

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
class Snapshot:
    """The latest published values (per metric, labels and window kind) and the runs' state.

    ``validation_ok`` is the outcome of the newest validated run (published or
    failed_validation): False while the newest computation was held back by a suite, with
    ``failed_expectations`` naming which rules failed.
    """

    values: tuple[MetricValue, ...] = ()
    runs: tuple[RunState, ...] = ()
    validation_ok: bool | None = None
    failed_expectations: tuple[str, ...] = ()
    last_published_at: dt.datetime | None = None


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
) -> RunOutcome:
    """Compute [start, end), validate, and publish only if every expectation holds.

    ``steps`` cuts the interval into sub-ranges computed one by one (rolling windows at
    each step's end); by default the interval is one step. ``compute``, ``write`` and
    ``rules`` default to the metric engine's ``compute``/``write_values`` and the rules
    derived from the catalogue; ``clock`` only stamps the run's bookkeeping times.
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
        from metrics import engine as metric_engine

        compute = compute or metric_engine.compute
        write = write or metric_engine.write_values
    business = str(getattr(getattr(strategy, "business", None), "name", "") or "default")
    owner = RunOwner.current()
    close_abandoned_runs(engine, timeout=run_timeout, clock=clock, here=owner)
    recorded = {"owner": owner.as_json()}
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
        suites = _validate(engine, strategy, start, end, values, rules, event_types)
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
    start: dt.datetime,
    end: dt.datetime,
    values: Sequence[MetricValue],
    rules: MetricRules | None,
    event_types: Iterable[str] | None,
) -> list[SuiteOutcome]:
    from expectations.metric_values import check_metric_values, rules_from_catalogue
    from expectations.raw_events import check_raw_events

    with engine.connect() as conn:
        raw = check_raw_events(conn, start=start, end=end, event_types=event_types)
    metrics = check_metric_values(values, rules if rules is not None else rules_from_catalogue(strategy))
    return [raw, metrics]


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
        from metrics.strategy import load_strategy

        strategy = load_strategy(Path(strategy) if strategy is not None else settings.strategy_file)  # type: ignore[union-attr]
    return store, strategy, owned


def _with_timeout(run_options: dict[str, Any]) -> dict[str, Any]:
    """The run options, with the settings' run timeout (ALIGNWATCH_RUN_TIMEOUT_S) unless given."""
    if "run_timeout" in run_options:
        return run_options
    from alignwatch.config import load_settings

    return {**run_options, "run_timeout": dt.timedelta(seconds=load_settings().run_timeout_s)}


def _timezone(strategy: Any) -> str:
    return str(getattr(getattr(strategy, "business", None), "timezone", None) or "UTC")


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
    hour closed in the interval the outcome is ``skipped`` and nothing is recorded.
    """
    windows = continuous_windows(start, end, lookback)
    if windows is None:
        return RunOutcome(None, "continuous", "skipped", _aware(start), _aware(end), detail="no hour closed in the interval")
    engine, strategy, owned = _resolve(store, strategy)
    try:
        return run_interval(
            engine,
            strategy,
            start=windows.start,
            end=windows.end,
            kind="continuous",
            granularity="hour",
            trigger=trigger,
            **_with_timeout(run_options),
        )
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
    **run_options: Any,
) -> RunOutcome:
    """The nightly task: recompute the ``days`` local days before ``end``'s local date.

    Hour and day windows of every day, rolling windows at every day's end; late and
    corrected events are folded in. Idempotent: the same ``end`` writes the same rows.
    """
    engine, strategy, owned = _resolve(store, strategy)
    try:
        tz = _timezone(strategy)
        start, stop = nightly_range(end, days, tz)
        return run_interval(
            engine,
            strategy,
            start=start,
            end=stop,
            kind="nightly",
            granularity=("hour", "day"),
            steps=day_ranges(start, stop, tz),
            trigger=trigger,
            **_with_timeout(run_options),
        )
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
