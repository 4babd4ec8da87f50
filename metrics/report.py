"""The owner's report: one self-contained HTML page built from the scorecard.

For an owner who does not run Grafana. The page needs no network to be read: the CSS is
inline and every chart is inline SVG. It shows, in this order:

- what changed since the report of the window before (the SAI then and now, the input that
  moved it most) and what to do, in words, most urgent first (:func:`actions`: a breach
  that pages, such as customers unable to reach a person, before the tickets);
- the Strategic Alignment Index (SAI), its published value per day over the whole history
  in the store and the contribution of each input to it, each bar coloured by how far the
  input's score is from its best;
- the five strategic automation indices (CJAI, SPAR, AAC, SDUR, SSAI) and the four
  balanced-scorecard perspective scores;
- every KPI against its target;
- the pitfalls found, each with its evidence and what to do about it (the advice comes
  from :data:`PITFALL_ADVICE`: re-engineer before automating, pilot first, train,
  re-check the ROI assumptions, produce to demand);
- drift and regression signals, human reachability, the strategic-alignment checklist,
  the prioritised list of what to automate next and the verdicts on pilots;
- "Ethics and human agency" (:func:`_ethics_section`, from the scorecard's typed ``ethics`` block):
  which group of customers an automation treats worse, by how much, on how many decisions,
  whether it is more than chance and what to do; reversals and appeals when high; people
  displaced without reskilling; overdue oversight. Its findings join the "what to do" list
  at their alerts' severities (a parity breach is a ticket, a high override rate a page).

Every value is shown in its KPI's declared unit (:func:`format_quantity`: ratios as %,
durations in s/min/h/days, money with the currency, counted things as whole numbers),
never in scientific notation.

``render_report(scorecard, ...)`` is pure (a :class:`alignwatch.metrics.card.Scorecard` in,
a string out: every value is read from its typed field);
``write_report(engine, strategy, ...)`` builds the scorecard with
``alignwatch.metrics.scorecard.build_scorecard``, the change with ``explain_sai`` and the
SAI per day from the published values in ``metric_values`` (:func:`sai_per_day`).

The scorecard is computed from the stored events. Whether a validated publication stands
behind it is said plainly (:class:`Publication`, read by :func:`publication_status`): when
no published run covers the reported window, a banner at the top says the numbers are not
validated and how many runs were published (e.g. "0 of 6 runs published").
"""

from __future__ import annotations

import datetime as dt
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from alignwatch.metrics.card import (
    HumanBelowFloor,
    KpiBelowTarget,
    KpiLine,
    KpiRegression,
    PilotVerdict,
    Priority,
    StrategicStaleness,
)
from alignwatch.metrics.ethics import Assessment, OversightStaleness, Parity, SegmentRate
from alignwatch.metrics.formulas import Finding, HumanReachability
from alignwatch.metrics.scorecard import Scorecard, build_scorecard, explain_sai
from alignwatch.metrics.strategy import Strategy
from alignwatch.store.schema import metric_values, pipeline_runs
from alignwatch.vocabulary import INDEX_TITLES, PERSPECTIVE_TITLES

__all__ = [
    "INDEX_NAMES",
    "PERSPECTIVE_NAMES",
    "PITFALL_ADVICE",
    "SAI_METRIC_ID",
    "SEVERITY_LABELS",
    "Action",
    "Advice",
    "Contribution",
    "Publication",
    "actions",
    "contribution_tone",
    "format_duration",
    "format_index",
    "format_money",
    "format_number",
    "format_quantity",
    "format_score",
    "latest_window_end",
    "publication_status",
    "render_report",
    "sai_per_day",
    "sai_trend",
    "write_report",
]

SAI_METRIC_ID = "sai"
"""Catalogue id of the Strategic Alignment Index in ``metric_values``."""

INDEX_NAMES: dict[str, str] = INDEX_TITLES
"""The five strategic automation indices, in the order the report shows them."""

PERSPECTIVE_NAMES: dict[str, str] = PERSPECTIVE_TITLES
"""The four balanced-scorecard perspectives, in the order the report shows them."""


@dataclass(frozen=True)
class Advice:
    """What a pitfall means for the business and what to do about it."""

    title: str
    impact: str
    actions: tuple[str, ...]


PITFALL_ADVICE: dict[str, Advice] = {
    "feature_overload": Advice(
        "Feature overload",
        "You pay for features nobody uses: wasted licences, more complexity, lower adoption.",
        (
            "Compare the licensed features with the ones your goals need; cancel or downgrade the rest.",
            "Train the team on the few features that serve a goal before adding new ones.",
        ),
    ),
    "process_mismatch": Advice(
        "Process mismatch",
        "The automation runs a broken process: it repeats the failures, rework and manual fixes faster.",
        (
            "Re-engineer before automating: map the process, remove the causes of failure and rework, then automate it again.",
            "Pause scaling it; run the re-designed process as a small pilot and compare it with the baseline.",
        ),
    ),
    "integration_issues": Advice(
        "Integration issues",
        "Tools that do not talk to each other: data re-keyed by hand, failed syncs, data silos.",
        (
            "Connect the systems (API or native integration) so no record is typed twice.",
            "Fix sync failures at their source before automating more steps downstream.",
        ),
    ),
    "lack_of_user_adoption": Advice(
        "Lack of user adoption",
        "Seats are paid for but the team keeps working by hand: low use, resistance, failing project.",
        (
            "Train the team and involve them in the design: ask what slows them down and adapt the tool.",
            "Start with a pilot group of willing users, then extend with their feedback.",
        ),
    ),
    "roi_miscalculation": Advice(
        "ROI miscalculation",
        "The return promised before go-live is not materialising, window after window.",
        (
            "Re-check the ROI assumptions with all costs included: licences, training, maintenance and the manual work that remains.",
            "Re-forecast with measured numbers, then decide to iterate, scale down or stop.",
        ),
    ),
    "overproduction": Advice(
        "Over-production",
        "Automation produces more than customers buy: the output does not match demand.",
        (
            "Let demand drive output: plan production from orders and sell-through, not from machine capacity.",
            "Pilot smaller batches and re-check the schedule against what sells before scaling up again.",
        ),
    ),
}
"""Owner-facing advice per pitfall id, from the seed's strategies for alignment."""

_GENERIC_ADVICE = Advice(
    "Pitfall",
    "An automation is not serving the strategy as declared.",
    ("Review the evidence with the team, re-check the assumptions and pilot a fix before scaling.",),
)


# --------------------------------------------------------------------------- values


