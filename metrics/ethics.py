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
  automation (the strategy's ``reviewed`` date), against its review cadence;
- the **ethics score** (:func:`ethics_score`): the share of these checks that pass, 0..100,
  which weighs into the Strategic Alignment Index only when the strategy's ``weights.ethics``
  is above 0 (its default is 0, see docs/strategy.md).

One decision is counted per automation and case: the outcome of its earliest event, and
the review, override and appeal flags of any of its events (a later review or appeal is
sent as a new event on the same case, see docs/events.md).

:func:`assess` computes them all from plain records; :func:`read_inputs` reads those
records from the store's ``events`` table; :func:`explain_lines` says what they mean in
words an owner reads (``alignwatch explain ethics``).
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from alignwatch.metrics.aggregates import fetch_rows
from alignwatch.metrics.strategy import DecisionOversight, Ethics, Strategy
from alignwatch.store.schema import events

__all__ = [
    "INPUT_TYPES",
    "SKILL_KINDS",
    "Z_95",
    "Assessment",
    "Decision",
    "EthicsInputs",
    "HumanAgency",
    "InputSource",
    "OversightStaleness",
    "Parity",
    "Reskilling",
    "SegmentRate",
    "as_json",
    "assess",
    "decisions_of",
    "ethics_checks",
    "ethics_score",
    "explain_lines",
    "fetch_inputs",
    "human_agency",
    "outcome_parity",
    "oversight_staleness",
    "read_inputs",
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
    override_rate_max: float = DecisionOversight.model_fields["override_rate_max"].default  # the page's limit
    min_sample: int = DecisionOversight.model_fields["min_sample"].default  # decisions needed to judge it

    @property
    def override_rate(self) -> float | None:
        """Decisions a person reversed ÷ decisions."""
        return self.overridden / self.decisions if self.decisions else None

    @property
    def appeal_rate(self) -> float | None:
        """Decisions the customer appealed ÷ decisions."""
        return self.appealed / self.decisions if self.decisions else None

    @property
    def override_high(self) -> bool | None:
        """Above ``override_rate_max`` on at least ``min_sample`` decisions, as the page reads it
        (None: too few decisions to judge)."""
        if self.decisions < self.min_sample or self.override_rate is None:
            return None
        return self.override_rate > self.override_rate_max


def human_agency(decisions: Iterable[Decision], automation_id: str, oversight: DecisionOversight | None = None) -> HumanAgency:
    """Review, override and appeal counts of ``automation_id``'s decisions, judged against
    ``oversight``'s limits (the defaults without one)."""
    own = [d for d in decisions if d.automation_id == automation_id]
    limits = oversight or DecisionOversight(automation=automation_id, favourable=("favourable",), dimensions=("none",))
    return HumanAgency(
        automation_id, len(own), sum(d.reviewed for d in own), sum(d.overridden for d in own), sum(d.appealed for d in own),
        limits.override_rate_max, limits.min_sample,
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


Rows = list[tuple[dt.datetime, Mapping[str, Any]]]

INPUT_TYPES = ("automation.decision", "workforce.task", "workforce.skill")
"""The event types the ethics measures read."""


@dataclass(frozen=True)
class EthicsInputs:
    """The payloads the measures read, with their event times."""

    decisions: Rows
    tasks: Rows
    skills: Rows


def read_inputs(engine: sa.Engine, strategy: Strategy, start: dt.datetime, end: dt.datetime) -> EthicsInputs:
    """Decisions of [start, end); workforce tasks and skills from the committed training
    delay before ``start`` on (an employee automated then is judged in this window)."""
    with engine.connect() as conn:
        return fetch_inputs(conn, strategy, start, end)


def _input_rows(conn: sa.Connection, since: dt.datetime, start: dt.datetime, end: dt.datetime) -> dict[str, Rows]:
    """The input events of ``[since, end)`` by type, in time order (decisions from ``start`` on)."""
    e = events.c
    sqlite = conn.dialect.name == "sqlite"
    wanted = e.type.in_(INPUT_TYPES)
    query = (
        # the payloads as text, parsed in one call below (a parse per row costs more than the read); on
        # SQLite the stored UTC text of the time, parsed below (the column type's parse costs more)
        sa.select(e.type, sa.type_coerce(e.time, sa.String) if sqlite else e.time, sa.cast(e.data, sa.Text))
        .where(wanted, e.time >= since, e.time < end)
        .order_by(e.time, e.id)
    )
    fetched: Sequence[tuple[Any, ...]] = conn.execute(query).all()
    if sqlite:
        fetched = [(type_, _stored_time(text), data) for type_, text, data in fetched]
    rows = [row for row in fetched if row[0] != "automation.decision" or row[1] >= start]
    payloads = json.loads("[" + ",".join(row[2] or "null" for row in rows) + "]")
    out: dict[str, Rows] = {name: [] for name in INPUT_TYPES}
    for (type_, time, _), data in zip(rows, payloads, strict=True):
        out[type_].append((time, data))
    return out


def _stored_time(text: str) -> dt.datetime:
    """A time as SQLite stores the UTC column (``YYYY-MM-DD HH:MM:SS.ffffff``, naive UTC)."""
    return dt.datetime.fromisoformat(text + "+00:00")


def fetch_inputs(conn: sa.Connection, strategy: Strategy, start: dt.datetime, end: dt.datetime) -> EthicsInputs:
    """:func:`read_inputs` on an open connection (the metric engine's)."""
    since = start - dt.timedelta(days=strategy.ethics.workforce.training_within_days)
    out = _input_rows(conn, since, start, end)
    return EthicsInputs(out["automation.decision"], out["workforce.task"], out["workforce.skill"])


class InputSource:
    """The inputs of every window inside ``[lo, hi)``, read once: :meth:`inputs` of a window
    gives what :func:`fetch_inputs` reads for it.

    A nightly run or a backfill evaluates two rolling windows a day, each reading its
    decisions and the workforce events of the training delay before it (90 days by default):
    read once for the range, each window takes its slice by time. Of the workforce events
    only those the measures count are kept (tasks an automation took on, skill events of a
    :data:`SKILL_KINDS` kind), each payload with only the fields read: the measures of a
    slice are those of the whole read.
    """

    def __init__(self, conn: sa.Connection, strategy: Strategy, lo: dt.datetime, hi: dt.datetime) -> None:
        self.lo, self.hi = lo, hi
        self.within = dt.timedelta(days=strategy.ethics.workforce.training_within_days)
        out = _counted_rows(conn, lo - self.within, lo, hi)
        self._decisions = _Timed(out["automation.decision"])
        self._tasks = _Timed(out["workforce.task"])
        self._skills = _Timed([(time, data) for time, data in out["workforce.skill"] if data.get("kind") in SKILL_KINDS])

    def inputs(self, start: dt.datetime, end: dt.datetime) -> EthicsInputs:
        """The inputs of ``[start, end)``, a window inside the range read."""
        if not (self.lo <= start and end <= self.hi):
            raise ValueError(f"[{start}, {end}) is outside the range read [{self.lo}, {self.hi})")
        since = start - self.within
        return EthicsInputs(self._decisions.slice(start, end), self._tasks.slice(since, end), self._skills.slice(since, end))


def _counted_rows(conn: sa.Connection, since: dt.datetime, start: dt.datetime, end: dt.datetime) -> dict[str, Rows]:
    """What :func:`_input_rows` reads, but only the tasks an automation took on (an
    ``automation_id`` in the events' column of that field: the only ones the reskilling
    measure counts), and each workforce payload cut to the fields the measures read, taken
    out in the database (no payload parsed): a task's ``employee_id`` and ``automation_id``,
    a skill event's ``employee_id`` and ``kind``. A field the payload lacks is left out (it
    fails where the measure reads it, as in the whole payload)."""
    e = events.c
    sqlite = conn.dialect.name == "sqlite"
    out: dict[str, Rows] = {}
    for type_ in INPUT_TYPES:
        # one statement per type: each type's rows in time order, and a decision's payload read whole
        query = (
            sa.select(
                sa.type_coerce(e.time, sa.String) if sqlite else e.time,
                sa.cast(e.data, sa.Text) if type_ == "automation.decision" else sa.null(),
                e.automation_id,
                e.data["employee_id"].as_string(),
                e.data["kind"].as_string(),
            )
            .where(e.type == type_, e.time >= (start if type_ == "automation.decision" else since), e.time < end,
                   e.automation_id.is_not(None) if type_ == "workforce.task" else sa.true())
            .order_by(e.time, e.id)
        )
        rows: Rows = []
        out[type_] = rows
        for stored, data, automation, employee, kind in fetch_rows(conn, query):
            time = _stored_time(stored) if sqlite else stored
            if type_ == "automation.decision":
                rows.append((time, json.loads(data)))
                continue
            fields = {} if employee is None else {"employee_id": employee}
            if type_ == "workforce.task":
                fields["automation_id"] = automation
            elif kind is not None:
                fields["kind"] = kind
            rows.append((time, fields))
    return out


class _Timed:
    """Rows in time order, sliced by time."""

    def __init__(self, rows: Rows) -> None:
        self.rows = rows
        self.times = [time for time, _ in rows]

    def slice(self, lo: dt.datetime, hi: dt.datetime) -> Rows:
        """The rows of ``[lo, hi)``."""
        return self.rows[bisect.bisect_left(self.times, lo) : bisect.bisect_left(self.times, hi)]


@dataclass(frozen=True)
class Assessment:
    """Every ethics measure of one window."""

    start: dt.datetime
    end: dt.datetime
    parity: tuple[Parity, ...]
    agency: tuple[HumanAgency, ...]
    reskilling: Reskilling
    staleness: tuple[OversightStaleness, ...]


def assess(strategy: Strategy, inputs: EthicsInputs, start: dt.datetime, end: dt.datetime) -> Assessment:
    """The measures of [start, end) against the strategy's ``ethics`` section."""
    ethics = strategy.ethics
    decisions = decisions_of(inputs.decisions)
    parity = tuple(outcome_parity(decisions, d, dimension) for d in ethics.decisions for dimension in d.dimensions)
    agency = tuple(human_agency(decisions, d.automation, d) for d in ethics.decisions)
    reskilling = reskilling_coverage(inputs.tasks, inputs.skills, ethics.workforce.training_within_days, end)
    return Assessment(start, end, parity, agency, reskilling, tuple(oversight_staleness(ethics, end.date())))


def ethics_checks(assessment: Assessment) -> list[tuple[str, bool]]:
    """Each ethics check that has a verdict on the window, and whether it passes.

    One check per automation and dimension with a parity verdict (passes: no breach), per
    automation with at least ``min_sample`` decisions (passes: override rate at most
    ``override_rate_max``), per decision-making automation (passes: oversight not overdue),
    and one for reskilling once someone was judged (passes: nobody displaced). A measure
    without a verdict (too few decisions, nobody judged) is no check: it neither passes nor
    fails, as the alerts stay silent on it.
    """
    checks = [(f"parity {p.automation_id} by {p.dimension}", not p.breach) for p in assessment.parity if p.ratio is not None]
    checks += [(f"override rate {a.automation_id}", not a.override_high) for a in assessment.agency
               if a.override_high is not None]
    checks += [(f"oversight {st.automation_id}", not st.overdue) for st in assessment.staleness]
    if assessment.reskilling.coverage is not None:
        checks.append(("reskilling", not assessment.reskilling.displaced))
    return checks


def ethics_score(assessment: Assessment) -> float | None:
    """100 × the checks of :func:`ethics_checks` that pass ÷ the checks (None: no check has a verdict).

    A share of checks, not a mean of rates: an automation is fair or it is not at the floor
    the owner set, and 0.79 parity is no "almost 0.8" that a good reskilling rate may buy back
    inside the score.
    """
    checks = ethics_checks(assessment)
    return 100.0 * sum(passed for _, passed in checks) / len(checks) if checks else None


def _pct(value: float) -> str:
    return f"{100 * value:.0f} %"


def explain_lines(assessment: Assessment, strategy: Strategy) -> list[str]:
    """What the measures say, in the owner's words: which group is treated worse, by how
    much, on how many cases, and what to do."""
    lines = [f"Ethics and human agency for [{assessment.start.isoformat()}, {assessment.end.isoformat()})"]
    if not strategy.ethics.decisions:
        lines.append("  no decision-making automation is declared (strategy: ethics.decisions)")
    for p in assessment.parity:
        lines.append(f"  {p.automation_id}, by {p.dimension}:")
        for r in p.segments:
            note = "" if r.compared else f" (fewer than {p.min_sample} decisions: not compared)"
            lines.append(f"    {r.segment:<14} {r.favourable:>6} of {r.decisions:<6} favourable  {_pct(r.rate):>5}"
                         f"  (95 % between {_pct(r.low)} and {_pct(r.high)}){note}")
        if p.ratio is None:
            lines.append(f"    no verdict: fewer than two groups with {p.min_sample} decisions or more")
            continue
        low = next(r for r in p.segments if r.segment == p.lowest)
        high = next(r for r in p.segments if r.segment == p.highest)
        verdict = (
            f"below the floor {p.floor:g}, and not chance at these numbers: review how it decides for '{low.segment}'"
            if p.breach
            else f"below the floor {p.floor:g}, but it may be chance at these numbers: keep watching"
            if p.below_floor
            else f"at or above the floor {p.floor:g}"
        )
        lines.append(f"    '{low.segment}' gets a favourable outcome {_pct(low.rate)} of the time, '{high.segment}' "
                     f"{_pct(high.rate)}: parity {p.ratio:.2f}, {verdict}")
    for a in assessment.agency:
        if a.decisions:
            lines.append(f"  {a.automation_id}: {a.decisions} decisions, {a.reviewed} reviewed by a person, "
                         f"{a.overridden} reversed ({_pct(a.override_rate or 0.0)}), "
                         f"{a.appealed} appealed ({_pct(a.appeal_rate or 0.0)})")
    reskilled = assessment.reskilling
    days = strategy.ethics.workforce.training_within_days
    if reskilled.automated:
        coverage = "no one judged yet" if reskilled.coverage is None else _pct(reskilled.coverage)
        lines.append(f"  reskilling: {len(reskilled.covered)} of the {len(reskilled.automated)} people whose tasks were automated were "
                     f"trained or given a new responsibility within {days} days ({coverage}); {len(reskilled.pending)} still "
                     f"within the delay")
        if reskilled.displaced:
            lines.append(f"  displaced without reskilling: {', '.join(reskilled.displaced)}: offer them training now")
    for st in assessment.staleness:
        when = "never reviewed" if st.days_since is None else f"last reviewed {st.days_since} days ago"
        due = "overdue" if st.overdue else "on time"
        lines.append(f"  oversight of {st.automation_id}: {when} by {st.owner or 'nobody'} "
                     f"(every {st.review_every_days} days): {due}")
    return lines


def as_json(assessment: Assessment) -> dict[str, Any]:
    """The assessment as JSON-ready values, each measure's verdicts included."""
    out = asdict(assessment)
    out["start"], out["end"] = assessment.start.isoformat(), assessment.end.isoformat()
    for item, parity in zip(out["parity"], assessment.parity, strict=True):
        item.update(below_floor=parity.below_floor, breach=parity.breach)
    for item, agency in zip(out["agency"], assessment.agency, strict=True):
        item.update(override_rate=agency.override_rate, appeal_rate=agency.appeal_rate, override_high=agency.override_high)
    out["reskilling"]["coverage"] = assessment.reskilling.coverage
    for item, staleness in zip(out["staleness"], assessment.staleness, strict=True):
        item.update(reviewed=None if staleness.reviewed is None else staleness.reviewed.isoformat(), overdue=staleness.overdue)
    out["score"] = ethics_score(assessment)
    return out
