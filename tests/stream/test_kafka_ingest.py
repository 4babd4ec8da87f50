"""The consumer against the real Tansu broker and PostgreSQL: exact totals, dead letters,
committed offsets, poison messages, two consumers sharing a topic."""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest
from helpers_stream import (
    build_consumer,
    consumer_process,
    count_events,
    expected_identities,
    id_checksum,
    last_assignment,
    quarantine_rows,
    read_topic,
    stored_identities,
)
from kafka import KafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry

from alignwatch.store import connect
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.contract import DecodeLimits, Rejection, RejectReason
from alignwatch.stream.decode import decode_message
from alignwatch.stream.process import headers_from_json
from alignwatch.stream.simulator import SimMessage, messages, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _fast_producer(settings):  # type: ignore[no-untyped-def]
    return kafka_producer(settings, acks=1, linger_ms=20, batch_size=1024 * 1024, compression_type=None)


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> dict[int, int | None]:
    """The group's committed offset per partition (read with OffsetFetch, no group join)."""
    reader = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {p: reader.committed(TopicPartition(topic, p)) for p in range(partitions)}
    finally:
        reader.close()


def test_hundred_thousand_simulated_events_are_stored_exactly_once_with_every_bad_one_on_the_dlq_and_in_quarantine(
    broker, new_topic, kafka_settings, pg_store, sim_start
):
    topic = new_topic(partitions=3)
    settings = kafka_settings(topics=[topic], consumer_group=f"g-{topic}", batch_size=5000)
    sent = list(messages("ecommerce", 101, sim_start, 28, 100_000))
    kinds = Counter(m.kind for m in sent)
    assert kinds["malformed"] > 0 and kinds["duplicate"] > 0
    producer = _fast_producer(settings)
    produced = produce(producer, topic, sent)
    producer.close()
    assert produced.sent == 100_000

    engine = connect(pg_store)
    registry = CollectorRegistry()
    loop = build_consumer(settings, engine, registry, idle_timeout_s=3.0)
    loop.subscribe([topic])
    report = loop.run()

    stored = stored_identities(engine)
    assert len(stored) == len(set(stored))
    assert id_checksum(stored) == id_checksum(expected_identities(sent))
    assert report.consumed == 100_000
    assert report.stored == len(stored)
    assert report.rejected == kinds["malformed"]
    assert report.duplicates == kinds["duplicate"]

    rows = quarantine_rows(engine)
    assert len(rows) == kinds["malformed"]
    assert all(row["reason_code"] in set(RejectReason) and row["message"] for row in rows)
    dead = read_topic(broker.bootstrap, topic + ".dlq", kinds["malformed"])
    dead_origins = {
        (int(dict(m.headers)["alignwatch_origin_partition"]), int(dict(m.headers)["alignwatch_origin_offset"]))
        for m in dead
    }
    assert len(dead) == kinds["malformed"]
    assert dead_origins == {(row["origin_partition"], row["origin_offset"]) for row in rows}
    assert {dict(m.headers)["alignwatch_reason"].decode() for m in dead} == {row["reason_code"] for row in rows}

    assert committed_offsets(broker.bootstrap, settings.consumer_group, topic, 3) == {
        p: produced.ends.get(p, 0) for p in range(3)
    }
    sample = registry.get_sample_value
    assert sample("alignwatch_ingest_events_consumed_total") == 100_000
    assert sample("alignwatch_ingest_events_stored_total") == len(stored)
    assert sample("alignwatch_ingest_events_duplicates_total") == kinds["duplicate"]
    rejected = sum(sample("alignwatch_ingest_events_rejected_total", {"reason": str(r)}) for r in RejectReason)
    assert rejected == kinds["malformed"]
    for p in range(3):
        assert sample("alignwatch_ingest_consumer_lag_messages", {"topic": topic, "partition": str(p)}) == 0
    assert sample("alignwatch_ingest_last_commit_timestamp_seconds") > time.time() - 120
    assert sample("alignwatch_ingest_batch_size_events_count") == report.commits
    engine.dispose()


