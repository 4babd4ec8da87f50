"""The business-system simulator: deterministic, complete, and planting each scenario's truths."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from typing import Any

import pytest

from alignwatch.stream.contract import EVENT_TYPES, DecodeLimits, Event, Rejection
from alignwatch.stream.decode import decode_message
from alignwatch.stream.simulator import MALFORMED_KINDS, SCENARIOS, messages, simulate
from alignwatch.stream.simulator.generate import load_scenario_strategy

START = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)  # a Monday
DAYS = 28
COUNT = 20_000


@pytest.fixture(scope="module")
def generated() -> dict[str, list[dict[str, Any]]]:
    return {name: list(simulate(name, 5, START, DAYS, COUNT)) for name in SCENARIOS}


def _data(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["type"] == kind]


def test_the_same_seed_gives_the_same_messages_and_another_seed_different_ones():
    first = [m.value for m in messages("bakery", 9, START, 7, 2_000)]
    again = [m.value for m in messages("bakery", 9, START, 7, 2_000)]
    other = [m.value for m in messages("bakery", 10, START, 7, 2_000)]
    assert first == again
    assert first != other


def test_every_scenario_emits_every_event_type_and_all_valid_events_decode(generated):
    limits = DecodeLimits(256 * 1024, dt.timedelta(days=1), None, lambda: START + dt.timedelta(days=DAYS))
    for name, events in generated.items():
        assert len(events) == COUNT
        # kpi.observed readings exist for the strategies that declare an observed KPI, decisions
        # for those that declare a decision-making automation
        strategy = load_scenario_strategy(name)
        expected = set(EVENT_TYPES)
        if not any(k.measure == "observed" for k in strategy.kpis):
            expected.discard("kpi.observed")
        if not strategy.ethics.decisions:
            expected.discard("automation.decision")
        assert {e["type"] for e in events} == expected, name
        assert len({(e["source"], e["id"]) for e in events}) == COUNT
    for message in messages("retail", 3, START, DAYS, 5_000):
        decoded = decode_message(message.value, message.headers, limits)
        assert isinstance(decoded, Rejection if message.kind == "malformed" else Event)


def test_messages_mix_in_duplicates_binary_mode_and_every_malformed_kind_in_the_requested_shares():
    sent = list(messages("control", 1, START, DAYS, 11_000, malformed_share=0.01, duplicate_share=0.02))
    kinds = Counter(m.kind for m in sent)
    assert len(sent) == 11_000
    assert (kinds["malformed"], kinds["duplicate"]) == (110, 220)
    valid = {m.identity for m in sent if m.kind == "event"}
    assert all(m.identity in valid for m in sent if m.kind == "duplicate")
    assert sum(1 for m in sent if m.headers) > 500
    assert len(MALFORMED_KINDS) >= 10


def test_some_events_arrive_late_and_out_of_time_order(generated):
    times = [dt.datetime.fromisoformat(e["time"]) for e in generated["control"]]
    behind = sum(1 for before, after in itertools.pairwise(times) if after < before - dt.timedelta(hours=1))
    assert behind > COUNT * 0.005
    assert min(times) >= START and max(times) < START + dt.timedelta(days=DAYS)


def test_activity_follows_business_hours_and_weekdays(generated):
    times = [dt.datetime.fromisoformat(e["time"]) for e in generated["control"]]
    by_hour = Counter(t.hour for t in times)
    assert by_hour[11] > 5 * by_hour[3]
    weekday = sum(1 for t in times if t.weekday() < 5) / 20
    weekend = sum(1 for t in times if t.weekday() >= 5) / 8
    assert weekend < 0.8 * weekday


def _sell_through(events: list[dict[str, Any]]) -> float:
    produced = sum(d.get("units_out", 0) for d in _data(events, "process.execution"))
    ordered = sum(d.get("units", 0) for d in _data(events, "customer.order"))
    return ordered / produced


def test_the_bakery_oven_succeeds_and_automates_baking_but_bakes_far_more_than_is_bought(generated):
    events = generated["bakery"]
    strategy = load_scenario_strategy("bakery")
    target = next(k.target for k in strategy.kpis if k.measure == "sell_through")
    oven = {a.id for a in strategy.automations if "baking" in a.processes}
    runs = [d for d in _data(events, "automation.run") if d["automation_id"] in oven]
    assert sum(d["status"] == "succeeded" for d in runs) / len(runs) > 0.95
    baking = [d for d in _data(events, "process.execution") if d["process_id"] == "baking"]
    assert sum(d["automated"] for d in baking) / len(baking) > 0.9
    assert 0.5 < _sell_through(events) < 0.6 < target
    halves = sorted(events, key=lambda e: e["time"])
    first, second = halves[: COUNT // 2], halves[COUNT // 2 :]
    assert _sell_through(second) < _sell_through(first)  # waste up


def _reachability(events: list[dict[str, Any]], touchpoint: str, after: bool, change: dt.datetime) -> float:
    asked = [
        e["data"]
        for e in events
        if e["type"] == "customer.touchpoint"
        and e["data"]["touchpoint_id"] == touchpoint
        and e["data"]["escalation_requested"]
        and (dt.datetime.fromisoformat(e["time"]) >= change) == after
    ]
    return sum(d.get("escalation_fulfilled_s") is not None for d in asked) / len(asked)


def test_ecommerce_fulfilment_is_fast_and_automated_and_reachability_collapses_after_the_bot_change(generated):
    events = generated["ecommerce"]
    strategy = load_scenario_strategy("ecommerce")
    change = START + dt.timedelta(days=DAYS // 2)
    assert _reachability(events, "support_chat", False, change) > 0.9
    assert 0.2 < _reachability(events, "support_chat", True, change) < 0.4
    fulfilment = next(p for p in strategy.processes if p.id == "order_fulfilment")
    runs = [d for d in _data(events, "process.execution") if d["process_id"] == fulfilment.id]
    assert sum(d["automated"] for d in runs) / len(runs) > 0.85
    automated = sorted(d["cycle_time_s"] for d in runs if d["automated"])
    assert automated[len(automated) // 2] < 0.5 * fulfilment.baseline_cycle_time_s
    reconfigured = [e for e in events if e["type"] == "automation.reconfigured" and e["time"].startswith(change.date().isoformat())]
    assert reconfigured


def _feature_share_and_adoption(events: list[dict[str, Any]], automation: Any) -> tuple[float, float]:
    usage = [d for d in _data(events, "feature.usage") if d["automation_id"] == automation.id]
    features = {d["feature"] for d in usage}
    users = {d["user_id"] for d in usage}
    return len(features) / len(automation.features_licensed), len(users) / automation.seats


def test_retail_uses_few_licensed_features_few_seats_and_mostly_manual_work(generated):
    events = generated["retail"]
    strategy = load_scenario_strategy("retail")
    thresholds = strategy.thresholds
    for automation in strategy.automations:
        if automation.features_licensed and automation.seats:
            features, adoption = _feature_share_and_adoption(events, automation)
            assert features < thresholds.feature_usage_min, automation.id
            assert adoption < thresholds.adoption_min, automation.id
    eligible = [d for d in _data(events, "process.execution") if "automated_share" in d]
    assert sum(not d["automated"] for d in eligible) / len(eligible) > thresholds.manual_share_max


def test_the_control_business_stays_inside_every_pitfall_threshold(generated):
    events = generated["control"]
    strategy = load_scenario_strategy("control")
    t = strategy.thresholds
    assert _sell_through(events) >= t.sell_through_min
    for automation in strategy.automations:
        if automation.features_licensed and automation.seats:
            features, adoption = _feature_share_and_adoption(events, automation)
            assert features >= t.feature_usage_min and adoption >= t.adoption_min, automation.id
    runs = _data(events, "automation.run")
    assert sum(d["status"] == "failed" for d in runs) / len(runs) < t.failure_rate_max
    assert sum(d["manual_intervention"] for d in runs) / len(runs) < t.manual_intervention_max
    issues = len(_data(events, "integration.issue"))
    assert issues / len(runs) * 100 < t.integration_issues_per_100_runs_max
    asked = [d for d in _data(events, "customer.touchpoint") if d["escalation_requested"]]
    assert sum(d.get("escalation_fulfilled_s") is not None for d in asked) / len(asked) >= t.human_reachability_floor
    saving = sum(d["amount"] for d in _data(events, "finance.entry") if d["kind"] == "saving")
    cost = sum(d["amount"] for d in _data(events, "finance.entry") if d["kind"] == "cost")
    projected = sum(a.monthly_cost * a.projected_roi for a in strategy.automations) * DAYS / 30
    realised = saving - cost
    assert realised / projected >= t.roi_realisation_min
    assert not math.isnan(realised)


def test_ecommerce_outcomes_are_read_weekly_and_its_orders_list_a_new_product_in_a_growing_share(generated):
    events = generated["ecommerce"]
    strategy = load_scenario_strategy("ecommerce")
    observed = {k.id: k for k in strategy.kpis if k.measure == "observed"}
    readings = _data(events, "kpi.observed")
    # one reading per observed KPI at the end of each of the 4 weeks, each moving from the baseline towards the target
    assert sorted(Counter(d["kpi_id"] for d in readings).items()) == [(kpi, 4) for kpi in sorted(observed)]
    times = sorted({e["time"][:13] for e in events if e["type"] == "kpi.observed"})
    assert times == [(START + dt.timedelta(days=7 * week, hours=-1)).isoformat()[:13] for week in (1, 2, 3, 4)]
    for kpi_id, kpi in observed.items():
        values = [d["value"] for d in readings if d["kpi_id"] == kpi_id]
        assert kpi.baseline < values[-1] < kpi.target * 1.05 and values[0] < values[-1], kpi_id
    new = set(strategy.new_products)
    orders = sorted((e for e in events if e["type"] == "customer.order"), key=lambda e: e["time"])
    assert all(d["product_ids"] for d in _data(orders, "customer.order"))
    halves = orders[: len(orders) // 2], orders[len(orders) // 2 :]
    shares = [sum(bool(new & set(e["data"]["product_ids"])) for e in half) / len(half) for half in halves]
    assert 0.1 < shares[0] < shares[1] < 0.3


def test_outcome_readings_and_order_products_leave_every_other_event_as_it_was():
    strategy = load_scenario_strategy("ecommerce")
    plain = strategy.model_copy(update={"new_products": (), "kpis": tuple(k for k in strategy.kpis if k.measure != "observed")})
    with_outcomes = {e["id"]: e for e in simulate("ecommerce", 7, START, 7, 2_000, strategy=strategy)}
    without = {e["id"]: e for e in simulate("ecommerce", 7, START, 7, 2_000, strategy=plain)}
    readings = [e for e in with_outcomes.values() if e["type"] == "kpi.observed"]
    assert len(readings) == 2  # one week: one reading of each of the two observed KPIs
    # each reading took the place of one feature.usage event; every other event is the same, orders aside from
    # the products they list
    replaced = set(without) - set(with_outcomes)
    assert len(replaced) == 2 and {without[i]["type"] for i in replaced} == {"feature.usage"}
    for event_id, event in without.items():
        if event_id not in replaced:
            other = with_outcomes[event_id]
            products = other["data"].pop("product_ids", None)
            assert (products is not None) == (event["type"] == "customer.order")
            assert other == event


def test_the_refund_bot_declines_the_south_twice_as_often_and_its_control_treats_every_region_alike():
    def favourable_rates(planted: bool) -> dict[str, float]:
        decisions = _data(list(simulate("refunds", 5, START, DAYS, 12_000, planted=planted)), "automation.decision")
        cases = Counter(d["segments"]["region"] for d in decisions)
        refunded = Counter(d["segments"]["region"] for d in decisions if d["outcome"] == "refunded")
        assert min(cases.values()) >= 70 and {d["automation_id"] for d in decisions} == {"refund_bot"}
        return {region: refunded[region] / cases[region] for region in cases}

    biased, control = favourable_rates(True), favourable_rates(False)
    # declines 0.2 elsewhere, 0.4 in the south: refunded about 0.6 against 0.8
    assert biased["south"] < 0.7 < min(rate for region, rate in biased.items() if region != "south")
    assert min(biased.values()) / max(biased.values()) < 0.8 < min(control.values()) / max(control.values())
