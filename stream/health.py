"""Pipeline-health instruments of the ingestion stage (prometheus-client).

Instruments, not collectors: they count what the consumer does as it happens. The registry
is passed in (tests build a fresh ``CollectorRegistry``; only the entry point uses the
global one). Labels come from bounded sets: the reject reason codes of the event contract,
and the topic/partition pairs the consumer is assigned.

Every instrument is declared once in ``INSTRUMENTS``; ``docs/ingestion.md`` lists them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from alignwatch.vocabulary import INGEST_INSTRUMENTS

__all__ = ["INSTRUMENTS", "Instrument", "PipelineMetrics"]


@dataclass(frozen=True)
class Instrument:
    """Declaration of one pipeline-health instrument."""

    attribute: str
    kind: Literal["counter", "gauge", "histogram"]
    name: str  # full Prometheus name without the ``_total`` a counter gets on exposition
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def exposed_name(self) -> str:
        """The sample name as scraped (counters end in ``_total``)."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


def _name(attribute: str) -> str:
    """The instrument's name, as :data:`alignwatch.vocabulary.INGEST_INSTRUMENTS` declares it
    for the rules and dashboards that query it (``alignwatch_ingest_<name>_<unit>``)."""
    return INGEST_INSTRUMENTS[attribute].name


INSTRUMENTS: tuple[Instrument, ...] = (
    Instrument("consumed", "counter", _name("consumed"),
               "Messages read from Kafka or files, valid or not."),
    Instrument("stored", "counter", _name("stored"),
               "Events newly written to the store."),
    Instrument("duplicates", "counter", _name("duplicates"),
               "Events ignored because (source, id) was already stored."),
    Instrument("rejected", "counter", _name("rejected"),
               "Messages rejected to the dead-letter topic and quarantine, by reason code.", ("reason",)),
    Instrument("store_retries", "counter", _name("store_retries"),
               "Store writes that failed and were retried (store outage)."),
    Instrument("batch_size", "histogram", _name("batch_size"),
               "Messages per store transaction.",
               buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000)),
    Instrument("commit_latency", "histogram", _name("commit_latency"),
               "Seconds from the start of a store transaction to the offset commit.",
               buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)),
    Instrument("lag", "gauge", _name("lag"),
               "Messages behind the fetch high-watermark, per assigned partition.", ("topic", "partition")),
    Instrument("last_commit", "gauge", _name("last_commit"),
               "Unix time of the last successful offset commit (or file batch)."),
)


class PipelineMetrics:
    """The ingestion instruments, registered on ``registry``.

    ``rejected`` is pre-initialised for every ``reasons`` value so a zero is exported
    before the first rejection.
    """

    consumed: Counter
    stored: Counter
    duplicates: Counter
    rejected: Counter
    store_retries: Counter
    batch_size: Histogram
    commit_latency: Histogram
    lag: Gauge
    last_commit: Gauge

    def __init__(self, registry: CollectorRegistry, reasons: tuple[str, ...] = ()) -> None:
        self.registry = registry
        for spec in INSTRUMENTS:
            if spec.kind == "counter":
                instrument: object = Counter(spec.name, spec.help, spec.labels, registry=registry)
            elif spec.kind == "gauge":
                instrument = Gauge(spec.name, spec.help, spec.labels, registry=registry)
            else:
                instrument = Histogram(spec.name, spec.help, spec.labels, registry=registry, buckets=spec.buckets)
            setattr(self, spec.attribute, instrument)
        for reason in reasons:
            self.rejected.labels(reason=reason)

    def set_lag(self, topic: str, partition: int, lag: int) -> None:
        """Record the lag of one partition."""
        self.lag.labels(topic=topic, partition=str(partition)).set(max(0, lag))

    def forget_partition(self, topic: str, partition: int) -> None:
        """Drop the lag series of a partition this consumer no longer owns."""
        try:
            self.lag.remove(topic, str(partition))
        except KeyError:
            pass