def _poison() -> list[tuple[str, bytes, list[tuple[str, bytes]]]]:
    """Every bad-input kind, as (label, value, headers)."""
    good = (
        b'{"specversion":"1.0","id":"p-1","source":"sim://poison","type":"workforce.survey",'
        b'"time":"2026-01-05T10:00:00+00:00","datacontenttype":"application/json",'
        b'"data":{"employee_id":"e1","satisfaction":4}}'
    )
    envelope = {
        "ce_specversion": b"1.0",
        "ce_id": b"p-bin",
        "ce_source": b"sim://poison",
        "ce_type": b"workforce.survey",
        "ce_time": b"2026-01-05T10:00:00+00:00",
    }
    without_type = [(k, v) for k, v in envelope.items() if k != "ce_type"]
    cases = [
        ("empty", b"", []),
        ("not json", b"{nope", []),
        ("json array", b"[1,2,3]", []),
        ("json string", b'"event"', []),
        ("invalid utf-8", b'{"id":"\xff\xfe"}', []),
        ("missing id", good.replace(b'"id":"p-1",', b""), []),
        ("missing source", good.replace(b'"source":"sim://poison",', b""), []),
        ("missing type", good.replace(b'"type":"workforce.survey",', b""), []),
        ("missing specversion", good.replace(b'"specversion":"1.0",', b""), []),
        ("wrong specversion", good.replace(b'"1.0"', b'"0.3"'), []),
        ("unknown type", good.replace(b"workforce.survey", b"shop.mystery"), []),
        ("payload field of wrong type", good.replace(b'"satisfaction":4', b'"satisfaction":"great"'), []),
        ("payload out of range", good.replace(b'"satisfaction":4', b'"satisfaction":9'), []),
        ("timestamp without timezone", good.replace(b"+00:00", b""), []),
        ("timestamp far in the future", good.replace(b"2026-01-05", b"2999-01-05"), []),
        ("not a timestamp", good.replace(b"2026-01-05T10:00:00+00:00", b"yesterday"), []),
        ("oversized payload", good.replace(b'"e1"', b'"' + b"x" * 300_000 + b'"'), []),
        ("wrong content type", good.replace(b"application/json", b"text/csv"), []),
        ("data not an object", good.replace(b'{"employee_id":"e1","satisfaction":4}', b"[4]"), []),
        ("binary mode, missing header", b'{"employee_id":"e1","satisfaction":4}', without_type),
        ("binary mode, bad data", b"{nope", list(envelope.items())),
        ("binary mode, invalid utf-8 header", b'{"employee_id":"e1","satisfaction":4}',
         [*list(envelope.items())[:-1], ("ce_time", b"\xff")]),
    ]  # fmt: skip
    return cases


def test_poison_messages_of_every_kind_end_in_dlq_and_quarantine_and_good_events_behind_them_are_stored(
    broker, new_topic, kafka_settings, pg_store
):
    topic = new_topic(partitions=1)
    settings = kafka_settings(topics=[topic], consumer_group=f"g-{topic}", max_payload_bytes=256 * 1024)
    limits = DecodeLimits.from_settings(settings, live=True)
    poison = _poison()
    producer = _fast_producer(settings)
    good_ids = []
    stream: list[SimMessage] = []
    for index, (label, value, headers) in enumerate(poison):
        assert isinstance(decode_message(value, headers, limits), Rejection), label
        stream.append(SimMessage(value, None, "malformed", headers=headers))
        good = (
            b'{"specversion":"1.0","id":"after-%d","source":"sim://poison","type":"workforce.survey",'
            b'"time":"2026-01-05T10:00:00+00:00","data":{"employee_id":"e%d","satisfaction":3}}' % (index, index)
        )
        good_ids.append(f"after-{index}")
        stream.append(SimMessage(good, None, "event"))
    produce(producer, topic, stream)
    producer.close()

    engine = connect(pg_store)
    loop = build_consumer(settings, engine, idle_timeout_s=2.0)
    loop.subscribe([topic])
    report = loop.run()

    assert sorted(event_id for _, event_id in stored_identities(engine)) == sorted(good_ids)
    rows = sorted(quarantine_rows(engine), key=lambda row: row["origin_offset"])
    assert len(rows) == len(poison) == report.rejected
    for (label, value, headers), row in zip(poison, rows, strict=True):
        expected = decode_message(value, headers, limits)
        assert row["reason_code"] == str(expected.reason), label
        assert bytes(row["raw"]) == value and headers_from_json(row["headers"]) == headers, label
        assert row["origin_topic"] == topic
    assert len({row["reason_code"] for row in rows}) >= 10
    dead = read_topic(broker.bootstrap, topic + ".dlq", len(poison))
    assert [dict(m.headers)["alignwatch_reason"].decode() for m in dead] == [row["reason_code"] for row in rows]
    assert [m.value or b"" for m in dead] == [value for _, value, _ in poison]
    engine.dispose()


