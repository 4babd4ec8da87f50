"""Outcome KPI measures, computed by hand from their documented definitions (docs/metrics.md).

- ``observed``: the mean of the KPI's ``kpi.observed`` values in the window;
- ``customer_lifetime_value``: Σ order amount ÷ first orders (orders with repeat = false),
  i.e. the mean order amount × the expected orders per customer, 1 ÷ (1 − repeat-purchase rate);
- ``new_product_adoption``: customers with an order listing one of the strategy's
  new_products ÷ customers with an order listing its products;
- ``automation_cost``: the declared automations' costs per 30 days; the finance costs not
  attributed to a declared automation are left out, and the scorecard says how much.

Every test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignwatch.cli import main
from alignwatch.metrics.engine import compute
from alignwatch.metrics.scorecard import build_scorecard, explain_sai
from alignwatch.store import connect, upgrade

from .builders import DAY0, STRATEGY, at, day_values, ev, finance, insert, make_strategy, run

DAY = dt.timedelta(days=1)
NEW_PRODUCTS = ["sourdough", "SKU-NEW-2", "pão-de-ló"]


def key(metric: str, **labels: str) -> tuple[str, str]:
    return (metric, ",".join(f"{k}={labels[k]}" for k in sorted(labels)))


def _kpi(kpi_id: str, perspective: str, measure: str, target: float, **extra: Any) -> dict[str, Any]:
    return {"id": kpi_id, "name": kpi_id, "perspective": perspective, "unit": "u", "direction": "up",
            "target": target, "measure": measure, "min_events": 1, **extra}


def _sections() -> dict[str, Any]:
    """The test strategy's sections with the outcome KPIs and the new products."""
    kpis = [*STRATEGY["kpis"],
            # the same measure serves KPIs of any perspective
            _kpi("k_share", "financial", "observed", 0.25),
            _kpi("k_brand", "customer", "observed", 10),
            _kpi("k_clv", "customer", "customer_lifetime_value", 100),
            _kpi("k_adopt", "customer", "new_product_adoption", 0.5),
            _kpi("k_cost", "financial", "automation_cost", 500, direction="down")]
    goals = [*STRATEGY["goals"], {"id": "g_out", "name": "Outcomes", "perspective": "customer",
                                  "kpis": ["k_share", "k_brand", "k_clv", "k_adopt", "k_cost"]}]
    return {"kpis": kpis, "goals": goals, "new_products": NEW_PRODUCTS}


def _strategy() -> Any:
    return make_strategy(**_sections())


def observed(time: dt.datetime, kpi_id: str, value: float, **extra: Any) -> dict[str, Any]:
    return ev("kpi.observed", time, kpi_id=kpi_id, value=value, **extra)


def order(time: dt.datetime, customer: str, amount: float, repeat: bool, products: list[str] | None) -> dict[str, Any]:
    extra = {} if products is None else {"product_ids": products}
    return ev("customer.order", time, customer_id=customer, order_id=f"o-{customer}-{amount:g}", amount=amount,
              repeat=repeat, **extra)


def _rows() -> list[dict[str, Any]]:
    return [
        # market share 0.18 (09:00) and 0.22 (15:00); the day before, 0.5: not in the day window
        observed(at(9), "k_share", 0.18, unit="ratio", period="2026-02", measured_by="retail panel"),
        observed(at(15), "k_share", 0.22),
        observed(at(15, DAY0 - DAY), "k_share", 0.5),
        # brand sentiment -12 and +4 (negative values are values); an observation of a KPI the strategy lacks
        observed(at(10), "k_brand", -12.0, method="social listening"),
        observed(at(11), "k_brand", 4.0),
        observed(at(11), "k_unknown", 99.0),
        # orders of the day: amounts 40 + 20 + 30 + 50 + 10 + 30 = 180, six orders, three first orders
        order(at(9), "c1", 40.0, False, ["rye", "sourdough"]),  # first order, a new product
        order(at(13), "c1", 20.0, True, ["rye"]),  # c1 again (a customer counts once)
        order(at(10), "c2", 30.0, False, ["baguette"]),  # first order, no new product
        order(at(16), "c3", 50.0, True, ["pão-de-ló"]),  # repeat order, a new product
        order(at(17), "c4", 10.0, False, None),  # first order that does not list its products
        order(at(18), "c5", 30.0, True, []),  # an empty list lists no product
        # the day before: c2 bought sourdough (not in the day window), a first order of 1000
        order(at(12, DAY0 - DAY), "c2", 1000.0, False, ["sourdough"]),
    ]