def _number(value: Any) -> float | None:
    """A float from a number (a flag counts 0 or 1); None for anything else or a non-finite float."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return None if isinstance(value, float) and not math.isfinite(value) else float(value)
    return None


def format_score(value: float | None) -> str:
    """A 0–100 score as shown in the report (``72.4``), or an em dash when there is no data."""
    return "—" if value is None else f"{value:.1f}"


def format_index(value: float | None) -> str:
    """A 0–1 index as shown in the report (``0.62``), or an em dash when there is no data."""
    return "—" if value is None else f"{value:.2f}"


_COUNT_UNITS = frozenset({"count", "orders", "cases", "runs", "tickets", "applications", "units", "events", "customers"})
"""Units whose values are counted things: shown as whole numbers."""
_RATIO_UNITS = frozenset({"ratio", "share"})
_CURRENCY_CODE = re.compile(r"[A-Z]{3}")


def format_number(value: float) -> str:
    """A plain number for a reader: whole numbers and numbers from 1,000 without decimals and
    with thousands separators (``3``, ``54,570``), others with two decimals (``0.25``,
    ``812.50``); never scientific notation."""
    if float(value).is_integer() or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}"


def format_duration(seconds: float) -> str:
    """A duration in the largest unit that keeps it readable: ``45 s``, ``1.5 min``, ``25 min``,
    ``15.2 h`` (below two days), ``3.5 days``."""
    size = abs(seconds)
    if size < 60:
        return f"{seconds:.0f} s"
    if size < 600:
        return f"{seconds / 60:.1f} min"
    if size < 3600:
        return f"{seconds / 60:.0f} min"
    if size < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:,.1f} days"


def format_money(value: float, currency: str) -> str:
    """An amount with its ISO currency code: ``EUR 812.50``, ``EUR 42,000`` (whole from 1,000)."""
    return f"{currency} {format_number(value)}"


def format_quantity(value: Any, unit: str | None = None, *, currency: str = "EUR") -> str:
    """A value in a KPI's declared unit, as the owner reads it (an em dash when there is no data).

    ``ratio``/``share``: a percentage (``0.62`` → ``62.0%``); ``percent``: already one;
    ``seconds``/``minutes``: a duration (:func:`format_duration`); a currency code (``EUR``)
    or ``money``: an amount (:func:`format_money`, ``money`` in the strategy's ``currency``);
    counted things (``orders``, ``cases``, ``count`` …): a whole number; ``score``: one
    decimal; any other unit: the number (:func:`format_number`) followed by the unit.
    """
    number = _number(value)
    if number is None:
        return "—" if value is None or isinstance(value, float | int) else html.escape(str(value))
    unit = (unit or "").strip()
    if unit in _RATIO_UNITS:
        return f"{number * 100:.1f}%"
    if unit in ("percent", "%"):
        return f"{number:.1f}%"
    if unit == "seconds":
        return format_duration(number)
    if unit == "minutes":
        return format_duration(number * 60)
    if unit == "money":
        return format_money(number, currency)
    if _CURRENCY_CODE.fullmatch(unit):
        return format_money(number, unit)
    if unit in _COUNT_UNITS:
        whole = f"{round(number):,}"
        return whole if unit == "count" else f"{whole} {html.escape(unit)}"
    if unit == "score":
        return f"{number:.1f}"
    text = format_number(number)
    return f"{text} {html.escape(unit)}" if unit else text


def _format_value(value: Any, unit: str | None = None, *, currency: str = "EUR") -> str:
    return format_quantity(value, unit, currency=currency)


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _label(ident: str) -> str:
    return ident.replace("_", " ").capitalize()


# --------------------------------------------------------------------------- charts


def _trend_svg(points: Sequence[tuple[dt.datetime, float]], width: int = 640, height: int = 170) -> str:
    """The SAI per day as an inline SVG line chart (0–100 scale), one dot per published day."""
    pad_l, pad_r, pad_t, pad_b = 34, 10, 10, 24
    inner_w, inner_h = width - pad_l - pad_r, height - pad_t - pad_b
    parts = [
        f'<svg class="chart" role="img" aria-label="SAI trend" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet">'
    ]
    for tick in (0, 25, 50, 75, 100):
        y = pad_t + inner_h * (1 - tick / 100)
        parts.append(f'<line x1="{pad_l}" x2="{width - pad_r}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>')
        parts.append(f'<text x="{pad_l - 6}" y="{y + 4:.1f}" class="axis" text-anchor="end">{tick}</text>')
    if not points:
        parts.append(f'<text x="{width / 2}" y="{height / 2}" class="axis" text-anchor="middle">no published SAI yet</text>')
        parts.append("</svg>")
        return "".join(parts)
    times = [p[0].timestamp() for p in points]
    t0, t1 = min(times), max(times)
    span = (t1 - t0) or 1.0

    def xy(when: float, value: float) -> tuple[float, float]:
        x = pad_l + inner_w * ((when - t0) / span if len(points) > 1 else 0.5)
        y = pad_t + inner_h * (1 - max(0.0, min(100.0, value)) / 100)
        return x, y

    coords = [xy(t, v) for t, (_, v) in zip(times, points, strict=True)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    area = f"{coords[0][0]:.1f},{pad_t + inner_h} {path} {coords[-1][0]:.1f},{pad_t + inner_h}"
    parts.append(f'<polygon points="{area}" class="area"/>')
    parts.append(f'<polyline points="{path}" class="line"/>')
    for (when, value), (x, y) in zip(points, coords, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{2.5 if len(points) > 1 else 4}" class="dot point" '
            f'data-day="{when:%Y-%m-%d}" data-value="{value:.1f}"/>'
        )
    first, last = points[0][0], points[-1][0]
    parts.append(f'<text x="{pad_l}" y="{height - 6}" class="axis">{_esc(first.strftime("%Y-%m-%d"))}</text>')
    parts.append(
        f'<text x="{width - pad_r}" y="{height - 6}" class="axis" text-anchor="end">{_esc(last.strftime("%Y-%m-%d"))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _bar(fraction: float | None, *, marker: float | None = None, tone: str | None = None) -> str:
    """A horizontal bar for a value in [0, 1] as inline SVG, with an optional target marker."""
    width, height = 220, 14
    parts = [f'<svg class="bar" viewBox="0 0 {width} {height}" width="{width}" height="{height}">']
    parts.append(f'<rect x="0" y="0" width="{width}" height="{height}" rx="3" class="track"/>')
    if fraction is not None:
        clamped = max(0.0, min(1.0, fraction))
        tone = tone or ("good" if clamped >= 0.75 else "warn" if clamped >= 0.5 else "bad")
        parts.append(f'<rect x="0" y="0" width="{width * clamped:.1f}" height="{height}" rx="3" class="fill {tone}"/>')
    if marker is not None:
        x = width * max(0.0, min(1.0, marker))
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" class="marker"/>')
    parts.append("</svg>")
    return "".join(parts)


def contribution_tone(score: float | None) -> str:
    """The colour of an SAI input's bar, from how far its score (0–100) is from its best (100):
    ``good`` from 75, ``warn`` from 50, ``bad`` below, ``none`` without data."""
    if score is None:
        return "none"
    return "good" if score >= 75 else "warn" if score >= 50 else "bad"


@dataclass(frozen=True)
class Contribution:
    """An SAI input: its name, the points it adds, and its own score (0–100) when known."""

    name: str
    points: float
    score: float | None


def _contributions_svg(contributions: list[Contribution]) -> str:
    """Points each input adds to the SAI, as horizontal bars coloured by the input's score."""
    if not contributions:
        return '<p class="muted">No contributions published.</p>'
    top = max(abs(c.points) for c in contributions) or 1.0
    row_h, label_w, width = 24, 190, 640
    height = row_h * len(contributions) + 6
    parts = [f'<svg class="chart" role="img" aria-label="SAI contributions" viewBox="0 0 {width} {height}" width="100%">']
    bar_w = width - label_w - 190
    for row, item in enumerate(contributions):
        y = 3 + row * row_h
        length = bar_w * abs(item.points) / top
        tone = contribution_tone(item.score)
        score = "" if item.score is None else f" (score {item.score:.0f} of 100)"
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" class="label" text-anchor="end">{_esc(item.name)}</text>')
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{length:.1f}" height="{row_h - 8}" rx="3" '
            f'class="fill {tone}" data-input="{_esc(item.name)}" data-tone="{tone}"/>'
        )
        parts.append(f'<text x="{label_w + length + 6:.1f}" y="{y + 15}" class="value">{item.points:.1f} pts{score}</text>')
    parts.append("</svg>")
    return "".join(parts)


