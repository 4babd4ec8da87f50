"""Suite ``raw_events``: the stored events of a window, checked before metrics are computed.

Rules (each a named expectation class with a description):

- every event has a source and an id, and (source, id) is unique;
- every type is one of the event contract's types;
- every timestamp lies inside the window;
- scales are in range (CSAT 1–5, NPS 0–10, satisfaction 1–5, automated share 0–1), one rule
  per field;
- quantities (durations, counts, amounts) are finite and >= 0 (records >= 1), one rule
  naming the first offending ``field=value`` of each event;
- the window's volume lies inside a band learned from the same window on the preceding
  days: a sudden drop to near zero is a failure, not a quiet zero;
- "no data": with ``expect_events``, the window holds at least one event. The pipeline
  asks for it when the strategy expects events (it declares automations, processes or
  touchpoints) and neither the run's interval nor the 28 days before it (what its rolling
  windows read) hold any (a fresh store, a range far from every event): the values of such
  a run, an SAI of 0.0 computed from nothing, are never published.

The batch is a pandas frame with one row per event (:func:`events_frame`): scale fields
become float columns (a value that is not a finite number — a string, NaN, an infinity —
becomes ``inf`` so that the range rule reports it) and ``bad_quantity`` names the first bad
quantity. Fewer, wider rules keep the gate cheap: Great Expectations' cost is mostly per
expectation, not per row.

This module imports Great Expectations (slow): import it inside the functions that run it.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import great_expectations as gx
import great_expectations.expectations as gxe
import sqlalchemy as sa

from alignwatch.expectations.runner import SuiteOutcome, gx_context, validate_frame
from alignwatch.store.schema import events
from alignwatch.stream.contract import EVENT_TYPES

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "ExpectEventIdPresent",
    "ExpectEventKeyUnique",
    "ExpectEventSourcePresent",
    "ExpectEventTimeInsideWindow",
    "ExpectEventsInWindow",
    "ExpectKnownEventType",
    "ExpectPayloadFieldInRange",
    "ExpectQuantitiesFiniteAndInRange",
    "ExpectVolumeWithinLearnedBand",
    "HISTORY_WINDOWS",
    "QUANTITIES",
    "SCALES",
    "SUITE_NAME",
    "VolumeBand",
    "build_suite",
    "check_raw_events",
    "events_frame",
    "history_windows",
    "learn_volume_band",
    "strategy_expects_events",
]

SUITE_NAME = "raw_events"

# payload fields on a bounded scale: field -> (min, max), each checked by its own rule
SCALES: dict[str, tuple[float, float]] = {
    "csat": (1, 5),
    "nps": (0, 10),
    "satisfaction": (1, 5),
    "automated_share": (0, 1),
}
# quantities: field -> lowest accepted value; all must be finite, checked by one rule
QUANTITIES: dict[str, float] = {
    "duration_s": 0,
    "cycle_time_s": 0,
    "escalation_fulfilled_s": 0,
    "minutes_saved": 0,
    "errors": 0,
    "rework": 0,
    "records": 1,
    "units_out": 0,
    "units": 0,
    "amount": 0,
    "cost": 0,
}

# how many earlier windows (shifted by whole days) the volume band learns from
HISTORY_WINDOWS = 7
# the band: at least LOW_FACTOR x the median of history, at most HIGH_FACTOR x its maximum
LOW_FACTOR = 0.2
HIGH_FACTOR = 10.0
# below this median volume a business is too quiet for a lower bound to mean anything
MIN_HISTORY_MEDIAN = 20
MIN_HISTORY_WINDOWS = 3


@dataclass(frozen=True)
class VolumeBand:
    """Accepted event count for a window, learned from ``history`` (earlier windows' counts)."""

    low: int
    high: int | None
    history: tuple[int, ...]


def history_windows(start: dt.datetime, end: dt.datetime, count: int = HISTORY_WINDOWS) -> list[tuple[dt.datetime, dt.datetime]]:
    """The ``count`` windows before [start, end) at the same time of day, newest first.

    The shift is the window's length rounded up to whole days, so that an hour or a day is
    compared with the same hour or day on earlier days (business volume follows the clock).
    """
    days = max(1, math.ceil((end - start) / dt.timedelta(days=1)))
    shift = dt.timedelta(days=days)
    return [(start - k * shift, end - k * shift) for k in range(1, count + 1)]


def learn_volume_band(history: Sequence[int]) -> VolumeBand | None:
    """The accepted volume given earlier windows' counts; None when history is too thin."""
    active = [n for n in history if n > 0]
    if len(active) < MIN_HISTORY_WINDOWS:
        return None
    median = statistics.median(history)
    if median < MIN_HISTORY_MEDIAN:
        return None
    return VolumeBand(low=math.ceil(LOW_FACTOR * median), high=math.ceil(HIGH_FACTOR * max(history)), history=tuple(history))


def events_frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per event: source, event_id, type, time_s (Unix seconds) and numeric fields."""
    import pandas as pd

    records = []
    for row in rows:
        data = row.get("data")
        data = data if isinstance(data, Mapping) else {}
        time = row.get("time")
        record: dict[str, Any] = {
            "source": row.get("source"),
            "event_id": row.get("event_id"),
            "type": row.get("type"),
            "time_s": time.timestamp() if isinstance(time, dt.datetime) else None,
            "bad_quantity": _bad_quantity(data),
        }
        for name in SCALES:
            record[name] = _number(data.get(name))
        records.append(record)
    columns = ["source", "event_id", "type", "time_s", "bad_quantity", *SCALES]
    frame = pd.DataFrame.from_records(records, columns=columns)
    for name in ("time_s", *SCALES):
        frame[name] = frame[name].astype("float64")
    frame["bad_quantity"] = frame["bad_quantity"].astype("object")
    return frame


def _bad_quantity(data: Mapping[str, Any]) -> str | None:
    """``field=value`` of the first quantity that is not a finite number >= its minimum."""
    for name, low in QUANTITIES.items():
        value = data.get(name)
        if value is None:
            continue
        number = _number(value)
        if number is None or not math.isfinite(number) or number < low:
            return f"{name}={value!r}"
    return None


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.inf
    number = float(value)
    return number if math.isfinite(number) else math.inf


def build_suite(
    *,
    start: dt.datetime,
    end: dt.datetime,
    event_types: Iterable[str],
    band: VolumeBand | None,
    expect_events: bool = False,
) -> gx.ExpectationSuite:
    """The ``raw_events`` suite for the window [start, end); ``expect_events`` adds the
    "no data" rule (at least one event in the window)."""
    gx_context()  # suites need an active context
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    if expect_events:
        suite.add_expectation(ExpectEventsInWindow(min_value=1))
    suite.add_expectation(ExpectEventSourcePresent())
    suite.add_expectation(ExpectEventIdPresent())
    suite.add_expectation(ExpectEventKeyUnique())
    suite.add_expectation(ExpectKnownEventType(value_set=sorted(event_types)))
    suite.add_expectation(
        ExpectEventTimeInsideWindow(min_value=start.timestamp(), max_value=end.timestamp())
    )
    for name, (low, high) in SCALES.items():
        suite.add_expectation(
            ExpectPayloadFieldInRange(
                column=name, min_value=low, max_value=high, description=f"payload field {name} lies in [{low}, {high}]"
            )
        )
    suite.add_expectation(ExpectQuantitiesFiniteAndInRange())
    if band is not None:
        suite.add_expectation(ExpectVolumeWithinLearnedBand(min_value=band.low, max_value=band.high))
    else:
        suite.add_expectation(
            ExpectVolumeWithinLearnedBand(
                min_value=0, description="event volume recorded (history too thin to learn a band)"
            )
        )
    return suite


# ---------------------------------------------------------------- domain rules


class ExpectEventSourcePresent(gxe.ExpectColumnValuesToNotBeNull):
    """Every event names its source."""

    column: str = "source"
    description: str | None = "every event names its source"


class ExpectEventIdPresent(gxe.ExpectColumnValuesToNotBeNull):
    """Every event has an id."""

    column: str = "event_id"
    description: str | None = "every event has an id"


class ExpectEventKeyUnique(gxe.ExpectCompoundColumnsToBeUnique):
    """(source, id) identifies one event."""

    column_list: list[str] = ["source", "event_id"]  # noqa: RUF012
    description: str | None = "(source, id) identifies one event: no duplicates"


class ExpectKnownEventType(gxe.ExpectColumnValuesToBeInSet):
    """Every type is one of the event contract's types."""

    column: str = "type"
    description: str | None = "every type is one of the event contract's types"


class ExpectEventTimeInsideWindow(gxe.ExpectColumnValuesToBeBetween):
    """Every event time lies inside [start, end) of the window (Unix seconds)."""

    column: str = "time_s"
    strict_max: bool = True
    description: str | None = "every event time lies inside the window"


class ExpectPayloadFieldInRange(gxe.ExpectColumnValuesToBeBetween):
    """A numeric payload field is a finite number inside its declared range."""

    description: str | None = "a payload field is a finite number in its range"


class ExpectQuantitiesFiniteAndInRange(gxe.ExpectColumnValuesToBeNull):
    """Durations, counts and amounts are finite and not below their minimum (0, or 1 for records)."""

    column: str = "bad_quantity"
    description: str | None = "durations, counts and amounts are finite numbers >= 0 (records >= 1)"


class ExpectEventsInWindow(gxe.ExpectTableRowCountToBeBetween):
    """The window holds at least one event, when the strategy expects events ("no data" otherwise)."""

    description: str | None = (
        "the window holds events: the strategy expects some, so an empty window is no data, "
        "never a quiet zero"
    )


class ExpectVolumeWithinLearnedBand(gxe.ExpectTableRowCountToBeBetween):
    """The window's event count lies inside the band learned from earlier days."""

    description: str | None = (
        "event volume lies inside the band learned from the same window on earlier days "
        "(a sudden drop to near zero is a failure)"
    )


def _count(conn: sa.Connection, start: dt.datetime, end: dt.datetime) -> int:
    query = sa.select(sa.func.count()).select_from(events).where(events.c.time >= start, events.c.time < end)
    return int(conn.execute(query).scalar_one())


def strategy_expects_events(strategy: Any) -> bool:
    """Whether a strategy expects events in every window: it declares automations, processes or touchpoints."""
    return any(bool(getattr(strategy, name, None)) for name in ("automations", "processes", "journey"))


def check_raw_events(
    conn: sa.Connection,
    *,
    start: dt.datetime,
    end: dt.datetime,
    event_types: Iterable[str] | None = None,
    expect_events: bool = False,
) -> SuiteOutcome:
    """Validate the events stored for [start, end) (with the volume band from earlier days);
    ``expect_events``: a window without any event fails (see :func:`strategy_expects_events`)."""
    if event_types is None:
        event_types = EVENT_TYPES
    columns = [events.c.source, events.c.event_id, events.c.type, events.c.time, events.c.data]
    rows = conn.execute(sa.select(*columns).where(events.c.time >= start, events.c.time < end)).mappings()
    frame = events_frame(rows)
    band = learn_volume_band([_count(conn, s, e) for s, e in history_windows(start, end)])
    suite = build_suite(start=start, end=end, event_types=event_types, band=band, expect_events=expect_events)
    return validate_frame(suite, frame)