def test_observed_kpis_are_the_mean_of_their_observations_in_the_window(store) -> None:
    strategy = _strategy()
    insert(store, _rows())
    values = day_values(store, strategy)
    # k_share: (0.18 + 0.22) / 2 = 0.20 on 2 observations (the day before's 0.5 is another window)
    assert values[key("kpi_value", kpi="k_share")] == pytest.approx(0.20, abs=1e-9)
    assert values[key("kpi_events", kpi="k_share")] == 2.0
    # attainment, direction up, no baseline: 0.20 / 0.25 = 0.8
    assert values[key("kpi_attainment", kpi="k_share")] == pytest.approx(0.8, abs=1e-9)
    # k_brand: (-12 + 4) / 2 = -4; the observation of k_unknown feeds no KPI
    assert values[key("kpi_value", kpi="k_brand")] == pytest.approx(-4.0, abs=1e-9)
    assert values[key("kpi_events", kpi="k_brand")] == 2.0


def test_customer_lifetime_value_is_revenue_per_first_order(store) -> None:
    strategy = _strategy()
    insert(store, _rows())
    values = day_values(store, strategy)
    # mean order 180 / 6 = 30; repeat-purchase rate 3 / 6 = 0.5, so 1 / (1 - 0.5) = 2 expected orders per
    # customer: 30 x 2 = 60 = 180 / 3 first orders (c1, c2, c4). The day before's 1000 is another window.
    assert values[key("kpi_value", kpi="k_clv")] == pytest.approx(60.0, abs=1e-9)
    assert values[key("kpi_events", kpi="k_clv")] == 6.0
    # the 7d window ending at the day's end also holds the day before: (180 + 1000) / (3 + 1) = 295 on 7 orders
    week = {(v.metric_id, v.labels_key): v.value
            for v in compute(store, strategy, start=DAY0, end=DAY0 + DAY, granularity="day") if v.window == "7d"}
    assert week[key("kpi_value", kpi="k_clv")] == pytest.approx(295.0, abs=1e-9)


def test_new_product_adoption_is_the_share_of_customers_listing_products_who_bought_a_new_one(store) -> None:
    strategy = _strategy()
    insert(store, _rows())
    values = day_values(store, strategy)
    # customers whose orders list products: c1, c2, c3 (c4's order does not list them, c5's list is empty);
    # of those, c1 (sourdough) and c3 (pão-de-ló) bought a new product: 2 / 3
    assert values[key("kpi_value", kpi="k_adopt")] == pytest.approx(2 / 3, abs=1e-9)
    assert values[key("kpi_events", kpi="k_adopt")] == 3.0
    # the 7d window also holds the day before, where c2 bought sourdough: c1, c2, c3 of c1, c2, c3 = 1
    week = {(v.metric_id, v.labels_key): v.value
            for v in compute(store, strategy, start=DAY0, end=DAY0 + DAY, granularity="day") if v.window == "7d"}
    assert week[key("kpi_value", kpi="k_adopt")] == pytest.approx(1.0, abs=1e-9)


def test_outcome_measures_through_the_hour_cache_are_the_exact_ones_and_see_a_late_event(store) -> None:
    strategy = _strategy()
    insert(store, _rows())
    clock = lambda: DAY0 + 2 * DAY  # noqa: E731 - every hour of the day is closed: the cache stores them all

    def day_kpis(cache: bool) -> dict[str, float | None]:
        values = compute(store, strategy, start=DAY0, end=DAY0 + DAY, granularity="day", cache=cache, clock=clock)
        return {v.labels["kpi"]: v.value for v in values if v.window == "day" and v.metric_id == "kpi_value"}

    cold, warm, uncached = day_kpis(True), day_kpis(True), day_kpis(False)
    assert cold == warm == uncached
    late = [observed(at(9), "k_share", 0.26), order(at(9), "c6", 60.0, False, ["SKU-NEW-2"])]
    for row in late:
        row["ingested_at"] = DAY0 + 3 * DAY  # lands in the cached 09:00 hour after the cache was written
    insert(store, late)
    after = day_kpis(True)
    # k_share: (0.18 + 0.22 + 0.26) / 3 = 0.22; CLV: (180 + 60) / 4 first orders = 60;
    # adoption: c1, c3, c6 of c1, c2, c3, c6 = 3 / 4
    assert after["k_share"] == pytest.approx(0.22, abs=1e-9)
    assert after["k_clv"] == pytest.approx(60.0, abs=1e-9)
    assert after["k_adopt"] == pytest.approx(0.75, abs=1e-9)
    assert after == day_kpis(False)


