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

**Late data.** A nightly run also recomputes the older local days that received events
since the previous published nightly run, within a bound (:mod:`alignwatch.late_days`);
every nightly run logs what it recomputed and what it left for later. Window arithmetic is
:mod:`alignwatch.windows`; run owners and abandoned runs, :mod:`alignwatch.liveness`; the
published snapshot, :func:`alignwatch.metrics.runs.latest_snapshot`.

**One business per store.** Every run and every task first claims the store for its
strategy's business, or stops with :class:`~alignwatch.errors.BusinessMismatchError` when
the store serves another one (:mod:`alignwatch.store.business`): the DAG tasks read the
override from ``ALIGNWATCH_ALLOW_BUSINESS_MISMATCH``, the other callers pass
``allow_business_mismatch``.

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

import concurrent.futures
import datetime as dt
import logging
import math
import multiprocessing
import queue as queue_module
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from alignwatch.collector import fewer_collections
from alignwatch.config import load_settings
from alignwatch.errors import AlignwatchError, ConfigError
from alignwatch.late_days import late_plan
from alignwatch.liveness import RUN_TIMEOUT, RunOwner, close_abandoned_runs
from alignwatch.metrics import engine as metric_engine
from alignwatch.metrics.engine import Recomputation
from alignwatch.metrics.runs import HEARTBEAT_OUTCOMES, RUN_KINDS, HeartbeatOutcome, RunKind, RunStatus
from alignwatch.metrics.strategy import Strategy, load_strategy
from alignwatch.metrics.values import WINDOWS, MetricValue
from alignwatch.store import connect
from alignwatch.store.business import claim_business
from alignwatch.store.engine import require_current
from alignwatch.store.schema import events, pipeline_heartbeats, pipeline_runs
from alignwatch.vocabulary import utc
from alignwatch.windows import (
    CONTINUOUS_LOOKBACK,
    DAY,
    NIGHTLY_DAYS,
    ROLLING_DAYS,
    contiguous,
    continuous_windows,
    day_ranges,
    local_day,
    nightly_range,
    zone_of,
)

if TYPE_CHECKING:
    from alignwatch.expectations.metric_values import MetricRules
    from alignwatch.expectations.runner import SuiteOutcome

__all__ = [
    "CheckedEvents",
    "GATE_BLOCK_DAYS",
    "Granularity",
    "RunOutcome",
    "ValidationFailedError",
    "backfill_spans",
    "backfill_task",
    "continuous_task",
    "nightly_task",
    "record_heartbeat",
    "run_interval",
    "task_result",
]

Granularity = Literal["hour", "day"]

# a backfill validates the stored events of this many days at once (the metric engine's block)
GATE_BLOCK_DAYS = 28

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



class ValidationFailedError(AlignwatchError):
    """A run's values failed their expectation suites and were not published (the Airflow task fails)."""





# ----------------------------------------------------------------------------- the run


