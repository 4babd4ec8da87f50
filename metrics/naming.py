"""The series the alert rules and the dashboards query, named in one place.

Catalogue metrics are named by :func:`alignwatch.metrics.catalogue.served_name` (the one
naming function: ``alignwatch_<subsystem>_<name>_<unit>``, base units, identity labels
``business`` and ``window``); the exporter's own series by the exporter; the ingestion
instruments by :data:`alignwatch.vocabulary.INGEST_INSTRUMENTS`. :func:`series_names`
gathers them into one :class:`SeriesNames`, which the rules and the dashboards both read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alignwatch.metrics import exporter
from alignwatch.metrics.catalogue import CATALOGUE, served_name
from alignwatch.vocabulary import INGEST_INSTRUMENTS, InstrumentName

__all__ = ["SeriesNames", "names", "series_names"]


def names() -> dict[str, str]:
    """Catalogue id → served name, for every metric."""
    return {metric_id: served_name(decl) for metric_id, decl in CATALOGUE.items()}


@dataclass(frozen=True)
class SeriesNames:
    """Prometheus names of every series the rules and the dashboards read."""

    #: catalogue id → served name
    catalogue: Mapping[str, str]
    snapshot_timestamp: str
    last_run: str
    heartbeat: str
    validation_success: str
    validation_failed: str
    store_up: str
    quarantine: str
    kpi_target: str
    kpi_goal: str
    #: ingestion instrument attribute → its name
    ingest: Mapping[str, InstrumentName] = field(default_factory=lambda: dict(INGEST_INSTRUMENTS))
    exporter_job: str = "alignwatch-exporter"
    consumer_job: str = "alignwatch-consumer"

    def metric(self, metric_id: str) -> str:
        """The served name of catalogue metric ``metric_id``."""
        return self.catalogue[metric_id]

    def instrument(self, attribute: str) -> str:
        """The scraped name of ingestion instrument ``attribute`` (counters end in ``_total``)."""
        return self.ingest[attribute].exposed


def series_names() -> SeriesNames:
    """The names as the exporter and the consumer serve them."""
    return SeriesNames(
        catalogue=names(),
        snapshot_timestamp=exporter.SNAPSHOT_TIMESTAMP.name,
        last_run=exporter.LAST_RUN.name,
        heartbeat=exporter.HEARTBEAT.name,
        validation_success=exporter.VALIDATION_SUCCESS.name,
        validation_failed=exporter.VALIDATION_FAILED.name,
        store_up=exporter.STORE_UP.name,
        quarantine=exporter.QUARANTINE.name,
        kpi_target=exporter.KPI_TARGET.name,
        kpi_goal=exporter.KPI_GOAL.name,
    )
