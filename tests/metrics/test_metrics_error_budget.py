"""Error-budget burn of KPIs on event-share measures, worked out by hand.

A KPI measured as a share of events (here human reachability, target 0.9, and the packing
error rate, target 0.1 direction down) has an error budget: the share of events allowed to
miss the objective. The burn rate is the share that missed ÷ the budget; the evidence is
−log10 of the Chernoff bound exp(−n·D(q‖p)) of the chance that a business within budget
shows as many misses, D(q‖p) = q·ln(q/p) + (1−q)·ln((1−q)/(1−p)).
"""

from __future__ import annotations

import math

from alignwatch.metrics.formulas import budget_evidence

from .builders import at, day_values, execution, insert, make_strategy, touch


def key(metric: str, **labels: str) -> tuple[str, str]:
    return (metric, ",".join(f"{k}={labels[k]}" for k in sorted(labels)))


def test_reachability_kpi_burns_its_budget_at_the_share_of_missed_escalations_over_the_share_allowed(store) -> None:
    strategy = make_strategy()
    rows = []
    # 10 escalations on the chat: 4 reached a human within the 300 s SLA, 6 never did
    for n in range(10):
        reached = {"escalation_fulfilled_s": 60.0} if n < 4 else {}
        rows.append(touch(at(9 + n * 0.1), "chat", "automation", resolved=False, escalation_requested=True, **reached))
    insert(store, rows)
    values = day_values(store, strategy)
    # reachability 4/10 = 0.4; budget 1 - 0.9 = 0.1; missed 6/10 = 0.6; burn 0.6 / 0.1 = 6
    assert values[key("kpi_value", kpi="k_reach")] == 0.4
    assert math.isclose(values[key("kpi_burn_rate", kpi="k_reach")], 6.0)
    # evidence: q = 0.6, p = 0.1: D = 0.6 ln 6 + 0.4 ln(0.4/0.9) = 1.075056 - 0.324371 = 0.750685;
    # n D = 7.50685; / ln 10 = 3.2602
    assert math.isclose(values[key("kpi_burn_evidence", kpi="k_reach")], 3.2602, abs_tol=1e-4)
    # the floor (0.9 by default) has the same budget: same evidence, whatever the KPI filters
    assert math.isclose(values[key("human_reachability_floor_evidence")], 3.2602, abs_tol=1e-4)


def test_a_direction_down_kpi_burns_at_its_bad_share_over_its_target_and_within_budget_shows_no_evidence(store) -> None:
    strategy = make_strategy()
    # packing: 20 executions, 1 with errors: error rate 0.05 against the target 0.1 (direction down)
    insert(store, [execution(at(8 + n * 0.2), "pack", True, errors=1 if n == 0 else 0) for n in range(20)])
    values = day_values(store, strategy)
    # budget = target = 0.1; bad share 1/20 = 0.05; burn 0.5; within budget: evidence 0
    assert math.isclose(values[key("kpi_burn_rate", kpi="k_err")], 0.5)
    assert values[key("kpi_burn_evidence", kpi="k_err")] == 0.0
    # automation rate (target 0.8 up): all 20 automated, none missed: burn 0
    assert values[key("kpi_burn_rate", kpi="k_auto")] == 0.0


def test_kpis_on_other_measures_and_windows_without_events_have_no_burn(store) -> None:
    values = day_values(store, make_strategy())
    assert key("kpi_burn_rate", kpi="k_reach") not in values or values[key("kpi_burn_rate", kpi="k_reach")] is None
    assert key("kpi_burn_rate", kpi="k_csat") not in values  # csat is a mean, not a share of events
    assert values[key("human_reachability_floor_evidence")] is None


def test_the_evidence_of_every_event_missing_is_exact_and_a_few_misses_prove_little() -> None:
    # all 3 of 3 missed at a 5 % budget: P = 0.05^3 = 1.25e-4 -> 3.9031, the bound is exact there
    assert math.isclose(budget_evidence(3, 3, 0.05), -math.log10(0.05**3))
    # 1 of 10 missed at 5 %: q = 0.1, D = 0.1 ln 2 + 0.9 ln(0.9/0.95) = 0.069315 - 0.048661 = 0.020654;
    # 10 D / ln 10 = 0.0897, below the exact tail 1 - 0.95^10 = 0.401, whose -log10 is 0.397
    assert math.isclose(budget_evidence(1, 10, 0.05), 0.0897, abs_tol=1e-4)
    assert budget_evidence(1, 10, 0.05) <= -math.log10(1 - 0.95**10)
    assert budget_evidence(0, 10, 0.05) == 0.0