# --------------------------------------------------------------------------- sections


def _contributions(scorecard: Scorecard) -> list[Contribution]:
    found: list[Contribution] = []
    for item in scorecard.contributions:
        if item.points is not None:
            ident = item.input
            name = ident.upper() if ident in INDEX_NAMES else PERSPECTIVE_NAMES.get(ident, _label(ident))
            found.append(Contribution(name, item.points, item.score))
    found.sort(key=lambda c: -abs(c.points))
    return found


def _sai_section(scorecard: Scorecard, trend: Sequence[tuple[dt.datetime, float]]) -> str:
    sai = scorecard.sai
    tone = "none" if sai is None else "good" if sai >= 70 else "warn" if sai >= 50 else "bad"
    change = ""
    if len(trend) >= 2:
        delta = trend[-1][1] - trend[0][1]
        change = f'<p class="muted">{"+" if delta >= 0 else ""}{delta:.1f} points since {_esc(trend[0][0].strftime("%Y-%m-%d"))}</p>'
    days = len(trend)
    return f"""
<section class="hero">
  <div class="sai-card {tone}">
    <div class="muted">Strategic Alignment Index</div>
    <div class="sai" id="sai" data-value="{'' if sai is None else f'{sai:.4f}'}">{format_score(sai)}</div>
    <div class="muted">out of 100</div>
    {change}
  </div>
  <div class="trend">
    <h3>SAI per day ({days} day{'' if days == 1 else 's'} published)</h3>
    {_trend_svg(trend)}
  </div>
</section>
<section>
  <h2>What makes up the SAI</h2>
  <p class="muted">Points each input adds to the index (its score × its weight in your strategy file). The colour
  says how far the input is from its best: green from a score of 75 of 100, amber from 50, red below.</p>
  {_contributions_svg(_contributions(scorecard))}
</section>"""


SEVERITY_LABELS: dict[str, str] = {"page": "Act today", "ticket": "This week"}
"""How urgent an item of the "what to do" list is, as the alerting model grades it: ``page``
(customers are hurt now, e.g. the human fallback unreachable) before ``ticket``."""


@dataclass(frozen=True)
class Action:
    """One item of the "what to do" list: how urgent, what is wrong, what to do, in words."""

    severity: str
    order: int
    problem: str
    todo: str
    detail: str = ""


def _kpi_name(kpis: Mapping[str, KpiLine], ident: str) -> str:
    return kpis[ident].name if ident in kpis else _label(ident)


def _kpi_quantity(kpis: Mapping[str, KpiLine], ident: str, value: float | None, currency: str) -> str:
    return format_quantity(value, kpis[ident].unit if ident in kpis else None, currency=currency)


def _target_words(kpis: Mapping[str, KpiLine], ident: str, target: float, currency: str) -> str:
    direction = kpis[ident].direction if ident in kpis else "up"
    bound = "at least" if direction == "up" else "at most"
    return f"{bound} {_kpi_quantity(kpis, ident, target, currency)}"


def _human_words(human: HumanReachability) -> tuple[bool, str]:
    """Whether human reachability is below its floor, and the sentence saying how it stands."""
    reach, floor, below, sla = human.get("value"), human.get("floor"), human.get("below_floor"), human.get("sla_s")
    if below is None:
        below = reach is not None and floor is not None and reach < floor
    within = f" within {format_duration(sla)}" if sla is not None else ""
    if reach is None:
        return False, "No customer asked for a person in this window."
    floor_text = "" if floor is None else f" (your floor: {floor * 100:.0f}%)"
    return bool(below), f"{reach * 100:.1f}% of the customers who asked for a person reached one{within}{floor_text}."


def actions(scorecard: Scorecard, *, currency: str = "EUR") -> list[Action]:
    """What to do, most urgent first: the breaches that page (human reachability below its
    floor, people reversing an automation's decisions above its limit) before the tickets
    (critical pitfalls and parity breaches, red flags crossed, warning pitfalls, KPIs below
    target with enough events, regressions, strategic staleness, overdue oversight and people
    displaced without reskilling)."""
    kpis = scorecard.kpis
    found: list[Action] = []
    below, sentence = _human_words(scorecard.human_reachability)
    if below:
        found.append(Action("page", 0, f"Customers cannot reach a person: only {sentence}",
                            "Make the human fallback reachable again today: staff the channel or fix the hand-off."))
    for finding in _pitfalls(scorecard):
        advice = PITFALL_ADVICE.get(finding.pitfall, _GENERIC_ADVICE)
        critical = finding.severity == "critical"
        found.append(Action("ticket", 1 if critical else 3, f"{advice.title} ({finding.automation}): {advice.impact}",
                            advice.actions[0]))
    for ident, kpi in kpis.items():
        if kpi.red_flag_crossed is True:
            found.append(Action(
                "ticket", 2,
                f"{_kpi_name(kpis, ident)} crossed its red flag: {_kpi_quantity(kpis, ident, kpi.value, currency)}, "
                f"target {_target_words(kpis, ident, kpi.target, currency)}.",
                "Find what pushed it past the red flag before anything else is automated around it.",
            ))
    below_target: list[str] = []
    regressions: list[str] = []
    for signal in scorecard.drift:
        if not signal.active:
            continue
        if isinstance(signal, KpiBelowTarget):
            crossed = signal.kpi in kpis and kpis[signal.kpi].red_flag_crossed is True
            if not signal.guarded and not crossed:
                below_target.append(_below_target_words(kpis, signal, currency))
        elif isinstance(signal, KpiRegression):
            regressions.append(_regression_words(kpis, signal))
        elif isinstance(signal, StrategicStaleness):
            found.append(Action("ticket", 6, "Alignment is high but the outcome KPIs fell week after week.",
                                "Review the strategy: the goals may no longer match what the business needs."))
    if below_target:
        count = f"{len(below_target)} KPI{' is' if len(below_target) == 1 else 's are'} below target"
        found.append(Action("ticket", 4, f"{count}.",
                            "Look at what changed in the processes and automations behind them; the pitfalls may explain it.",
                            " ".join(below_target)))
    if regressions:
        count = f"{len(regressions)} KPI{' is' if len(regressions) == 1 else 's are'} getting worse"
        found.append(Action("ticket", 5, f"{count}.",
                            "Compare this week with the weeks before: a change of automation, staff or season?",
                            " ".join(regressions)))
    found += _ethics_actions(scorecard.ethics.assessment)
    found.sort(key=lambda a: (0 if a.severity == "page" else 1, a.order))
    return found


