"""The scorecard: one window's alignment, as JSON, computed from the events.

``build_scorecard(engine, strategy, at, window)`` evaluates the window ``[at − length, at)``
(length 1d, 7d or 28d; ``at`` is taken down to the whole hour) with the same formulas as
the engine, reading the events once (28 days back, for the detectors that look back), and
returns a :class:`alignwatch.metrics.card.Scorecard`: ``sai``, ``contributions``,
``indices``, ``perspectives``, ``kpis``, ``checklist``, ``pitfalls``, ``drift``,
``human_reachability``, ``priorities``, ``pilots`` and ``ethics`` (plus ``business``,
``window``, ``start``, ``end`` and ``automations``), typed records that
:meth:`~alignwatch.metrics.card.Scorecard.to_dict` turns into the JSON of
``alignwatch scorecard --json``.

``ethics`` is the "Ethics and human agency" perspective: the measures of
:mod:`alignwatch.metrics.ethics` (parity, overrides and appeals, reskilling, oversight
staleness; judged on 7 days or more, so a 1d scorecard shows those of the 7 days ending at
``at``) and their ``score`` (the share of the ethics checks that pass), with
``weighted_into_sai``: whether the strategy's ``weights.ethics`` is above 0. By default it is
0 and the measures stand beside the index, not inside it (see docs/strategy.md, "Ethics and
the Strategic Alignment Index").

``explain_sai`` compares the SAI's contributions with those of the previous window of the
same length and names the inputs that moved it.

``build_period_scorecard`` and ``explain_sai_period`` do the same for any period
``[start, end)`` on whole hours (a quarter, a whole imported log): the same formulas over
the period's events, rates per day or per 30 days of the period's length, pitfalls judged
on the period's evidence (ROI realisation against the periods of the same length before
it), no regression or staleness signal (those compare fixed weeks).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import fields, replace
from functools import partial
from typing import Any, TypeVar

import sqlalchemy as sa

from alignwatch.errors import ConfigError
from alignwatch.metrics.card import (
    Checklist,
    ChecklistLine,
    Contribution,
    DriftSignal,
    Ethics,
    HumanBelowFloor,
    IndexLine,
    KpiBelowTarget,
    KpiLine,
    KpiRegression,
    PilotVerdict,
    Priority,
    Scorecard,
    StrategicStaleness,
)
from alignwatch.metrics.engine import LOOKBACK, Reader, Window, _clean, evaluate_window
from alignwatch.metrics.ethics import fetch_inputs
from alignwatch.metrics.formulas import (
    AutomationMeasures,
    Evaluation,
    Finding,
    attainment,
    evaluate,
    kpi_measure,
    perspective_kpis,
    priorities,
    ranked_findings,
)
from alignwatch.metrics.strategy import Strategy
from alignwatch.vocabulary import PERSPECTIVES, SAI_INPUTS

__all__ = [
    "NOT_ENOUGH_DATA",
    "PERIOD",
    "SCORECARD_KEYS",
    "Scorecard",
    "WINDOW_LENGTHS",
    "build_period_scorecard",
    "build_scorecard",
    "explain_sai",
    "explain_sai_period",
    "period",
    "pilot_verdicts",
]

WINDOW_LENGTHS: dict[str, dt.timedelta] = {"1d": dt.timedelta(days=1), "7d": dt.timedelta(days=7), "28d": dt.timedelta(days=28)}
_KINDS = {"1d": "day", "7d": "7d", "28d": "28d"}
SCORECARD_KEYS: tuple[str, ...] = (
    "sai", "contributions", "indices", "perspectives", "kpis", "checklist", "pitfalls", "drift",
    "human_reachability", "priorities", "pilots", "ethics",
)
PILOT_DELTA = 0.05
NOT_ENOUGH_DATA = "not enough data"
"""The verdict of a pilot none of whose KPIs has its ``min_events`` both before and during the pilot."""
#: the ``window`` of a scorecard over an arbitrary period
PERIOD = "period"
_Record = TypeVar("_Record", Contribution, KpiLine, AutomationMeasures, Priority, KpiBelowTarget, KpiRegression,
                  StrategicStaleness)


def _at(at: dt.datetime) -> dt.datetime:
    if at.tzinfo is None:
        raise ConfigError(f"--at {at.isoformat()} has no timezone")
    return at.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _length(window: str) -> dt.timedelta:
    try:
        return WINDOW_LENGTHS[window]
    except KeyError:
        raise ConfigError(f"window {window!r}: expected one of {', '.join(WINDOW_LENGTHS)}") from None


def period(start: dt.datetime, end: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end)`` in UTC, checked: timezone-aware, on whole hours, ``end`` after ``start``.

    Raises :class:`ConfigError` with one line naming the bad bound.
    """
    for name, moment in (("--from", start), ("--to", end)):
        if moment.tzinfo is None:
            raise ConfigError(f"{name} {moment.isoformat()} has no timezone")
        if moment.minute or moment.second or moment.microsecond:
            raise ConfigError(f"{name} {moment.isoformat()}: a period starts and ends on a whole hour")
    start, end = start.astimezone(dt.UTC), end.astimezone(dt.UTC)
    if end <= start:
        raise ConfigError(f"--to {end.isoformat()} is not after --from {start.isoformat()}: the period is empty")
    return start, end


