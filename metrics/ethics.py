"""Ethics and human agency, measured from data: the seed's last dimension.

The seed warns that misaligned automation "can have unintended negative consequences, such
as job displacement, algorithmic bias, and erosion of human agency", and asks for "ethical
and societal impact assessments" and "ethical oversight mechanisms". These measures read
the ``automation.decision``, ``workforce.task`` and ``workforce.skill`` events against the
strategy's ``ethics`` section:

- **outcome parity** per decision-making automation and segment dimension: each segment's
  favourable rate with its count and a 95 % Wilson interval, the parity ratio (lowest ÷
  highest rate, over the segments with at least ``min_sample`` decisions; no verdict with
  fewer than two such segments), and whether the gap between the lowest and the highest
  rate is significant (a two-proportion z-test at 95 %);
- **override rate** and **appeal rate**: decisions a person reversed, and decisions the
  customer appealed, ÷ decisions; signals that the automation decides wrongly;
- **reskilling coverage**: of the employees whose tasks an automation took on, those who
  received training, a certification or a new responsibility within the committed delay;
  an employee displaced without it once the delay has passed is a finding;
- **oversight staleness**: days since the declared owner last reviewed each decision-making
  automation (the strategy's ``reviewed`` date), against its review cadence.

One decision is counted per automation and case: the outcome of its earliest event, and
the review, override and appeal flags of any of its events (a later review or appeal is
sent as a new event on the same case, see docs/events.md).

This module imports nothing of the project but the strategy model's types; its inputs are
plain records, read from the store by the caller.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from alignwatch.metrics.strategy import DecisionOversight, Ethics

__all__ = [
    "SKILL_KINDS",
    "Z_95",
    "Decision",
    "HumanAgency",
    "OversightStaleness",
    "Parity",
    "Reskilling",
    "SegmentRate",
    "decisions_of",
    "human_agency",
    "outcome_parity",
    "oversight_staleness",
    "reskilling_coverage",
    "wilson_interval",
]

Z_95 = 1.959963984540054
"""The two-sided 95 % quantile of the standard normal distribution."""

SKILL_KINDS = frozenset({"training", "certification", "new_responsibility"})
"""The ``workforce.skill`` kinds that count as reskilling (all of them: a certification is training completed)."""


def wilson_interval(favourable: int, decisions: int, z: float = Z_95) -> tuple[float, float] | None:
    """The Wilson score interval of a proportion ``favourable / decisions`` (None when ``decisions`` is 0).

    With p = favourable / n::

        centre = (p + z²/2n) / (1 + z²/n)
        half   = z / (1 + z²/n) × sqrt(p(1 − p)/n + z²/4n²)

    Unlike the normal approximation it stays inside 0..1 and is honest at small n.
    """
    if decisions <= 0:
        return None
    n, p, z2 = decisions, favourable / decisions, z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Decision:
    """One decision of an automation on one case."""

    automation_id: str
    case_id: str
    time: dt.datetime
    outcome: str
    segments: Mapping[str, str]
    reviewed: bool = False
    overridden: bool = False
    appealed: bool = False


def decisions_of(rows: Iterable[tuple[dt.datetime, Mapping[str, Any]]]) -> list[Decision]:
    """One :class:`Decision` per automation and case from ``automation.decision`` payloads
    (``(time, data)``): the earliest event's outcome and segments, any event's flags."""
    first: dict[tuple[str, str], Decision] = {}
    flags: dict[tuple[str, str], tuple[bool, bool, bool]] = {}
    for time, data in sorted(rows, key=lambda row: row[0]):
        key = (str(data["automation_id"]), str(data["case_id"]))
        overridden = bool(data.get("overridden", False))
        reviewed = bool(data.get("reviewed", False)) or overridden  # a reversal is a review
        appealed = bool(data.get("appealed", False))
        if key not in first:
            first[key] = Decision(key[0], key[1], time, str(data["outcome"]), dict(data.get("segments") or {}))
        was = flags.get(key, (False, False, False))
        flags[key] = (was[0] or reviewed, was[1] or overridden, was[2] or appealed)
    return [
        Decision(d.automation_id, d.case_id, d.time, d.outcome, d.segments, *flags[key]) for key, d in first.items()
    ]


@dataclass(frozen=True)
class SegmentRate:
    """One segment's favourable rate, its count and its 95 % Wilson interval."""

    segment: str
    decisions: int
    favourable: int
    rate: float
    low: float
    high: float
    compared: bool  # at least min_sample decisions: part of the parity ratio


@dataclass(frozen=True)
class Parity:
    """Outcome parity of one automation along one segment dimension."""

    automation_id: str
    dimension: str
    segments: tuple[SegmentRate, ...]  # lowest favourable rate first
    ratio: float | None  # lowest ÷ highest rate of the compared segments; None: fewer than two
    lowest: str | None
    highest: str | None
    z: float | None  # two-proportion z statistic of the highest against the lowest rate
    significant: bool | None  # |z| ≥ 1.96; None: no verdict
    floor: float
    min_sample: int

    @property
    def below_floor(self) -> bool | None:
        """The parity ratio is below the floor (None: no verdict, too few decisions)."""
        return None if self.ratio is None else self.ratio < self.floor

    @property
    def breach(self) -> bool:
        """Below the floor, and the gap is significant at the sample sizes: a finding."""
        return bool(self.below_floor and self.significant)


def _two_proportion_z(low: SegmentRate, high: SegmentRate) -> float | None:
    """z = (p_high − p_low) / sqrt(p̄(1 − p̄)(1/n_low + 1/n_high)), p̄ the pooled rate."""
    pooled = (low.favourable + high.favourable) / (low.decisions + high.decisions)
    variance = pooled * (1 - pooled) * (1 / low.decisions + 1 / high.decisions)
    if variance <= 0:
        return None  # every decision favourable, or none: no gap
    return (high.rate - low.rate) / math.sqrt(variance)


