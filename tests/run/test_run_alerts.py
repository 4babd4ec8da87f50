"""``alignwatch run`` shows the alerts Prometheus would fire from the same rules, and stamps
its runs on the simulated clock.

The ecommerce demo's planted support bot stops letting customers reach a human: its live
view lists the human-reachability error-budget page. That the other scenarios, and every
scenario without its planted change, page nobody is shown on the same evaluation by
``tests/alerting/test_alert_scenarios.py``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import sys
from pathlib import Path

import pytest
from helpers_run import watch_run

PAGE = "page AlignwatchKPIErrorBudgetBurn (burn_window=7d, kpi=human_reachability)"


def _demo(scenario: str, duration_s: int, var: Path) -> str:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALIGNWATCH_")}
    env["ALIGNWATCH_EXPORTER_PORT"] = "0"
    command = [str(Path(sys.executable).with_name("alignwatch")), "run", "--scenario", scenario,
               "--duration", str(duration_s), "--var", str(var)]  # fmt: skip
    run = watch_run(command, env)
    assert run.returncode == 0, run.output[-3000:]
    return run.output


def _alert_lines(output: str) -> list[list[str]]:
    """Every ``alerts: ...`` line the run printed, as its list of alerts."""
    return [
        re.split(r", (?=(?:page|ticket) )", line.removeprefix("alerts: "))
        for line in output.splitlines()
        if line.startswith("alerts: ")
    ]


@pytest.mark.integration
@pytest.mark.solo
def test_the_ecommerce_demo_lists_the_human_reachability_page_first_and_stamps_its_runs_on_the_simulated_clock(
    tmp_path: Path,
) -> None:
    var = tmp_path / "var"
    output = _demo("ecommerce", 60, var)
    alerts = _alert_lines(output)
    assert any(PAGE in found for found in alerts), output[-4000:]
    firing = next(found for found in alerts if PAGE in found)
    assert firing[0] == PAGE  # pages first
    lines = output.strip().splitlines()
    final = next(lines[i - 1] for i, line in enumerate(lines) if line.startswith("report written to"))  # the last status line
    assert "values validated" in final and f"alerts: {PAGE}" in final, final

    with sqlite3.connect(var / "demo-ecommerce.db") as db:
        runs = db.execute("select finished_at, interval_end from pipeline_runs where status = 'published'").fetchall()
        monitored = db.execute(
            "select value from metric_values where metric_id = 'checklist_item_passed' and window = 'hour' "
            "and labels_key like '%continuous_monitoring%' order by window_end desc limit 1"
        ).fetchone()
    assert len(runs) >= 2
    # the simulated story ends at today's midnight (UTC): runs stamped on the wall clock would end after it
    story_end = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    for finished, window_end in runs:
        finished_at, ended = dt.datetime.fromisoformat(finished), dt.datetime.fromisoformat(window_end)
        assert ended <= finished_at <= story_end, (finished, window_end)
    # the runs published in the two (simulated) days before the newest window count
    assert monitored == (1.0,)