def _evaluate_period(conn: sa.Connection, strategy: Strategy, start: dt.datetime, end: dt.datetime) -> Evaluation:
    reader = Reader(conn, strategy, start, end)
    facts = reader.facts(start, end)
    assert facts is not None  # the reader read exactly the period
    # a pitfall is judged on the period's own evidence; regression and staleness compare fixed weeks: not emitted
    return evaluate(strategy, facts, fold=reader.facts, monitored=reader.monitored(end), detect_pitfalls=True,
                    ethics_inputs=partial(fetch_inputs, conn, strategy))


def _evaluate(conn: sa.Connection, strategy: Strategy, at: dt.datetime, window: str) -> Evaluation:
    length = _length(window)
    reader = Reader(conn, strategy, at - max(length, LOOKBACK), at)
    return evaluate_window(reader, Window(_KINDS[window], at - length, at))  # type: ignore[arg-type]


def _rounded(record: _Record) -> _Record:
    """``record`` with its numbers rounded as the engine stores them (:func:`_clean`); its
    tuples stay tuples and its strings (a message written from the exact values) stay as they are."""
    changes: dict[str, Any] = {}
    for f in fields(record):
        value = getattr(record, f.name)
        if f.init and not isinstance(value, str):
            changes[f.name] = tuple(_clean(value)) if isinstance(value, tuple) else _clean(value)
    return replace(record, **changes)


def _drift(ev: Evaluation) -> list[DriftSignal]:
    """The drift signals: their numbers rounded as stored, their messages written from the exact values."""
    signals: list[DriftSignal] = [_rounded(signal) for signal in ev.drift.below_target]
    signals += [_rounded(signal) for signal in ev.drift.regressions]
    if ev.drift.staleness is not None:
        signals.append(_rounded(ev.drift.staleness))
    human = ev.human_reachability
    if human.get("below_floor"):
        value, floor = human["value"], human["floor"]
        assert value is not None  # below the floor: it has a value
        signals.append(HumanBelowFloor(
            _clean(value), _clean(floor),
            f"{value:.0%} of customers asking for a human reached one within {human['sla_s']:g} s (floor {floor:.0%})"))
    return signals


