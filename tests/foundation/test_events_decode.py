"""The event contract: every type decodes in both Kafka modes; bad input gets its reason."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
import sqlalchemy as sa
from foundation_event_samples import BAD_STRUCTURED, NOW, VALID_DATA, Bad, envelope, raw, with_data
from pydantic import ValidationError

from alignwatch.config import Settings
from alignwatch.store.schema import events as events_table
from alignwatch.stream.contract import (
    EVENT_TYPES,
    PAYLOADS,
    DecodeLimits,
    Event,
    InvalidEventError,
    Rejection,
    RejectReason,
)
from alignwatch.stream.decode import decode_binary, decode_message, decode_structured, make_event
from alignwatch.stream.encode import encode_binary, encode_structured
from alignwatch.stream.fastdecode import decode_message as fast_decode_message
from alignwatch.stream.fastdecode import decode_structured as fast_decode_structured
from alignwatch.stream.rows import event_row, payload_dict


def test_every_contract_type_has_a_payload_model_and_a_valid_sample() -> None:
    assert set(EVENT_TYPES) == set(PAYLOADS) == set(VALID_DATA)
    assert len(EVENT_TYPES) == 17


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_a_valid_structured_event_decodes_to_its_typed_payload(event_type: str, limits: DecodeLimits) -> None:
    result = decode_structured(raw(envelope(event_type)), limits)
    assert isinstance(result, Event), result
    assert result.type == event_type
    assert isinstance(result.data, PAYLOADS[event_type])
    assert result.time == dt.datetime(2026, 3, 2, 8, 15, tzinfo=dt.UTC)
    for name, value in VALID_DATA[event_type].items():
        decoded = getattr(result.data, name)
        if isinstance(decoded, dt.datetime):
            assert decoded == dt.datetime.fromisoformat(value)
        else:
            assert decoded == value


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_a_valid_binary_event_decodes_like_its_structured_twin(event_type: str, limits: DecodeLimits) -> None:
    structured = decode_structured(raw(envelope(event_type, subject="batch/7")), limits)
    assert isinstance(structured, Event)
    value, headers = encode_binary(structured)
    assert ("ce_specversion", b"1.0") in headers
    binary = decode_binary(value, headers, limits)
    assert binary == structured
    assert decode_message(value, headers, limits) == structured


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_encoding_a_decoded_event_gives_bytes_that_decode_to_the_same_event(
    event_type: str, limits: DecodeLimits
) -> None:
    first = decode_structured(raw(envelope(event_type, tenant="north")), limits)
    assert isinstance(first, Event)
    again = decode_structured(encode_structured(first), limits)
    assert again == first
    assert again.extensions == {"tenant": "north"}


def test_binary_headers_written_by_hand_decode_with_extensions_and_subject(limits: DecodeLimits) -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"run-7"),
        ("ce_source", b"rpa/invoice-bot"),
        ("ce_type", b"automation.run"),
        ("ce_time", b"2026-03-02T09:15:00+01:00"),
        ("ce_subject", b"INV-1"),
        ("ce_tenant", b"north"),
        ("content-type", b"application/json; charset=utf-8"),
        ("traceparent", b"00-abc-def-01"),
    ]
    result = decode_message(raw(VALID_DATA["automation.run"]), headers, limits)
    assert isinstance(result, Event), result
    assert (result.source, result.id, result.subject) == ("rpa/invoice-bot", "run-7", "INV-1")
    assert result.time == dt.datetime(2026, 3, 2, 8, 15, tzinfo=dt.UTC)
    assert result.extensions == {"tenant": "north"}
    assert result.datacontenttype == "application/json; charset=utf-8"


def test_a_binary_message_without_content_type_header_is_taken_as_json(limits: DecodeLimits) -> None:
    event = make_event("data.produced", "etl", "d-1", NOW, VALID_DATA["data.produced"])
    value, headers = encode_binary(event)
    headers = [(key, val) for key, val in headers if key != "content-type"]
    assert decode_binary(value, headers, limits) == event


def test_messages_without_ce_specversion_header_are_decoded_in_structured_mode(limits: DecodeLimits) -> None:
    message = raw(envelope("feature.usage"))
    result = decode_message(message, [("content-type", b"application/cloudevents+json")], limits)
    assert isinstance(result, Event)
    assert result.type == "feature.usage"


@pytest.mark.parametrize("bad", BAD_STRUCTURED, ids=lambda bad: bad.name)
def test_a_bad_structured_message_is_rejected_with_its_reason(bad: Bad, limits: DecodeLimits) -> None:
    result = decode_structured(bad.message, limits)
    assert isinstance(result, Rejection), f"accepted: {result!r}"
    assert result.reason == RejectReason(bad.reason), result.message
    assert bad.mentions in result.message


def test_the_bad_samples_cover_at_least_twenty_kinds_and_every_structured_reason() -> None:
    assert len({bad.name for bad in BAD_STRUCTURED}) >= 20
    structured_reasons = set(RejectReason) - {RejectReason.MISSING_HEADERS, RejectReason.TOO_LARGE,
                                              RejectReason.TIME_TOO_OLD, RejectReason.AMBIGUOUS_HEADER,
                                              RejectReason.CONFLICTING_DUPLICATE, RejectReason.STORE_REJECTED}
    assert {RejectReason(bad.reason) for bad in BAD_STRUCTURED} == structured_reasons


def test_an_event_older_than_max_age_is_rejected_only_when_an_age_limit_is_set(limits: DecodeLimits) -> None:
    old = raw(envelope(time="2025-12-01T00:00:00Z"))
    live = DecodeLimits(max_age=dt.timedelta(days=30), now=lambda: NOW)
    result = decode_structured(old, live)
    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.TIME_TOO_OLD
    assert "2025-12-01" in result.message
    assert isinstance(decode_structured(old, limits), Event)


def test_a_message_over_the_configured_size_limit_is_rejected_as_too_large() -> None:
    message = raw(with_data("feature.usage", note="x" * 3000))
    small = DecodeLimits(max_payload_bytes=2048, now=lambda: NOW)
    result = decode_structured(message, small)
    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.TOO_LARGE
    assert "2048" in result.message
    assert isinstance(decode_structured(message, DecodeLimits(max_payload_bytes=4096, now=lambda: NOW)), Event)


def test_the_future_limit_is_configurable(limits: DecodeLimits) -> None:
    soon = raw(envelope(time="2026-03-02T12:30:00Z"))
    assert isinstance(decode_structured(soon, limits), Event)
    strict = DecodeLimits(max_future=dt.timedelta(minutes=5), now=lambda: NOW)
    result = decode_structured(soon, strict)
    assert isinstance(result, Rejection) and result.reason == RejectReason.TIME_IN_FUTURE


def test_binary_mode_with_missing_headers_is_rejected_naming_them(limits: DecodeLimits) -> None:
    headers = [("ce_specversion", b"1.0"), ("ce_type", b"automation.run"), ("ce_source", b"rpa/bot")]
    result = decode_message(raw(VALID_DATA["automation.run"]), headers, limits)
    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.MISSING_HEADERS
    assert "ce_id" in result.message and "ce_time" in result.message
    assert result.source == "rpa/bot"


def test_binary_mode_with_a_bad_content_type_is_rejected(limits: DecodeLimits) -> None:
    value, headers = encode_binary(make_event("data.produced", "etl", "d-1", NOW, VALID_DATA["data.produced"]))
    headers = [(key, b"text/csv" if key == "content-type" else val) for key, val in headers]
    result = decode_message(value, headers, limits)
    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.BAD_CONTENT_TYPE
    assert "text/csv" in result.message
    assert (result.source, result.event_id) == ("etl", "d-1")


@pytest.mark.parametrize(
    ("value", "header_change", "reason"),
    [
        (b"", None, RejectReason.EMPTY_MESSAGE),
        (b"{not json", None, RejectReason.NOT_JSON),
        (b"[]", None, RejectReason.INVALID_PAYLOAD),
        (None, ("ce_source", b"\xc3\x28"), RejectReason.NOT_UTF8),
        (None, ("ce_specversion", b"0.3"), RejectReason.BAD_SPECVERSION),
        (None, ("ce_type", b"order.placed"), RejectReason.UNKNOWN_TYPE),
        (None, ("ce_time", b"2026-03-02 08:15"), RejectReason.BAD_TIME),
    ],
    ids=["empty value", "value not JSON", "value not an object", "header not UTF-8", "header specversion",
         "header type unknown", "header time without zone"],
)
def test_bad_binary_messages_are_rejected_with_their_reason(
    value: bytes | None, header_change: tuple[str, bytes] | None, reason: RejectReason, limits: DecodeLimits
) -> None:
    good_value, headers = encode_binary(make_event("data.produced", "etl", "d-1", NOW, VALID_DATA["data.produced"]))
    if header_change is not None:
        headers = [(key, header_change[1] if key == header_change[0] else val) for key, val in headers]
    result = decode_message(good_value if value is None else value, headers, limits)
    assert isinstance(result, Rejection)
    assert result.reason == reason, result.message


def test_a_rejection_carries_the_source_and_id_it_could_read(limits: DecodeLimits) -> None:
    result = decode_structured(raw(with_data("customer.feedback", csat=7)), limits)
    assert isinstance(result, Rejection)
    assert (result.source, result.event_id) == ("tests/foundation", "customer.feedback-1")
    assert str(result).startswith("invalid_payload: data.csat: 7")


def test_unknown_payload_fields_are_kept_and_stored(limits: DecodeLimits) -> None:
    result = decode_structured(raw(with_data("customer.order", coupon="SPRING", lines=[{"sku": "rye"}])), limits)
    assert isinstance(result, Event)
    row = event_row(result, NOW)
    assert row["data"]["coupon"] == "SPRING"
    assert row["data"]["lines"] == [{"sku": "rye"}]


def test_optional_fields_take_their_documented_defaults(limits: DecodeLimits) -> None:
    result = decode_structured(raw(with_data("process.execution", errors=..., rework=..., units_out=...,
                                             automated_share=...)), limits)
    assert isinstance(result, Event)
    assert (result.data.errors, result.data.rework, result.data.units_out) == (0, 0, None)


def test_payload_integers_are_accepted_where_numbers_are_expected(limits: DecodeLimits) -> None:
    result = decode_structured(raw(with_data("automation.run", duration_s=41, cost=0)), limits)
    assert isinstance(result, Event)
    assert result.data.duration_s == 41.0


@pytest.mark.parametrize(
    ("event_type", "fields", "expected"),
    [
        ("automation.run", {}, {"automation_id": "invoice_bot", "process_id": "invoicing", "case_id": "INV-1",
                                "touchpoint_id": None, "actor_id": None}),
        ("customer.touchpoint", {}, {"touchpoint_id": "order_chat", "actor_id": "c-9", "case_id": None}),
        ("customer.order", {}, {"case_id": "o-55", "actor_id": "c-9", "automation_id": None}),
        ("data.used", {}, {"case_id": "daily_sales", "actor_id": None}),
        ("feature.usage", {}, {"automation_id": "crm", "actor_id": "u-3"}),
        ("workforce.task", {}, {"automation_id": "invoice_bot", "actor_id": "e-2"}),
        ("strategy.initiative", {}, {"case_id": "less_waste"}),
        ("automation.reconfigured", {}, {"automation_id": "forecast", "case_id": "less_waste"}),
        ("process.execution", {}, {"process_id": "baking", "case_id": "batch-7"}),
        ("kpi.observed", {}, {"automation_id": None, "case_id": None, "actor_id": None}),
    ],
)
def test_event_row_copies_the_identifier_columns_from_the_payload(
    event_type: str, fields: dict[str, object], expected: dict[str, object], limits: DecodeLimits
) -> None:
    event = decode_structured(raw(with_data(event_type, **fields)), limits)
    assert isinstance(event, Event)
    row = event_row(event, NOW)
    assert (row["source"], row["event_id"], row["type"]) == ("tests/foundation", f"{event_type}-1", event_type)
    for column, value in expected.items():
        assert row[column] == value, column


def test_event_rows_of_every_type_insert_into_the_store_and_read_back(store_engine: sa.Engine,
                                                                      limits: DecodeLimits) -> None:
    decoded = [decode_structured(raw(envelope(event_type)), limits) for event_type in EVENT_TYPES]
    rows = [event_row(event, NOW) for event in decoded if isinstance(event, Event)]
    assert len(rows) == len(EVENT_TYPES)
    with store_engine.begin() as conn:
        conn.execute(events_table.insert(), rows)
    with store_engine.connect() as conn:
        stored = conn.execute(sa.select(events_table.c.type, events_table.c.time, events_table.c.data)).all()
    assert {row.type for row in stored} == set(EVENT_TYPES)
    assert all(row.time == dt.datetime(2026, 3, 2, 8, 15, tzinfo=dt.UTC) for row in stored)
    initiative = next(row for row in stored if row.type == "strategy.initiative")
    assert dt.datetime.fromisoformat(initiative.data["started_at"]) == dt.datetime(2026, 1, 5, 8, 0, tzinfo=dt.UTC)


def test_make_event_builds_a_valid_event_and_refuses_a_bad_one() -> None:
    event = make_event("workforce.survey", "hr/survey", "s-1", NOW, {"employee_id": "e-1", "satisfaction": 4},
                       subject="q1")
    assert (event.type, event.subject, event.data.satisfaction) == ("workforce.survey", "q1", 4)
    with pytest.raises(InvalidEventError) as caught:
        make_event("workforce.survey", "hr/survey", "s-2", NOW, {"employee_id": "e-1", "satisfaction": 9})
    assert caught.value.rejection.reason == RejectReason.INVALID_PAYLOAD
    assert "data.satisfaction: 9" in str(caught.value)
    with pytest.raises(InvalidEventError):
        make_event("workforce.survey", "hr/survey", "s-3", dt.datetime(2026, 1, 1), {"employee_id": "e", "satisfaction": 4})


def test_make_event_accepts_aware_datetimes_in_the_payload() -> None:
    event = make_event("strategy.initiative", "plan", "i-1", NOW,
                       {"initiative_id": "i", "goal_ids": [], "started_at": NOW})
    assert event.data.started_at == NOW
    encoded = json.loads(encode_structured(event))["data"]["started_at"]
    assert dt.datetime.fromisoformat(encoded) == NOW


def test_limits_from_settings_apply_the_age_limit_only_on_live_topics() -> None:
    settings = Settings(max_payload_bytes=4096, max_future_s=60, max_age_s=3600)
    live = DecodeLimits.from_settings(settings, live=True)
    imports = DecodeLimits.from_settings(settings, live=False)
    assert (live.max_payload_bytes, live.max_future, live.max_age) == (4096, dt.timedelta(minutes=1),
                                                                       dt.timedelta(hours=1))
    assert imports.max_age is None
    assert DecodeLimits().max_future == dt.timedelta(days=1)
    assert DecodeLimits().max_age is None


def test_a_decoded_event_is_a_regular_frozen_pydantic_model(limits: DecodeLimits) -> None:
    event = decode_structured(raw(envelope("customer.order", tenant="north")), limits)
    assert isinstance(event, Event)
    built = Event(id=event.id, source=event.source, type=event.type, time=event.time,
                  data=event.data, extensions={"tenant": "north"})
    assert event == built
    assert event.model_dump() == built.model_dump()
    assert event.key == ("tests/foundation", "customer.order-1")
    with pytest.raises(ValidationError):
        event.id = "changed"  # type: ignore[misc]
    assert event.model_copy(update={"id": "copy"}).id == "copy"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-02t08:15:00z", dt.datetime(2026, 3, 2, 8, 15, tzinfo=dt.UTC)),
        ("2026-03-02 09:45:00.5+01:30", dt.datetime(2026, 3, 2, 8, 15, 0, 500000, tzinfo=dt.UTC)),
        ("2026-03-02T08:15:00.123456789Z", dt.datetime(2026, 3, 2, 8, 15, 0, 123456, tzinfo=dt.UTC)),
    ],
    ids=["lower-case separators", "space and half-hour offset", "nanoseconds"],
)
def test_every_rfc3339_spelling_of_a_time_is_accepted(text: str, expected: dt.datetime, limits: DecodeLimits) -> None:
    result = decode_structured(raw(envelope(time=text)), limits)
    assert isinstance(result, Event), result
    assert result.time == expected


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "2026-03-02T25:00:00Z", "0001-01-01T00:00:00+01:00"])
def test_a_time_that_is_not_on_the_calendar_is_rejected_as_bad_time(text: str, limits: DecodeLimits) -> None:
    result = decode_structured(raw(envelope(time=text)), limits)
    assert isinstance(result, Rejection)
    assert result.reason == RejectReason.BAD_TIME
    assert text in result.message


def test_an_event_validated_from_a_mapping_gets_the_typed_payload_of_its_type(limits: DecodeLimits) -> None:
    event = decode_structured(raw(envelope("workforce.task")), limits)
    assert isinstance(event, Event)
    again = Event.model_validate(json.loads(encode_structured(event)))
    assert again == event
    assert isinstance(again.data, PAYLOADS["workforce.task"])
    with pytest.raises(ValidationError, match="not one of the known event types"):
        Event.model_validate(envelope("workforce.task") | {"type": "workforce.tsk"})
    with pytest.raises(ValidationError, match="satisfaction"):
        Event.model_validate(with_data("workforce.survey", satisfaction=0))


def test_decoding_never_raises_on_mutated_messages(limits: DecodeLimits) -> None:
    rng = random.Random(20260302)
    originals = [raw(envelope(event_type)) for event_type in EVENT_TYPES]
    outcomes: dict[str, int] = {}
    for _ in range(3000):
        message = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(message))
            action = rng.random()
            if action < 0.4:
                message[position] = rng.randrange(256)
            elif action < 0.7:
                del message[position : position + rng.randint(1, 8)]
            else:
                message[position:position] = rng.choice([b"{", b"]", b'"', b"null", b"-1", b"\xff", b"1e999", b","])
        value = bytes(message)
        headers = [("ce_specversion", b"1.0"), ("ce_type", value[:12])] if rng.random() < 0.2 else []
        result = decode_message(value, headers, limits)
        assert isinstance(result, Event | Rejection)
        if isinstance(result, Event):  # what the sink writes must be storable
            row = event_row(result, NOW)
            json.dumps(row["data"], allow_nan=False)
            assert not any("\x00" in value for value in row.values() if isinstance(value, str))
        key = result.type if isinstance(result, Event) else str(result.reason)
        outcomes[key] = outcomes.get(key, 0) + 1
    assert len(outcomes) >= 8, outcomes


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_payload_dict_equals_pydantic_json_dump_for_every_type(event_type: str, limits: DecodeLimits) -> None:
    event = decode_structured(raw(with_data(event_type, note={"free": [1, "two"]})), limits)
    assert isinstance(event, Event)
    dumped = event.data.model_dump(mode="json")
    assert payload_dict(event.data) == dumped
    assert list(payload_dict(event.data)) == list(dumped)


@pytest.mark.parametrize(
    "repeated",
    [("ce_id", b"d-2"), ("CE_ID", b"d-1"), ("ce_source", b"etl-2"), ("content-type", b"application/json")],
    ids=["ce_id twice", "ce_id in another letter case", "ce_source twice", "content-type twice"],
)
def test_a_binary_header_given_twice_is_rejected_as_ambiguous_whichever_value_it_repeats(
    repeated: tuple[str, bytes], limits: DecodeLimits
) -> None:
    value, headers = encode_binary(make_event("data.produced", "etl", "d-1", NOW, VALID_DATA["data.produced"]))
    for decode in (decode_message, fast_decode_message):
        result = decode(value, [*headers, repeated], limits)
        assert isinstance(result, Rejection), result
        assert result.reason == RejectReason.AMBIGUOUS_HEADER
        assert repeated[0] in result.message


@pytest.mark.parametrize("offset", ["+23:59", "-23:59", "+15:59", "-00:01"])
def test_any_valid_rfc3339_offset_is_accepted_and_the_time_is_kept_in_utc(offset: str, limits: DecodeLimits) -> None:
    # 2026-03-02T08:15:00+23:59 is 2026-03-01T08:16:00Z: 23 h 59 min earlier in UTC
    text = f"2026-03-02T08:15:00{offset}"
    expected = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    for decode in (decode_structured, fast_decode_structured):
        result = decode(raw(envelope(time=text)), limits)
        assert isinstance(result, Event), result
        assert result.time == expected
        assert result.time.utcoffset() == dt.timedelta(0)


def test_a_count_at_the_bound_is_accepted_and_one_above_it_is_rejected(limits: DecodeLimits) -> None:
    at_bound = decode_structured(raw(with_data("process.execution", rework=10**15)), limits)
    assert isinstance(at_bound, Event)
    above = decode_structured(raw(with_data("process.execution", rework=10**15 + 1)), limits)
    assert isinstance(above, Rejection) and above.reason == RejectReason.INVALID_PAYLOAD
    assert "data.rework" in above.message and "maximum" in above.message
