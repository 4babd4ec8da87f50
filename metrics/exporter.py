"""The Prometheus exporter: the latest *validated* snapshot, served at ``/metrics``.

Metric snapshots are state, so they are exposed by a custom collector
(:class:`SnapshotCollector`) built from a :class:`~alignwatch.metrics.runs.Snapshot`; the
snapshot comes from a :class:`SnapshotCache` that re-reads the store at most once per
``ttl_s`` (:func:`alignwatch.metrics.runs.latest_snapshot`: one indexed read of the
published values and small grouped reads of the runs, the heartbeats and the quarantine).
An unchanged reload keeps the same snapshot, whose families and serialised exposition are
built once: with ``alignwatch.metrics.server.serve(..., snapshot=collector)`` a scrape costs a few milliseconds whatever the number
of series. ``alignwatch export`` reloads in a :class:`BackgroundRefresher` instead of at
scrape time, which also serialises each new snapshot before any scrape asks for it.

Series served (every one labelled ``business``):

- every catalogue metric under its served name (:func:`alignwatch.metrics.catalogue.served_name`:
  units Prometheus wants as base units are converted, minutes to seconds), one series per
  label set and window kind (``window`` = hour, day, 7d, 28d; the newest of each kind);
- KPI targets (``alignwatch_kpi_target``) and the goals each KPI serves
  (``alignwatch_kpi_goal_info``), from the strategy, next to the KPI values and
  attainment of the catalogue;
- pipeline health from the store: ``alignwatch_snapshot_timestamp_seconds`` (when the
  served snapshot was published), the newest run of each kind and status, the heartbeat
  of each kind of scheduled run and outcome
  (``alignwatch_pipeline_last_heartbeat_timestamp_seconds``: published, skipped because no
  hour closed, failed_validation, error), the outcome of the newest validation and the
  number of failing expectations, the quarantine depth by reason.
- the exporter's own reads of the store: ``alignwatch_exporter_store_up`` (1 when the
  newest read succeeded, 0 when it failed and an older snapshot, or none, is served) and
  ``alignwatch_exporter_store_errors_total``. A failing read is logged in one line when the
  store starts failing or fails differently, and again when it recovers; never a traceback.

The HTTP endpoint (TLS, basic auth) is :mod:`alignwatch.metrics.server`.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector

from alignwatch.metrics.catalogue import CATALOGUE, served_scale
from alignwatch.metrics.catalogue import served_name as catalogue_served_name
from alignwatch.metrics.runs import Snapshot, latest_snapshot
from alignwatch.metrics.values import MetricValue

__all__ = [
    "EXPORTER_SERIES",
    "BackgroundRefresher",
    "ExporterSeries",
    "Families",
    "SnapshotCache",
    "SnapshotCollector",
    "StoreHealth",
    "build_collector",
    "business_label",
    "catalogue_families",
    "catalogue_scales",
    "served_name",
    "served_names",
]


@dataclass(frozen=True)
class ExporterSeries:
    """A series the exporter adds to the catalogue's: name, help, label names."""

    name: str
    help: str
    labels: tuple[str, ...]


SNAPSHOT_TIMESTAMP = ExporterSeries(
    "alignwatch_snapshot_timestamp_seconds",
    "Unix time at which the served snapshot (the newest validated run) was published.",
    ("business",),
)
KPI_TARGET = ExporterSeries(
    "alignwatch_kpi_target",
    "Target of each KPI as declared in the strategy, in the KPI's own unit.",
    ("business", "kpi", "perspective"),
)
KPI_GOAL = ExporterSeries(
    "alignwatch_kpi_goal_info",
    "1 for each goal a KPI serves, with the goal's perspective (join on kpi to group KPIs by goal).",
    ("business", "kpi", "goal", "perspective"),
)
LAST_RUN = ExporterSeries(
    "alignwatch_pipeline_last_run_timestamp_seconds",
    "Unix time at which the newest pipeline run of each kind and status finished.",
    ("business", "kind", "status"),
)
HEARTBEAT = ExporterSeries(
    "alignwatch_pipeline_last_heartbeat_timestamp_seconds",
    "Unix time at which a scheduled run of each kind last ended with each outcome "
    "(published, skipped: no hour closed, failed_validation, error).",
    ("business", "kind", "outcome"),
)
VALIDATION_SUCCESS = ExporterSeries(
    "alignwatch_pipeline_validation_success",
    "1 when the newest validated pipeline run passed every expectation, 0 when it failed.",
    ("business",),
)
VALIDATION_FAILED = ExporterSeries(
    "alignwatch_pipeline_validation_failed_expectations",
    "Number of expectations the newest validated pipeline run failed.",
    ("business",),
)
QUARANTINE = ExporterSeries(
    "alignwatch_quarantine_messages",
    "Rejected inputs kept in the quarantine table awaiting inspection, by reason.",
    ("business", "reason"),
)

