"""Alerting drill: does a scenario's planted change alert, and does its control page nobody?

A drill replays a simulator scenario twice into a fresh store, once with its planted change
and once without (``simulate(..., planted=False)``, the same business otherwise), and
evaluates the strategy's rendered alerts on the engine's values at regular points of the
simulated timeline, as the continuous runs publish them: the newest hour window and the
rolling 7- and 28-day windows ending there. The evaluation is
:func:`alignwatch.metrics.rules.firing_alerts`, held equal to Prometheus's on the same values by
``tests/alerting/test_rules_promtool.py``; ``for:`` durations are wall-clock debounces and
are reported apart (what Prometheus adds on top of the detection).

Used by ``tests/alerting/test_alert_scenarios.py`` and ``python -m bench alerting``.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml
from prometheus_client import CollectorRegistry

from alignwatch.metrics.engine import compute
from alignwatch.metrics.exporter import build_collector, business_label
from alignwatch.metrics.rules import (
    alert_specs,
    firing_alerts,
    inputs_from_strategy,
    metric_names,
    render_rule_files,
    samples_from_values,
)
from alignwatch.metrics.server import serve
from alignwatch.metrics.strategy import Strategy
from alignwatch.pipeline import continuous_task
from alignwatch.promstack import start_alertmanager, start_prometheus, start_webhook_receiver
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events as events_table
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate
from alignwatch.stream.simulator.generate import Simulation, load_scenario_strategy

__all__ = [
    "EXPECTED",
    "Detection",
    "DrillResult",
    "Expected",
    "StackCase",
    "describe",
    "describe_stack",
    "run_drill",
    "stack_drill",
    "store_scenario",
]


@dataclass(frozen=True)
class Expected:
    """The alert a scenario's planted change must raise: its name and the labels that must match."""

    alert: str
    labels: tuple[tuple[str, str], ...]
    severity: str

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.alert and all(labels.get(key) == value for key, value in self.labels)


#: what each scenario's planted change must raise (the scenario profiles say what is planted)
EXPECTED: dict[str, Expected] = {
    "ecommerce": Expected("AlignwatchKPIErrorBudgetBurn", (("kpi", "human_reachability"), ("burn_window", "7d")), "page"),
    "bakery": Expected("AlignwatchPitfallDetected", (("automation", "smart_oven"), ("pitfall", "overproduction")), "ticket"),
    "retail": Expected("AlignwatchPitfallDetected", (("automation", "inventory_suite"), ("pitfall", "feature_overload")),
                       "ticket"),  # fmt: skip
    "refunds": Expected("AlignwatchEthicsParityBelowFloor", (("automation", "refund_bot"), ("dimension", "region")),
                        "ticket"),  # fmt: skip
}


@dataclass(frozen=True)
class Detection:
    """An alert's first firing in one replay, on the simulated clock."""

    alert: str
    severity: str
    labels: dict[str, str]
    simulated_at: dt.datetime
    for_: str


@dataclass
class DrillResult:
    """One scenario's drill: what fired with the change planted and in its control."""

    scenario: str
    events: int
    change_at: dt.datetime | None
    planted: list[Detection] = field(default_factory=list)
    control: list[Detection] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def expected(self) -> Expected:
        return EXPECTED[self.scenario]

    @property
    def detection(self) -> Detection | None:
        """The expected alert's first firing with the change planted (None: not detected)."""
        return next((d for d in self.planted if self.expected.matches(d.alert, d.labels)), None)

    @property
    def false_pages(self) -> list[Detection]:
        """Pages in the control run (the change removed): each one is a false page."""
        return [d for d in self.control if d.severity == "page"]

    @property
    def control_tickets(self) -> list[Detection]:
        """Tickets in the control run: the business's standing shortfalls, the same with and without the change."""
        return [d for d in self.control if d.severity == "ticket"]


def store_scenario(
    engine: sa.Engine, strategy: Strategy, scenario: str, *, planted: bool, events: int, start: dt.datetime, days: int,
    seed: int,
) -> None:
    """Store ``events`` simulated events of ``scenario`` (with or without its planted change)."""

    rows = [
        event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), start)
        for e in simulate(scenario, seed, start, days, events, strategy=strategy, planted=planted)
    ]
    with engine.begin() as conn:
        for chunk in range(0, len(rows), 2000):
            conn.execute(events_table.insert(), rows[chunk : chunk + 2000])


