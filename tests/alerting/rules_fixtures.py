"""A small strategy for rule tests: two KPIs on one goal, one automation that also decides about customers."""

from __future__ import annotations

from types import SimpleNamespace as NS

from alignwatch.metrics.rules import RuleInputs, inputs_from_strategy, metric_names

THRESHOLDS = {
    "regression_drop": 0.15,
    "regression_min_samples": 30,
    "sai_drop_points": 10,
    "human_reachability_floor": 0.9,
    "escalation_sla_s": 300,
    "staleness_sai_min": 60,
    "staleness_windows": 3,
}


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
        ethics=NS(decisions=[NS(automation="chatbot", parity_floor=0.8, min_sample=30, override_rate_max=0.2)]),
    )
    return inputs_from_strategy(strategy, metric_names())