@fewer_collections()
def run_interval(
    engine: sa.Engine,
    strategy: Strategy,
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
    allow_business_mismatch: bool = False,
    checked: CheckedEvents | None = None,
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
    Before anything is written the store is claimed for the strategy's business, or refused
    when it serves another one (:func:`alignwatch.store.business.claim_business`) unless
    ``allow_business_mismatch``.
    ``checked``: the ``raw_events`` outcomes of the run's validation ranges, already
    validated with other days in one run (a backfill's block of days); the run then only
    validates its values.
    """
    start, end = utc(start, "start"), utc(end, "end")
    if end <= start:
        raise ConfigError(f"empty interval [{start.isoformat()}, {end.isoformat()})")
    if kind not in RUN_KINDS:
        raise ConfigError(f"unknown run kind {kind!r} (one of {', '.join(RUN_KINDS)})")
    granularities: tuple[Granularity, ...] = (granularity,) if isinstance(granularity, str) else tuple(granularity)
    if compute is None or write is None:
        # the steps of one run share their reads of the events (values as from compute)
        compute = compute or Recomputation(engine, strategy, until=end).compute
        write = write or metric_engine.write_values
    business = _business(strategy)
    claim_business(engine, business, by=trigger or kind, allow_mismatch=allow_business_mismatch)
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
        blocks = validate if validate is not None else contiguous(steps or [(start, end)])
        suites = _validate(engine, strategy, blocks, values, rules, event_types, checked)
        gate_seconds = time.perf_counter() - began + (checked.seconds if checked is not None else 0.0)
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
    strategy: Strategy,
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
    strategy: Strategy,
    blocks: Sequence[tuple[dt.datetime, dt.datetime]],
    values: Sequence[MetricValue],
    rules: MetricRules | None,
    event_types: Iterable[str] | None,
    checked: CheckedEvents | None = None,
) -> list[SuiteOutcome]:
    """The ``raw_events`` suite on each block of events (unless ``checked``), then ``metric_values``."""
    # the suites import Great Expectations (seconds to import): only a run that validates pays for it
    from alignwatch.expectations.metric_values import check_metric_values, rules_from_catalogue
    from alignwatch.expectations.raw_events import check_raw_events

    if checked is not None:
        raw = list(checked.outcomes)
    else:
        types = None if event_types is None else tuple(event_types)
        with engine.connect() as conn:
            expect = _expects_events(conn, strategy, blocks)
            raw = [check_raw_events(conn, start=lo, end=hi, event_types=types, expect_events=expect) for lo, hi in blocks]
    metrics = check_metric_values(values, rules if rules is not None else rules_from_catalogue(strategy))
    return [*raw, metrics]


def _expects_events(conn: sa.Connection, strategy: Strategy, blocks: Sequence[tuple[dt.datetime, dt.datetime]]) -> bool:
    """Whether a run over ``blocks`` asks for the "no data" rule: the strategy expects events,
    yet none lies in the run's interval nor in the 28 days before it that its rolling windows
    read (a quiet day beside busy ones is not "no data"; a fresh store or a range far from
    every event is, and its values, an SAI of 0.0 from nothing, are never published)."""
    # the suites import Great Expectations (seconds to import): only a run that validates pays for it
    from alignwatch.expectations.raw_events import strategy_expects_events

    reach = [(lo - ROLLING_DAYS * DAY, hi) for lo, hi in blocks]
    return strategy_expects_events(strategy) and not _any_event(conn, reach)


@dataclass(frozen=True)
class CheckedEvents:
    """The ``raw_events`` outcomes of a run's validation ranges, validated beforehand, and the
    run's share of the time that took."""

    outcomes: tuple[SuiteOutcome, ...]
    seconds: float = 0.0


def _check_days(
    engine: sa.Engine,
    strategy: Strategy,
    days: Sequence[tuple[dt.datetime, dt.datetime]],
    event_types: Iterable[str] | None,
) -> list[CheckedEvents | None]:
    """The ``raw_events`` outcome of each day as its own run would validate it, from one
    Great Expectations run over the days' events
    (:func:`~alignwatch.expectations.raw_events.check_raw_events_days`). Should that run
    raise, every day is left to its own run's gate (None), where an error marks the run."""
    # the suites import Great Expectations (seconds to import): only a run that validates pays for it
    from alignwatch.expectations.raw_events import check_raw_events_days

    began = time.perf_counter()
    try:
        with engine.connect() as conn:
            expects = [_expects_events(conn, strategy, [day]) for day in days]
            outcomes = check_raw_events_days(
                conn, days, event_types=None if event_types is None else tuple(event_types), expect_events=expects
            )
    except Exception:
        log.exception("the events of %d backfill days could not be validated together; each day validates its own", len(days))
        return [None] * len(days)
    share = (time.perf_counter() - began) / max(1, len(days))
    return [CheckedEvents((outcome,), share) for outcome in outcomes]


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



# ----------------------------------------------------------------------------- tasks


def _resolve(
    store: sa.Engine | str | None, strategy: Strategy | str | Path | None
) -> tuple[sa.Engine, Strategy, bool]:
    """An engine and a strategy from objects, a URL and a path, or the settings (entry points)."""
    settings = None
    if store is None or strategy is None:
        settings = load_settings()
    owned = False
    if store is None or isinstance(store, str):
        store = connect(store if store is not None else settings.store_url)  # type: ignore[union-attr]
        owned = True
        try:
            require_current(store)  # a clear StoreError when the store is not migrated
        except BaseException:
            store.dispose()
            raise
    if strategy is None or isinstance(strategy, str | Path):
        settings = settings or load_settings()
        strategy = load_strategy(Path(strategy) if strategy is not None else settings.strategy_file,
                                 max_bytes=settings.max_strategy_bytes)  # fmt: skip
    return store, strategy, owned


def _claim(engine: sa.Engine, strategy: Strategy, trigger: str | None, run_options: dict[str, Any]) -> dict[str, Any]:
    """Claim the store for the strategy's business, or refuse another one, before the task writes anything.

    Returns the run options with ``allow_business_mismatch`` set: as given, or from the
    settings (ALIGNWATCH_ALLOW_BUSINESS_MISMATCH) for the DAG tasks, which pass none.
    """
    allow = run_options.get("allow_business_mismatch")
    if allow is None:
        allow = load_settings().allow_business_mismatch
    claim_business(engine, _business(strategy), by=trigger, allow_mismatch=allow)
    return {**run_options, "allow_business_mismatch": allow}


def _with_timeout(run_options: dict[str, Any]) -> dict[str, Any]:
    """The run options, with the settings' run timeout (ALIGNWATCH_RUN_TIMEOUT_S) unless given."""
    if "run_timeout" in run_options:
        return run_options
    return {**run_options, "run_timeout": dt.timedelta(seconds=load_settings().run_timeout_s)}


def _timezone(strategy: Strategy) -> str:
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
        "at": utc(at, "at"),
        "interval_end": utc(interval_end, "interval_end"),
        "run_id": run_id,
        "detail": detail[:2000],
    }
    with engine.begin() as conn:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(pipeline_heartbeats).values(**row)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=["business", "kind", "outcome"],
                set_={key: statement.excluded[key] for key in ("at", "interval_end", "run_id", "detail")},
            )
        )


