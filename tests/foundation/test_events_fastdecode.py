"""The fast decoder gives exactly the reference decoder's result, and takes the common case."""

from __future__ import annotations

import copy
import datetime as dt
import json
import random
from typing import Any

import pytest
from foundation_event_samples import BAD_STRUCTURED, NOW, VALID_DATA, envelope, raw

from alignwatch.stream import decode as reference
from alignwatch.stream import fastdecode
from alignwatch.stream.contract import DecodeLimits, Event, Rejection
from alignwatch.stream.encode import encode_binary
from alignwatch.stream.process import Origin, classify_message, classify_record
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import MALFORMED_KINDS, SCENARIOS, messages

START = NOW - dt.timedelta(days=14)


def _same(fast: Event | Rejection, slow: Event | Rejection) -> None:
    assert type(fast) is type(slow)
    if isinstance(slow, Rejection):
        assert fast == slow
        return
    assert isinstance(fast, Event)
    assert fast == slow
    assert fast.model_dump() == slow.model_dump()
    assert type(fast.data) is type(slow.data)
    assert fast.data.__pydantic_extra__ == slow.data.__pydantic_extra__
    assert fast.data.model_fields_set >= slow.data.model_fields_set  # the fast path marks every field set
    assert fast.time.utcoffset() == slow.time.utcoffset()
    assert [type(v) for v in fast.data.__dict__.values()] == [type(v) for v in slow.data.__dict__.values()]
    assert event_row(fast, NOW) == event_row(slow, NOW)


def _check(value: bytes, headers: list[tuple[str, bytes]] | None, limits: DecodeLimits) -> Event | Rejection:
    slow = reference.decode_message(value, headers, limits)
    _same(fastdecode.decode_message(value, headers, limits), slow)
    return slow


def test_every_simulated_message_of_every_scenario_decodes_the_same_both_ways() -> None:
    limits = DecodeLimits(now=lambda: NOW + dt.timedelta(days=1))
    kinds: set[str] = set()
    for name in SCENARIOS:
        for message in messages(name, 7, START, 14, 3_000, malformed_share=0.05, duplicate_share=0.02):
            result = _check(message.value, message.headers, limits)
            kinds.add(result.reason if isinstance(result, Rejection) else "event")
    assert "event" in kinds and len(kinds) >= 8


def test_the_consumers_classify_record_gives_classify_messages_result_with_plain_events_typed_on_demand() -> None:
    limits = DecodeLimits(now=lambda: NOW + dt.timedelta(days=1))
    origin = Origin("events", 2, 7)
    plain = 0
    cases: list[tuple[bytes | None, list[tuple[str, Any]] | None]] = [(None, None), (b"", []), (None, [("ce_id", None)])]
    for name in SCENARIOS:
        for message in messages(name, 9, START, 14, 1_500, malformed_share=0.05, duplicate_share=0.02):
            cases.append((message.value, message.headers))
            if message.headers:  # a header without a value: copied as empty, as classify_message does
                cases.append((message.value, [*message.headers[:-1], (message.headers[-1][0], None)]))
    for value, headers in cases:
        expected = classify_message(value, headers, origin, limits)
        result = classify_record(value, headers, "events", 2, 7, limits)
        if isinstance(result, fastdecode.PlainEvent):
            plain += 1
            result = result.event()
        assert type(result) is type(expected)
        if isinstance(expected, Event):
            _same(result, expected)
        else:
            assert result == expected
    assert plain > 0.8 * len(cases)


def test_every_bad_sample_of_the_contract_is_rejected_by_the_reference_path_with_its_reason() -> None:
    limits = DecodeLimits(now=lambda: NOW)
    for bad in BAD_STRUCTURED:
        result = fastdecode.decode_structured(bad.message, limits)
        assert isinstance(result, Rejection), bad.name
        assert result.reason == bad.reason, bad.name
        _same(result, reference.decode_structured(bad.message, limits))
    assert len(MALFORMED_KINDS) >= 10


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_each_valid_sample_decodes_the_same_both_ways(event_type: str) -> None:
    limits = DecodeLimits(now=lambda: NOW)
    assert isinstance(_check(raw(envelope(event_type)), None, limits), Event)


def test_the_fast_path_takes_plain_valid_events_of_every_type_without_timestamp_fields() -> None:
    limits = DecodeLimits(now=lambda: NOW)
    taken = {t for t in VALID_DATA if fastdecode._fast(raw(envelope(t)), limits) is not None}  # noqa: SLF001
    assert taken == set(fastdecode.FAST_TYPES)
    assert set(VALID_DATA) - taken == {"strategy.initiative", "automation.reconfigured"}
    sent = [m for m in messages("bakery", 3, START, 14, 5_000) if m.kind == "event" and not m.headers]
    fast = sum(1 for m in sent if fastdecode._fast(m.value, limits) is not None)  # noqa: SLF001
    assert fast >= 0.95 * len(sent)


# values a producer might put in any field, valid or not for its type
ODD_VALUES: list[Any] = [
    None, "", "x", "x" * 129, "x" * 257, "é" * 128, "a\n", "a\x7f", "a\u0000b", "\ud83d\ude00", 0, -1, 1, 5, 6, 11,
    0.5, -0.0, 1.0, 2.5, 1e308, 10**30, True, False, [], ["g"], [""], {}, {"a": 1}, "1", "true",
    "2026-03-02T08:15:00Z", "2026-03-02t08:15:00z", "2026-03-02T08:15:00", "2026-03-02T08:15:00Z\n",
    "2026-02-30T00:00:00Z", "2026-03-02 08:15:00+05:30", "2026-03-02T08:15:00.123456789-03:00", "2999-01-01T00:00:00Z",
    "2020-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "application/json", "application/json; charset=utf-8",
    "Application/JSON", "text/plain", "1.0", "0.3", "automation.run", "nope",
]  # fmt: skip