def pilot_verdicts(conn: sa.Connection, strategy: Strategy, at: dt.datetime) -> list[PilotVerdict]:
    """A verdict (scale / iterate / stop) per pilot automation from pilot vs pre-pilot KPI attainment.

    A KPI counts only when it has at least its ``min_events`` events both before and during
    the pilot; a pilot with no such KPI gets :data:`NOT_ENOUGH_DATA`, and its reason names
    each KPI's events and threshold."""
    out: list[PilotVerdict] = []
    for automation in strategy.automations:
        if not automation.pilot:
            continue
        zone_start = dt.datetime.combine(automation.go_live, dt.time(), dt.UTC)
        end_date = automation.pilot_end or at.date()
        pilot_end = min(at, dt.datetime.combine(end_date, dt.time(), dt.UTC))
        if pilot_end <= zone_start:
            out.append(PilotVerdict(automation.id, automation.name, "pending", "the pilot has not started"))
            continue
        length = pilot_end - zone_start
        before = Reader(conn, strategy, zone_start - length, zone_start).facts(zone_start - length, zone_start)
        during = Reader(conn, strategy, zone_start, pilot_end).facts(zone_start, pilot_end)
        deltas: dict[str, float] = {}
        short: list[str] = []
        for kpi_id in automation.kpis:
            kpi = strategy.kpi(kpi_id)
            v_before, n_before = kpi_measure(strategy, before, kpi) if before else (None, 0.0)
            v_during, n_during = kpi_measure(strategy, during, kpi) if during else (None, 0.0)
            if n_before < kpi.min_events or n_during < kpi.min_events:
                short.append(f"{kpi_id} {n_before:.0f} before and {n_during:.0f} during, needs {kpi.min_events} each")
                continue
            a_before, a_during = attainment(kpi, v_before), attainment(kpi, v_during)
            if a_before is not None and a_during is not None:
                deltas[kpi_id] = round(a_during - a_before, 9)
        if not deltas:
            verdict = NOT_ENOUGH_DATA
            reason = ("too few events to judge (a KPI is judged from its min_events both before and during the pilot): "
                      + ("; ".join(short) if short else "no KPI has data both before and during the pilot"))
        else:
            mean = sum(deltas.values()) / len(deltas)
            if mean >= PILOT_DELTA and min(deltas.values()) > -PILOT_DELTA:
                verdict, reason = "scale", f"KPI attainment up {mean:+.2f} on average, none down more than {PILOT_DELTA}"
            elif mean <= -PILOT_DELTA:
                verdict, reason = "stop", f"KPI attainment down {mean:+.2f} on average"
            else:
                verdict, reason = "iterate", f"KPI attainment moved {mean:+.2f} on average: not clear enough to scale"
        out.append(PilotVerdict(automation.id, automation.name, verdict, reason, deltas, zone_start, pilot_end))
    return out


def build_scorecard(engine: sa.Engine, strategy: Strategy, at: dt.datetime, window: str = "7d") -> Scorecard:
    """The scorecard of the window of length ``window`` ending at ``at`` (see the module doc)."""
    at = _at(at)
    with engine.connect() as conn:
        ev = _evaluate(conn, strategy, at, window)
        # pitfalls and the ethics measures are judged on at least 7 days of evidence
        week = ev if window != "1d" else _evaluate(conn, strategy, at, "7d")
        pilots = pilot_verdicts(conn, strategy, at)
    return _card(strategy, window, ev, week.findings, pilots, _ethics(strategy, week))


def build_period_scorecard(engine: sa.Engine, strategy: Strategy, start: dt.datetime, end: dt.datetime) -> Scorecard:
    """The scorecard of the period ``[start, end)`` (whole hours; its ``window`` is ``"period"``)."""
    start, end = period(start, end)
    with engine.connect() as conn:
        ev = _evaluate_period(conn, strategy, start, end)
        pilots = pilot_verdicts(conn, strategy, end)
    return _card(strategy, PERIOD, ev, ev.findings, pilots, _ethics(strategy, ev))


def _ethics(strategy: Strategy, ev: Evaluation) -> Ethics:
    """The "Ethics and human agency" block of an evaluation of 7 days or more: its measures,
    its score (rounded as the engine stores it) and whether the strategy weighs that score
    into the SAI (``weights.ethics`` above 0)."""
    return Ethics(ev.ethics, _clean(ev.ethics_score), weighted_into_sai=strategy.weights.ethics > 0)