def _below_target_words(kpis: Mapping[str, KpiLine], signal: KpiBelowTarget, currency: str) -> str:
    ident = signal.kpi
    return (f"{_kpi_name(kpis, ident)} is {_kpi_quantity(kpis, ident, signal.value, currency)}; "
            f"the target is {_target_words(kpis, ident, signal.target, currency)}.")


def _regression_words(kpis: Mapping[str, KpiLine], signal: KpiRegression) -> str:
    return (f"{_kpi_name(kpis, signal.kpi)} got {signal.drop * 100:.0f}% worse over the last 7 days than over the 21 "
            f"days before (alert from {signal.threshold * 100:.0f}%).")


def _change_words(scorecard: Scorecard, changes: Mapping[str, Any] | None, window: str) -> str:
    """Since the last report: the SAI then and now, and the input that moved it most (``changes``:
    :func:`alignwatch.metrics.scorecard.explain_sai`, its inputs ranked by how much they moved)."""
    sai = scorecard.sai
    previous = _number(changes.get("previous_sai")) if changes else None
    span = {"1d": "day", "7d": "7 days", "28d": "28 days"}.get(window, window)
    if sai is None:
        return "There is no Strategic Alignment Index for this window: too few events were stored."
    if previous is None:
        return f"The Strategic Alignment Index is {format_score(sai)} out of 100; there is no report of the {span} before to compare with."
    delta = sai - previous
    way = "up" if delta > 0.05 else "down" if delta < -0.05 else "unchanged"
    moved = "" if way == "unchanged" else f" {way} {abs(delta):.1f} points from {format_score(previous)}"
    text = f"The Strategic Alignment Index is {format_score(sai)} out of 100,{moved or ' unchanged'} since the report of the {span} before."
    inputs = [m for m in (changes or {}).get("inputs") or [] if _number(m.get("delta"))]
    if inputs:
        top = inputs[0]
        ident = str(top["input"])
        name = ident.upper() if ident in INDEX_NAMES else PERSPECTIVE_NAMES.get(ident, _label(ident))
        points = float(top["delta"])
        text += f" The biggest move: {name}, {'+' if points >= 0 else '−'}{abs(points):.1f} points."
    return text


def _lead_section(scorecard: Scorecard, changes: Mapping[str, Any] | None, window: str, currency: str) -> str:
    items = actions(scorecard, currency=currency)
    rows = "".join(
        f'<li class="action {a.severity}" data-severity="{a.severity}">'
        f'<span class="badge {a.severity}">{_esc(SEVERITY_LABELS[a.severity])}</span> '
        f"<strong>{_esc(a.problem)}</strong>{f' <span class=detail>{_esc(a.detail)}</span>' if a.detail else ''}"
        f"<div class='todo'>{_esc(a.todo)}</div></li>"
        for a in items
    )
    todo = f'<ol class="actions" id="actions">{rows}</ol>' if rows else '<p class="ok" id="actions">Nothing needs your attention in this window.</p>'
    return (
        f'<section class="lead" id="summary"><h2>What changed and what to do</h2>'
        f'<p id="change">{_esc(_change_words(scorecard, changes, window))}</p>{todo}</section>'
    )


def _indices_section(scorecard: Scorecard) -> str:
    given = scorecard.indices
    idents = list(INDEX_NAMES) + [key for key in given if key not in INDEX_NAMES]
    rows = []
    for ident in idents:
        item = given.get(ident)
        value = None if item is None else item.value
        detail = "" if item is None else _index_detail(item.inputs)
        rows.append(
            f'<div class="tile" id="index-{_esc(ident)}"><div class="tile-name">{_esc(ident.upper())}</div>'
            f'<div class="tile-value">{format_index(value)}</div>'
            f'<div class="muted small">{_esc(INDEX_NAMES.get(ident, _label(ident)))}</div>'
            f"{_bar(value)}"
            f'{f"<div class=small>{_esc(detail)}</div>" if detail else ""}</div>'
        )
    return f'<section><h2>Strategic automation indices</h2><div class="tiles">{"".join(rows)}</div></section>'


def _index_detail(inputs: Mapping[str, Any]) -> str:
    """A short line of an index's inputs (its scalar and list fields; nested details are left out)."""
    parts = []
    for key, value in inputs.items():
        if key == "detail" or isinstance(value, Mapping):
            continue
        if isinstance(value, list | tuple):
            shown = ", ".join(str(v) for v in value[:5]) + (" …" if len(value) > 5 else "")
            parts.append(f"{_label(str(key)).lower()}: {shown or 'none'}")
        elif value is not None:
            parts.append(f"{_label(str(key)).lower()}: {_plain(value)}")
    return "; ".join(parts)


def _plain(value: Any) -> str:
    number = None if isinstance(value, bool) else _number(value)
    return str(value) if number is None else format_number(number)


def _perspectives_section(scorecard: Scorecard) -> str:
    given = scorecard.perspectives
    idents = list(PERSPECTIVE_NAMES) + [key for key in given if key not in PERSPECTIVE_NAMES]
    rows = []
    for ident in idents:
        score = given.get(ident)
        rows.append(
            f'<div class="tile" id="perspective-{_esc(ident)}"><div class="tile-name">{_esc(PERSPECTIVE_NAMES.get(ident, _label(ident)))}</div>'
            f'<div class="tile-value">{format_score(score)}</div>'
            f'{_bar(None if score is None else score / 100)}</div>'
        )
    return f'<section><h2>Balanced scorecard</h2><div class="tiles">{"".join(rows)}</div></section>'


def _kpis_section(scorecard: Scorecard, currency: str = "EUR") -> str:
    rows = []
    for ident, kpi in scorecard.kpis.items():
        unit = kpi.unit
        attainment = kpi.attainment
        status = _kpi_status(kpi)
        rows.append(
            f'<tr id="kpi-{_esc(ident)}"><td><strong>{_esc(kpi.name)}</strong>'
            f'<div class="muted small">{_esc(PERSPECTIVE_NAMES.get(kpi.perspective, ""))}</div></td>'
            f'<td class="num">{_format_value(kpi.value, unit, currency=currency)}</td>'
            f'<td class="num">{"≥" if kpi.direction == "up" else "≤"} {_format_value(kpi.target, unit, currency=currency)}</td>'
            f'<td>{_bar(attainment)} <span class="small">{"—" if attainment is None else f"{attainment * 100:.0f}%"}</span></td>'
            f"<td>{_esc(status or 'no data')}</td></tr>"
        )
    if not rows:
        return '<section><h2>KPIs against targets</h2><p class="muted">No KPI declared.</p></section>'
    return (
        '<section><h2>KPIs against targets</h2><table><thead><tr><th>KPI</th><th class="num">value</th>'
        '<th class="num">target</th><th>attainment</th><th>status</th></tr></thead><tbody>'
        + "".join(rows)
        + "</tbody></table></section>"
    )


def _kpi_status(kpi: KpiLine) -> str | None:
    """On target, below target, red flag crossed, or too few events to judge."""
    few = kpi.events < kpi.min_events
    if kpi.red_flag_crossed is True:
        status = "red flag crossed"
    elif kpi.below_target is True:
        status = "below target"
    elif kpi.below_target is False:
        status = "on target"
    else:
        return None
    return f"{status} (only {kpi.events:.0f} events)" if few else status


