"""The formulas: every catalogue metric, KPI measure, pitfall and checklist item of a window.

:func:`evaluate` turns the :class:`~alignwatch.metrics.facts.Facts` of a window (plus a way to fold
other windows of the range already read, for the detectors that look back) into an
:class:`Evaluation`: the metric values keyed like the catalogue, and the details behind
them (KPI values, contributions, checklist evidence, pitfall findings, drift signals) that
the scorecard shows. Pure Python: no SQL here.

The details are typed records, created here and read by field: an index is one of the
:class:`IndexResult` records (its value and the counts behind it), a KPI a :class:`KpiLine`,
an SAI input a :class:`Contribution`, an automation's or a process's window an
:class:`AutomationMeasures` or :class:`ProcessMeasures`, the drift signals a :class:`Drift`.
The scorecard (:mod:`alignwatch.metrics.card`) carries the same records, rounded.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from fractions import Fraction
from typing import Any, ClassVar, Protocol, TypedDict

import numpy as np
import numpy.typing as npt

from alignwatch.errors import ConfigError
from alignwatch.metrics.aggregates import DISTRIBUTIONS
from alignwatch.metrics.catalogue import CATALOGUE
from alignwatch.metrics.ethics import Assessment, EthicsInputs, assess, ethics_checks, ethics_score
from alignwatch.metrics.facts import Facts, Sums
from alignwatch.metrics.strategy import Kpi, Strategy
from alignwatch.vocabulary import (
    CHECKLIST,
    ETHICS_INPUT,
    EVENT_SHARE_MEASURES,
    INDICES,
    PERSPECTIVES,
    PITFALLS,
    SAI_INPUTS,
    ChecklistItem,
)

__all__ = [
    "CRITICALITY_FACTOR",
    "EVENT_SHARE_MEASURES",
    "FORMULAS",
    "AacIndex",
    "AutomationMeasures",
    "Burn",
    "ChecklistVerdict",
    "CjaiIndex",
    "CjaiTouchpoint",
    "Contribution",
    "Drift",
    "Evaluation",
    "HumanReachability",
    "Finding",
    "Formula",
    "IndexResult",
    "KpiBelowTarget",
    "KpiLine",
    "KpiRegression",
    "PERCENTILE_MEASURES",
    "Priority",
    "ProcessMeasures",
    "Run",
    "SdurIndex",
    "SparIndex",
    "SsaiIndex",
    "StrategicStaleness",
    "TouchpointReachability",
    "attainment",
    "budget_evidence",
    "distributions_needed",
    "evaluate",
    "kpi_burn",
    "kpi_measure",
    "kpi_note",
    "kpi_weights",
    "not_judged",
    "percentile",
    "perspective_kpis",
    "priorities",
    "ranked_findings",
]

DAY = dt.timedelta(days=1)
WEEK = dt.timedelta(days=7)
STALENESS_MAX_WEEKS = 3  # four weeks compared: the 28 days read
ROI_MAX_WINDOWS = 4  # the ROI-realisation series of a window: at most 4 windows of its length
CRITICALITY_FACTOR = {"critical": 3.0, "supporting": 2.0, "peripheral": 1.0}
PITFALL_MIN_EVENTS = CATALOGUE["pitfall_active"].thresholds["pitfall_min_events"]
CJAI_RESOLUTION_MIN = CATALOGUE["cjai"].thresholds["cjai_resolution_min"]

#: the event types :func:`_roi_parts` reads: the ROI-realisation series folds only these of the
#: windows before it (up to three 28-day windows before the range read, read for this alone)
ROI_TYPES = frozenset({"automation.run", "finance.entry"})


class Fold(Protocol):
    """``fold(start, end)``: the facts of another window (None when not covered).

    ``types``: only the groups of these event types need be folded (no distribution samples
    either): the question asked reads nothing else, so a window outside the range read costs
    a read of those types only.
    """

    def __call__(self, start: dt.datetime, end: dt.datetime, types: frozenset[str] | None = None) -> Facts | None: ...


#: percentile KPI measures: measure -> (distribution of :data:`alignwatch.metrics.aggregates.DISTRIBUTIONS`, quantile)
PERCENTILE_MEASURES: dict[str, tuple[str, Fraction]] = {
    f"{name}_p{q}": (name, Fraction(q, 100)) for name in DISTRIBUTIONS for q in (50, 90)
}


@dataclass(frozen=True)
class Burn:
    """How fast a KPI on an event-share measure spends its error budget in one window.

    ``budget`` is the share of events allowed to miss the objective (1 − target for
    direction up, the target for direction down); ``rate`` is the share that missed it ÷
    the budget (1: the budget is spent exactly, whatever the window's length);
    ``evidence`` is −log10 of the chance that events within budget show at least ``bad``
    misses among ``events`` (3: one in a thousand), from the Chernoff bound of the binomial
    tail, exp(−n · D(bad/n ‖ budget)): it never overstates the evidence, and with every
    event bad it is exact (budget^n).
    """

    budget: float
    bad: int
    events: int
    rate: float
    evidence: float


def budget_evidence(bad: int, events: int, budget: float) -> float:
    """−log10 of the Chernoff bound of P(at least ``bad`` of ``events`` miss | miss chance ``budget``)."""
    if events <= 0 or bad <= 0 or not 0.0 < budget < 1.0:
        return 0.0
    share = bad / events
    if share <= budget:
        return 0.0
    divergence = share * math.log(share / budget)
    if share < 1.0:
        divergence += (1.0 - share) * math.log((1.0 - share) / (1.0 - budget))
    return events * divergence / math.log(10.0)


def kpi_burn(measure: str, direction: str, target: float, value: float | None, events: float) -> Burn | None:
    """The budget burn of a KPI on an event-share measure (None for other measures, without
    events, or with a target that leaves no budget)."""
    if measure not in EVENT_SHARE_MEASURES or value is None or events <= 0:
        return None
    budget = 1.0 - float(target) if direction == "up" else float(target)
    if not 0.0 < budget < 1.0:
        return None
    n = int(round(events))
    bad = int(round(n * ((1.0 - value) if direction == "up" else value)))
    return Burn(budget, bad, n, (bad / n) / budget, budget_evidence(bad, n, budget))


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def _per_30d(total: float, facts: Facts) -> float | None:
    return None if facts.days <= 0 else total * 30.0 / facts.days


# ---------------------------------------------------------------------------- KPI measures


def _kpi_processes(strategy: Strategy, kpi: Kpi) -> list[str] | None:
    filters = kpi.filters
    if filters.process is not None:
        return [filters.process]
    if filters.automation is not None:
        return list(strategy.automation(filters.automation).processes)
    if filters.touchpoint is not None:
        return [strategy.touchpoint(filters.touchpoint).process]
    return None


def percentile(pairs: Iterable[tuple[float, int]], q: Fraction) -> float | None:
    """The ``q`` quantile of the values given as (value, count) pairs; None without a value.

    Linear interpolation between the closest ranks (numpy's default ``linear`` method,
    PostgreSQL's ``percentile_cont``, Hyndman & Fan type 7): with the n values sorted
    x₀ ≤ … ≤ xₙ₋₁ and h = (n − 1)·q, the quantile is x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋₊₁ − x⌊h⌋). The
    rank h is computed in exact fractions, so p50 is the median (the mean of the two middle
    values of an even count).
    """
    kept = [(value, count) for value, count in pairs if count > 0]
    if len(kept) > _SORTED_IN_NUMPY:
        table = np.array(kept, dtype=float)
        if not np.isnan(table[:, 0]).any():  # (a NaN has no place in an order: sorted() keeps it where it is)
            return _percentile_of_table(table, q)
    ordered = sorted(kept)
    n = sum(count for _, count in ordered)
    if n <= 0:
        return None
    h = (n - 1) * q
    rank = math.floor(h)
    frac = h - rank

    def at(position: int) -> float:
        seen = 0
        for value, count in ordered:
            seen += count
            if position < seen:
                return value
        return ordered[-1][0]

    low = at(rank)
    if frac == 0:
        return low
    return low + float(frac) * (at(rank + 1) - low)


#: above this many (value, count) pairs, :func:`percentile` sorts them in numpy
_SORTED_IN_NUMPY = 64


def _percentile_of_table(table: npt.NDArray[np.float64], q: Fraction) -> float | None:
    """:func:`percentile` of the pairs as rows of ``table`` (no NaN): sorted as ``sorted`` sorts the
    pairs (by value, then count), the ranks found in their running counts (exact: whole numbers)."""
    order = np.lexsort((table[:, 1], table[:, 0]))
    values = table[order, 0]
    seen = np.cumsum(table[order, 1])
    n = int(seen[-1])
    h = (n - 1) * q
    rank = math.floor(h)
    frac = h - rank
    low = float(values[int(np.searchsorted(seen, rank, side="right"))])
    if frac == 0:
        return low
    high = float(values[int(np.searchsorted(seen, rank + 1, side="right"))])
    return low + float(frac) * (high - low)


def distributions_needed(strategy: Strategy) -> tuple[str, ...]:
    """The distributions the catalogue's metrics and the strategy's percentile KPIs read (the
    engine reads the values of these only)."""
    declared = {name for decl in CATALOGUE.values() for name in decl.distributions}
    kpis = {PERCENTILE_MEASURES[k.measure][0] for k in strategy.kpis if k.measure in PERCENTILE_MEASURES}
    return tuple(sorted(declared | kpis))


def _percentile_measure(strategy: Strategy, facts: Facts, kpi: Kpi) -> tuple[float | None, float]:
    name, q = PERCENTILE_MEASURES[kpi.measure]
    flt = kpi.filters
    if name == "cycle_time":
        pairs = facts.distribution(name, processes=_kpi_processes(strategy, kpi))
    elif name == "run_duration":
        processes = [flt.process] if flt.process else (
            [strategy.touchpoint(flt.touchpoint).process] if flt.touchpoint else None)
        pairs = facts.distribution(name, processes=processes, automation=flt.automation)
    else:
        pairs = facts.distribution(name)
    return percentile(pairs, q), float(sum(count for _, count in pairs))


def _roi_parts(strategy: Strategy, facts: Facts, automation: str | None) -> tuple[float, float, float, float]:
    """(net return, costs, projected net return, events) of one automation or of all."""
    ids = [automation] if automation is not None else [a.id for a in strategy.automations]
    net = cost_total = projected = events = 0.0
    for automation_id in ids:
        cost = facts.finance_amount("cost", automation_id) + facts.run_sums(automation_id)["cost"]
        gain = facts.finance_amount("saving", automation_id) + facts.finance_amount("revenue", automation_id)
        net += gain - cost
        cost_total += cost
        try:
            projected += strategy.automation(automation_id).projected_roi * cost
        except KeyError:
            pass
        events += facts.finance_events(automation_id) + facts.run_sums(automation_id)["n"]
    return net, cost_total, projected, events


def kpi_measure(strategy: Strategy, facts: Facts, kpi: Kpi) -> tuple[float | None, float]:
    """The value of ``kpi``'s measure over its filtered events, and how many events it rests on."""
    m = kpi.measure
    flt = kpi.filters
    if m in PERCENTILE_MEASURES:
        return _percentile_measure(strategy, facts, kpi)
    if m in ("roi", "roi_realisation"):
        net, cost, projected, events = _roi_parts(strategy, facts, flt.automation)
        if m == "roi":
            return _ratio(net, cost), events
        return (None if projected <= 0 else net / projected), events
    if m == "cost_savings":
        total = facts.finance_amount("saving", flt.automation)
        return (_per_30d(total, facts) if facts.finance_events(flt.automation) else None), facts.finance_events(flt.automation)
    if m == "revenue":
        if flt.automation is not None:
            events = facts.finance_events(flt.automation)
            return (_per_30d(facts.finance_amount("revenue", flt.automation), facts) if events else None), events
        orders = facts.order_sums()
        return (_per_30d(orders["amount"], facts) if orders["n"] else None), orders["n"]
    if m == "automation_cost":
        # the declared automations' costs only: a cost without a declared automation_id is not
        # an automation's (it is shown beside the value, see kpi_note)
        ids = [flt.automation] if flt.automation else [a.id for a in strategy.automations]
        total = sum(facts.finance_amount("cost", a) + facts.run_sums(a)["cost"] for a in ids)
        events = sum(facts.finance_events(a) + facts.run_sums(a)["n"] for a in ids)
        return (_per_30d(total, facts) if events else None), events
    if m == "observed":
        # the mean of the KPI's kpi.observed values in the window (each observation weighs the same)
        observed = facts.observed.get(kpi.id, Sums())
        return _ratio(observed["observed"], observed["n"]), observed["n"]
    if m == "customer_lifetime_value":
        # mean order amount x expected orders per customer, 1 / (1 - repeat-purchase rate):
        # Σ amount / orders x orders / first orders = Σ amount / first orders
        orders = facts.order_sums()
        return _ratio(orders["amount"], orders["n"] - orders["repeat_n"]), orders["n"]
    if m == "new_product_adoption":
        customers = facts.product_customers()
        adopters = facts.product_customers(strategy.new_products) & customers
        return _ratio(len(adopters), len(customers)), float(len(customers))
    if m in ("csat", "nps"):
        tps = [flt.touchpoint] if flt.touchpoint else None
        fb = facts.feedback_sums(tps)
        if m == "csat":
            return _ratio(fb["csat_sum"], fb["csat_n"]), fb["csat_n"]
        nps = _ratio(fb["promoters"] - fb["detractors"], fb["nps_n"])
        return (None if nps is None else nps * 100.0), fb["nps_n"]
    if m == "repeat_purchase_rate":
        orders = facts.order_sums()
        return _ratio(orders["repeat_n"], orders["n"]), orders["n"]
    if m in ("human_reachability", "first_contact_resolution"):
        touch = facts.touch_sums(flt.touchpoint, flt.channel)
        if m == "human_reachability":
            return _ratio(touch["within_sla"], touch["escalations"]), touch["escalations"]
        return _ratio(touch["clean"], touch["n"]), touch["n"]
    if m in ("cycle_time", "error_rate", "rework_rate", "automation_rate", "sell_through"):
        ex = facts.execution_sums(_kpi_processes(strategy, kpi))
        if m == "cycle_time":
            return _ratio(ex["cycle"], ex["n"]), ex["n"]
        if m == "error_rate":
            return _ratio(ex["with_errors"], ex["n"]), ex["n"]
        if m == "rework_rate":
            return _ratio(ex["with_rework"], ex["n"]), ex["n"]
        if m == "automation_rate":
            automated = facts.execution_sums(_kpi_processes(strategy, kpi), automated=True)
            return _ratio(automated["n"], ex["n"]), ex["n"]
        orders = facts.order_sums()
        return _ratio(orders["units"], ex["units_out"]), ex["n"] + orders["n"]
    if m == "throughput":
        if flt.automation is not None and flt.process is None:
            runs = facts.run_sums(flt.automation)
            return (runs["succeeded"] / facts.days if facts.days > 0 else None), runs["n"]
        ex = facts.execution_sums(_kpi_processes(strategy, kpi))
        return (ex["n"] / facts.days if facts.days > 0 else None), ex["n"]
    active = float(len(facts.active))
    if m == "training_rate":
        return _ratio(facts.workforce["skill_n"], active), active
    if m == "employee_satisfaction":
        return _ratio(facts.workforce["satisfaction"], facts.workforce["survey_n"]), facts.workforce["survey_n"]
    if m == "ssai":
        return _ratio(len(facts.augmented & facts.skilled), active), active
    if m == "minutes_saved_per_employee":
        per = _ratio(facts.workforce["minutes"], active)
        return (None if per is None else _per_30d(per, facts)), active
    raise KeyError(m)


def kpi_note(strategy: Strategy, facts: Facts, kpi: Kpi) -> str | None:
    """What the scorecard says beside a KPI's value, when its measure left events out (else None).

    ``automation_cost`` without an automation filter counts the declared automations'
    costs: finance.entry costs without an automation_id (or with one the strategy does not
    declare) are not an automation's and are left out; the note gives their amount.
    """
    if kpi.measure != "automation_cost" or kpi.filters.automation is not None:
        return None
    total, entries = facts.unattributed_cost(a.id for a in strategy.automations)
    if entries <= 0:
        return None
    per_30d = _per_30d(total, facts)
    amount = f"{total:,.2f}" if per_30d is None else f"{per_30d:,.2f} per 30 days"
    return (f"left out: {amount} of finance.entry cost not attributed to a declared automation "
            f"({entries:g} entries)")


def attainment(kpi: Kpi, value: float | None) -> float | None:
    """Attainment of ``kpi`` at ``value`` in [0, 1] (None without a value)."""
    if value is None:
        return None
    target, baseline = float(kpi.target), kpi.baseline
    up = kpi.direction == "up"
    if baseline is not None and float(baseline) != target:
        baseline = float(baseline)
        raw = (value - baseline) / (target - baseline)
    elif up:
        raw = (1.0 if value >= target else 0.0) if target <= 0 else value / target
    else:
        raw = (1.0 if value <= target else 0.0) if value <= 0 or target <= 0 else target / value
    return min(1.0, max(0.0, raw))


def kpi_weights(strategy: Strategy) -> dict[str, float]:
    """Weight of each KPI inside its perspective: Σ goal weight ÷ the goal's KPI count."""
    weights = {kpi.id: 0.0 for kpi in strategy.kpis}
    for goal in strategy.goals:
        for kpi_id in goal.kpis:
            weights[kpi_id] += goal.weight / len(goal.kpis)
    positive = [w for w in weights.values() if w > 0]
    floor = min(positive) if positive else 1.0
    return {kpi_id: (w if w > 0 else floor) for kpi_id, w in weights.items()}


# ---------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Finding:
    """A pitfall detector's verdict for one automation."""

    pitfall: str
    automation: str
    active: bool
    severity: str | None
    evidence: dict[str, Any]
    threshold: dict[str, float]
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.pitfall,
            "automation": self.automation,
            "active": self.active,
            "severity": self.severity,
            "evidence": self.evidence,
            "threshold": self.threshold,
            "message": self.message,
        }


