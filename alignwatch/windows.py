"""Window arithmetic: which hours and local days a run computes, as UTC ranges.

A continuous run computes the hours that closed in its data interval, reaching back
:data:`CONTINUOUS_LOOKBACK` (late events of the day); a nightly run the whole local days
before its night (:func:`nightly_range`), cut at local midnights (:func:`day_ranges`), so
that rolling windows exist at every day's end. Days are counted on the strategy's local
calendar, DST-safe. Every moment must be timezone-aware (:func:`alignwatch.vocabulary.utc`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from alignwatch.errors import ConfigError
from alignwatch.vocabulary import utc

__all__ = [
    "CONTINUOUS_LOOKBACK",
    "DAY",
    "HOUR",
    "NIGHTLY_DAYS",
    "ROLLING_DAYS",
    "ContinuousWindows",
    "contiguous",
    "continuous_windows",
    "day_ranges",
    "floor_hour",
    "local_day",
    "nightly_range",
    "zone_of",
]

# continuous runs recompute the closed hours of the last 24 h (late events of the day)
CONTINUOUS_LOOKBACK = dt.timedelta(hours=24)
# nightly runs recompute the last 7 days by default
NIGHTLY_DAYS = 7
# an event of day D is in the 28d windows ending at the ends of D, D+1, ..., D+27
ROLLING_DAYS = 28
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class ContinuousWindows:
    """The hour windows that closed in a data interval, and the range a run recomputes."""

    closed: tuple[dt.datetime, ...]
    start: dt.datetime
    end: dt.datetime


def floor_hour(moment: dt.datetime) -> dt.datetime:
    """``moment`` in UTC, rounded down to its hour."""
    moment = utc(moment, "moment")
    return moment.replace(minute=0, second=0, microsecond=0)


def continuous_windows(
    data_interval_start: dt.datetime,
    data_interval_end: dt.datetime,
    lookback: dt.timedelta = CONTINUOUS_LOOKBACK,
) -> ContinuousWindows | None:
    """Which hour windows closed in [start, end), and the range to recompute.

    The range ends at the last closed hour and reaches back ``lookback`` (24 h: late
    events of the day are folded in) or to the first closed hour, whichever is earlier.
    None when no hour closed in the interval (a 5-minute run in the middle of an hour).
    """
    start, end = utc(data_interval_start, "data_interval_start"), utc(data_interval_end, "data_interval_end")
    last_end = floor_hour(end)
    closed = []
    moment = floor_hour(start)
    while moment + HOUR <= last_end:
        if moment + HOUR > start:
            closed.append(moment)
        moment += HOUR
    if not closed:
        return None
    return ContinuousWindows(closed=tuple(closed), start=min(closed[0], last_end - lookback), end=last_end)


def nightly_range(at: dt.datetime, days: int = NIGHTLY_DAYS, tz: str = "UTC") -> tuple[dt.datetime, dt.datetime]:
    """The ``days`` whole local days before the local date of ``at``, as a UTC range.

    The nightly run at 02:00 local time recomputes [midnight ``days`` days ago, last
    midnight): DST-safe, since days are counted on the local calendar.
    """
    if days < 1:
        raise ConfigError(f"nightly days must be >= 1, not {days}")
    zone = zone_of(tz)
    local_date = utc(at, "at").astimezone(zone).date()
    end = dt.datetime.combine(local_date, dt.time(), zone)
    start = dt.datetime.combine(local_date - dt.timedelta(days=days), dt.time(), zone)
    return utc(start, "start"), utc(end, "end")


def day_ranges(start: dt.datetime, end: dt.datetime, tz: str = "UTC") -> list[tuple[dt.datetime, dt.datetime]]:
    """[start, end) cut at local midnights (the steps of a nightly or backfill run)."""
    zone = zone_of(tz)
    start, end = utc(start, "start"), utc(end, "end")
    steps = []
    cursor = start
    while cursor < end:
        local = cursor.astimezone(zone)
        next_midnight = dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(), zone)
        step_end = min(utc(next_midnight, "midnight"), end)
        steps.append((cursor, step_end))
        cursor = step_end
    return steps


def zone_of(tz: str) -> ZoneInfo:
    """The time zone named ``tz``; an unknown name is a ``ConfigError``."""
    try:
        return ZoneInfo(tz)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"unknown timezone {tz!r}") from exc


def local_day(day: dt.date, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """The local day ``day`` as a UTC range."""
    start = dt.datetime.combine(day, dt.time(), zone)
    end = dt.datetime.combine(day + DAY, dt.time(), zone)
    return utc(start, "start"), utc(end, "end")


def contiguous(steps: Sequence[tuple[dt.datetime, dt.datetime]]) -> list[tuple[dt.datetime, dt.datetime]]:
    """The steps (sorted) merged into runs of contiguous ranges."""
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in sorted(steps):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged
