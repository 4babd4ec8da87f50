"""Every dashboard panel shows data after the demo's histories, read by a real Prometheus.

For every simulated scenario, a 28-day and a 2-day history (``alignwatch run``'s defaults:
12 000 events, seed 7) ending at the current hour is stored and computed in-process as the
scheduled pipeline leaves it: the nightly run of the last whole local day, then the
continuous run of the newest hour (with the rolling 7d and 28d windows).
One exporter per store serves it; one Prometheus per history length scrapes them; then
every query of every panel is evaluated for every business, and the KPI detail's for every
KPI of the strategy. A panel shows data when one of its queries returns a sample; after
the short history only, a panel may instead be empty for the reason it declares
(``PanelSpec.empty_when`` returns a sample): the AAC lead time needs a reconfiguration whose
initiative started within the history.

Left out, each for its reason: the burn-rate panels of KPIs without an error budget (not
on an event-share measure: the panel says so), the panels of the Kafka consumer's own
instruments (lag, commit latency: no broker runs here; ``test_end_to_end.py`` reads them
from a real consumer), and, for a strategy that declares no decision-making automation,
the panels whose every series is labelled by one (the ethics row's parity, overrides,
decisions and oversight: there is nothing to label). The refunds scenario declares its
refund bot: every panel of the "Ethics and human agency" row must show its data.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import time
import urllib.parse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from alignwatch.drill import store_scenario
from alignwatch.metrics.dashboards import (
    ETHICS_ROW,
    dashboard_annotations,
    dashboard_names,
    dashboard_specs,
    variable_queries,
)
from alignwatch.metrics.exporter import build_collector
from alignwatch.metrics.server import serve
from alignwatch.metrics.strategy import load_strategy
from alignwatch.pipeline import continuous_task, run_interval
from alignwatch.store import connect, upgrade
from alignwatch.stream.contract import RejectReason
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.simulator import SCENARIOS
from alignwatch.stream.simulator.generate import default_strategy_path
from alignwatch.vocabulary import EVENT_SHARE_MEASURES
from alignwatch.windows import nightly_range

from .conftest import Server, get_json, per_decision_maker, prometheus_query, start_prometheus, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HISTORIES = (28, 2)  # days
EVENTS = 12_000
SEED = 7
#: panels that read only the Kafka consumer's instruments
CONSUMER_PANELS = ("Consumer lag", "Commit latency p95")
#: KPI detail panels that have data only for a KPI with an error budget
BUDGET_PANELS = ("Error budget remaining (28 days)", "Error-budget burn rate per window", "Evidence of a fast burn")


def _build_store(scenario: str, days: int, path: str, now: dt.datetime) -> str:
    """Simulate, store and compute one history as the schedule leaves it; return the store URL."""
    strategy = load_strategy(default_strategy_path(scenario))
    url = f"sqlite:///{path}"
    engine = connect(url)
    try:
        upgrade(engine)
        start = now - dt.timedelta(days=days)
        store_scenario(engine, strategy, scenario, planted=True, events=EVENTS, start=start, days=days, seed=SEED)
        night_start, night_end = nightly_range(now, days=1, tz=strategy.business.timezone)
        nightly = run_interval(engine, strategy, start=max(night_start, start), end=night_end, kind="nightly",
                               granularity="day")  # fmt: skip
        assert nightly.published, (scenario, days, nightly.status, nightly.detail)
        # the newest hour only: the exporter serves the newest window of each kind, so the 23
        # older hours a scheduled run also recomputes change nothing a panel reads
        continuous = continuous_task(engine, strategy, start=now - dt.timedelta(minutes=5), end=now,
                                     lookback=dt.timedelta(hours=1))
        assert continuous.published, (scenario, days, continuous.status, continuous.detail)
    finally:
        engine.dispose()
    return url


def _prometheus_config(path: Path, targets: list[str]) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [{"job_name": "alignwatch-exporter", "static_configs": [{"targets": targets}]}],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _ethics_row_panels() -> list[str]:
    """Titles of the panels of the "Ethics and human agency" row, wherever it is."""
    for spec in dashboard_specs(dashboard_names()):
        titles = [panel.title for panel in spec.panels]
        if ETHICS_ROW in titles:
            return titles[titles.index(ETHICS_ROW) + 1:]
    raise AssertionError("no dashboard has the ethics row")


def _empty_panels(prometheus: Server, business: str, strategy: Any, *, short: bool,
                  checked: list[str] | None = None) -> list[str]:
    """Panels of every dashboard without data for ``business`` (KPI detail: for each of its KPIs);
    the titles of the panels evaluated are added to ``checked``."""
    empty = []
    for spec in dashboard_specs(dashboard_names()):
        kpis = [(kpi.id, kpi.measure in EVENT_SHARE_MEASURES) for kpi in strategy.kpis] if spec.kpi_variable else [("", True)]
        for kpi, budgeted in kpis:
            for panel in spec.panels:
                if not panel.queries or panel.title in CONSUMER_PANELS or (panel.title in BUDGET_PANELS and not budgeted):
                    continue
                if not strategy.ethics.decisions and per_decision_maker(panel):
                    continue
                if checked is not None:
                    checked.append(panel.title)
                exprs = [q.expr.replace("$business", business).replace("$kpi", kpi) for q in panel.queries]
                if panel.empty_when and short:
                    exprs.append(panel.empty_when.replace("$business", business).replace("$kpi", kpi))
                if not any(prometheus_query(prometheus, expr) for expr in exprs):
                    empty.append(f"{spec.title} / {panel.title}" + (f" (kpi {kpi})" if kpi else ""))
    return empty


def test_every_panel_shows_data_after_a_28_day_and_a_2_day_history_of_every_scenario(tmp_path: Path) -> None:
    began = time.monotonic()
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    histories = [(scenario, days) for days in HISTORIES for scenario in SCENARIOS]
    # two processes build the stores side by side (each computes on its own SQLite file)
    with ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            (scenario, days): pool.submit(_build_store, scenario, days, str(tmp_path / f"{scenario}-{days}d.db"), now)
            for scenario, days in histories
        }
        urls = {key: future.result(timeout=300) for key, future in futures.items()}
    built = time.monotonic()

    names = dashboard_names()
    servers: list[Any] = []
    engines: list[Any] = []
    failures: list[str] = []
    ethics_checked: list[int] = []  # histories whose ethics row was evaluated for a decision-making automation
    try:
        stacks = {}
        for days in HISTORIES:
            # the consumer's instruments beside the snapshots, as `alignwatch run` serves them
            live = CollectorRegistry()
            PipelineMetrics(live, reasons=tuple(str(reason) for reason in RejectReason))
            businesses, targets = [], []
            for scenario in SCENARIOS:
                strategy = load_strategy(default_strategy_path(scenario))
                engine = connect(urls[(scenario, days)])
                engines.append(engine)
                collector = build_collector(engine, strategy, ttl_s=60)
                exporter = serve(live if not targets else CollectorRegistry(), port=0, snapshot=collector)
                servers.append(exporter)
                businesses.append((collector.business, strategy))
                targets.append(f"127.0.0.1:{exporter.port}")
            workdir = tmp_path / f"prometheus-{days}d"
            workdir.mkdir()
            prometheus = start_prometheus(_prometheus_config(workdir / "prometheus.yml", targets), workdir)
            servers.append(prometheus)
            stacks[days] = (prometheus, businesses, len(targets))

        started = time.monotonic()
        for days, (prometheus, businesses, count) in stacks.items():
            # every target scraped, and twice at least (the rates need two samples)
            wait_until(lambda p=prometheus, c=count: prometheus_query(p, "count(count_over_time(up[1m]) >= 3) == " + str(c)),
                       timeout=30, what=f"Prometheus to scrape the {days}-day exporters")  # fmt: skip
            for business, strategy in businesses:
                checked: list[str] = []
                failures += [f"{days} days, {business}: {panel}"
                             for panel in _empty_panels(prometheus, business, strategy, short=days < 28, checked=checked)]
                if strategy.ethics.decisions:  # the refunds demo: the whole ethics row was evaluated
                    ethics_checked.append(days)
                    assert set(_ethics_row_panels()) <= set(checked), (days, business)
                for spec in dashboard_specs(names):
                    for variable, label, selector in variable_queries(spec, names):
                        match = urllib.parse.urlencode({"match[]": selector.replace("$business", business)})
                        offered = get_json(f"{prometheus.url}/api/v1/label/{label}/values?{match}")["data"]
                        expected = business if variable == "business" else strategy.kpis[0].id
                        assert expected in offered, (days, spec.title, variable, offered)
                # annotation queries are valid PromQL (they return samples only when the event happens)
                for note in dashboard_annotations(names):
                    prometheus_query(prometheus, note.expr.replace("$business", business))
    finally:
        for server in reversed(servers):
            server.stop()
        for engine in engines:
            engine.dispose()
    print(f"stores built in {built - began:.1f} s, exporters and Prometheus started in {started - built:.1f} s, "
          f"panels evaluated in {time.monotonic() - started:.1f} s")
    assert not failures, "panels without data:\n" + "\n".join(failures)
    assert sorted(ethics_checked) == sorted(HISTORIES)
