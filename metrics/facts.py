"""Facts of one window: the aggregates of :mod:`alignwatch.metrics.aggregates` folded by identifier.

Pure Python over small inputs: a :class:`Facts` is built from the aggregates whose hour
bucket lies in the window (or from all aggregates of a query over exactly the window) and
answers the questions the formulas ask (runs of an automation, executions of a process,
escalations at a touchpoint, active employees ...). Every fold is a sum or a set union, so
the result does not depend on the order the events arrived in.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from alignwatch.metrics.aggregates import ORDER_PRODUCTS, Aggregate, Reconfiguration, Sample

__all__ = ["Facts", "Sums"]


class Sums(dict[str, float]):
    """A bag of named sums; a missing name reads as 0."""

    def __missing__(self, key: str) -> float:
        return 0.0

    def add(self, other: dict[str, float]) -> None:
        for name, value in other.items():
            self[name] = self[name] + value


def _true(value: str | None) -> bool:
    return value == "true"


@dataclass
class Facts:
    """The folded aggregates of one window ``[start, end)``."""

    start: dt.datetime
    end: dt.datetime
    runs: dict[tuple[str | None, str | None], Sums] = field(default_factory=lambda: defaultdict(Sums))
    executions: dict[tuple[str | None, bool], Sums] = field(default_factory=lambda: defaultdict(Sums))
    touches: dict[tuple[str | None, str | None, str | None], Sums] = field(default_factory=lambda: defaultdict(Sums))
    feedback: dict[str | None, Sums] = field(default_factory=lambda: defaultdict(Sums))
    orders: dict[bool, Sums] = field(default_factory=lambda: defaultdict(Sums))
    finance: dict[tuple[str | None, str | None], Sums] = field(default_factory=lambda: defaultdict(Sums))
    features: dict[str | None, set[str]] = field(default_factory=lambda: defaultdict(set))
    users: dict[str | None, set[str]] = field(default_factory=lambda: defaultdict(set))
    usage_events: dict[str | None, float] = field(default_factory=lambda: defaultdict(float))
    issues: dict[str | None, Sums] = field(default_factory=lambda: defaultdict(Sums))
    produced: set[str] = field(default_factory=set)
    #: datasets used for a decision (strategic or not)
    used_for_decision: set[str] = field(default_factory=set)
    #: datasets with a use marked strategic (a decision or a report): SDUR's numerator
    strategic_uses: set[str] = field(default_factory=set)
    #: employees with a workforce event (task, skill, survey): the denominator of SSAI and the per-employee rates
    active: set[str] = field(default_factory=set)
    augmented: set[str] = field(default_factory=set)
    skilled: set[str] = field(default_factory=set)
    workforce: Sums = field(default_factory=Sums)
    reconfigurations: list[Reconfiguration] = field(default_factory=list)
    #: kpi.observed per KPI id: ``n`` observations, ``observed`` the sum of their values
    observed: dict[str | None, Sums] = field(default_factory=lambda: defaultdict(Sums))
    #: product -> the customers whose orders listed it (customer.order product_ids)
    buyers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    #: (distribution, automation, process) -> [(value, events with it)] (see :func:`alignwatch.metrics.aggregates.fetch_samples`)
    samples: dict[tuple[str, str | None, str | None], list[tuple[float, int]]] = field(
        default_factory=lambda: defaultdict(list))

    @property
    def days(self) -> float:
        """Length of the window in days."""
        return (self.end - self.start).total_seconds() / 86400.0

    @classmethod
    def build(
        cls,
        start: dt.datetime,
        end: dt.datetime,
        aggregates: Iterable[Aggregate],
        reconfigurations: Iterable[Reconfiguration] = (),
        samples: Iterable[Sample] = (),
    ) -> Facts:
        """Fold ``aggregates`` and ``samples`` (already restricted to the window) into facts."""
        facts = cls(start=start, end=end)
        for a in aggregates:
            facts._add(a)
        facts.reconfigurations = [r for r in reconfigurations if start <= r.time < end]
        for sample in samples:
            facts.samples[(sample.distribution, sample.automation_id, sample.process_id)].append(
                (sample.value, sample.count))
        return facts

    def _add(self, a: Aggregate) -> None:
        t = a.type
        if t == "automation.run":
            self.runs[(a.automation_id, a.process_id)].add(a.sums)
        elif t == "process.execution":
            self.executions[(a.process_id, _true(a.k1))].add(a.sums)
        elif t == "customer.touchpoint":
            self.touches[(a.touchpoint_id, a.k1, a.k2)].add(a.sums)
        elif t == "customer.feedback":
            self.feedback[a.touchpoint_id].add(a.sums)
        elif t == "customer.order":
            self.orders[_true(a.k1)].add(a.sums)
        elif t == "finance.entry":
            self.finance[(a.automation_id, a.k1)].add(a.sums)
        elif t == ORDER_PRODUCTS:
            if a.actor is not None and a.k2 is not None:
                self.buyers[a.k2].add(a.actor)
        elif t == "kpi.observed":
            self.observed[a.k1].add(a.sums)
        elif t == "feature.usage":
            if a.k1 is not None:
                self.features[a.automation_id].add(a.k1)
            if a.actor is not None:
                # a tool's user, counted for its adoption; not an active employee (workforce events only)
                self.users[a.automation_id].add(a.actor)
            self.usage_events[a.automation_id] += a["n"]
        elif t == "integration.issue":
            self.issues[a.automation_id].add(a.sums)
        elif t == "data.produced":
            if a.dataset is not None and a.automation_id is not None:
                self.produced.add(a.dataset)
        elif t == "data.used":
            if a.dataset is not None:
                if a.k1 == "decision":
                    self.used_for_decision.add(a.dataset)
                if _true(a.k2):  # a strategic decision or a strategic report (an insight)
                    self.strategic_uses.add(a.dataset)
        elif t in ("workforce.task", "workforce.skill", "workforce.survey"):
            if a.actor is not None:
                self.active.add(a.actor)
            if t == "workforce.task":
                self.workforce["task_n"] += a["n"]
                self.workforce["minutes"] += a["minutes"]
                if _true(a.k1) and a.actor is not None:
                    self.augmented.add(a.actor)
                if a.automation_id is not None and a.actor is not None:
                    self.users[a.automation_id].add(a.actor)
            elif t == "workforce.skill":
                self.workforce["skill_n"] += a["n"]
                if a.actor is not None:
                    self.skilled.add(a.actor)
            else:
                self.workforce["survey_n"] += a["n"]
                self.workforce["satisfaction"] += a["satisfaction"]

    # ------------------------------------------------------------------ questions

    def run_sums(self, automation: str | None = None, process: str | None = None) -> Sums:
        """Sums over automation.run, optionally of one automation and/or process."""
        out = Sums()
        for (a, p), sums in self.runs.items():
            if (automation is None or a == automation) and (process is None or p == process):
                out.add(sums)
        return out

    def execution_sums(self, processes: Iterable[str] | None = None, automated: bool | None = None) -> Sums:
        """Sums over process.execution, optionally of some processes and/or automated or not."""
        wanted = None if processes is None else set(processes)
        out = Sums()
        for (p, auto), sums in self.executions.items():
            if (wanted is None or p in wanted) and (automated is None or auto == automated):
                out.add(sums)
        return out

    def touch_sums(
        self, touchpoint: str | None = None, channel: str | None = None, handled_by: str | None = None
    ) -> Sums:
        """Sums over customer.touchpoint, optionally filtered."""
        out = Sums()
        for (tp, ch, by), sums in self.touches.items():
            if (touchpoint is None or tp == touchpoint) and (channel is None or ch == channel) and (
                handled_by is None or by == handled_by
            ):
                out.add(sums)
        return out

    def feedback_sums(self, touchpoints: Iterable[str] | None = None) -> Sums:
        """Sums over customer.feedback, optionally of some touchpoints."""
        wanted = None if touchpoints is None else set(touchpoints)
        out = Sums()
        for tp, sums in self.feedback.items():
            if wanted is None or tp in wanted:
                out.add(sums)
        return out

    def order_sums(self) -> Sums:
        """Sums over customer.order (``repeat_n`` counts the repeat purchases)."""
        out = Sums()
        for repeat, sums in self.orders.items():
            out.add(sums)
            if repeat:
                out["repeat_n"] += sums["n"]
        return out

    def finance_amount(self, kind: str, automation: str | None = None, *, any_automation: bool = False) -> float:
        """Σ amount of finance.entry of ``kind`` (of one automation, of any, or all)."""
        total = 0.0
        for (a, k), sums in self.finance.items():
            if k != kind:
                continue
            if automation is not None and a != automation:
                continue
            if any_automation and a is None:
                continue
            total += sums["amount"]
        return total

    def unattributed_cost(self, automations: Iterable[str]) -> tuple[float, float]:
        """(Σ amount, entries) of finance.entry cost not attributed to one of ``automations``
        (no automation_id, or one the strategy does not declare)."""
        wanted = set(automations)
        total = events = 0.0
        for (a, k), sums in self.finance.items():
            if k == "cost" and a not in wanted:
                total += sums["amount"]
                events += sums["n"]
        return total, events

    def product_customers(self, products: Iterable[str] | None = None) -> set[str]:
        """The customers with an order listing one of ``products`` (any product when None)."""
        if products is None:
            return set().union(*self.buyers.values())
        return set().union(*(self.buyers.get(product, set()) for product in products))

    def finance_events(self, automation: str | None = None) -> float:
        """finance.entry events (of one automation)."""
        return sum(s["n"] for (a, _), s in self.finance.items() if automation is None or a == automation)

    def distribution(
        self, name: str, *, processes: Iterable[str] | None = None, automation: str | None = None
    ) -> list[tuple[float, int]]:
        """The (value, count) pairs of distribution ``name``, optionally of some processes and/or one automation."""
        wanted = None if processes is None else set(processes)
        out: list[tuple[float, int]] = []
        for (dist, a, p), pairs in self.samples.items():
            if dist == name and (wanted is None or p in wanted) and (automation is None or a == automation):
                out += pairs
        return out
