"""The SQL store: schema, engine creation and migrations (SQLite or PostgreSQL)."""

from alignwatch.store.engine import connect, upgrade
from alignwatch.store.schema import events, metadata, metric_values, pipeline_runs, quarantine

__all__ = ["connect", "events", "metadata", "metric_values", "pipeline_runs", "quarantine", "upgrade"]
