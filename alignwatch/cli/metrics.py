"""``alignwatch metrics compute|backfill|docs``, ``alignwatch scorecard`` and ``alignwatch explain sai``.

The scorecard and ``explain sai`` show a window ending at ``--at`` (1, 7 or 28 days) or any
period ``[--from, --to)`` on whole hours.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import sys
from pathlib import Path
from typing import Any

import click

from alignwatch.cli.options import business_option, guard_business, settings_from, store_option, strategy_option
from alignwatch.errors import AlignwatchError, ConfigError
from alignwatch.metrics.catalogue import render_docs
from alignwatch.metrics.engine import Recomputation, windows
from alignwatch.metrics.ethics import Assessment
from alignwatch.metrics.report import latest_window_end
from alignwatch.metrics.scorecard import (
    PERIOD,
    Scorecard,
    build_period_scorecard,
    build_scorecard,
    explain_sai,
    explain_sai_period,
    period,
)
from alignwatch.metrics.strategy import load_strategy
from alignwatch.pipeline import RunOutcome, backfill_task, run_interval
from alignwatch.store.engine import connect_existing, require_current
from alignwatch.windows import day_ranges

__all__ = ["DOCS_PATH", "explain", "metrics", "render_scorecard", "scorecard"]

DOCS_PATH = Path("docs") / "metrics.md"


_AT_HELP = ("End of the window (ISO date or date-time, UTC) [default: the end of the newest published window, "
            "or now when nothing was published].")


def _at(at_text: str | None, engine: Any) -> dt.datetime:
    """``--at``, else the end of the newest published window (what the report shows), else now.

    Not now first: a store's newest data is rarely now (a demo's story ends at midnight, an
    imported log months ago), and a window of no data reads as an empty scorecard.
    """
    return _moment(at_text, "--at") or latest_window_end(engine) or dt.datetime.now(dt.UTC)


def _moment(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{name} {text!r}: expected a date like 2026-03-01 or 2026-03-01T12:00:00+00:00") from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _period(from_text: str | None, to_text: str | None, at_text: str | None, window_given: bool) -> tuple[dt.datetime, dt.datetime] | None:
    """The period of ``--from``/``--to`` (None when neither is given); one-line errors for bad combinations."""
    if from_text is None and to_text is None:
        return None
    if from_text is None or to_text is None:
        raise ConfigError("--from and --to go together: give both, or neither for a window ending at --at")
    if at_text is not None or window_given:
        raise ConfigError("--from/--to give the period: leave out --at and --window")
    start, end = _moment(from_text, "--from"), _moment(to_text, "--to")
    assert start is not None and end is not None

    return period(start, end)


def _window_given() -> bool:
    """Whether ``--window`` was given on the command line (not its default)."""
    return click.get_current_context().get_parameter_source("window") is click.core.ParameterSource.COMMANDLINE


def _open(store_url: str | None, strategy_file: Path | None, allow_business_mismatch: bool | None) -> tuple[Any, Any]:
    """The store (migrated, serving the strategy's business) and the strategy; reads only."""
    settings = settings_from(store_url=store_url, strategy_file=strategy_file,
                             allow_business_mismatch=allow_business_mismatch)
    strategy = load_strategy(settings.strategy_file, max_bytes=settings.max_strategy_bytes)
    engine = connect_existing(settings.store_url)
    try:
        require_current(engine)
        guard_business(engine, strategy.business.name, settings)
    except BaseException:
        engine.dispose()
        raise
    return engine, strategy


def _range_options(command: Any) -> Any:
    """``--from`` and ``--to``: the range a command computes."""
    command = click.option("--to", "to_text", required=True, metavar="DATE", help="End of the range, exclusive.")(command)
    return click.option("--from", "from_text", required=True, metavar="DATE",
                        help="Start of the range (ISO date or date-time, UTC).")(command)


def _range(from_text: str, to_text: str) -> tuple[dt.datetime, dt.datetime]:
    """The range of ``--from`` and ``--to``; a one-line error unless ``--to`` is after ``--from``."""
    start, end = _moment(from_text, "--from"), _moment(to_text, "--to")
    assert start is not None and end is not None
    if end <= start:
        raise ConfigError(f"--to {to_text} is not after --from {from_text}")
    return start, end


@click.group("metrics")
def metrics() -> None:
    """Compute the alignment metrics and document the catalogue."""


@metrics.command("compute")
@_range_options
@click.option("--granularity", type=click.Choice(["hour", "day"]), default="hour", show_default=True,
              help="Window kind computed inside the range (7d and 28d windows end at each day's end).")
@store_option
@strategy_option
@business_option
def compute_command(from_text: str, to_text: str, granularity: str, store_url: str | None, strategy_file: Path | None,
                    allow_business_mismatch: bool | None) -> None:
    """Compute, validate and publish the metrics of [--from, --to), one day at a time."""

    start, end = _range(from_text, to_text)
    settings = settings_from(store_url=store_url, strategy_file=strategy_file, allow_business_mismatch=allow_business_mismatch)
    run_timeout = dt.timedelta(seconds=settings.run_timeout_s)
    engine, strategy = _open(store_url, strategy_file, allow_business_mismatch)
    try:
        steps = day_ranges(start, end, strategy.business.timezone)
        total = sum(len(windows(strategy, lo, hi, granularity)) for lo, hi in steps)
        with click.progressbar(length=total, label="windows", file=sys.stderr) as bar:

            def advance(done: int, of: int) -> None:
                bar.update(1)

            outcome = run_interval(
                engine,
                strategy,
                start=start,
                end=end,
                kind="manual",
                granularity=granularity,  # type: ignore[arg-type]
                steps=steps,
                trigger="alignwatch metrics compute",
                # the days share their reads of the events (the values of compute, day by day)
                compute=functools.partial(Recomputation(engine, strategy, until=end).compute, progress=advance),
                run_timeout=run_timeout,
                allow_business_mismatch=settings.allow_business_mismatch,
            )
    finally:
        engine.dispose()
    if not outcome.published:
        raise AlignwatchError(f"run {outcome.run_id} {outcome.status}: {outcome.detail}")
    click.echo(f"run {outcome.run_id} published {outcome.value_count} values for [{start.isoformat()}, {end.isoformat()})")


@metrics.command("backfill")
@_range_options
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes backfilling spans of consecutive days at once (one per core helps on long ranges).")
@store_option
@strategy_option
@business_option
def backfill_command(from_text: str, to_text: str, workers: int, store_url: str | None, strategy_file: Path | None,
                     allow_business_mismatch: bool | None) -> None:
    """Recompute [--from, --to) as one gated run per local day, as the nightly run would.

    Hour and day windows of every day and rolling windows at every day's end; a day that
    fails its gate is held back (its values kept in its run) and the others are published.
    Exits 1 when a day was held back.
    """

    start, end = _range(from_text, to_text)
    settings = settings_from(store_url=store_url, strategy_file=strategy_file, allow_business_mismatch=allow_business_mismatch)
    engine, strategy = _open(store_url, strategy_file, allow_business_mismatch)
    try:
        days = len(day_ranges(start, end, strategy.business.timezone))
        with click.progressbar(length=days, label="days", file=sys.stderr) as bar:

            def advance(outcome: RunOutcome) -> None:
                bar.update(1)

            outcomes = backfill_task(
                engine,
                strategy,
                start=start,
                end=end,
                trigger="alignwatch metrics backfill",
                workers=workers,
                progress=advance,
                run_timeout=dt.timedelta(seconds=settings.run_timeout_s),
                allow_business_mismatch=settings.allow_business_mismatch,
            )
    finally:
        engine.dispose()
    held = [outcome for outcome in outcomes if not outcome.published]
    values = sum(outcome.value_count for outcome in outcomes if outcome.published)
    click.echo(f"{len(outcomes)} day(s) of [{start.isoformat()}, {end.isoformat()}): {len(outcomes) - len(held)} "
               f"published ({values} values), {len(held)} held back")
    for outcome in held:
        click.echo(f"  run {outcome.run_id} [{outcome.start.isoformat()}, {outcome.end.isoformat()}) {outcome.status}: "
                   f"{outcome.detail}")
    if held:
        raise AlignwatchError(f"{len(held)} day(s) held back: `alignwatch runs --id RUN` shows what failed")


@metrics.command("docs")
@click.option("--write", is_flag=True, help=f"Write {DOCS_PATH} instead of printing it.")
@click.option("--check", is_flag=True, help=f"Fail when {DOCS_PATH} differs from the catalogue.")
def docs_command(write: bool, check: bool) -> None:
    """Render the metric catalogue's documentation (docs/metrics.md)."""

    text = render_docs()
    if check:
        current = DOCS_PATH.read_text(encoding="utf-8") if DOCS_PATH.exists() else ""
        if current != text:
            raise ConfigError(f"{DOCS_PATH} is out of date: run `alignwatch metrics docs --write`")
        click.echo(f"{DOCS_PATH} is current")
    elif write:
        DOCS_PATH.parent.mkdir(parents=True, exist_ok=True)
        DOCS_PATH.write_text(text, encoding="utf-8")
        click.echo(f"wrote {DOCS_PATH}")
    else:
        click.echo(text, nl=False)


def _num(value: Any, fmt: str = "{:.2f}") -> str:
    return "—" if value is None else fmt.format(value)


def render_scorecard(card: Scorecard) -> str:
    """A readable terminal rendering of a scorecard."""
    span = "period" if card.window == PERIOD else f"window {card.window}"
    lines = [
        f"{card.business} — {span} [{card.start.isoformat()}, {card.end.isoformat()})",
        f"Strategic Alignment Index: {_num(card.sai, '{:.1f}')} / 100",
        "",
        "Contributions (points):",
    ]
    for c in card.contributions:
        lines.append(f"  {c.input:<18} {_num(c.points, '{:6.2f}')}  (score {_num(c.score, '{:.1f}')}, weight {c.weight:.3f})")
    lines += ["", "Indices:"]
    for name, index in card.indices.items():
        lines.append(f"  {name.upper():<6} {_num(index.value)}")
    lines += ["", "Perspectives (0-100):"]
    lines += [f"  {name:<18} {_num(score, '{:.1f}')}" for name, score in card.perspectives.items()]
    lines += ["", "KPIs:"]
    for kpi_id, k in card.kpis.items():
        flag = " below target" if k.below_target else ""
        if k.value is not None and not k.judged:
            flag += f"; not judged: {k.not_judged}"
        if k.note:
            flag += f"; {k.note}"
        lines.append(f"  {kpi_id:<24} {_num(k.value, '{:.4g}'):>10} target {k.target:g} "
                     f"attainment {_num(k.attainment)} ({k.events:g} events){flag}")
    checklist = card.checklist
    lines += ["", f"Checklist: readiness {_num(checklist.readiness, '{:.0%}')}"]
    marks = {"passed": "✔", "failed": "✘", "unknown": "?"}
    lines += [f"  {marks[i.status]} {item:<28} {i.evidence}" for item, i in checklist.items.items()]
    lines += ["", "Pitfalls:"]
    lines += [f"  [{p.severity}] {p.pitfall} on {p.automation}: {p.message}" for p in card.pitfalls] or ["  none"]
    lines += ["", "Drift:"]
    lines += [f"  {d.id}: {d.message}" for d in card.drift if d.active] or ["  none"]
    human = card.human_reachability
    lines += ["", f"Human reachability: {_num(human['value'], '{:.0%}')} of {human['requested']:g} escalations "
              f"(floor {human['floor']:.0%})", "", "Automate next:"]
    lines += [f"  {p.rank}. {p.id:<20} score {p.score:.2f} ({p.criticality})" for p in card.priorities[:5]] or ["  nothing"]
    lines += ["", "Pilots:"]
    lines += [f"  {p.id}: {p.verdict} — {p.reason}" for p in card.pilots] or ["  none"]
    ethics = card.ethics
    weighed = "weighed into the SAI (weights.ethics)" if ethics.weighted_into_sai else "beside the SAI, not weighed into it"
    lines += ["", f"Ethics and human agency ({weighed}; `alignwatch explain ethics`): "
              f"score {_num(ethics.score, '{:.1f}')} / 100"]
    lines += _ethics_lines(ethics.assessment) or ["  nothing judged in this window"]
    return "\n".join(lines) + "\n"


def _ethics_lines(assessment: Assessment | None) -> list[str]:
    """The scorecard's ethics findings, one line each."""
    if assessment is None:
        return []
    lines = []
    for p in assessment.parity:
        if p.ratio is not None:
            verdict = "below the floor, significant" if p.breach else "below the floor, may be chance" if p.below_floor else "at or above the floor"
            lines.append(f"  parity of {p.automation_id} by {p.dimension}: {p.ratio:.2f} "
                         f"('{p.lowest}' vs '{p.highest}', floor {p.floor:g}): {verdict}")
    for a in assessment.agency:
        if a.decisions:
            lines.append(f"  {a.automation_id}: {a.decisions} decisions, {_num(a.override_rate, '{:.0%}')} reversed, "
                         f"{_num(a.appeal_rate, '{:.0%}')} appealed")
    reskilling = assessment.reskilling
    if reskilling.automated:
        lines.append(f"  reskilling coverage {_num(reskilling.coverage, '{:.0%}')}; displaced without reskilling: "
                     f"{', '.join(reskilling.displaced) or 'nobody'}")
    lines += [f"  oversight of {st.automation_id}: overdue" for st in assessment.staleness if st.overdue]
    return lines


_FROM_HELP = "Start of a period (ISO date or date-time on a whole hour, UTC): the scorecard of [--from, --to) instead of a window."
_TO_HELP = "End of the period, exclusive (with --from)."


@click.command("scorecard")
@click.option("--at", "at_text", metavar="DATE", default=None, help=_AT_HELP)
@click.option("--window", type=click.Choice(["1d", "7d", "28d"]), default="7d", show_default=True)
@click.option("--from", "from_text", metavar="DATE", default=None, help=_FROM_HELP)
@click.option("--to", "to_text", metavar="DATE", default=None, help=_TO_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the scorecard as JSON.")
@store_option
@strategy_option
@business_option
def scorecard(at_text: str | None, window: str, from_text: str | None, to_text: str | None, as_json: bool,
              store_url: str | None, strategy_file: Path | None, allow_business_mismatch: bool | None) -> None:
    """Show the scorecard: SAI, indices, perspectives, KPIs, checklist, pitfalls, drift, priorities, pilots.

    Of the window ending at --at, or of any period [--from, --to) (a quarter, a whole imported log).
    """

    span = _period(from_text, to_text, at_text, _window_given())
    _moment(at_text, "--at")  # a bad --at is reported before the store is opened
    engine, strategy = _open(store_url, strategy_file, allow_business_mismatch)
    try:
        at = _at(at_text, engine)
        if span is not None:
            card = build_period_scorecard(engine, strategy, *span)
        else:
            card = build_scorecard(engine, strategy, at, window=window)
    finally:
        engine.dispose()
    click.echo(json.dumps(card.to_dict(), indent=2, sort_keys=False) if as_json else render_scorecard(card), nl=as_json)


@click.group("explain")
def explain() -> None:
    """Explain an index (which inputs moved it), or the ethics of the automations' decisions."""


@explain.command("ethics")
@click.option("--at", "at_text", metavar="DATE", default=None, help=_AT_HELP)
@click.option("--window", type=click.Choice(["7d", "28d"]), default="28d", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the measures as JSON.")
@store_option
@strategy_option
@business_option
def explain_ethics_command(at_text: str | None, window: str, as_json: bool, store_url: str | None,
                           strategy_file: Path | None, allow_business_mismatch: bool | None) -> None:
    """Which group the automations' decisions treat worse, how often people reverse them, and who was reskilled."""
    from alignwatch.metrics.ethics import as_json as assessment_json
    from alignwatch.metrics.ethics import assess, explain_lines, read_inputs

    _moment(at_text, "--at")  # a bad --at is reported before the store is opened
    engine, strategy = _open(store_url, strategy_file, allow_business_mismatch)
    try:
        end = _at(at_text, engine)
        start = end - dt.timedelta(days=int(window.removesuffix("d")))
        inputs = read_inputs(engine, strategy, start, end)
    finally:
        engine.dispose()
    assessment = assess(strategy, inputs, start, end)
    if as_json:
        click.echo(json.dumps(assessment_json(assessment), indent=2))
        return
    for line in explain_lines(assessment, strategy):
        click.echo(line)


@explain.command("sai")
@click.option("--at", "at_text", metavar="DATE", default=None, help=_AT_HELP)
@click.option("--window", type=click.Choice(["1d", "7d", "28d"]), default="1d", show_default=True)
@click.option("--from", "from_text", metavar="DATE", default=None,
              help="Start of a period (whole hour, UTC): explain [--from, --to) against the period of the same length before it.")
@click.option("--to", "to_text", metavar="DATE", default=None, help=_TO_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@store_option
@strategy_option
@business_option
def explain_sai_command(at_text: str | None, window: str, from_text: str | None, to_text: str | None, as_json: bool,
                        store_url: str | None, strategy_file: Path | None, allow_business_mismatch: bool | None) -> None:
    """Which inputs moved the SAI since the previous window (or period) of the same length."""

    span = _period(from_text, to_text, at_text, _window_given())
    _moment(at_text, "--at")  # a bad --at is reported before the store is opened
    engine, strategy = _open(store_url, strategy_file, allow_business_mismatch)
    try:
        at = _at(at_text, engine)
        if span is not None:
            result = explain_sai_period(engine, strategy, *span)
        else:
            result = explain_sai(engine, strategy, at, window=window)
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(result, indent=2))
        return
    change = result["change"]
    previous = "previous period" if result["window"] == "period" else "previous window"
    click.echo(f"SAI {_num(result['sai'], '{:.1f}')} ({previous} {_num(result['previous_sai'], '{:.1f}')}, "
               f"change {_num(change, '{:+.1f}')}) for [{result['start']}, {result['end']})")
    for move in result["inputs"]:
        click.echo(f"  {move['input']:<18} {move['delta']:+7.2f} points  "
                   f"({_num(move['previous_points'])} → {_num(move['points'])}; score {_num(move['previous_score'], '{:.1f}')} → "
                   f"{_num(move['score'], '{:.1f}')})")
        for kpi_id, reason in move.get("not_judged", {}).items():
            click.echo(f"  {'':<18} not judged: {kpi_id} ({reason})")
        for kpi_id, note in move.get("notes", {}).items():
            click.echo(f"  {'':<18} {kpi_id}: {note}")
