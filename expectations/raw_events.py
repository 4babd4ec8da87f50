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

A backfill validates the events of a block of days at once (:func:`check_raw_events_days`):
one Great Expectations run checks the event rules on every event of the block, each event
tagged with its day, and one run checks the volume rules on one row per day; each day gets
the outcome :func:`check_raw_events` would give it (a day outside a rule is validated again
on its own, so that it reports exactly what the per-day gate reports).

The batch is a pandas frame with one row per event (:func:`events_frame`): scale fields
become float columns (a value that is not a finite number — a string, NaN, an infinity —
becomes ``inf`` so that the range rule reports it) and ``bad_quantity`` names the first bad
quantity. Fewer, wider rules keep the gate cheap: Great Expectations' cost is mostly per
expectation, not per row.

This module imports Great Expectations (slow): import it inside the functions that run it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import statistics
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import sqlalchemy as sa

from alignwatch.expectations.runner import SuiteOutcome, gx_context, run_suite, validate_frame
from alignwatch.metrics.aggregates import fetch_rows
from alignwatch.metrics.strategy import Strategy
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
    "ExpectWindowVolumeNotAboveBand",
    "ExpectWindowVolumeNotBelowBand",
    "HISTORY_WINDOWS",
    "QUANTITIES",
    "SCALES",
    "SUITE_NAME",
    "VolumeBand",
    "build_suite",
    "check_raw_events",
    "check_raw_events_days",
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


def events_frame(rows: Iterable[Mapping[str, Any] | sa.RowMapping]) -> pd.DataFrame:
    """One row per event: source, event_id, type, time_s (Unix seconds) and numeric fields."""
    sources, ids, types, times, payloads = [], [], [], [], []
    for row in rows:
        sources.append(row.get("source"))
        ids.append(row.get("event_id"))
        types.append(row.get("type"))
        times.append(row.get("time"))
        payloads.append(row.get("data"))
    return _frame(sources, ids, types, times, payloads)


def _frame(
    sources: Sequence[Any],
    ids: Sequence[Any],
    types: Sequence[Any],
    times: Sequence[Any] | np.ndarray,
    payloads: Sequence[Any],
) -> pd.DataFrame:
    """The frame of :func:`events_frame` from its columns (``payloads``: the parsed ``data``).

    Only the payload fields the rules read are looked at: a payload's keys are intersected
    with them, so an event without a scale or a quantity costs one set operation.
    """
    import pandas as pd

    count = len(payloads)
    scales = {name: np.full(count, np.nan) for name in SCALES}
    bad: list[str | None] = [None] * count
    for index, data in enumerate(payloads):
        if not isinstance(data, Mapping):
            continue
        present = _WATCHED.intersection(data)
        if not present:
            continue
        for name in present & _SCALE_NAMES:
            number = _number(data[name])
            if number is not None:
                scales[name][index] = number
        for name in present & _QUANTITY_NAMES:
            value = data[name]
            if value is None:
                continue
            kind = type(value)
            # the common case, a finite number not below its minimum; anything else: the exact look
            if not ((kind is float or kind is int) and QUANTITIES[name] <= value < _LIMIT):
                bad[index] = _bad_quantity(data)
                break
    time_s = (
        times
        if isinstance(times, np.ndarray)
        else np.array([time.timestamp() if isinstance(time, dt.datetime) else np.nan for time in times], dtype="float64")
    )
    frame = pd.DataFrame(
        {
            "source": pd.Series(list(sources), dtype=None if count else "object"),
            "event_id": pd.Series(list(ids), dtype=None if count else "object"),
            "type": pd.Series(list(types), dtype=None if count else "object"),
            "time_s": time_s,
            "bad_quantity": pd.Series(bad, dtype="object"),
            **scales,
        }
    )
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


_SCALE_NAMES = frozenset(SCALES)
_QUANTITY_NAMES = frozenset(QUANTITIES)
# below this a number is finite as a float (a larger int overflows float(), as _number finds)
_LIMIT = 2.0**1000
_WATCHED = _SCALE_NAMES | _QUANTITY_NAMES


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


def strategy_expects_events(strategy: Strategy) -> bool:
    """Whether a strategy expects events in every window: it declares automations, processes or touchpoints."""
    return any(bool(getattr(strategy, name, None)) for name in ("automations", "processes", "journey"))


