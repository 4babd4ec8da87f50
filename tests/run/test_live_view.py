"""The live view and the supervisor's pure helpers."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from rich.console import Console

from alignwatch.live import Cycle, Status, render, status_line
from alignwatch.metrics.card import HumanBelowFloor, Scorecard, StrategicStaleness
from alignwatch.metrics.formulas import HumanReachability
from alignwatch.runner import floor_time
from alignwatch.summary import summarise_scorecard


def _status(scorecard: Scorecard) -> Status:
    summary = summarise_scorecard(scorecard)
    status = Status(business="Corner Bakery", scenario="bakery", started=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    status.sai, status.indices, status.perspectives = summary.sai, summary.indices, summary.perspectives
    status.pitfalls, status.alerts = summary.pitfalls, summary.alerts
    status.stored, status.events_per_s, status.lag = 1234, 250.0, 7
    status.metrics_url = "http://127.0.0.1:9464/metrics"
    status.cycles = [Cycle(1, "published", dt.datetime(2026, 2, 2, tzinfo=dt.UTC), 1.5),
                     Cycle(2, "failed_validation", dt.datetime(2026, 2, 3, tzinfo=dt.UTC), 1.2)]
    return status


def test_scorecard_summary_keeps_sai_indices_perspectives_and_names_each_pitfall_with_its_automation(sample_scorecard):
    summary = summarise_scorecard(sample_scorecard)
    assert summary.sai == 63.27
    assert summary.indices == {"cjai": 0.5, "spar": 0.75, "aac": 0.41, "sdur": 0.6, "ssai": 0.33}
    assert summary.perspectives == sample_scorecard.perspectives
    assert summary.pitfalls == ["feature_overload (shop_suite)", "overproduction (oven_scheduler)"]
    assert summary.alerts == ["kpi_below_target: KPI sell_through at 0.62 against target 0.9"]


def test_human_reachability_below_its_floor_is_an_alert_said_once(sample_scorecard):
    below = HumanBelowFloor(0.3, 0.9, "30% of customers asking for a human reached one within 300 s (floor 90%)")
    card = replace(sample_scorecard, drift=(*sample_scorecard.drift, below),
                   human_reachability=HumanReachability(value=0.3, floor=0.9, sla_s=300, below_floor=True))
    alerts = summarise_scorecard(card).alerts
    assert [a for a in alerts if "human" in a] == [
        "human_reachability_below_floor: 30% of customers asking for a human reached one within 300 s (floor 90%)"]


def test_a_signal_that_is_not_active_is_not_an_alert(sample_scorecard):
    calm = StrategicStaleness(False, 72.0, (0.8, 0.81, 0.82, 0.83), 60, 3, "outcome KPIs not falling while alignment is high")
    assert summarise_scorecard(replace(sample_scorecard, drift=(calm,))).alerts == []


def test_live_view_shows_rate_lag_sai_indices_pitfalls_and_the_metrics_url(sample_scorecard):
    console = Console(width=140, record=True, color_system=None)
    console.print(render(_status(sample_scorecard), now=dt.datetime(2026, 3, 1, 0, 1, tzinfo=dt.UTC)))
    screen = console.export_text()
    for text in ("250", "7 messages", "63.3", "0.75", "71.5", "overproduction (oven_scheduler)",
                 "http://127.0.0.1:9464/metrics", "1 published of 2 cycles"):
        assert text in screen, text


def test_status_line_counts_published_cycles_only(sample_scorecard):
    line = status_line(_status(sample_scorecard))
    assert "cycles 1/2 published" in line and "SAI 63.3" in line and "overproduction" in line


def test_aggregation_windows_end_on_whole_hours():
    when = dt.datetime(2026, 3, 1, 13, 47, 12, tzinfo=dt.UTC)
    assert floor_time(when, dt.timedelta(hours=1)) == dt.datetime(2026, 3, 1, 13, tzinfo=dt.UTC)
    assert floor_time(when, dt.timedelta(days=1)) == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_a_crashed_component_fails_the_run_with_its_reason_and_stops_the_others(tmp_path):
    from alignwatch.config import Settings
    from alignwatch.runner import RunOptions, Supervisor

    lines: list[str] = []
    supervisor = Supervisor(Settings(), None, RunOptions(var_dir=tmp_path), emit=lines.append)

    def consume() -> None:
        raise OSError("connection reset by broker")

    supervisor._thread("consumer", consume)
    assert supervisor.stop_event.wait(5)
    assert supervisor.failures == ["consumer: OSError: connection reset by broker"]
    assert supervisor.status.components["consumer"] == "failed: OSError: connection reset by broker"
    assert lines == ["error: consumer failed: OSError: connection reset by broker"]


def test_a_consumer_left_without_partitions_is_shown_on_screen_and_in_the_status_line_with_its_group(sample_scorecard):
    status = _status(sample_scorecard)
    status.bootstrap, status.group = "127.0.0.1:9092", "alignwatch-demo-20260301T120000-42"
    status.lag = None
    status.consumer_waiting = ("consumer group 'alignwatch' on 127.0.0.1:9092: no partition assigned 10 s after "
                               "joining began (session timeout 10 s)")
    console = Console(width=300, record=True, color_system=None)
    console.print(render(status, now=dt.datetime(2026, 3, 1, 0, 1, tzinfo=dt.UTC)))
    screen = console.export_text()
    assert "consumer group 'alignwatch' on 127.0.0.1:9092: no partition assigned 10 s" in screen
    assert "127.0.0.1:9092 · group alignwatch-demo-20260301T120000-42" in screen
    line = status_line(status)
    assert "consumer: consumer group 'alignwatch' on 127.0.0.1:9092: no partition assigned" in line
