"""The out-of-the-box chain on a real log: import → ingest → metrics (compute, validate,
publish) with the example strategy, and the published metrics agree with the log."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from alignwatch.cli import main
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import metric_values
from alignwatch.stream.importers.mapping import load_mapping
from alignwatch.stream.importers.xes import read_xes

COMPANY = "company_business_process_log.xes.gz"


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    assert exit_info.value.code == 0, captured.err
    return captured.out


def _day_values(engine: sa.Engine, metric: str, labels_key: str) -> dict[dt.date, float | None]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(metric_values.c.window_start, metric_values.c.value).where(
                metric_values.c.metric_id == metric,
                metric_values.c.labels_key == labels_key,
                metric_values.c.window == "day",
            )
        ).all()
    return {start.astimezone(ZONE).date(): value for start, value in rows}


ZONE = ZoneInfo("Europe/Vienna")


def test_company_log_imported_ingested_and_computed_gives_metrics_that_match_the_log(
    tmp_path: Path, eventlogs: Path, mappings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from alignwatch.pipeline import run_interval

    store = f"sqlite:///{tmp_path / 'company.db'}"
    engine = connect(store)
    upgrade(engine)
    jsonl = tmp_path / "company.jsonl"
    _cli(capsys, "import", "xes", str(eventlogs / COMPANY), "--mapping", str(mappings / "company_bot.yaml"),
         "--strategy", str(mappings.parent / "company_bot.yaml"), "--output", str(jsonl), "--quiet")
    assert "stored 80, duplicates 0, quarantined 0" in _cli(capsys, "ingest", str(jsonl), "--store", store)

    strategy = load_strategy(mappings.parent / "company_bot.yaml")
    # the log's whole period: first application 2022-05-12, last decision 2022-06-22
    start = dt.datetime(2022, 5, 12, tzinfo=ZONE)
    end = dt.datetime(2022, 6, 23, tzinfo=ZONE)
    outcome = run_interval(engine, strategy, start=start, end=end, kind="manual", granularity="day")
    assert outcome.status == "published", outcome.detail

    # what the log says, per local day of each case's decision (its last step)
    emitted, _ = read_xes(eventlogs / COMPANY, load_mapping(mappings / "company_bot.yaml"))
    executions = [e for e in emitted if e.type == "process.execution"]
    per_day: dict[dt.date, list[dict]] = {}
    for execution in executions:
        per_day.setdefault(execution.time.astimezone(ZONE).date(), []).append(execution.data)

    handled = _day_values(engine, "kpi_value", "kpi=loans_handled")
    assert {day: value for day, value in handled.items() if value} == {
        day: float(len(cases)) for day, cases in per_day.items()
    }
    errors = _day_values(engine, "process_error_rate", "process=credit_process")
    expected_errors = {
        day: sum(1 for case in cases if case["errors"] > 0) / len(cases) for day, cases in per_day.items()
    }
    assert {day: errors[day] for day in per_day} == pytest.approx(expected_errors)
    assert sum(1 for case in (c for cases in per_day.values() for c in cases) if case["errors"]) == 2
    automation = _day_values(engine, "process_automation_rate", "process=credit_process")
    assert {day: automation[day] for day in per_day} == {day: 1.0 for day in per_day}
    engine.dispose()


def test_the_cli_chain_import_compute_scorecard_reports_the_log_s_kpis(
    tmp_path: Path, eventlogs: Path, mappings: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    store = f"sqlite:///{tmp_path / 'company.db'}"
    strategy = str(mappings.parent / "company_bot.yaml")
    _cli(capsys, "db", "upgrade", "--store", store)
    _cli(capsys, "import", "xes", str(eventlogs / COMPANY), "--mapping", str(mappings / "company_bot.yaml"),
         "--strategy", strategy, "--store", store, "--quiet")
    _cli(capsys, "metrics", "compute", "--from", "2022-06-22", "--to", "2022-06-23", "--granularity", "day",
         "--store", store, "--strategy", strategy)
    card = json.loads(_cli(capsys, "scorecard", "--at", "2022-06-23", "--window", "28d", "--json",
                           "--store", store, "--strategy", strategy))
    kpis = dict(card["kpis"]) if isinstance(card["kpis"], list) else card["kpis"]

    window_start = dt.datetime(2022, 5, 26, tzinfo=dt.UTC)
    window_end = dt.datetime(2022, 6, 23, tzinfo=dt.UTC)
    emitted, _ = read_xes(eventlogs / COMPANY, load_mapping(mappings / "company_bot.yaml"))
    decided = [
        e.data for e in emitted if e.type == "process.execution" and window_start <= e.time < window_end
    ]
    assert decided, "the window holds decisions of the log"
    assert kpis["credit_error_rate"]["events"] == len(decided)
    assert kpis["credit_error_rate"]["value"] == pytest.approx(
        sum(1 for case in decided if case["errors"] > 0) / len(decided)
    )
    assert kpis["credit_cycle_time"]["value"] == pytest.approx(
        sum(case["cycle_time_s"] for case in decided) / len(decided), rel=1e-6
    )
    assert kpis["credit_automation_rate"]["value"] == 1.0
    assert card["sai"] is not None and 0 <= card["sai"] <= 100
