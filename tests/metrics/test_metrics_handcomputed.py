"""Hand-computed fixtures: small event sets whose expected values are worked out in the comments.

Every test runs on SQLite and on PostgreSQL (the ``store`` fixture). The window is the day
2026-03-02 (UTC) unless said otherwise; values are read from the ``day`` window of
``compute(..., granularity="day")``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from alignwatch.metrics.card import KpiBelowTarget, KpiRegression
from alignwatch.metrics.engine import compute
from alignwatch.metrics.scorecard import build_scorecard
from alignwatch.store.schema import pipeline_runs

from .builders import (
    DAY0,
    STRATEGY,
    at,
    day_values,
    ev,
    execution,
    feedback,
    finance,
    insert,
    make_strategy,
    order,
    run,
    touch,
    usage,
    workforce,
)

DAY = dt.timedelta(days=1)


def key(metric: str, **labels: str) -> tuple[str, str]:
    return (metric, ",".join(f"{k}={labels[k]}" for k in sorted(labels)))


def test_an_empty_window_gives_no_data_for_every_ratio_and_index_not_zero(store, strategy) -> None:
    values = day_values(store, strategy)
    for metric in ("cjai", "spar", "aac", "sdur", "ssai", "human_reachability", "sai"):
        assert values[key(metric)] is None, metric
    for perspective in ("financial", "customer", "internal_process", "learning_growth"):
        assert values[key("perspective_score", perspective=perspective)] is None
    for kpi in ("k_csat", "k_reach", "k_auto", "k_sell", "k_err", "k_roi"):
        assert values[key("kpi_value", kpi=kpi)] is None
        assert values[key("kpi_events", kpi=kpi)] == 0.0
    assert values[key("escalations_requested")] == 0.0
    assert values[key("automation_failure_rate", automation="bot")] is None
    # no data: no detector is evaluated, so no pitfall value at all (not a silent 0)
    assert not [k for k in values if k[0] == "pitfall_active"]
    # checklist from the strategy alone: clear_strategy (3 goals) passed, process_assessment failed (bake has no
    # baseline), automation_linked_to_goals passed, prioritisation passed (bot, priority 1, serves critical pack),
    # pilot_projects failed (no pilot), team_involvement passed (declared yes), kpi_measurement failed (no data),
    # continuous_monitoring failed (no run published) -> 4 of 8
    assert values[key("checklist_readiness")] == 0.5


def test_spar_counts_critical_processes_among_those_with_a_succeeded_run(store, strategy) -> None:
    t = at(10)
    insert(store, [
        run(t, "bot", "pack"), run(t, "bot", "pack"), run(t, "bot", "pack"),
        run(t, "bot", "pack", "failed", manual_intervention=True),
        run(t, "oven", "bake"), run(t, "oven", "bake", "failed"),
        run(t, "bot", "ghost"),  # a process the strategy does not declare: not counted
        run(t, "oven", "books", "failed"),  # only a failed run: books is not automated
        ev("integration.issue", t, automation_id="bot", kind="sync_failure", records=3),
    ])
    values = day_values(store, strategy)
    # automated declared processes: pack and bake; critical among them: pack -> 1 / 2
    assert values[key("spar")] == 0.5
    # bot: 5 runs (4 pack + 1 ghost), 1 failed, 1 manual intervention -> 0.2 and 0.2; 1 issue per 5 runs -> 20 per 100
    assert values[key("automation_failure_rate", automation="bot")] == 0.2
    assert values[key("automation_manual_intervention_rate", automation="bot")] == 0.2
    assert values[key("automation_integration_issues", automation="bot")] == 20.0
    # oven: 3 runs (2 bake, 1 books), 2 failed -> 2/3
    assert values[key("automation_failure_rate", automation="oven")] == pytest.approx(2 / 3, abs=1e-9)


def test_spar_has_no_data_when_no_run_succeeded(store, strategy) -> None:
    insert(store, [run(at(1), "bot", "pack", "failed"), run(at(2), "oven", "bake", "failed")])
    values = day_values(store, strategy)
    assert values[key("spar")] is None
    assert values[key("automation_failure_rate", automation="bot")] == 1.0


def test_cjai_counts_strategic_touchpoints_mostly_automated_and_performing(store, strategy) -> None:
    t = at(9)
    insert(store, [
        # chat (strategic): 3 of 4 contacts by automation = 0.75 >= 0.6; automated first-contact resolution 2/3 >= 0.5
        touch(t, "chat", "automation"), touch(t, "chat", "automation"),
        touch(t, "chat", "automation", escalation_requested=True, escalation_fulfilled_s=120.0),
        touch(t, "chat", "human"),
        # phone (strategic): 1 of 2 by automation = 0.5 < 0.6; its escalation reached a human after 400 s > SLA 300 s
        touch(t, "phone", "automation", resolved=False, escalation_requested=True, escalation_fulfilled_s=400.0),
        touch(t, "phone", "human"),
        # shop: all automated but serves no goal -> not strategic
        touch(t, "shop", "automation"), touch(t, "shop", "automation"),
    ])
    values = day_values(store, strategy)
    # strategically automated: chat only, of 3 declared touchpoints -> 1/3
    assert values[key("cjai")] == pytest.approx(1 / 3, abs=1e-9)
    assert values[key("touchpoint_automation_share", touchpoint="chat")] == 0.75
    assert values[key("touchpoint_automation_share", touchpoint="phone")] == 0.5
    assert values[key("touchpoint_automation_share", touchpoint="shop")] == 1.0
    # escalations: chat (120 s, within SLA) and phone (400 s, not) -> 1 / 2
    assert values[key("human_reachability")] == 0.5
    assert values[key("escalations_requested")] == 2.0
    # k_reach is filtered on chat: 1 of 1 -> 1.0, attainment 1.0 / 0.9 clamped to 1
    assert values[key("kpi_value", kpi="k_reach")] == 1.0
    assert values[key("kpi_attainment", kpi="k_reach")] == 1.0


@pytest.mark.parametrize(("chat_csat", "expected"), [(3, 0.0), (4, 1 / 3)])
def test_cjai_drops_an_automated_touchpoint_whose_csat_trails_the_human_channel(store, strategy, chat_csat, expected) -> None:
    t = at(9)
    insert(store, [
        touch(t, "chat", "automation"), touch(t, "chat", "automation"), touch(t, "chat", "automation"),
        touch(t, "phone", "human"), touch(t, "phone", "human"),  # phone: human-handled, the reference CSAT
        feedback(t, touchpoint_id="chat", csat=chat_csat),
        feedback(t, touchpoint_id="phone", csat=4),
    ])
    # reference 4; tolerance 0.3: chat CSAT 3 < 3.7 -> not performing (0/3); CSAT 4 >= 3.7 -> 1/3
    assert day_values(store, strategy)[key("cjai")] == pytest.approx(expected, abs=1e-9)


def test_events_on_window_boundaries_belong_to_the_window_they_start(store, strategy) -> None:
    insert(store, [
        execution(DAY0, "pack", True),  # exactly at the start of the day: inside
        execution(DAY0 + DAY, "pack", False),  # exactly at the end: the next day's
    ])
    # this day: all automated -> 1.0; next day: none automated -> 0.0
    assert day_values(store, strategy)[key("process_automation_rate", process="pack")] == 1.0
    assert day_values(store, strategy, DAY0 + DAY)[key("process_automation_rate", process="pack")] == 0.0
    hours = compute(store, strategy, start=DAY0, end=DAY0 + dt.timedelta(hours=2), granularity="hour")
    first = {v.metric_id: v.value for v in hours if v.window == "hour" and v.window_start == DAY0 and v.labels == {"process": "pack"}}
    second = {v.metric_id: v.value for v in hours if v.window == "hour" and v.window_start == at(1) and v.labels == {"process": "pack"}}
    assert first["process_automation_rate"] == 1.0
    assert second["process_automation_rate"] is None  # no execution in 01:00-02:00: no data, not 0


def test_a_late_event_is_folded_in_when_its_window_is_recomputed(store, strategy) -> None:
    insert(store, [execution(at(8), "pack", True)])
    assert day_values(store, strategy)[key("process_automation_rate", process="pack")] == 1.0
    late = execution(at(12), "pack", False)
    late["ingested_at"] = DAY0 + 3 * DAY  # arrives two days after its window closed
    insert(store, [late])
    # 1 automated of 2 -> 0.5
    assert day_values(store, strategy)[key("process_automation_rate", process="pack")] == 0.5


def test_sdur_counts_produced_datasets_used_strategically(store, strategy) -> None:
    t = at(10)
    insert(store, [
        ev("data.produced", t, dataset_id="d1", automation_id="bot"),
        ev("data.produced", t, dataset_id="d2", automation_id="bot"),
        ev("data.used", t, dataset_id="d1", used_for="decision", strategic=True),
        ev("data.used", t, dataset_id="d1", used_for="decision", strategic=True),  # used twice: one dataset
        ev("data.used", t, dataset_id="d2", used_for="report", strategic=False),  # operational use: not counted
        ev("data.used", t, dataset_id="d9", used_for="decision", strategic=True),  # not produced by automation
    ])
    # d1 of {d1, d2} -> 0.5
    assert day_values(store, strategy)[key("sdur")] == 0.5


def test_ssai_needs_augmented_tasks_and_skill_development(store, strategy) -> None:
    t = at(11)
    insert(store, [
        workforce(t, "task", "e1", automation_id="bot", augmented=True, minutes_saved=10.0),
        workforce(t, "skill", "e1", skill="ops", kind="training"),
        workforce(t, "task", "e2", automation_id="bot", augmented=True, minutes_saved=20.0),
        workforce(t, "survey", "e3", satisfaction=4),
        workforce(t, "skill", "e4", skill="data", kind="certification"),
        workforce(t, "task", "e4", augmented=False, minutes_saved=0.0),
    ])
    values = day_values(store, strategy)
    # active employees e1..e4 = 4; augmented and skilled: e1 -> 0.25
    assert values[key("ssai")] == 0.25
    # 30 minutes saved / 4 employees = 7.5 in one day -> 225 per 30 days
    assert values[key("minutes_saved_per_employee")] == 225.0


def test_aac_takes_the_median_lead_time_from_initiative_to_reconfiguration(store) -> None:
    strategy = make_strategy(thresholds={"aac_target_lead_time_h": 100})
    start = dt.datetime(2026, 2, 20, tzinfo=dt.UTC)
    insert(store, [
        ev("strategy.initiative", start, initiative_id="i1", goal_ids=["g_ops"], started_at=start),
        ev("automation.reconfigured", at(12), automation_id="bot", initiative_id="i1", deployed_at=at(12)),
        ev("automation.reconfigured", at(6), automation_id="oven", initiative_id="i1", deployed_at=at(6)),
        ev("automation.reconfigured", at(7), automation_id="oven", initiative_id="i9", deployed_at=at(7)),
    ])
    values = day_values(store, strategy)
    # 2026-02-20 -> 2026-03-02 is 10 days: lead times 246 h and 252 h (i9 unknown: no lead time); median of the
    # two (an even count) = 249 h = 896400 s
    assert values[key("aac_lead_time")] == 896400.0
    # score = target 100 h / 249 h
    assert values[key("aac")] == pytest.approx(100 / 249, abs=1e-9)
    # 3 reconfigurations in one day -> 90 per 30 days
    assert values[key("aac_reconfigurations")] == 90.0


def test_feature_usage_adoption_and_manual_share_per_automation(store, strategy) -> None:
    t = at(14)
    insert(store, [
        usage(t, "bot", "a", "u1"), usage(t, "bot", "a", "u2"), usage(t, "bot", "b", "u1"),
        usage(t, "bot", "z", "u3"),  # z is not licensed
        execution(t, "pack", True), execution(t, "pack", False), execution(t, "pack", False), execution(t, "pack", False),
    ])
    values = day_values(store, strategy)
    # licensed a, b, c, d; used a, b -> 0.5; users u1, u2, u3 of 4 seats -> 0.75; pack manual 3 of 4 -> 0.75
    assert values[key("automation_feature_usage", automation="bot")] == 0.5
    assert values[key("automation_adoption", automation="bot")] == 0.75
    assert values[key("automation_manual_share", automation="bot")] == 0.75
    assert values[key("automation_feature_usage", automation="oven")] is None
    assert values[key("automation_adoption", automation="oven")] is None


def test_roi_and_roi_realisation_count_booked_costs_savings_and_revenue(store, strategy) -> None:
    t = at(15)
    insert(store, [
        finance(t, "cost", 100.0, "bot"), finance(t, "saving", 250.0, "bot"), finance(t, "revenue", 50.0, "bot"),
        run(t, "bot", "pack", cost=10.0),
        finance(t, "revenue", 999.0),  # not attributed to an automation
    ])
    values = day_values(store, strategy)
    # costs 100 + 10 = 110, gains 250 + 50 = 300: ROI = 190 / 110; projected 2.0 -> realisation 190 / 220
    assert values[key("automation_roi", automation="bot")] == pytest.approx(190 / 110, abs=1e-9)
    assert values[key("automation_roi_realisation", automation="bot")] == pytest.approx(190 / 220, abs=1e-9)
    assert values[key("kpi_value", kpi="k_roi")] == pytest.approx(190 / 220, abs=1e-9)
    assert values[key("kpi_attainment", kpi="k_roi")] == pytest.approx(190 / 220, abs=1e-9)
    assert values[key("automation_roi", automation="oven")] is None  # no cost booked: no data


def test_kpi_attainment_perspective_score_and_sai_with_renormalised_weights(store, strategy) -> None:
    t = at(16)
    insert(store, [
        execution(t, "pack", True), execution(t, "pack", True), execution(t, "pack", True),
        execution(t, "pack", False, errors=1),
    ])
    values = day_values(store, strategy)
    # k_auto = 3/4 -> attainment 0.75 / 0.8 = 0.9375; k_err = 1/4, baseline 0.3, target 0.1 (down):
    # (0.25 - 0.3) / (0.1 - 0.3) = 0.25; k_sell has no data
    assert values[key("kpi_attainment", kpi="k_auto")] == 0.9375
    assert values[key("kpi_attainment", kpi="k_err")] == 0.25
    assert values[key("kpi_attainment", kpi="k_sell")] is None
    # the three KPIs of g_ops weigh 1/3 each; mean of the two with data x 100 = 59.375
    assert values[key("perspective_score", perspective="internal_process")] == 59.375
    # the only SAI input with data: SAI = 59.375, all of it contributed by internal_process
    assert values[key("sai")] == 59.375
    assert values[key("sai_contribution", input="internal_process")] == 59.375

    insert(store, [run(t, "bot", "pack")])
    values = day_values(store, strategy)
    # SPAR = 1/1 -> score 100; default weights spar 0.15, internal_process 0.1 renormalised to 0.6 and 0.4:
    # SAI = 0.6 x 100 + 0.4 x 59.375 = 60 + 23.75 = 83.75
    assert values[key("sai")] == 83.75
    assert values[key("sai_contribution", input="spar")] == 60.0
    assert values[key("sai_contribution", input="internal_process")] == 23.75
    assert key("sai_contribution", input="cjai") not in values  # no data: no contribution


def _refund_decision(time: dt.datetime, case: str, region: str, outcome: str) -> dict[str, object]:
    return ev("automation.decision", time, automation_id="bot", process_id="pack", case_id=case, outcome=outcome,
              segments={"region": region})


ETHICS = {"oversight_owner": "owner", "decisions": [{"automation": "bot", "favourable": ["approved"],
                                                       "dimensions": ["region"], "min_sample": 2,
                                                       "reviewed": "2026-02-20"}]}


@pytest.mark.parametrize(("weight", "sai"), [
    # weight 0 (the default): SPAR is the only input with data, SAI = 100 as without an ethics section
    (0.0, 100.0),
    # weight 0.15 = spar's 0.15: renormalised to 0.5 each, SAI = 0.5 × 100 + 0.5 × 66.667 = 83.333
    (0.15, 50.0 + 100.0 / 3),
])
def test_the_ethics_score_is_the_share_of_checks_passed_and_weighs_into_the_sai_only_with_a_weight(
    store, weight: float, sai: float
) -> None:
    strategy = make_strategy(ethics=ETHICS, weights={"ethics": weight})
    t = at(10)
    insert(store, [run(t, "bot", "pack")])  # SPAR = 1/1: score 100
    # north 3 of 3 approved, south 0 of 3: parity 0 / 1 = 0 < 0.8; pooled 3/6 = 0.5,
    # z = 1 / sqrt(0.5 × 0.5 × (1/3 + 1/3)) = 1 / 0.4082 = 2.449 ≥ 1.96: a breach
    insert(store, [_refund_decision(t, f"N{n}", "north", "approved") for n in range(3)]
           + [_refund_decision(t, f"S{n}", "south", "declined") for n in range(3)])
    week = day_values(store, strategy, window="7d")
    # checks: parity by region failed; override rate 0 of 6 ≤ 0.2 on ≥ 2 decisions passed; oversight reviewed
    # 2026-02-20, 11 days before the window's end 2026-03-03, within 90 passed; nobody automated: no reskilling
    # check. Score = 100 × 2 / 3 = 66.667
    assert week[key("ethics_score")] == pytest.approx(200 / 3)
    assert week[key("sai")] == pytest.approx(sai)
    ethics_points = week.get(key("sai_contribution", input="ethics"))
    assert ethics_points == (pytest.approx(0.5 * 200 / 3) if weight else None)
    # on a day window nothing ethical is judged: the SAI is SPAR's alone whatever the weight
    assert day_values(store, strategy)[key("sai")] == 100.0
    # the scorecard of the same 7 days carries the score in its ethics block, and says whether it counts
    card = build_scorecard(store, strategy, DAY0 + DAY, window="7d")
    assert (card.ethics.score, card.ethics.weighted_into_sai) == (pytest.approx(200 / 3), weight > 0)
    ethics = card.to_dict()["ethics"]
    assert list(ethics) == ["weighted_into_sai", "start", "end", "parity", "agency", "reskilling", "staleness", "score"]
    assert (ethics["weighted_into_sai"], ethics["score"]) == (weight > 0, pytest.approx(200 / 3))


def test_checklist_items_from_data_strategy_and_declared_answers(store, strategy) -> None:
    t = at(10)
    insert(store, [
        feedback(t, csat=4),  # bot's KPI k_csat has data
        execution(t, "bake", True, units_out=10.0), order(t, units=5.0),  # oven's KPI k_sell has data
    ])
    with store.begin() as conn:
        conn.execute(pipeline_runs.insert().values(
            kind="manual", business="Test Shop", interval_start=DAY0 - DAY, interval_end=DAY0 - dt.timedelta(hours=1),
            started_at=DAY0, finished_at=DAY0, status="published"))
    values = day_values(store, strategy)
    expected = {"clear_strategy": 1.0, "process_assessment": 0.0, "automation_linked_to_goals": 1.0,
                "prioritisation": 1.0, "pilot_projects": 0.0, "team_involvement": 1.0, "kpi_measurement": 1.0,
                "continuous_monitoring": 1.0}
    for item, flag in expected.items():
        assert values[key("checklist_item_passed", item=item)] == flag, item
    assert values[key("checklist_readiness")] == 0.75  # 6 of 8


def test_declared_unknown_checklist_answer_has_no_value(store) -> None:
    strategy = make_strategy(checklist={"team_involvement": {"answer": "unknown", "evidence": "not asked"}})
    values = day_values(store, strategy)
    assert values[key("checklist_item_passed", item="team_involvement")] is None


def _pitfall_events(healthy: bool) -> list[dict]:
    t = at(13)
    end = DAY0 + DAY
    rows = [usage(t, "bot", "a" if not healthy else "abc"[i % 3], f"u{i % 4}") for i in range(20)]
    rows += [run(t, "bot", "pack", "failed" if (i < 4 and not healthy) else "succeeded") for i in range(20)]
    rows += [ev("integration.issue", t, automation_id="bot", kind="manual_reentry", records=1)
             for _ in range(0 if healthy else 2)]
    rows += [execution(t, "pack", healthy or i < 5, cycle=60.0) for i in range(20)]
    rows += [execution(t, "bake", True, units_out=10.0) for _ in range(20)]
    rows += [order(t, units=5.0 if not healthy else 9.0) for _ in range(20)]
    for week in range(3):
        moment = end - dt.timedelta(days=7 * week, hours=23)
        rows += [finance(moment, "cost", 100.0, "bot"), finance(moment, "saving", 150.0 if not healthy else 320.0, "bot")]
    return rows


def test_every_pitfall_detector_fires_on_its_planted_evidence(store, strategy) -> None:
    insert(store, _pitfall_events(healthy=False))
    assert not [k for k in day_values(store, strategy) if k[0] == "pitfall_active"]  # not judged on one day
    values = day_values(store, strategy, window="7d")  # the 7 days ending with the day: the same events
    fired = {k[1] for k, v in values.items() if k[0] == "pitfall_active" and v == 1.0}
    quiet = {k[1] for k, v in values.items() if k[0] == "pitfall_active" and v == 0.0}
    # bot: 1 of 4 features (0.25 < 0.5); 4 of 20 runs failed (0.2 > 0.15); 2 issues per 20 runs (10 > 5 per 100);
    # 15 of 20 pack executions manual (0.75 > 0.5); ROI (150 - 100) / 100 = 0.5 -> realisation 0.25 < 0.7 in each of
    # 3 weeks. oven: 100 units ordered of 200 baked -> sell-through 0.5 < 0.8
    assert fired == {
        "automation=bot,pitfall=feature_overload",
        "automation=bot,pitfall=process_mismatch",
        "automation=bot,pitfall=integration_issues",
        "automation=bot,pitfall=lack_of_user_adoption",
        "automation=bot,pitfall=roi_miscalculation",
        "automation=oven,pitfall=overproduction",
    }
    # evaluated and not firing: oven's process (no rework, all automated)
    assert {"automation=oven,pitfall=process_mismatch", "automation=oven,pitfall=lack_of_user_adoption"} <= quiet
    card = build_scorecard(store, strategy, DAY0 + DAY, window="1d").to_dict()
    overload = next(p for p in card["pitfalls"] if p["id"] == "feature_overload")
    assert overload["automation"] == "bot"
    assert overload["evidence"]["feature_usage"] == 0.25
    assert overload["threshold"] == {"feature_usage_min": 0.5}
    assert overload["severity"] == "warning"  # 0.25 is not below half the minimum
    roi = next(p for p in card["pitfalls"] if p["id"] == "roi_miscalculation")
    assert roi["severity"] == "critical"  # 0.25 < 0.7 / 2
    assert roi["evidence"]["roi_realisation_by_window"] == [0.25, 0.25, 0.25]


def test_no_pitfall_fires_on_healthy_evidence(store, strategy) -> None:
    insert(store, _pitfall_events(healthy=True))
    values = day_values(store, strategy, window="7d")
    evaluated = {k[1]: v for k, v in values.items() if k[0] == "pitfall_active"}
    # 3 of 4 features, 4 users of 4 seats, no failure, no issue, all automated, sell-through 180/200 = 0.9,
    # ROI (320 - 100) / 100 = 2.2 -> realisation 1.1
    assert evaluated and set(evaluated.values()) == {0.0}
    # evaluated: bot x (feature_overload, process_mismatch, integration_issues, lack_of_user_adoption,
    # roi_miscalculation) and oven x (process_mismatch, lack_of_user_adoption, overproduction) = 8
    assert len(evaluated) == 8


def test_regression_compares_the_last_week_with_the_three_before(store, strategy) -> None:
    end = DAY0 + DAY
    rows = [feedback(end - dt.timedelta(days=20, hours=i % 24), csat=5) for i in range(30)]
    rows += [feedback(end - dt.timedelta(days=3, hours=i % 24), csat=4) for i in range(30)]
    insert(store, rows)
    values = day_values(store, strategy, window="7d")
    # baseline 5.0, recent 4.0 (30 answers >= the minimum 30): (5 - 4) / 5 = 0.2 worse
    assert values[key("drift_regression", kpi="k_csat")] == 0.2
    assert values[key("drift_regression", kpi="k_auto")] is None


@pytest.mark.parametrize(("baseline_n", "recent_n"), [(30, 29), (29, 30)])
def test_regression_needs_the_minimum_sample_in_both_windows(store, strategy, baseline_n, recent_n) -> None:
    end = DAY0 + DAY
    rows = [feedback(end - dt.timedelta(days=20), csat=5) for _ in range(baseline_n)]
    rows += [feedback(end - dt.timedelta(days=3), csat=4) for _ in range(recent_n)]
    insert(store, rows)
    assert day_values(store, strategy, window="7d")[key("drift_regression", kpi="k_csat")] is None


def test_the_scorecard_carries_below_target_and_regression_as_records_rounded_as_stored(store, strategy) -> None:
    end = DAY0 + DAY
    rows = [feedback(end - dt.timedelta(days=20, hours=i % 24), csat=5) for i in range(30)]
    rows += [feedback(end - dt.timedelta(days=3, hours=i % 24), csat=4 if i < 10 else 3) for i in range(30)]
    insert(store, rows)
    drift = build_scorecard(store, strategy, end, window="7d").drift
    # the last 7 days: 10 answers of 4 and 20 of 3, CSAT (40 + 60) / 30 = 3.3333… (3.333333333 to 9 decimals),
    # below its target 4; the message is written from the exact value, to 4 decimals
    assert [s for s in drift if isinstance(s, KpiBelowTarget)] == [
        KpiBelowTarget("k_csat", 3.333333333, 4.0, 30.0, False, "KPI k_csat at 3.3333 against target 4")]
    # the 21 days before: 30 answers of 5; (5 - 3.3333…) / 5 = 0.3333… worse, above the threshold 0.15
    assert [s for s in drift if isinstance(s, KpiRegression)] == [
        KpiRegression("k_csat", 3.333333333, 5.0, 0.333333333, 0.15,
                      "KPI k_csat 33% worse over 7 days than the 21 days before")]


@pytest.mark.parametrize(("answers", "stale"), [
    # weekly CSAT 4.0, 3.5, 3.0, 2.5 (oldest first): attainment 1, 0.875, 0.75, 0.625 falls three weeks in a row;
    # SAI of the last week = customer perspective 62.5 >= 60 -> stale
    ([(4, 4), (3, 4), (3, 3), (2, 3)], 1.0),
    # the last week rises again: not falling for 3 weeks
    ([(4, 4), (3, 4), (3, 3), (4, 4)], 0.0),
])
def test_strategic_staleness_needs_high_alignment_and_outcomes_falling_week_after_week(store, strategy, answers, stale) -> None:
    end = DAY0 + DAY
    rows = []
    for weeks_back, pair in zip((3, 2, 1, 0), answers, strict=True):
        for answer in pair:
            rows.append(feedback(end - dt.timedelta(days=7 * weeks_back + 3), csat=answer))
    insert(store, rows)
    assert day_values(store, strategy, window="7d")[key("drift_strategic_staleness")] == stale


def test_priorities_rank_by_goal_weight_criticality_manual_volume_and_cost_with_ties_by_id(store) -> None:
    processes = [dict(p) for p in STRATEGY["processes"]]
    processes[2]["manual_cost_per_case"] = 3  # books
    strategy = make_strategy(processes=processes)
    t = at(10)
    insert(store, [execution(t, "pack", True), execution(t, "pack", True), execution(t, "pack", True),
                   execution(t, "pack", False)])
    card = build_scorecard(store, strategy, DAY0 + DAY, window="1d").to_dict()
    ranked = [(p["id"], p["score"]) for p in card["priorities"]]
    # goal shares: g_cust 2/4, g_ops 1/4, g_fin 1/4.
    # pack: 0.25 x 3 (critical) x (100 x 0.25 manual) x 2 = 37.5; books (candidate): 0.25 x 1 x 50 x 3 = 37.5 (a tie:
    # by id); bake: no volume declared -> 0
    assert ranked == [("books", 37.5), ("pack", 37.5), ("bake", 0.0)]


@pytest.mark.parametrize(("before", "during", "verdict"),
                         [(3, 4, "scale"), (4, 3, "stop"), (None, None, "not enough data")])
def test_pilot_verdict_from_pilot_versus_pre_pilot_kpi_attainment(store, before, during, verdict) -> None:
    automations = [dict(a) for a in STRATEGY["automations"]]
    automations[0].update(pilot=True, go_live="2026-02-15", pilot_end="2026-03-01")
    strategy = make_strategy(automations=automations)
    rows = []
    if before is not None:
        rows.append(feedback(dt.datetime(2026, 2, 10, tzinfo=dt.UTC), csat=before))
        rows.append(feedback(dt.datetime(2026, 2, 20, tzinfo=dt.UTC), csat=during))
    insert(store, rows)
    card = build_scorecard(store, strategy, DAY0, window="1d").to_dict()
    (pilot,) = card["pilots"]
    # k_csat attainment 3/4 = 0.75 vs 4/4 = 1.0: +0.25 -> scale; reversed -> stop; no data -> not enough data
    assert pilot["id"] == "bot"
    assert pilot["verdict"] == verdict


def _measures_strategy():
    measures = {
        "financial": ["roi", "roi_realisation", "cost_savings", "revenue", "automation_cost"],
        "customer": ["csat", "nps", "repeat_purchase_rate", "human_reachability", "first_contact_resolution"],
        "internal_process": ["cycle_time", "error_rate", "rework_rate", "throughput", "automation_rate", "sell_through"],
        "learning_growth": ["training_rate", "employee_satisfaction", "ssai", "minutes_saved_per_employee"],
    }
    filters = {"roi": {"automation": "bot"}, "roi_realisation": {"automation": "bot"},
               "human_reachability": {"touchpoint": "chat"}, "first_contact_resolution": {"touchpoint": "chat"},
               "sell_through": {"process": "bake"}}
    kpis, goals = [], []
    for perspective, names in measures.items():
        for name in names:
            kpis.append({"id": name, "name": name, "perspective": perspective, "unit": "u", "direction": "up",
                         "target": 1, "measure": name, "filters": filters.get(name, {"process": "pack"}
                         if perspective == "internal_process" else {})})
        goal_id = {"financial": "g_fin", "customer": "g_cust", "internal_process": "g_ops"}.get(perspective, "g_team")
        goals.append({"id": goal_id, "name": perspective, "perspective": perspective, "kpis": names})
    automations = [dict(a, kpis=[]) for a in STRATEGY["automations"]]
    return make_strategy(goals=goals, kpis=kpis, automations=automations)


def test_every_kpi_measure_on_a_hand_computed_day(store) -> None:
    strategy = _measures_strategy()
    t = at(10)
    insert(store, [
        finance(t, "cost", 100.0, "bot"), finance(t, "saving", 250.0, "bot"), finance(t, "revenue", 50.0, "bot"),
        run(t, "bot", "pack", cost=10.0),
        feedback(t, csat=5), feedback(t, csat=3, nps=10), feedback(t, nps=9), feedback(t, nps=7), feedback(t, nps=3),
        order(t, amount=10.0, repeat=True, units=4.0), order(t, amount=30.0, repeat=False, units=6.0),
        touch(t, "chat", "automation", escalation_requested=True, escalation_fulfilled_s=120.0),
        touch(t, "chat", "human", resolved=False, escalation_requested=True),
        touch(t, "chat", "automation"),
        execution(t, "pack", True, cycle=60.0, errors=1), execution(t, "pack", False, cycle=90.0, rework=2),
        execution(t, "bake", True, units_out=20.0),
        workforce(t, "task", "e1", automation_id="bot", augmented=True, minutes_saved=10.0),
        workforce(t, "skill", "e1", skill="ops", kind="training"),
        workforce(t, "task", "e2", augmented=True, minutes_saved=20.0),
        workforce(t, "survey", "e3", satisfaction=4),
        workforce(t, "skill", "e4", skill="data", kind="certification"),
        workforce(t, "survey", "e4", satisfaction=2),
    ])
    values = day_values(store, strategy)
    expected = {
        "roi": 190 / 110,  # (250 + 50 - 110) / 110
        "roi_realisation": 190 / 220,
        "cost_savings": 7500.0,  # 250 in one day x 30
        "revenue": 1200.0,  # orders 10 + 30 in one day x 30 (finance revenue of the bot is not the business's)
        "automation_cost": 3300.0,  # (100 + 10) x 30
        "csat": 4.0,  # (5 + 3) / 2
        "nps": 25.0,  # promoters 10, 9; detractor 3; passive 7: (2 - 1) / 4 x 100
        "repeat_purchase_rate": 0.5,
        "human_reachability": 0.5,  # chat escalations: 120 s (reached) and never
        "first_contact_resolution": 1 / 3,  # only the last chat contact resolved without escalation
        "cycle_time": 75.0,  # (60 + 90) / 2
        "error_rate": 0.5,
        "rework_rate": 0.5,
        "throughput": 2.0,  # 2 pack executions in 1 day
        "automation_rate": 0.5,
        "sell_through": 0.5,  # 10 units ordered / 20 baked
        "training_rate": 0.5,  # 2 skill events / 4 active employees
        "employee_satisfaction": 3.0,  # (4 + 2) / 2
        "ssai": 0.25,  # e1 of e1..e4
        "minutes_saved_per_employee": 225.0,  # 30 / 4 x 30
    }
    for kpi_id, value in expected.items():
        assert values[key("kpi_value", kpi=kpi_id)] == pytest.approx(value, abs=1e-9), kpi_id


def test_cycle_time_p90_is_the_linearly_interpolated_90th_percentile_of_each_process(store, strategy) -> None:
    # docs/metrics.md, cycle_time_p90 and Choices, Percentiles: sort the window's n cycle times x0 <= ... <= x(n-1),
    # h = (n - 1) * 0.9, value = x[floor h] + (h - floor h) * (x[floor h + 1] - x[floor h]).
    # pack, day 0: 60, 120, 180, 240, 600 (two of them in the same hour, automated or not alike):
    #   n = 5, h = 4 * 0.9 = 3.6, x3 = 240, x4 = 600 -> 240 + 0.6 * (600 - 240) = 240 + 216 = 456
    # bake, day 0: 30 and 90 (an even count): n = 2, h = 0.9, x0 = 30, x1 = 90 -> 30 + 0.9 * 60 = 84
    # books: no execution -> no data (not 0)
    # the next day's 10 000 s execution of pack lies outside the window and does not count
    insert(store, [
        execution(at(1), "pack", True, cycle=240.0), execution(at(1.5), "pack", False, cycle=60.0),
        execution(at(3), "pack", True, cycle=600.0), execution(at(9), "pack", True, cycle=180.0),
        execution(at(20), "pack", False, cycle=120.0),
        execution(at(2), "bake", False, cycle=90.0), execution(at(4), "bake", False, cycle=30.0),
        execution(at(2, DAY0 + DAY), "pack", True, cycle=10_000.0),
    ])
    values = day_values(store, strategy)
    assert values[key("cycle_time_p90", process="pack")] == pytest.approx(456.0)
    assert values[key("cycle_time_p90", process="bake")] == pytest.approx(84.0)
    assert values[key("cycle_time_p90", process="books")] is None
    # the mean beside it: (240 + 60 + 600 + 180 + 120) / 5 = 1200 / 5 = 240, well below the slow tail
    assert values[key("process_cycle_time", process="pack")] == pytest.approx(240.0)


def test_pilot_with_fewer_events_than_its_kpis_need_gets_not_enough_data_naming_the_threshold(store) -> None:
    automations = [dict(a) for a in STRATEGY["automations"]]
    automations[0].update(pilot=True, go_live="2026-02-15", pilot_end="2026-03-01")
    kpis = [dict(k, min_events=2) for k in STRATEGY["kpis"]]
    strategy = make_strategy(automations=automations, kpis=kpis)
    insert(store, [feedback(dt.datetime(2026, 2, 10, tzinfo=dt.UTC), csat=3),
                   feedback(dt.datetime(2026, 2, 20, tzinfo=dt.UTC), csat=4)])
    (pilot,) = build_scorecard(store, strategy, DAY0, window="1d").to_dict()["pilots"]
    # k_csat: 1 survey before and 1 during, its min_events 2; k_reach: no escalation at all
    assert pilot["verdict"] == "not enough data"
    assert "k_csat 1 before and 1 during, needs 2 each" in pilot["reason"]
    assert "k_reach 0 before and 0 during, needs 2 each" in pilot["reason"]
