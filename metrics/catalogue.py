"""The metric catalogue: every metric alignwatch computes, declared once.

A declaration (:class:`MetricDecl`) carries the id, help text, unit, direction, labels
with their allowed values, balanced-scorecard perspective, the formula that computes it
(``computed_by``: a step of :data:`alignwatch.metrics.formulas.FORMULAS`, resolved when
that module is imported; the prose ``formula`` is what the documentation shows), its
default thresholds (checked against :class:`alignwatch.metrics.strategy.Thresholds` when
the strategy model is imported), the dashboards that chart it and the alerts that read it.

Everything else is derived from here: the served name (:func:`served_name`, the one naming
function), the exporter's families, the alert rules, the dashboards, the ``metric_values``
expectation suite and ``docs/metrics.md`` (:func:`render_docs`; a test checks it is
current). ``docs/adding-a-metric.md`` walks through adding one.

This module imports nothing of the project but the vocabulary and the errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from alignwatch.errors import ConfigError
from alignwatch.vocabulary import (
    BASE_UNITS,
    CHECKLIST,
    IDENTITY_LABELS,
    NAMESPACE,
    PERSPECTIVES,
    PITFALLS,
    SAI_INPUTS,
    SUFFIXED_UNITS,
    MetricDirection,
    Unit,
)

if TYPE_CHECKING:
    # the strategy model reads the catalogue when it validates: only its type is needed here
    from alignwatch.metrics.strategy import Strategy

__all__ = [
    "CATALOGUE",
    "PANEL_GROUPS",
    "PITFALLS",
    "SAI_INPUTS",
    "Label",
    "MetricDecl",
    "allowed_label_values",
    "label_names",
    "render_docs",
    "served_name",
    "served_scale",
]


@dataclass(frozen=True)
class Label:
    """A label and where its values come from: a fixed tuple or the strategy's ids."""

    name: str
    values: tuple[str, ...] = ()
    from_strategy: str = ""  # "automations", "processes", "journey", "kpis", "ethics.decisions" or "ethics.dimensions"

    def allowed(self, strategy: Strategy) -> tuple[str, ...]:
        """The values this label may take for ``strategy``."""
        if self.from_strategy == "ethics.decisions":
            return tuple(d.automation for d in strategy.ethics.decisions)
        if self.from_strategy == "ethics.dimensions":
            return tuple(sorted({dim for d in strategy.ethics.decisions for dim in d.dimensions}))
        if self.from_strategy:
            return tuple(item.id for item in getattr(strategy, self.from_strategy))
        return self.values

    @property
    def source(self) -> str:
        """How the documentation names the allowed values."""
        if self.from_strategy == "ethics.decisions":
            return "automations of `ethics.decisions` in the strategy"
        if self.from_strategy == "ethics.dimensions":
            return "`dimensions` of `ethics.decisions` in the strategy"
        if self.from_strategy:
            return f"ids of `{self.from_strategy}` in the strategy"
        return ", ".join(f"`{v}`" for v in self.values)


AUTOMATION = Label("automation", from_strategy="automations")
PROCESS = Label("process", from_strategy="processes")
TOUCHPOINT = Label("touchpoint", from_strategy="journey")
KPI = Label("kpi", from_strategy="kpis")
DECIDING = Label("automation", from_strategy="ethics.decisions")
DIMENSION = Label("dimension", from_strategy="ethics.dimensions")

#: panels of the dashboards that chart a group of metrics, one query per declaration
#: naming it in ``panel`` (in catalogue order): panel key -> what the panel shows
PANEL_GROUPS: dict[str, str] = {
    "processes": "a table of the process metrics (7 days)",
    "cycle_time": "the process cycle times (7 days)",
    "detectors": "a table of what the pitfall detectors read, per automation (7 days)",
}


@dataclass(frozen=True)
class MetricDecl:
    """One metric: everything the engine, exporter, rules, dashboards and docs need."""

    id: str
    subsystem: str
    help: str
    unit: Unit
    direction: MetricDirection
    formula: str  # the definition the documentation shows
    sources: tuple[str, ...] = ()
    labels_decl: tuple[Label, ...] = ()
    perspective: str | None = None
    thresholds: Mapping[str, float] = field(default_factory=dict)
    name: str = ""  # the Prometheus name part; defaults to the id
    required: bool = False  # the ``metric_values`` suite fails a run that did not compute it
    computed_by: str = ""  # the step of ``formulas.FORMULAS`` that adds its values
    distributions: tuple[str, ...] = ()  # distributions (``aggregates.DISTRIBUTIONS``) its formula reads
    panel: str = ""  # a dashboard panel that charts a group of metrics (see PANEL_GROUPS), when it is in one
    legend: str = ""  # its legend in that panel, after the label
    alerts: tuple[str, ...] = ()  # names of the alerts (rule files) that read it

    @property
    def labels(self) -> tuple[str, ...]:
        """The label names (the exporter adds ``business`` and ``window``)."""
        return tuple(label.name for label in self.labels_decl)

    @property
    def is_ratio(self) -> bool:
        return self.unit == "ratio"

    @property
    def is_score(self) -> bool:
        return self.unit == "score"


_RUN = ("automation.run",)
_EXEC = ("process.execution",)
_TOUCH = ("customer.touchpoint",)
_FEEDBACK = ("customer.feedback",)
_WORK = ("workforce.task", "workforce.skill", "workforce.survey")
_FIN = ("finance.entry", "automation.run")
_DECISION = ("automation.decision",)