STORE_UP = ExporterSeries(
    "alignwatch_exporter_store_up",
    "1 when the exporter's newest read of the store succeeded, 0 when it failed (an older snapshot, or none, is served).",
    ("business",),
)
STORE_ERRORS = ExporterSeries(
    "alignwatch_exporter_store_errors_total",
    "Reads of the store by the exporter that failed, since it started.",
    ("business",),
)

#: every series the exporter serves besides the catalogue's (rules and dashboards use them)
EXPORTER_SERIES: tuple[ExporterSeries, ...] = (
    SNAPSHOT_TIMESTAMP,
    KPI_TARGET,
    KPI_GOAL,
    LAST_RUN,
    HEARTBEAT,
    VALIDATION_SUCCESS,
    VALIDATION_FAILED,
    QUARANTINE,
    STORE_UP,
    STORE_ERRORS,
)

log = logging.getLogger(__name__)

def business_label(name: str) -> str:
    """The ``business`` label value of a business name: lower-case ``a-z0-9_`` slug."""
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")
    return slug or "business"


@dataclass(frozen=True)
class StoreHealth:
    """How the exporter's reads of the store are going."""

    #: True when the newest read succeeded, False when it failed, None before the first read
    up: bool | None = None
    #: failed reads since the exporter started
    errors: int = 0
    #: the newest failure, in one line (None while the store answers)
    last_error: str | None = None


# ---------------------------------------------------------------------------- collector


@dataclass(frozen=True)
class _Family:
    name: str
    help: str
    labels: tuple[str, ...]


