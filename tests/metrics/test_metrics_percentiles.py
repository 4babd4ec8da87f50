"""Percentile KPI measures (p50, p90 of cycle time, run duration, order amount), computed by hand.

The definition (docs/metrics.md, "Percentiles"): linear interpolation between the closest
ranks, numpy's default: with the n values sorted x₀ ≤ … ≤ xₙ₋₁ and h = (n − 1) × q, the
value is x⌊h⌋ + (h − ⌊h⌋) × (x⌊h⌋₊₁ − x⌊h⌋). Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alignwatch.metrics.engine import compute
from alignwatch.metrics.formulas import percentile

from .builders import DAY0, STRATEGY, at, day_values, ev, execution, insert, make_strategy, order

DAY = dt.timedelta(days=1)


def key(metric: str, **labels: str) -> tuple[str, str]:
    return (metric, ",".join(f"{k}={labels[k]}" for k in sorted(labels)))


def _kpi(kpi_id: str, perspective: str, measure: str, **filters: str) -> dict[str, Any]:
    return {"id": kpi_id, "name": kpi_id, "perspective": perspective, "unit": "u", "direction": "down", "target": 1,
            "measure": measure, "filters": filters, "min_events": 1}


def _strategy() -> Any:
    kpis = [*STRATEGY["kpis"],
            _kpi("pack_p50", "internal_process", "cycle_time_p50", process="pack"),
            _kpi("pack_p90", "internal_process", "cycle_time_p90", process="pack"),
            _kpi("bot_run_p50", "internal_process", "run_duration_p50", automation="bot"),
            _kpi("bot_run_p90", "internal_process", "run_duration_p90", automation="bot"),
            _kpi("order_p50", "financial", "order_amount_p50"),
            _kpi("order_p90", "financial", "order_amount_p90")]
    return make_strategy(kpis=kpis)


def _duration_run(time: dt.datetime, automation: str, process: str, seconds: float) -> dict[str, Any]:
    return ev("automation.run", time, automation_id=automation, process_id=process, case_id="c", status="succeeded",
              duration_s=seconds)


def _rows() -> list[dict[str, Any]]:
    return [
        # pack cycle times over two hours of the day: 10, 20, 30, 40 (09:00) and 1000, 50 (14:00)
        execution(at(9), "pack", True, cycle=10.0), execution(at(9), "pack", True, cycle=20.0),
        execution(at(9), "pack", False, cycle=30.0), execution(at(9), "pack", True, cycle=40.0),
        execution(at(14), "pack", True, cycle=1000.0), execution(at(14), "pack", False, cycle=50.0),
        execution(at(9), "bake", True, cycle=5.0),  # another process: not in pack's distribution
        # the bot's run durations 2, 9, 2, 1, 2 (a value three times); the oven's run is not the bot's
        _duration_run(at(8), "bot", "pack", 2.0), _duration_run(at(8), "bot", "pack", 9.0),
        _duration_run(at(10), "bot", "pack", 2.0), _duration_run(at(11), "bot", "pack", 1.0),
        _duration_run(at(12), "bot", "pack", 2.0), _duration_run(at(12), "oven", "bake", 100.0),
        order(at(10), amount=30.0), order(at(15), amount=10.0),
    ]


def test_p50_and_p90_of_cycle_time_run_duration_and_order_amount_interpolate_between_ranks(store) -> None:
    strategy = _strategy()
    insert(store, _rows())
    values = day_values(store, strategy)
    expected = {
        # pack: 10, 20, 30, 40, 50, 1000 (n = 6). p50: h = 5 x 0.5 = 2.5 -> 30 + 0.5 x (40 - 30) = 35
        "pack_p50": 35.0,
        # p90: h = 5 x 0.9 = 4.5 -> 50 + 0.5 x (1000 - 50) = 525 (the mean, 1150 / 6 = 191.7, hides the slow case)
        "pack_p90": 525.0,
        # bot runs: 1, 2, 2, 2, 9 (n = 5). p50: h = 4 x 0.5 = 2 -> x2 = 2
        "bot_run_p50": 2.0,
        # p90: h = 4 x 0.9 = 3.6 -> x3 + 0.6 x (x4 - x3) = 2 + 0.6 x 7 = 6.2
        "bot_run_p90": 6.2,
        # orders: 10, 30 (n = 2). p50: h = 0.5 -> 10 + 0.5 x 20 = 20 (the mean of the two middle values)
        "order_p50": 20.0,
        # p90: h = 0.9 -> 10 + 0.9 x 20 = 28
        "order_p90": 28.0,
    }
    for kpi_id, value in expected.items():
        assert values[key("kpi_value", kpi=kpi_id)] == pytest.approx(value, abs=1e-9), kpi_id
    # the events a percentile rests on are its values: 6 pack executions, 5 bot runs, 2 orders
    assert values[key("kpi_events", kpi="pack_p90")] == 6.0
    assert values[key("kpi_events", kpi="bot_run_p90")] == 5.0
    assert values[key("kpi_events", kpi="order_p50")] == 2.0
    # the mean cycle time is unchanged beside them: (10 + 20 + 30 + 40 + 1000 + 50) / 6
    assert values[key("process_cycle_time", process="pack")] == pytest.approx(1150 / 6, abs=1e-9)


def test_a_window_without_values_has_no_percentile(store) -> None:
    strategy = _strategy()
    insert(store, [execution(at(9), "bake", True, cycle=5.0)])
    values = day_values(store, strategy)
    for kpi_id in ("pack_p50", "pack_p90", "bot_run_p50", "order_p90"):
        assert values[key("kpi_value", kpi=kpi_id)] is None, kpi_id
        assert values[key("kpi_events", kpi=kpi_id)] == 0.0


def test_percentiles_through_the_hour_cache_are_the_exact_ones_and_see_a_late_value(store) -> None:
    strategy = _strategy()
    insert(store, _rows())
    clock = lambda: DAY0 + 2 * DAY  # noqa: E731 - every hour of the day is closed: the cache stores them all

    def day_kpis(cache: bool) -> dict[str, float | None]:
        values = compute(store, strategy, start=DAY0, end=DAY0 + DAY, granularity="day", cache=cache, clock=clock)
        return {v.labels["kpi"]: v.value for v in values if v.window == "day" and v.metric_id == "kpi_value"}

    cold, warm, uncached = day_kpis(True), day_kpis(True), day_kpis(False)
    assert cold == warm == uncached
    assert warm["pack_p90"] == 525.0
    late = execution(at(9), "pack", True, cycle=60.0)
    late["ingested_at"] = DAY0 + 3 * DAY  # lands in the cached 09:00 hour after the cache was written
    insert(store, [late])
    # pack: 10, 20, 30, 40, 50, 60, 1000 (n = 7). p50: h = 3 -> 40; p90: h = 6 x 0.9 = 5.4 -> 60 + 0.4 x 940 = 436
    after = day_kpis(True)
    assert after["pack_p50"] == 40.0
    assert after["pack_p90"] == pytest.approx(436.0, abs=1e-9)
    assert after == day_kpis(False)


@pytest.mark.parametrize(("pairs", "q", "expected"), [
    ([(7.0, 1)], Fraction(9, 10), 7.0),  # one value: every percentile is it
    ([(1.0, 3), (2.0, 1)], Fraction(1, 2), 1.0),  # 1, 1, 1, 2: h = 1.5 between two 1s -> 1
    ([(1.0, 1), (2.0, 1), (3.0, 1), (4.0, 1)], Fraction(1, 2), 2.5),  # even count: mean of the middle two
    # 11 values 0..10: h = 10 x 0.9 = 9 exactly (no floating-point rank 8.999…) -> 9
    ([(float(v), 1) for v in range(11)], Fraction(9, 10), 9.0),
    ([], Fraction(1, 2), None),
])
def test_percentile_of_counted_values_follows_the_linear_rank_definition(pairs, q, expected) -> None:
    assert percentile(pairs, q) == expected


PAIR = st.tuples(st.one_of(st.sampled_from([0.0, -0.0, 1.5, 2.0, math.inf, -math.inf]),
                           st.floats(-1e6, 1e6, allow_nan=False)), st.integers(0, 5))


@settings(max_examples=300, deadline=None)
@given(
    # few pairs are sorted as they are, many in numpy: both ways
    st.one_of(st.lists(PAIR, max_size=64), st.lists(PAIR, min_size=65, max_size=400)),
    st.sampled_from([Fraction(0), Fraction(1, 4), Fraction(1, 2), Fraction(9, 10), Fraction(99, 100), Fraction(1)]),
)
def test_the_percentile_of_many_pairs_is_the_definition_over_every_value_written_out(
    pairs: list[tuple[float, int]], q: Fraction
) -> None:
    # every value written out as often as it was seen, sorted: x₀ ≤ … ≤ xₙ₋₁, h = (n − 1)·q
    xs = sorted(value for value, count in pairs for _ in range(count))
    got = percentile(pairs, q)
    if not xs:
        assert got is None
        return
    h = (len(xs) - 1) * q
    low, frac = xs[math.floor(h)], h - math.floor(h)
    expected = low if frac == 0 else low + float(frac) * (xs[math.floor(h) + 1] - low)
    assert got == expected or (math.isnan(expected) and got is not None and math.isnan(got))
