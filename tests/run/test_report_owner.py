"""The owner's report reads as words and units: what changed and what to do first, values in
each KPI's declared unit, never scientific notation, the SAI per day over the whole history.

The page-level checks use real scorecards: the bakery's and the ecommerce shop's events from
the simulator (28 days from the business's own midnight), computed day by day and published
on SQLite, the report written from that store.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from alignwatch.metrics.card import PilotVerdict, Priority, Scorecard
from alignwatch.metrics.engine import compute, write_values
from alignwatch.metrics.formulas import Finding, HumanReachability
from alignwatch.metrics.report import (
    actions,
    contribution_tone,
    format_duration,
    format_quantity,
    render_report,
    write_report,
)
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events, metric_values, pipeline_runs
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DAYS = 28
EVENTS = {"bakery": 8000, "ecommerce": 15000}
SCIENTIFIC = re.compile(r"\d(?:\.\d+)?[eE][+-]?\d")


@pytest.mark.parametrize(
    ("value", "unit", "shown"),
    [
        (0.62, "ratio", "62.0%"),  # 0.62 × 100
        (0.9, "share", "90.0%"),
        (2.3, "skill events per employee", "2.30 skill events per employee"),  # any other unit: two decimals + unit
        (45, "seconds", "45 s"),
        (90, "seconds", "1.5 min"),  # 90 / 60
        (1500, "seconds", "25 min"),  # 1500 / 60
        (54570, "seconds", "15.2 h"),  # 54570 / 3600 = 15.158
        (302400, "seconds", "3.5 days"),  # 302400 / 86400
        (718.16, "minutes", "12.0 h"),  # 718.16 × 60 = 43089.6 s = 11.97 h
        (26597.4, "EUR", "EUR 26,597"),  # from 1,000: whole, with separators
        (40.03, "EUR", "EUR 40.03"),
        (812.5, "money", "GBP 812.50"),  # "money": the strategy's currency
        (25_000_000.0, "GBP", "GBP 25,000,000"),  # never 2.5e+07
        (48.6, "orders", "49 orders"),  # counted things: whole numbers
        (1200.0, "count", "1,200"),
        (4.56, "score", "4.6"),
        (26.364, "points", "26.36 points"),
        (54570.0, None, "54,570"),
        (1e-7, None, "0.00"),  # never 1e-07
        (None, "ratio", "—"),
    ],
)
def test_a_value_is_shown_in_its_kpis_declared_unit(value: Any, unit: str | None, shown: str) -> None:
    assert format_quantity(value, unit, currency="GBP") == shown


def test_durations_switch_unit_where_the_number_stays_readable() -> None:
    assert [format_duration(s) for s in (59, 60, 599, 600, 3599, 3600, 172799, 172800)] == [
        "59 s", "1.0 min", "10.0 min", "10 min", "60 min", "1.0 h", "48.0 h", "2.0 days",
    ]


def test_a_contribution_bar_is_coloured_by_how_far_its_input_is_from_its_best() -> None:
    assert [contribution_tone(s) for s in (100, 75, 74.9, 50, 49.9, 0, None)] == [
        "good", "good", "warn", "warn", "bad", "bad", "none",
    ]


def test_customers_unable_to_reach_a_person_come_before_every_ticket(sample_scorecard: Scorecard) -> None:
    card = replace(sample_scorecard,
                   human_reachability=HumanReachability(value=0.3, floor=0.9, sla_s=300, below_floor=True))
    found = actions(card, currency="EUR")
    assert [a.severity for a in found] == ["page", "ticket", "ticket", "ticket"]
    # 0.3 -> 30.0%; 300 s -> 5.0 min; floor 0.9 -> 90%
    assert found[0].problem == ("Customers cannot reach a person: only 30.0% of the customers who asked for a person "
                                "reached one within 5.0 min (your floor: 90%).")
    # then the critical pitfall, the red flag crossed, the warning pitfall
    assert found[1].problem.startswith("Over-production (oven_scheduler)")
    assert found[2].problem == "Bread sold of bread baked crossed its red flag: 62.0%, target at least 90.0%."
    assert found[3].problem.startswith("Feature overload (shop_suite)")


def test_what_changed_names_the_sai_before_and_now_and_the_input_that_moved_it_most(sample_scorecard, at) -> None:
    changes = {"previous_sai": 58.07, "inputs": [{"input": "customer", "delta": 3.14}, {"input": "cjai", "delta": -1.0}]}
    page = render_report(sample_scorecard, business="Corner Bakery", at=at, window="7d", changes=changes)
    # 63.27 - 58.07 = 5.2
    assert ("The Strategic Alignment Index is 63.3 out of 100, up 5.2 points from 58.1 since the report of the 7 days "
            "before. The biggest move: Customer, +3.1 points.") in page
    assert page.index('id="summary"') < page.index('id="sai"')


def test_what_to_automate_next_gives_its_impact_in_money_a_month(sample_scorecard, at) -> None:
    page = render_report(sample_scorecard, business="Corner Bakery", at=at, window="7d", currency="GBP")
    assert "GBP 812.50 a month" in page
    assert "manual cases a month × cost per manual case, in GBP" in page


def test_pitfall_evidence_shows_shares_as_percentages_and_counts_as_numbers(sample_scorecard, at) -> None:
    pitfalls = (Finding("overproduction", "oven", True, "warning",
                        {"sell_through": 0.4936, "units_ordered": 861, "units_out": 1746}, {"sell_through_min": 0.8},
                        "sell-through 0.4936 below 0.8"),)
    page = render_report(replace(sample_scorecard, pitfalls=pitfalls), business="Corner Bakery", at=at, window="7d")
    card = page[page.index('data-pitfall="overproduction"'):]
    assert "Sell through:</span> 49.4%" in card  # 0.4936 x 100
    assert "Threshold sell through min:</span> 80.0%" in card
    assert "Units out:</span> 1,746" in card and "Units ordered:</span> 861" in card


def test_a_candidate_without_a_declared_manual_cost_has_its_impact_in_weighted_cases(sample_scorecard, at) -> None:
    # no declared cost: 1 a case; 0.677083 goal weight × 3 (critical) × 400 cases × 1 = 812.5
    priorities = (Priority("invoicing", "Invoicing", 812.5, 812.5 / 1200, "critical", 1.0, 400.0, 1.0, True, (), 1,
                           cost_declared=False),)
    page = render_report(replace(sample_scorecard, priorities=priorities), business="Corner Bakery", at=at, window="7d")
    assert "812 weighted manual cases a month" in page  # round(812.5) = 812 (to even)
    assert "critical process; 100% done by hand; 400 manual cases a month; no manual cost per case declared" in page


def test_a_pilot_without_enough_data_is_said_so(sample_scorecard, at) -> None:
    pilots = (PilotVerdict("chatbot", "Order chatbot", "not enough data",
                           "too few events to judge: csat 3 before and 2 during, needs 20 each"),)
    page = render_report(replace(sample_scorecard, pilots=pilots), business="Corner Bakery", at=at, window="7d")
    assert re.search(r"Order chatbot</strong></td><td class='muted'><strong>not enough data</strong>", page)
    assert "needs 20 each" in page


# --------------------------------------------------------------------------- real scorecards


class Built:
    """A scenario's report page and the days of history its store holds."""

    def __init__(self, page: Path, days: list[dt.date], skills: int, employees: int) -> None:
        self.page = page
        self.days = days
        self.skills = skills  # workforce.skill events in the report's 7 days
        self.employees = employees  # distinct employees with any workforce event in them

    def text(self) -> str:
        return self.page.read_text(encoding="utf-8")


