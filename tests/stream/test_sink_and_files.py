"""The sink, file ingestion and quarantine replay, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time

import sqlalchemy as sa
from helpers_stream import quarantine_rows, stored_identities

from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events
from alignwatch.stream.contract import DecodeLimits, RejectReason
from alignwatch.stream.decode import make_event
from alignwatch.stream.fastdecode import PlainEvent, decode_record
from alignwatch.stream.ingest import ingest_files
from alignwatch.stream.process import Origin, Quarantined, Received, classify_message
from alignwatch.stream.quarantine import get_entry, list_entries, replay
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import SCENARIOS, messages
from alignwatch.stream.sink import StoreSink

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def limits(now: dt.datetime = NOW, max_payload_bytes: int = 64 * 1024) -> DecodeLimits:
    return DecodeLimits(
        max_payload_bytes=max_payload_bytes, max_future=dt.timedelta(days=1), max_age=None, now=lambda: now
    )


def survey(event_id: str, *, time: dt.datetime = NOW - dt.timedelta(hours=1), source: str = "sim://hr") -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": "workforce.survey",
        "time": time.isoformat(),
        "datacontenttype": "application/json",
        "data": {"employee_id": f"e-{event_id}", "satisfaction": 4},
    }


def line(event: dict) -> str:
    return json.dumps(event) + "\n"


def test_the_sink_stores_each_source_and_id_once_and_counts_duplicates_within_and_across_flushes(store_engine):
    sink = StoreSink(store_engine)
    first = make_event("workforce.survey", "sim://hr", "a", NOW, {"employee_id": "e1", "satisfaction": 3})
    again = make_event("workforce.survey", "sim://hr", "a", NOW, {"employee_id": "e1", "satisfaction": 3})
    other_source = make_event("workforce.survey", "sim://crm", "a", NOW, {"employee_id": "e2", "satisfaction": 5})
    sink.add(first)
    sink.add(again)
    sink.add(other_source)
    result = sink.flush()
    assert (result.stored, result.duplicates) == (2, 1)
    sink.add(first)
    assert (sink.flush().stored, len(stored_identities(store_engine))) == (0, 2)
    with store_engine.connect() as conn:
        row = conn.execute(sa.select(events).where(events.c.source == "sim://crm")).one()
    assert row.actor_id == "e2" and row.data["satisfaction"] == 5 and row.time == NOW


def test_a_redelivered_bad_message_is_one_quarantine_row_whose_seen_count_grows(store_engine):
    origin = Origin(topic="t", partition=0, offset=7)
    record = classify_message(b"{broken", [], origin, limits())
    assert isinstance(record, Quarantined) and record.reason == RejectReason.NOT_JSON
    for _ in range(2):
        sink = StoreSink(store_engine)
        sink.quarantine(record)
        assert sink.flush().quarantined == 1
    (row,) = quarantine_rows(store_engine)
    assert (row["seen_count"], row["origin_offset"], bytes(row["raw"])) == (2, 7, b"{broken")


def test_ingesting_a_jsonl_file_reports_stored_duplicate_and_quarantined_lines_with_file_and_line_origin(
    store_engine, tmp_path
):
    path = tmp_path / "events.jsonl"
    path.write_text(line(survey("1")) + line(survey("2")) + "\n" + line(survey("1")) + "not json\n" + line(survey("3")))
    report = ingest_files(store_engine, [path], limits())
    assert (report.stored, report.duplicates, report.quarantined) == (3, 1, 1)
    (row,) = quarantine_rows(store_engine)
    assert (row["origin_file"], row["origin_line"], row["reason_code"]) == (str(path), 5, "not_json")
    again = ingest_files(store_engine, [path], limits())
    assert (again.stored, again.duplicates, again.quarantined) == (0, 4, 1)
    assert len(quarantine_rows(store_engine)) == 1


def test_quarantine_replay_stores_a_fixed_message_exactly_once_and_marks_it_replayed(store_engine, tmp_path):
    early = survey("future", time=NOW + dt.timedelta(days=2))
    big = survey("big")
    big["data"]["note"] = "x" * 2000
    path = tmp_path / "late.jsonl"
    path.write_text(line(early) + line(big) + "still broken\n")
    report = ingest_files(store_engine, [path], limits(max_payload_bytes=1024))
    assert report.quarantined == 3
    reasons = {row["reason_code"] for row in list_entries(store_engine)}
    assert reasons == {"time_in_future", "too_large", "not_json"}

    # the fix: the clock has moved on and the size limit was raised
    fixed = limits(now=NOW + dt.timedelta(days=3))
    result = replay(store_engine, fixed, clock=lambda: NOW + dt.timedelta(days=3))
    assert (result.replayed, result.already_stored, result.still_rejected) == (2, 0, 1)
    assert sorted(event_id for _, event_id in stored_identities(store_engine)) == ["big", "future"]
    assert replay(store_engine, fixed).replayed == 0
    assert sorted(event_id for _, event_id in stored_identities(store_engine)) == ["big", "future"]
    statuses = {row["reason_code"]: row["status"] for row in list_entries(store_engine)}
    assert statuses == {"time_in_future": "replayed", "too_large": "replayed", "not_json": "rejected_again"}
    replayed = [row for row in list_entries(store_engine, status="replayed")]
    assert get_entry(store_engine, replayed[0]["id"])["replayed_at"] is not None


def test_replaying_a_message_whose_event_was_stored_meanwhile_stores_nothing_twice(store_engine, tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(line(survey("late", time=NOW + dt.timedelta(days=2))))
    ingest_files(store_engine, [path], limits())
    ontime = tmp_path / "two.jsonl"
    ontime.write_text(line(survey("late", time=NOW + dt.timedelta(days=2))))
    assert ingest_files(store_engine, [ontime], limits(now=NOW + dt.timedelta(days=2))).stored == 1
    result = replay(store_engine, limits(now=NOW + dt.timedelta(days=2)))
    assert (result.replayed, result.already_stored) == (0, 1)
    assert len(stored_identities(store_engine)) == 1


def test_binary_mode_rejections_keep_their_headers_for_replay(store_engine):
    headers = [("ce_specversion", b"1.0"), ("ce_id", b"b1"), ("ce_source", b"sim://x")]
    record = classify_message(b'{"employee_id":"e","satisfaction":4}', headers, Origin("t", 1, 3), limits())
    assert isinstance(record, Quarantined) and record.reason == RejectReason.MISSING_HEADERS
    sink = StoreSink(store_engine)
    sink.quarantine(record)
    sink.flush()
    (row,) = quarantine_rows(store_engine)
    assert row["headers"] == [["ce_specversion", "MS4w"], ["ce_id", "YjE="], ["ce_source", "c2ltOi8veA=="]]
    assert replay(store_engine, limits()).still_rejected == 1
    assert quarantine_rows(store_engine)[0]["status"] == "rejected_again"


def _awkward_events() -> list:
    """Events whose values the store's bulk paths must escape or adapt: backslashes, tabs and
    line breaks in identifiers' neighbours and payload text, quotes, non-ASCII, no subject,
    a non-UTC offset with microseconds, unknown nested payload fields, timestamp payloads."""
    offset = dt.timezone(dt.timedelta(hours=-3, minutes=-30))
    return [
        make_event("workforce.skill", "sim://hr\\north", "id\\1", NOW, {
            "employee_id": "e\\1", "skill": "tab\there, line\nbreak, cr\rend, back\\slash \"quoted\"",
            "kind": "training"}),
        make_event("customer.feedback", "sim://crm", "fb-1", NOW.astimezone(offset).replace(microsecond=123456), {
            "customer_id": "c-é✓", "touchpoint_id": "chat", "csat": 5,
            "note": {"nested": ["a\tb", {"deep": "x\\y"}], "n": 1.5}}, subject="order 55\\a"),
        make_event("strategy.initiative", "sim://plan", "init-1", NOW, {
            "initiative_id": "less_waste", "goal_ids": ["g_waste"], "started_at": "2026-01-05T09:00:00+01:00"}),
        make_event("workforce.survey", "sim://hr", "plain-1", NOW, {"employee_id": "e-2", "satisfaction": 4},
                   subject=None),
        make_event("automation.run", "sim://rpa", "run-1", NOW, {
            "automation_id": "invoice_bot", "process_id": "invoicing", "case_id": "INV-1", "status": "succeeded",
            "duration_s": 41.5, "manual_intervention": False, "cost": 0.12}, subject=""),
    ]


def test_every_value_reads_back_as_the_events_row_on_both_stores(store_engine):
    sink = StoreSink(store_engine, clock=lambda: NOW)
    batch = _awkward_events()
    for event in batch:
        sink.add(event)
    assert sink.flush().stored == len(batch)
    with store_engine.connect() as conn:
        stored = {(row.source, row.event_id): row._mapping for row in conn.execute(sa.select(events))}
    for event in batch:
        expected = event_row(event, NOW)
        row = stored[(event.source, event.id)]
        assert {column: row[column] for column in expected} == expected, event.id


def _plain_events() -> list:
    """The consumer's plain events (values as the fast decoder leaves them) of simulated messages
    of every scenario, in both Kafka modes."""
    start = NOW - dt.timedelta(days=3)
    found = []
    for scenario in SCENARIOS:
        for message in messages(scenario, 5, start, 3, 400, malformed_share=0.0, duplicate_share=0.0):
            result = decode_record(message.value, message.headers, limits(max_payload_bytes=256 * 1024))
            if isinstance(result, PlainEvent):
                found.append(result)
    assert len({event.type for event in found}) >= 12 and any(event.subject for event in found)
    return found


# times a plain event may carry: UTC text the store reads as it is, and text it gets as isoformat()
PLAIN_TIMES = [
    "2026-03-09T08:15:00Z", "2026-03-09T08:15:00+00:00", "2026-03-09T08:15:00.5Z", "2026-03-09T08:15:00.123456Z",
    "2026-03-09T08:15:00.1234567Z", "2026-03-09T08:15:00.999999999+00:00", "2026-03-09T08:15:00-00:00",
    "2026-03-09 08:15:00Z", "2026-03-09T13:45:00.25+05:30", "2026-03-09T00:15:00-23:59", "0001-01-01T00:00:00Z",
]  # fmt: skip


def _plain_surveys() -> list:
    found = []
    for n, time_text in enumerate(PLAIN_TIMES):
        event = {**survey(f"t{n}"), "time": time_text}
        decoded = decode_record(json.dumps(event).encode(), None, limits())
        assert isinstance(decoded, PlainEvent), time_text
        found.append(decoded)
    return found


def test_the_copy_line_of_a_plain_event_is_the_line_of_its_typed_event_and_needs_no_escaping():
    from alignwatch.stream.sink import _event_line, _plain_line

    for event in _plain_events() + _plain_surveys():
        line = _plain_line(event).split("\t")
        typed = _event_line(event.event()).split("\t")
        assert line[:3] + line[4:] == typed[:3] + typed[4:], event.key
        assert dt.datetime.fromisoformat(line[3]) == dt.datetime.fromisoformat(typed[3]) == event.time, event.key
        assert len(line) == 11 and "\\" not in "".join(line).replace("\\N", "") and "\n" not in "".join(line)


def test_a_plain_event_is_stored_as_the_row_of_its_typed_event_on_both_stores(store_engine):
    sink = StoreSink(store_engine, clock=lambda: NOW)
    plain = _plain_events() + _plain_surveys()
    for event in plain:
        sink.add(event)
    assert sink.flush().stored == len({event.key for event in plain})
    with store_engine.connect() as conn:
        stored = {(row.source, row.event_id): row._mapping for row in conn.execute(sa.select(events))}
    for event in plain:
        expected = event_row(event.event(), NOW)  # the row of the typed event the reference decoder gives
        row = stored[event.key]
        assert {column: row[column] for column in expected} == expected, event.key


def test_a_plain_repeat_with_other_content_is_quarantined_with_its_bytes_and_an_identical_one_is_a_duplicate(
    store_engine,
):
    first = survey("p1")
    changed = {**first, "data": {**first["data"], "satisfaction": 2}}
    decoded = [decode_record(json.dumps(event).encode(), None, limits()) for event in (first, first, changed)]
    assert all(isinstance(event, PlainEvent) for event in decoded)
    sink = StoreSink(store_engine, clock=lambda: NOW)
    for offset, event in enumerate(decoded):
        sink.add(event, Received(json.dumps((first, first, changed)[offset]).encode(), [], Origin("t", 0, offset)))
    result = sink.flush()
    assert (result.stored, result.duplicates, result.quarantined) == (1, 1, 1)
    [turned] = result.turned_away
    assert (turned.reason, turned.origin.offset, turned.event_id) == ("conflicting_duplicate", 2, "p1")
    sink.add(decoded[2], Received(json.dumps(changed).encode(), [], Origin("t", 0, 9)))  # stored already: conflicts
    again = sink.flush()
    assert (again.stored, again.duplicates, [r.origin.offset for r in again.turned_away]) == (0, 0, [9])
    with store_engine.connect() as conn:
        assert conn.execute(sa.select(events.c.data)).scalar_one()["satisfaction"] == 4  # the first stays


def test_a_key_stored_by_a_concurrent_writer_between_lookup_and_write_is_a_duplicate(fresh_pg_url):
    """Two consumers may write the same event at once (a rebalance hands over a partition
    whose last batch is being written). The one whose bulk copy then meets the other's row
    falls back to insert-or-ignore: nothing fails, nothing is stored twice."""
    engine = connect(fresh_pg_url)
    upgrade(engine)
    contested = make_event("workforce.survey", "sim://hr", "both", NOW, {"employee_id": "e-1", "satisfaction": 3})
    alone = make_event("workforce.survey", "sim://hr", "alone", NOW, {"employee_id": "e-2", "satisfaction": 4})
    results: list = []
    try:
        with engine.connect() as rival:
            # the rival inserts the contested row and keeps its transaction open: our lookup
            # cannot see the row, our copy waits on its key, then fails when the rival commits
            rival.execute(sa.insert(events), [event_row(contested, NOW)])
            sink = StoreSink(engine, clock=lambda: NOW)
            sink.add(contested)
            sink.add(alone)
            writer = threading.Thread(target=lambda: results.append(sink.flush()))
            writer.start()
            try:
                with engine.connect() as watch:
                    deadline = time.monotonic() + 20
                    while not watch.execute(
                        sa.text(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                            "AND wait_event_type = 'Lock' AND query LIKE 'COPY events%'"
                        )
                    ).scalar_one():
                        # pg_stat_activity is read once per transaction: a new one each time
                        watch.rollback()
                        assert time.monotonic() < deadline, "the copy never waited on the rival's key"
                        time.sleep(0.05)
                rival.commit()
            finally:
                rival.rollback()  # (after a failed wait) lets the copy finish, so the thread ends
                writer.join(timeout=20)
        assert len(results) == 1
        assert (results[0].stored, results[0].duplicates) == (1, 1)
        assert sorted(stored_identities(engine)) == [("sim://hr", "alone"), ("sim://hr", "both")]
    finally:
        engine.dispose()


def test_the_known_keys_lookup_probes_the_unique_index_even_on_a_never_analyzed_table(fresh_pg_url):
    """A store that was bulk-loaded (or grows faster than autovacuum analyzes it) has no
    statistics: the sink's per-batch lookup must still probe the unique index key by key,
    never scan the whole table."""
    from alignwatch.stream.sink import KNOWN_KEYS_SQL

    engine = connect(fresh_pg_url)
    upgrade(engine)
    keys = [(f"sim://s{i % 5}", f"id-{i}") for i in range(299_000, 301_000)]
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(
                "INSERT INTO events (source, event_id, type, time, data, ingested_at) "
                "SELECT 'sim://s' || (i %% 5), 'id-' || i, 'automation.run', now(), '{}'::jsonb, now() "
                "FROM generate_series(1, 300000) AS i"
            )
        with engine.connect() as conn:
            assert conn.exec_driver_sql(
                "SELECT last_analyze IS NULL AND last_autoanalyze IS NULL FROM pg_stat_user_tables "
                "WHERE relname = 'events'"
            ).scalar_one()
            arguments = ("\x1f".join(k[0] for k in keys), "\x1f".join(k[1] for k in keys))
            plan = "\n".join(row[0] for row in conn.exec_driver_sql("EXPLAIN " + KNOWN_KEYS_SQL, arguments))
            found = conn.exec_driver_sql(KNOWN_KEYS_SQL, arguments).all()
        assert "Seq Scan on events" not in plan and "uq_events_source_event_id" in plan, plan
        assert sorted(row[:2] for row in found) == sorted(k for k in keys if int(k[1][3:]) <= 300_000)
    finally:
        engine.dispose()