_DECLS: tuple[MetricDecl, ...] = (
    # ------------------------------------------------------------------ indices
    MetricDecl(
        "cjai", "index",
        "Customer Journey Automation Index: share of the journey's declared touchpoints that are strategically automated.",
        "ratio", "up",
        "touchpoints that are strategic (linked to a goal), handled by automation in at least "
        "`cjai_automation_share` of their interactions and performing ÷ declared touchpoints. Performing: automated "
        "first-contact resolution ≥ `cjai_resolution_min` and the touchpoint's CSAT not below the human-handled "
        "touchpoints' CSAT by more than `cjai_csat_tolerance` (no CSAT at the touchpoint: not held against it). "
        "No touchpoint interaction in the window: no data.",
        _TOUCH + _FEEDBACK, perspective="customer",
        thresholds={"cjai_automation_share": 0.6, "cjai_csat_tolerance": 0.3, "cjai_resolution_min": 0.5},
        computed_by="cjai",
    ),
    MetricDecl(
        "touchpoint_automation_share", "journey",
        "Share of a touchpoint's interactions handled by automation.",
        "ratio", "none", "interactions with handled_by = automation ÷ interactions at the touchpoint",
        _TOUCH, (TOUCHPOINT,), perspective="customer", name="touchpoint_automation_share",
        computed_by="cjai",
    ),
    MetricDecl(
        "spar", "index",
        "Strategic Process Automation Ratio: critical processes among the automated ones.",
        "ratio", "up",
        "declared processes of criticality `critical` with at least one succeeded automation.run ÷ declared "
        "processes with at least one succeeded automation.run (none automated: no data)",
        _RUN, perspective="internal_process",
        computed_by="spar",
    ),
    MetricDecl(
        "aac_lead_time", "index",
        "Adaptive Automation Capacity: median lead time from a strategy initiative to each automation reconfigured for it.",
        "seconds", "down",
        "median of deployed_at − started_at over automation.reconfigured events in the window whose initiative is known",
        ("automation.reconfigured", "strategy.initiative"), perspective="learning_growth",
        thresholds={"aac_target_lead_time_h": 336},
        computed_by="aac",
    ),
    MetricDecl(
        "aac_reconfigurations", "index",
        "Adaptive Automation Capacity: automation reconfigurations per 30 days.",
        "per_30d", "up", "automation.reconfigured events in the window × 30 days ÷ window length",
        ("automation.reconfigured",), perspective="learning_growth",
        computed_by="aac",
    ),
    MetricDecl(
        "aac", "index",
        "Adaptive Automation Capacity score: target lead time ÷ median lead time, capped at 1.",
        "ratio", "up", "min(1, aac_target_lead_time_h × 3600 ÷ aac_lead_time); no reconfiguration: no data",
        ("automation.reconfigured", "strategy.initiative"), perspective="learning_growth",
        thresholds={"aac_target_lead_time_h": 336},
        computed_by="aac",
    ),
    MetricDecl(
        "sdur", "index",
        "Strategic Data Utilization Rate: automation-produced datasets used strategically.",
        "ratio", "up",
        "datasets produced by an automation (data.produced) in the window and used strategically in the window "
        "(data.used with strategic = true, for a decision or a report) ÷ datasets produced in the window. Seed: "
        "\"Percentage of automation-generated data actively utilized for strategic decision-making and insights\"",
        ("data.produced", "data.used"), perspective="learning_growth",
        computed_by="sdur",
    ),
    MetricDecl(
        "ssai", "index",
        "Strategic Skill Augmentation Index: employees with augmented tasks and skill development.",
        "ratio", "up",
        "employees with an augmented workforce.task and a workforce.skill event in the window ÷ active employees "
        "(any workforce event in the window)",
        _WORK, perspective="learning_growth",
        computed_by="ssai",
    ),
    MetricDecl(
        "minutes_saved_per_employee", "workforce",
        "Minutes saved by automation per active employee, per 30 days.",
        "minutes", "up", "Σ workforce.task minutes_saved ÷ active employees × 30 days ÷ window length",
        _WORK, perspective="learning_growth",
        computed_by="ssai",
    ),
    # ------------------------------------------------------------------ automations
    MetricDecl(
        "automation_roi", "automation",
        "Realised return on investment of an automation: (savings + revenue − costs) ÷ costs.",
        "factor", "up",
        "(Σ finance.entry saving + revenue of the automation − costs) ÷ costs, costs = Σ finance.entry cost of the "
        "automation + Σ automation.run cost (no cost booked: no data)",
        _FIN, (AUTOMATION,), perspective="financial",
        computed_by="automations",
    ),
    MetricDecl(
        "automation_roi_realisation", "automation",
        "ROI realisation of an automation: realised ROI ÷ the ROI projected in the strategy.",
        "factor", "up", "automation_roi ÷ projected_roi (projected_roi ≤ 0 or no cost: no data)",
        _FIN, (AUTOMATION,), perspective="financial", thresholds={"roi_realisation_min": 0.7},
        computed_by="automations",
    ),
    MetricDecl(
        "automation_feature_usage", "automation",
        "Licensed features of an automation used in the window.",
        "ratio", "up", "distinct features in feature.usage of the automation that are licensed ÷ features licensed",
        ("feature.usage",), (AUTOMATION,), thresholds={"feature_usage_min": 0.5},
        computed_by="automations", panel="detectors", legend="features used",
    ),
    MetricDecl(
        "automation_adoption", "automation",
        "Seats of an automation in use: distinct active users ÷ seats (capped at 1).",
        "ratio", "up",
        "distinct users in feature.usage and employees in workforce.task of the automation ÷ seats (no seats: no data)",
        ("feature.usage", "workforce.task"), (AUTOMATION,), thresholds={"adoption_min": 0.6},
        computed_by="automations", panel="detectors", legend="adoption",
    ),
    MetricDecl(
        "automation_manual_share", "automation",
        "Share of the eligible cases of an automation's processes still done by hand.",
        "ratio", "down", "process.execution of the automation's processes with automated = false ÷ executions",
        _EXEC, (AUTOMATION,), thresholds={"manual_share_max": 0.5},
        computed_by="automations", panel="detectors", legend="manual share",
    ),
    MetricDecl(
        "automation_failure_rate", "automation",
        "Failed runs of an automation.", "ratio", "down", "automation.run failed ÷ runs",
        _RUN, (AUTOMATION,), thresholds={"failure_rate_max": 0.15},
        computed_by="automations", panel="detectors", legend="failure rate",
    ),
    MetricDecl(
        "automation_manual_intervention_rate", "automation",
        "Runs of an automation that needed a manual intervention.",
        "ratio", "down", "automation.run with manual_intervention ÷ runs",
        _RUN, (AUTOMATION,), thresholds={"manual_intervention_max": 0.2},
        computed_by="automations", panel="detectors", legend="manual intervention",
    ),
    MetricDecl(
        "automation_integration_issues", "automation",
        "Integration issues (manual re-entry, sync failures, export/import) per 100 runs of an automation.",
        "per_100_runs", "down", "integration.issue events × 100 ÷ automation.run events (no run: no data)",
        ("integration.issue", "automation.run"), (AUTOMATION,),
        thresholds={"integration_issues_per_100_runs_max": 5},
        computed_by="automations", panel="detectors", legend="integration issues / 100 runs",
    ),
    # ------------------------------------------------------------------ processes
    MetricDecl(
        "process_automation_rate", "process", "Executions of a process done by automation.",
        "ratio", "up", "process.execution with automated = true ÷ executions", _EXEC, (PROCESS,),
        perspective="internal_process",
        computed_by="processes", panel="processes", legend="automation rate",
    ),
    MetricDecl(
        "process_error_rate", "process", "Executions of a process with at least one error.",
        "ratio", "down", "process.execution with errors > 0 ÷ executions", _EXEC, (PROCESS,),
        perspective="internal_process",
        computed_by="processes", panel="processes", legend="error rate",
    ),
    MetricDecl(
        "process_rework_rate", "process", "Executions of a process that needed rework.",
        "ratio", "down", "process.execution with rework > 0 ÷ executions", _EXEC, (PROCESS,),
        perspective="internal_process", thresholds={"rework_rate_max": 0.1},
        computed_by="processes", panel="processes", legend="rework rate",
    ),
    MetricDecl(
        "process_cycle_time", "process", "Mean cycle time of a process's executions.",
        "seconds", "down", "Σ cycle_time_s ÷ process.execution", _EXEC, (PROCESS,),
        perspective="internal_process",
        computed_by="processes", panel="cycle_time",
    ),
    MetricDecl(
        "cycle_time_p90", "process", "90th percentile of the cycle times of a process's executions: the slow tail a mean hides.",
        "seconds", "down",
        "the 0.9 quantile of the process.execution cycle_time_s of the process in the window, by linear interpolation "
        "between the closest ranks (see Choices, Percentiles); no execution: no data",
        _EXEC, (PROCESS,), perspective="internal_process",
        computed_by="cycle_time_p90", distributions=("cycle_time",), panel="cycle_time", legend="p90",
    ),
    MetricDecl(
        "process_sell_through", "process",
        "Units ordered per unit a process produced (over-production when low).",
        "factor", "up", "Σ customer.order units ÷ Σ process.execution units_out of the process (no output: no data)",
        _EXEC + ("customer.order",), (PROCESS,), perspective="internal_process",
        thresholds={"sell_through_min": 0.8},
        computed_by="processes", panel="processes", legend="sell-through",
    ),
    # ------------------------------------------------------------------ customer
    MetricDecl(
        "human_reachability", "customer",
        "Customers who asked for a human and reached one within the SLA.",
        "ratio", "up",
        "customer.touchpoint escalations fulfilled within `escalation_sla_s` ÷ escalations requested (none: no data)",
        _TOUCH, perspective="customer", thresholds={"human_reachability_floor": 0.9, "escalation_sla_s": 300},
        computed_by="human_reachability", alerts=("AlignwatchHumanReachabilityBelowFloor",),
    ),
    MetricDecl(
        "escalations_requested", "customer", "Escalations to a human requested by customers.",
        "count", "none", "customer.touchpoint with escalation_requested", _TOUCH, perspective="customer",
        computed_by="human_reachability",
    ),
    MetricDecl(
        "human_reachability_floor_evidence", "customer",
        "Evidence that human reachability is below the strategy's floor: −log10 of the chance that a business at the "
        "floor would leave as many escalations unreached (3: one in a thousand).",
        "factor", "up",
        "as kpi_burn_evidence, with bad = escalations requested − fulfilled within the SLA, n = escalations "
        "requested and budget = 1 − `human_reachability_floor` (no escalation: no data)",
        _TOUCH, perspective="customer",
        computed_by="human_reachability", alerts=("AlignwatchHumanReachabilityBelowFloor",),
    ),
    # ------------------------------------------------------------------ ethics and human agency (7d and 28d windows)
    MetricDecl(
        "ethics_parity_ratio", "ethics",
        "Outcome parity of a decision-making automation along a segment dimension: the lowest segment's favourable "
        "rate ÷ the highest's (the four-fifths convention reads it against 0.8).",
        "ratio", "up",
        "over the segments with at least `min_sample` decisions (one decision per automation and case): lowest "
        "favourable rate ÷ highest favourable rate, favourable = an outcome of the decision entry's `favourable`; "
        "fewer than two such segments: no data; emitted on the 7d and 28d windows",
        _DECISION, (DECIDING, DIMENSION), thresholds={"parity_floor": 0.8},
        computed_by="ethics",
        alerts=("AlignwatchEthicsParityBelowFloor",),
    ),
    MetricDecl(
        "ethics_parity_breach", "ethics",
        "1 when the parity ratio is below the decision entry's floor and the gap is significant at the sample "
        "sizes, 0 when it is not; no value without a verdict.",
        "flag", "down",
        "parity ratio < `parity_floor` and the two-proportion z-test of the highest against the lowest rate is "
        "significant at 95 % (|z| ≥ 1.96); no parity ratio: no data",
        _DECISION, (DECIDING, DIMENSION),
        computed_by="ethics",
        alerts=("AlignwatchEthicsParityBelowFloor",),
    ),
    MetricDecl(
        "ethics_decisions", "ethics", "Decisions of a decision-making automation in the window (one per case).",
        "count", "none", "automation.decision cases of the automation", _DECISION, (DECIDING,),
        computed_by="ethics",
        alerts=("AlignwatchEthicsOverrideRateHigh",),
    ),
    MetricDecl(
        "ethics_override_rate", "ethics",
        "Decisions of an automation that a person reversed: a signal that it decides wrongly.",
        "ratio", "down", "decisions overridden ÷ decisions (no decision: no data)",
        _DECISION, (DECIDING,), thresholds={"override_rate_max": 0.2, "min_sample": 30},
        computed_by="ethics",
        alerts=("AlignwatchEthicsOverrideRateHigh",),
    ),
    MetricDecl(
        "ethics_appeal_rate", "ethics",
        "Decisions of an automation that the customer appealed: a signal that it decides wrongly.",
        "ratio", "down", "decisions appealed ÷ decisions (no decision: no data)",
        _DECISION, (DECIDING,),
        computed_by="ethics",
    ),
    MetricDecl(
        "ethics_oversight_age", "ethics",
        "Time since the declared owner last reviewed a decision-making automation (served in seconds; days × 86400).",
        "seconds", "down",
        "days from the decision entry's `reviewed` date to the window's end × 86400; never reviewed: no data "
        "(ethics_oversight_overdue says so)",
        (), (DECIDING,), thresholds={"review_every_days": 90},
        computed_by="ethics",
    ),
    MetricDecl(
        "ethics_oversight_overdue", "ethics",
        "1 when a decision-making automation was never reviewed or its last review is older than its cadence.",
        "flag", "down", "never reviewed, or days since `reviewed` > `review_every_days` (the entry's, else the section's)",
        (), (DECIDING,),
        computed_by="ethics",
    ),
    MetricDecl(
        "ethics_reskilling_coverage", "ethics",
        "Employees whose tasks were automated who received training, a certification or a new responsibility within "
        "the committed delay.",
        "ratio", "up",
        "employees reskilled (workforce.skill) within `ethics.workforce.training_within_days` of their first automated "
        "workforce.task ÷ (reskilled + displaced); those still within the delay are left out; nobody judged: no data",
        ("workforce.task", "workforce.skill"),
        computed_by="ethics",
    ),
    MetricDecl(
        "ethics_displaced", "ethics",
        "Employees whose tasks were automated and who were not reskilled within the committed delay.",
        "count", "down",
        "employees with an automated workforce.task, no workforce.skill within `ethics.workforce.training_within_days` "
        "of it, the delay passed by the window's end",
        ("workforce.task", "workforce.skill"), name="displaced_employees",
        computed_by="ethics",
    ),
    MetricDecl(
        "ethics_score", "ethics",
        "Ethics and human agency score, 0..100: the share of the ethics checks that pass (an SAI input, at weight "
        "`weights.ethics`, 0 by default).",
        "score", "up",
        "100 × checks passed ÷ checks with a verdict: per automation and dimension with a parity ratio, no parity "
        "breach; per decision-making automation with at least `min_sample` decisions, override rate ≤ "
        "`override_rate_max`; per decision-making automation, oversight not overdue; once someone was judged for "
        "reskilling, nobody displaced. No check with a verdict: no data; emitted on the 7d and 28d windows",
        _DECISION + ("workforce.task", "workforce.skill"),
        computed_by="ethics",
    ),
    # ------------------------------------------------------------------ KPIs and scorecard
    MetricDecl(
        "kpi_value", "kpi", "Value of a strategy KPI, in the KPI's own unit (see the strategy).",
        "kpi", "none", "the KPI's measure over its filtered events (see the measure table)", (), (KPI,),
        computed_by="kpis",
    ),
    MetricDecl(
        "kpi_events", "kpi", "Events behind a KPI's value in the window (the minimum-event guard reads it).",
        "count", "none", "events counted by the KPI's measure denominator", (), (KPI,),
        computed_by="kpis", alerts=("AlignwatchKPIBelowTarget",),
    ),
    MetricDecl(
        "kpi_attainment", "kpi", "Attainment of a KPI against its target, 0..1.",
        "ratio", "up",
        "with a baseline: progress from baseline to target, (value − baseline) ÷ (target − baseline) (reversed for "
        "direction down); without: value ÷ target (up) or target ÷ value (down); clamped to [0, 1]",
        (), (KPI,),
        computed_by="kpis", alerts=("AlignwatchKPIBelowTarget",),
    ),
    MetricDecl(
        "kpi_burn_rate", "kpi",
        "Error-budget burn rate of a KPI on an event-share measure: the share of its events that miss the objective "
        "÷ the share its target allows (1 spends the budget exactly, over any window).",
        "factor", "down",
        "for KPIs on an event-share measure (human_reachability, first_contact_resolution, repeat_purchase_rate, "
        "error_rate, rework_rate, automation_rate): (bad events ÷ events) ÷ budget, where budget = 1 − target "
        "(direction up) or target (down), and bad events = events × (1 − value) (up) or events × value (down); "
        "other measures, no event, or a target leaving no budget: no data",
        (), (KPI,),
        computed_by="kpis", alerts=("AlignwatchKPIErrorBudgetBurn",),
    ),
    MetricDecl(
        "kpi_burn_evidence", "kpi",
        "Evidence that a KPI burns its error budget faster than allowed: −log10 of the chance that events within "
        "budget would show as many misses (3: one in a thousand).",
        "factor", "up",
        "n · D(bad ÷ n ‖ budget) ÷ ln 10 when bad ÷ n > budget, else 0: −log10 of the Chernoff bound of the binomial "
        "tail P(X ≥ bad | n events, miss chance = budget), never above the exact value, exact when every event "
        "missed; KPIs as kpi_burn_rate",
        (), (KPI,),
        computed_by="kpis", alerts=("AlignwatchKPIErrorBudgetBurn",),
    ),
    MetricDecl(
        "perspective_score", "scorecard", "Balanced-scorecard perspective score, 0..100.",
        "score", "up",
        "100 × weighted mean of the attainments of the perspective's judged KPIs: a KPI is judged in a window when "
        "it has a value resting on at least its `min_events` events (fewer: its value and attainment are shown, "
        "marked not judged, and left out of the score and so of the SAI); no judged KPI: no data. A KPI's weight is "
        "Σ over the goals listing it of goal weight ÷ the goal's number of KPIs (KPIs of no goal: weight of the "
        "smallest goal share)",
        (), (Label("perspective", PERSPECTIVES),),
        computed_by="perspectives", required=True,
    ),
    MetricDecl(
        "sai", "index", "Strategic Alignment Index, 0..100.",
        "score", "up",
        "Σ over the inputs with data of weight ÷ (Σ weights of the inputs with data) × input score (indices × 100, "
        "perspective scores as they are): weights are renormalised over the inputs that have data",
        computed_by="sai", alerts=("AlignwatchSAIDrop",), required=True,
    ),
    MetricDecl(
        "sai_contribution", "index", "Points each input contributes to the Strategic Alignment Index (they sum to it).",
        "score", "none", "renormalised weight of the input × its score on 0..100", (),
        (Label("input", SAI_INPUTS),),
        computed_by="sai",
    ),
    # ------------------------------------------------------------------ checklist, pitfalls, drift
    MetricDecl(
        "checklist_item_passed", "checklist",
        "Strategic alignment checklist item: 1 passed, 0 failed, no value when unknown.",
        "flag", "up", "from the data and the strategy where they decide it, else from the declared answer",
        (), (Label("item", CHECKLIST),),
        computed_by="checklist",
    ),
    MetricDecl(
        "checklist_readiness", "checklist", "Readiness: checklist items passed ÷ 8.",
        "ratio", "up", "items passed ÷ 8",
        computed_by="checklist", required=True,
    ),
    MetricDecl(
        "pitfall_active", "pitfall",
        "1 when a pitfall detector fires for an automation, 0 when it was evaluated and did not (7d and 28d windows).",
        "flag", "down", "see the pitfall table", (),
        (Label("pitfall", PITFALLS), AUTOMATION), thresholds={"pitfall_min_events": 20},
        computed_by="pitfalls", alerts=("AlignwatchPitfallDetected",),
    ),
    MetricDecl(
        "drift_regression", "drift",
        "Relative worsening of a KPI over the last 7 days against the 21 days before (positive: worse).",
        "factor", "down",
        "(baseline − recent) ÷ |baseline| for direction up, (recent − baseline) ÷ |baseline| for down; only when "
        "the recent and the baseline windows have at least `regression_min_samples` events each; emitted on the 7d window",
        (), (KPI,), thresholds={"regression_drop": 0.15, "regression_min_samples": 30},
        computed_by="drift", alerts=("AlignwatchKPIRegression",),
    ),
    MetricDecl(
        "drift_strategic_staleness", "drift",
        "1 when the SAI is high while the outcome KPIs fell for consecutive weeks: the strategy may be stale.",
        "flag", "down",
        "SAI of the window ≥ `staleness_sai_min` and the mean attainment of the financial and customer KPIs fell in "
        "each of the last `staleness_windows` weeks (at most 3: four weeks compared); emitted on the 7d window",
        (), thresholds={"staleness_sai_min": 60, "staleness_windows": 3},
        computed_by="drift", alerts=("AlignwatchStrategicStaleness",),
    ),
)

