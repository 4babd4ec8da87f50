"""End to end on real components, from a simulated event to an Alertmanager notification.

simulator (ecommerce) → Tansu broker → consumer → PostgreSQL → the ``alignment_continuous``
DAG (``dag.test()``, in its own process) → exporter → a real Prometheus on loopback scraping it
with the default generated rules → the planted human-reachability collapse pages after its
``for:`` → a real Alertmanager → the webhook receiver in this test. Beside it, the same
business without the collapse (its control, another store and exporter, the same rules,
Prometheus and Alertmanager) pages nobody. Every dashboard panel's PromQL must then return
data from that Prometheus.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry

from alignwatch.config import Settings
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import pipeline_runs

from .conftest import (
    DEPLOY,
    REPO,
    WebhookReceiver,
    get_json,
    per_decision_maker,
    prometheus_query,
    start_alertmanager,
    start_prometheus,
    wait_until,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ALERT = "AlignwatchKPIErrorBudgetBurn"
TOPIC = "alignwatch.e2e"


def _alertmanager_config(path: Path, receiver: WebhookReceiver) -> Path:
    """The deployed Alertmanager config with its webhooks pointed at the test receiver."""
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    config["route"]["group_wait"] = "1s"
    for route in config["route"]["routes"]:
        route["group_wait"] = "1s"
    for entry in config["receivers"]:
        for hook in entry["webhook_configs"]:
            hook["url"] = receiver.url
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _prometheus_config(path: Path, exporter_targets: list[str], alertmanager_port: int, rules: Path) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [
            {"job_name": "alignwatch-exporter", "static_configs": [{"targets": exporter_targets}]},
        ],
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _latest_local_hour(now: dt.datetime, timezone: str, hour: int) -> dt.datetime:
    """The most recent ``hour``:00 in ``timezone`` not after ``now``, in UTC."""
    from zoneinfo import ZoneInfo

    local = now.astimezone(ZoneInfo(timezone)).replace(minute=0, second=0, microsecond=0)
    while local.hour != hour or local > now:
        local -= dt.timedelta(hours=1)
    return local.astimezone(dt.UTC)


DAG_TEST = """
import datetime as dt, os, sys
from airflow.utils.db import upgradedb
upgradedb()
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
assert not bag.import_errors, bag.import_errors
run = bag.dags["alignment_continuous"].test(logical_date=dt.datetime.fromisoformat(sys.argv[1]))
print("DAG RUN STATE", run.state)
"""


def _run_continuous_dag(home: Path, store_url: str, logical_date: dt.datetime, strategy: Path | None = None) -> None:
    """``dag.test()`` of ``alignment_continuous`` in its own process and Airflow home.

    Airflow reads its configuration once per process; running it apart keeps this test's
    process (and the other tests of the suite) free of it.
    """
    home.mkdir()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW_VAR_ALIGNWATCH_STORE_URL": store_url,
        "AIRFLOW_VAR_ALIGNWATCH_STRATEGY_FILE": str(strategy or REPO / "examples" / "ecommerce.yaml"),
    }
    result = subprocess.run([sys.executable, "-c", DAG_TEST, logical_date.isoformat()], env=env, cwd=home,
                            capture_output=True, text=True, timeout=360)  # a migration and a DAG run: ~30 s idle, >120 s on a loaded machine
    assert result.returncode == 0 and "DAG RUN STATE success" in result.stdout, (result.stdout + result.stderr)[-3000:]


def _control_strategy(path: Path) -> Path:
    """The ecommerce strategy under another business name: the control run's business."""
    data = yaml.safe_load((REPO / "examples" / "ecommerce.yaml").read_text())
    data["business"]["name"] = "Northwind Control"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _consume(settings: Settings, topic: str, engine: Any, health: Any, count: int) -> Any:
    from alignwatch.stream.consumer import ConsumerOptions, IngestConsumer, kafka_consumer, kafka_producer
    from alignwatch.stream.contract import DecodeLimits
    from alignwatch.stream.sink import StoreSink

    consumer = IngestConsumer(
        kafka_consumer(settings, group=f"e2e-{topic}"),
        kafka_producer(settings),
        StoreSink(engine),
        DecodeLimits.from_settings(settings),
        health,
        ConsumerOptions.from_settings(settings, max_events=count, idle_timeout_s=20),
    )
    consumer.subscribe(topics=[topic])
    thread = threading.Thread(target=consumer.run, daemon=True)
    thread.start()
    thread.join(timeout=90)
    assert not thread.is_alive(), "the consumer did not drain the topic in 90 s"
    consumer.consumer.close()
    consumer.producer.close()
    return consumer.report


