"""Chaos drill: one of each poison kind mixed into 30,000 simulated events on 3 partitions,
consumed into PostgreSQL by ``alignwatch consume`` killed twice with SIGKILL.

Every valid event is stored exactly once, every poison is quarantined once with its
reason, the offsets of every partition are committed to the end and the last consumer
exits 0: no message can put the consumer into a crash loop."""

from __future__ import annotations

import copy
import json
import signal
import time

import pytest
import sqlalchemy as sa
from helpers_stream import (
    committed_offsets,
    consumer_process,
    count_events,
    expected_identities,
    id_checksum,
    quarantine_rows,
    read_topic,
    stored_identities,
)

from alignwatch.store import connect
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.simulator import SimMessage, messages, produce

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SESSION_MS = 3000


def _structured(message: SimMessage) -> dict:
    return copy.deepcopy(json.loads(message.value))


def _poisons(template: dict, original: SimMessage) -> list[tuple[str, SimMessage, str]]:
    """(name, message, the reason it must be quarantined with) for each poison kind."""

    def variant(event_id: str, **changes: object) -> dict:
        event = copy.deepcopy(template)
        event["id"] = event_id
        event.update(changes)
        return event

    def as_message(value: dict | bytes, headers: list | None = None, key: bytes | None = b"poison") -> SimMessage:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        return SimMessage(raw, key, "poison", headers or [])

    nul_text = variant("poison-nul-text")
    nul_text["data"]["note"] = "burnt\u0000loaf"
    nul_key = variant("poison-nul-key")
    nul_key["data"]["no\u0000te"] = 1
    huge = variant("poison-huge")
    huge["data"]["note"] = "x" * 1_200_000  # over 1 MiB: too large for the dead-letter topic as well
    big_count = {
        "specversion": "1.0", "id": "poison-big-count", "source": "shop/erp", "type": "process.execution",
        "time": template["time"], "data": {"process_id": "baking", "case_id": "b-1", "automated": True,
                                           "cycle_time_s": 60.0, "rework": 10**400},
    }  # fmt: skip
    conflicting = _structured(original)
    for name, value in conflicting["data"].items():  # same (source, id), another payload
        if isinstance(value, bool):
            conflicting["data"][name] = not value
            break
    else:
        conflicting["data"]["note"] = "a different version"
    binary_headers = [
        ("ce_specversion", b"1.0"), ("ce_id", b"poison-two-ids-a"), ("ce_id", b"poison-two-ids-b"),
        ("ce_source", template["source"].encode()), ("ce_type", template["type"].encode()),
        ("ce_time", template["time"].encode()), ("content-type", b"application/json"),
    ]  # fmt: skip
    return [
        ("NUL in a payload string", as_message(nul_text), "invalid_payload"),
        ("NUL in a payload field name", as_message(nul_key), "invalid_payload"),
        ("NUL in id", as_message(variant("poison\u0000id")), "invalid_attribute"),
        ("NUL in source", as_message(variant("poison-nul-source", source="shop\u0000")), "invalid_attribute"),
        ("message over 1 MiB", as_message(huge), "too_large"),
        ("count beyond a double", as_message(big_count), "invalid_payload"),
        ("markup as type", as_message(variant("poison-markup", type="[/]")), "unknown_type"),
        ("conflicting duplicate", as_message(conflicting, key=original.key), "conflicting_duplicate"),
        ("two ce_id headers", as_message(json.dumps(template["data"]).encode(), binary_headers), "ambiguous_header"),
    ]


def _end_offsets(bootstrap: str, topic: str, partitions: int, expected: int) -> list[int]:
    """Each partition's high-watermark, read by fetching (the test broker's ListOffsets is wrong)."""
    ends = [0] * partitions
    for record in read_topic(bootstrap, topic, expected):
        ends[record.partition] = max(ends[record.partition], record.offset + 1)
    return ends


