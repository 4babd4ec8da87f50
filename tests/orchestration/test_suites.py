"""The expectation suites on their own, with the ephemeral context: each rule catches its case."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from alignwatch.metrics.values import MetricValue

UTC = dt.UTC
START = dt.datetime(2026, 3, 1, 10, tzinfo=UTC)
END = START + dt.timedelta(hours=1)
TYPES = ("customer.feedback", "customer.order")


def feedback(n: int, csat: Any = 4, source: str = "shop") -> dict[str, Any]:
    return {
        "source": source,
        "event_id": f"e{n}",
        "type": "customer.feedback",
        "time": START + dt.timedelta(seconds=n),
        "data": {"customer_id": f"c{n}", "csat": csat},
    }


def run_raw(rows: list[dict[str, Any]], history: list[int] | None = None) -> Any:
    from alignwatch.expectations.raw_events import build_suite, events_frame, learn_volume_band
    from alignwatch.expectations.runner import validate_frame

    band = learn_volume_band(history) if history is not None else None
    return validate_frame(build_suite(start=START, end=END, event_types=TYPES, band=band), events_frame(rows))


def failed(outcome: Any) -> set[str]:
    return {item.expectation for item in outcome.failed}


def test_clean_events_pass_every_raw_rule() -> None:
    outcome = run_raw([feedback(n) for n in range(40)], history=[40] * 7)
    assert outcome.success, outcome.as_json()
    assert outcome.rows == 40


def test_duplicated_ids_fail_the_uniqueness_rule_with_the_duplicates_observed() -> None:
    rows = [feedback(n) for n in range(10)] + [feedback(3)]
    outcome = run_raw(rows)
    assert failed(outcome) == {"expect_event_key_unique"}
    (rule,) = outcome.failed
    assert rule.observed["unexpected_count"] == 2
    assert {"source": "shop", "event_id": "e3"} in rule.observed["partial_unexpected_list"]


def test_the_same_id_from_two_sources_is_not_a_duplicate() -> None:
    outcome = run_raw([feedback(1, source="shop"), feedback(1, source="helpdesk")])
    assert outcome.success


def test_out_of_range_csat_fails_the_range_rule_naming_the_field() -> None:
    outcome = run_raw([feedback(1), feedback(2, csat=7)])
    assert failed(outcome) == {"expect_payload_field_in_range"}
    (rule,) = outcome.failed
    assert rule.kwargs["column"] == "csat"
    assert rule.observed["partial_unexpected_list"] == [7.0]
    assert "csat" in rule.description


def test_non_finite_negative_or_non_numeric_quantities_fail_the_quantity_rule_naming_them() -> None:
    order = {"source": "shop", "type": "customer.order", "time": START}
    rows = [
        {**order, "event_id": "o1", "data": {"amount": math.inf}},
        {**order, "event_id": "o2", "data": {"amount": "12"}},
        {**order, "event_id": "o3", "data": {"amount": 3.5, "units": -1}},
        {**order, "event_id": "o4", "data": {"amount": 3.5, "units": 2}},
    ]
    outcome = run_raw(rows)
    assert failed(outcome) == {"expect_quantities_finite_and_in_range"}
    (rule,) = outcome.failed
    assert rule.observed["unexpected_count"] == 3
    assert sorted(rule.observed["partial_unexpected_list"]) == ["amount='12'", "amount=inf", "units=-1"]


def test_unknown_types_and_times_outside_the_window_fail() -> None:
    stray = {**feedback(1), "type": "customer.mood"}
    late = {**feedback(2), "time": END}
    outcome = run_raw([stray, late])
    assert failed(outcome) == {"expect_known_event_type", "expect_event_time_inside_window"}


def test_a_volume_collapse_against_recent_history_fails() -> None:
    outcome = run_raw([feedback(1)], history=[120, 130, 110, 125, 140, 118, 122])
    assert failed(outcome) == {"expect_volume_within_learned_band"}
    (rule,) = outcome.failed
    assert rule.observed["observed_value"] == 1
    assert rule.kwargs["min_value"] > 1


def test_a_quiet_business_without_history_has_no_lower_volume_bound() -> None:
    from alignwatch.expectations.raw_events import learn_volume_band

    assert learn_volume_band([0, 0, 3, 0, 1, 0, 0]) is None
    assert run_raw([], history=[0, 0, 3, 0, 1, 0, 0]).success


def test_history_windows_compare_the_same_hours_on_earlier_days() -> None:
    from alignwatch.expectations.raw_events import history_windows

    windows = history_windows(START, END, count=2)
    assert windows == [(START - dt.timedelta(days=1), END - dt.timedelta(days=1)), (START - dt.timedelta(days=2), END - dt.timedelta(days=2))]


def value(metric_id: str, v: float | None, **labels: str) -> MetricValue:
    return MetricValue(metric_id, labels, "day", START, START + dt.timedelta(days=1), v)


def run_metrics(values: list[MetricValue]) -> Any:
    from alignwatch.expectations.metric_values import MetricRules, check_metric_values

    rules = MetricRules(
        ratio_ids=frozenset({"cjai"}),
        score_ids=frozenset({"sai"}),
        required_ids=frozenset({"sai", "cjai"}),
        sai_id="sai",
        contribution_id="sai_contribution",
        kpi_metric_id="kpi_value",
        kpi_ids=frozenset({"csat", "waste"}),
    )
    return check_metric_values(values, rules)


def good_values() -> list[MetricValue]:
    return [
        value("cjai", 0.5),
        value("sai", 62.5),
        value("sai_contribution", 40.0, component="cjai"),
        value("sai_contribution", 22.5, component="financial"),
        value("kpi_value", 4.2, kpi="csat"),
        value("kpi_value", None, kpi="waste"),
    ]


def test_consistent_metric_values_pass_every_metric_rule() -> None:
    outcome = run_metrics(good_values())
    assert outcome.success, outcome.as_json()


def test_a_metric_without_data_is_none_and_passes_but_nan_fails() -> None:
    assert run_metrics([*good_values(), value("cjai", None, touchpoint="x")]).success
    outcome = run_metrics([*good_values(), value("cjai", math.nan, touchpoint="x")])
    assert failed(outcome) == {"expect_finite_values"}


def test_ratios_above_one_and_scores_above_hundred_fail() -> None:
    values = good_values()
    values[0] = value("cjai", 1.2)
    outcome = run_metrics([*values, value("sai", 140.0, business="other")])
    assert {"expect_ratios_in_unit_interval", "expect_scores_on_hundred_point_scale"} <= failed(outcome)


def test_a_missing_required_metric_fails_naming_it() -> None:
    outcome = run_metrics([v for v in good_values() if v.metric_id != "cjai"])
    assert failed(outcome) == {"expect_required_metrics_present"}
    assert outcome.failed[0].observed["partial_missing_list"] == ["cjai"]


def test_contributions_that_do_not_add_up_to_the_sai_fail() -> None:
    values = good_values()
    values[1] = value("sai", 70.0)
    outcome = run_metrics(values)
    assert failed(outcome) == {"expect_contributions_sum_to_sai"}
    assert outcome.failed[0].observed["unexpected_count"] == 1


def test_a_strategy_kpi_without_a_value_row_fails_but_a_kpi_without_data_passes() -> None:
    outcome = run_metrics([v for v in good_values() if v.labels.get("kpi") != "csat"])
    assert failed(outcome) == {"expect_strategy_kpis_present"}
    assert outcome.failed[0].observed["partial_missing_list"] == ["csat"]