def _business(strategy: Strategy) -> str:
    return str(getattr(getattr(strategy, "business", None), "name", "") or "default")


def _beat(engine: sa.Engine, strategy: Strategy, outcome: RunOutcome, at: dt.datetime) -> None:
    """The heartbeat of a finished task (its outcome's status)."""
    record_heartbeat(
        engine, business=_business(strategy), kind=outcome.kind, outcome=outcome.status,  # type: ignore[arg-type]
        at=at, interval_end=outcome.end, run_id=outcome.run_id, detail=outcome.detail,
    )  # fmt: skip


def _beat_error(engine: sa.Engine, strategy: Strategy, kind: RunKind, end: dt.datetime, at: dt.datetime, exc: BaseException) -> None:
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
        # Airflow is only installed where the DAGs run: imported when a task is skipped
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(outcome.detail or "nothing to publish")
    if outcome.status == "failed_validation":
        raise ValidationFailedError(
            f"run {outcome.run_id} [{outcome.start.isoformat()}, {outcome.end.isoformat()}) was not published: {outcome.detail}"
        )
    return outcome.as_json()


def continuous_task(
    store: sa.Engine | str | None = None,
    strategy: Strategy | str | Path | None = None,
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
        run_options = _claim(engine, strategy, trigger, run_options)
        if windows is None:
            outcome = RunOutcome(
                None, "continuous", "skipped", utc(start, "start"), utc(end, "end"), detail="no hour closed in the interval"
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
    strategy: Strategy | str | Path | None = None,
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
        run_options = _claim(engine, strategy, trigger, run_options)
        tz = _timezone(strategy)
        start, stop = nightly_range(end, days, tz)
        local = zone_of(tz)
        first_day, stop_day = start.astimezone(local).date(), stop.astimezone(local).date()
        if max_late_days is None:
            max_late_days = load_settings().nightly_max_late_days
        plan = late_plan(engine, first=first_day, stop=stop_day, tz=tz, max_days=max_late_days)
        late = [local_day(day, local) for day in plan.days]
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
                validate=[(start, stop), *contiguous(late)],
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


@fewer_collections()
def backfill_task(
    store: sa.Engine | str | None = None,
    strategy: Strategy | str | Path | None = None,
    *,
    start: dt.datetime,
    end: dt.datetime,
    trigger: str | None = "backfill",
    workers: int = 1,
    progress: Callable[[RunOutcome], None] | None = None,
    **run_options: Any,
) -> list[RunOutcome]:
    """Recompute any range [start, end) as one run per local day, oldest first.

    Each day is computed, gated and published on its own, exactly as a nightly run with
    ``days=1`` would (a bad day holds back only itself), so a backfill of a range writes
    the same rows as the single-day runs of that range. The stored events of
    :data:`GATE_BLOCK_DAYS` days are validated together when the first of them is reached
    (one Great Expectations run, a verdict per day: each day's ``raw_events`` outcome is
    the one its own run would record), as the metric engine reads them in blocks.

    ``workers`` > 1: the days are cut into at most that many spans of consecutive days of
    about equal cost (:func:`backfill_spans`), each backfilled by a process of its own
    (:func:`_backfill_in_workers`); the rows are the same. ``progress`` is called with each day's outcome as it ends.
    """
    if workers < 1:
        raise ConfigError(f"workers {workers}: expected 1 or more")
    engine, strategy, owned = _resolve(store, strategy)
    try:
        run_options = _with_timeout(_claim(engine, strategy, trigger, run_options))
    except BaseException:
        if owned:
            engine.dispose()
        raise
    days = day_ranges(start, end, _timezone(strategy))
    if workers > 1 and len(days) > 1:
        try:
            return _backfill_in_workers(engine, strategy, days, workers, trigger, run_options, progress)
        finally:
            if owned:
                engine.dispose()
    if "compute" not in run_options:
        # the days share their reads of the events (values as from compute, day by day)
        run_options["compute"] = Recomputation(engine, strategy, until=utc(end, "end")).compute
    try:
        outcomes: list[RunOutcome] = []
        for first in range(0, len(days), GATE_BLOCK_DAYS):
            block = days[first : first + GATE_BLOCK_DAYS]
            checked = _check_days(engine, strategy, block, run_options.get("event_types"))
            for (day_start, day_end), day_checked in zip(block, checked, strict=True):
                outcome = run_interval(
                    engine,
                    strategy,
                    start=day_start,
                    end=day_end,
                    kind="backfill",
                    granularity=("hour", "day"),
                    trigger=trigger,
                    checked=day_checked,
                    **run_options,
                )
                outcomes.append(outcome)
                if progress is not None:
                    progress(outcome)
        return outcomes
    finally:
        if owned:
            engine.dispose()


#: what the events before a backfill worker's first day cost it, per day of them, in days of its
#: backfill: it reads them before its first day (the 28-day lookback and the ROI series' prefix,
#: :data:`~alignwatch.metrics.engine.PREFIX`). Measured on the simulated year in 2 workers cut
#: in halves: the second, which starts after 112 days of events, ended 22 s (40 days' time) later.
LOOKBACK_COST = 0.35


def backfill_spans(
    days: Sequence[tuple[dt.datetime, dt.datetime]], workers: int, before: float
) -> list[tuple[dt.datetime, dt.datetime]]:
    """``days`` cut into at most ``workers`` spans of consecutive days, of about equal cost.

    A day costs 1, and a span :data:`LOOKBACK_COST` for each day of events it reads before
    its first day: ``before`` (the whole days of events before the first of ``days``) plus
    the days before the span, up to the 28-day lookback and the ROI prefix. So the first span,
    with no events before it, is the longest. The cut is the greedy one under the smallest
    cost a span may have, found by bisection.
    """
    reach = (metric_engine.PREFIX + metric_engine.LOOKBACK) / DAY

    def cut(limit: float) -> list[int]:
        starts = [0]
        cost = LOOKBACK_COST * min(reach, before) + 1
        for index in range(1, len(days)):
            if cost + 1 > limit:  # the day starts a span of its own
                starts.append(index)
                cost = LOOKBACK_COST * min(reach, before + index) + 1
            else:
                cost += 1
        return starts

    low, high = len(days) / workers, len(days) + LOOKBACK_COST * reach + 1
    for _ in range(40):
        middle = (low + high) / 2
        low, high = (low, middle) if len(cut(middle)) <= workers else (middle, high)
    starts = cut(high)
    return [(days[a][0], days[b - 1][1]) for a, b in zip(starts, [*starts[1:], len(days)], strict=True)]


#: the queue a backfill worker reports its days' outcomes on (set in each worker process)
_worker_queue: Any = None


def _worker_started(queue: Any) -> None:
    global _worker_queue
    _worker_queue = queue


def _backfill_span(url: str, strategy: Strategy, start: dt.datetime, end: dt.datetime, trigger: str | None,
                   run_options: dict[str, Any]) -> list[RunOutcome]:
    """One worker's span of a backfill (in its own process, with an engine of its own)."""
    engine = connect(url)
    try:
        return backfill_task(engine, strategy, start=start, end=end, trigger=trigger, progress=_worker_queue.put,
                             **run_options)
    finally:
        engine.dispose()


def _backfill_in_workers(
    engine: sa.Engine,
    strategy: Strategy,
    days: Sequence[tuple[dt.datetime, dt.datetime]],
    workers: int,
    trigger: str | None,
    run_options: dict[str, Any],
    progress: Callable[[RunOutcome], None] | None,
) -> list[RunOutcome]:
    """The days backfilled by ``workers`` processes, each a span of consecutive days.

    A day's values do not depend on the runs of the days before it (a window sees the
    runs finished by its end, and a backfill's runs finish now), so each span is a
    backfill of its own and the rows are those of one process. Each worker reads its
    span's lookback again (the 28 days and the ROI prefix before it), so the spans are
    long, the first the longest (:func:`backfill_spans`). The processes
    are started fresh (``spawn``: no engine, thread or lock is inherited), each imports
    the pipeline again and holds its own memory. Each writes through its own engine; on
    SQLite the writes wait for one another (WAL, a 30 s busy timeout). A worker that
    fails stops its own span only: the other spans are finished, then its error is raised.
    ``compute`` and ``write`` cannot be given (a process of its own makes its own).
    """
    if "compute" in run_options or "write" in run_options:
        raise ConfigError("a backfill in workers computes and writes with the engine's own functions")
    if engine.url.get_backend_name() == "sqlite" and engine.url.database in (None, "", ":memory:"):
        raise ConfigError("a backfill in workers needs a store the workers can open (not an in-memory SQLite)")
    with engine.connect() as conn:
        first_event = conn.execute(sa.select(sa.func.min(events.c.time))).scalar_one()
    before = 0.0 if first_event is None else max(0.0, (days[0][0] - utc(first_event, "time")) / DAY)
    spans = backfill_spans(days, workers, before)
    url = engine.url.render_as_string(hide_password=False)
    log.info("backfill of %d day(s) in %d workers: %s", len(days), len(spans),
             ", ".join(f"{lo.isoformat()}..{hi.isoformat()}" for lo, hi in spans))
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    with concurrent.futures.ProcessPoolExecutor(len(spans), mp_context=context, initializer=_worker_started,
                                                initargs=(queue,)) as pool:
        futures = [pool.submit(_backfill_span, url, strategy, lo, hi, trigger, run_options) for lo, hi in spans]
        pending: set[concurrent.futures.Future[list[RunOutcome]]] = set(futures)
        while True:
            # the days' outcomes as they come; once every span has ended, those still on their way
            try:
                outcome = queue.get(timeout=0.2 if pending else 1.0)
            except queue_module.Empty:
                if not pending:
                    break
            else:
                if progress is not None:
                    progress(outcome)
            _, pending = concurrent.futures.wait(pending, timeout=0)
        errors = [future.exception() for future in futures if future.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        return [outcome for future in futures for outcome in future.result()]
