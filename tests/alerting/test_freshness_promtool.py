"""``AlignwatchMetricsStale`` follows the continuous runs' heartbeats, judged by ``promtool test rules``.

The continuous DAG runs every 5 minutes and publishes only when an hour closes; in between
its runs are skipped, and each run, published or skipped, leaves a heartbeat. The stale
alert must stay silent through such a steady run, and page when the heartbeats stop (the
pipeline stopped) or when nothing is published for more than an hour (the data is old).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignwatch.metrics.exporter import HEARTBEAT
from alignwatch.metrics.rules import RuleInputs

from .rules_fixtures import rule_inputs
from .test_rules_promtool import B, _expected, _run_promtool, _series

STEP_S = 300  # the continuous interval: one run every 5 minutes
PUBLISH_S = 30  # a publishing run ends 30 s after the hour


def _steady(hours: int, *, beats_until_s: int | None = None, publishes: bool = True) -> list[dict[str, str]]:
    """The exporter's series for ``hours`` of 5-minute continuous runs: published at each
    hour (or failing validation there, without ``publishes``), skipped in between; every
    run stops after ``beats_until_s`` (the exporter keeps serving the last heartbeats)."""
    snapshot, published, skipped, failed = [], [], [], []
    last = {"published": PUBLISH_S, "skipped": None, "failed_validation": None}
    for step in range(hours * 3600 // STEP_S + 1):
        now = step * STEP_S
        running = beats_until_s is None or now <= beats_until_s
        if running and step > 0:
            if now % 3600 == 0:
                last["published" if publishes else "failed_validation"] = now + PUBLISH_S
            else:
                last["skipped"] = now + 5
        snapshot.append(last["published"])
        published.append(last["published"])
        skipped.append(last["skipped"])
        failed.append(last["failed_validation"])

    def values(points: list[int | None]) -> str:
        return " ".join("_" if point is None else str(point) for point in points)

    beat = {"business": B, "kind": "continuous"}
    series = [
        _series("alignwatch_snapshot_timestamp_seconds", {"business": B}, values(snapshot)),
        _series(HEARTBEAT.name, {**beat, "outcome": "published"}, values(published)),
        _series(HEARTBEAT.name, {**beat, "outcome": "skipped"}, values(skipped)),
    ]
    if not publishes:
        series.append(_series(HEARTBEAT.name, {**beat, "outcome": "failed_validation"}, values(failed)))
    return series


@pytest.fixture(scope="module")
def inputs() -> RuleInputs:
    return rule_inputs(business=B)


def _at(minute: int, *expected: dict[str, Any]) -> dict[str, Any]:
    return {"eval_time": f"{minute}m", "alertname": "AlignwatchMetricsStale", "exp_alerts": list(expected)}


def test_the_stale_alert_stays_silent_through_a_steady_two_hour_run_that_publishes_hourly_and_skips_in_between(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    # the snapshot is up to 60 min 30 s old before each publication, far beyond the old 600 s threshold
    tests = [{"interval": "5m", "input_series": _steady(2), "alert_rule_test": [_at(m) for m in range(0, 121, 5)]}]
    _run_promtool(promtool, tmp_path, inputs, tests, evaluation_interval="5m")


def test_the_stale_alert_pages_when_the_heartbeats_stop(promtool: str, inputs: RuleInputs, tmp_path: Path) -> None:
    # the last run is the skipped one at 65 min (heartbeat 3905 s): 900 s later the age is
    # above the limit (pending at 85 min), firing 5 minutes on; at 100 min it is 6000 - 3905 s old
    series = _steady(2, beats_until_s=65 * 60)
    tests = [{"interval": "5m", "input_series": series, "alert_rule_test": [
        _at(65), _at(80), _at(85),
        _at(100, _expected(inputs, "AlignwatchMetricsStale", {"business": B}, 6000 - 3905)),
    ]}]
    _run_promtool(promtool, tmp_path, inputs, tests, evaluation_interval="5m")


def test_the_stale_alert_pages_when_runs_go_on_but_nothing_is_published_for_an_hour_and_a_quarter(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    # the 60-minute run fails validation: the snapshot published at 30 s is 4500 s old at
    # 75.5 min (pending at 80 min, firing at 85); at 90 min it is 5400 - 30 s old
    series = _steady(2, publishes=False)
    tests = [{"interval": "5m", "input_series": series, "alert_rule_test": [
        _at(60), _at(75), _at(80),
        _at(90, _expected(inputs, "AlignwatchMetricsStale", {"business": B}, 5400 - PUBLISH_S)),
    ]}]
    _run_promtool(promtool, tmp_path, inputs, tests, evaluation_interval="5m")
