"""The XES importer on real event logs, checked against an independent plain reading.

The plain readings use the standard library's ElementTree, or for BPI 2012 a search of
the text alone (neither lxml nor the importer's code), and count what the log says directly.
"""

from __future__ import annotations

import datetime as dt
import gzip
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from alignwatch.metrics.ethics import decisions_of, outcome_parity
from alignwatch.metrics.strategy import DecisionOversight
from alignwatch.stream.decode import make_event
from alignwatch.stream.importers.base import Emitted, ImportStats
from alignwatch.stream.importers.mapping import load_mapping
from alignwatch.stream.importers.xes import XesImport


@dataclass
class PlainReading:
    """What a log says, counted without the importer."""

    events: int = 0
    traces: int = 0
    by_resource: Counter[str] = field(default_factory=Counter)
    by_activity: Counter[str] = field(default_factory=Counter)
    by_activity_resource: Counter[tuple[str, str | None]] = field(default_factory=Counter)
    activated_amounts: list[float] = field(default_factory=list)
    flagged_by_activity: Counter[str] = field(default_factory=Counter)


def plain_reading(path: Path, flag: str | None = None) -> PlainReading:
    """Count traces, events, events per resource and per activity (and per activity with ``flag`` true)."""
    reading = PlainReading()
    with gzip.open(path, "rb") as handle:
        for _, element in ET.iterparse(handle, events=("end",)):
            tag = element.tag.rsplit("}", 1)[-1]
            if tag == "event":
                attrs = {child.get("key"): child.get("value") for child in element}
                reading.events += 1
                reading.by_resource[attrs.get("org:resource")] += 1
                reading.by_activity[attrs["concept:name"]] += 1
                reading.by_activity_resource[(attrs["concept:name"], attrs.get("org:resource"))] += 1
                if flag is not None and attrs.get(flag) == "true":
                    reading.flagged_by_activity[attrs["concept:name"]] += 1
                element.clear()
            elif tag == "trace":
                reading.traces += 1
                element.clear()
    return reading


@dataclass
class Imported:
    """One streaming pass of the importer, summarised."""

    stats: ImportStats
    types: Counter[str]
    steps: int
    automated_steps: int
    order_amount: float
    ids: list[str]
    runs_by_activity: Counter[str]
    sample: list[Emitted]
    decisions: list[tuple[dt.datetime, dict[str, Any]]] = field(default_factory=list)


def import_summary(path: Path, mapping_path: Path, keep_ids: bool = True) -> Imported:
    run = XesImport(path, load_mapping(mapping_path))
    types: Counter[str] = Counter()
    runs_by_activity: Counter[str] = Counter()
    steps = automated = 0
    orders = 0.0
    ids: list[str] = []
    sample: list[Emitted] = []
    decisions: list[tuple[dt.datetime, dict[str, Any]]] = []
    for event in run:
        types[event.type] += 1
        if keep_ids:
            ids.append(f"{event.type} {event.id}")
        if event.type == "process.execution":
            steps += event.data["steps"]
            automated += event.data["automated_steps"]
        elif event.type == "automation.run":
            runs_by_activity[event.subject] += 1
        elif event.type == "customer.order":
            orders += event.data["amount"]
        elif event.type == "automation.decision":
            decisions.append((event.time, event.data))
        if len(sample) < 200 or types[event.type] == 1:
            sample.append(event)
    return Imported(run.stats, types, steps, automated, orders, ids, runs_by_activity, sample, decisions)


@pytest.fixture(scope="module")
def bpic2012(eventlogs: Path, mappings: Path) -> Imported:
    """BPI Challenge 2012 imported once (one streaming pass) for every test of this module."""
    return import_summary(eventlogs / "bpic2012.xes.gz", mappings / "bpic2012.yaml", keep_ids=False)


def plain_text_reading(path: Path, resource: str) -> PlainReading:
    """Count an XES file as OpenXES writes it (one element per line) by searching its text
    alone: events, traces, events of ``resource``, and for every ``A_ACTIVATED`` event the
    ``AMOUNT_REQ`` of its trace. Shares nothing with any parser."""
    reading = PlainReading()
    text = gzip.decompress(path.read_bytes())
    reading.events = text.count(b"<event>")
    reading.traces = text.count(b"<trace>")
    reading.by_resource[resource] = text.count(f'<string key="org:resource" value="{resource}"/>'.encode())
    for trace in text.split(b"<trace>")[1:]:
        activated = trace.count(b'<string key="concept:name" value="A_ACTIVATED"/>')
        if activated:
            start = trace.find(b'<string key="AMOUNT_REQ" value="')
            amount = float(trace[start:].split(b'"', 4)[3])
            reading.activated_amounts += [amount] * activated
    return reading


@pytest.fixture(scope="module")
def bpic2012_plain(eventlogs: Path) -> PlainReading:
    """BPI Challenge 2012 read plainly (by its text), once."""
    return plain_text_reading(eventlogs / "bpic2012.xes.gz", "112")


def test_bpic2012_import_reads_every_event_and_case_of_the_log(bpic2012: Imported, bpic2012_plain: PlainReading) -> None:
    assert (bpic2012.stats.events, bpic2012.stats.cases) == (262_200, 13_087)
    assert (bpic2012_plain.events, bpic2012_plain.traces) == (262_200, 13_087)
    assert bpic2012.steps == bpic2012_plain.events