def test_two_consumers_in_one_group_share_a_three_partition_topic_and_the_survivor_finishes_when_one_is_killed(
    broker, new_topic, kafka_settings, pg_store, sim_start, tmp_path
):
    topic = new_topic(partitions=3)
    group = f"g-{topic}"
    settings = kafka_settings(topics=[topic], consumer_group=group)
    sent = list(messages("retail", 7, sim_start, 28, 30_000))
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [
        consumer_process(
            broker.bootstrap, topic, group, pg_store, log, "--batch-size", "500", "--idle-timeout", "10",
            session_timeout_ms=3000,
        )  # fmt: skip
        for log in logs
    ]
    try:
        # the group settles in seconds; with four test workers on two cores, a rebalance
        # round (3 s sessions) has taken more than 40 s. A member idles out 10 s after its
        # assignment while nothing is produced, so the split must be seen before then: a
        # join slower than the session timeout logs its assignment as "assigned after all"
        deadline = time.monotonic() + 90
        shares = [None, None]
        while time.monotonic() < deadline:
            shares = [last_assignment(log) for log in logs]
            if all(shares) and not (shares[0] & shares[1]) and shares[0] | shares[1] == {0, 1, 2}:
                break
            time.sleep(0.2)
        assert all(shares) and not (shares[0] & shares[1]) and shares[0] | shares[1] == {0, 1, 2}

        engine = connect(pg_store)
        producer = _fast_producer(settings)
        produce(producer, topic, sent[:15_000])
        deadline = time.monotonic() + 30
        while count_events(engine) < 5_000 and time.monotonic() < deadline:
            time.sleep(0.05)
        procs[0].send_signal(signal.SIGKILL)
        procs[0].wait()
        produce(producer, topic, sent[15_000:])
        producer.close()
        assert procs[1].wait(timeout=90) == 0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert last_assignment(logs[1]) == {0, 1, 2}
    stored = stored_identities(engine)
    assert len(stored) == len(set(stored))
    assert id_checksum(stored) == id_checksum(expected_identities(sent))
    assert len(quarantine_rows(engine)) == sum(1 for m in sent if m.kind == "malformed")
    engine.dispose()


def test_a_rebalance_writes_and_commits_the_pending_batch_so_the_new_owner_reads_nothing_again(
    broker, new_topic, kafka_settings, pg_store, sim_start
):
    import threading

    topic = new_topic(partitions=3)
    settings = kafka_settings(
        topics=[topic], consumer_group=f"g-{topic}", batch_size=100_000, batch_timeout_s=60,
        session_timeout_ms=3000, heartbeat_interval_ms=1000,
    )  # fmt: skip
    sent = list(messages("control", 8, sim_start, 28, 3_000))
    engine = connect(pg_store)
    first = build_consumer(settings, engine, idle_timeout_s=4.0)
    first.subscribe([topic])
    threads = [threading.Thread(target=first.run, daemon=True)]
    threads[0].start()
    deadline = time.monotonic() + 30
    while not first.consumer.assignment() and time.monotonic() < deadline:
        time.sleep(0.05)
    producer = _fast_producer(settings)
    produced = produce(producer, topic, sent)
    producer.close()
    while first.report.consumed < len(sent) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first.report.commits == 0  # the whole topic is one pending batch

    second = build_consumer(settings, engine, idle_timeout_s=4.0)
    second.subscribe([topic])
    threads.append(threading.Thread(target=second.run, daemon=True))
    threads[1].start()
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive()

    assert first.report.commits == 1 and first.report.stored == len(expected_identities(sent))
    assert second.report.consumed == 0
    assert id_checksum(stored_identities(engine)) == id_checksum(expected_identities(sent))
    assert committed_offsets(broker.bootstrap, settings.consumer_group, topic, 3) == {
        p: produced.ends.get(p, 0) for p in range(3)
    }
    engine.dispose()