class SnapshotCollector(Collector):
    """Serves a :class:`Snapshot` as gauges; the families are built once per snapshot.

    ``families`` maps a catalogue metric id to (Prometheus name, help, label names);
    ``kpi_targets`` maps a KPI id to (perspective, target), ``kpi_goals`` lists the
    (KPI, goal, goal perspective) links of the strategy; ``scales`` maps a metric id to
    the factor converting its values to the served base unit. Values of metrics outside
    ``families``, label sets with other label names and windows without data are not
    served (no silent zeros). ``health`` (the cache's :meth:`SnapshotCache.health`) adds
    the store's health, read at every scrape (:meth:`health_families`), never cached.
    """

    def __init__(
        self,
        source: Callable[[], Snapshot],
        *,
        business: str,
        families: Mapping[str, tuple[str, str, Sequence[str]]],
        kpi_targets: Mapping[str, tuple[str, float]] | None = None,
        scales: Mapping[str, float] | None = None,
        kpi_goals: Sequence[tuple[str, str, str]] = (),
        health: Callable[[], StoreHealth] | None = None,
    ) -> None:
        self._source = source
        self._health = health
        self._scales = dict(scales or {})
        self._kpi_goals = sorted(kpi_goals)
        self._business = business
        self._families = {
            metric_id: _Family(name, help_text, tuple(labels)) for metric_id, (name, help_text, labels) in families.items()
        }
        self._kpi_targets = dict(kpi_targets or {})
        self._lock = threading.Lock()
        self._built_for: Snapshot | None = None
        self._built: list[Metric] = []
        self._encoded: dict[str, bytes] = {}

    @property
    def business(self) -> str:
        """The ``business`` label value of every series."""
        return self._business

    def describe(self) -> Iterable[Metric]:
        """The families' names without reading the store (registration stays cheap)."""
        for family in self._families.values():
            yield GaugeMetricFamily(family.name, family.help, labels=[*family.labels])
        for series in EXPORTER_SERIES:
            if series in (STORE_UP, STORE_ERRORS):
                continue
            yield GaugeMetricFamily(series.name, series.help, labels=list(series.labels))
        yield from self.health_families(describe=True)

    def collect(self) -> Iterable[Metric]:
        families = list(self._current())
        return [*families, *self.health_families()]

    def health_families(self, *, describe: bool = False) -> list[Metric]:
        """The store's health now (``alignwatch_exporter_store_up``, ``..._errors_total``);
        empty without a ``health`` source. Built at every call: it changes between snapshots.
        With ``describe``, the families without samples."""
        if self._health is None:
            return []
        health = StoreHealth() if describe else self._health()
        up = GaugeMetricFamily(STORE_UP.name, STORE_UP.help, labels=list(STORE_UP.labels))
        if health.up is not None:
            up.add_metric([self._business], 1.0 if health.up else 0.0)
        errors = CounterMetricFamily(STORE_ERRORS.name, STORE_ERRORS.help, labels=list(STORE_ERRORS.labels))
        if not describe:
            errors.add_metric([self._business], float(health.errors))
        return [up, errors]

    def _current(self) -> list[Metric]:
        snapshot = self._source()
        with self._lock:
            if snapshot is not self._built_for:
                self._built = self._build(snapshot)
                self._built_for = snapshot
                self._encoded = {}
            return self._built

    def exposition(self, content_type: str, encoder: Callable[[Collector], bytes]) -> bytes:
        """The families serialised by ``encoder``, cached until the snapshot changes."""
        families = self._current()
        with self._lock:
            cached = self._encoded.get(content_type)
            if cached is not None and families is self._built:
                return cached
        encoded = encoder(Families(families))
        with self._lock:
            if families is self._built:
                self._encoded[content_type] = encoded
        return encoded

    def _build(self, snapshot: Snapshot) -> list[Metric]:
        business = self._business
        out: dict[str, GaugeMetricFamily] = {}
        newest: dict[tuple[str, str, str], MetricValue] = {}
        for value in snapshot.values:
            if value.value is None or value.metric_id not in self._families:
                continue
            key = (value.metric_id, value.labels_key, value.window)
            seen = newest.get(key)
            if seen is None or seen.window_end < value.window_end:
                newest[key] = value
        for metric_id, family in self._families.items():
            out[metric_id] = GaugeMetricFamily(family.name, family.help, labels=[*family.labels])
        for (metric_id, _labels, _window), value in sorted(newest.items(), key=lambda item: item[0]):
            family = self._families[metric_id]
            labels = {**value.labels, "business": business, "window": value.window}
            if set(labels) != set(family.labels) or value.value is None:
                continue
            scale = self._scales.get(metric_id, 1.0)
            out[metric_id].add_metric([labels[name] for name in family.labels], float(value.value) * scale)
        result: list[Metric] = list(out.values())

        targets = GaugeMetricFamily(KPI_TARGET.name, KPI_TARGET.help, labels=list(KPI_TARGET.labels))
        for kpi_id, (perspective, target) in sorted(self._kpi_targets.items()):
            targets.add_metric([business, kpi_id, perspective], float(target))
        result.append(targets)

        goals = GaugeMetricFamily(KPI_GOAL.name, KPI_GOAL.help, labels=list(KPI_GOAL.labels))
        for kpi_id, goal_id, perspective in self._kpi_goals:
            goals.add_metric([business, kpi_id, goal_id, perspective], 1.0)
        result.append(goals)

        stamp = GaugeMetricFamily(SNAPSHOT_TIMESTAMP.name, SNAPSHOT_TIMESTAMP.help, labels=["business"])
        if snapshot.last_published_at is not None:
            stamp.add_metric([business], snapshot.last_published_at.timestamp())
        result.append(stamp)

        runs = GaugeMetricFamily(LAST_RUN.name, LAST_RUN.help, labels=list(LAST_RUN.labels))
        for run in sorted(snapshot.runs, key=lambda r: (r.kind, r.status)):
            runs.add_metric([business, run.kind, run.status], run.finished_at.timestamp())
        result.append(runs)

        beats = GaugeMetricFamily(HEARTBEAT.name, HEARTBEAT.help, labels=list(HEARTBEAT.labels))
        newest_beat: dict[tuple[str, str], dt.datetime] = {}
        for beat in snapshot.heartbeats:
            key = (beat.kind, beat.outcome)
            newest_beat[key] = max(newest_beat.get(key, beat.at), beat.at)
        for (kind, outcome), at in sorted(newest_beat.items()):
            beats.add_metric([business, kind, outcome], at.timestamp())
        result.append(beats)

        success = GaugeMetricFamily(VALIDATION_SUCCESS.name, VALIDATION_SUCCESS.help, labels=["business"])
        failed = GaugeMetricFamily(VALIDATION_FAILED.name, VALIDATION_FAILED.help, labels=["business"])
        if snapshot.validation_ok is not None:
            success.add_metric([business], 1.0 if snapshot.validation_ok else 0.0)
            failed.add_metric([business], float(len(snapshot.failed_expectations)))
        result.extend([success, failed])

        quarantine = GaugeMetricFamily(QUARANTINE.name, QUARANTINE.help, labels=list(QUARANTINE.labels))
        for reason, count in sorted(snapshot.quarantine.items()):
            quarantine.add_metric([business, reason], float(count))
        result.append(quarantine)
        return result


