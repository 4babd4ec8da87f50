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


def dashboard_names() -> "DashboardNames":
    from metrics.dashboards import DashboardNames

    n = metric_names()
    return DashboardNames(
        sai=n.sai,
        indices=[("CJAI", "alignwatch_index_cjai_ratio"), ("SPAR", "alignwatch_index_spar_ratio")],
        perspective_score="alignwatch_scorecard_perspective_score",
        kpi_value=n.kpi_value,
        kpi_attainment=n.kpi_attainment,
        kpi_events=n.kpi_events,
        kpi_target="alignwatch_kpi_target",
        human_reachability=n.human_reachability,
        pitfall=n.pitfall,
        checklist="alignwatch_checklist_item_passed",
        readiness="alignwatch_checklist_readiness_ratio",
        snapshot_timestamp=n.snapshot_timestamp,
        last_run=n.last_run,
        validation_success=n.validation_success,
        validation_failed=n.validation_failed,
        quarantine="alignwatch_quarantine_messages",
        ingest_consumed="alignwatch_ingest_events_consumed_total",
        ingest_stored="alignwatch_ingest_events_stored_total",
        ingest_rejected="alignwatch_ingest_events_rejected_total",
        consumer_lag=n.consumer_lag,
        commit_latency="alignwatch_ingest_commit_latency_seconds",
    )