class ChecklistVerdict(TypedDict):
    """One checklist item's verdict: ``status`` (passed, failed, unknown), its ``evidence``, and
    its ``source`` (declared in the strategy, derived from the strategy, or from the data)."""

    status: str
    evidence: str
    source: str


class TouchpointReachability(TypedDict):
    """Escalations asked for at one touchpoint, and the share that reached a human within the SLA."""

    requested: float
    value: float | None


class HumanReachability(TypedDict, total=False):
    """Human reachability in the window (empty until computed): the share of escalations that
    reached a human within ``sla_s``, against the strategy's ``floor``, and per touchpoint."""

    value: float | None
    requested: float
    within_sla: float
    floor: float
    sla_s: float
    below_floor: bool | None
    touchpoints: dict[str, TouchpointReachability]


def _plain(value: float) -> str:
    """A number in a message: up to four decimals, never scientific notation (``54570``, ``0.8125``)."""
    return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.0f}"


@dataclass(frozen=True)
class IndexResult:
    """One strategic automation index of the window: its ``value`` in 0–1 (none without data)
    and, in the fields of each index's record, the counts it was computed from."""

    value: float | None

    def inputs(self) -> dict[str, Any]:
        """The fields behind the value, in declaration order, as plain data (records as dicts)."""
        return {f.name: _plain_data(getattr(self, f.name)) for f in fields(self) if f.name != "value"}


