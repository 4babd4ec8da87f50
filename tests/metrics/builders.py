"""Builders of the metric-engine tests: the small strategy, valid events, store helpers."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import sqlalchemy as sa

from alignwatch.metrics import hourcache
from alignwatch.metrics.strategy import Strategy, parse_strategy
from alignwatch.store.schema import events, metric_values, pipeline_runs
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row

DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)  # a Monday; the hand-computed fixtures' day

STRATEGY: dict[str, Any] = {
    "business": {"name": "Test Shop", "timezone": "UTC", "currency": "EUR"},
    "goals": [
        {"id": "g_cust", "name": "Happy customers", "perspective": "customer", "weight": 2, "kpis": ["k_csat", "k_reach"]},
        {"id": "g_ops", "name": "Lean operations", "perspective": "internal_process", "weight": 1,
         "kpis": ["k_auto", "k_sell", "k_err"]},
        {"id": "g_fin", "name": "Margin", "perspective": "financial", "weight": 1, "kpis": ["k_roi"]},
    ],
    "kpis": [
        {"id": "k_csat", "name": "CSAT", "perspective": "customer", "unit": "score", "direction": "up",
         "target": 4, "measure": "csat"},
        {"id": "k_reach", "name": "Reachability", "perspective": "customer", "unit": "ratio", "direction": "up",
         "target": 0.9, "measure": "human_reachability", "filters": {"touchpoint": "chat"}},
        {"id": "k_auto", "name": "Packing automated", "perspective": "internal_process", "unit": "ratio",
         "direction": "up", "target": 0.8, "measure": "automation_rate", "filters": {"process": "pack"}},
        {"id": "k_sell", "name": "Sell-through", "perspective": "internal_process", "unit": "ratio",
         "direction": "up", "target": 1.0, "measure": "sell_through", "filters": {"process": "bake"}},
        {"id": "k_err", "name": "Packing errors", "perspective": "internal_process", "unit": "ratio",
         "direction": "down", "target": 0.1, "baseline": 0.3, "measure": "error_rate", "filters": {"process": "pack"}},
        {"id": "k_roi", "name": "Bot ROI realised", "perspective": "financial", "unit": "ratio", "direction": "up",
         "target": 1.0, "measure": "roi_realisation", "filters": {"automation": "bot"}},
    ],
    "processes": [
        {"id": "pack", "name": "Packing", "criticality": "critical", "goals": ["g_ops"], "baseline_cycle_time_s": 100,
         "monthly_volume": 100, "manual_cost_per_case": 2},
        {"id": "bake", "name": "Baking", "criticality": "supporting", "goals": ["g_ops"]},
        {"id": "books", "name": "Bookkeeping", "criticality": "peripheral", "goals": ["g_fin"], "monthly_volume": 50,
         "manual_cost_per_case": 4, "candidate": True},
    ],
    "journey": [
        {"id": "chat", "name": "Support chat", "stage": "service", "process": "pack", "goals": ["g_cust"],
         "human_fallback": True},
        {"id": "shop", "name": "Shop", "stage": "purchase", "process": "pack"},
        {"id": "phone", "name": "Phone", "stage": "service", "process": "pack", "goals": ["g_cust"]},
    ],
    "automations": [
        {"id": "bot", "name": "Chat bot", "system": "BotCo", "processes": ["pack"], "touchpoints": ["chat"],
         "features_licensed": ["a", "b", "c", "d"], "seats": 4, "monthly_cost": 100, "projected_roi": 2.0,
         "go_live": "2026-01-01", "priority": 1, "kpis": ["k_csat", "k_reach"]},
        {"id": "oven", "name": "Oven", "system": "Bake", "processes": ["bake"], "features_licensed": ["x"], "seats": 2,
         "projected_roi": 1.0, "go_live": "2025-01-01", "priority": 2, "kpis": ["k_sell"]},
    ],
    "checklist": {"team_involvement": {"answer": "yes", "evidence": "staff workshop"}},
}


# the hand-computed fixtures are a handful of events: every KPI is judged from one event on (min_events 1), and the
# tests of the minimum-event guard set their own minimum
for _kpi in STRATEGY["kpis"]:
    _kpi["min_events"] = 1


def make_strategy(**changes: Any) -> Strategy:
    """The test strategy, with top-level sections replaced by ``changes``."""
    return parse_strategy({**STRATEGY, **changes})


def clear(engine: sa.Engine) -> None:
    """Empty the tables the engine reads and writes."""
    with engine.begin() as conn:
        conn.execute(metric_values.delete())
        conn.execute(pipeline_runs.delete())
        conn.execute(events.delete())
        # the hour-aggregate cache of the deleted events goes with them
        hourcache.clear(conn)


_serial = itertools.count(1)


def ev(type_: str, time: dt.datetime, **data: Any) -> dict[str, Any]:
    """The store row of a valid event of ``type_`` at ``time`` with payload ``data``."""
    event = make_event(type_, "test://shop", f"e-{next(_serial):08d}", time, data)
    return event_row(event, time + dt.timedelta(minutes=1))


def insert(engine: sa.Engine, rows: list[dict[str, Any]]) -> None:
    """Store event rows (as the ingestion sink would)."""
    if rows:
        with engine.begin() as conn:
            conn.execute(events.insert(), rows)


def at(hours: float = 0.0, day: dt.datetime = DAY0) -> dt.datetime:
    """A moment ``hours`` after the start of ``day``."""
    return day + dt.timedelta(hours=hours)


# ---------------------------------------------------------------------------- event builders


def run(time: dt.datetime, automation: str, process: str, status: str = "succeeded", **extra: Any) -> dict[str, Any]:
    return ev("automation.run", time, automation_id=automation, process_id=process, case_id=f"c{next(_serial)}",
              status=status, duration_s=10.0, **extra)


def execution(time: dt.datetime, process: str, automated: bool, cycle: float = 60.0, **extra: Any) -> dict[str, Any]:
    return ev("process.execution", time, process_id=process, case_id=f"c{next(_serial)}", automated=automated,
              cycle_time_s=cycle, **extra)


def touch(time: dt.datetime, touchpoint: str, by: str, resolved: bool = True, **extra: Any) -> dict[str, Any]:
    return ev("customer.touchpoint", time, touchpoint_id=touchpoint, customer_id="cust1", channel=touchpoint,
              handled_by=by, resolved=resolved, **extra)


def feedback(time: dt.datetime, **answers: Any) -> dict[str, Any]:
    return ev("customer.feedback", time, customer_id="cust1", **answers)


def order(time: dt.datetime, amount: float = 10.0, repeat: bool = False, **extra: Any) -> dict[str, Any]:
    return ev("customer.order", time, customer_id="cust1", order_id=f"o{next(_serial)}", amount=amount,
              repeat=repeat, **extra)


def finance(time: dt.datetime, kind: str, amount: float, automation: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"kind": kind, "amount": amount}
    if automation is not None:
        data["automation_id"] = automation
    return ev("finance.entry", time, **data)


def usage(time: dt.datetime, automation: str, feature: str, user: str) -> dict[str, Any]:
    return ev("feature.usage", time, automation_id=automation, feature=feature, user_id=user)


def workforce(time: dt.datetime, type_: str, employee: str, **data: Any) -> dict[str, Any]:
    return ev(f"workforce.{type_}", time, employee_id=employee, **data)


def day_values(engine: sa.Engine, strategy: Strategy, day: dt.datetime = DAY0, window: str = "day") -> dict[Any, Any]:
    """Values of the ``window`` kind computed for ``day`` (granularity day): {(metric, labels_key): value}."""
    from alignwatch.metrics.engine import compute

    values = compute(engine, strategy, start=day, end=day + dt.timedelta(days=1), granularity="day")
    return {(v.metric_id, v.labels_key): v.value for v in values if v.window == window}


def day_steps(start: dt.datetime, first: int, count: int) -> list[tuple[dt.datetime, dt.datetime]]:
    """``count`` day steps from the ``first``-th day after ``start``."""
    return [(start + dt.timedelta(days=first + k), start + dt.timedelta(days=first + k + 1)) for k in range(count)]


def by_step(computer: Any, engine: sa.Engine, strategy: Strategy, steps: list[tuple[dt.datetime, dt.datetime]]) -> list[Any]:
    """The values ``computer`` (``compute``'s signature) gives for each step, hour then day granularity."""
    return [computer(engine, strategy, start=lo, end=hi, granularity=granularity)
            for lo, hi in steps for granularity in ("hour", "day")]
