"""The live view of ``alignwatch run``: one screen of what the pipeline is doing, drawn with rich.

The supervisor (``alignwatch.runner``) fills a :class:`Status` and calls :func:`render`
(a terminal: redrawn in place) or :func:`status_line` (a pipe or a log file: one line per
update). Nothing here reads the store or the broker; it only draws what it is given.

Besides the numbers it shows the alerts Prometheus would fire from the same rules on the
newest published values (``Status.firing``, pages first) and says plainly whether the
numbers shown are validated (:func:`validation_text`): "0 of 6 runs published" is never
dressed up as a result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from alignwatch.vocabulary import INDICES, PERSPECTIVES

__all__ = ["Cycle", "Status", "render", "status_line", "validation_text"]



@dataclass(frozen=True)
class Cycle:
    """One aggregation cycle as the view shows it."""

    run_id: int | None
    status: str  # published | failed_validation | skipped | error
    interval_end: dt.datetime
    seconds: float
    detail: str = ""


@dataclass
class Status:
    """Everything the live view shows; owned and updated by the supervisor."""

    business: str
    scenario: str | None
    started: dt.datetime
    bootstrap: str = ""
    group: str = ""  # the consumer group
    #: why the consumer stores nothing while its group assigns it no partition (empty otherwise)
    consumer_waiting: str = ""
    store_url: str = ""
    metrics_url: str = ""
    report_path: str = ""
    consumed: int = 0
    stored: int = 0
    duplicates: int = 0
    rejected: int = 0
    events_per_s: float = 0.0
    lag: int | None = None
    produced: int = 0
    planned: int = 0
    simulated_now: dt.datetime | None = None
    sai: float | None = None
    indices: dict[str, float | None] = field(default_factory=dict)
    perspectives: dict[str, float | None] = field(default_factory=dict)
    pitfalls: list[str] = field(default_factory=list)
    alerts: list[str] = field(default_factory=list)  # the scorecard's drift signals
    #: the rule alerts firing on the newest published values, pages first ("page AlertName (labels)")
    firing: list[str] = field(default_factory=list)
    #: the window end the numbers shown belong to, and whether a published run wrote it
    values_at: dt.datetime | None = None
    validated: bool | None = None
    cycles: list[Cycle] = field(default_factory=list)
    components: dict[str, str] = field(default_factory=dict)  # name -> running | stopped | failed: reason
    message: str = ""

    @property
    def published(self) -> int:
        """Aggregation cycles that published their values."""
        return sum(1 for cycle in self.cycles if cycle.status == "published")


def validation_text(status: Status) -> str:
    """Whether the numbers shown are validated, in words (with the count of published runs)."""
    runs = len(status.cycles)
    counted = f"{status.published} of {runs} run{'' if runs == 1 else 's'} published"
    if status.validated is None:
        return f"no validated values yet ({counted})" if runs else "waiting for the first run"
    if status.validated:
        at = f" up to {status.values_at:%Y-%m-%d %H:%M}" if status.values_at else ""
        return f"validated: published{at} ({counted})"
    return f"NOT VALIDATED: {counted}; the numbers shown were not published by a validated run"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _tone(value: float | None, good: float, warn: float) -> str:
    if value is None:
        return "dim"
    return "green" if value >= good else "yellow" if value >= warn else "red"


def _lines(items: list[str], most: int = 6) -> str:
    if not items:
        return "none"
    shown = items[:most]
    return "\n".join(shown) + (f"\n… and {len(items) - most} more" if len(items) > most else "")


def render(status: Status, now: dt.datetime | None = None) -> RenderableType:
    """The whole screen for ``status``."""
    now = now or dt.datetime.now(dt.UTC)
    elapsed = (now - status.started).total_seconds()
    title = f"alignwatch run — {status.business}" + (f" (scenario {status.scenario})" if status.scenario else "")

    flow = Table.grid(padding=(0, 2))
    flow.add_column(style="bold")
    flow.add_column()
    flow.add_row("events/s", f"{status.events_per_s:,.0f}")
    flow.add_row("ingested", f"{status.stored:,} stored · {status.duplicates:,} duplicates · {status.rejected:,} rejected")
    if status.consumer_waiting:
        flow.add_row("consumer", Text(status.consumer_waiting, style="bold red"))
    flow.add_row("consumer lag", "—" if status.lag is None else f"{status.lag:,} messages")
    if status.scenario:
        clock = status.simulated_now.strftime("%Y-%m-%d %H:%M") if status.simulated_now else "—"
        flow.add_row("simulator", f"{status.produced:,} / {status.planned:,} events · simulated time {clock}")
    last = status.cycles[-1] if status.cycles else None
    flow.add_row(
        "aggregation",
        f"{status.published} published of {len(status.cycles)} cycles"
        + (f" · last {last.status} in {last.seconds:.1f}s up to {last.interval_end:%Y-%m-%d %H:%M}" if last else ""),
    )
    flow.add_row("values", Text(validation_text(status), style="green" if status.validated else "bold red"))

    scores = Table(title="Strategic alignment", expand=True, show_edge=False)
    scores.add_column("SAI", justify="center")
    for ident in INDICES:
        scores.add_column(ident.upper(), justify="center")
    scores.add_row(
        Text(_fmt(status.sai, 1), style=f"bold {_tone(status.sai, 70, 50)}"),
        *(Text(_fmt(status.indices.get(i)), style=_tone(status.indices.get(i), 0.7, 0.4)) for i in INDICES),
    )
    perspectives = Table(title="Balanced scorecard", expand=True, show_edge=False)
    for ident in PERSPECTIVES:
        perspectives.add_column(ident.replace("_", " "), justify="center")
    perspectives.add_row(
        *(Text(_fmt(status.perspectives.get(p), 1), style=_tone(status.perspectives.get(p), 75, 50)) for p in PERSPECTIVES)
    )

    findings = Table.grid(padding=(0, 1))
    findings.add_column(style="bold")
    findings.add_column()
    paging = any(line.startswith("page ") for line in status.firing)
    findings.add_row("alerts", Text(_lines(status.firing), style="bold red" if paging else "yellow" if status.firing else "green"))
    findings.add_row("pitfalls", Text(_lines(status.pitfalls), style="red" if status.pitfalls else "green"))
    findings.add_row("drift", Text(_lines(status.alerts), style="yellow" if status.alerts else "green"))

    links = Table.grid(padding=(0, 2))
    links.add_column(style="bold")
    links.add_column()
    links.add_row("/metrics", status.metrics_url or "—")
    links.add_row("report", (status.report_path or "—") + " (written at the end)")
    links.add_row("broker", (status.bootstrap or "—") + (f" · group {status.group}" if status.group else ""))
    links.add_row("store", status.store_url or "—")
    components = " · ".join(
        f"[{'green' if state == 'running' else 'red' if state.startswith('failed') else 'dim'}]{name}: {state}[/]"
        for name, state in status.components.items()
    )
    body = Group(flow, Text(""), scores, perspectives, Text(""), findings, Text(""), links, Text.from_markup(components))
    return Panel(body, title=title, subtitle=f"{elapsed:,.0f}s · Ctrl-C stops everything", border_style="blue")


def status_line(status: Status) -> str:
    """One plain line of the same information, for pipes and logs."""
    parts = [
        f"events {status.stored} stored, {status.rejected} rejected ({status.events_per_s:,.0f}/s)",
        f"lag {'-' if status.lag is None else status.lag}",
        f"cycles {status.published}/{len(status.cycles)} published",
        "values " + ("validated" if status.validated else "NOT validated"),
        f"SAI {_fmt(status.sai, 1)}",
        " ".join(f"{i.upper()} {_fmt(status.indices.get(i))}" for i in INDICES),
    ]
    if status.scenario:
        parts.insert(1, f"simulated {status.produced}/{status.planned}")
    if status.consumer_waiting:
        parts.insert(1, f"consumer: {status.consumer_waiting}")
    if status.firing:
        parts.append("alerts: " + ", ".join(status.firing))
    if status.pitfalls:
        parts.append("pitfalls: " + ", ".join(status.pitfalls))
    return " | ".join(parts)