def test_outcome_measures_without_their_events_have_no_data(store) -> None:
    strategy = _strategy()
    # only repeat orders (no first order: no lifetime estimate), none listing its products
    insert(store, [order(at(9), "c1", 20.0, True, None), order(at(10), "c2", 30.0, True, None)])
    values = day_values(store, strategy)
    for kpi_id in ("k_share", "k_brand", "k_clv", "k_adopt"):
        assert values[key("kpi_value", kpi=kpi_id)] is None, kpi_id
    assert values[key("kpi_events", kpi="k_share")] == 0.0
    assert values[key("kpi_events", kpi="k_clv")] == 2.0  # two orders, none a first order
    assert values[key("kpi_events", kpi="k_adopt")] == 0.0


def _cost_rows() -> list[dict[str, Any]]:
    return [
        finance(at(9), "cost", 30.0, automation="bot"),
        run(at(10), "bot", "pack", cost=5.0),
        finance(at(11), "cost", 200.0),  # rent: attributed to no automation
        finance(at(12), "cost", 40.0, automation="old_bot"),  # an automation the strategy does not declare
        finance(at(13), "saving", 70.0, automation="bot"),  # not a cost
    ]


def test_automation_cost_counts_the_declared_automations_and_the_scorecard_says_what_it_left_out(store) -> None:
    strategy = _strategy()
    insert(store, _cost_rows())
    values = day_values(store, strategy)
    # bot: finance cost 30 + run cost 5 = 35 in one day, per 30 days 35 x 30 / 1 = 1050
    assert values[key("kpi_value", kpi="k_cost")] == pytest.approx(1050.0, abs=1e-9)
    # events: bot's two finance entries (cost, saving) + one run = 3
    assert values[key("kpi_events", kpi="k_cost")] == 3.0
    card = build_scorecard(store, strategy, DAY0 + DAY, window="1d").to_dict()
    # left out: 200 + 40 = 240 in one day, per 30 days 240 x 30 = 7200, in 2 entries
    assert card["kpis"]["k_cost"]["note"] == (
        "left out: 7,200.00 per 30 days of finance.entry cost not attributed to a declared automation (2 entries)")
    assert card["kpis"]["k_share"]["note"] is None  # other measures leave nothing out
    # explain names the note under the perspective of the KPI
    financial = next(move for move in explain_sai(store, strategy, DAY0 + DAY, window="1d")["inputs"]
                     if move["input"] == "financial")
    assert financial["notes"] == {"k_cost": card["kpis"]["k_cost"]["note"]}


def test_automation_cost_of_one_automation_has_no_note(store) -> None:
    kpis = [*STRATEGY["kpis"], _kpi("k_cost", "financial", "automation_cost", 500, direction="down",
                                    filters={"automation": "bot"})]
    strategy = make_strategy(kpis=kpis)
    insert(store, _cost_rows())
    card = build_scorecard(store, strategy, DAY0 + DAY, window="1d").to_dict()
    assert card["kpis"]["k_cost"]["value"] == pytest.approx(1050.0, abs=1e-9)
    assert card["kpis"]["k_cost"]["note"] is None


def test_the_scorecard_and_explain_texts_print_what_automation_cost_left_out(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = connect(url)
    upgrade(engine)
    insert(engine, _cost_rows())
    engine.dispose()
    path = tmp_path / "strategy.yaml"
    path.write_text(yaml.safe_dump({**STRATEGY, **_sections()}, allow_unicode=True), encoding="utf-8")
    # 240 left out in one day: 7,200 per 30 days
    note = "left out: 7,200.00 per 30 days of finance.entry cost not attributed to a declared automation (2 entries)"
    for command in (["scorecard", "--at", "2026-03-03", "--window", "1d"], ["explain", "sai", "--at", "2026-03-03"]):
        with pytest.raises(SystemExit) as exit_info:
            main([*command, "--store", url, "--strategy", str(path)])
        out = capsys.readouterr().out
        assert exit_info.value.code in (0, None)
        [line] = [line for line in out.splitlines() if "left out" in line]
        assert "k_cost" in line and line.endswith(note), line


def test_value_and_kpi_id_fields_of_other_event_types_are_kept_and_read_only_for_observations(store) -> None:
    strategy = _strategy()
    insert(store, [
        # unknown fields are kept with the payload, of any JSON type: the engine must not type them
        run(at(9), "bot", "pack", value="high", kpi_id={"not": "an id"}),
        ev("customer.feedback", at(9), customer_id="c1", csat=4, value=[1, 2], kpi_id="k_share"),
        observed(at(10), "k_share", 0.3),
    ])
    values = day_values(store, strategy)
    # k_share: the one observation, 0.3 (the feedback's kpi_id and value are not an observation)
    assert values[key("kpi_value", kpi="k_share")] == pytest.approx(0.3, abs=1e-9)
    assert values[key("kpi_events", kpi="k_share")] == 1.0
    assert values[key("kpi_value", kpi="k_csat")] == 4.0