def _plain_data(data: Any) -> Any:
    if is_dataclass(data):
        return dict(data.__dict__)
    if isinstance(data, Mapping):
        return {key: _plain_data(item) for key, item in data.items()}
    if isinstance(data, tuple):
        return list(data)
    return data


@dataclass(frozen=True)
class CjaiTouchpoint:
    """One journey touchpoint as the CJAI judges it: strategically automated when it is strategic,
    mostly automated, resolved by the automation and not rated worse than the human touchpoints."""

    strategic: bool
    automation_share: float | None
    resolution: float | None
    csat: float | None
    strategically_automated: bool


@dataclass(frozen=True)
class CjaiIndex(IndexResult):
    """CJAI: strategically automated touchpoints ÷ journey touchpoints."""

    automated: tuple[str, ...]
    touchpoints: int
    detail: Mapping[str, CjaiTouchpoint]


@dataclass(frozen=True)
class SparIndex(IndexResult):
    """SPAR: automated processes that are critical ÷ automated declared processes."""

    critical: tuple[str, ...]
    automated: tuple[str, ...]
    unknown_processes: tuple[str, ...]  # automated, but not declared in the strategy


@dataclass(frozen=True)
class AacIndex(IndexResult):
    """AAC: the target lead time ÷ the median lead time from initiative to deployed reconfiguration (at most 1)."""

    median_lead_time_h: float | None
    reconfigurations_per_30d: float | None
    target_lead_time_h: float


@dataclass(frozen=True)
class SdurIndex(IndexResult):
    """SDUR: automation-produced datasets with a strategic use ÷ automation-produced datasets."""

    used: int
    produced: int
    strategic_uses: int
    used_for_decision: int


@dataclass(frozen=True)
class SsaiIndex(IndexResult):
    """SSAI: active employees both augmented and skilled ÷ active employees."""

    augmented_and_skilled: int
    active_employees: int
    minutes_saved_per_employee_30d: float | None


@dataclass(frozen=True)
class AutomationMeasures:
    """One declared automation in the window: its runs, returns, usage and issues (what the
    pitfall detectors judge; none where the window has no data for a ratio)."""

    runs: float
    failure_rate: float | None
    manual_intervention_rate: float | None
    roi: float | None
    roi_realisation: float | None
    feature_usage: float | None
    features_used: tuple[str, ...]
    features_licensed: int
    usage_events: float
    active_users: int
    seats: int
    adoption: float | None
    manual_share: float | None
    executions: float
    integration_issues_per_100_runs: float | None
    integration_issues: float

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "features_used": list(self.features_used)}


@dataclass(frozen=True)
class ProcessMeasures:
    """One declared process in the window: its executions, automation, rework, cycle times and
    sell-through (orders and units ordered are the whole window's, not the process's)."""

    executions: float
    automation_rate: float | None
    rework_rate: float | None
    cycle_time_s: float | None
    automated_cycle_time_s: float | None
    automated_executions: float
    sell_through: float | None
    units_out: float
    units_ordered: float
    orders: float


@dataclass(frozen=True)
class Contribution:
    """What one SAI input adds to the index: its score on 0–100, its renormalised weight and
    the points (weight × score; none when the input has no data)."""

    input: str
    score: float | None
    weight: float
    points: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "score": self.score, "weight": self.weight, "points": self.points}


@dataclass(frozen=True)
class KpiLine:
    """A strategy KPI in the window: its declaration, value, attainment and whether it is judged
    (a value resting on at least ``min_events`` events; see :func:`not_judged`)."""

    name: str
    perspective: str
    measure: str
    unit: str
    direction: str
    target: float
    baseline: float | None
    red_flag: float | None
    value: float | None
    events: float
    attainment: float | None
    below_target: bool | None
    red_flag_crossed: bool | None
    min_events: int
    judged: bool
    not_judged: str | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class KpiBelowTarget:
    """A KPI whose value misses its target; ``guarded`` when it rests on fewer events than its
    ``min_events`` (shown, not alerted)."""

    id: ClassVar[str] = "kpi_below_target"
    kpi: str
    value: float
    target: float
    events: float
    guarded: bool
    message: str
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kpi": self.kpi, "active": self.active, "value": self.value, "target": self.target,
                "events": self.events, "guarded": self.guarded, "message": self.message}


@dataclass(frozen=True)
class KpiRegression:
    """A KPI that worsened by ``drop`` (relative) over 7 days against the 21 days before."""

    id: ClassVar[str] = "kpi_regression"
    kpi: str
    recent: float | None
    baseline: float | None
    drop: float
    threshold: float
    message: str
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kpi": self.kpi, "active": self.active, "recent": self.recent,
                "baseline": self.baseline, "drop": self.drop, "threshold": self.threshold, "message": self.message}


@dataclass(frozen=True)
class StrategicStaleness:
    """Whether alignment is high while the outcome KPIs fell week after week (``active``)."""

    id: ClassVar[str] = "strategic_staleness"
    active: bool
    sai: float | None
    outcome_attainment_by_week: tuple[float | None, ...]
    staleness_sai_min: float
    staleness_windows: int
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "active": self.active, "sai": self.sai,
                "outcome_attainment_by_week": list(self.outcome_attainment_by_week),
                "staleness_sai_min": self.staleness_sai_min, "staleness_windows": self.staleness_windows,
                "message": self.message}


@dataclass
class Drift:
    """The drift signals of the window, each written from the exact values (the scorecard
    rounds their numbers, not their messages). Regressions and staleness compare fixed weeks:
    they are judged on the rolling 7-day window only (empty and none elsewhere)."""

    below_target: list[KpiBelowTarget] = field(default_factory=list)
    regressions: list[KpiRegression] = field(default_factory=list)
    staleness: StrategicStaleness | None = None