_EVIDENCE_SHARES = frozenset({
    "adoption", "failure_rate", "feature_usage", "manual_intervention", "manual_intervention_rate", "manual_share",
    "rework_rate", "sell_through", "roi_realisation", "usage_ratio", "human_reachability",
})
"""Pitfall evidence (and threshold) keys whose values are shares in 0–1, shown as percentages."""


def _evidence_value(key: str, value: Any) -> str:
    if isinstance(value, bool) or _number(value) is None:
        return _esc(value)
    stem = key.removeprefix("threshold ").removesuffix("_min").removesuffix("_max").removesuffix("_floor")
    return format_quantity(value, "ratio" if stem in _EVIDENCE_SHARES else None)


def _evidence_html(evidence: Any) -> str:
    if evidence is None or evidence == {} or evidence == []:
        return ""
    if isinstance(evidence, Mapping):
        items = "".join(
            f"<li><span class=muted>{_esc(_label(str(key)))}:</span> {_evidence_value(str(key), value)}</li>"
            for key, value in evidence.items()
        )
        return f'<ul class="evidence">{items}</ul>'
    if isinstance(evidence, str):
        return f'<p class="evidence">{_esc(evidence)}</p>'
    if isinstance(evidence, Iterable):
        return '<ul class="evidence">' + "".join(f"<li>{_esc(item)}</li>" for item in evidence) + "</ul>"
    return f'<p class="evidence">{_esc(evidence)}</p>'


def _pitfalls(scorecard: Scorecard) -> list[Finding]:
    """The active pitfalls, critical first."""
    return [finding for finding in scorecard.pitfalls if finding.active]


def _pitfalls_section(scorecard: Scorecard) -> str:
    found = _pitfalls(scorecard)
    if not found:
        return '<section><h2>Pitfalls</h2><p class="ok">No pitfall detected in this window.</p></section>'
    cards = []
    for finding in found:
        ident = finding.pitfall
        advice = PITFALL_ADVICE.get(ident, _GENERIC_ADVICE)
        subject = finding.automation
        severity = finding.severity or "warning"
        message = finding.message
        evidence = {**finding.evidence, **{f"threshold {key}": value for key, value in finding.threshold.items()}}
        title = advice.title if ident in PITFALL_ADVICE else _label(ident)
        impact = f'<p class="muted small">{_esc(advice.impact)}</p>' if message else ""
        cards.append(
            f'<article class="pitfall {html.escape(severity)}" data-pitfall="{_esc(ident)}">'
            f'<header><span class="badge {html.escape(severity)}">{_esc(severity)}</span> <h3>{_esc(title)}</h3>'
            f'{f"<span class=subject>{_esc(subject)}</span>" if subject else ""}<code class="muted small">{_esc(ident)}</code></header>'
            f'<p>{_esc(message) if message else _esc(advice.impact)}</p>'
            f'<div class="cols"><div><h4>Evidence</h4>{_evidence_html(evidence) or "<p class=muted>—</p>"}</div>'
            f'<div><h4>What to do</h4>{impact}<ul>'
            + "".join(f"<li>{_esc(action)}</li>" for action in advice.actions)
            + "</ul></div></div></article>"
        )
    return f'<section><h2>Pitfalls ({len(found)})</h2>{"".join(cards)}</section>'


def _drift_section(scorecard: Scorecard, currency: str = "EUR") -> str:
    kpis = scorecard.kpis
    rows = []
    for signal in scorecard.drift:
        if not signal.active or isinstance(signal, HumanBelowFloor):
            continue  # human reachability is said below, with the floor
        if isinstance(signal, KpiBelowTarget):
            guard = " Fewer events than the KPI needs to be judged: not alerted." if signal.guarded else ""
            text = _esc(_below_target_words(kpis, signal, currency) + guard)
        elif isinstance(signal, KpiRegression):
            text = _esc(_regression_words(kpis, signal))
        else:
            text = _esc(signal.message)
        rows.append(f"<li>{text}</li>")
    below, sentence = _human_words(scorecard.human_reachability)
    human_html = (
        f'<p id="human-reachability" class="{"bad" if below else "ok"}">Reaching a person: <strong>{_esc(sentence)}</strong>'
        f'{" Below the floor: make the human fallback reachable again." if below else ""}</p>'
    )
    body = "<ul>" + "".join(rows) + "</ul>" if rows else '<p class="ok">No KPI drift or regression detected.</p>'
    return f"<section><h2>Drift, regressions and the human element</h2>{body}{human_html}</section>"


def _checklist_section(scorecard: Scorecard) -> str:
    checklist = scorecard.checklist
    rows = []
    for ident, item in checklist.items.items():
        mark, tone = _CHECK_MARKS.get(item.status, _CHECK_MARKS["failed"])
        rows.append(
            f'<tr id="check-{_esc(ident)}"><td class="{tone} mark">{mark}</td><td><strong>{_esc(_label(ident))}</strong></td>'
            f'<td class="small">{_esc(item.evidence)}</td>'
            f'<td class="small muted">{_esc(item.source)}</td></tr>'
        )
    ready = checklist.readiness
    return (
        f'<section><h2>Strategic alignment checklist</h2><p>Readiness: <strong>{"—" if ready is None else f"{ready * 100:.0f}%"}</strong>'
        f' ({checklist.passed} of {len(checklist.items)} passed)</p><table><tbody>{"".join(rows)}</tbody></table></section>'
    )


#: a checklist status -> its mark and tone
_CHECK_MARKS: dict[str, tuple[str, str]] = {"passed": ("✔", "ok"), "unknown": ("?", "muted"), "failed": ("✘", "bad")}


def _priorities_section(scorecard: Scorecard, currency: str = "EUR") -> str:
    rows = []
    for item in scorecard.priorities:
        rows.append(
            f"<tr><td class=num>{_esc(item.rank)}</td><td><strong>{_esc(item.name)}</strong></td>"
            f"<td class=num>{_impact(item, currency)}</td>"
            f"<td class=small>{_esc(_priority_reason(item, currency))}</td></tr>"
        )
    body = (
        "<table><thead><tr><th class=num>#</th><th>candidate</th><th class=num>impact</th><th>why</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else '<p class="muted">No candidate declared.</p>'
    )
    return (
        "<section><h2>What to automate next</h2><p class='muted small'>Impact: what the work still done by hand costs a month "
        f"(manual cases a month × cost per manual case, in {_esc(currency)}), weighted by the weight of the goals the process "
        "serves and by its criticality (× 3 critical, × 2 supporting, × 1 peripheral). Highest first.</p>"
        f"{body}</section>"
    )


def _impact(item: Priority, currency: str) -> str:
    """A candidate's impact in money a month, or in weighted manual cases a month when the
    strategy declares no manual cost per case for its process (``cost_declared`` false)."""
    if not item.cost_declared:
        return f"{round(item.score):,} weighted manual cases a month"
    return f"{format_money(item.score, currency)} a month"


def _priority_reason(item: Priority, currency: str = "EUR") -> str:
    """Why a candidate ranks where it does, from the prioritisation's inputs."""
    parts = [f"{item.criticality} process", f"{item.manual_share * 100:.0f}% done by hand",
             f"{round(item.manual_volume_per_month):,} manual cases a month"]
    if not item.cost_declared:
        parts.append("no manual cost per case declared")
    else:
        parts.append(f"{format_money(item.manual_cost_per_case, currency)} per manual case")
    if item.candidate:
        parts.append("not automated yet")
    elif item.automations:
        parts.append("automated by " + ", ".join(item.automations))
    return "; ".join(parts)


