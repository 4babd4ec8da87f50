"""Scrape time of the exporter with ≥ 10,000 series vs a bare prometheus-client registry.

The exporter side is the real collector over a snapshot holding a value for every label
set the catalogue allows (every window) for the ecommerce strategy scaled to 200
automations (``python -m bench scrape`` takes another count as argument);
the baseline is a ``CollectorRegistry`` holding the same number of plain ``Gauge``
children served by prometheus-client's own WSGI app. Both are scraped over HTTP on
loopback with Prometheus's Accept header; the median of 15 scrapes is reported, and the
one-off cost of serialising a fresh snapshot too. Targets: ≤ 50 ms per scrape, ratio ≤ 2.

``python -m bench scrape``
"""

from __future__ import annotations

import datetime as dt
import statistics
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Gauge, generate_latest

from alignwatch.metrics.exporter import SnapshotCollector, catalogue_families
from alignwatch.metrics.runs import RunState, Snapshot
from alignwatch.metrics.server import serve
from alignwatch.metrics.values import WINDOWS, MetricValue
from bench import count_argument

TARGET_MS = 50.0
TARGET_RATIO = 2.0
MIN_SERIES = 10_000
PROMETHEUS_ACCEPT = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"


def scaled_strategy(automations: int) -> Any:
    """The ecommerce example with ``automations`` automations (copies of its first one)."""
    import copy

    import yaml

    from alignwatch.metrics.strategy import parse_strategy

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "ecommerce.yaml").read_text())
    template = raw["automations"][0]
    extra = []
    for index in range(automations - len(raw["automations"])):
        clone = copy.deepcopy(template)
        clone["id"] = f"{template['id']}_{index:04d}"
        clone["name"] = f"{template['name']} {index}"
        extra.append(clone)
    raw["automations"] = [*raw["automations"], *extra]
    return parse_strategy(raw, source="bench")


def snapshot_values(strategy: Any, families: dict[str, tuple[str, str, list[str]]]) -> list[MetricValue]:
    """A value for every label set the catalogue allows for ``strategy``, in every window."""
    import itertools

    from alignwatch.metrics.catalogue import CATALOGUE

    end = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
    values: list[MetricValue] = []
    for metric_id in families:
        decl = CATALOGUE[metric_id]
        choices = [label.allowed(strategy) for label in decl.labels_decl]
        for row, combination in enumerate(itertools.product(*choices)):
            labels = dict(zip(decl.labels, combination, strict=True))
            for window in WINDOWS:
                values.append(MetricValue(metric_id, labels, window, end - dt.timedelta(hours=1), end, (row % 97) / 97))
    return values


def _median_ms(url: str, repeat: int) -> tuple[float, int]:
    """Median wall time of an HTTP scrape of ``url`` (as Prometheus asks), and body size."""
    request = urllib.request.Request(url, headers={"Accept": PROMETHEUS_ACCEPT})
    size = len(urllib.request.urlopen(request, timeout=30).read())  # warm-up  # noqa: S310
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            response.read()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), size


def main(argv: list[str]) -> int:
    automations = count_argument(argv, "scrape", "automations in the scaled strategy", 200)
    strategy = scaled_strategy(automations)
    families = catalogue_families()
    values = snapshot_values(strategy, families)
    snapshot = Snapshot(
        values=tuple(values),
        last_published_at=dt.datetime(2026, 3, 2, 0, 5, tzinfo=dt.UTC),
        runs=(RunState("continuous", "published", dt.datetime(2026, 3, 2, 0, 5, tzinfo=dt.UTC), run_id=1),),
        validation_ok=True,
    )
    collector = SnapshotCollector(lambda: snapshot, business="bench", families=families)
    series = sum(1 for family in collector.collect() for _ in family.samples)
    if series < MIN_SERIES:
        print(f"only {series} series; raise the number of automations")
        return 1

    bare = CollectorRegistry()
    per_gauge = 1000
    gauges: list[Any] = [
        Gauge(f"alignwatch_bare_{i}_ratio", "Bare gauge.", ["business", "window", "entity"], registry=bare)
        for i in range((series + per_gauge - 1) // per_gauge)
    ]
    for index in range(series):
        gauges[index // per_gauge].labels("bench", WINDOWS[index % 4], f"e{index:06d}").set(index % 97)

    started = time.perf_counter()
    collector.exposition("text/plain", generate_latest)
    first_ms = (time.perf_counter() - started) * 1000
    with serve(CollectorRegistry(), port=0, snapshot=collector) as exporter, serve(bare, port=0) as baseline:
        exporter_ms, exporter_bytes = _median_ms(exporter.url, 15)
        bare_ms, bare_bytes = _median_ms(baseline.url, 15)
    ratio = exporter_ms / bare_ms
    ok = exporter_ms <= TARGET_MS and ratio <= TARGET_RATIO
    print(f"strategy: ecommerce scaled to {automations} automations, {len(strategy.kpis)} KPIs")
    print(f"series: {series} in the exporter ({exporter_bytes} bytes) vs {series} bare gauges ({bare_bytes} bytes)")
    print(f"exporter scrape over HTTP: {exporter_ms:.1f} ms (median of 15; target <= {TARGET_MS:.0f} ms)")
    print(f"  serialising a new snapshot (the exporter's background refresher does it, not a scrape): {first_ms:.1f} ms")
    print(f"bare registry scrape over HTTP: {bare_ms:.1f} ms")
    print(f"ratio: {ratio:.2f} (target <= {TARGET_RATIO:.1f}) {'OK' if ok else 'MISSED'}")
    return 0 if ok else 1