def test_one_of_each_poison_among_30k_events_with_two_sigkills_stops_nothing_and_loses_nothing(
    broker, new_topic, kafka_settings, pg_store, sim_start, tmp_path
):
    topic = new_topic(partitions=3)
    group = f"g-{topic}"
    settings = kafka_settings(topics=[topic], consumer_group=group)
    sent = list(messages("bakery", 4242, sim_start, 28, 30_000))
    structured = [m for m in sent if m.kind == "event" and not m.headers and m.key is not None]
    template, original = _structured(structured[100]), structured[200]
    poisons = _poisons(template, original)
    # valid although it was poison for PostgreSQL before: an offset of +23:59 (RFC 3339 allows it)
    far_offset = copy.deepcopy(template)
    far_offset["id"] = "valid-far-offset"
    far_offset["time"] = template["time"].replace("Z", "+23:59").replace("+00:00", "+23:59")
    assert far_offset["time"].endswith("+23:59")
    far = SimMessage(json.dumps(far_offset).encode(), b"far", "event", [], far_offset)

    # the originals first, then the poisons and the far offset among the second half
    mixed = sent[:15_000] + [far] + [message for _, message, _ in poisons] + sent[15_000:]
    producer = kafka_producer(settings, acks=1, linger_ms=20, batch_size=1024 * 1024, max_request_size=4 * 1024 * 1024)
    produce(producer, topic, mixed)
    producer.close()
    expected = expected_identities(sent) | {(far_offset["source"], "valid-far-offset")}

    engine = connect(pg_store)
    log = tmp_path / "consumer.log"
    for point in (9_000, 21_000):
        proc = consumer_process(
            broker.bootstrap, topic, group, pg_store, log, "--batch-size", "1000", session_timeout_ms=SESSION_MS
        )
        try:
            deadline = time.monotonic() + 90
            while count_events(engine) < point and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.02)
            assert proc.poll() is None, log.read_text(errors="replace")[-3000:]
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait()
    final = consumer_process(
        broker.bootstrap, topic, group, pg_store, log, "--idle-timeout", "3", session_timeout_ms=SESSION_MS
    )
    assert final.wait(timeout=180) == 0, log.read_text(errors="replace")[-3000:]
    assert "Traceback" not in log.read_text(errors="replace")

    stored = stored_identities(engine)
    assert len(stored) == len(set(stored)), "an event was stored twice"
    assert id_checksum(stored) == id_checksum(expected)
    with engine.connect() as conn:
        kept = conn.execute(sa.text("SELECT data FROM events WHERE source = :s AND event_id = :i"),
                            {"s": original.event["source"], "i": original.event["id"]}).scalar_one()  # fmt: skip
    assert {key: kept[key] for key in original.event["data"]} == original.event["data"]  # the first version

    rows = quarantine_rows(engine)
    malformed = sum(1 for m in sent if m.kind == "malformed")
    by_reason: dict[str, int] = {}
    for row in rows:
        by_reason[row["reason_code"]] = by_reason.get(row["reason_code"], 0) + 1
    poison_reasons = [reason for _, _, reason in poisons]
    assert len(rows) == malformed + len(poisons), by_reason
    for name, message, reason in poisons:
        matching = [row for row in rows if bytes(row["raw"]) == message.value and row["reason_code"] == reason]
        assert len(matching) == 1, f"{name}: {by_reason}"
    assert by_reason["conflicting_duplicate"] == poison_reasons.count("conflicting_duplicate")

    ends = _end_offsets(broker.bootstrap, topic, 3, len(mixed))
    assert sum(ends) == len(mixed)
    assert committed_offsets(broker.bootstrap, group, topic, 3) == ends

    letters = read_topic(broker.bootstrap, topic + ".dlq", malformed + len(poisons))
    references = [letter for letter in letters if dict(letter.headers).get("alignwatch_reference") == b"true"]
    assert len(references) >= 1 and all(len(letter.value) < 4096 for letter in references)
    reference = json.loads(references[0].value)
    assert reference["reason"] == "too_large" and reference["size_bytes"] > 1_200_000
    reasons = {dict(letter.headers)["alignwatch_reason"].decode() for letter in letters}
    assert set(poison_reasons) <= reasons
    engine.dispose()