def _mutants(rng: random.Random) -> list[bytes]:
    out: list[bytes] = []
    for event_type in sorted(VALID_DATA):
        base = envelope(event_type)
        for key in [*base, "subject", "ext1", "Bad-Name", "data_base64"]:
            for value in rng.sample(ODD_VALUES, 12):
                changed = copy.deepcopy(base)
                changed[key] = value
                out.append(raw(changed))
            dropped = copy.deepcopy(base)
            dropped.pop(key, None)
            out.append(raw(dropped))
        for key in [*VALID_DATA[event_type], "extra_field", "csat", "nps", "cost"]:
            for value in rng.sample(ODD_VALUES, 12):
                changed = copy.deepcopy(base)
                changed["data"][key] = value
                out.append(raw(changed))
            dropped = copy.deepcopy(base)
            dropped["data"].pop(key, None)
            out.append(raw(dropped))
        text = raw(base)
        out.append(text.replace(b'"id":', b'"id":"first","id":', 1))  # a repeated key: the last one wins
        out.append(text.replace(b'"case_id"', b'"case_\\u0069d"'))  # an escaped key
        out.append(b"  \n" + text + b"\n ")
        out.append(b"\xef\xbb\xbf" + text)  # a byte-order mark
        out.append(json.dumps(base, ensure_ascii=True).encode())
        out.append(json.dumps(base, ensure_ascii=False, indent=2).encode())
    return out


def test_mutated_messages_decode_the_same_both_ways() -> None:
    limits = DecodeLimits(max_age=dt.timedelta(days=400), now=lambda: NOW)
    mutants = _mutants(random.Random(20261129))
    results = [_check(value, None, limits) for value in mutants]
    accepted = sum(1 for result in results if isinstance(result, Event))
    assert len(mutants) > 3_000
    assert 0.1 * len(mutants) < accepted < 0.9 * len(mutants)


def _binary_mutants(rng: random.Random, limits: DecodeLimits) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    out: list[tuple[bytes, list[tuple[str, bytes]]]] = []
    odd_headers = [b"", b"x", b"1.0", b"0.3", b"a\n", b"a\x7fb", b"\xff\xfe", b"x" * 600, b"automation.run",
                   b"2026-03-02T08:15:00Z", b"2026-03-02t08:15:00z", b"2026-03-02T08:15:00", b"2999-01-01T00:00:00Z",
                   b"application/json", b"application/json; charset=utf-8", b"text/plain", b"workforce.survey"]  # fmt: skip
    for event_type in sorted(VALID_DATA):
        event = reference.decode_structured(raw(envelope(event_type, subject="order 7")), limits)
        assert isinstance(event, Event)
        value, headers = encode_binary(event)
        out.append((value, headers))
        for index in range(len(headers)):
            out.append((value, headers[:index] + headers[index + 1 :]))
            for odd in rng.sample(odd_headers, 6):
                out.append((value, [*headers[:index], (headers[index][0], odd), *headers[index + 1 :]]))
            out.append((value, [*headers[:index], (headers[index][0].upper(), headers[index][1]), *headers[index + 1 :]]))
        out.append((value, [*headers, ("ce_ext1", b"yes")]))
        out.append((value, [*headers, ("traceparent", b"00-abc-def-01")]))
        out.append((value, [*headers, headers[1]]))  # a repeated header
        out.append((b"", headers))
        out.append((b"null", headers))
        for key in [*VALID_DATA[event_type], "extra_field"]:
            for odd in rng.sample(ODD_VALUES, 6):
                data = copy.deepcopy(VALID_DATA[event_type])
                data[key] = odd
                out.append((raw(data), headers))
    return out


def test_binary_mode_messages_decode_the_same_both_ways() -> None:
    limits = DecodeLimits(max_age=dt.timedelta(days=400), now=lambda: NOW)
    mutants = _binary_mutants(random.Random(11), limits)
    results = [_check(value, headers, limits) for value, headers in mutants]
    accepted = sum(1 for result in results if isinstance(result, Event))
    assert len(mutants) > 1_000
    assert 0.1 * len(mutants) < accepted < 0.9 * len(mutants)
    for event_type in fastdecode.FAST_TYPES:  # the plain binary encoding of each takes the fast path
        value, headers = encode_binary(reference.decode_structured(raw(envelope(event_type)), limits))
        assert fastdecode._fast_binary(value, headers, limits) is not None, event_type  # noqa: SLF001


@pytest.mark.parametrize(
    "segments",
    [..., {}, {"region": "north"}, {f"d{n}": "x" for n in range(16)}, {f"d{n}": "x" for n in range(17)},
     {"Region": "north"}, {"region": ""}, {"region": "x" * 129}, {"region": "é" * 128}, {"region": 3},
     {"region": None}, {"1region": "north"}, {"region\n": "north"}, {"region": "nor\u0000th"}, {"r" * 65: "x"},
     ["north"], "north", None],
    ids=lambda s: "absent" if s is ... else repr(s)[:40],
)
def test_decision_segments_decode_the_same_both_ways(segments: Any) -> None:
    limits = DecodeLimits(now=lambda: NOW)
    data = copy.deepcopy(VALID_DATA["automation.decision"])
    if segments is ...:
        del data["segments"]
    else:
        data["segments"] = segments
    _check(raw(envelope("automation.decision", data)), None, limits)