class Families(Collector):
    """Already built families, as a collector an encoder can serialise."""

    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class SnapshotCache:
    """Calls ``loader`` at most once per ``ttl_s`` seconds; scrapes in between share it.

    A reload equal to the current snapshot is dropped, so the same object keeps being
    served (and its serialised form stays cached) until new values are published.

    A failing refresh keeps serving the previous snapshot (the staleness alert then
    fires on ``alignwatch_snapshot_timestamp_seconds``), is counted in ``failures`` and
    shows in :meth:`health`. It is logged in one line (a warning, no traceback) when the
    store starts failing or fails with another message, not at every retry; the recovery
    is logged too.
    """

    def __init__(self, loader: Callable[[], Snapshot], *, ttl_s: float = 15.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._loader = loader
        self._ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._loaded_at = float("-inf")
        self.failures = 0
        self.last_error: str | None = None
        self._failing_since = 0  # failures counted when the current failing spell began
        self._read = False  # a read was tried
        self._loaded = False  # a read succeeded: a snapshot from the store is served

    def health(self) -> StoreHealth:
        """How the reads of the store are going (for ``alignwatch_exporter_store_up``)."""
        with self._lock:
            return StoreHealth(
                up=(self.last_error is None) if self._read else None, errors=self.failures, last_error=self.last_error
            )

    def __call__(self) -> Snapshot:
        with self._lock:
            if self._snapshot is None or self._clock() - self._loaded_at >= self._ttl_s:
                self._reload()
            assert self._snapshot is not None
            return self._snapshot

    def refresh(self) -> Snapshot:
        """Re-read the store now (what the background refresher calls)."""
        with self._lock:
            self._reload()
            assert self._snapshot is not None
            return self._snapshot

    def _reload(self) -> None:
        try:
            loaded = self._loader()
            # an unchanged snapshot keeps its identity: the collector's families and
            # serialised exposition stay cached until a run publishes new values
            if loaded != self._snapshot:
                self._snapshot = loaded
            self._loaded = True
            if self.last_error is not None:
                log.warning(
                    "exporter: the store answers again after %d failed read(s); serving its newest snapshot",
                    self.failures - self._failing_since,
                )
            self.last_error = None
        except Exception as exc:  # noqa: BLE001 - the store is down: serve what we have, say so
            self.failures += 1
            message = _one_line(exc)
            if message != self.last_error:
                if self.last_error is None:
                    self._failing_since = self.failures - 1
                served = "the previous snapshot" if self._loaded else "no values"
                log.warning("exporter: cannot read the store (%s); serving %s until it answers", message, served)
            self.last_error = message
            if self._snapshot is None:
                self._snapshot = Snapshot()
        self._read = True
        self._loaded_at = self._clock()


def _one_line(exc: BaseException, limit: int = 300) -> str:
    """``Type: message`` of an exception on one line, cut to about ``limit`` characters.

    SQLAlchemy's messages carry the SQL and a link after the driver's message: only the
    driver's first lines are kept.
    """
    text = str(getattr(exc, "orig", None) or exc).split("\n[SQL:", 1)[0].split("\n(Background on", 1)[0]
    text = " ".join(text.split())
    name = type(getattr(exc, "orig", None) or exc).__name__
    line = f"{name}: {text}" if text else name
    return line if len(line) <= limit else line[: limit - 3] + "..."


#: Accept headers whose expositions the refresher prepares: Prometheus's, and plain text
_WARM_ACCEPT = ("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1", "")


class BackgroundRefresher:
    """Re-reads the store every ``interval_s`` and serialises a new snapshot right away.

    With it, no scrape ever waits for the store or for serialising: the served bytes are
    always ready (use a cache with ``ttl_s=float("inf")`` so scrapes never reload).
    """

    def __init__(self, cache: SnapshotCache, collector: SnapshotCollector, *, interval_s: float = 15.0) -> None:
        self._cache = cache
        self._collector = collector
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alignwatch-exporter-refresh", daemon=True)

    def refresh_once(self) -> None:
        """Reload the snapshot and prepare its expositions."""
        self._cache.refresh()
        for accept in _WARM_ACCEPT:
            encoder, content_type = choose_encoder(accept)
            self._collector.exposition(content_type, encoder)

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            self.refresh_once()

    def start(self) -> BackgroundRefresher:
        self.refresh_once()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)