CATALOGUE: dict[str, MetricDecl] = {}
for _decl in _DECLS:
    if _decl.id in CATALOGUE:
        raise ConfigError(f"metric catalogue: duplicate id {_decl.id!r}")
    if not _decl.computed_by:
        raise ConfigError(f"metric catalogue: {_decl.id}.computed_by: no formula named")
    if _decl.panel and _decl.panel not in PANEL_GROUPS:
        raise ConfigError(f"metric catalogue: {_decl.id}.panel: unknown panel {_decl.panel!r}")
    CATALOGUE[_decl.id] = _decl


def allowed_label_values(decl: MetricDecl, strategy: Strategy) -> dict[str, tuple[str, ...]]:
    """Label name -> the values it may take for ``strategy``."""
    return {label.name: label.allowed(strategy) for label in decl.labels_decl}


# ---------------------------------------------------------------------------- naming


def served_name(decl: MetricDecl | str) -> str:
    """The name a metric is served under: ``alignwatch_<subsystem>_<name>_<unit>``.

    The one naming function: the exporter serves it, the rules and dashboards query it and
    ``docs/metrics.md`` documents it. Base units: a unit Prometheus does not accept in a
    name is served converted (:data:`alignwatch.vocabulary.BASE_UNITS`; values times
    :func:`served_scale`), e.g. ``minutes_saved_per_employee`` in minutes is served as
    ``alignwatch_workforce_time_saved_per_employee_seconds``. Ratios, scores and the units
    of :data:`alignwatch.vocabulary.SUFFIXED_UNITS` end the name; factors, flags, counts and
    KPI values carry no suffix.
    """
    decl = CATALOGUE[decl] if isinstance(decl, str) else decl
    name = decl.name or decl.id
    prefix = f"{decl.subsystem}_"
    if name.startswith(prefix):
        name = name[len(prefix):]
    base = BASE_UNITS.get(decl.unit)
    if base is not None:
        stem = name[: -len(decl.unit) - 1] if name.endswith(f"_{decl.unit}") else name
        return "_".join((NAMESPACE, decl.subsystem, stem.replace(decl.unit, base.word), base.suffix))
    parts = [NAMESPACE, decl.subsystem, name]
    if decl.unit in SUFFIXED_UNITS and not name.endswith(decl.unit):
        parts.append(decl.unit)
    return "_".join(parts)