def _build(scenario: str, directory: Path) -> Built:
    strategy = load_strategy(EXAMPLES / f"{scenario}.yaml")
    zone = ZoneInfo(strategy.business.timezone)
    start = dt.datetime(2026, 11, 2, tzinfo=zone).astimezone(dt.UTC)  # the business's own midnight (no DST change)
    end = start + dt.timedelta(days=DAYS)
    engine = connect(f"sqlite:///{directory / 'store.db'}")
    try:
        upgrade(engine)
        rows = [
            event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), start)
            for e in simulate(scenario, 11, start, DAYS, EVENTS[scenario], strategy=strategy)
        ]
        with engine.begin() as conn:
            conn.execute(events.insert(), rows)
        values = compute(engine, strategy, start=start, end=end, granularity="day")
        with engine.begin() as conn:
            run_id = conn.execute(pipeline_runs.insert().values(
                kind="backfill", business=strategy.business.name, interval_start=start, interval_end=end,
                started_at=end, finished_at=end, status="published",
            )).inserted_primary_key[0]
            write_values(conn, run_id, values)
            ends = conn.execute(sa.select(metric_values.c.window_end).where(
                metric_values.c.metric_id == "sai", metric_values.c.window == "day", metric_values.c.value.is_not(None),
            )).scalars().all()
            workforce = conn.execute(sa.select(events.c.type, events.c.data).where(
                events.c.type.like("workforce.%"), events.c.time >= end - dt.timedelta(days=7), events.c.time < end,
            )).all()
        page = write_report(engine, strategy, out=directory / "report.html", now=end)
    finally:
        engine.dispose()
    days = sorted({(e - dt.timedelta(microseconds=1)).astimezone(zone).date() for e in ends})
    skills = sum(1 for kind, _ in workforce if kind == "workforce.skill")
    return Built(page, days, skills, len({data["employee_id"] for _, data in workforce}))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    cache: dict[str, Built] = {}

    def get(scenario: str) -> Built:
        if scenario not in cache:
            cache[scenario] = _build(scenario, tmp_path_factory.mktemp(scenario))
        return cache[scenario]

    yield get


