"""The report and the live view say plainly when the numbers they show are not validated,
and the live view lists the rule alerts firing on the published values, pages first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace as NS

import sqlalchemy as sa
from rich.console import Console

from alignwatch.live import Cycle, Status, render, status_line, validation_text
from alignwatch.metrics.report import Publication, publication_status, render_report, write_report
from alignwatch.summary import firing_lines

REPO = Path(__file__).resolve().parents[2]
AT = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_a_report_without_a_validated_publication_says_so_at_the_top_with_the_count_of_published_runs(sample_scorecard):
    page = render_report(sample_scorecard, business="Corner Bakery", at=AT, window="7d",
                         publication=Publication(validated=False, runs=6, published=0))  # fmt: skip
    banner = page.index('id="validation" data-validated="false"')
    assert banner < page.index('id="sai"')
    assert "Not validated: 0 of 6 runs published." in page
    assert "values NOT validated; 0 of 6 runs published" in page
    assert "latest validated publication" not in page


def test_a_validated_report_has_no_banner_and_says_where_its_values_come_from(sample_scorecard):
    page = render_report(sample_scorecard, business="Corner Bakery", at=AT, window="7d",
                         publication=Publication(validated=True, runs=3, published=2, last_published_at=AT))  # fmt: skip
    assert 'data-validated="false"' not in page
    assert "values from a validated publication (newest 2026-03-01 00:00 UTC); 2 of 3 runs published" in page


def test_the_report_of_a_store_whose_runs_all_failed_validation_is_marked_not_validated(tmp_path: Path) -> None:
    from alignwatch.metrics.strategy import load_strategy
    from alignwatch.pipeline import run_interval
    from alignwatch.store import connect, upgrade

    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    strategy = load_strategy(REPO / "examples" / "bakery.yaml")
    try:
        outcomes = [run_interval(engine, strategy, start=AT + dt.timedelta(hours=h), end=AT + dt.timedelta(hours=h + 1))
                    for h in range(2)]  # fmt: skip
        # an empty store: no data, never an SAI of 0.0
        assert [o.status for o in outcomes] == ["failed_validation"] * 2
        assert all("raw_events.expect_events_in_window" in o.validation["failed"] for o in outcomes)
        with engine.connect() as conn:
            assert conn.execute(sa.text("select count(*) from metric_values")).scalar_one() == 0
        assert publication_status(engine, AT + dt.timedelta(hours=2)) == Publication(False, 2, 0, None)
        page = write_report(engine, strategy, out=tmp_path / "report.html", now=AT + dt.timedelta(hours=2)).read_text()
    finally:
        engine.dispose()
    assert "Not validated: 0 of 2 runs published." in page


def _status(published: int, failed: int, validated: bool | None) -> Status:
    status = Status(business="Corner Bakery", scenario="bakery", started=AT)
    end = AT + dt.timedelta(hours=5)
    status.cycles = [Cycle(n, "published", end, 1.0) for n in range(published)]
    status.cycles += [Cycle(None, "failed_validation", end, 1.0) for _ in range(failed)]
    status.validated, status.values_at = validated, end if validated is not None else None
    return status


def test_the_live_view_says_the_numbers_are_not_validated_when_no_run_published() -> None:
    status = _status(0, 6, False)
    console = Console(width=140, record=True, color_system=None)
    console.print(render(status, now=AT))
    screen = console.export_text()
    assert "NOT VALIDATED: 0 of 6 runs published" in screen
    assert "values NOT validated" in status_line(status)
    assert validation_text(_status(0, 6, None)) == "no validated values yet (0 of 6 runs published)"
    assert validation_text(_status(2, 1, True)) == "validated: published up to 2026-03-01 05:00 (2 of 3 runs published)"


def test_firing_alerts_are_listed_pages_first_without_the_labels_every_alert_carries() -> None:
    common = {"business": "shop", "alert_class": "kpi", "goal": "loyal", "perspective": "customer"}
    firing = [
        NS(name="AlignwatchKPIBelowTarget", severity="ticket", labels={**common, "severity": "ticket", "kpi": "csat"}),
        NS(name="AlignwatchKPIErrorBudgetBurn", severity="page",
           labels={**common, "severity": "page", "kpi": "human_reachability", "burn_window": "7d"}),
    ]  # fmt: skip
    assert firing_lines(firing) == [
        "page AlignwatchKPIErrorBudgetBurn (burn_window=7d, kpi=human_reachability)",
        "ticket AlignwatchKPIBelowTarget (kpi=csat)",
    ]
    status = _status(1, 0, True)
    status.firing = firing_lines(firing)
    console = Console(width=160, record=True, color_system=None)
    console.print(render(status, now=AT))
    screen = console.export_text()
    assert screen.index("page AlignwatchKPIErrorBudgetBurn") < screen.index("ticket AlignwatchKPIBelowTarget")
    assert "alerts: page AlignwatchKPIErrorBudgetBurn (burn_window=7d, kpi=human_reachability)" in status_line(status)