def served_scale(decl: MetricDecl | str) -> float:
    """The factor from the unit a metric is computed in to the unit it is served in."""
    decl = CATALOGUE[decl] if isinstance(decl, str) else decl
    base = BASE_UNITS.get(decl.unit)
    return 1.0 if base is None else base.factor


def label_names(decl: MetricDecl | str) -> tuple[str, ...]:
    """Every label of the metric's series: the identity labels, then its own."""
    decl = CATALOGUE[decl] if isinstance(decl, str) else decl
    return (*IDENTITY_LABELS, *decl.labels)


# ---------------------------------------------------------------------------- docs

MEASURE_DOCS: dict[str, str] = {
    "roi": "(savings + revenue − costs) ÷ costs of the filtered automation (all automations without a filter)",
    "roi_realisation": "realised net return ÷ projected net return (projected_roi × costs), summed over automations",
    "cost_savings": "Σ finance.entry saving per 30 days",
    "revenue": "Σ customer.order amount per 30 days; with an automation filter, Σ finance.entry revenue of it",
    "automation_cost": "Σ finance.entry cost + Σ automation.run cost per 30 days of the declared automations (of the "
    "filtered one with an automation filter); finance.entry costs without an automation_id, or with one the strategy "
    "does not declare, are left out, and the scorecard and `explain sai` say how much (see Choices, Automation cost)",
    "order_amount_p50": "median customer.order amount (the percentile below)",
    "order_amount_p90": "90th percentile of customer.order amount",
    "csat": "mean CSAT answer (1..5) of customer.feedback",
    "nps": "(promoters − detractors) ÷ NPS answers × 100",
    "repeat_purchase_rate": "customer.order with repeat = true ÷ orders",
    "human_reachability": "escalations fulfilled within the SLA ÷ escalations requested",
    "first_contact_resolution": "touchpoint interactions resolved without an escalation request ÷ interactions",
    "customer_lifetime_value": "mean customer.order amount × expected orders per customer, 1 ÷ (1 − repeat-purchase "
    "rate) = Σ amount ÷ first orders (orders with repeat = false); no first order: no data (see Choices, Outcome "
    "measures)",
    "new_product_adoption": "distinct customers with an order listing one of the strategy's new_products ÷ distinct "
    "customers with an order listing its products (customer.order product_ids; see Choices, Outcome measures)",
    "observed": "mean value of the kpi.observed events of the KPI (kpi_id = the KPI's id) in the window, for any "
    "perspective: market share, brand perception, anything measured outside the automated systems (see Choices, "
    "Outcome measures)",
    "cycle_time": "mean process.execution cycle_time_s",
    "error_rate": "process.execution with errors > 0 ÷ executions",
    "rework_rate": "process.execution with rework > 0 ÷ executions",
    "throughput": "process.execution per day (with an automation filter: succeeded runs per day)",
    "automation_rate": "process.execution with automated = true ÷ executions",
    "sell_through": "Σ customer.order units ÷ Σ process.execution units_out",
    "cycle_time_p50": "median process.execution cycle_time_s (filters as cycle_time)",
    "cycle_time_p90": "90th percentile of process.execution cycle_time_s",
    "run_duration_p50": "median automation.run duration_s, succeeded and failed runs (filters: automation, process, "
    "touchpoint's process)",
    "run_duration_p90": "90th percentile of automation.run duration_s",
    "training_rate": "workforce.skill events ÷ active employees (any workforce event; no active employee: no data)",
    "employee_satisfaction": "mean workforce.survey satisfaction (1..5)",
    "ssai": "the SSAI index",
    "minutes_saved_per_employee": "Σ minutes_saved ÷ active employees per 30 days",
}