def _replay(
    engine: sa.Engine, strategy: Strategy, scenario: str, *, planted: bool, events: int, start: dt.datetime, days: int,
    seed: int, step: dt.timedelta,
) -> list[Detection]:

    store_scenario(engine, strategy, scenario, planted=planted, events=events, start=start, days=days, seed=seed)
    specs = alert_specs(inputs_from_strategy(strategy, metric_names()))
    business = business_label(strategy.business.name)
    found: dict[tuple[str, tuple[tuple[str, str], ...]], Detection] = {}
    end = start + dt.timedelta(days=1)
    while end <= start + dt.timedelta(days=days):
        values = compute(engine, strategy, start=end - dt.timedelta(hours=1), end=end)
        for alert in firing_alerts(specs, samples_from_values(values, business), business):
            labels = dict(alert.labels)
            key = (alert.name, tuple(sorted(labels.items())))
            found.setdefault(key, Detection(alert.name, alert.severity, labels, end, alert.for_))
        end += step
    return sorted(found.values(), key=lambda d: (d.simulated_at, d.alert))


def run_drill(
    scenario: str,
    *,
    events: int = 12_000,
    days: int = 28,
    seed: int = 7,
    step: dt.timedelta = dt.timedelta(hours=12),
    workdir: Path,
    strategy: Strategy | None = None,
    progress: Callable[[str], None] | None = None,
) -> DrillResult:
    """Replay ``scenario`` with and without its planted change (``events`` each, over
    ``days``) into fresh SQLite stores under ``workdir``; evaluate the alerts every ``step``."""

    strategy = strategy if strategy is not None else load_scenario_strategy(scenario)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    began = time.monotonic()
    simulation = Simulation(scenario, strategy, seed=seed, start=start, days=days)
    change_at = simulation.change_at if simulation.profile.reachability_after_change is not None else None
    result = DrillResult(scenario, events, change_at)
    for planted in (True, False):
        path = workdir / f"drill-{scenario}-{'planted' if planted else 'control'}.db"
        path.unlink(missing_ok=True)
        engine = connect(f"sqlite:///{path}")
        try:
            upgrade(engine)
            detections = _replay(engine, strategy, scenario, planted=planted, events=events, start=start, days=days,
                                 seed=seed, step=step)  # fmt: skip
        finally:
            engine.dispose()
        if planted:
            result.planted = detections
        else:
            result.control = detections
        if progress is not None:
            progress(f"{scenario}: {'planted' if planted else 'control'} replayed, {len(detections)} alerts")
    result.seconds = time.monotonic() - began
    return result


def describe(results: Sequence[DrillResult]) -> str:
    """The drill table (Markdown): scenario × detected, when, false pages, control tickets."""
    lines = [
        "| scenario | events | expected alert | detected | simulated delay after the change | false pages in control | "
        "tickets in control |",
        "|---|---|---|---|---|---|---|",
    ]
    for result in results:
        found = result.detection
        expected = result.expected
        label = f"`{expected.alert}` ({expected.severity}; " + ", ".join(f"{k}={v}" for k, v in expected.labels) + ")"
        if found is None:
            detected, delay = "**no**", "—"
        else:
            detected = f"yes (for: {found.for_})"
            since = result.change_at or dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
            delay = f"{(found.simulated_at - since).total_seconds() / 86400:.1f} days"
            if result.change_at is None:
                delay += " after the start (planted from day 0)"
        lines.append(
            f"| {result.scenario} | {result.events:,} | {label} | {detected} | {delay} | {len(result.false_pages)} | "
            f"{len(result.control_tickets)} |"
        )
    return "\n".join(lines)


@dataclass
class StackCase:
    """One business of a stack drill: a scenario at a volume, with or without its change."""

    scenario: str
    events: int
    planted: bool
    business: str
    published_at: float = 0.0
    notified_at: float | None = None
    pages: list[dict[str, str]] = field(default_factory=list)

    @property
    def expected(self) -> Expected:
        return EXPECTED[self.scenario]


