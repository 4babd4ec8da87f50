"""One pipeline run: compute the metrics of an interval, validate them, publish them or not.

Every way of computing metrics goes through :func:`run_interval`: the Airflow DAGs
(``dags/``), ``alignwatch metrics compute`` and the embedded runner (``alignwatch run``).
The DAG tasks and the runner call the task functions below (:func:`continuous_task`,
:func:`nightly_task`, :func:`backfill_task`); the DAG files only wire them.

A run:

1. records a ``pipeline_runs`` row with status ``running``;
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
    "ContinuousWindows",
    "Granularity",
    "RunKind",
    "RunOutcome",
    "RunState",
    "Snapshot",
    "backfill_task",
    "continuous_task",
    "continuous_windows",
    "day_ranges",
    "latest_snapshot",
    "nightly_range",
    "nightly_task",
    "run_interval",
]

RunKind = Literal["continuous", "nightly", "backfill", "manual"]
RUN_KINDS: tuple[RunKind, ...] = ("continuous", "nightly", "backfill", "manual")
Granularity = Literal["hour", "day"]
RunStatus = Literal["running", "published", "failed_validation", "error", "skipped"]

# continuous runs recompute the closed hours of the last 24 h (late events of the day)
CONTINUOUS_LOOKBACK = dt.timedelta(hours=24)
# nightly runs recompute the last 7 days by default
NIGHTLY_DAYS = 7
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
) -> RunOutcome:
    """Compute [start, end), validate, and publish only if every expectation holds.

    ``steps`` cuts the interval into sub-ranges computed one by one (rolling windows at
    each step's end); by default the interval is one step. ``compute``, ``write`` and
    ``rules`` default to the metric engine's ``compute``/``write_values`` and the rules
    derived from the catalogue; ``clock`` only stamps the run's bookkeeping times.
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
            _finish(conn, run_id, "error", clock(), details={"error": f"{type(exc).__name__}: {exc}"})
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
                details={"held_back": [_value_json(v) for v in values]},
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
                _finish(conn, run_id, "error", clock(), details={"error": f"{type(exc).__name__}: {exc}"})
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
            **run_options,
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
            **run_options,
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
