"""The scorecard as typed records, and its one JSON serialiser.

:func:`alignwatch.metrics.scorecard.build_scorecard` returns a :class:`Scorecard`; the CLI's
``scorecard --json``, the owner's report and the live view read its fields, so none of them
guesses which key a value sits under. :meth:`Scorecard.to_dict` is the only place that turns
it into JSON: the keys, their order and the rounding of numbers are decided here once.

A drift signal is one of four records (:data:`DriftSignal`), each with the fields of its
kind. The KPI lines, the SAI contributions, the automations' measures, the priorities and
three of the drift signals are the records the formulas (:mod:`alignwatch.metrics.formulas`)
create, their numbers rounded as the engine stores them; an index line keeps an index's
value and the counts behind it as the JSON shows them. A pitfall is the detector's
:class:`alignwatch.metrics.formulas.Finding`; the ethics block keeps the
:class:`alignwatch.metrics.ethics.Assessment` of the window and its score, which weighs into
the SAI only with the strategy's ``weights.ethics``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from alignwatch.metrics.engine import _clean
from alignwatch.metrics.ethics import Assessment, as_json
from alignwatch.metrics.formulas import (
    AutomationMeasures,
    Contribution,
    Finding,
    HumanReachability,
    KpiBelowTarget,
    KpiLine,
    KpiRegression,
    Priority,
    StrategicStaleness,
)

__all__ = [
    "Checklist",
    "ChecklistLine",
    "Contribution",
    "DriftSignal",
    "Ethics",
    "HumanBelowFloor",
    "IndexLine",
    "KpiBelowTarget",
    "KpiLine",
    "KpiRegression",
    "PilotVerdict",
    "Priority",
    "Scorecard",
    "StrategicStaleness",
]


@dataclass(frozen=True)
class IndexLine:
    """One strategic automation index: its value in 0–1 and the counts it was computed from."""

    value: float | None
    inputs: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, **self.inputs}


@dataclass(frozen=True)
class ChecklistLine:
    """One checklist item's verdict: ``status`` passed, failed or unknown, why, and from where."""

    status: str
    evidence: str
    source: str

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "evidence": self.evidence, "source": self.source}


@dataclass(frozen=True)
class Checklist:
    """The strategic-alignment checklist: readiness (items passed ÷ items) and each item."""

    readiness: float | None
    passed: int
    items: Mapping[str, ChecklistLine]

    def to_dict(self) -> dict[str, Any]:
        return {"readiness": self.readiness, "passed": self.passed,
                "items": {ident: item.to_dict() for ident, item in self.items.items()}}


@dataclass(frozen=True)
class HumanBelowFloor:
    """Customers asking for a human reached one within the SLA less often than the strategy's floor."""

    id: ClassVar[str] = "human_reachability_below_floor"
    value: float
    floor: float
    message: str
    active: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "active": self.active, "value": self.value, "floor": self.floor, "message": self.message}


DriftSignal = KpiBelowTarget | KpiRegression | StrategicStaleness | HumanBelowFloor
"""One drift signal of the scorecard; its ``id`` says which."""


@dataclass(frozen=True)
class PilotVerdict:
    """A pilot automation's verdict (scale, iterate, stop, pending or not enough data), why, and
    each KPI's change of attainment during the pilot against before it."""

    id: str
    name: str
    verdict: str
    reason: str
    deltas: Mapping[str, float] = field(default_factory=dict)
    pilot_start: dt.datetime | None = None  # none while the pilot has not started
    pilot_end: dt.datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "verdict": self.verdict, "reason": self.reason,
                               "deltas": dict(self.deltas)}
        if self.pilot_start is not None and self.pilot_end is not None:
            out.update(pilot_start=self.pilot_start.isoformat(), pilot_end=self.pilot_end.isoformat())
        return out


@dataclass(frozen=True)
class Ethics:
    """The "Ethics and human agency" measures of the window (none when nothing was judged:
    they need 7 days or more) and their ``score``, the share of the ethics checks that pass
    (:func:`alignwatch.metrics.ethics.ethics_score`; none without a check that has a verdict).

    ``weighted_into_sai`` says whether the strategy's ``weights.ethics`` is above 0: by default
    it is 0 and the score stands beside the SAI, not inside it. The JSON carries the measures
    as :func:`alignwatch.metrics.ethics.as_json` writes them, the score last, as
    ``alignwatch explain ethics --json`` does.
    """

    assessment: Assessment | None = None
    score: float | None = None
    weighted_into_sai: bool = False

    def to_dict(self) -> dict[str, Any]:
        if self.assessment is None:
            return {"weighted_into_sai": self.weighted_into_sai}
        return {"weighted_into_sai": self.weighted_into_sai, **as_json(self.assessment), "score": self.score}


@dataclass(frozen=True)
class Scorecard:
    """One window's (or period's) alignment: everything ``alignwatch scorecard`` shows."""

    business: str
    window: str  # 1d, 7d, 28d or "period"
    start: dt.datetime
    end: dt.datetime
    sai: float | None
    contributions: tuple[Contribution, ...]
    indices: Mapping[str, IndexLine]
    perspectives: Mapping[str, float | None]
    kpis: Mapping[str, KpiLine]
    checklist: Checklist
    pitfalls: tuple[Finding, ...]  # active findings, critical first
    drift: tuple[DriftSignal, ...]
    human_reachability: HumanReachability
    priorities: tuple[Priority, ...]
    pilots: tuple[PilotVerdict, ...]
    automations: Mapping[str, AutomationMeasures] = field(default_factory=dict)
    ethics: Ethics = field(default_factory=Ethics)

    def to_dict(self) -> dict[str, Any]:
        """The scorecard as JSON-ready values (numbers rounded as the engine stores them)."""
        card = {
            "business": self.business,
            "window": self.window,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "sai": self.sai,
            "contributions": [c.to_dict() for c in self.contributions],
            "indices": {ident: line.to_dict() for ident, line in self.indices.items()},
            "perspectives": dict(self.perspectives),
            "kpis": {ident: line.to_dict() for ident, line in self.kpis.items()},
            "checklist": self.checklist.to_dict(),
            "pitfalls": [finding.as_json() for finding in self.pitfalls],
            "drift": [signal.to_dict() for signal in self.drift],
            "human_reachability": dict(self.human_reachability),
            "priorities": [p.to_dict() for p in self.priorities],
            "pilots": [p.to_dict() for p in self.pilots],
            "automations": {ident: stats.to_dict() for ident, stats in self.automations.items()},
            "ethics": self.ethics.to_dict(),
        }
        out: dict[str, Any] = _clean(card)
        return out