def stack_drill(
    scenarios: Sequence[str],
    volumes: Sequence[int],
    *,
    workdir: Path,
    alertmanager_config: Path,
    timeout_s: float = 20 * 60,
    days: int = 28,
    seed: int = 7,
    progress: Callable[[str], None] | None = None,
) -> list[StackCase]:
    """Each scenario at each volume, with and without its planted change, as its own business
    (its own store, published snapshot and exporter), all scraped by one real Prometheus with
    the default rendered rules and notified by one real Alertmanager (``alertmanager_config``,
    the deployed one with its receivers pointed at a webhook here). Continuous runs keep
    heartbeating; returns when every planted change was notified, or after ``timeout_s``."""


    say = progress or (lambda line: None)
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=days)
    cases: list[StackCase] = []
    engines: list[tuple[sa.Engine, Any]] = []
    servers: list[Any] = []
    receiver = start_webhook_receiver()
    try:
        for volume in volumes:
            for scenario in scenarios:
                base = load_scenario_strategy(scenario)
                for planted in (True, False):
                    name = f"{base.business.name} {volume} {'planted' if planted else 'control'}"
                    strategy = base.model_copy(update={"business": base.business.model_copy(update={"name": name})})
                    engine = connect(f"sqlite:///{workdir / (business_label(name) + '.db')}")
                    upgrade(engine)
                    store_scenario(engine, strategy, scenario, planted=planted, events=volume, start=start, days=days,
                                   seed=seed)  # fmt: skip
                    engines.append((engine, strategy))
                    cases.append(StackCase(scenario, volume, planted, business_label(name)))
                    say(f"{name}: stored")
        rules = workdir / "rules"
        rules.mkdir(exist_ok=True)
        for file_name, text in render_rule_files([strategy for _, strategy in engines]).items():
            (rules / file_name).write_text(text)
        config = yaml.safe_load(alertmanager_config.read_text())
        for entry in config["receivers"]:
            for hook in entry.get("webhook_configs", []):
                hook["url"] = receiver.url
        (workdir / "am.yml").write_text(yaml.safe_dump(config, sort_keys=False))
        alertmanager = start_alertmanager(workdir / "am.yml", workdir)
        servers.append(alertmanager)
        targets = []
        for engine, strategy in engines:
            exporter = serve(CollectorRegistry(), port=0, snapshot=build_collector(engine, strategy, ttl_s=1.0))
            servers.append(exporter)
            targets.append(f"127.0.0.1:{exporter.port}")
        prometheus_config = {
            "global": {"scrape_interval": "5s", "evaluation_interval": "5s"},
            "rule_files": [str(rules / "*.rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
            "scrape_configs": [{"job_name": "alignwatch-exporter", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config, sort_keys=False))
        servers.append(start_prometheus(workdir / "prometheus.yml", workdir))
        for case, (engine, strategy) in zip(cases, engines, strict=True):
            outcome = continuous_task(engine, strategy, start=end - dt.timedelta(hours=1), end=end, trigger="drill")
            if str(outcome.status) != "published":
                raise RuntimeError(f"{case.business}: the continuous run was {outcome.status}: {outcome.detail}")
            case.published_at = time.time()
        say(f"{len(cases)} businesses published; waiting for the notifications (up to {timeout_s:.0f} s)")
        deadline = time.monotonic() + timeout_s
        next_beat = time.monotonic() + 60
        while time.monotonic() < deadline:
            for at, alert in receiver.alerts():
                labels = alert["labels"]
                for case in cases:
                    if labels.get("business") != case.business or alert.get("status") != "firing":
                        continue
                    if case.planted and case.notified_at is None and case.expected.matches(labels["alertname"], labels):
                        case.notified_at = at
                        say(f"{case.business}: {labels['alertname']} notified {at - case.published_at:.0f} s after publication")
                    if labels.get("severity") == "page" and labels not in case.pages:
                        case.pages.append(labels)
            if all(case.notified_at is not None for case in cases if case.planted):
                break
            if time.monotonic() >= next_beat:  # the continuous runs go on: no hour closes, a heartbeat each
                for engine, strategy in engines:
                    continuous_task(engine, strategy, start=end, end=end + dt.timedelta(minutes=5), trigger="drill")
                next_beat = time.monotonic() + 60
            time.sleep(1.0)
    finally:
        for server in reversed(servers):
            server.stop()
        receiver.stop()
        for engine, _ in engines:
            engine.dispose()
    return cases


def describe_stack(cases: Sequence[StackCase]) -> str:
    """The stack drill table (Markdown)."""
    lines = [
        "| scenario | events | expected alert | notified at the webhook | after publication | pages of its control |",
        "|---|---|---|---|---|---|",
    ]
    controls = {(c.scenario, c.events): c for c in cases if not c.planted}
    for case in (c for c in cases if c.planted):
        control = controls[(case.scenario, case.events)]
        expected = case.expected
        label = f"`{expected.alert}` ({expected.severity})"
        notified = "yes" if case.notified_at is not None else "**no**"
        after = f"{case.notified_at - case.published_at:.0f} s" if case.notified_at is not None else "—"
        lines.append(f"| {case.scenario} | {case.events:,} | {label} | {notified} | {after} | {len(control.pages)} |")
    return "\n".join(lines)