def _visible_text(page: str) -> str:
    body = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


@pytest.mark.parametrize("scenario", ["bakery", "ecommerce"])
def test_no_number_on_a_real_report_is_in_scientific_notation(built, scenario: str) -> None:
    page = built(scenario).text()
    assert not SCIENTIFIC.findall(_visible_text(page))
    assert not SCIENTIFIC.findall(" ".join(re.findall(r'="([^"]*)"', page)))  # nor in an attribute


@pytest.mark.parametrize("scenario", ["bakery", "ecommerce"])
def test_the_sai_trend_has_one_point_per_day_of_published_history(built, scenario: str) -> None:
    report = built(scenario)
    days = re.findall(r'class="dot point" data-day="([0-9-]+)"', report.text())
    assert len(report.days) == DAYS
    assert days == [f"{day:%Y-%m-%d}" for day in report.days]


@pytest.mark.parametrize("scenario", ["bakery", "ecommerce"])
def test_training_rate_is_shown_as_skill_events_per_employee_not_as_a_percentage(built, scenario: str) -> None:
    report = built(scenario)
    row = re.search(r'<tr id="kpi-training_rate">.*?</tr>', report.text(), re.S)
    assert row
    value, target = re.findall(r'<td class="num">([^<]+)</td>', row.group(0))
    # docs/strategy.md: workforce.skill events per active employee (any workforce event), counted from the events
    # of the report's 7 days: more than one skill per employee, so never a 0-1 ratio
    assert report.skills > report.employees > 0
    assert value == f"{report.skills / report.employees:.2f} skill events per employee"
    assert target.endswith(" skill events per employee") and "%" not in target


def test_the_ecommerce_reports_first_item_is_the_human_reachability_collapse(built) -> None:
    page = built("ecommerce").text()
    severities = re.findall(r'<li class="action (\w+)" data-severity="\1">', page)
    assert severities[0] == "page" and set(severities[1:]) == {"ticket"}
    first = page[page.index('<li class="action page"'):]
    assert "Customers cannot reach a person" in first[:first.index("</li>")]


def test_the_bakery_report_leads_with_its_red_flags_and_over_production_as_tickets(built) -> None:
    page = built("bakery").text()
    items = [html.unescape(re.sub(r"<[^>]+>", " ", li)) for li in re.findall(r'<li class="action ticket".*?</li>', page, re.S)]
    assert 'class="action page"' not in page  # the bakery's customers reach a person
    assert "Loaves sold per loaf baked crossed its red flag" in items[0]
    assert any("Over-production (smart_oven)" in item for item in items[:3])


@pytest.mark.integration
def test_chromium_shows_the_most_severe_item_first_and_a_trend_point_per_day(built, chromium, colour_count, tmp_path):
    report = built("ecommerce")
    dom = chromium("--dump-dom", report.page.as_uri()).stdout.decode()
    items = re.findall(r'<li class="action (\w+)" data-severity="(\w+)">', dom)
    assert items[0] == ("page", "page")
    assert [s for _, s in items] == sorted((s for _, s in items), key=["page", "ticket"].index)
    assert len(re.findall(r'class="dot point" data-day="', dom)) == len(report.days) == DAYS
    assert not SCIENTIFIC.findall(_visible_text(dom))
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1366,900", "--hide-scrollbars", report.page.as_uri())
    assert colour_count(shot.read_bytes()) >= 8


# --------------------------------------------------------------------------- ethics and human agency

REFUNDS_START = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
REFUNDS_AT = REFUNDS_START + dt.timedelta(days=DAYS)  # 2026-03-02: the report's 28 days are the simulated ones


def _refunds_report(directory: Path, *, planted: bool) -> tuple[str, list[tuple[str, str, Any]]]:
    """The refunds bookshop's 28-day report (with or without its planted bias) and, read back from the store
    with SQL, the refund bot's decision events of the window: (case, region, payload), oldest first."""
    strategy = load_strategy(EXAMPLES / "refunds.yaml")
    engine = connect(f"sqlite:///{directory / 'store.db'}")
    try:
        upgrade(engine)
        rows = [
            event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), REFUNDS_START)
            for e in simulate("refunds", 5, REFUNDS_START, DAYS, 12_000, planted=planted, strategy=strategy)
        ]
        with engine.begin() as conn:
            conn.execute(events.insert(), rows)
            decided = conn.execute(sa.select(events.c.data).where(
                events.c.type == "automation.decision", events.c.time >= REFUNDS_START, events.c.time < REFUNDS_AT,
            ).order_by(events.c.time)).scalars().all()
        page = write_report(engine, strategy, out=directory / "report.html", at=REFUNDS_AT, window="28d", now=REFUNDS_AT)
    finally:
        engine.dispose()
    return page.read_text(encoding="utf-8"), [(d["case_id"], d["segments"]["region"], d) for d in decided
                                              if d["automation_id"] == "refund_bot"]


