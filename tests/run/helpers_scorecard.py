"""Scorecards of the report and live-view tests (imported by name): typed, in the shape
:func:`alignwatch.metrics.scorecard.build_scorecard` returns."""

from __future__ import annotations

import datetime as dt

from alignwatch.metrics.card import (
    Checklist,
    ChecklistLine,
    Contribution,
    IndexLine,
    KpiBelowTarget,
    KpiLine,
    PilotVerdict,
    Priority,
    Scorecard,
)
from alignwatch.metrics.formulas import Finding, HumanReachability


def kpi_line(name: str, perspective: str, unit: str, target: float, value: float, attainment: float, events: float,
             *, below_target: bool, red_flag_crossed: bool | None = None) -> KpiLine:
    """A KPI of a scorecard, direction up, judged from 20 events."""
    return KpiLine(name=name, perspective=perspective, measure="custom", unit=unit, direction="up", target=target,
                   baseline=None, red_flag=None, value=value, events=events, attainment=attainment,
                   below_target=below_target, red_flag_crossed=red_flag_crossed, min_events=20,
                   judged=events >= 20, not_judged=None if events >= 20 else f"{events:g} events, fewer than min_events 20",
                   note=None)


def empty_scorecard() -> Scorecard:
    """The scorecard of a window without any event."""
    return Scorecard(
        business="New shop", window="7d", start=dt.datetime(2026, 2, 22, tzinfo=dt.UTC),
        end=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), sai=None, contributions=(), indices={}, perspectives={}, kpis={},
        checklist=Checklist(None, 0, {}), pitfalls=(), drift=(), human_reachability=HumanReachability(value=None),
        priorities=(), pilots=(),
    )


def bakery_scorecard() -> Scorecard:
    """A scorecard of the bakery: every part ``alignwatch.metrics.scorecard.build_scorecard`` fills."""
    points = {"cjai": 8.1, "spar": 9.4, "aac": 4.2, "sdur": 6.0, "ssai": 5.5, "financial": 7.9, "customer": 9.6,
              "internal_process": 6.3, "learning_growth": 6.27}
    sell_through = kpi_line("Bread sold of bread baked", "internal_process", "ratio", 0.9, 0.62, 0.69, 412,
                            below_target=True, red_flag_crossed=True)
    return Scorecard(
        business="Corner Bakery", window="7d", start=dt.datetime(2026, 2, 22, tzinfo=dt.UTC),
        end=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        sai=63.27,
        contributions=tuple(Contribution(name, None, 1 / 9, p) for name, p in points.items()),
        indices={"cjai": IndexLine(0.5), "spar": IndexLine(0.75), "aac": IndexLine(0.41), "sdur": IndexLine(0.6),
                 "ssai": IndexLine(0.33)},
        perspectives={"financial": 55.0, "customer": 71.5, "internal_process": 48.25, "learning_growth": 62.0},
        kpis={"sell_through": sell_through,
              "csat": kpi_line("Customer satisfaction", "customer", "score", 4.5, 4.6, 1.0, 12, below_target=False)},
        checklist=Checklist(0.625, 1, {
            "clear_strategy": ChecklistLine("passed", "4 goals declared", "strategy"),
            "pilot_projects": ChecklistLine("failed", "oven went live without a pilot", "strategy"),
        }),
        pitfalls=(
            Finding("overproduction", "oven_scheduler", True, "critical",
                    {"units_produced": 1200, "units_ordered": 744, "sell_through": 0.62}, {"sell_through_min": 0.8},
                    "sell-through 0.62 below 0.8"),
            Finding("feature_overload", "shop_suite", True, "warning",
                    {"features_used": 3, "features_licensed": 12, "usage_ratio": 0.25}, {"feature_usage_min": 0.5},
                    "3 of 12 licensed features used"),
        ),
        drift=(KpiBelowTarget("sell_through", 0.62, 0.9, 412, False, "KPI sell_through at 0.62 against target 0.9"),),
        human_reachability=HumanReachability(value=0.95, requested=40, within_sla=38, floor=0.9, sla_s=300,
                                             below_floor=False),
        # 0.5 goal weight × 2 (supporting) × 325 manual cases a month × 2.50 a case = 812.5
        priorities=(Priority("invoicing", "Invoicing", 812.5, 0.5, "supporting", 1.0, 325.0, 2.5, True, (), 1),),
        pilots=(PilotVerdict("chatbot", "Order chatbot", "iterate", "KPI attainment moved -0.10 on average",
                             {"csat": -0.1}),),
    )