PITFALL_DOCS: dict[str, str] = {
    "feature_overload": "automation_feature_usage < `feature_usage_min` (at least `pitfall_min_events` feature.usage events)",
    "process_mismatch": "failure rate > `failure_rate_max`, manual-intervention rate > `manual_intervention_max` "
    "(at least `pitfall_min_events` runs), rework rate of its processes > `rework_rate_max`, or the mean cycle "
    "time of its automated executions not below the process's `baseline_cycle_time_s` (at least "
    "`pitfall_min_events` executions)",
    "integration_issues": "integration issues per 100 runs > `integration_issues_per_100_runs_max` (at least "
    "`pitfall_min_events` runs)",
    "lack_of_user_adoption": "active users ÷ seats < `adoption_min` (at least `pitfall_min_events` usage events), "
    "or manual share of its processes' executions > `manual_share_max` (at least `pitfall_min_events` executions)",
    "roi_miscalculation": "ROI realisation < `roi_realisation_min` in each of `roi_consecutive_windows` consecutive "
    "windows of the window's length ending at its end (up to 4): weeks on the 7d window, 28-day windows on the 28d "
    "window (read from the events before the 28 days the computation reads); a window without a cost breaks the "
    "series (not evaluated). Seed: \"Overestimating the potential ROI of automation without considering all costs "
    "and risks\"",
    "overproduction": "sell-through of a process it automates < `sell_through_min` (at least `pitfall_min_events` "
    "orders and executions with output)",
}