@dataclass
class Evaluation:
    """Everything computed for one window."""

    start: dt.datetime
    end: dt.datetime
    values: list[tuple[str, dict[str, str], float | None, dict[str, Any]]] = field(default_factory=list)
    indices: dict[str, IndexResult] = field(default_factory=dict)
    kpis: dict[str, KpiLine] = field(default_factory=dict)
    perspectives: dict[str, float | None] = field(default_factory=dict)
    sai: float | None = None
    contributions: dict[str, Contribution] = field(default_factory=dict)
    checklist: dict[ChecklistItem, ChecklistVerdict] = field(default_factory=dict)
    readiness: float | None = None
    findings: list[Finding] = field(default_factory=list)
    drift: Drift = field(default_factory=Drift)
    human_reachability: HumanReachability = field(default_factory=lambda: HumanReachability())
    automations: dict[str, AutomationMeasures] = field(default_factory=dict)
    processes: dict[str, ProcessMeasures] = field(default_factory=dict)
    ethics: Assessment | None = None  # the ethics measures of the window (7d and 28d)
    ethics_score: float | None = None  # share of the ethics checks that pass, 0..100 (an SAI input)

    #: the formula running (``FORMULAS``): a value is added only by the formula its declaration names
    step: str = field(default="", repr=False, compare=False)

    def add(self, metric_id: str, labels: dict[str, str], value: float | None, **inputs: Any) -> None:
        if metric_id not in CATALOGUE:
            raise KeyError(f"metric {metric_id!r} is not in the catalogue")
        if self.step and CATALOGUE[metric_id].computed_by != self.step:
            raise KeyError(f"metric {metric_id!r} is computed by {CATALOGUE[metric_id].computed_by!r}, not {self.step!r}")
        self.values.append((metric_id, labels, value, inputs))

    def value(self, metric_id: str, **labels: str) -> float | None:
        """The value of a metric (for tests and the scorecard); KeyError when not computed."""
        for mid, lab, value, _ in self.values:
            if mid == metric_id and lab == labels:
                return value
        raise KeyError((metric_id, labels))


# ---------------------------------------------------------------------------- indices


def _cjai(strategy: Strategy, facts: Facts, ev: Evaluation) -> None:
    th = strategy.thresholds
    journey = list(strategy.journey)
    human_tps = []
    shares: dict[str, float | None] = {}
    for tp in journey:
        total = facts.touch_sums(tp.id)["n"]
        auto = facts.touch_sums(tp.id, handled_by="automation")["n"]
        shares[tp.id] = _ratio(auto, total)
        ev.add("touchpoint_automation_share", {"touchpoint": tp.id}, shares[tp.id], automated=auto, interactions=total)
        if shares[tp.id] is not None and shares[tp.id] < 0.5:  # type: ignore[operator]
            human_tps.append(tp.id)
    ref = facts.feedback_sums(human_tps) if human_tps else facts.feedback_sums()
    reference_csat = _ratio(ref["csat_sum"], ref["csat_n"])
    any_touch = sum(s["n"] for s in facts.touches.values())
    automated = []
    detail: dict[str, CjaiTouchpoint] = {}
    for tp in journey:
        share = shares[tp.id]
        auto_sums = facts.touch_sums(tp.id, handled_by="automation")
        resolution = _ratio(auto_sums["clean"], auto_sums["n"])
        fb = facts.feedback_sums([tp.id])
        csat = _ratio(fb["csat_sum"], fb["csat_n"])
        csat_ok = csat is None or reference_csat is None or csat >= reference_csat - th.cjai_csat_tolerance
        ok = (
            tp.strategic
            and share is not None
            and share >= th.cjai_automation_share
            and resolution is not None
            and resolution >= CJAI_RESOLUTION_MIN
            and csat_ok
        )
        detail[tp.id] = CjaiTouchpoint(tp.strategic, share, resolution, csat, bool(ok))
        if ok:
            automated.append(tp.id)
    value = _ratio(len(automated), len(journey)) if any_touch else None
    ev.add("cjai", {}, value, automated=len(automated), touchpoints=len(journey), reference_csat=reference_csat)
    ev.indices["cjai"] = CjaiIndex(value, tuple(automated), len(journey), detail)


def _spar(strategy: Strategy, facts: Facts, ev: Evaluation) -> None:
    declared = {p.id: p for p in strategy.processes}
    automated = sorted({p for (_, p), s in facts.runs.items() if s["succeeded"] > 0 and p is not None})
    known = [p for p in automated if p in declared]
    critical = [p for p in known if declared[p].criticality == "critical"]
    value = _ratio(len(critical), len(known))
    unknown = [p for p in automated if p not in declared]
    ev.add("spar", {}, value, critical=len(critical), automated=len(known), unknown=len(unknown))
    ev.indices["spar"] = SparIndex(value, tuple(critical), tuple(known), tuple(unknown))


def _aac(strategy: Strategy, facts: Facts, ev: Evaluation) -> None:
    leads = sorted(
        (r.deployed_at - r.initiative_started_at).total_seconds()
        for r in facts.reconfigurations
        if r.initiative_started_at is not None
    )
    median = statistics.median(leads) if leads else None
    count = float(len(facts.reconfigurations))
    per_30d = _per_30d(count, facts)
    target_s = strategy.thresholds.aac_target_lead_time_h * 3600.0
    score = None if median is None else (1.0 if median <= 0 else min(1.0, target_s / median))
    ev.add("aac_lead_time", {}, median, reconfigurations=len(leads))
    ev.add("aac_reconfigurations", {}, per_30d, reconfigurations=count)
    ev.add("aac", {}, score, median_lead_time_s=median, target_lead_time_s=target_s)
    ev.indices["aac"] = AacIndex(score, None if median is None else median / 3600.0, per_30d,
                                 strategy.thresholds.aac_target_lead_time_h)


def _sdur(facts: Facts, ev: Evaluation) -> None:
    """SDUR: automation-produced datasets with a strategic use (decision or report) ÷ automation-produced datasets."""
    used = facts.produced & facts.strategic_uses
    decisions = facts.produced & facts.used_for_decision
    value = _ratio(len(used), len(facts.produced))
    ev.add("sdur", {}, value, used=len(used), produced=len(facts.produced))
    ev.indices["sdur"] = SdurIndex(value, len(used), len(facts.produced), len(used), len(decisions))


def _ssai(facts: Facts, ev: Evaluation) -> None:
    both = facts.augmented & facts.skilled
    active = len(facts.active)
    value = _ratio(len(both), active)
    minutes = _ratio(facts.workforce["minutes"], active)
    per_30d = None if minutes is None else _per_30d(minutes, facts)
    ev.add("ssai", {}, value, augmented_and_skilled=len(both), active=active)
    ev.add("minutes_saved_per_employee", {}, per_30d, minutes=facts.workforce["minutes"], active=active)
    ev.indices["ssai"] = SsaiIndex(value, len(both), active, per_30d)


# ---------------------------------------------------------------------------- automations, processes