def test_the_planted_ecommerce_collapse_pages_at_the_webhook_and_its_control_pages_nobody(
    tmp_path: Path, fresh_pg_url: str, webhook_receiver: WebhookReceiver, record_property: Any
) -> None:
    from alignwatch.metrics.dashboards import dashboard_names, dashboard_specs, panel_queries, variable_queries
    from alignwatch.metrics.exporter import build_collector
    from alignwatch.metrics.rules import render_rule_files
    from alignwatch.metrics.server import serve
    from alignwatch.metrics.strategy import load_strategy
    from alignwatch.stream.broker import TansuBroker, ensure_topics
    from alignwatch.stream.consumer import kafka_producer
    from alignwatch.stream.contract import RejectReason
    from alignwatch.stream.health import PipelineMetrics
    from alignwatch.stream.simulator import messages, produce

    strategy = load_strategy(REPO / "examples" / "ecommerce.yaml")
    control_file = _control_strategy(tmp_path / "control.yaml")
    control_strategy = load_strategy(control_file)
    engine = connect(fresh_pg_url)
    upgrade(engine)
    control_url = f"sqlite:///{tmp_path / 'control.db'}"
    control_engine = connect(control_url)
    upgrade(control_engine)

    # the default rules for both businesses, rendered as `alignwatch render rules` does
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in render_rule_files([strategy, control_strategy]).items():
        (rules / name).write_text(text)

    # two exporters (one per business store) scraped by one Prometheus, one Alertmanager
    live = CollectorRegistry()
    health = PipelineMetrics(live, reasons=tuple(str(reason) for reason in RejectReason))
    collector = build_collector(engine, strategy, ttl_s=0.5)
    control_collector = build_collector(control_engine, control_strategy, ttl_s=0.5)
    servers: list[Any] = []
    broker = TansuBroker()
    try:
        exporter = serve(live, port=0, snapshot=collector)
        servers.append(exporter)
        control_exporter = serve(CollectorRegistry(), port=0, snapshot=control_collector)
        servers.append(control_exporter)
        alertmanager = start_alertmanager(_alertmanager_config(tmp_path / "am.yml", webhook_receiver), tmp_path)
        servers.append(alertmanager)
        targets = [f"127.0.0.1:{exporter.port}", f"127.0.0.1:{control_exporter.port}"]
        prometheus = start_prometheus(_prometheus_config(tmp_path / "prometheus.yml", targets, alertmanager.port, rules), tmp_path)
        servers.append(prometheus)

        broker.start()
        settings = Settings(
            bootstrap_servers=[broker.bootstrap], topics=[TOPIC], store_url=fresh_pg_url,
            session_timeout_ms=6000, heartbeat_interval_ms=2000, batch_timeout_s=0.2,
        )
        control_topic = TOPIC + ".control"
        ensure_topics(broker.bootstrap, [TOPIC, TOPIC + settings.dlq_suffix, control_topic,
                                         control_topic + settings.dlq_suffix], partitions=2)  # fmt: skip

        # two days of ecommerce events; the support bot is reconfigured after the first day
        # and human reachability collapses from then on. The control: the same business,
        # the same seed and volume, without the reconfiguration. Both end at the most recent
        # 22:00 of the business's timezone.
        last_hour = _latest_local_hour(dt.datetime.now(dt.UTC), strategy.business.timezone, 22)
        begin = last_hour - dt.timedelta(days=2)
        stream = list(messages("ecommerce", 1, begin, 2, 8000, strategy=strategy))
        control = list(messages("ecommerce", 1, begin, 2, 8000, strategy=control_strategy, planted=False))
        producer = kafka_producer(settings)
        produced_at = time.time()
        produce(producer, TOPIC, stream)
        produce(producer, control_topic, control)
        producer.close()
        report = _consume(settings, TOPIC, engine, health, len(stream))
        control_report = _consume(settings, control_topic, control_engine, PipelineMetrics(CollectorRegistry()),
                                  len(control))  # fmt: skip
        consumed_at = time.time()
        assert report.stored > 7500 and report.rejected > 0 and control_report.stored > 7500

        # the continuous DAG for the 5-minute data interval in which the last hour closed, per business
        with ThreadPoolExecutor(max_workers=2) as pool:  # two Airflow processes side by side
            runs = [
                pool.submit(_run_continuous_dag, tmp_path / "airflow", fresh_pg_url, last_hour + dt.timedelta(minutes=2)),
                pool.submit(_run_continuous_dag, tmp_path / "airflow-control", control_url,
                            last_hour + dt.timedelta(minutes=2), control_file),
            ]  # fmt: skip
            for run in runs:
                run.result(timeout=240)  # raises what the run raised
        for store in (engine, control_engine):
            with store.connect() as conn:
                status, finished = conn.execute(
                    sa.select(pipeline_runs.c.status, pipeline_runs.c.finished_at).where(pipeline_runs.c.kind == "continuous")
                ).one()
            assert status == "published"
        published_at = finished.timestamp()

        # Prometheus scrapes the snapshots, the rule fires after its `for:`, Alertmanager notifies
        def notified() -> tuple[float, dict[str, Any]] | None:
            for received_at, payload in list(webhook_receiver.received):
                for alert in payload.get("alerts", []):
                    labels = alert["labels"]
                    if (labels.get("alertname") == ALERT and labels.get("kpi") == "human_reachability"
                            and labels.get("business") == collector.business and alert["status"] == "firing"):
                        return received_at, alert
            return None

        received_at, alert = wait_until(notified, timeout=240, interval=0.5, what=f"{ALERT} at the webhook")
        latency = received_at - produced_at
        record_property("event_to_notification_s", round(latency, 2))
        print(
            f"event produced → webhook notification: {latency:.1f} s (ingested {consumed_at - produced_at:.1f} s, "
            f"Airflow started, computed and published {published_at - consumed_at:.1f} s, scraped, evaluated, held "
            f"for its `for:` and notified {received_at - published_at:.1f} s)"
        )
        assert received_at - published_at <= 5 * 60, "notified more than 5 minutes after the snapshot was published"
        assert alert["labels"]["severity"] == "page"
        assert alert["annotations"]["runbook_url"].endswith("#kpi-error-budget-burn")
        assert "perspective" in alert["annotations"]["summary"]
        # the control business, scraped and evaluated as long, paged nobody
        control_pages = [
            alert["labels"] for _, payload in webhook_receiver.received for alert in payload.get("alerts", [])
            if alert["labels"].get("business") == control_collector.business and alert["labels"].get("severity") == "page"
        ]
        assert control_pages == []
        assert prometheus_query(prometheus, f'ALERTS{{business="{control_collector.business}",severity="page"}}') == []

        # every dashboard panel shows data (rates need a few scrapes of the counters); a
        # panel of several series (the five indices) may lack one whose window has no data,
        # and a panel may be empty for the reason it declares (two days: no AAC lead time);
        # the ecommerce strategy declares no decision-making automation: the ethics panels
        # labelled by one have nothing to show (test_dashboards_prometheus.py shows them on
        # the refunds scenario)
        names = dashboard_names()
        panels: dict[str, list[str]] = {}
        unlabelled = {f"{spec.title} / {panel.title}" for spec in dashboard_specs(names) for panel in spec.panels
                      if panel.queries and not strategy.ethics.decisions and per_decision_maker(panel)}
        for spec in dashboard_specs(names):
            for title, expr in panel_queries(spec):
                if f"{spec.title} / {title}" not in unlabelled:
                    panels.setdefault(f"{spec.title} / {title}", []).append(expr)
            for panel in spec.panels:
                if panel.empty_when and f"{spec.title} / {panel.title}" in panels:
                    panels[f"{spec.title} / {panel.title}"].append(panel.empty_when)
        panels = {
            panel: [e.replace("$business", collector.business).replace("$kpi", "human_reachability") for e in exprs]
            for panel, exprs in panels.items()
        }
        empty = []
        for panel, exprs in panels.items():
            try:
                wait_until(lambda exprs=exprs: any(prometheus_query(prometheus, e) for e in exprs), timeout=10, what=panel)
            except AssertionError:
                empty.append(f"{panel}: {exprs}")
        assert not empty, "panels without data:\n" + "\n".join(empty)
        assert len(panels) + len(unlabelled) == sum(1 for spec in dashboard_specs(names) for panel in spec.panels if panel.queries)
        # and every template variable offers the business and its KPIs
        for spec in dashboard_specs(names):
            for variable, label, selector in variable_queries(spec, names):
                match = urllib.parse.urlencode({"match[]": selector.replace("$business", collector.business)})
                offered = get_json(f"{prometheus.url}/api/v1/label/{label}/values?{match}")["data"]
                expected = collector.business if variable == "business" else "human_reachability"
                assert expected in offered, (spec.title, variable, offered)
    finally:
        for server in reversed(servers):
            server.stop()
        broker.stop()
        engine.dispose()
        control_engine.dispose()