def _by_region(decided: list[tuple[str, str, Any]]) -> dict[str, tuple[int, int]]:
    """(decisions, refunded) per region, one decision per case: its first event's outcome (docs/events.md)."""
    first: dict[str, tuple[str, str]] = {}
    for case, region, data in decided:
        first.setdefault(case, (region, data["outcome"]))
    tally: dict[str, tuple[int, int]] = {}
    for region, outcome in first.values():
        n, refunded = tally.get(region, (0, 0))
        tally[region] = (n + 1, refunded + (outcome == "refunded"))
    return tally


def _ethics_text(page: str) -> str:
    start = page.index('<section id="ethics">')
    return " ".join(_visible_text(page[start:page.index("</section>", start)]).split())


def test_the_report_names_the_region_the_refund_bot_treats_worse_with_its_rates_and_counts(tmp_path: Path) -> None:
    page, decided = _refunds_report(tmp_path, planted=True)
    tally = _by_region(decided)
    # the planted bias declines the south twice as often: it has the lowest refund rate, the best-treated the highest
    rates = {region: refunded / n for region, (n, refunded) in tally.items()}
    low, high = min(rates, key=rates.get), max(rates, key=rates.get)  # type: ignore[arg-type]
    assert low == "south"
    (n_low, r_low), (n_high, r_high) = tally[low], tally[high]
    ratio = rates[low] / rates[high]
    assert ratio < 0.8  # below the refunds strategy's parity floor
    section = _ethics_text(page)
    assert (f"refund_bot gives customers of region 'south' a favourable outcome {rates[low] * 100:.1f}% of the time "
            f"({r_low:,} of {n_low:,} decisions), against {rates[high] * 100:.1f}% for '{high}', the best treated "
            f"({r_high:,} of {n_high:,}): {ratio * 100:.1f}% of their rate; your floor is 80.0%. That is more than "
            f"chance at these numbers.") in section
    assert "What to do: review how it decides for 'south'" in section
    # the ticket joins the "what to do" list; nothing pages (people reverse few of the bot's decisions)
    tickets = [" ".join(_visible_text(li).split()) for li in re.findall(r'<li class="action ticket".*?</li>', page, re.S)]
    assert tickets[0].startswith("This week Unequal treatment: refund_bot gives customers of region 'south'")
    assert 'class="action page"' not in page
    # reviewed 2025-12-01: 91 days before 2026-03-02 (30 + 31 + 28 + 1 + 1), beyond the 90-day cadence
    assert "How refund_bot decides was last reviewed 91 days ago (2025-12-01); you committed to every 90 days." in section
    assert any("How refund_bot decides was last reviewed 91 days ago" in t for t in tickets)
    # decisions, reversals and appeals of the bot, counted per case from the same events
    cases = {case: data for case, _, data in reversed(decided)}  # any event's flags: here one event per case
    overridden = sum(bool(d.get("overridden")) for d in cases.values())
    appealed = sum(bool(d.get("appealed")) for d in cases.values())
    assert (f"refund_bot: {len(cases):,} decisions" in section and f"{overridden:,} reversed" in section
            and f"{appealed:,} appealed by the customer" in section)


def test_the_control_without_the_bias_has_no_parity_finding(tmp_path: Path) -> None:
    page, decided = _refunds_report(tmp_path, planted=False)
    tally = _by_region(decided)
    rates = [refunded / n for n, refunded in tally.values()]
    assert min(rates) / max(rates) >= 0.8  # every region treated alike within the floor
    section = _ethics_text(page)
    assert "more than chance" not in section and "Within your floor." in section
    assert "Unequal treatment" not in page


@pytest.mark.integration
def test_chromium_shows_the_ethics_section_with_the_refund_bias_as_a_finding(chromium, colour_count, tmp_path: Path) -> None:
    _refunds_report(tmp_path, planted=True)
    page = tmp_path / "report.html"
    dom = chromium("--dump-dom", page.as_uri()).stdout.decode()
    assert re.search(r'<li class="bad" data-ethics="parity-breach">.*?\'south\'', dom, re.S)
    assert dom.index('id="actions"') < dom.index('id="ethics"')
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1366,900", "--hide-scrollbars", page.as_uri())
    assert colour_count(shot.read_bytes()) >= 8