def _automation_metrics(strategy: Strategy, facts: Facts, ev: Evaluation) -> dict[str, AutomationMeasures]:
    out: dict[str, AutomationMeasures] = {}
    for a in strategy.automations:
        runs = facts.run_sums(a.id)
        net, cost, projected, events = _roi_parts(strategy, facts, a.id)
        roi = _ratio(net, cost)
        realisation = None if roi is None or a.projected_roi <= 0 else roi / a.projected_roi
        licensed = set(a.features_licensed)
        used = facts.features.get(a.id, set()) & licensed
        feature_usage = _ratio(len(used), len(licensed)) if facts.usage_events.get(a.id, 0) else None
        users = len(facts.users.get(a.id, set()))
        adoption = None
        if a.seats > 0 and (facts.usage_events.get(a.id, 0) or users):
            adoption = min(1.0, users / a.seats)
        ex = facts.execution_sums(a.processes)
        manual = facts.execution_sums(a.processes, automated=False)
        manual_share = _ratio(manual["n"], ex["n"])
        failure = _ratio(runs["failed"], runs["n"])
        intervention = _ratio(runs["manual"], runs["n"])
        issues = facts.issues.get(a.id, Sums())
        per_100 = None if runs["n"] <= 0 else issues["n"] * 100.0 / runs["n"]
        lab = {"automation": a.id}
        ev.add("automation_roi", lab, roi, net_return=net, costs=cost, events=events)
        ev.add("automation_roi_realisation", lab, realisation, roi=roi, projected_roi=a.projected_roi)
        ev.add("automation_feature_usage", lab, feature_usage, used=len(used), licensed=len(licensed))
        ev.add("automation_adoption", lab, adoption, active_users=users, seats=a.seats)
        ev.add("automation_manual_share", lab, manual_share, manual=manual["n"], executions=ex["n"])
        ev.add("automation_failure_rate", lab, failure, failed=runs["failed"], runs=runs["n"])
        ev.add("automation_manual_intervention_rate", lab, intervention, manual=runs["manual"], runs=runs["n"])
        ev.add("automation_integration_issues", lab, per_100, issues=issues["n"], records=issues["records"], runs=runs["n"])
        out[a.id] = AutomationMeasures(
            runs=runs["n"], failure_rate=failure, manual_intervention_rate=intervention,
            roi=roi, roi_realisation=realisation, feature_usage=feature_usage,
            features_used=tuple(sorted(used)), features_licensed=len(licensed), usage_events=facts.usage_events.get(a.id, 0.0),
            active_users=users, seats=a.seats, adoption=adoption, manual_share=manual_share,
            executions=ex["n"], integration_issues_per_100_runs=per_100, integration_issues=issues["n"],
        )
    return out


def _process_metrics(strategy: Strategy, facts: Facts, ev: Evaluation) -> dict[str, ProcessMeasures]:
    orders = facts.order_sums()
    out: dict[str, ProcessMeasures] = {}
    for p in strategy.processes:
        ex = facts.execution_sums([p.id])
        auto = facts.execution_sums([p.id], automated=True)
        lab = {"process": p.id}
        rate = _ratio(auto["n"], ex["n"])
        rework = _ratio(ex["with_rework"], ex["n"])
        cycle = _ratio(ex["cycle"], ex["n"])
        sell = _ratio(orders["units"], ex["units_out"])
        ev.add("process_automation_rate", lab, rate, automated=auto["n"], executions=ex["n"])
        ev.add("process_error_rate", lab, _ratio(ex["with_errors"], ex["n"]), with_errors=ex["with_errors"], executions=ex["n"])
        ev.add("process_rework_rate", lab, rework, with_rework=ex["with_rework"], executions=ex["n"])
        ev.add("process_cycle_time", lab, cycle, executions=ex["n"])
        ev.add("process_sell_through", lab, sell, units_ordered=orders["units"], units_out=ex["units_out"])
        out[p.id] = ProcessMeasures(
            executions=ex["n"], automation_rate=rate, rework_rate=rework, cycle_time_s=cycle,
            automated_cycle_time_s=_ratio(auto["cycle"], auto["n"]), automated_executions=auto["n"],
            sell_through=sell, units_out=ex["units_out"], units_ordered=orders["units"], orders=orders["n"],
        )
    return out


# ---------------------------------------------------------------------------- KPIs, scorecard, SAI


def not_judged(value: float | None, events: float, min_events: int) -> str | None:
    """Why a KPI is not judged in a window (None when it is): no value, or fewer events than its ``min_events``."""
    if value is None:
        return "no data in the window"
    if events < min_events:
        return f"{events:g} events, fewer than min_events {min_events}"
    return None


def _kpis(strategy: Strategy, facts: Facts) -> dict[str, KpiLine]:
    out = {}
    for kpi in strategy.kpis:
        value, events = kpi_measure(strategy, facts, kpi)
        reason = not_judged(value, events, kpi.min_events)
        out[kpi.id] = KpiLine(
            name=kpi.name, perspective=kpi.perspective, measure=kpi.measure, unit=kpi.unit,
            direction=kpi.direction, target=kpi.target, baseline=kpi.baseline, red_flag=kpi.red_flag,
            value=value, events=events, attainment=attainment(kpi, value),
            below_target=None if value is None else (value < kpi.target if kpi.direction == "up" else value > kpi.target),
            red_flag_crossed=None if value is None or kpi.red_flag is None else (
                value <= kpi.red_flag if kpi.direction == "up" else value >= kpi.red_flag),
            min_events=kpi.min_events,
            judged=reason is None,
            not_judged=reason,
            note=kpi_note(strategy, facts, kpi),
        )
    return out


def _perspectives(strategy: Strategy, kpis: dict[str, KpiLine]) -> dict[str, float | None]:
    """Each perspective's score: 100 × the weighted mean attainment of its judged KPIs (none judged: no data).

    A KPI is judged when it has a value resting on at least its ``min_events`` events; the
    others still show their value and attainment but do not weigh in the score (nor, through
    it, in the SAI).
    """
    weights = kpi_weights(strategy)
    out: dict[str, float | None] = {}
    for perspective in PERSPECTIVES:
        pairs = [(weights[k], v.attainment) for k, v in kpis.items()
                 if v.perspective == perspective and v.judged and v.attainment is not None]
        total = sum(w for w, _ in pairs)
        out[perspective] = None if total <= 0 else 100.0 * sum(w * a for w, a in pairs) / total
    return out


def perspective_kpis(kpis: Mapping[str, KpiLine], perspective: str) -> tuple[list[str], dict[str, str]]:
    """The KPIs of ``perspective`` judged in the window, and those with a value but too few events (with why)."""
    judged = [k for k, v in kpis.items() if v.perspective == perspective and v.judged]
    guarded = {k: v.not_judged for k, v in kpis.items()
               if v.perspective == perspective and v.value is not None and not v.judged and v.not_judged is not None}
    return judged, guarded


def sai_of(strategy: Strategy, scores: dict[str, float | None]) -> tuple[float | None, dict[str, Contribution]]:
    """SAI and contributions from input scores on 0..100 (weights renormalised over inputs with data)."""
    weights = strategy.weights.model_dump()
    available = {name: scores[name] for name in SAI_INPUTS if scores.get(name) is not None and weights[name] > 0}
    total = sum(weights[name] for name in available)
    contributions: dict[str, Contribution] = {}
    if total <= 0:
        return None, {name: Contribution(name, scores.get(name), 0.0, None) for name in SAI_INPUTS}
    sai = 0.0
    for name in SAI_INPUTS:
        if name in available:
            weight = weights[name] / total
            points = round(weight * float(available[name]), 9)  # type: ignore[arg-type]
            sai += points
            contributions[name] = Contribution(name, available[name], weight, points)
        else:
            contributions[name] = Contribution(name, scores.get(name), 0.0, None)
    return sai, contributions


# ---------------------------------------------------------------------------- pitfalls


def _severity(value: float, threshold: float, *, minimum: bool) -> str:
    if minimum:
        return "critical" if value < threshold / 2 else "warning"
    return "critical" if value > threshold * 2 else "warning"


