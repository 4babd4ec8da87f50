"""Imports produced to a real Kafka-protocol broker (Tansu): every event arrives, decodable;
a broken log sends nothing, because the log is checked before the first message."""

from __future__ import annotations

import datetime as dt
import gzip
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from alignwatch.cli import main
from alignwatch.stream.broker import TansuBroker
from alignwatch.stream.contract import DecodeLimits, Event
from alignwatch.stream.decode import decode_structured

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def import_broker() -> Iterator[TansuBroker]:
    """A Tansu broker for this module (stopped by PID at the end)."""
    with TansuBroker() as running:
        yield running


def _read_topic(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
        if not partitions:
            return []
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        values: list[bytes] = []
        empty_polls = 0
        while empty_polls < 4 and len(values) < expected + 1:
            batch = consumer.poll(timeout_ms=500)
            empty_polls = 0 if batch else empty_polls + 1
            values += [record.value for records in batch.values() for record in records]
        return values
    finally:
        consumer.close()


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_an_imported_log_arrives_on_the_topic_as_decodable_cloudevents(
    import_broker: TansuBroker, eventlogs: Path, mappings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topic = f"import-{uuid.uuid4().hex[:8]}"
    code, err = _run(
        capsys, "import", "xes", str(eventlogs / "company_business_process_log.xes.gz"),
        "--mapping", str(mappings / "company_bot.yaml"),
        "--bootstrap-servers", import_broker.bootstrap, "--topic", topic, "--quiet",
    )
    assert code == 0, err
    values = _read_topic(import_broker.bootstrap, topic, 80)
    limits = DecodeLimits(
        max_payload_bytes=1 << 20, max_future=dt.timedelta(days=1), max_age=None, now=lambda: dt.datetime.now(dt.UTC)
    )
    events = [decode_structured(value, limits) for value in values]
    assert len(events) == 80 and all(isinstance(event, Event) for event in events)
    assert sum(1 for event in events if isinstance(event, Event) and event.type == "automation.run") == 20


def test_a_broken_log_sends_nothing_to_the_topic(
    import_broker: TansuBroker, eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = gzip.decompress((eventlogs / "company_business_process_log.xes.gz").read_bytes()).decode("utf-8")
    broken = tmp_path / "broken.xes"
    broken.write_text(text[: len(text) * 3 // 4], encoding="utf-8")
    topic = f"import-{uuid.uuid4().hex[:8]}"
    code, err = _run(
        capsys, "import", "xes", str(broken), "--mapping", str(mappings / "company_bot.yaml"),
        "--bootstrap-servers", import_broker.bootstrap, "--topic", topic, "--quiet",
    )
    assert code != 0 and "malformed XES at line" in err
    # checked before anything is produced: no message (the topic is not even created)
    assert _read_topic(import_broker.bootstrap, topic, 0) == []