def _read(conn: sa.Connection, start: dt.datetime, end: dt.datetime) -> pd.DataFrame:
    """The frame of the events stored for [start, end): only the columns the rules read.

    The payloads come as text and are parsed in one ``json.loads`` call; the times come as
    Unix seconds computed by the database (PostgreSQL) or as the stored UTC text parsed by
    numpy (SQLite), the same float as ``datetime.timestamp()``: microseconds ÷ 10⁶.
    """
    sqlite = conn.dialect.name == "sqlite"
    time = (
        sa.type_coerce(events.c.time, sa.String)
        if sqlite
        else sa.cast(sa.extract("epoch", events.c.time), sa.Double)
    )
    data = sa.cast(events.c.data, sa.Text)
    query = sa.select(events.c.source, events.c.event_id, events.c.type, time, data).where(
        events.c.time >= start, events.c.time < end
    )
    rows = fetch_rows(conn, query)  # (no column here has a result processor: the driver's values are the rows')
    if not rows:
        return _frame([], [], [], [], [])
    sources, ids, types, times, texts = zip(*rows, strict=True)
    payloads = json.loads("[" + ",".join("null" if text is None else text for text in texts) + "]")
    seconds = _seconds_from_text(times) if sqlite else np.array(times, dtype="float64")
    if seconds is None:  # a stored time numpy does not read: the store's own conversion
        stamped = conn.execute(sa.select(events.c.time).where(events.c.time >= start, events.c.time < end)).scalars()
        return _frame(sources, ids, types, list(stamped), payloads)
    return _frame(sources, ids, types, seconds, payloads)


def _seconds_from_text(values: Sequence[str | None]) -> np.ndarray | None:
    """Unix seconds of SQLite's naive UTC texts (``YYYY-MM-DD HH:MM:SS[.ffffff]``); None when one is not that."""
    try:
        micros = np.array(values, dtype="datetime64[us]")
    except ValueError:
        return None
    if len(values) and not all(isinstance(v, str) and len(v) in (19, 26) and v[10] == " " for v in values):
        return None
    return np.where(np.isnat(micros), np.nan, micros.astype("int64").astype("float64") / 1e6)


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
    frame = _read(conn, start, end)
    band = learn_volume_band([_count(conn, s, e) for s, e in history_windows(start, end)])
    suite = build_suite(start=start, end=end, event_types=event_types, band=band, expect_events=expect_events)
    return validate_frame(suite, frame)


# ---------------------------------------------------------------- a block of windows in one run

BLOCK_SUITE_NAME = "raw_events_block"
VOLUME_SUITE_NAME = "raw_events_volumes"


class ExpectWindowVolumeNotBelowBand(gxe.ExpectColumnPairValuesAToBeGreaterThanB):
    """A window's event count is at least its floor (the learned band's low end; 1 when events are expected)."""

    column_A: str = "events"
    column_B: str = "floor"
    or_equal: bool | None = True
    description: str | None = "each window's event count is not below its learned band (nor zero when events are expected)"


class ExpectWindowVolumeNotAboveBand(gxe.ExpectColumnPairValuesAToBeGreaterThanB):
    """A window's event count is at most the learned band's high end (windows without a band are skipped)."""

    column_A: str = "ceiling"
    column_B: str = "events"
    or_equal: bool | None = True
    ignore_row_if: Literal["both_values_are_missing", "either_value_is_missing", "neither"] | dict[Any, Any] = (
        "either_value_is_missing"
    )
    description: str | None = "each window's event count is not above its learned band"


def _block_suites(event_types: tuple[str, ...]) -> tuple[gx.ExpectationSuite, gx.ExpectationSuite]:
    """The suites of a block of windows (built once per process and set of types): the event
    rules on the block's events (one row per event, its window in ``window``), and the volume
    rules on one row per window."""
    with _suites_lock:
        suites = _block_suite_cache.get(event_types)
        if suites is None:
            gx_context()
            rows = gx.ExpectationSuite(name=BLOCK_SUITE_NAME)
            rows.add_expectation(ExpectEventSourcePresent())
            rows.add_expectation(ExpectEventIdPresent())
            # unique within a window: the key with the window
            rows.add_expectation(ExpectEventKeyUnique(column_list=["key", "window"]))
            rows.add_expectation(ExpectKnownEventType(value_set=sorted(event_types)))
            # inside its own window: the position (time - start) / (end - start) lies in [0, 1)
            rows.add_expectation(ExpectEventTimeInsideWindow(column="window_position", min_value=0.0, max_value=1.0))
            for name, (low, high) in SCALES.items():
                rows.add_expectation(
                    ExpectPayloadFieldInRange(
                        column=name, min_value=low, max_value=high, description=f"payload field {name} lies in [{low}, {high}]"
                    )
                )
            rows.add_expectation(ExpectQuantitiesFiniteAndInRange())
            volumes = gx.ExpectationSuite(name=VOLUME_SUITE_NAME)
            volumes.add_expectation(ExpectWindowVolumeNotBelowBand())
            volumes.add_expectation(ExpectWindowVolumeNotAboveBand())
            suites = _block_suite_cache[event_types] = (rows, volumes)
        return suites