# ---------------------------------------------------------------------------- wiring


def served_name(decl: Any) -> tuple[str, float]:
    """The name a catalogue metric is served under, and the factor applied to its values
    (:func:`alignwatch.metrics.catalogue.served_name` and ``served_scale``)."""
    return catalogue_served_name(decl), served_scale(decl)


def served_names(catalogue: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Catalogue id → the name it is served under (what rules and dashboards query)."""
    decls = CATALOGUE if catalogue is None else catalogue
    return {metric_id: catalogue_served_name(decl) for metric_id, decl in decls.items()}


def catalogue_families(catalogue: Mapping[str, Any] | None = None) -> dict[str, tuple[str, str, list[str]]]:
    """metric id → (served name, help, label names) for every catalogue metric."""
    decls = CATALOGUE if catalogue is None else catalogue
    return {
        decl.id: (catalogue_served_name(decl), decl.help, ["business", *_label_names(decl), "window"])
        for decl in decls.values()
    }


def catalogue_scales(catalogue: Mapping[str, Any] | None = None) -> dict[str, float]:
    """metric id → factor to base units, for the metrics served converted."""
    decls = CATALOGUE if catalogue is None else catalogue
    return {decl.id: served_scale(decl) for decl in decls.values() if served_scale(decl) != 1.0}


def _label_names(decl: Any) -> list[str]:
    labels = getattr(decl, "labels", ())
    if isinstance(labels, Mapping):
        return list(labels)
    return [label if isinstance(label, str) else label.name for label in labels]


def build_collector(
    engine: Any, strategy: Any, *, ttl_s: float = 15.0, cache: SnapshotCache | None = None
) -> SnapshotCollector:
    """The exporter's collector for ``strategy`` over the store behind ``engine``.

    ``cache`` defaults to a :class:`SnapshotCache` of :func:`alignwatch.metrics.runs.latest_snapshot`
    with ``ttl_s``.
    """
    cache = cache if cache is not None else SnapshotCache(lambda: latest_snapshot(engine), ttl_s=ttl_s)
    return SnapshotCollector(
        cache,
        health=cache.health,
        business=business_label(strategy.business.name),
        families=catalogue_families(),
        scales=catalogue_scales(),
        kpi_targets={kpi.id: (str(kpi.perspective), float(kpi.target)) for kpi in strategy.kpis},
        kpi_goals=[(kpi_id, goal.id, str(goal.perspective)) for goal in strategy.goals for kpi_id in goal.kpis],
    )