def _card(strategy: Strategy, window: str, ev: Evaluation, findings: list[Finding], pilots: list[PilotVerdict],
          ethics: Ethics) -> Scorecard:
    """The scorecard of an evaluated window or period (see the module doc).

    Its numbers are rounded as the engine stores them (:func:`_clean`) before they go into
    the records, so the report and the live view show the values the JSON carries."""
    items = {str(ident): ChecklistLine(**verdict) for ident, verdict in ev.checklist.items()}
    return Scorecard(
        business=strategy.business.name,
        window=window,
        start=ev.start,
        end=ev.end,
        sai=_clean(ev.sai),
        contributions=tuple(_rounded(c) for c in ev.contributions.values()),
        indices={ident: IndexLine(_clean(index.value), _clean(index.inputs())) for ident, index in ev.indices.items()},
        perspectives=_clean(ev.perspectives),
        kpis={ident: _rounded(kpi) for ident, kpi in ev.kpis.items()},
        checklist=Checklist(_clean(ev.readiness), sum(1 for c in items.values() if c.status == "passed"), items),
        pitfalls=tuple(replace(f, evidence=_clean(f.evidence), threshold=_clean(f.threshold)) for f in ranked_findings(findings)),
        drift=tuple(_drift(ev)),
        human_reachability=_clean(ev.human_reachability),
        priorities=tuple(_rounded(row) for row in priorities(strategy, ev.processes)),
        pilots=tuple(pilots),
        automations={ident: _rounded(stats) for ident, stats in ev.automations.items()},
        ethics=ethics,
    )


def explain_sai(engine: sa.Engine, strategy: Strategy, at: dt.datetime, window: str = "1d") -> dict[str, Any]:
    """Which inputs moved the SAI between the previous window and the window ending at ``at``."""
    at = _at(at)
    length = _length(window)
    with engine.connect() as conn:
        now = _evaluate(conn, strategy, at, window)
        before = _evaluate(conn, strategy, at - length, window)
    return _explanation(window, now, before)


def explain_sai_period(engine: sa.Engine, strategy: Strategy, start: dt.datetime, end: dt.datetime) -> dict[str, Any]:
    """Which inputs moved the SAI between the period of the same length before ``[start, end)`` and it."""
    start, end = period(start, end)
    with engine.connect() as conn:
        now = _evaluate_period(conn, strategy, start, end)
        before = _evaluate_period(conn, strategy, start - (end - start), start)
    return _explanation(PERIOD, now, before)


def _explanation(window: str, now: Evaluation, before: Evaluation) -> dict[str, Any]:
    """The SAI's inputs ranked by how many points they moved from ``before`` to ``now``."""
    moves: list[dict[str, Any]] = []
    for name in SAI_INPUTS:
        new, old = now.contributions[name], before.contributions[name]
        delta = (new.points or 0.0) - (old.points or 0.0)
        # a perspective's KPIs with a value but fewer events than their min_events: not judged, left out of its score
        guarded = perspective_kpis(now.kpis, name)[1] if name in PERSPECTIVES else {}
        # what a perspective's KPIs left out of their values (e.g. costs attributed to no automation)
        notes = {k: v.note for k, v in now.kpis.items() if v.perspective == name and v.note}
        moves.append({"input": name, "points": new.points, "previous_points": old.points, "delta": round(delta, 9),
                      "score": new.score, "previous_score": old.score, "weight": new.weight,
                      "previous_weight": old.weight, "not_judged": guarded, "notes": notes})
    moves.sort(key=lambda m: (-abs(m["delta"]), m["input"]))
    change = None if now.sai is None or before.sai is None else now.sai - before.sai
    explanation: dict[str, Any] = _clean({
        "window": window, "start": now.start.isoformat(), "end": now.end.isoformat(),
        "sai": now.sai, "previous_sai": before.sai, "change": change, "inputs": moves,
    })
    return explanation
