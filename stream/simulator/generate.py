"""The event generator behind ``simulate`` and ``messages``.

Two passes over a seeded ``random.Random``: first the skeleton (when each event happens,
of which type, about which process), drawn from an hourly profile with daily and weekly
seasonality; then the payloads, whose totals (units produced vs ordered, savings vs
costs) are scaled from the skeleton's counts so the scenario's planted ratios hold.
Emission order differs from event time: a share of events arrive hours late.

Outcomes measured outside the automated systems follow the strategy: each KPI with
``measure: observed`` gets a ``kpi.observed`` reading at the end of every week (it takes
the place of a feature.usage event of that week, so the count holds), moving from its
baseline towards its target; when the strategy declares ``new_products``, orders list
their products, a new product in a growing share of them. Both draw from their own
random streams, so every other event is the same as without them.

Decisions about customers follow the strategy's ``ethics`` section: when it declares a
decision-making automation, two of every three runs of that automation are sent as the
``automation.decision`` it made (the same case, time and source), with a segment per
declared dimension; the profile's ``decision_bias`` declines the first segment of the
first dimension that many times as often. They draw from their own random stream too.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from alignwatch.metrics.strategy import Kpi, Strategy, load_strategy
from alignwatch.stream.simulator.scenarios import PROFILES, Profile

__all__ = ["SimMessage", "Simulation", "default_strategy_path", "encode", "load_scenario_strategy"]

BASE_MIX: dict[str, float] = {
    "automation.run": 18,
    "process.execution": 18,
    "customer.touchpoint": 14,
    "customer.feedback": 6,
    "customer.order": 14,
    "finance.entry": 4,
    "feature.usage": 12,
    "integration.issue": 0.15,  # replaced by the profile's weight
    "data.produced": 2,
    "data.used": 2.5,
    "workforce.task": 5,
    "workforce.skill": 1,
    "workforce.survey": 1,
}

SOURCES: dict[str, str] = {
    "automation.run": "rpa",
    "process.execution": "erp",
    "customer.touchpoint": "helpdesk",
    "customer.feedback": "survey",
    "customer.order": "shop",
    "finance.entry": "accounting",
    "feature.usage": "saas",
    "integration.issue": "ipaas",
    "data.produced": "warehouse",
    "data.used": "warehouse",
    "workforce.task": "hr",
    "workforce.skill": "lms",
    "workforce.survey": "hr",
    "strategy.initiative": "strategy",
    "automation.reconfigured": "rpa",
    "kpi.observed": "research",
    "automation.decision": "rpa",
}

SEGMENT_VALUES: dict[str, tuple[str, ...]] = {
    "region": ("south", "north", "east", "west"),
    "customer_tier": ("bronze", "silver", "gold"),
    "language": ("en", "de", "fr"),
    "amount_band": ("0-50", "50-200", "200-1000"),
}
"""The segment values the simulated customers fall into, per dimension (others: ``<dimension>-1..3``);
the first value of the first declared dimension is the one a biased automation disfavours."""
DECLINE_RATE = 0.2
"""Share of the decisions with an unfavourable outcome (for the segments nobody disfavours)."""

MEAN_ORDER_UNITS = 3.0
ESTABLISHED_PRODUCTS = tuple(f"sku-{n:03d}" for n in range(1, 41))
"""The shop's established products (orders list them beside the strategy's new_products)."""
NEW_PRODUCT_SHARE = (0.1, 0.3)
"""Share of orders with a new product at the start and at the end of the simulated period."""


def default_strategy_path(scenario: str) -> Path:
    """The strategy of ``scenario``: ``examples/<scenario>.yaml``, shipped in the package.

    The files are package data of ``alignwatch`` (``alignwatch/examples`` links to the
    repository's ``examples/``), so a checkout and an installed wheel find the same file.
    """
    return Path(str(resources.files("alignwatch") / "examples" / f"{scenario}.yaml"))


def load_scenario_strategy(scenario: str, path: Path | None = None) -> Strategy:
    """The strategy of ``scenario`` (``alignwatch.metrics.strategy.load_strategy``)."""
    return load_strategy(path or default_strategy_path(scenario))


@dataclass(frozen=True)
class SimMessage:
    """One simulated Kafka message: ``kind`` is ``event``, ``duplicate`` or ``malformed``."""

    value: bytes
    key: bytes | None
    kind: str
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    event: dict[str, Any] | None = None

    @property
    def identity(self) -> tuple[str, str] | None:
        """(source, id) of a valid event."""
        return (self.event["source"], self.event["id"]) if self.event else None


@dataclass
class _Slot:
    time: dt.datetime
    type: str
    process: Any = None
    emit_at: dt.datetime | None = None


def _get(obj: Any, name: str, default: Any = None) -> Any:
    value = getattr(obj, name, default)
    return default if value is None else value


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds")


class Simulation:
    """A deterministic simulation of one scenario's business systems."""

    def __init__(
        self,
        scenario: str,
        strategy: Strategy,
        *,
        seed: int,
        start: dt.datetime,
        days: int,
        late_share: float = 0.03,
        planted: bool = True,
    ) -> None:
        if scenario not in PROFILES:
            raise ValueError(f"unknown scenario {scenario!r}; known: {', '.join(PROFILES)}")
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if days < 1:
            raise ValueError("days must be at least 1")
        self.scenario = scenario
        # planted=False: the scenario's control, the same business without its planted change
        self.profile: Profile = PROFILES[scenario] if planted else PROFILES[scenario].without_change()
        self.strategy = strategy
        self.seed = seed
        self.start = start.astimezone(dt.UTC)
        self.days = days
        self.end = self.start + dt.timedelta(days=days)
        self.change_at = self.start + dt.timedelta(days=days // 2)
        self.late_share = late_share
        self.rng = random.Random(seed)
        # outcome readings and order products draw from their own streams: the other events stay the same
        self._outcome_rng = random.Random(f"{seed}-outcomes")
        self._decision_rng = random.Random(f"{seed}-decisions")
        self._serial = 0
        self._read_strategy()

    # -- entities from the strategy --------------------------------------------

    def _read_strategy(self) -> None:
        s = self.strategy
        self.processes = list(_get(s, "processes", []))
        self.touchpoints = list(_get(s, "journey", []))
        self.automations = list(_get(s, "automations", []))
        self.goal_ids = [g.id for g in _get(s, "goals", [])]
        if not self.processes or not self.automations:
            raise ValueError(f"scenario {self.scenario}: the strategy needs processes and automations")
        covered: dict[str, list[Any]] = {}
        automated_processes: set[str] = set()
        for automation in self.automations:
            for tp in _get(automation, "touchpoints", []):
                covered.setdefault(tp, []).append(automation)
            automated_processes.update(_get(automation, "processes", []))
        self.covered = covered
        self.automated_processes = automated_processes
        production = set()
        for kpi in _get(s, "kpis", []):
            filters = _get(kpi, "filters")
            process = _get(filters, "process") if filters is not None else None
            if _get(kpi, "measure") == "sell_through" and process:
                production.add(process)
        if not production:
            critical = [p.id for p in self.processes if _get(p, "criticality") == "critical"]
            production = {(critical or [self.processes[0].id])[0]}
        self.production = production
        self.affected_touchpoints = self._affected_touchpoints()
        seats = max([int(_get(a, "seats", 0)) for a in self.automations] + [6])
        self.employees = [f"emp-{n:03d}" for n in range(1, seats + 5)]
        self.customers = [f"cust-{n:05d}" for n in range(1, 1501)]
        self.observed_kpis = [k for k in _get(s, "kpis", []) if _get(k, "measure") == "observed"]
        self.new_products = list(_get(s, "new_products", ()))
        self.oversights = {d.automation: d for d in _get(_get(s, "ethics"), "decisions", ())}

    def _affected_touchpoints(self) -> set[str]:
        if self.profile.reachability_after_change is None:
            return set()
        named = {
            tp.id
            for tp in self.touchpoints
            if tp.id in self.covered and any(word in tp.id for word in ("support", "chat", "help"))
        }
        if named:
            return named
        return {tp.id for tp in self.touchpoints if tp.id in self.covered and _get(tp, "human_fallback", False)}

    # -- pass 1: skeleton ---------------------------------------------------------

    def _hour_weights(self) -> list[float]:
        weights = []
        peak = set(self.profile.peak_hours)
        for hour_index in range(self.days * 24):
            moment = self.start + dt.timedelta(hours=hour_index)
            weight = 3.0 if moment.hour in peak else (0.2 if moment.hour < 6 or moment.hour >= 23 else 1.0)
            if moment.weekday() >= 5:
                weight *= self.profile.weekend_factor
            weights.append(weight)
        return weights

    def _skeleton(self, count: int) -> list[_Slot]:
        rng = self.rng
        mix = dict(BASE_MIX)
        mix["integration.issue"] = self.profile.integration_issue_weight
        types = list(mix)
        cum_types = list(_cumulative(mix.values()))
        hour_weights = _cumulative(self._hour_weights())
        extra = self._initiative_slots(count)
        hours = rng.choices(range(len(hour_weights)), cum_weights=hour_weights, k=max(0, count - len(extra)))
        chosen = rng.choices(types, cum_weights=cum_types, k=len(hours))
        slots = []
        for hour, kind in zip(hours, chosen, strict=True):
            moment = self.start + dt.timedelta(hours=hour, seconds=rng.uniform(0, 3600))
            slot = _Slot(moment, kind)
            if kind == "process.execution":
                slot.process = self._pick_process()
            slots.append(slot)
        slots.extend(extra)
        slots.sort(key=lambda s: s.time)
        return slots

    def _pick_process(self) -> Any:
        rng = self.rng
        production = [p for p in self.processes if p.id in self.production]
        if production and rng.random() < 0.4:
            return rng.choice(production)
        return rng.choice(self.processes)

    def _initiative_slots(self, count: int) -> list[_Slot]:
        if count < 200 or not self.goal_ids:
            return []
        slots = []
        initiatives = max(1, self.days // 10)
        for n in range(initiatives):
            at = self.start + dt.timedelta(days=self.days * (n + 0.2) / (initiatives + 0.5))
            slots.append(_Slot(at, "strategy.initiative", process=n))
        if self.affected_touchpoints:
            slots.append(_Slot(self.change_at, "automation.reconfigured", process="change"))
        return slots

    # -- pass 2: payloads -------------------------------------------------------

    def events(self, count: int) -> list[dict[str, Any]]:
        """``count`` distinct valid CloudEvents (dicts) in emission order (some late)."""
        slots = self._skeleton(count)
        counts = Counter(slot.type for slot in slots)
        production_runs = sum(1 for s in slots if s.type == "process.execution" and s.process.id in self.production)
        self._units_per_batch = MEAN_ORDER_UNITS * counts["customer.order"] / max(1, production_runs)
        self._finance_counts: Counter[tuple[str, str]] = Counter()
        self._finance_plan = self._plan_finance(slots)
        self._datasets: list[str] = []
        out: list[dict[str, Any]] = []
        for slot in slots:
            for event in self._make(slot):
                out.append(event)
        out = out[:count] if len(out) > count else out
        while len(out) < count:  # initiatives expand into several events; top up
            extra = _Slot(self.start + dt.timedelta(seconds=self.rng.uniform(0, self.days * 86400)), "feature.usage")
            out.extend(self._make(extra))
        if count >= 200:
            self._observe_outcomes(out)
        if self.oversights:
            self._decide(out)
        for event in out:
            lateness = self.rng.uniform(3600, 12 * 3600) if self.rng.random() < self.late_share else 0.0
            event["_emit"] = dt.datetime.fromisoformat(event["time"]) + dt.timedelta(seconds=lateness)
        out.sort(key=lambda e: e.pop("_emit"))
        return out

    def _plan_finance(self, slots: list[_Slot]) -> dict[int, tuple[str | None, str]]:
        rng = self.rng
        plan: dict[int, tuple[str | None, str]] = {}
        for index, slot in enumerate(slots):
            if slot.type != "finance.entry":
                continue
            kind = rng.choices(("cost", "saving", "revenue"), weights=(0.4, 0.4, 0.2))[0]
            automation = None if kind == "revenue" else rng.choice(self.automations).id
            plan[index] = (automation, kind)
            self._finance_counts[(automation or "", kind)] += 1
        # amounts are set per entry so that each (automation, kind) sums to its monthly figure
        self._slot_index = {id(slot): index for index, slot in enumerate(slots)}
        return plan

    def _envelope(self, kind: str, time: dt.datetime, data: dict[str, Any], subject: str | None = None) -> dict[str, Any]:
        self._serial += 1
        event: dict[str, Any] = {
            "specversion": "1.0",
            "id": f"{self.scenario[:3]}-{self.seed}-{self._serial:08d}",
            "source": f"sim://{self.scenario}/{SOURCES[kind]}",
            "type": kind,
            "time": _iso(time),
            "datacontenttype": "application/json",
            "data": data,
        }
        if subject:
            event["subject"] = subject
        return event

    def _progress(self, moment: dt.datetime) -> float:
        return min(1.0, max(0.0, (moment - self.start) / (self.end - self.start)))

    def _make(self, slot: _Slot) -> list[dict[str, Any]]:
        maker: Callable[[_Slot], list[dict[str, Any]]] = getattr(self, "_" + slot.type.replace(".", "_"))
        return maker(slot)

    def _automation(self) -> Any:
        return self.rng.choice(self.automations)

    def _automation_run(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        automation = self._automation()
        processes = list(_get(automation, "processes", [])) or [self.processes[0].id]
        process_id = rng.choice(processes)
        data = {
            "automation_id": automation.id,
            "process_id": process_id,
            "case_id": f"case-{rng.getrandbits(40):010x}",
            "status": "succeeded" if rng.random() < p.run_success else "failed",
            "duration_s": round(rng.lognormvariate(math.log(45), 0.6), 2),
            "manual_intervention": rng.random() < p.manual_intervention,
        }
        return [self._envelope(slot.type, slot.time, data, subject=automation.id)]

    def _process_execution(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        process = slot.process
        automatable = process.id in self.automated_processes and not _get(process, "candidate", False)
        automated = automatable and rng.random() < p.automated_share
        baseline = float(_get(process, "baseline_cycle_time_s", 3600.0))
        cycle = baseline * (p.cycle_speedup if automated else 1.05) * rng.lognormvariate(0, 0.25)
        data: dict[str, Any] = {
            "process_id": process.id,
            "case_id": f"case-{rng.getrandbits(40):010x}",
            "automated": automated,
            "cycle_time_s": round(cycle, 1),
            "errors": 1 if rng.random() < p.error_rate else 0,
            "rework": 1 if rng.random() < p.rework else 0,
        }
        if automatable:
            data["automated_share"] = round(min(1.0, max(0.0, rng.gauss(0.9 if automated else 0.1, 0.05))), 3)
        if process.id in self.production:
            sell_through = p.sell_through_start + (p.sell_through_end - p.sell_through_start) * self._progress(slot.time)
            data["units_out"] = round(self._units_per_batch / sell_through * rng.uniform(0.85, 1.15), 1)
        return [self._envelope(slot.type, slot.time, data, subject=process.id)]

    def _customer_touchpoint(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        if not self.touchpoints:
            return self._customer_order(slot)
        touchpoint = rng.choice(self.touchpoints)
        by_automation = touchpoint.id in self.covered and rng.random() < p.handled_by_automation
        requested = by_automation and rng.random() < p.escalation_requested
        reach = p.reachability
        if (
            p.reachability_after_change is not None
            and touchpoint.id in self.affected_touchpoints
            and slot.time >= self.change_at
        ):
            reach = p.reachability_after_change
        data: dict[str, Any] = {
            "touchpoint_id": touchpoint.id,
            "customer_id": rng.choice(self.customers),
            "channel": str(_get(touchpoint, "channel", touchpoint.id)),
            "handled_by": "automation" if by_automation else "human",
            "resolved": rng.random() < p.resolved,
            "escalation_requested": requested,
        }
        if requested and rng.random() < reach:
            data["escalation_fulfilled_s"] = round(rng.lognormvariate(math.log(90), 0.5), 1)
        return [self._envelope(slot.type, slot.time, data, subject=touchpoint.id)]

    def _customer_feedback(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        data: dict[str, Any] = {"customer_id": rng.choice(self.customers)}
        if self.touchpoints:
            data["touchpoint_id"] = rng.choice(self.touchpoints).id
        if rng.random() < 0.8:
            data["csat"] = int(min(5, max(1, round(rng.gauss(p.csat_mean, 0.8)))))
        if "csat" not in data or rng.random() < 0.4:
            data["nps"] = int(min(10, max(0, round(rng.gauss(p.csat_mean * 2, 1.5)))))
        return [self._envelope(slot.type, slot.time, data)]

    def _customer_order(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        units = max(1, round(rng.expovariate(1 / (MEAN_ORDER_UNITS - 0.5)) + 0.5))
        data = {
            "customer_id": rng.choice(self.customers),
            "order_id": f"ord-{rng.getrandbits(40):010x}",
            "amount": round(units * rng.uniform(3.5, 12.0), 2),
            "repeat": rng.random() < p.repeat_purchase,
            "units": units,
        }
        if self.new_products:
            data["product_ids"] = self._products(slot.time, units)
        return [self._envelope("customer.order", slot.time, data)]

    def _finance_entry(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        automation_id, kind = self._finance_plan[self._slot_index[id(slot)]]
        months = self.days / 30.0
        entries = self._finance_counts[(automation_id or "", kind)]
        data: dict[str, Any] = {"kind": kind}
        if automation_id is None:
            monthly = 2000.0
        else:
            automation = next(a for a in self.automations if a.id == automation_id)
            cost = float(_get(automation, "monthly_cost", 100.0)) or 100.0
            if kind == "cost":
                monthly = cost
            else:
                roi = float(_get(automation, "projected_roi", 1.0))
                monthly = cost * (1.0 + roi * p.roi_realisation)
            data["automation_id"] = automation_id
        data["amount"] = round(monthly * months / max(1, entries) * rng.uniform(0.9, 1.1), 2)
        return [self._envelope(slot.type, slot.time, data)]

    def _observe_outcomes(self, out: list[dict[str, Any]]) -> None:
        """Replace, for each reading, the last feature.usage event before it by the reading."""
        for moment, kpi in self._readings():
            before = [i for i, e in enumerate(out) if e["type"] == "feature.usage" and e["time"] <= _iso(moment)]
            if before:
                out[before[-1]] = self._kpi_observed(moment, kpi)

    def _readings(self) -> list[tuple[dt.datetime, Any]]:
        """(time, KPI) of every outcome reading: an hour before the end of each week (of the period, if shorter)."""
        weeks = max(1, self.days // 7)
        step = dt.timedelta(days=7) if self.days >= 7 else self.end - self.start
        return [(self.start + step * (n + 1) - dt.timedelta(hours=1), kpi) for n in range(weeks) for kpi in self.observed_kpis]

    def _kpi_observed(self, moment: dt.datetime, kpi: Kpi) -> dict[str, Any]:
        rng = self._outcome_rng
        target = float(kpi.target)
        baseline = float(kpi.baseline) if kpi.baseline is not None else 0.9 * target
        value = baseline + (target - baseline) * 0.8 * self._progress(moment) + rng.gauss(0, 0.02 * (abs(target) or 1.0))
        data = {"kpi_id": kpi.id, "value": round(value, 4), "unit": str(kpi.unit), "period": f"week of {moment:%Y-%m-%d}",
                "measured_by": "sim research panel", "method": "weekly panel survey"}
        return self._envelope("kpi.observed", moment, data, subject=kpi.id)

    def _decide(self, out: list[dict[str, Any]]) -> None:
        """Replace two of every three runs of each decision-making automation by the decision it made."""
        runs = [i for i, e in enumerate(out) if e["type"] == "automation.run" and e["data"]["automation_id"] in self.oversights]
        for n, i in enumerate(runs):
            if n % 3:
                out[i] = self._automation_decision(out[i])

    def _automation_decision(self, run: dict[str, Any]) -> dict[str, Any]:
        rng = self._decision_rng
        oversight = self.oversights[run["data"]["automation_id"]]
        segments = {name: rng.choice(SEGMENT_VALUES.get(name, tuple(f"{name}-{n}" for n in (1, 2, 3))))
                    for name in oversight.dimensions}
        first = oversight.dimensions[0]
        disfavoured = segments[first] == SEGMENT_VALUES.get(first, (f"{first}-1",))[0]
        declined = rng.random() < DECLINE_RATE * (self.profile.decision_bias if disfavoured else 1.0)
        favourable = oversight.favourable[0]
        reviewed = rng.random() < 0.15
        # reviewers reverse few decisions, more of the declines a bias made wrongly
        overridden = reviewed and declined and rng.random() < (0.5 if disfavoured and self.profile.decision_bias > 1 else 0.1)
        data = {
            "automation_id": oversight.automation,
            "process_id": run["data"]["process_id"],
            "case_id": run["data"]["case_id"],
            "outcome": "declined" if declined else favourable,
            "segments": segments,
            "reviewed": reviewed,
            "overridden": overridden,
            "appealed": declined and not overridden and rng.random() < 0.1,
        }
        event = self._envelope("automation.decision", dt.datetime.fromisoformat(run["time"]), data, subject=oversight.automation)
        event["id"] = run["id"]  # the run's place in the stream: same id, source and time
        return event

    def _products(self, moment: dt.datetime, units: int) -> list[str]:
        """The products of an order of ``units`` units: established ones, a new one in a growing share."""
        rng = self._outcome_rng
        lines = rng.sample(ESTABLISHED_PRODUCTS, k=min(units, 3))
        start, end = NEW_PRODUCT_SHARE
        if rng.random() < start + (end - start) * self._progress(moment):
            lines[-1] = rng.choice(self.new_products)
        return lines

    def _feature_usage(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        automation = self._automation()
        features = list(_get(automation, "features_licensed", [])) or ["core"]
        used = features[: max(1, math.ceil(len(features) * p.features_used))]
        seats = int(_get(automation, "seats", 0)) or len(self.employees)
        active = self.employees[: max(1, math.ceil(min(seats, len(self.employees)) * p.active_seats))]
        data = {"automation_id": automation.id, "feature": rng.choice(used), "user_id": rng.choice(active)}
        return [self._envelope(slot.type, slot.time, data, subject=automation.id)]

    def _integration_issue(self, slot: _Slot) -> list[dict[str, Any]]:
        rng = self.rng
        data = {
            "automation_id": self._automation().id,
            "kind": rng.choice(("manual_reentry", "sync_failure", "export_import")),
            "records": rng.randint(1, 5),
        }
        return [self._envelope(slot.type, slot.time, data)]

    def _data_produced(self, slot: _Slot) -> list[dict[str, Any]]:
        dataset = f"ds-{len(self._datasets) + 1:05d}"
        self._datasets.append(dataset)
        data = {"dataset_id": dataset, "automation_id": self._automation().id}
        return [self._envelope("data.produced", slot.time, data)]

    def _data_used(self, slot: _Slot) -> list[dict[str, Any]]:
        rng = self.rng
        if not self._datasets:
            return self._data_produced(slot)
        data = {
            "dataset_id": rng.choice(self._datasets[-50:]),
            "used_for": "decision" if rng.random() < 0.6 else "report",
            "strategic": rng.random() < 0.8,
        }
        return [self._envelope(slot.type, slot.time, data)]

    def _workforce_task(self, slot: _Slot) -> list[dict[str, Any]]:
        rng, p = self.rng, self.profile
        augmented = rng.random() < p.augmented
        data: dict[str, Any] = {
            "employee_id": rng.choice(self.employees),
            "augmented": augmented,
            "minutes_saved": round(rng.uniform(5, 40), 1) if augmented else 0.0,
        }
        if augmented:
            data["automation_id"] = self._automation().id
        return [self._envelope(slot.type, slot.time, data)]

    def _workforce_skill(self, slot: _Slot) -> list[dict[str, Any]]:
        rng = self.rng
        data = {
            "employee_id": rng.choice(self.employees),
            "skill": rng.choice(("automation_ops", "data_literacy", "customer_care", "process_design")),
            "kind": rng.choices(("training", "certification", "new_responsibility"), weights=(6, 2, 2))[0],
        }
        return [self._envelope(slot.type, slot.time, data)]

    def _workforce_survey(self, slot: _Slot) -> list[dict[str, Any]]:
        rng = self.rng
        data = {"employee_id": rng.choice(self.employees), "satisfaction": rng.choices((2, 3, 4, 5), weights=(1, 3, 5, 3))[0]}
        return [self._envelope(slot.type, slot.time, data)]

    def _strategy_initiative(self, slot: _Slot) -> list[dict[str, Any]]:
        rng = self.rng
        initiative = f"init-{slot.process + 1:03d}"
        goals = rng.sample(self.goal_ids, k=min(len(self.goal_ids), rng.randint(1, 2)))
        out = [self._envelope(slot.type, slot.time, {"initiative_id": initiative, "goal_ids": goals, "started_at": _iso(slot.time)})]
        for automation in rng.sample(self.automations, k=min(2, len(self.automations))):
            deployed = slot.time + dt.timedelta(hours=rng.uniform(48, 240))
            if deployed < self.end:
                data = {"automation_id": automation.id, "initiative_id": initiative, "deployed_at": _iso(deployed)}
                out.append(self._envelope("automation.reconfigured", deployed, data, subject=automation.id))
        return out

    def _automation_reconfigured(self, slot: _Slot) -> list[dict[str, Any]]:
        automation = next(a for a in self.automations if set(_get(a, "touchpoints", [])) & self.affected_touchpoints)
        initiative = "init-support-bot-change"
        data = {"automation_id": automation.id, "initiative_id": initiative, "deployed_at": _iso(slot.time)}
        return [self._envelope(slot.type, slot.time, data, subject=automation.id)]


def _cumulative(values: Any) -> list[float]:
    total = 0.0
    out = []
    for value in values:
        total += float(value)
        out.append(total)
    return out


def encode(event: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a structured-mode event."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