def _pitfalls(
    strategy: Strategy,
    facts: Facts,
    autos: dict[str, AutomationMeasures],
    procs: dict[str, ProcessMeasures],
    fold: Fold | None,
) -> list[Finding]:
    th = strategy.thresholds
    findings: list[Finding] = []
    floor = PITFALL_MIN_EVENTS

    def finding(pitfall: str, automation: str, active: bool, severity: str | None, evidence: dict[str, Any],
                threshold: dict[str, float], message: str) -> None:
        findings.append(Finding(pitfall, automation, active, severity if active else None, evidence, threshold, message))

    for a in strategy.automations:
        s = autos[a.id]
        # feature overload
        if s.usage_events >= floor and s.feature_usage is not None:
            active = s.feature_usage < th.feature_usage_min
            finding("feature_overload", a.id, active,
                    _severity(s.feature_usage, th.feature_usage_min, minimum=True),
                    {"feature_usage": s.feature_usage, "features_used": len(s.features_used),
                     "features_licensed": s.features_licensed},
                    {"feature_usage_min": th.feature_usage_min},
                    f"{len(s.features_used)} of {s.features_licensed} licensed features used")
        # process mismatch
        reasons: dict[str, Any] = {}
        severities = []
        evaluated = False
        if s.runs >= floor:
            evaluated = True
            if s.failure_rate is not None and s.failure_rate > th.failure_rate_max:
                reasons["failure_rate"] = s.failure_rate
                severities.append(_severity(s.failure_rate, th.failure_rate_max, minimum=False))
            if s.manual_intervention_rate is not None and s.manual_intervention_rate > th.manual_intervention_max:
                reasons["manual_intervention_rate"] = s.manual_intervention_rate
                severities.append(_severity(s.manual_intervention_rate, th.manual_intervention_max, minimum=False))
        for pid in a.processes:
            p = procs.get(pid)
            if p is None or p.executions < floor:
                continue
            evaluated = True
            if p.rework_rate is not None and p.rework_rate > th.rework_rate_max:
                reasons[f"rework_rate[{pid}]"] = p.rework_rate
                severities.append(_severity(p.rework_rate, th.rework_rate_max, minimum=False))
            baseline = strategy.process(pid).baseline_cycle_time_s
            cycle = p.automated_cycle_time_s
            if baseline is not None and cycle is not None and p.automated_executions >= floor and cycle >= baseline:
                reasons[f"automated_cycle_time_s[{pid}]"] = cycle
                severities.append("critical" if cycle > 2 * baseline else "warning")
        if evaluated:
            finding("process_mismatch", a.id, bool(reasons),
                    "critical" if "critical" in severities else "warning",
                    {"failure_rate": s.failure_rate, "manual_intervention_rate": s.manual_intervention_rate,
                     "runs": s.runs, "triggered_by": reasons},
                    {"failure_rate_max": th.failure_rate_max, "manual_intervention_max": th.manual_intervention_max,
                     "rework_rate_max": th.rework_rate_max},
                    ", ".join(f"{k} {v:.3g}" for k, v in reasons.items()) or "runs and processes within thresholds")
        # integration issues
        if s.runs >= floor and s.integration_issues_per_100_runs is not None:
            value = s.integration_issues_per_100_runs
            limit = th.integration_issues_per_100_runs_max
            finding("integration_issues", a.id, value > limit, _severity(value, limit, minimum=False),
                    {"issues_per_100_runs": value, "issues": s.integration_issues, "runs": s.runs},
                    {"integration_issues_per_100_runs_max": limit},
                    f"{value:.3g} integration issues per 100 runs")
        # lack of user adoption
        adoption_reasons: dict[str, float] = {}
        sev = []
        adoption_evaluated = False
        if s.adoption is not None and s.usage_events >= floor:
            adoption_evaluated = True
            if s.adoption < th.adoption_min:
                adoption_reasons["adoption"] = s.adoption
                sev.append(_severity(s.adoption, th.adoption_min, minimum=True))
        if s.manual_share is not None and s.executions >= floor:
            adoption_evaluated = True
            if s.manual_share > th.manual_share_max:
                adoption_reasons["manual_share"] = s.manual_share
                sev.append("critical" if s.manual_share > (1 + th.manual_share_max) / 2 else "warning")
        if adoption_evaluated:
            finding("lack_of_user_adoption", a.id, bool(adoption_reasons),
                    "critical" if "critical" in sev else "warning",
                    {"active_users": s.active_users, "seats": s.seats, "adoption": s.adoption,
                     "manual_share": s.manual_share, "triggered_by": adoption_reasons},
                    {"adoption_min": th.adoption_min, "manual_share_max": th.manual_share_max},
                    f"{s.active_users} active users of {s.seats} seats; manual share {s.manual_share}")
        # ROI miscalculation (seed: "Overestimating the potential ROI of automation without considering all costs
        # and risks"): realisation below the minimum in consecutive windows of the window's own length ending at its
        # end, so a 28-day window judges months of bookings (a monthly licence cost falls in every one of them)
        if fold is not None and a.projected_roi > 0:
            length = facts.end - facts.start
            wanted = min(th.roi_consecutive_windows, ROI_MAX_WINDOWS)
            series: list[float] = []
            for k in range(wanted):
                w_end = facts.end - k * length
                sub = fold(w_end - length, w_end, ROI_TYPES)
                roi = None if sub is None else _ratio(*_roi_parts(strategy, sub, a.id)[:2])
                if roi is None:
                    break  # a window without data or without a cost: the series is not judged
                series.append(roi / a.projected_roi)
            if len(series) == wanted:
                low = all(v < th.roi_realisation_min for v in series)
                days = length.total_seconds() / 86400.0
                finding("roi_miscalculation", a.id, low,
                        _severity(max(series), th.roi_realisation_min, minimum=True),
                        {"roi_realisation_by_window": series, "window_days": days, "projected_roi": a.projected_roi},
                        {"roi_realisation_min": th.roi_realisation_min,
                         "roi_consecutive_windows": float(th.roi_consecutive_windows)},
                        f"ROI realisation {', '.join(f'{v:.2f}' for v in series)} (newest first) in the last "
                        f"{len(series)} windows of {days:g} days")
        # over-production
        for pid in a.processes:
            p = procs.get(pid)
            if p is None or p.sell_through is None or p.units_out <= 0:
                continue
            if p.executions < floor or p.orders < floor:
                continue
            value = p.sell_through
            finding("overproduction", a.id, value < th.sell_through_min,
                    _severity(value, th.sell_through_min, minimum=True),
                    {"process": pid, "sell_through": value, "units_ordered": p.units_ordered, "units_out": p.units_out},
                    {"sell_through_min": th.sell_through_min},
                    f"{p.units_ordered:.0f} units ordered of {p.units_out:.0f} produced by {pid}")
    return findings


# ---------------------------------------------------------------------------- checklist


def _checklist(
    strategy: Strategy, kpis: dict[str, KpiLine], monitored: bool | None
) -> dict[ChecklistItem, ChecklistVerdict]:
    declared = strategy.checklist
    out: dict[ChecklistItem, ChecklistVerdict] = {}

    def verdict(item: ChecklistItem, status: str, evidence: str, source: str) -> None:
        out[item] = {"status": status, "evidence": evidence, "source": source}

    def from_answer(item: ChecklistItem, derive: Callable[[], tuple[str, str]]) -> None:
        answer = declared.get(item)
        if answer is not None:
            status = {"yes": "passed", "no": "failed", "unknown": "unknown"}[answer.answer]
            verdict(item, status, answer.evidence or f"declared {answer.answer}", "declared")
        else:
            status, evidence = derive()
            verdict(item, status, evidence, "strategy")

    from_answer("clear_strategy", lambda: (
        ("passed" if 3 <= len(strategy.goals) <= 5 else "failed"), f"{len(strategy.goals)} goals declared"))
    automated = {pid for a in strategy.automations for pid in a.processes}
    no_baseline = sorted(pid for pid in automated if strategy.process(pid).baseline_cycle_time_s is None)
    from_answer("process_assessment", lambda: (
        ("failed" if no_baseline else "passed"),
        f"no baseline cycle time for {', '.join(no_baseline)}" if no_baseline else "every automated process has a baseline"))
    goal_kpis = {k for g in strategy.goals for k in g.kpis}
    unlinked = [a.id for a in strategy.automations if not set(a.kpis) & goal_kpis]
    verdict("automation_linked_to_goals", "failed" if unlinked else "passed",
            f"not linked to a goal's KPI: {', '.join(unlinked)}" if unlinked else
            "every automation was promised to move a KPI of a goal", "strategy")
    if strategy.automations:
        top = min(strategy.automations, key=lambda a: (a.priority, a.id))
        critical = [pid for pid in top.processes if strategy.process(pid).criticality == "critical"]
        verdict("prioritisation", "passed" if critical else "failed",
                f"top-priority automation {top.id} serves "
                + (f"critical process(es) {', '.join(critical)}" if critical else "no critical process"), "strategy")
    else:
        from_answer("prioritisation", lambda: ("unknown", "no automation declared"))
    pilots = [a.id for a in strategy.automations if a.pilot]
    from_answer("pilot_projects", lambda: (
        ("passed" if pilots else "failed"), f"pilots: {', '.join(pilots)}" if pilots else "no automation started as a pilot"))
    from_answer("team_involvement", lambda: ("unknown", "not declared in the strategy"))
    without = [a.id for a in strategy.automations
               if not any(k in kpis and kpis[k].value is not None for k in a.kpis)]
    verdict("kpi_measurement", "failed" if without else "passed",
            f"no KPI with data in the window for: {', '.join(without)}" if without else
            "every automation has a KPI with data in the window", "data")
    if monitored is None:
        from_answer("continuous_monitoring", lambda: ("unknown", "pipeline runs not consulted"))
    else:
        verdict("continuous_monitoring", "passed" if monitored else "failed",
                "a pipeline run was published in the two days up to the window's end" if monitored else
                "no pipeline run published in the two days up to the window's end", "data")
    return {item: out[item] for item in CHECKLIST}


