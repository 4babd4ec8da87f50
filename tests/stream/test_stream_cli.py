"""The ingestion commands: simulate, ingest, quarantine, consume; and the broker helper."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers_stream import consumer_process, count_events, quarantine_rows

from alignwatch.cli import cli
from alignwatch.store import connect
from alignwatch.stream.broker import TansuBroker

ALIGNWATCH = str(Path(sys.executable).parent / "alignwatch")


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ALIGNWATCH, *args], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def test_simulate_to_a_file_then_ingest_reports_counts_and_quarantine_can_be_listed_shown_and_replayed(
    store_url, tmp_path
):
    output = tmp_path / "bakery.jsonl"
    runner = CliRunner()
    result = runner.invoke(
        cli, ["simulate", "--scenario", "bakery", "--events", "3000", "--seed", "4", "--days", "7",
              "--start", "2026-01-05", "--output", str(output)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = output.read_bytes().splitlines()
    assert len(lines) == 3000

    result = runner.invoke(cli, ["ingest", str(output), "--store", store_url])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "stored 2940, duplicates 30, quarantined 30"
    engine = connect(store_url)
    assert count_events(engine) == 2940

    listed = runner.invoke(cli, ["quarantine", "list", "--store", store_url, "--reason", "not_json"])
    assert listed.exit_code == 0 and "not_json" in listed.output and f"{output}:" in listed.output
    first = min(row["id"] for row in quarantine_rows(engine))
    shown = runner.invoke(cli, ["quarantine", "show", str(first), "--store", store_url])
    assert shown.exit_code == 0 and "reason_code:" in shown.output and "raw:" in shown.output

    replayed = runner.invoke(cli, ["quarantine", "replay", "--store", store_url])
    assert replayed.output.strip() == "replayed 0, already stored 0, still rejected 30"
    engine.dispose()


def test_cli_errors_are_one_line_without_traceback(tmp_path):
    result = run("ingest", str(tmp_path / "missing.jsonl"), "--store", f"sqlite:///{tmp_path / 's.db'}")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    result = run("quarantine", "show", "1", "--store", f"sqlite:///{tmp_path / 'empty.db'}")
    assert result.returncode == 1 and result.stderr.startswith("error:") and "db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_simulate_produces_to_kafka_and_consume_stores_it_then_exits_at_max_events(broker, new_topic, pg_store):
    topic = new_topic(partitions=2)
    produced = run(
        "simulate", "--scenario", "retail", "--events", "2000", "--seed", "2",
        "--bootstrap-servers", broker.bootstrap, "--topic", topic,
    )  # fmt: skip
    assert produced.returncode == 0, produced.stderr
    assert produced.stdout.strip() == f"produced 2000 messages to {topic}"
    consumed = run(
        "consume", "--bootstrap-servers", broker.bootstrap, "--topic", topic, "--group", f"g-{topic}",
        "--store", pg_store, "--max-events", "2000",
        env={"ALIGNWATCH_SESSION_TIMEOUT_MS": "6000", "ALIGNWATCH_HEARTBEAT_INTERVAL_MS": "2000"},
    )  # fmt: skip
    assert consumed.returncode == 0, consumed.stderr
    assert "consumed 2000" in consumed.stdout and "rejected 20" in consumed.stdout
    engine = connect(pg_store)
    assert count_events(engine) == 1960
    engine.dispose()


@pytest.mark.integration
def test_consume_creates_missing_topics_and_on_sigterm_stores_and_commits_what_it_read_then_exits_0(
    broker, pg_store, sim_start, tmp_path
):
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from alignwatch.config import Settings
    from alignwatch.stream.consumer import kafka_producer
    from alignwatch.stream.simulator import messages, produce

    topic = "created-on-demand-" + os.urandom(4).hex()
    log = tmp_path / "consume.log"
    proc = consumer_process(broker.bootstrap, topic, "g-" + topic, pg_store, log, "--partitions", "2")
    try:
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            deadline = time.monotonic() + 30
            while not {topic, topic + ".dlq"} <= set(admin.list_topics()) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert {topic, topic + ".dlq"} <= set(admin.list_topics())
        finally:
            admin.close()
        sent = list(messages("control", 3, sim_start, 28, 600))
        producer = kafka_producer(Settings(bootstrap_servers=[broker.bootstrap]), acks=1)
        produced = produce(producer, topic, sent)
        producer.close()
        engine = connect(pg_store)
        valid = len({m.identity for m in sent if m.identity})
        deadline = time.monotonic() + 40
        while count_events(engine) < valid and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "done: consumed 600" in log.read_text()
    assert count_events(engine) == valid
    engine.dispose()
    reader = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id="g-" + topic, enable_auto_commit=False)
    try:
        committed = {p: reader.committed(TopicPartition(topic, p)) for p in produced.ends}
    finally:
        reader.close()
    assert committed == produced.ends


@pytest.mark.integration
def test_the_broker_helper_answers_on_a_loopback_port_and_leaves_no_process_behind():
    with TansuBroker() as broker:
        pid = broker.pid
        assert broker.bootstrap.startswith("127.0.0.1:")
        assert pid is not None and Path(f"/proc/{pid}").exists()
    assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    assert broker.pid is None


def test_simulate_rejects_bad_shares_in_one_line():
    result = CliRunner().invoke(cli, ["simulate", "--scenario", "retail", "--malformed-share", "0.9", "--output", "x"])
    assert result.exit_code != 0
    assert "--malformed-share" in str(result.exception) or "--malformed-share" in result.output


def test_written_lines_are_structured_cloudevents(tmp_path):
    output = tmp_path / "e.jsonl"
    CliRunner().invoke(cli, ["simulate", "--scenario", "control", "--events", "200", "--malformed-share", "0",
                             "--duplicate-share", "0", "--output", str(output)])  # fmt: skip
    events = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(events) == 200 and all(e["specversion"] == "1.0" and "data" in e for e in events)