def outcome_parity(decisions: Iterable[Decision], oversight: DecisionOversight, dimension: str) -> Parity:
    """The parity of ``oversight.automation``'s decisions along ``dimension`` (decisions
    without a segment on that dimension are left out)."""
    favourable_outcomes = set(oversight.favourable)
    counts: dict[str, list[int]] = {}
    for decision in decisions:
        segment = decision.segments.get(dimension)
        if decision.automation_id != oversight.automation or segment is None:
            continue
        tally = counts.setdefault(segment, [0, 0])
        tally[0] += 1
        tally[1] += decision.outcome in favourable_outcomes
    rates = []
    for segment, (n, favourable) in counts.items():
        low, high = wilson_interval(favourable, n)  # type: ignore[misc]  # n ≥ 1
        rates.append(SegmentRate(segment, n, favourable, favourable / n, low, high, n >= oversight.min_sample))
    rates.sort(key=lambda r: (r.rate, r.segment))
    compared = [r for r in rates if r.compared]
    ratio = z = significant = lowest = highest = None
    if len(compared) >= 2:
        low_rate, high_rate = compared[0], compared[-1]
        lowest, highest = low_rate.segment, high_rate.segment
        ratio = 1.0 if high_rate.rate == 0 else low_rate.rate / high_rate.rate
        z = _two_proportion_z(low_rate, high_rate)
        significant = z is not None and abs(z) >= Z_95
    return Parity(oversight.automation, dimension, tuple(rates), ratio, lowest, highest, z, significant,
                  oversight.parity_floor, oversight.min_sample)  # fmt: skip


@dataclass(frozen=True)
class HumanAgency:
    """How often people reversed an automation's decisions, and how often customers appealed."""

    automation_id: str
    decisions: int
    reviewed: int
    overridden: int
    appealed: int

    @property
    def override_rate(self) -> float | None:
        """Decisions a person reversed ÷ decisions."""
        return self.overridden / self.decisions if self.decisions else None

    @property
    def appeal_rate(self) -> float | None:
        """Decisions the customer appealed ÷ decisions."""
        return self.appealed / self.decisions if self.decisions else None


def human_agency(decisions: Iterable[Decision], automation_id: str) -> HumanAgency:
    """Review, override and appeal counts of ``automation_id``'s decisions."""
    own = [d for d in decisions if d.automation_id == automation_id]
    return HumanAgency(
        automation_id, len(own), sum(d.reviewed for d in own), sum(d.overridden for d in own), sum(d.appealed for d in own)
    )


@dataclass(frozen=True)
class Reskilling:
    """Reskilling of the employees whose tasks an automation took on."""

    automated: tuple[str, ...]  # employees with an automated task, first automated before the window's end
    covered: tuple[str, ...]  # reskilled within the committed delay
    pending: tuple[str, ...]  # not reskilled yet, the delay not passed
    displaced: tuple[str, ...]  # not reskilled, the delay passed: the finding

    @property
    def coverage(self) -> float | None:
        """Covered ÷ (covered + displaced): the employees whose delay has passed or who were reskilled."""
        judged = len(self.covered) + len(self.displaced)
        return len(self.covered) / judged if judged else None


def reskilling_coverage(
    tasks: Iterable[tuple[dt.datetime, Mapping[str, Any]]],
    skills: Iterable[tuple[dt.datetime, Mapping[str, Any]]],
    within_days: int,
    as_of: dt.datetime,
) -> Reskilling:
    """Who of the employees whose tasks became automated (a ``workforce.task`` with an
    ``automation_id``) received training, a certification or a new responsibility
    (``workforce.skill``) within ``within_days`` of their first automated task."""
    first_automated: dict[str, dt.datetime] = {}
    for time, data in tasks:
        if data.get("automation_id") and time <= as_of:
            employee = str(data["employee_id"])
            first_automated[employee] = min(time, first_automated.get(employee, time))
    skilled: dict[str, list[dt.datetime]] = {}
    for time, data in skills:
        if data.get("kind") in SKILL_KINDS and time <= as_of:
            skilled.setdefault(str(data["employee_id"]), []).append(time)
    delay = dt.timedelta(days=within_days)
    covered, pending, displaced = [], [], []
    for employee, since in sorted(first_automated.items()):
        if any(since <= at <= since + delay for at in skilled.get(employee, ())):
            covered.append(employee)
        elif as_of < since + delay:
            pending.append(employee)
        else:
            displaced.append(employee)
    return Reskilling(tuple(sorted(first_automated)), tuple(covered), tuple(pending), tuple(displaced))


@dataclass(frozen=True)
class OversightStaleness:
    """How long ago the owner last reviewed a decision-making automation."""

    automation_id: str
    owner: str | None
    reviewed: dt.date | None
    days_since: int | None  # None: never reviewed
    review_every_days: int

    @property
    def overdue(self) -> bool:
        """Never reviewed, or last reviewed longer ago than the cadence."""
        return self.days_since is None or self.days_since > self.review_every_days


def oversight_staleness(ethics: Ethics, as_of: dt.date) -> list[OversightStaleness]:
    """The staleness of each decision-making automation's oversight on ``as_of``."""
    return [
        OversightStaleness(
            d.automation,
            ethics.owner_of(d),
            d.reviewed,
            None if d.reviewed is None else (as_of - d.reviewed).days,
            ethics.review_days_of(d),
        )
        for d in ethics.decisions
    ]
