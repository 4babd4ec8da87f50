"""Tables of the store, declared with SQLAlchemy Core.

The same schema runs on SQLite (the embedded default) and PostgreSQL. Migrations under
``alignwatch/store/migrations`` create it; a test checks that they match this module.

- ``events``: every accepted CloudEvent, once per (``source``, ``event_id``). The payload
  stays whole in ``data``; the identifiers most metrics group or join on are copied into
  columns at ingest so window queries read indexes, not JSON.
- ``quarantine``: every rejected input with its reason and origin; nothing is dropped.
- ``pipeline_runs``: one row per computation (continuous, nightly, backfill, manual) with
  its validation outcome and, in ``details["owner"]``, the host and process running it.
- ``pipeline_heartbeats``: when each kind of scheduled run last ended with each outcome
  (published, skipped because no hour closed, failed validation, error), per business: one
  row per (business, kind, outcome), overwritten by every run. The exporter serves it so
  that freshness alerts tell a pipeline that stopped from one that had nothing to publish.
- ``metric_values``: published metric values, one row per (metric, labels, window kind,
  window end), with the inputs that produced them.
- ``store_business``: the business the store serves (at most one row), claimed by the
  first command that writes events or metrics with a strategy; see
  :mod:`alignwatch.store.business`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.types import DateTime, TypeDecorator

__all__ = [
    "UTCDateTime",
    "aggregated_hours",
    "events",
    "hour_aggregates",
    "metadata",
    "metric_values",
    "pipeline_heartbeats",
    "pipeline_runs",
    "quarantine",
    "store_business",
]

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timestamps are always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text, which sorts and
    compares correctly because every value is written in UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: alignwatch stores only timezone-aware times")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("source", String(512), nullable=False),
    Column("event_id", String(256), nullable=False),
    Column("type", String(64), nullable=False),
    Column("time", UTCDateTime(), nullable=False),
    Column("subject", String(512)),
    # identifiers copied from the payload at ingest (see alignwatch.stream.rows.event_row)
    Column("automation_id", String(128)),
    Column("process_id", String(128)),
    Column("touchpoint_id", String(128)),
    Column("case_id", String(256)),
    Column("actor_id", String(256)),
    # jsonb on PostgreSQL: the metric engine reads payload fields without parsing the text
    Column("data", JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False),
    Column("ingested_at", UTCDateTime(), nullable=False),
    UniqueConstraint("source", "event_id"),
    Index("ix_events_type_time", "type", "time"),
    Index("ix_events_time", "time"),
    Index("ix_events_ingested_at", "ingested_at"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # sha256 over origin and raw bytes: the same message seen twice is one row
    Column("fingerprint", String(64), nullable=False, unique=True),
    Column("raw", LargeBinary(), nullable=False),
    Column("headers", JSON()),
    Column("reason_code", String(64), nullable=False),
    Column("message", Text(), nullable=False),
    Column("origin_topic", String(255)),
    Column("origin_partition", Integer()),
    Column("origin_offset", BigInteger()),
    Column("origin_file", String(1024)),
    Column("origin_line", Integer()),
    Column("source", String(512)),
    Column("event_id", String(256)),
    Column("first_seen", UTCDateTime(), nullable=False),
    Column("last_seen", UTCDateTime(), nullable=False),
    Column("seen_count", Integer(), nullable=False, server_default="1"),
    # quarantined | replayed | rejected_again
    Column("status", String(24), nullable=False, server_default="quarantined"),
    Column("replayed_at", UTCDateTime()),
    Index("ix_quarantine_reason_code", "reason_code"),
    Index("ix_quarantine_first_seen", "first_seen"),
)

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    # continuous | nightly | backfill | manual
    Column("kind", String(32), nullable=False),
    Column("business", String(128), nullable=False),
    Column("interval_start", UTCDateTime(), nullable=False),
    Column("interval_end", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("finished_at", UTCDateTime()),
    # running | published | failed_validation | error | abandoned
    Column("status", String(24), nullable=False),
    Column("trigger", String(256)),
    Column("value_count", Integer()),
    Column("validation", JSON()),
    Column("details", JSON()),
    Index("ix_pipeline_runs_kind_status_finished_at", "kind", "status", "finished_at"),
    # the runs still ``running``, looked up before every run to close abandoned ones
    Index("ix_pipeline_runs_status_started_at", "status", "started_at"),
)

pipeline_heartbeats = Table(
    "pipeline_heartbeats",
    metadata,
    Column("business", String(128), primary_key=True),
    # continuous | nightly
    Column("kind", String(32), primary_key=True),
    # published | skipped | failed_validation | error
    Column("outcome", String(24), primary_key=True),
    # when the run ended (on the run's clock)
    Column("at", UTCDateTime(), nullable=False),
    Column("interval_end", UTCDateTime(), nullable=False),
    Column("run_id", BigInteger()),
    Column("detail", Text()),
)

metric_values = Table(
    "metric_values",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("metric_id", String(128), nullable=False),
    # canonical "name=value,name=value" of ``labels``, sorted by name: part of the key
    Column("labels_key", String(512), nullable=False),
    Column("labels", JSON(), nullable=False),
    # hour | day | 7d | 28d
    Column("window", String(8), nullable=False),
    Column("window_start", UTCDateTime(), nullable=False),
    Column("window_end", UTCDateTime(), nullable=False),
    # NULL means "no data" (a ratio without a denominator), never zero
    Column("value", Float()),
    Column("inputs", JSON()),
    Column("computed_at", UTCDateTime(), nullable=False),
    Column("run_id", BigId, ForeignKey("pipeline_runs.id"), nullable=False),
    UniqueConstraint("metric_id", "labels_key", "window", "window_end"),
    Index("ix_metric_values_window_window_end", "window", "window_end"),
)

# the business the store serves: one row (``slot`` = 1) once claimed, none before
store_business = Table(
    "store_business",
    metadata,
    Column("slot", Integer(), primary_key=True, autoincrement=False),
    # the strategy's ``business.name`` (whole: a name is not limited in length)
    Column("business", Text(), nullable=False),
    Column("claimed_at", UTCDateTime(), nullable=False),
    # the command that claimed it ("alignwatch consume", "airflow:alignment_continuous", ...)
    Column("claimed_by", String(256)),
)

# the metric engine's hour-aggregate cache (alignwatch.metrics.hourcache): one mark per aggregated hour
# and escalation SLA, and the groups and samples of that hour as packed columns (no row for an empty hour)
aggregated_hours = Table(
    "aggregated_hours",
    metadata,
    # hours since the epoch (UTC)
    Column("hour", BigInteger(), primary_key=True, autoincrement=False),
    Column("sla_s", Float(), primary_key=True),
    Column("groups", Integer(), nullable=False),
    # the largest events.id and the time when the hour's events were read
    Column("max_event_id", BigInteger(), nullable=False),
    Column("aggregated_at", UTCDateTime(), nullable=False),
)

# the groups and samples of one hour and SLA as columns (alignwatch.metrics.groups.HourColumns.pack)
hour_aggregates = Table(
    "hour_aggregates",
    metadata,
    Column("hour", BigInteger(), primary_key=True, autoincrement=False),
    Column("sla_s", Float(), primary_key=True),
    # JSON text: the event types with their row counts and measures, the identifiers' distinct values
    Column("layout", Text(), nullable=False),
    # the identifier codes (int32, little-endian) and the sums (float64, little-endian)
    Column("ids", LargeBinary(), nullable=False),
    Column("sums", LargeBinary(), nullable=False),
    # the distribution samples: (key int32, value float64, count int64) records, little-endian
    Column("samples", LargeBinary(), nullable=False),
)


def labels_key(labels: dict[str, str]) -> str:
    """The canonical key of a label set: ``a=1,b=2`` sorted by label name."""
    if len(labels) == 1:  # most label sets: nothing to sort or join
        for name, value in labels.items():
            return f"{name}={value}"
    return ",".join(f"{name}={labels[name]}" for name in sorted(labels))