_suites_lock = threading.Lock()
_block_suite_cache: dict[tuple[str, ...], tuple[gx.ExpectationSuite, gx.ExpectationSuite]] = {}
# the outcome of a window that passed, by shape (types, events expected, band learned, no rows,
# columns without a value): the rules, descriptions and keys a passing window of that shape reports
_passed_cache: dict[tuple[Any, ...], SuiteOutcome] = {}


def check_raw_events_days(
    conn: sa.Connection,
    windows: Sequence[tuple[dt.datetime, dt.datetime]],
    *,
    event_types: Iterable[str] | None = None,
    expect_events: Sequence[bool] | bool = False,
) -> list[SuiteOutcome]:
    """The outcome :func:`check_raw_events` gives for each of ``windows`` (the days of a
    backfill), from one Great Expectations run over all their events.

    The events of every window are read (one statement per window, the same as
    :func:`check_raw_events`) into one frame that says which window each event belongs to;
    one run checks every event rule on it (a key is unique within its window, a time lies
    inside its own window), and one run on one row per window checks the volume rules (the
    band learned for each window, at least one event where ``expect_events``). A window
    with an event or a volume outside a rule is validated again on its own with
    :func:`check_raw_events`' suite, so that a failing window reports exactly what the
    per-window gate reports (its failing rules, counts and offending values). A window
    that passes reports what a passing window reports: every rule held, with its own counts
    (rows, missing values per column) and bounds; the first passing window of each shape
    (events expected or not, band learned or not, empty columns) in a process is validated
    on its own, and its outcome is the pattern of the others.
    """
    import pandas as pd

    types = tuple(EVENT_TYPES if event_types is None else event_types)
    expects = [expect_events] * len(windows) if isinstance(expect_events, bool) else list(expect_events)
    if len(expects) != len(windows):
        raise ValueError("expect_events: one flag per window")
    if not windows:
        return []
    # each window's frame is read, measured and made compact, one after the other: only the
    # compact frames are kept (a window validated on its own is read again)
    frames, statistics = [], []
    for start, end in windows:
        frame = _read(conn, start, end)
        statistics.append(_window_stats(frame))
        frames.append(_compact(frame))
        del frame
    counts = {window: stats["rows"] for window, stats in zip(windows, statistics, strict=True)}

    def count(start: dt.datetime, end: dt.datetime) -> int:
        if (start, end) not in counts:
            counts[(start, end)] = _count(conn, start, end)
        return counts[(start, end)]

    bands = [learn_volume_band([count(s, e) for s, e in history_windows(start, end)]) for start, end in windows]

    sizes = np.array([len(frame) for frame in frames])
    block = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0].copy()
    del frames
    block["window"] = np.repeat(np.arange(len(windows)), sizes)
    starts = np.array([start.timestamp() for start, _ in windows])
    lengths = np.array([end.timestamp() for _, end in windows]) - starts
    block["window_position"] = (block["time_s"].to_numpy() - starts[block["window"].to_numpy()]) / lengths[
        block["window"].to_numpy()
    ]
    volumes = pd.DataFrame(
        {
            "window": np.arange(len(windows)),
            "events": sizes.astype("float64"),
            "floor": [float(max(band.low if band else 0, 1 if expect else 0)) for band, expect in zip(bands, expects, strict=True)],
            "ceiling": [float(band.high) if band and band.high is not None else np.nan for band in bands],
        }
    )
    row_suite, volume_suite = _block_suites(types)
    flagged = _flagged(row_suite, block) | _flagged(volume_suite, volumes)

    del block
    outcomes: list[SuiteOutcome] = []
    for index, ((start, end), stats, band, expect) in enumerate(zip(windows, statistics, bands, expects, strict=True)):
        suite_args: dict[str, Any] = {"start": start, "end": end, "event_types": types, "band": band, "expect_events": expect}
        if index in flagged:
            outcomes.append(validate_frame(build_suite(**suite_args), _read(conn, start, end)))
            continue
        shape = (types, expect, band is None, stats["rows"] == 0, tuple(sorted(k for k, v in stats.items() if v == stats["rows"])))
        with _suites_lock:
            template = _passed_cache.get(shape)
        if template is None:
            # the first passing window of its shape in this process is validated on its own
            outcome = validate_frame(build_suite(**suite_args), _read(conn, start, end))
            if outcome.success:
                with _suites_lock:
                    _passed_cache[shape] = outcome
            outcomes.append(outcome)
            continue
        outcomes.append(_passed_like(template, start=start, end=end, band=band, stats=stats))
    return outcomes


