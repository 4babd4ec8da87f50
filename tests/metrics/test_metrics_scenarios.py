"""Scenarios: the simulator's planted truths are found, and nothing else.

Each scenario's events come from ``alignwatch.stream.simulator.simulate`` with the example strategy,
are stored on SQLite and computed day by day over two weeks (plus the rolling 7d and 28d
windows at the end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from alignwatch.metrics.engine import compute
from alignwatch.metrics.strategy import Strategy, load_strategy
from alignwatch.metrics.values import MetricValue
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
DAYS = 14
EVENTS = {"bakery": 12000, "ecommerce": 30000, "retail": 12000, "control": 12000}


class Run:
    """A scenario's strategy and computed values."""

    def __init__(self, strategy: Strategy, values: list[MetricValue]) -> None:
        self.strategy = strategy
        self.values = values

    def get(self, metric: str, window: str, **labels: str) -> list[MetricValue]:
        return sorted(
            (v for v in self.values if v.metric_id == metric and v.window == window and v.labels == labels),
            key=lambda v: v.window_start,
        )

    def fired(self, window: str) -> set[tuple[str, str]]:
        return {(v.labels["pitfall"], v.labels["automation"]) for v in self.values
                if v.metric_id == "pitfall_active" and v.window == window and v.value == 1.0}


def _run(scenario: str, directory: Path) -> Run:
    strategy = load_strategy(EXAMPLES / f"{scenario}.yaml")
    engine = connect(f"sqlite:///{directory / 'store.db'}")
    try:
        upgrade(engine)
        rows = [
            event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), START)
            for e in simulate(scenario, 11, START, DAYS, EVENTS[scenario], strategy=strategy)
        ]
        with engine.begin() as conn:
            conn.execute(events.insert(), rows)
        values = compute(engine, strategy, start=START, end=START + dt.timedelta(days=DAYS), granularity="day")
    finally:
        engine.dispose()
    return Run(strategy, values)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Run]]:
    cache: dict[str, Run] = {}

    def get(scenario: str) -> Run:
        if scenario not in cache:
            cache[scenario] = _run(scenario, tmp_path_factory.mktemp(scenario))
        return cache[scenario]

    yield get  # type: ignore[misc]


def test_bakery_flags_overproduction_of_the_oven_and_a_low_sai(runs) -> None:
    bakery, control = runs("bakery"), runs("control")
    assert bakery.fired("7d") == {("overproduction", "smart_oven")}
    assert bakery.fired("28d") == {("overproduction", "smart_oven")}
    # low alignment: the lowest SAI of the four businesses, at least 10 points below the healthy control
    sai = {name: runs(name).get("sai", "7d")[0].value for name in EVENTS}
    assert all(value is not None for value in sai.values())
    assert min(sai, key=sai.get) == "bakery"
    assert sai["bakery"] < sai["control"] - 10
    # its critical processes stay manual: SPAR well below the control's
    assert bakery.get("spar", "7d")[0].value < control.get("spar", "7d")[0].value
    (sell_through,) = bakery.get("kpi_value", "7d", kpi="sell_through")
    assert sell_through.value is not None and sell_through.value < bakery.strategy.thresholds.sell_through_min


def test_ecommerce_flags_human_reachability_collapsing_on_the_planted_day(runs) -> None:
    shop = runs("ecommerce")
    floor = shop.strategy.thresholds.human_reachability_floor
    daily = [v for v in shop.get("kpi_value", "day", kpi="human_reachability") if v.value is not None]
    values = [v.value for v in daily]
    # the collapse: the day that splits the daily series into the most different before and after means
    # (a single change point); before it the customers reach a human, from it on they do not
    def gap(i: int) -> float:
        return sum(values[:i]) / i - sum(values[i:]) / (len(values) - i)

    collapse = max(range(1, len(values)), key=gap)
    planted = START + dt.timedelta(days=DAYS // 2)  # the simulator reconfigures the support bot then
    assert daily[collapse].window_start <= planted < daily[collapse].window_end
    assert sum(values[:collapse]) / collapse >= floor
    assert max(values[collapse:]) < floor
    assert not shop.fired("7d") and not shop.fired("28d")


def test_retail_flags_feature_overload_and_lack_of_user_adoption_only(runs) -> None:
    retail = runs("retail")
    fired = retail.fired("7d")
    assert {pitfall for pitfall, _ in fired} == {"feature_overload", "lack_of_user_adoption"}
    assert ("feature_overload", "inventory_suite") in fired
    assert ("lack_of_user_adoption", "inventory_suite") in fired
    assert {pitfall for pitfall, _ in retail.fired("28d")} == {"feature_overload", "lack_of_user_adoption"}


def test_no_pitfall_fires_on_the_control_business(runs) -> None:
    control = runs("control")
    evaluated = [v for v in control.values if v.metric_id == "pitfall_active" and v.value is not None]
    assert evaluated, "the detectors had enough events to be evaluated"
    assert {v.value for v in evaluated} == {0.0}
    (stale,) = control.get("drift_strategic_staleness", "7d")
    assert stale.value == 0.0