def _pilots_section(scorecard: Scorecard) -> str:
    rows = []
    for pilot in scorecard.pilots:
        tone = {"scale": "ok", "iterate": "warn", "stop": "bad"}.get(pilot.verdict, "muted")
        rows.append(
            f"<tr><td><strong>{_esc(pilot.name)}</strong></td>"
            f"<td class='{tone}'><strong>{_esc(pilot.verdict)}</strong></td>"
            f"<td class=small>{_pilot_deltas(pilot, scorecard.kpis)}</td>"
            f"<td class=small>{_esc(pilot.reason)}</td></tr>"
        )
    body = (
        "<table><thead><tr><th>pilot</th><th>verdict</th><th>pilot vs baseline</th><th>why</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        if rows
        else '<p class="muted">No pilot running.</p>'
    )
    return f"<section><h2>Pilots</h2>{body}</section>"


def _pilot_deltas(pilot: PilotVerdict, kpis: Mapping[str, KpiLine]) -> str:
    """Each KPI's attainment during the pilot against before it, in points of attainment."""
    return "; ".join(
        f"{_esc(_kpi_name(kpis, kpi))} {'+' if d >= 0 else '−'}{abs(d) * 100:.0f} points of attainment"
        for kpi, d in pilot.deltas.items()
    )


# --------------------------------------------------------------------------- ethics and human agency

_ETHICS_HOW_TO = (
    "To have an automation's decisions about customers (refunds, credit, bookings) checked for fair treatment, "
    "list it under ethics.decisions in the strategy file (docs/strategy.md, section ethics)."
)


def _pct(value: float | None) -> str:
    return format_quantity(value, "ratio")


def _parity_words(p: Parity) -> tuple[str, SegmentRate, SegmentRate] | None:
    """The sentence of a parity verdict, with the least and the most favoured group (None: no verdict)."""
    groups = {g.segment: g for g in p.segments}
    low = groups.get(p.lowest) if p.lowest is not None else None
    high = groups.get(p.highest) if p.highest is not None else None
    if p.ratio is None or low is None or high is None:
        return None
    sentence = (
        f"{p.automation_id} gives customers of {p.dimension} '{low.segment}' a favourable outcome "
        f"{_pct(low.rate)} of the time ({low.favourable:,} of {low.decisions:,} decisions), against "
        f"{_pct(high.rate)} for '{high.segment}', the best treated ({high.favourable:,} of "
        f"{high.decisions:,}): {_pct(p.ratio)} of their rate; your floor is {_pct(p.floor)}."
    )
    return sentence, low, high


def _not_enough(have: int, need: int) -> str:
    return f"not enough decisions to judge ({have:,} of {need:,} needed)"


def _ethics_actions(ethics: Assessment | None) -> list[Action]:
    """The ethics findings as items of the "what to do" list, at their alerts' severities: a
    parity breach is a ticket (AlignwatchEthicsParityBelowFloor), a high override rate a page
    (AlignwatchEthicsOverrideRateHigh); overdue oversight and people displaced without
    reskilling, which no alert reads, are tickets after the others."""
    if ethics is None or not ethics.agency:
        return []
    found: list[Action] = []
    for p in ethics.parity:
        words = _parity_words(p) if p.breach else None
        if words is not None:
            sentence, low, _ = words
            found.append(Action(
                "ticket", 1, f"Unequal treatment: {sentence} That is more than chance at these numbers.",
                f"Review how {p.automation_id} decides for '{low.segment}': what it reads that differs for them "
                "(a postcode, an amount threshold, a language), and any recent change to it; send their decisions to a "
                "person until it is corrected.",
            ))
    for a in ethics.agency:
        if a.override_high:
            found.append(Action(
                "page", 0,
                f"People reversed {_pct(a.override_rate)} of the decisions of {a.automation_id} "
                f"({a.overridden:,} of {a.decisions:,}), above your limit of {_pct(a.override_rate_max)}: "
                "it decides wrongly, and the decisions nobody reviews reach customers as they are.",
                "Send its decisions to a person for review today until the cause is fixed, or roll back its last change.",
            ))
    for st in ethics.staleness:
        if st.overdue:
            found.append(Action("ticket", 7, f"{_oversight_words(st)}.",
                                f"{(st.owner or 'Its owner').capitalize()}: review how it decides, then record "
                                "the date in the strategy file (ethics.decisions[].reviewed)."))
    displaced = len(ethics.reskilling.displaced)
    if displaced:
        found.append(Action("ticket", 7, f"{_people(displaced)} whose tasks an automation took on got no training or new "
                            "responsibility within the delay you committed to.",
                            "Offer them training or a new responsibility now."))
    return found


def _people(count: int) -> str:
    return f"{count:,} {'person' if count == 1 else 'people'}"


def _oversight_words(st: OversightStaleness) -> str:
    when = ("has never been reviewed" if st.days_since is None
            else f"was last reviewed {st.days_since:,} days ago ({st.reviewed})")
    return f"How {st.automation_id} decides {when}; you committed to every {st.review_every_days} days"


