"""The run records and the published snapshot, as read from the store.

What the pipeline's runs leave behind (``pipeline_runs``, ``pipeline_heartbeats``,
``metric_values``, ``quarantine``), read back as one :class:`Snapshot`: the values of the
newest window of each kind, the newest run of each kind and status, the heartbeat of each
kind of scheduled run and outcome, and the quarantine depth by reason. The pipeline
(:mod:`alignwatch.pipeline`), the exporter (:mod:`alignwatch.metrics.exporter`) and the
runner read the same records through :func:`latest_snapshot`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import sqlalchemy as sa

from alignwatch.metrics.values import WINDOWS, MetricValue
from alignwatch.store.schema import metric_values, pipeline_heartbeats, pipeline_runs, quarantine

__all__ = [
    "HEARTBEAT_OUTCOMES",
    "RUN_KINDS",
    "RUN_STATUSES",
    "Heartbeat",
    "HeartbeatOutcome",
    "RunKind",
    "RunState",
    "RunStatus",
    "Snapshot",
    "latest_snapshot",
]

RunKind = Literal["continuous", "nightly", "backfill", "manual"]
RUN_KINDS: tuple[RunKind, ...] = ("continuous", "nightly", "backfill", "manual")
RunStatus = Literal["running", "published", "failed_validation", "error", "abandoned", "skipped"]
#: the statuses of a finished run (what the exporter's last-run series is labelled with)
RUN_STATUSES: tuple[RunStatus, ...] = ("published", "failed_validation", "error", "abandoned")
HeartbeatOutcome = Literal["published", "skipped", "failed_validation", "error"]
HEARTBEAT_OUTCOMES: tuple[HeartbeatOutcome, ...] = ("published", "skipped", "failed_validation", "error")


@dataclass(frozen=True)
class RunState:
    """The newest finished run of one kind and status: when it finished and what failed."""

    kind: str
    status: str
    finished_at: dt.datetime
    run_id: int | None = None
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


@dataclass(frozen=True)
class Snapshot:
    """The latest published values (per metric, labels and window kind) and the runs' state.

    ``validation_ok`` is the outcome of the newest validated run (published or
    failed_validation), None before any: False while the newest computation was held back
    by a suite, with ``failed_expectations`` naming which rules failed.
    ``last_published_at`` is when the newest published run finished. ``heartbeats`` say
    when each kind of run last ended with each outcome (skipped runs included);
    ``quarantine`` counts the rejected inputs awaiting inspection, by reason.
    """

    values: tuple[MetricValue, ...] = ()
    runs: tuple[RunState, ...] = ()
    validation_ok: bool | None = None
    failed_expectations: tuple[str, ...] = ()
    last_published_at: dt.datetime | None = None
    heartbeats: tuple[Heartbeat, ...] = ()
    quarantine: Mapping[str, int] = field(default_factory=dict)


def latest_snapshot(engine: sa.Engine) -> Snapshot:
    """The published values of the newest window of each kind, plus the runs' state.

    The values are one read: for each window kind, the rows whose ``window_end`` is that
    kind's newest (each maximum is an index lookup on ``(window, window_end)``). Small
    grouped reads give the newest run of each kind and status, the heartbeats and the
    quarantine depth by reason.
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
    quarantined = (
        sa.select(quarantine.c.reason_code, sa.func.count())
        .where(quarantine.c.status != "replayed")
        .group_by(quarantine.c.reason_code)
    )
    with engine.connect() as conn:
        rows = conn.execute(query).all()
        run_rows = conn.execute(sa.select(ranked).where(ranked.c.rank == 1)).all()
        beats = conn.execute(sa.select(pipeline_heartbeats)).all()
        depth = conn.execute(quarantined).all()
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
    newest_validated = max(validated, key=lambda s: (s.finished_at, s.run_id or 0)) if validated else None
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
        quarantine={reason: int(count) for reason, count in depth},
    )