def render_docs() -> str:
    """The text of ``docs/metrics.md`` (generated: edit this module, then re-render)."""
    lines = [
        "<!-- generated by `alignwatch metrics docs --write` from metrics/catalogue.py — do not edit -->",
        "# Metric catalogue",
        "",
        "Every metric alignwatch computes, declared once in `metrics/catalogue.py`. Values are computed per window "
        "`[start, end)` in UTC: hour windows, day windows (the business's local calendar days), and rolling 7 and "
        "28 days ending at the end of each computed range. A ratio without a denominator has **no value** (no "
        "data), never zero. Every Prometheus series also carries the labels `business` and `window`.",
        "",
        "| id | Prometheus name | unit | direction | labels | perspective | formula | default thresholds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for decl in CATALOGUE.values():
        labels = "<br>".join(f"`{label.name}`: {label.source}" for label in decl.labels_decl) or "—"
        thresholds = ", ".join(f"`{k}` = {v:g}" for k, v in decl.thresholds.items()) or "—"
        lines.append(
            f"| `{decl.id}` | `{served_name(decl)}` | {decl.unit} | {decl.direction} | {labels} | "
            f"{decl.perspective or '—'} | {decl.help} {decl.formula} | {thresholds} |"
        )
    lines += ["", "## KPI measures", "", "A KPI names one measure and optional filters (process, automation, "
              "touchpoint, channel). Absolute measures are rates, so that one target fits every window length.", "",
              "| measure | formula |", "|---|---|"]
    lines += [f"| `{name}` | {text} |" for name, text in MEASURE_DOCS.items()]
    lines += ["", "## Pitfall detectors", "", "Each finding names the automation, the numbers that triggered it, "
              "the threshold and a severity: `critical` when the value is beyond twice the threshold's margin "
              "(below half of a minimum, above double a maximum), else `warning`.", "",
              "| pitfall | fires when |", "|---|---|"]
    lines += [f"| `{name}` | {PITFALL_DOCS[name]} |" for name in PITFALLS]
    lines += ["", "## Choices", ""]
    lines += [f"- {text}" for text in CHOICES]
    lines.append("")
    return "\n".join(lines)


#: choices DESIGN leaves open, as the engine makes them (rendered into docs/metrics.md)
CHOICES: tuple[str, ...] = (
    "**SAI renormalisation.** Inputs without data in a window (e.g. AAC in an hour without a reconfiguration) are "
    "left out and the remaining weights are renormalised to sum to 1, so the SAI stays on 0..100; each input's "
    "contribution is its renormalised weight × its score, and the contributions sum to the SAI. No input with "
    "data: the SAI has no value.",
    "**Judged KPIs.** A KPI whose value rests on fewer events than its `min_events` is not judged: the scorecard "
    "and `alignwatch explain sai` say so and why, its value, events and attainment are still exported (the "
    "burn-rate alerts weigh hourly attainments by their events and hold off below the same minimum), but it does not "
    "weigh in its perspective's score nor in the SAI. Seed: \"Data-driven monitoring allows you to assess the "
    "effectiveness of your automation efforts\": seven answers are not the evidence to judge a goal by, and one "
    "noisy hour must not move the alignment of the business.",
    "**KPI attainment** uses the baseline when one is declared (progress from baseline to target), else the ratio "
    "to the target; both clamped to [0, 1]. A target of 0 with direction down is attained when the value is 0.",
    "**Rates.** throughput is per day; money (cost savings, revenue, automation cost), minutes saved per employee "
    "and reconfigurations are per 30 days, so hour, day, 7d and 28d windows compare with one target.",
    "**Percentiles** (`cycle_time_p90` and the `*_p50`, `*_p90` KPI measures) are linear interpolation between the closest ranks, as "
    "numpy's default method and PostgreSQL's `percentile_cont`: with the window's n values sorted x₀ ≤ … ≤ xₙ₋₁ and "
    "h = (n − 1) × q, the value is x⌊h⌋ + (h − ⌊h⌋) × (x⌊h⌋₊₁ − x⌊h⌋), so p50 is the median (the mean of the two "
    "middle values of an even count). They are computed in Python from the stored values of the window, the same "
    "on SQLite and PostgreSQL, taken over the window's values (each distinct value of an hour once, with its "
    "count), read from the events or, for the hours the hour-aggregate cache holds, from the values it keeps per "
    "hour with the hour's groups (the same rows: a percentile sorts the values of the window's hours put "
    "together, so reading them hour by hour changes nothing); only the "
    "distributions a metric reads (the cycle times, for `cycle_time_p90`) or a percentile KPI of the strategy uses "
    "are read. The KPI's events are the values it rests on. Seed: "
    "\"Identify bottlenecks, inefficiencies, and areas where manual work is time-consuming\": a mean cycle time "
    "hides whether most cases are quick and a few stall, the median and the 90th percentile show it.",
    "**Revenue** is what customers paid (customer.order amounts); finance.entry revenue is attributed to an "
    "automation only when a KPI filters on that automation.",
    "**ROI** counts finance.entry costs and automation.run costs; licence costs are expected as finance.entry "
    "cost events (the strategy's monthly_cost is a projection, not a booking).",
    "**Automation cost** is what the declared automations cost: finance.entry costs attributed to one of them "
    "(automation_id) and their automation.run costs. A finance.entry cost without an automation_id (rent, flour, "
    "wages) or with an automation the strategy does not declare is not counted: it is not an automation's cost, and "
    "counting it would make the measure the business's whole cost. It is not hidden either: when a window holds such "
    "costs, the scorecard prints beside the KPI \"left out: X per 30 days of finance.entry cost not attributed to a "
    "declared automation (N entries)\" (the KPI's `note` in JSON), and `alignwatch explain sai` lists it under the "
    "KPI's perspective. Seed: \"Overestimating the potential ROI of automation without considering all costs and "
    "risks\": the costs an automation causes belong to it, so attribute them (automation_id) to have them counted.",
    "**Outcome measures.** The seed: \"tracking metrics directly linked to strategic objectives, such as market "
    "share growth, new product adoption rates, and customer lifetime value, provides a more direct measure of "
    "strategic alignment\", and feedback loops that \"monitor not only operational efficiency but also strategic "
    "outcomes, such as customer satisfaction, brand perception, and market share\". Market share (and its growth), "
    "brand perception and any other outcome measured outside the automated systems arrive as `kpi.observed` events "
    "(see docs/events.md) and the `observed` measure is the **mean** of the KPI's observations in the window: each "
    "observation weighs the same (two panels reporting one month average, not the one that arrived last), the value "
    "does not depend on the order the events arrived in, and it is a sum and a count, so the hour-aggregate cache "
    "folds it like every other sum. A window without an observation has no data; an outcome observed monthly is "
    "judged on the 28d window (set `min_events: 1`, one observation is one event). Growth is observed as such (a "
    "`kpi.observed` of the growth in points) rather than derived from two windows. **Customer lifetime value** is "
    "the undiscounted retention formula (value per order ÷ churn): the mean order amount × the expected orders per "
    "customer, 1 ÷ (1 − r) with r the repeat-purchase rate (after each order the customer orders again with "
    "probability r), which is Σ amount ÷ the first orders of the window (orders with repeat = false); it needs no "
    "lifetime longer than the window, and its events are the orders. **New-product adoption** is the share of the "
    "window's distinct customers whose orders list their products (customer.order `product_ids`) who bought at least "
    "one product of the strategy's `new_products`; orders that do not list their products (the field absent or an "
    "empty list) say nothing about it and are left out; its events are those customers.",
    "**Windows.** Hour windows are UTC hours; day windows are the business's local days (converted to UTC, so a "
    "DST day lasts 23 or 25 hours); 7d and 28d windows end at the end of the computed range. Events are assigned "
    "by their event time; late events are folded in by the next recomputation of their window: the nightly run "
    "recomputes every day that received events since the previous one, however old, with the 7d and 28d windows "
    "that cover it (bounded by `ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS`; see docs/airflow.md).",
    "**Periods.** `alignwatch scorecard --from --to` and `alignwatch explain sai --from --to` evaluate any period "
    "`[from, to)` on whole hours (UTC), such as a whole imported log, with the same formulas: rates per day and per "
    "30 days of the period's length, pitfalls judged on the period's evidence (ROI realisation against the periods "
    "of the same length before it), no regression or staleness signal (they compare fixed weeks); explain compares "
    "the period with the one of the same length before it. Nothing is stored: the stored windows stay hour, day, 7d "
    "and 28d.",
    "**SPAR and CJAI** count only the processes and touchpoints declared in the strategy (unknown ids are "
    "reported in the inputs, not counted).",
    "**SDUR** counts a dataset produced by an automation when it is used strategically in the window it was "
    "produced in: a data.used event with strategic = true, for a decision or a report. The seed measures data "
    "\"actively utilized for strategic decision-making and insights\": a strategic decision is the first half, a "
    "report that serves a strategic goal (strategic = true) is an insight, the second half; a decision or report "
    "marked not strategic is operational use and does not count.",
    "**Active employees** are the distinct employees with any workforce event (task, skill, survey) in the window; "
    "the users of a tool seen only in feature.usage count for its adoption, not as employees. SSAI, the training "
    "rate and minutes saved per employee divide by them, so a window with feature usage and no workforce event has "
    "no data for them (and for a Learning & Growth perspective made of them), not 0. Seed: SSAI is the \"degree to "
    "which automation deployments enhance and augment strategic workforce skills and capabilities\": the workforce "
    "is the employees the workforce systems report on.",
    "**Pitfalls are patterns.** The detectors run on the 7d and 28d windows only (hour and day windows carry no "
    "pitfall value): a day of SMB data is too little evidence, and one noisy day must not page anybody. The "
    "scorecard of a 1d window shows the pitfalls of the 7 days ending at its end.",
    "**Regression** compares the last 7 days with the 21 days before them (so the baseline does not contain the "
    "recent window).",
    "**Checklist.** `automation_linked_to_goals`, `prioritisation` (the top-priority automation serves a critical "
    "process) and `kpi_measurement` (every automation has a KPI with data) are decided from the strategy and the "
    "data; `continuous_monitoring` passes when a pipeline run was published (finished) in the two days up to the "
    "window's end — the run history as it stood at the window's end, so a window's value is the same whichever "
    "run computes it, and whenever; the other items use the declared answer, or are derived from the strategy when no "
    "answer is declared (`clear_strategy`: 3 to 5 goals; `process_assessment`: baselines for every automated "
    "process; `pilot_projects`: any pilot; `team_involvement`: unknown).",
    "**Prioritisation** scores each process not fully automated: Σ normalised weights of its goals × criticality "
    "factor (critical 3, supporting 2, peripheral 1) × manual volume per month (monthly_volume × manual share "
    "measured in the window, 1 for candidates or without data) × manual cost per case (1 when unknown).",
    "**Pilot verdicts** compare the mean attainment of the pilot automation's KPIs during the pilot (go-live to "
    "pilot end, or to now) with the same length before go-live: scale when it rose by at least 0.05 and no KPI "
    "fell by more than 0.05, stop when it fell by at least 0.05, iterate otherwise; a KPI counts only with at least its min_events events both before and during the pilot, and a pilot with no such KPI gets *not enough data*.",
)