def _ethics_section(scorecard: Scorecard) -> str:
    """Ethics and human agency, in the owner's words: which group an automation treats worse,
    by how much, on how many decisions, whether it is more than chance, and what to do."""
    ethics = scorecard.ethics.assessment
    head = '<section id="ethics"><h2>Ethics and human agency</h2>'
    if ethics is None or not ethics.agency:
        return f'{head}<p class="muted" id="ethics-undeclared">Your strategy declares no automation that decides ' \
               f"about customers, so nothing here is judged. {_esc(_ETHICS_HOW_TO)}</p></section>"
    items: list[str] = []

    def item(text: str, tone: str, kind: str) -> None:
        items.append(f'<li class="{tone}" data-ethics="{kind}">{text}</li>')

    for p in ethics.parity:
        words = _parity_words(p)
        by = f"{_esc(p.automation_id)}, by {_esc(p.dimension)}: "
        if words is None:
            sizes = sorted((g.decisions for g in p.segments), reverse=True)
            second = sizes[1] if len(sizes) > 1 else 0  # a verdict needs two groups of min_sample decisions
            item(by + _esc(_not_enough(second, p.min_sample)) + ".", "muted", "parity-none")
            continue
        sentence, low, _ = words
        if p.breach:
            item(f"<strong>{_esc(sentence)} That is more than chance at these numbers.</strong> What to do: review how "
                 f"it decides for '{_esc(low.segment)}' (run <code>alignwatch explain ethics --window 28d</code>, then "
                 "look at what its rules read that differs for them and at any recent change to it); send their "
                 "decisions to a person until it is corrected.", "bad", "parity-breach")
        elif p.below_floor:
            item(f"{_esc(sentence)} At these numbers the gap may be chance: keep watching.", "warn", "parity-watch")
        else:
            item(f"{_esc(sentence)} Within your floor.", "ok", "parity-ok")
    for a in ethics.agency:
        name = _esc(a.automation_id)
        counts = (f"{name}: {a.decisions:,} decisions, {a.reviewed:,} reviewed by a person, "
                  f"{a.overridden:,} reversed ({_pct(a.override_rate)}), "
                  f"{a.appealed:,} appealed by the customer ({_pct(a.appeal_rate)}).")
        limit = a.override_rate_max
        if a.override_high:
            item(f"<strong>{counts} More reversals than your limit of {_pct(limit)}: it decides wrongly.</strong> "
                 "What to do today: send its decisions to a person for review until the cause is fixed, or roll back "
                 "its last change.", "bad", "override-high")
        elif a.override_high is None:
            item(f"{counts} Reversals: {_esc(_not_enough(a.decisions, a.min_sample))}.", "muted", "override-none")
        else:
            item(counts, "ok", "override-ok")
        appeal = a.appeal_rate
        if appeal is not None and a.decisions >= a.min_sample and appeal > limit:
            item(f"Customers appealed {_pct(appeal)} of the decisions of {name}, more than the {_pct(limit)} you "
                 "accept for reversals: read the appeals for what they have in common.", "warn", "appeal-high")
    reskilling = ethics.reskilling
    if reskilling.displaced:
        item(f"<strong>{_people(len(reskilling.displaced))} whose tasks an automation took on got no training or new "
             "responsibility within the delay you committed to.</strong> What to do: offer it to them now.", "bad",
             "displaced")
    elif reskilling.automated:
        item(f"Reskilling: {len(reskilling.covered):,} of the {len(reskilling.automated):,} people whose tasks were "
             f"automated were trained or given a new responsibility in time ({_pct(reskilling.coverage)}); "
             "nobody was left without.", "ok", "reskilling")
    for st in ethics.staleness:
        if st.overdue:
            item(f"<strong>{_esc(_oversight_words(st))}.</strong> What to do: {_esc(st.owner or 'its owner')} "
                 "reviews how it decides and records the date in the strategy file.", "bad", "oversight-overdue")
        else:
            item(f"Oversight of {_esc(st.automation_id)}: reviewed {st.days_since} days ago by "
                 f"{_esc(st.owner)}, within the {st.review_every_days} days committed.", "ok", "oversight")
    weighed = ("it counts in the SAI (weights.ethics in your strategy file)" if scorecard.ethics.weighted_into_sai
               else "it stands beside the SAI and does not count in it (weights.ethics is 0)")
    summary = (f'<p id="ethics-score">Ethics score: <strong>{format_score(scorecard.ethics.score)}</strong> of 100, '
               f"the share of these checks that pass; {weighed}.</p>")
    return f'{head}{summary}<ul class="ethics">{"".join(items)}</ul></section>'


_CSS = """
:root { --ink:#1d2430; --muted:#667085; --line:#e4e7ec; --bg:#f6f7f9; --good:#2e9e5b; --warn:#d99a1e; --bad:#d14343; --accent:#3565c9; }
* { box-sizing: border-box; }
body { margin:0; font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--ink); background:var(--bg); }
main { max-width:1100px; margin:0 auto; padding:20px 24px 48px; }
header.page { display:flex; justify-content:space-between; align-items:baseline; flex-wrap:wrap; gap:8px; border-bottom:1px solid var(--line); margin-bottom:14px; }
h1 { font-size:24px; margin:8px 0; } h2 { font-size:18px; margin:0 0 10px; } h3 { font-size:15px; margin:0; } h4 { margin:6px 0; font-size:13px; text-transform:uppercase; color:var(--muted); }
section { background:#fff; border:1px solid var(--line); border-radius:8px; padding:16px 18px; margin:14px 0; }
section.unvalidated { border:2px solid var(--bad); color:var(--bad); }
section.hero { display:grid; grid-template-columns:220px 1fr; gap:18px; align-items:center; }
.sai-card { text-align:center; border-radius:8px; padding:14px; background:var(--bg); border-top:6px solid var(--muted); }
.sai-card.good { border-top-color:var(--good); } .sai-card.warn { border-top-color:var(--warn); } .sai-card.bad { border-top-color:var(--bad); }
.sai { font-size:56px; font-weight:700; line-height:1.1; }
.muted { color:var(--muted); } .small { font-size:12.5px; } .ok { color:var(--good); } .bad { color:var(--bad); } .warn { color:var(--warn); }
.tiles { display:grid; grid-template-columns:repeat(auto-fill,minmax(200px,1fr)); gap:12px; }
.tile { border:1px solid var(--line); border-radius:6px; padding:10px 12px; }
.tile-name { font-weight:600; } .tile-value { font-size:28px; font-weight:700; }
svg.bar { vertical-align:middle; max-width:100%; } svg.chart { display:block; }
.track { fill:#eef0f3; } .fill.good { fill:var(--good); } .fill.warn { fill:var(--warn); } .fill.bad { fill:var(--bad); }
.marker { stroke:var(--ink); stroke-width:2; }
.grid { stroke:#eef0f3; } .axis { fill:var(--muted); font-size:11px; } .label { fill:var(--ink); font-size:12.5px; } .value { fill:var(--muted); font-size:12px; }
.line { fill:none; stroke:var(--accent); stroke-width:2.5; } .area { fill:rgba(53,101,201,.12); } .dot { fill:var(--accent); }
table { width:100%; border-collapse:collapse; } th, td { text-align:left; padding:6px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { font-size:12px; text-transform:uppercase; color:var(--muted); } .num { text-align:right; white-space:nowrap; } td.mark { font-size:18px; width:28px; }
article.pitfall { border:1px solid var(--line); border-left:5px solid var(--warn); border-radius:6px; padding:10px 14px; margin:10px 0; }
article.pitfall.critical { border-left-color:var(--bad); } article.pitfall.info { border-left-color:var(--accent); }
article.pitfall header { display:flex; gap:10px; align-items:center; flex-wrap:wrap; }
.badge { font-size:11px; text-transform:uppercase; border-radius:10px; padding:1px 8px; background:var(--warn); color:#fff; }
.badge.critical { background:var(--bad); } .badge.info { background:var(--accent); }
.subject { font-weight:600; color:var(--accent); }
.cols { display:grid; grid-template-columns:1fr 1fr; gap:16px; } ul.evidence { margin:4px 0; padding-left:18px; }
section.lead { border-left:5px solid var(--accent); } section.lead #change { font-size:16px; }
ol.actions { margin:8px 0 0; padding-left:22px; } ol.actions li { margin:8px 0; } .todo { color:var(--ink); font-size:13.5px; margin-top:2px; }
li.action.page strong { color:var(--bad); } .badge.page { background:var(--bad); } .badge.ticket { background:var(--warn); }
.fill.none { fill:#c5cad3; } .detail { font-size:13.5px; }
ul.ethics li { margin:6px 0; } ul.ethics li.ok, ul.ethics li.muted { color:var(--ink); }
footer { color:var(--muted); font-size:12px; text-align:center; margin-top:20px; }
@media (max-width:760px) { section.hero, .cols { grid-template-columns:1fr; } }
"""


