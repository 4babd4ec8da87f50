"""End to end on real components, from a simulated event to an Alertmanager notification.

simulator (ecommerce) → Tansu broker → consumer → PostgreSQL → the ``alignment_continuous``
DAG (``dag.test()``, in its own process) → exporter → a real Prometheus on loopback scraping it with the generated rules → the
planted human-reachability collapse fires → a real Alertmanager → the webhook receiver
in this test. Every dashboard panel's PromQL must then return data from that Prometheus.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import time
import urllib.parse
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
    prometheus_query,
    start_alertmanager,
    start_prometheus,
    wait_until,
)

pytestmark = pytest.mark.integration

ALERT = "AlignwatchHumanReachabilityBelowFloor"
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


def _prometheus_config(path: Path, exporter_target: str, alertmanager_port: int, rules: Path) -> Path:
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(rules / "*.rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "scrape_configs": [
            {"job_name": "alignwatch-exporter", "static_configs": [{"targets": [exporter_target]}]},
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


def _run_continuous_dag(home: Path, store_url: str, logical_date: dt.datetime) -> None:
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
        "AIRFLOW_VAR_ALIGNWATCH_STRATEGY_FILE": str(REPO / "examples" / "ecommerce.yaml"),
    }
    result = subprocess.run([sys.executable, "-c", DAG_TEST, logical_date.isoformat()], env=env, cwd=home,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "DAG RUN STATE success" in result.stdout, (result.stdout + result.stderr)[-3000:]


def _clear_collapse(messages: Any, strategy: Any, end: dt.datetime) -> list[Any]:
    """Two days of ecommerce messages ending at ``end`` whose last hour shows the collapse.

    Only the support chat collapses (to about 0.3), so the business-wide reachability of
    one hour is about 0.8 over some 17 escalations and can, by chance, sit above the floor.
    The first seed whose last hour has enough escalations and a reachability well below
    the floor is used: what is under test is the path from events to the notification.
    """
    th = strategy.thresholds
    needed = next((k.min_events for k in strategy.kpis if k.measure == "human_reachability"), 10)
    for seed in range(1, 30):
        stream = list(messages("ecommerce", seed, end - dt.timedelta(days=2), 2, 16000, strategy=strategy))
        asked = [
            m.event["data"] for m in stream
            if m.event is not None and m.event["type"] == "customer.touchpoint"
            and m.event["data"].get("escalation_requested")
            and end - dt.timedelta(hours=1) <= dt.datetime.fromisoformat(m.event["time"]) < end
        ]
        reached = sum(1 for d in asked if (d.get("escalation_fulfilled_s") or float("inf")) <= th.escalation_sla_s)
        if len(asked) >= needed + 2 and reached / len(asked) <= th.human_reachability_floor - 0.1:
            return stream
    raise AssertionError("no seed gives a last hour with a clear collapse")


def test_the_planted_ecommerce_collapse_reaches_the_webhook_and_every_dashboard_query_has_data(
    tmp_path: Path, fresh_pg_url: str, webhook_receiver: WebhookReceiver, record_property: Any
) -> None:
    from metrics.dashboards import dashboard_names, dashboard_specs, panel_queries, variable_queries
    from metrics.exporter import build_collector, serve
    from metrics.rules import render_rule_files
    from metrics.strategy import load_strategy
    from stream.broker import TansuBroker, ensure_topics
    from stream.consumer import ConsumerOptions, IngestConsumer, kafka_consumer, kafka_producer
    from stream.events import DecodeLimits, RejectReason
    from stream.health import PipelineMetrics
    from stream.simulator import messages, produce
    from stream.sink import StoreSink

    strategy = load_strategy(Path(__file__).resolve().parents[2] / "examples" / "ecommerce.yaml")
    engine = connect(fresh_pg_url)
    upgrade(engine)

    # rules for this strategy, rendered as `alignwatch render rules` does
    rules = tmp_path / "rules"
    rules.mkdir()
    for name, text in render_rule_files([strategy]).items():
        (rules / name).write_text(text)

    # the exporter: snapshot collector (cached exposition) + the consumer's instruments
    live = CollectorRegistry()
    health = PipelineMetrics(live, reasons=tuple(str(reason) for reason in RejectReason))
    collector = build_collector(engine, strategy, ttl_s=0.5)
    servers: list[Any] = []
    broker = TansuBroker()
    try:
        exporter = serve(live, port=0, snapshot=collector)
        servers.append(exporter)
        alertmanager = start_alertmanager(_alertmanager_config(tmp_path / "am.yml", webhook_receiver), tmp_path)
        servers.append(alertmanager)
        prometheus = start_prometheus(
            _prometheus_config(tmp_path / "prometheus.yml", f"127.0.0.1:{exporter.port}", alertmanager.port, rules), tmp_path
        )
        servers.append(prometheus)

        broker.start()
        settings = Settings(
            bootstrap_servers=[broker.bootstrap], topics=[TOPIC], store_url=fresh_pg_url,
            session_timeout_ms=6000, heartbeat_interval_ms=2000, batch_timeout_s=0.2,
        )
        ensure_topics(broker.bootstrap, [TOPIC, TOPIC + settings.dlq_suffix], partitions=2)

        # two days of ecommerce events; the support bot is reconfigured after the first day
        # and human reachability collapses from then on. They end at the most recent 22:00
        # of the business's timezone, so the newest hour window is an evening peak with
        # enough escalations for the alert's minimum-event guard.
        last_hour = _latest_local_hour(dt.datetime.now(dt.UTC), strategy.business.timezone, 22)
        stream = _clear_collapse(messages, strategy, last_hour)
        producer = kafka_producer(settings)
        produced_at = time.time()
        produce(producer, TOPIC, stream)
        producer.close()

        consumer = IngestConsumer(
            kafka_consumer(settings),
            kafka_producer(settings),
            StoreSink(engine),
            DecodeLimits.from_settings(settings),
            health,
            ConsumerOptions.from_settings(settings, max_events=len(stream), idle_timeout_s=20),
        )
        consumer.subscribe(topics=[TOPIC])
        thread = threading.Thread(target=consumer.run, daemon=True)
        thread.start()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the consumer did not drain the topic in 60 s"
        consumer.consumer.close()
        consumer.producer.close()
        consumed_at = time.time()
        assert consumer.report.stored > 15000 and consumer.report.rejected > 0

        # the continuous DAG for the 5-minute data interval in which the last hour closed
        _run_continuous_dag(tmp_path / "airflow", fresh_pg_url, last_hour + dt.timedelta(minutes=2))
        with engine.connect() as conn:
            status, finished = conn.execute(
                sa.select(pipeline_runs.c.status, pipeline_runs.c.finished_at).where(pipeline_runs.c.kind == "continuous")
            ).one()
        assert status == "published"
        published_at = finished.timestamp()

        # Prometheus scrapes the new snapshot, the rule fires, Alertmanager notifies
        def notified() -> tuple[float, dict[str, Any]] | None:
            for received_at, payload in list(webhook_receiver.received):
                for alert in payload.get("alerts", []):
                    if alert["labels"].get("alertname") == ALERT and alert["status"] == "firing":
                        return received_at, alert
            return None

        received_at, alert = wait_until(notified, timeout=45, interval=0.25, what=f"{ALERT} at the webhook")
        latency = received_at - produced_at
        record_property("event_to_notification_s", round(latency, 2))
        print(
            f"event produced → webhook notification: {latency:.1f} s (ingested {consumed_at - produced_at:.1f} s, "
            f"Airflow started, computed and published {published_at - consumed_at:.1f} s, scraped, evaluated and notified "
            f"{received_at - published_at:.1f} s)"
        )
        assert alert["labels"]["severity"] == "page"
        assert alert["labels"]["business"] == collector.business
        assert alert["annotations"]["runbook_url"].endswith("#human-reachability-below-floor")
        assert "perspective" in alert["annotations"]["summary"]

        # every dashboard panel shows data (rates need a few scrapes of the counters); a
        # panel of several series (the five indices) may lack one whose window has no data
        names = dashboard_names()
        panels: dict[str, list[str]] = {}
        for spec in dashboard_specs(names):
            for title, expr in panel_queries(spec):
                concrete = expr.replace("$business", collector.business).replace("$kpi", "csat")
                panels.setdefault(f"{spec.title} / {title}", []).append(concrete)
        empty = []
        for panel, exprs in panels.items():
            try:
                wait_until(lambda: any(prometheus_query(prometheus, e) for e in exprs), timeout=10, what=panel)
            except AssertionError:
                empty.append(f"{panel}: {exprs}")
        assert not empty, "panels without data:\n" + "\n".join(empty)
        assert len(panels) == sum(len(spec.panels) for spec in dashboard_specs(names))
        # and every template variable offers the business and its KPIs
        for spec in dashboard_specs(names):
            for variable, label, selector in variable_queries(spec, names):
                match = urllib.parse.urlencode({"match[]": selector.replace("$business", collector.business)})
                offered = get_json(f"{prometheus.url}/api/v1/label/{label}/values?{match}")["data"]
                expected = collector.business if variable == "business" else "csat"
                assert expected in offered, (spec.title, variable, offered)
    finally:
        for server in reversed(servers):
            server.stop()
        broker.stop()
        engine.dispose()
