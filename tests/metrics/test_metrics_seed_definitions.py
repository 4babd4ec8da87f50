"""The seed's definitions, computed by hand: active employees, strategic data use, judged KPIs, ROI windows.

Every test runs on SQLite and on PostgreSQL (the ``store`` fixture). The window is the day
2026-03-02 (UTC) unless said otherwise; the expected values are worked out in the comments
from docs/metrics.md and the seed (seed/000_a458ae1ccb342798.txt, "Strategic Automation
Metrics Framework" and "Common Pitfalls").
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from alignwatch.cli.metrics import render_scorecard
from alignwatch.metrics.engine import compute
from alignwatch.metrics.scorecard import build_scorecard, explain_sai

from .builders import DAY0, STRATEGY, at, day_values, ev, execution, finance, insert, make_strategy, usage, workforce

DAY = dt.timedelta(days=1)


def key(metric: str, **labels: str) -> tuple[str, str]:
    return (metric, ",".join(f"{k}={labels[k]}" for k in sorted(labels)))


def _learning_strategy() -> Any:
    """The test strategy plus a learning & growth goal with a training-rate and an SSAI KPI (judged from 1 event)."""
    kpis = [*STRATEGY["kpis"],
            {"id": "k_train", "name": "Training", "perspective": "learning_growth", "unit": "ratio", "direction": "up",
             "target": 1.0, "measure": "training_rate", "min_events": 1},
            {"id": "k_ssai", "name": "SSAI", "perspective": "learning_growth", "unit": "ratio", "direction": "up",
             "target": 0.5, "measure": "ssai", "min_events": 1}]
    goals = [*STRATEGY["goals"],
             {"id": "g_team", "name": "Skilled team", "perspective": "learning_growth", "weight": 1,
              "kpis": ["k_train", "k_ssai"]}]
    return make_strategy(kpis=kpis, goals=goals)


# ---------------------------------------------------------------------------- 1. active employees


def test_feature_usage_users_are_not_active_employees_of_ssai_training_rate_and_minutes_saved(store) -> None:
    strategy = _learning_strategy()
    t = at(11)
    insert(store, [
        workforce(t, "task", "e1", automation_id="bot", augmented=True, minutes_saved=10.0),
        workforce(t, "skill", "e1", skill="ops", kind="training"),
        workforce(t, "task", "e2", automation_id="bot", augmented=True, minutes_saved=20.0),
        workforce(t, "survey", "e3", satisfaction=4),
        workforce(t, "skill", "e4", skill="data", kind="certification"),
        # two users of the bot who have no workforce event: users of a tool, not employees seen by the workforce
        # systems (docs/metrics.md: "active employees are the distinct employees with any workforce event")
        usage(t, "bot", "a", "u1"), usage(t, "bot", "b", "u2"),
    ])
    values = day_values(store, strategy)
    # active employees: e1, e2, e3, e4 = 4 (u1 and u2 are not counted)
    # SSAI: augmented and skilled = {e1, e2} ∩ {e1, e4} = {e1} -> 1 / 4 = 0.25
    assert values[key("ssai")] == 0.25
    # minutes saved: 10 + 20 = 30 in one day / 4 employees = 7.5 -> x 30 days = 225 per 30 days
    assert values[key("minutes_saved_per_employee")] == 225.0
    # training rate: 2 skill events / 4 active employees = 0.5
    assert values[key("kpi_value", kpi="k_train")] == 0.5
    assert values[key("kpi_events", kpi="k_train")] == 4.0
    # learning & growth: k_train attainment 0.5 / 1.0 = 0.5, k_ssai 0.25 / 0.5 = 0.5; equal weights -> 50
    assert values[key("perspective_score", perspective="learning_growth")] == 50.0
    # adoption still counts the bot's users: u1, u2 (feature.usage) and e1, e2 (its workforce tasks) of 4 seats
    assert values[key("automation_adoption", automation="bot")] == 1.0


def test_feature_usage_without_workforce_events_leaves_ssai_and_learning_growth_without_data(store) -> None:
    strategy = _learning_strategy()
    t = at(11)
    insert(store, [usage(t, "bot", "a", "u1"), usage(t, "bot", "b", "u2")])
    values = day_values(store, strategy)
    # no workforce event: no active employee, so every per-employee ratio has no denominator -> no data, not 0
    assert values[key("ssai")] is None
    assert values[key("minutes_saved_per_employee")] is None
    assert values[key("kpi_value", kpi="k_train")] is None
    assert values[key("kpi_value", kpi="k_ssai")] is None
    assert values[key("perspective_score", perspective="learning_growth")] is None
    assert key("sai_contribution", input="ssai") not in values


# ---------------------------------------------------------------------------- 2. strategic data use


def test_sdur_counts_produced_datasets_with_a_strategic_decision_or_insight(store, strategy) -> None:
    t = at(10)
    rows = [ev("data.produced", t, dataset_id=f"d{i}", automation_id="bot") for i in range(1, 7)]
    rows += [
        ev("data.used", t, dataset_id="d1", used_for="decision", strategic=True),  # strategic decision: counts
        ev("data.used", t, dataset_id="d2", used_for="decision", strategic=False),  # operational decision: not
        ev("data.used", t, dataset_id="d3", used_for="report", strategic=True),  # strategic insight: counts
        ev("data.used", t, dataset_id="d4", used_for="decision", strategic=False),  # operational decision: not
        ev("data.used", t, dataset_id="d5", used_for="decision", strategic=False),
        ev("data.used", t, dataset_id="d5", used_for="report", strategic=True),  # one strategic use is enough
        # d6: produced, never used
        ev("data.used", t, dataset_id="d9", used_for="decision", strategic=True),  # not produced by an automation
    ]
    insert(store, rows)
    values = day_values(store, strategy)
    # seed: "Percentage of automation-generated data actively utilized for strategic decision-making and insights"
    # produced: d1..d6 = 6; used strategically (decision or report): d1, d3, d5 = 3 -> 3 / 6 = 0.5
    assert values[key("sdur")] == 0.5


# ---------------------------------------------------------------------------- 3. min_events guards scoring


def _guarded_strategy(auto_min: int, err_min: int) -> Any:
    kpis = [dict(k) for k in STRATEGY["kpis"]]
    for kpi in kpis:
        if kpi["id"] == "k_auto":
            kpi["min_events"] = auto_min
        if kpi["id"] == "k_err":
            kpi["min_events"] = err_min
    return make_strategy(kpis=kpis)


def _four_pack_executions() -> list[dict[str, Any]]:
    t = at(16)
    return [execution(t, "pack", True), execution(t, "pack", True), execution(t, "pack", True),
            execution(t, "pack", False, errors=1)]


def test_a_kpi_with_fewer_events_than_its_minimum_does_not_weigh_in_its_perspective_or_the_sai(store) -> None:
    strategy = _guarded_strategy(auto_min=4, err_min=100)
    insert(store, _four_pack_executions())
    values = day_values(store, strategy)
    # k_auto: 3 automated of 4 = 0.75, attainment 0.75 / 0.8 = 0.9375, 4 events >= min 4: judged
    # k_err: 1 with errors of 4 = 0.25, attainment (0.25 - 0.3) / (0.1 - 0.3) = 0.25, 4 events < min 100: not judged
    # (its value and attainment are still shown; k_sell has no data)
    assert values[key("kpi_attainment", kpi="k_err")] == 0.25
    # internal process = 100 x weighted mean of the judged attainments = 100 x 0.9375 = 93.75
    # (today's unguarded mean of 0.9375 and 0.25 would be 59.375)
    assert values[key("perspective_score", perspective="internal_process")] == 93.75
    # the only SAI input with data: SAI = 93.75
    assert values[key("sai")] == 93.75

    scorecard = build_scorecard(store, strategy, DAY0 + DAY, window="1d")
    card = scorecard.to_dict()
    assert card["kpis"]["k_auto"]["judged"] is True
    assert card["kpis"]["k_err"]["judged"] is False
    assert card["kpis"]["k_err"]["not_judged"] == "4 events, fewer than min_events 100"
    assert card["perspectives"]["internal_process"] == 93.75
    text = render_scorecard(scorecard)
    assert "not judged: 4 events, fewer than min_events 100" in text
    assert text.count("not judged") == 1  # k_auto is judged; k_sell has no data (nothing to judge)


def test_a_perspective_whose_kpis_are_all_below_their_minimum_has_no_data_and_explain_says_why(store) -> None:
    strategy = _guarded_strategy(auto_min=5, err_min=5)
    insert(store, _four_pack_executions())
    values = day_values(store, strategy)
    # 4 events < 5 for both KPIs with data: no judged KPI -> no perspective score, and no other SAI input -> no SAI
    assert values[key("perspective_score", perspective="internal_process")] is None
    assert values[key("sai")] is None
    explained = explain_sai(store, strategy, DAY0 + DAY, window="1d")
    move = next(m for m in explained["inputs"] if m["input"] == "internal_process")
    assert move["not_judged"] == {"k_auto": "4 events, fewer than min_events 5",
                                  "k_err": "4 events, fewer than min_events 5"}


# ---------------------------------------------------------------------------- 6. ROI windows


def _roi_rows(end: dt.datetime, lengths: dt.timedelta, windows: int) -> list[dict[str, Any]]:
    """One cost of 100 and one saving of 150 for the bot in each of ``windows`` windows of ``lengths`` ending at ``end``."""
    rows = []
    for k in range(windows):
        moment = end - k * lengths - dt.timedelta(hours=23)
        rows += [finance(moment, "cost", 100.0, "bot"), finance(moment, "saving", 150.0, "bot")]
    return rows


@pytest.mark.parametrize(("window", "days"), [("7d", 7), ("28d", 28)])
def test_roi_miscalculation_looks_at_consecutive_windows_of_the_windows_own_length(store, strategy, window, days) -> None:
    end = DAY0 + DAY
    insert(store, _roi_rows(end, dt.timedelta(days=days), 3))
    values = day_values(store, strategy, window=window)
    # each of the 3 windows of `days` days ending at the end holds cost 100 and saving 150: ROI (150 - 100) / 100 =
    # 0.5, projected 2.0 -> realisation 0.25 < roi_realisation_min 0.7 in each of roi_consecutive_windows = 3
    assert values[key("pitfall_active", pitfall="roi_miscalculation", automation="bot")] == 1.0
    card = build_scorecard(store, strategy, end, window=window).to_dict()
    roi = next(p for p in card["pitfalls"] if p["id"] == "roi_miscalculation")
    assert roi["evidence"]["roi_realisation_by_window"] == [0.25, 0.25, 0.25]
    assert roi["evidence"]["window_days"] == days
    assert roi["message"] == f"ROI realisation 0.25, 0.25, 0.25 (newest first) in the last 3 windows of {days} days"


def test_the_28_day_roi_series_is_the_same_through_the_hour_cache(store, strategy) -> None:
    end = DAY0 + DAY
    insert(store, _roi_rows(end, dt.timedelta(days=28), 3))

    def window_28d(cache: bool) -> dict[tuple[str, str], float | None]:
        values = compute(store, strategy, start=DAY0, end=end, granularity="day", cache=cache,
                         clock=lambda: end + 90 * DAY)  # every hour read, the 84 days before the end too, is closed
        return {(v.metric_id, v.labels_key): v.value for v in values if v.window == "28d"}

    cold, warm, uncached = window_28d(True), window_28d(True), window_28d(False)
    assert cold == warm == uncached
    # realisation 0.25 in each of the three 28-day windows (worked out above): the pitfall fires on every path
    assert warm[key("pitfall_active", pitfall="roi_miscalculation", automation="bot")] == 1.0