def test_bpic2012_automated_share_equals_resource_112_share_of_a_plain_reading(
    bpic2012: Imported, bpic2012_plain: PlainReading
) -> None:
    plain_share = bpic2012_plain.by_resource["112"] / bpic2012_plain.events
    assert bpic2012_plain.by_resource["112"] == 45_687
    # derived from the emitted process.execution events, and from the automation.run count
    assert bpic2012.automated_steps == bpic2012_plain.by_resource["112"]
    assert bpic2012.types["automation.run"] == bpic2012_plain.by_resource["112"]
    assert bpic2012.automated_steps / bpic2012.steps == pytest.approx(plain_share, abs=1e-12)
    assert bpic2012.stats.automated_share == pytest.approx(plain_share, abs=1e-12)


def test_bpic2012_books_the_requested_amount_of_every_activated_loan(
    bpic2012: Imported, bpic2012_plain: PlainReading
) -> None:
    assert bpic2012.types["customer.order"] == len(bpic2012_plain.activated_amounts) == 2_246
    assert bpic2012.order_amount == pytest.approx(sum(bpic2012_plain.activated_amounts))


def test_bpic2012_system_decisions_by_amount_band_are_the_table_of_docs_importing(bpic2012: Imported) -> None:
    decisions = decisions_of(bpic2012.decisions)
    assert len(decisions) == bpic2012.types["automation.decision"] == 8_281
    oversight = DecisionOversight(automation="application_intake", favourable=("preaccepted",),
                                  dimensions=("amount_band",))
    parity = outcome_parity(decisions, oversight, "amount_band")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "importing.md").read_text(encoding="utf-8")
    for r in parity.segments:
        row = f"| `{r.segment}` | {r.decisions:,} | {r.favourable:,} | {r.rate:.3f} | {r.low:.3f} – {r.high:.3f} |"
        assert row in doc
    assert f"Parity ratio {parity.ratio:.3f}" in doc and f"z = {parity.z:.1f}" in doc
    assert parity.breach and (parity.lowest, parity.highest) == ("<5000", ">=20000")


def test_bpic2012_emits_one_process_execution_per_case_and_sub_process(bpic2012: Imported) -> None:
    # every application has A_ steps; offers (O_) and work items (W_) only some
    assert bpic2012.types["process.execution"] > bpic2012.stats.cases
    assert bpic2012.types["process.execution"] <= 3 * bpic2012.stats.cases
    executions = [e for e in bpic2012.sample if e.type == "process.execution"]
    assert executions and all(e.data["cycle_time_s"] >= 0 for e in executions)


def test_bpic2012_derived_events_satisfy_the_event_contract(bpic2012: Imported) -> None:
    for emitted in bpic2012.sample:
        event = make_event(emitted.type, bpic2012.stats.source, emitted.id, emitted.time, emitted.data, emitted.subject)
        assert event.id == emitted.id


def test_bpic2012_covers_the_published_period(bpic2012: Imported) -> None:
    assert bpic2012.stats.first_time is not None and bpic2012.stats.last_time is not None
    assert bpic2012.stats.first_time.date().isoformat() == "2011-10-01"
    assert bpic2012.stats.last_time.date().isoformat() == "2012-03-14"


@pytest.fixture(scope="module")
def helpdesk(eventlogs: Path, mappings: Path) -> Imported:
    """The helpdesk log imported once for this module."""
    return import_summary(eventlogs / "helpdesk.xes.gz", mappings / "helpdesk.yaml")


def test_helpdesk_import_reads_every_event_and_case(helpdesk: Imported, eventlogs: Path) -> None:
    plain = plain_reading(eventlogs / "helpdesk.xes.gz")
    assert (helpdesk.stats.events, helpdesk.stats.cases) == (21_348, 4_580)
    assert (plain.events, plain.traces) == (21_348, 4_580)
    # the mapping reads resource "Value 5" closing a ticket as the automatic closing job
    assert helpdesk.types["automation.run"] == plain.by_activity_resource[("Closed", "Value 5")] == 3_719


def test_company_log_import_reads_every_event_and_case(eventlogs: Path, mappings: Path) -> None:
    imported = import_summary(eventlogs / "company_business_process_log.xes.gz", mappings / "company_bot.yaml")
    assert (imported.stats.events, imported.stats.cases) == (132, 20)


def test_company_log_automation_rate_per_activity_equals_bot_flag_counts(eventlogs: Path, mappings: Path) -> None:
    path = eventlogs / "company_business_process_log.xes.gz"
    imported = import_summary(path, mappings / "company_bot.yaml")
    plain = plain_reading(path, flag="bot")
    alignwatch_rate = {
        activity: imported.runs_by_activity[activity] / imported.stats.steps_by_activity[activity]
        for activity in imported.stats.steps_by_activity
    }
    plain_rate = {activity: plain.flagged_by_activity[activity] / n for activity, n in plain.by_activity.items()}
    assert alignwatch_rate == plain_rate
    assert imported.stats.automation_rate_by_activity() == plain_rate
    assert plain.flagged_by_activity["Check documents RPA"] == 20


def test_reimporting_a_log_yields_the_same_event_ids(helpdesk: Imported, eventlogs: Path, mappings: Path) -> None:
    second = import_summary(eventlogs / "helpdesk.xes.gz", mappings / "helpdesk.yaml")
    assert helpdesk.ids == second.ids
    assert len(set(helpdesk.ids)) == len(helpdesk.ids) == sum(helpdesk.types.values())