def _compact(frame: pd.DataFrame) -> pd.DataFrame:
    """A window's frame as the block's event rules read it, without its texts: ``source`` and
    ``event_id`` become 1.0 where present (NaN where missing) and the key a 64-bit hash of
    both (``key``). Two events with the same key have the same hash, so no duplicate goes
    unflagged; a collision flags a window that is then validated on its own, which reports
    what its own gate reports."""
    import pandas as pd

    sources, ids = frame["source"].tolist(), frame["event_id"].tolist()
    compact = frame.drop(columns=["source", "event_id"])
    compact.insert(0, "key", pd.Series(np.fromiter(map(hash, zip(sources, ids, strict=True)), dtype=np.int64,
                                                    count=len(sources))))
    compact.insert(0, "event_id", frame["event_id"].notna().map({True: 1.0, False: np.nan}).astype("float64"))
    compact.insert(0, "source", frame["source"].notna().map({True: 1.0, False: np.nan}).astype("float64"))
    return compact


def _flagged(suite: gx.ExpectationSuite, frame: pd.DataFrame) -> set[int]:
    """The windows (``frame["window"]``) with a row outside a rule of ``suite``."""
    result = run_suite(suite, frame, result_format="COMPLETE")
    window = frame["window"].to_numpy()
    flagged: set[int] = set()
    for item in result.results:
        if item.success:
            continue
        indexes = (item.result or {}).get("unexpected_index_list")
        if not indexes or not all(isinstance(i, int | np.integer) for i in indexes):
            return set(range(int(window.max()) + 1)) if len(window) else set()
        flagged.update(int(w) for w in window[list(indexes)])
    return flagged


# the columns whose missing values each rule counts (multi-column: rows where all are missing)
_RULE_COLUMNS: dict[str, tuple[str, ...]] = {
    "expect_event_source_present": ("source",),
    "expect_event_id_present": ("event_id",),
    "expect_event_key_unique": ("source", "event_id"),
    "expect_known_event_type": ("type",),
    "expect_event_time_inside_window": ("time_s",),
    "expect_quantities_finite_and_in_range": ("bad_quantity",),
}


def _window_stats(frame: pd.DataFrame) -> dict[str, int]:
    """Rows of a window's frame and missing values per column (and per multi-column key)."""
    missing = frame.isna().sum()
    stats = {"rows": len(frame), **{str(name): int(n) for name, n in missing.items()}}
    stats["source+event_id"] = int((frame["source"].isna() & frame["event_id"].isna()).sum())
    return stats


def _passed_like(
    template: SuiteOutcome, *, start: dt.datetime, end: dt.datetime, band: VolumeBand | None, stats: dict[str, int]
) -> SuiteOutcome:
    """The outcome of a passing window, from the outcome of a passing window of the same shape:
    the same rules, descriptions and keys, with this window's bounds and counts."""
    items = []
    for item in template.expectations:
        kwargs = dict(item.kwargs)
        if item.expectation == "expect_event_time_inside_window":
            kwargs.update(min_value=start.timestamp(), max_value=end.timestamp())
        elif item.expectation == "expect_volume_within_learned_band" and band is not None:
            kwargs.update(min_value=band.low, max_value=band.high)
        columns = _RULE_COLUMNS.get(item.expectation) or (str(kwargs.get("column")),)
        observed = dict(item.observed)
        for key in observed:
            if key in ("observed_value", "element_count"):
                observed[key] = stats["rows"]
            elif key == "missing_count":
                observed[key] = stats["+".join(columns)]
            elif key == "unexpected_count":
                observed[key] = 0
        items.append(replace(item, kwargs=kwargs, observed=observed))
    return replace(template, rows=stats["rows"], expectations=tuple(items))