# ---------------------------------------------------------------------------- drift


def _outcome_attainment(strategy: Strategy, facts: Facts) -> float | None:
    values = []
    for kpi in strategy.kpis:
        if kpi.perspective in ("financial", "customer"):
            value, _ = kpi_measure(strategy, facts, kpi)
            a = attainment(kpi, value)
            if a is not None:
                values.append(a)
    return sum(values) / len(values) if values else None


def _below_target(kpi_id: str, kpi: KpiLine) -> KpiBelowTarget | None:
    if not kpi.below_target or kpi.value is None:
        return None
    guarded = kpi.events < kpi.min_events
    guard = " (fewer events than the KPI's minimum: not alerted)" if guarded else ""
    return KpiBelowTarget(kpi_id, kpi.value, kpi.target, kpi.events, guarded,
                          f"KPI {kpi_id} at {_plain(kpi.value)} against target {_plain(kpi.target)}{guard}")


def _drift(strategy: Strategy, facts: Facts, kpis: dict[str, KpiLine], sai: float | None, fold: Fold | None,
           ev: Evaluation, rolling_7d: bool) -> None:
    th = strategy.thresholds
    ev.drift.below_target = [signal for k, v in kpis.items() if (signal := _below_target(k, v)) is not None]
    if not rolling_7d or fold is None:
        return
    baseline_facts = fold(facts.end - dt.timedelta(days=28), facts.end - WEEK)
    regressions = []
    for kpi in strategy.kpis:
        recent = kpis[kpi.id]
        base_value, base_events = (None, 0.0) if baseline_facts is None else kpi_measure(strategy, baseline_facts, kpi)
        value = recent.value
        drop = None
        enough = recent.events >= th.regression_min_samples and base_events >= th.regression_min_samples
        if value is not None and base_value is not None and base_value != 0.0 and enough:
            worse = (base_value - value) if kpi.direction == "up" else (value - base_value)
            drop = worse / abs(base_value)
        ev.add("drift_regression", {"kpi": kpi.id}, drop, recent=value, baseline=base_value, events=recent.events)
        if drop is not None and drop >= th.regression_drop:
            regressions.append(KpiRegression(kpi.id, value, base_value, drop, th.regression_drop,
                                             f"KPI {kpi.id} {drop:.0%} worse over 7 days than the 21 days before"))
    ev.drift.regressions = regressions
    series = []
    for k in range(min(th.staleness_windows, STALENESS_MAX_WEEKS) + 1, 0, -1):
        week_end = facts.end - (k - 1) * WEEK
        sub = fold(week_end - WEEK, week_end)
        series.append(None if sub is None else _outcome_attainment(strategy, sub))
    falling = all(v is not None for v in series) and all(
        series[i + 1] < series[i] for i in range(len(series) - 1))  # type: ignore[operator]
    stale = None if sai is None else float(bool(sai >= th.staleness_sai_min and falling))
    ev.add("drift_strategic_staleness", {}, stale, sai=sai, outcome_attainment_by_week=series)
    ev.drift.staleness = StrategicStaleness(
        bool(stale), sai, tuple(series), th.staleness_sai_min, th.staleness_windows,
        "alignment high while outcome KPIs fell week after week: review the strategy"
        if stale else "outcome KPIs not falling while alignment is high")


# ---------------------------------------------------------------------------- prioritisation


@dataclass(frozen=True)
class Priority:
    """A process to automate next, ranked by goal weight × criticality × manual volume × manual cost.

    ``cost_declared`` is false when the strategy declares no manual cost per case for the
    process (``manual_cost_per_case`` then counts 1 per case): the report gives its impact in
    weighted cases, not money. It is not part of the JSON, which has always carried the cost used.
    """

    id: str
    name: str
    score: float
    goal_weight: float
    criticality: str
    manual_share: float
    manual_volume_per_month: float
    manual_cost_per_case: float
    candidate: bool
    automations: tuple[str, ...]
    rank: int
    cost_declared: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "score": self.score, "goal_weight": self.goal_weight,
                "criticality": self.criticality, "manual_share": self.manual_share,
                "manual_volume_per_month": self.manual_volume_per_month,
                "manual_cost_per_case": self.manual_cost_per_case, "candidate": self.candidate,
                "automations": list(self.automations), "rank": self.rank}


def priorities(strategy: Strategy, procs: Mapping[str, ProcessMeasures]) -> list[Priority]:
    """Processes ranked by goal weight × criticality × manual volume × manual cost (highest first)."""
    goal_share = strategy.goal_weights()
    automated_by = {pid: tuple(a.id for a in strategy.automations if pid in a.processes)
                    for pid in (p.id for p in strategy.processes)}
    rows: list[Priority] = []
    for p in strategy.processes:
        stats = procs.get(p.id)
        rate = None if stats is None else stats.automation_rate
        manual_share = 1.0 if p.candidate or rate is None else 1.0 - rate
        if manual_share <= 0:
            continue
        weight = sum(goal_share.get(g, 0.0) for g in p.goals)
        volume = (p.monthly_volume or 0.0) * manual_share
        cost = p.manual_cost_per_case if p.manual_cost_per_case is not None else 1.0
        score = weight * CRITICALITY_FACTOR[p.criticality] * volume * cost
        rows.append(Priority(
            id=p.id, name=p.name, score=score, goal_weight=weight, criticality=p.criticality,
            manual_share=manual_share, manual_volume_per_month=volume, manual_cost_per_case=cost,
            candidate=p.candidate, automations=automated_by[p.id], rank=0,
            cost_declared=p.manual_cost_per_case is not None,
        ))
    rows.sort(key=lambda r: (-r.score, r.id))
    return [replace(row, rank=rank) for rank, row in enumerate(rows, 1)]


# ---------------------------------------------------------------------------- the whole window


@dataclass(frozen=True)
class Run:
    """What a formula is given besides the strategy, the window's facts and the evaluation so far."""

    fold: Fold | None = None
    monitored: bool | None = None
    rolling_7d: bool = False
    detect_pitfalls: bool = True
    ethics_inputs: Callable[[dt.datetime, dt.datetime], EthicsInputs] | None = None  # the window's ethics events


Formula = Callable[[Strategy, Facts, Evaluation, Run], None]
"""A step of the evaluation: adds the values of the catalogue metrics that name it."""


