"""A small strategy for rule tests: two KPIs on one goal, one automation."""

from __future__ import annotations

from types import SimpleNamespace as NS

from metrics.rules import RuleInputs, inputs_from_strategy
from metrics.rules import MetricNames

THRESHOLDS = {
    "regression_drop": 0.15,
    "regression_min_samples": 30,
    "sai_drop_points": 10,
    "human_reachability_floor": 0.9,
    "escalation_sla_s": 300,
    "staleness_sai_min": 60,
    "staleness_windows": 3,
}


def metric_names() -> MetricNames:
    return MetricNames(
        kpi_attainment="alignwatch_kpi_attainment_ratio",
        kpi_value="alignwatch_kpi_value",
        kpi_events="alignwatch_kpi_events",
        sai="alignwatch_index_sai_score",
        human_reachability="alignwatch_customer_human_reachability_ratio",
        human_reachability_events="alignwatch_customer_escalations_requested",
        pitfall="alignwatch_pitfall_active",
        regression="alignwatch_drift_regression",
        staleness="alignwatch_drift_strategic_staleness",
    )


def rule_inputs(business: str = "test") -> RuleInputs:
    strategy = NS(
        business=NS(name=business),
        goals=[NS(id="loyal", name="Loyal customers", kpis=["csat", "reach"])],
        kpis=[
            NS(id="csat", name="CSAT", perspective="customer", direction="up", unit="score", target=4.5,
               min_events=20, measure="csat"),
            NS(id="reach", name="Human reachability", perspective="customer", direction="up", unit="ratio",
               target=0.95, min_events=5, measure="human_reachability"),
        ],
        automations=[NS(id="chatbot", name="Chat bot", kpis=["csat"])],
        thresholds=THRESHOLDS,
    )
    return inputs_from_strategy(strategy, metric_names())
