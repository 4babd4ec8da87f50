"""Property: whatever the decoder accepts survives every later stage; whatever it refuses has
a reason code.

Hypothesis builds CloudEvents at the edges of the contract, from one real simulated event
of each type: text with NUL, control and non-BMP characters, unpaired surrogates, markup;
numbers at and beyond the bounds (10**15, 2**53, 2**63, 10**400, 1e308, NaN, infinities);
timestamps with any offset up to ±23:59, nine fractional digits, years 1 and 9999;
unknown fields nested in lists and objects; identifiers at their length limits; both Kafka
modes. For each message:

- the consumer's (fast) decoder and the reference decoder agree;
- refused ⇒ a reason code of the contract;
- accepted ⇒ SQLite and PostgreSQL both store it (no row refused by the store), and the
  metric engine computes the day window holding it on both, with finite values only.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alignwatch.metrics.engine import compute_window
from alignwatch.metrics.strategy import load_strategy
from alignwatch.stream import decode
from alignwatch.stream.contract import EVENT_TYPES, DecodeLimits, Event, Rejection, RejectReason
from alignwatch.stream.fastdecode import decode_message
from alignwatch.stream.simulator import simulate
from alignwatch.stream.sink import StoreSink

pytestmark = pytest.mark.integration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STRATEGY = load_strategy(EXAMPLES / "ecommerce.yaml")
DAY = dt.datetime(2026, 10, 5, tzinfo=dt.UTC)
LIMITS = DecodeLimits(max_payload_bytes=256 * 1024, max_future=dt.timedelta(days=1), now=lambda: DAY + dt.timedelta(days=2))


def _templates() -> dict[str, dict[str, Any]]:
    """One real simulated event of each type (its ids are the strategy's; decisions come from
    the refunds scenario, whose strategy declares a decision-making automation)."""
    found: dict[str, dict[str, Any]] = {}
    for event in simulate("ecommerce", 11, DAY, 1, 6000, strategy=STRATEGY):
        found.setdefault(event["type"], event)
    for event in simulate("refunds", 11, DAY, 1, 6000):
        if event["type"] == "automation.decision":
            found.setdefault(event["type"], event)
            break
    missing = set(EVENT_TYPES) - set(found)
    assert not missing, missing
    return found


TEMPLATES = _templates()

EDGE_TEXT = st.sampled_from(
    ["", "\x00", "a\x00b", "\x1f", "\x7f", "\u2028", "\ud800", "\udfff", "😀", "[/]", "[link=https://x]y[/link]",
     "\x1b[31mred", "x" * 128, "x" * 129, "x" * 256, "x" * 257]
)  # fmt: skip
TEXT = st.one_of(EDGE_TEXT, st.text(st.characters(exclude_categories=()), max_size=12))
EDGE_NUMBERS = st.sampled_from(
    [0, 1, -1, 10**15, 10**15 + 1, 2**53, 2**53 + 1, 2**63, 2**64, 10**400, -(10**400), 1e15, 1e15 + 0.5, 1e308,
     5e-324, -0.0, math.nan, math.inf, -math.inf, 0.1]
)  # fmt: skip
NUMBER = st.one_of(EDGE_NUMBERS, st.integers(-5, 10**16), st.floats(allow_nan=True, allow_infinity=True))
SCALAR = st.one_of(TEXT, NUMBER, st.booleans(), st.none())
JSON_VALUE = st.recursive(
    SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8
)


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from(
            ["0001-01-01T00:00:00Z", "0001-01-01T00:30:00+00:31", "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-00:01",
             "2026-10-05T12:00:00", "2026-10-05T25:00:00Z", "2026-02-30T12:00:00Z", "2026-10-05t12:00:00z"]
        ))  # fmt: skip
    moment = DAY + dt.timedelta(hours=1) + dt.timedelta(seconds=draw(st.integers(0, 20 * 3600)))
    minutes = draw(st.integers(-(23 * 60 + 59), 23 * 60 + 59))
    local = moment + dt.timedelta(minutes=minutes)
    sign = "+" if minutes >= 0 else "-"
    offset = f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    digits = draw(st.integers(0, 9))
    fraction = "." + "".join(draw(st.lists(st.sampled_from("0123456789"), min_size=digits, max_size=digits))) if digits else ""
    return local.strftime("%Y-%m-%dT%H:%M:%S") + fraction + draw(st.sampled_from([offset, offset, "Z"]) if minutes == 0 else st.just(offset))


@st.composite
def cloudevents(draw: st.DrawFn) -> dict[str, Any]:
    event_type = draw(st.sampled_from(EVENT_TYPES))
    event = json.loads(json.dumps(TEMPLATES[event_type]))
    event["id"] = draw(TEXT) if draw(st.integers(0, 5)) == 0 else draw(st.uuids()).hex
    if draw(st.integers(0, 5)) == 0:
        event["source"] = draw(TEXT)
    event["time"] = draw(timestamps())
    if draw(st.integers(0, 4)) == 0:
        event["subject"] = draw(TEXT)
    if draw(st.integers(0, 5)) == 0:
        event[draw(st.sampled_from(["tenant", "trace", "Bad-Name"]))] = draw(SCALAR)
    names = sorted(event["data"])
    for _ in range(draw(st.integers(0, 2))):
        name = draw(st.one_of(st.sampled_from(names), st.sampled_from(["note", "extra"]), TEXT))
        current = event["data"].get(name)
        if isinstance(current, int | float) and not isinstance(current, bool):
            event["data"][name] = draw(NUMBER)  # a declared number: at and beyond its bounds
        else:
            event["data"][name] = draw(JSON_VALUE)
    return event


def _encode(event: dict[str, Any], binary: bool, ascii_only: bool) -> tuple[bytes, list[tuple[str, bytes]]]:
    def dump(value: Any) -> bytes:
        return json.dumps(value, ensure_ascii=ascii_only, allow_nan=True).encode("utf-8", "surrogatepass")

    if not binary:
        return dump(event), []
    headers = [
        (f"ce_{name}", (value if isinstance(value, str) else json.dumps(value)).encode("utf-8", "surrogatepass"))
        for name, value in event.items()
        if name not in ("data", "datacontenttype")
    ]
    return dump(event["data"]), [*headers, ("content-type", b"application/json")]


@settings(max_examples=200, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])  # fmt: skip
@given(event=cloudevents(), binary=st.booleans(), ascii_only=st.booleans())
def test_an_accepted_event_is_stored_by_both_stores_and_computed_by_the_engine_and_a_refused_one_has_a_reason(
    module_stores: dict[str, Any], event: dict[str, Any], binary: bool, ascii_only: bool
) -> None:
    value, headers = _encode(event, binary, ascii_only)
    result = decode_message(value, headers, LIMITS)
    reference = decode.decode_message(value, headers, LIMITS)
    assert type(result) is type(reference)
    if isinstance(result, Rejection):
        assert isinstance(reference, Rejection) and result.reason == reference.reason
        assert result.reason in set(RejectReason) and result.message
        return
    assert isinstance(result, Event) and result == reference
    assert result.time.utcoffset() == dt.timedelta(0)
    for name, engine in module_stores.items():
        sink = StoreSink(engine)
        sink.add(result)
        written = sink.flush()
        assert written.stored + written.duplicates + len(written.turned_away) == 1, name
        assert all(record.reason == "conflicting_duplicate" for record in written.turned_away), written.turned_away
        if DAY <= result.time < DAY + dt.timedelta(days=1):
            values = compute_window(engine, STRATEGY, start=DAY, end=DAY + dt.timedelta(days=1), kind="day")
            assert values, name
            assert all(v.value is None or math.isfinite(v.value) for v in values), name