def _cycle_time_p90(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    for p in strategy.processes:
        pairs = facts.distribution("cycle_time", processes=[p.id])
        executions = float(sum(count for _, count in pairs))
        ev.add("cycle_time_p90", {"process": p.id}, percentile(pairs, Fraction(9, 10)), executions=executions)


def _human_reachability(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    touch = facts.touch_sums()
    reach = _ratio(touch["within_sla"], touch["escalations"])
    ev.add("human_reachability", {}, reach, within_sla=touch["within_sla"], requested=touch["escalations"])
    ev.add("escalations_requested", {}, touch["escalations"])
    floor = float(strategy.thresholds.human_reachability_floor)
    missed = int(round(touch["escalations"] - touch["within_sla"]))
    ev.add(
        "human_reachability_floor_evidence", {},
        budget_evidence(missed, int(round(touch["escalations"])), 1.0 - floor) if touch["escalations"] else None,
        missed=missed, requested=touch["escalations"], floor=floor,
    )  # fmt: skip
    ev.human_reachability = {
        "value": reach, "requested": touch["escalations"], "within_sla": touch["within_sla"],
        "floor": strategy.thresholds.human_reachability_floor, "sla_s": strategy.thresholds.escalation_sla_s,
        "below_floor": None if reach is None else reach < strategy.thresholds.human_reachability_floor,
        "touchpoints": {
            tp.id: {"requested": facts.touch_sums(tp.id)["escalations"],
                    "value": _ratio(facts.touch_sums(tp.id)["within_sla"], facts.touch_sums(tp.id)["escalations"])}
            for tp in strategy.journey
        },
    }


def _kpi_values(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    ev.kpis = _kpis(strategy, facts)
    for kpi_id, k in ev.kpis.items():
        ev.add("kpi_value", {"kpi": kpi_id}, k.value, measure=k.measure)
        ev.add("kpi_events", {"kpi": kpi_id}, k.events)
        ev.add("kpi_attainment", {"kpi": kpi_id}, k.attainment, target=k.target, baseline=k.baseline)
        burn = kpi_burn(k.measure, k.direction, k.target, k.value, k.events)
        if burn is not None:
            inputs = {"bad": burn.bad, "events": burn.events, "budget": burn.budget}
            ev.add("kpi_burn_rate", {"kpi": kpi_id}, burn.rate, **inputs)
            ev.add("kpi_burn_evidence", {"kpi": kpi_id}, burn.evidence, **inputs)


def _perspective_scores(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    ev.perspectives = _perspectives(strategy, ev.kpis)
    for perspective, score in ev.perspectives.items():
        judged, guarded = perspective_kpis(ev.kpis, perspective)
        ev.add("perspective_score", {"perspective": perspective}, score, judged=judged, not_judged=guarded)


def _sai(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    values = {name: ev.indices[name].value for name in INDICES}
    scores: dict[str, float | None] = {name: None if value is None else 100.0 * value for name, value in values.items()}
    scores.update(ev.perspectives)
    scores[ETHICS_INPUT] = ev.ethics_score  # no data on hour and day windows: its weight goes to the others there
    ev.sai, ev.contributions = sai_of(strategy, scores)
    ev.add("sai", {}, ev.sai)
    if ev.sai is not None:
        for name, c in ev.contributions.items():
            if c.points is not None:
                ev.add("sai_contribution", {"input": name}, c.points, weight=c.weight, score=c.score)


def _checklist_items(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    ev.checklist = _checklist(strategy, ev.kpis, run.monitored)
    for item, c in ev.checklist.items():
        flag = {"passed": 1.0, "failed": 0.0}.get(c["status"])
        ev.add("checklist_item_passed", {"item": item}, flag, status=c["status"], source=c["source"])
    passed = sum(1 for c in ev.checklist.values() if c["status"] == "passed")
    ev.readiness = passed / len(CHECKLIST)
    ev.add("checklist_readiness", {}, ev.readiness, passed=passed)


def _pitfall_flags(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    ev.findings = _pitfalls(strategy, facts, ev.automations, ev.processes, run.fold) if run.detect_pitfalls else []
    for pitfall in PITFALLS:
        for a in strategy.automations:
            found = [f for f in ev.findings if f.pitfall == pitfall and f.automation == a.id]
            if not found:
                continue
            worst = sorted(found, key=lambda f: (not f.active, f.severity != "critical"))[0]
            ev.add("pitfall_active", {"pitfall": pitfall, "automation": a.id}, 1.0 if worst.active else 0.0,
                   severity=worst.severity, evidence=worst.evidence, threshold=worst.threshold)


def _ethics(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    if not run.detect_pitfalls or run.ethics_inputs is None:
        return  # judged on 7 and 28 days of decisions, like the pitfalls
    assessment = assess(strategy, run.ethics_inputs(facts.start, facts.end), facts.start, facts.end)
    ev.ethics = assessment
    ev.ethics_score = ethics_score(assessment)
    checks = ethics_checks(assessment)
    ev.add("ethics_score", {}, ev.ethics_score, checks=len(checks), passed=sum(ok for _, ok in checks),
           failed=[name for name, ok in checks if not ok])
    for p in assessment.parity:
        labels = {"automation": p.automation_id, "dimension": p.dimension}
        inputs = {"lowest": p.lowest, "highest": p.highest, "z": p.z, "floor": p.floor, "min_sample": p.min_sample}
        ev.add("ethics_parity_ratio", labels, p.ratio, **inputs)
        ev.add("ethics_parity_breach", labels, None if p.ratio is None else float(p.breach), **inputs)
    for a in assessment.agency:
        counts = {"decisions": a.decisions, "reviewed": a.reviewed, "overridden": a.overridden, "appealed": a.appealed}
        ev.add("ethics_decisions", {"automation": a.automation_id}, a.decisions)
        ev.add("ethics_override_rate", {"automation": a.automation_id}, a.override_rate, **counts)
        ev.add("ethics_appeal_rate", {"automation": a.automation_id}, a.appeal_rate, **counts)
    for st in assessment.staleness:
        age = None if st.days_since is None else st.days_since * 86400.0
        ev.add("ethics_oversight_age", {"automation": st.automation_id}, age, owner=st.owner, every_days=st.review_every_days)
        ev.add("ethics_oversight_overdue", {"automation": st.automation_id}, float(st.overdue), days_since=st.days_since)
    r = assessment.reskilling
    ev.add("ethics_reskilling_coverage", {}, r.coverage, covered=len(r.covered), displaced=len(r.displaced), pending=len(r.pending))
    ev.add("ethics_displaced", {}, float(len(r.displaced)), employees=list(r.displaced))


def _automations(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    ev.automations = _automation_metrics(strategy, facts, ev)


def _processes(strategy: Strategy, facts: Facts, ev: Evaluation, run: Run) -> None:
    ev.processes = _process_metrics(strategy, facts, ev)


FORMULAS: dict[str, Formula] = {
    "cjai": lambda strategy, facts, ev, run: _cjai(strategy, facts, ev),
    "spar": lambda strategy, facts, ev, run: _spar(strategy, facts, ev),
    "aac": lambda strategy, facts, ev, run: _aac(strategy, facts, ev),
    "sdur": lambda strategy, facts, ev, run: _sdur(facts, ev),
    "ssai": lambda strategy, facts, ev, run: _ssai(facts, ev),
    "automations": _automations,
    "processes": _processes,
    "cycle_time_p90": _cycle_time_p90,
    "human_reachability": _human_reachability,
    "kpis": _kpi_values,
    "perspectives": _perspective_scores,
    "ethics": _ethics,
    "sai": _sai,
    "checklist": _checklist_items,
    "pitfalls": _pitfall_flags,
    "drift": lambda strategy, facts, ev, run: _drift(strategy, facts, ev.kpis, ev.sai, run.fold, ev, run.rolling_7d),
}
"""The formulas the catalogue's ``computed_by`` names, in the order they run (a step reads
what the steps before it put in the evaluation: the SAI reads the indices, the
perspective scores and the ethics score, the pitfalls read the automation and process metrics)."""

_unknown = sorted({name for d in CATALOGUE.values() for name in d.distributions} - set(DISTRIBUTIONS))
if _unknown:
    raise ConfigError(f"metric catalogue: distributions not in aggregates.DISTRIBUTIONS: {_unknown}")
_unresolved = sorted({d.computed_by for d in CATALOGUE.values()} ^ set(FORMULAS))
if _unresolved:
    raise ConfigError(f"metric catalogue: computed_by names no formula, or a formula computes no metric: {_unresolved}")


def evaluate(
    strategy: Strategy,
    facts: Facts,
    *,
    fold: Fold | None = None,
    monitored: bool | None = None,
    rolling_7d: bool = False,
    detect_pitfalls: bool = True,
    ethics_inputs: Callable[[dt.datetime, dt.datetime], EthicsInputs] | None = None,
) -> Evaluation:
    """Every metric of the catalogue for the window of ``facts``: each step of :data:`FORMULAS` in turn.

    ``fold(start, end)`` gives the facts of another window inside the range that was read
    (None when it is not covered): ROI realisation of past weeks, regression baselines and
    daily outcome KPIs for staleness. ``monitored`` says whether a pipeline run was
    published in the two days up to the window's end (run history as it stood at the
    window's end). ``rolling_7d`` marks the window on which
    regression and staleness are emitted. ``detect_pitfalls`` is False on hour and day
    windows: a pitfall is a pattern, judged on 7 and 28 days of evidence. ``ethics_inputs(start, end)``
    reads the events the ethics measures need (:func:`alignwatch.metrics.ethics.fetch_inputs`);
    None leaves them out.
    """
    ev = Evaluation(start=facts.start, end=facts.end)
    run = Run(fold=fold, monitored=monitored, rolling_7d=rolling_7d, detect_pitfalls=detect_pitfalls,
              ethics_inputs=ethics_inputs)
    for name, formula in FORMULAS.items():
        ev.step = name
        formula(strategy, facts, ev, run)
    ev.step = ""
    return ev


def ranked_findings(findings: Iterable[Finding], *, active_only: bool = True) -> list[Finding]:
    """The findings (the active ones only, by default) by severity, critical first, then by pitfall and automation."""
    order = {"critical": 0, "warning": 1, None: 2}
    chosen = [f for f in findings if f.active or not active_only]
    chosen.sort(key=lambda f: (order[f.severity], f.pitfall, f.automation))
    return chosen
