"""Which windows each kind of run recomputes, keyed on the data interval (never the clock)."""

from __future__ import annotations

import datetime as dt

import pendulum
import pytest

from alignwatch.errors import ConfigError
from alignwatch.windows import continuous_windows, day_ranges, nightly_range

UTC = dt.UTC


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def test_a_five_minute_interval_inside_an_hour_closes_no_window() -> None:
    assert continuous_windows(at(1, 10, 0), at(1, 10, 5)) is None


def test_the_interval_crossing_the_hour_closes_that_hour_and_recomputes_the_last_day() -> None:
    windows = continuous_windows(at(1, 10, 57), at(1, 11, 2))
    assert windows is not None
    assert windows.closed == (at(1, 10),)
    assert (windows.start, windows.end) == (at(1, 10) - dt.timedelta(hours=23), at(1, 11))


def test_an_interval_ending_on_the_hour_closes_that_hour() -> None:
    windows = continuous_windows(at(1, 10, 55), at(1, 11, 0))
    assert windows is not None and windows.closed == (at(1, 10),)


def test_a_long_interval_after_downtime_recomputes_every_hour_that_closed() -> None:
    windows = continuous_windows(at(1, 0), at(3, 0))
    assert windows is not None
    assert len(windows.closed) == 48
    assert (windows.start, windows.end) == (at(1, 0), at(3, 0))


def test_nightly_range_is_the_last_local_days_before_the_run_date() -> None:
    # 02:00 in Berlin on 10 March is 01:00 UTC; the two days before are 8 and 9 March (local)
    start, end = nightly_range(at(10, 1), days=2, tz="Europe/Berlin")
    assert (start, end) == (at(7, 23), at(9, 23))


def test_day_ranges_follow_local_midnights_across_a_dst_change() -> None:
    start, end = nightly_range(at(30, 0), days=3, tz="Europe/Berlin")
    steps = day_ranges(start, end, "Europe/Berlin")
    assert [e - s for s, e in steps] == [dt.timedelta(hours=24), dt.timedelta(hours=24), dt.timedelta(hours=23)]
    assert steps[0][0] == start and steps[-1][1] == end


def test_naive_times_and_unknown_timezones_are_configuration_errors() -> None:
    with pytest.raises(ConfigError, match="^data_interval_start 2026-03-01T10:00:00 has no timezone"):
        continuous_windows(dt.datetime(2026, 3, 1, 10), at(1, 11))
    with pytest.raises(ConfigError, match="unknown timezone"):
        nightly_range(at(10, 1), tz="Mars/Olympus")


def test_airflow_data_intervals_as_pendulum_datetimes_give_plain_utc_windows() -> None:
    # Airflow hands the DAG tasks pendulum DateTimes (here in Berlin: 11:57 and 12:02 are 10:57 and 11:02 UTC)
    berlin = pendulum.timezone("Europe/Berlin")
    start, end = pendulum.datetime(2026, 3, 1, 11, 57, tz=berlin), pendulum.datetime(2026, 3, 1, 12, 2, tz=berlin)
    windows = continuous_windows(start, end)
    assert windows is not None
    assert windows.closed == (at(1, 10),)
    assert (windows.start, windows.end) == (at(1, 10) - dt.timedelta(hours=23), at(1, 11))
    assert {type(moment) for moment in (windows.start, windows.end, *windows.closed)} == {dt.datetime}