@dataclass(frozen=True)
class Publication:
    """Whether a validated publication stands behind the reported numbers.

    ``validated``: a published run wrote values for windows ending at the reported moment;
    ``runs`` and ``published``: the finished runs counted and how many of them published.
    """

    validated: bool
    runs: int
    published: int
    last_published_at: dt.datetime | None = None

    def sentence(self) -> str:
        """The plain statement the report and the live view show."""
        counted = f"{self.published} of {self.runs} run{'' if self.runs == 1 else 's'} published"
        if self.validated:
            return f"Validated: values from a published run ({counted})."
        return (
            f"Not validated: {counted}. These numbers are computed from the stored events, but no run that "
            "passed the validation gate published this window; do not act on them until one does."
        )


def _publication_banner(publication: Publication | None) -> str:
    if publication is None or publication.validated:
        return ""
    return (
        f'<section class="unvalidated" id="validation" data-validated="false">'
        f"<strong>{_esc(publication.sentence())}</strong></section>"
    )


def _footer_validation(publication: Publication | None) -> str:
    if publication is None:
        return "values computed from the stored events"
    if publication.validated:
        published = publication.last_published_at
        when = f" (newest {published.astimezone(dt.UTC):%Y-%m-%d %H:%M UTC})" if published else ""
        return f"values from a validated publication{when}; {publication.published} of {publication.runs} runs published"
    return f"values NOT validated; {publication.published} of {publication.runs} runs published"


def render_report(
    scorecard: Scorecard,
    *,
    business: str,
    at: dt.datetime,
    window: str,
    trend: Sequence[tuple[dt.datetime, float]] = (),
    generated_at: dt.datetime | None = None,
    publication: Publication | None = None,
    changes: Mapping[str, Any] | None = None,
    currency: str = "EUR",
) -> str:
    """The report as one self-contained HTML document (no external resource of any kind).

    ``publication`` says whether the numbers were validated (see :class:`Publication`);
    a page whose numbers were not gets a banner saying so at the top. ``trend``: the published
    SAI per day, oldest first; ``changes``: :func:`alignwatch.metrics.scorecard.explain_sai`
    of the window, for "what changed since the last report"; ``currency``: the strategy's.
    """
    generated = (generated_at or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    sections = [
        _lead_section(scorecard, changes, window, currency),
        _sai_section(scorecard, trend),
        _indices_section(scorecard),
        _perspectives_section(scorecard),
        _pitfalls_section(scorecard),
        _kpis_section(scorecard, currency),
        _drift_section(scorecard, currency),
        _ethics_section(scorecard),
        _checklist_section(scorecard),
        _priorities_section(scorecard, currency),
        _pilots_section(scorecard),
    ]
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_esc(business)} — strategic alignment report</title>
<style>{_CSS}</style></head>
<body><main>
<header class="page"><h1>{_esc(business)}: is automation serving the strategy?</h1>
<div class="muted">window {_esc(window)} ending {_esc(at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"))}</div></header>
{_publication_banner(publication)}
{"".join(sections)}
<footer>alignwatch report · generated {_esc(generated.strftime("%Y-%m-%d %H:%M UTC"))} · {_esc(_footer_validation(publication))}</footer>
</main></body></html>
"""


# --------------------------------------------------------------------------- store


def sai_trend(
    engine: Any,
    *,
    until: dt.datetime,
    window: str = "day",
    since: dt.datetime | None = None,
    business: str | None = None,
) -> list[tuple[dt.datetime, float]]:
    """Published SAI values of one window kind, oldest first, as (window end, value)."""
    query = (
        sa.select(metric_values.c.window_end, metric_values.c.value, metric_values.c.labels)
        .where(
            metric_values.c.metric_id == SAI_METRIC_ID,
            metric_values.c.window == window,
            metric_values.c.window_end <= until,
            metric_values.c.value.is_not(None),
        )
        .order_by(metric_values.c.window_end)
    )
    if since is not None:
        query = query.where(metric_values.c.window_end > since)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    points: dict[dt.datetime, float] = {}
    for end, value, labels in rows:
        if business is not None and isinstance(labels, Mapping) and labels.get("business") not in (None, business):
            continue
        points[end] = float(value)
    return sorted(points.items())


def sai_per_day(
    engine: Any, *, until: dt.datetime, timezone: str = "UTC", business: str | None = None
) -> list[tuple[dt.datetime, float]]:
    """The published SAI per day over the whole history in the store up to ``until``, oldest
    first, as (start of the day in ``timezone``, value): the day window's value, or for a day
    without one (a run shorter than a day, a day not finished yet) the newest hourly value of
    the day. Days are the business's own (its ``timezone``), as the engine's day windows are.
    Read from ``metric_values``, never recomputed."""
    zone = ZoneInfo(timezone)

    def day_of(end: dt.datetime) -> dt.date:
        return (end - dt.timedelta(microseconds=1)).astimezone(zone).date()

    days: dict[dt.date, float] = {}
    for end, value in sai_trend(engine, until=until, window="hour", business=business):
        days[day_of(end)] = value
    for end, value in sai_trend(engine, until=until, window="day", business=business):
        days[day_of(end)] = value
    return [(dt.datetime.combine(day, dt.time(), zone), value) for day, value in sorted(days.items())]


def latest_window_end(engine: Any) -> dt.datetime | None:
    """End of the newest published window (the default ``--at`` of the report), or None."""
    with engine.connect() as conn:
        newest: dt.datetime | None = conn.execute(sa.select(sa.func.max(metric_values.c.window_end))).scalar()
    return newest


def publication_status(engine: Any, at: dt.datetime | None, *, since: dt.datetime | None = None) -> Publication:
    """Whether published values exist for windows ending at ``at``, and how many of the
    finished runs (started at or after ``since``, when given) published."""
    runs = pipeline_runs.c
    counted = sa.select(
        sa.func.count(),
        sa.func.count().filter(runs.status == "published"),
        sa.func.max(runs.finished_at).filter(runs.status == "published"),
    ).where(runs.finished_at.is_not(None))
    if since is not None:
        counted = counted.where(runs.started_at >= since)
    with engine.connect() as conn:
        total, published, newest = conn.execute(counted).one()
        covered = at is not None and conn.execute(
            sa.select(metric_values.c.id).where(metric_values.c.window_end == at).limit(1)
        ).first() is not None
    return Publication(validated=bool(covered), runs=int(total), published=int(published or 0), last_published_at=newest)


def write_report(
    engine: Any,
    strategy: Strategy,
    *,
    out: Path,
    at: dt.datetime | None = None,
    window: str = "7d",
    now: dt.datetime | None = None,
    runs_since: dt.datetime | None = None,
) -> Path:
    """Build the scorecard at ``at`` (default: the newest published window) and write the page to ``out``.

    The page says whether a published run covers ``at``, counting the runs started at or
    after ``runs_since`` (every run by default)."""

    when = at or latest_window_end(engine) or (now or dt.datetime.now(dt.UTC))
    scorecard = build_scorecard(engine, strategy, when, window=window)
    changes = explain_sai(engine, strategy, when, window=window)
    business = getattr(getattr(strategy, "business", None), "name", None) or "Your business"
    trend = sai_per_day(engine, until=when, timezone=strategy.business.timezone)
    publication = publication_status(engine, when, since=runs_since)
    page = render_report(
        scorecard, business=business, at=when, window=window, trend=trend, generated_at=now, publication=publication,
        changes=changes, currency=strategy.business.currency,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
