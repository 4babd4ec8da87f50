"""Generated rules pass ``promtool check rules`` and ``promtool test rules``.

Every alert has a firing and a non-firing case asserting its labels and annotations
(runbook_url included). Burn-rate alerts fire within the detection time the SRE workbook
gives for their window and factor (``factor × budget × long window`` for a KPI that
collapses completely) and stay silent on a low-volume blip and on a short one.
"""

from __future__ import annotations

import math
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from metrics.rules import BURN_WINDOWS, RUNBOOKS, RuleInputs, alert_names, render_rules, rule_files

from .rules_fixtures import rule_inputs

B = "test"


def _render_value(template: str, labels: dict[str, str], value: float | None) -> str:
    """Prometheus's template functions used by the generated annotations."""

    def replace(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr.startswith("$labels."):
            return labels[expr.removeprefix("$labels.")]
        assert value is not None, template
        if expr == "$value":
            return f"{value:g}"
        if expr == "$value | humanizePercentage":
            return f"{value * 100:.4g}%"
        raise AssertionError(f"unexpected template {expr}")

    return re.sub(r"\{\{(.*?)\}\}", replace, template)


def _rule(inputs: RuleInputs, alert: str, **labels: str) -> dict[str, Any]:
    for content in render_rules(inputs).values():
        for group in content["groups"]:
            for rule in group["rules"]:
                if rule.get("alert") == alert and all(rule["labels"].get(k) == v for k, v in labels.items()):
                    return rule
    raise AssertionError(f"no rule {alert} {labels}")


def _expected(inputs: RuleInputs, alert: str, series_labels: dict[str, str], value: float | None = None, **select: str) -> dict[str, Any]:
    rule = _rule(inputs, alert, **select)
    labels = {**series_labels, **rule["labels"]}
    return {
        "exp_labels": labels,
        "exp_annotations": {key: _render_value(text, labels, value) for key, text in rule["annotations"].items()},
    }


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{name}{{{inner}}}", "values": values}


def _run_promtool(
    promtool: str, tmp_path: Path, inputs: RuleInputs, tests: list[dict[str, Any]], evaluation_interval: str = "1m"
) -> None:
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = []
    for name, text in rule_files(inputs).items():
        (tmp_path / name).write_text(text)
        files.append(name)
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": files, "evaluation_interval": evaluation_interval, "tests": tests}, sort_keys=False)
    )
    result = subprocess.run([promtool, "test", "rules", "tests.yml"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]


@pytest.fixture(scope="module")
def inputs() -> RuleInputs:
    return rule_inputs(business=B)


def test_generated_rules_pass_promtool_check_rules(promtool: str, inputs: RuleInputs, tmp_path: Path) -> None:
    paths = []
    for name, text in rule_files(inputs).items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    result = subprocess.run([promtool, "check", "rules", *paths], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_severity_chain_summary_and_an_existing_runbook_section(inputs: RuleInputs) -> None:
    runbooks = (Path(__file__).resolve().parents[2] / "docs" / "runbooks.md").read_text()
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in runbooks.splitlines()
        if line.startswith("## ")
    }
    for content in render_rules(inputs).values():
        for group in content["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    assert re.fullmatch(r"[a-z_]+:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]
                    continue
                assert rule["labels"]["severity"] in {"page", "ticket"}
                assert rule["labels"]["alert_class"] in {"kpi", "alignment", "pipeline"}
                summary = rule["annotations"]["summary"]
                assert "→" in summary and "perspective" in summary, summary
                url = rule["annotations"]["runbook_url"]
                assert url.startswith("docs/runbooks.md#")
                assert url.split("#", 1)[1] in anchors, url
    assert set(RUNBOOKS) == set(alert_names(inputs))


def _hours(n: float) -> int:
    return int(n * 60)


# promtool's "AxN" expands to N + 1 samples: "1x{n - 1}" is n samples, the next segment
# starts exactly at n intervals.


def test_kpi_burn_rate_alerts_fire_within_detection_time_and_ignore_blips(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    names = inputs.names
    kpi = next(k for k in inputs.kpis if k.id == "csat")
    key = {"business": B, "kpi": kpi.id, "window": "hour"}
    chain = {"business": B, "kpi": kpi.id}
    budget = inputs.budget
    fast, slow, ticket = BURN_WINDOWS

    def alerts(*windows: str) -> list[dict[str, Any]]:
        return [_expected(inputs, "AlignwatchKPIBelowTarget", chain, kpi="csat", burn_window=w) for w in windows]

    def at(minute: float, *windows: str) -> dict[str, Any]:
        return {"eval_time": f"{int(minute)}m", "alertname": "AlignwatchKPIBelowTarget", "exp_alerts": alerts(*windows)}

    # evaluated every minute: 12 h at target, then a complete collapse (attainment 0) at
    # 200 events an hour; the 1 h / 5 m page fires within factor × budget × 1 h (and with
    # only 12 h of history the collapse is already 1.5 % of the 3 d window: a ticket too)
    good = _hours(12)
    detection = fast.factor * budget * fast.hours * 60
    minute_tests: list[dict[str, Any]] = [
        {
            "interval": "1m",
            "input_series": [
                _series(names.kpi_attainment, key, f"1x{good - 1} 0x30"),
                _series(names.kpi_events, key, f"200x{good + 30}"),
            ],
            "alert_rule_test": [at(good + math.floor(detection) - 2), at(good + math.ceil(detection) + 2, "1h", "3d")],
        },
        # low volume: an hour at attainment 0 behind 5 events (min_events 20) alerts no one
        {
            "interval": "1m",
            "input_series": [
                _series(names.kpi_attainment, key, "1x359 0x59 1x60"),
                _series(names.kpi_events, key, "5x480"),
            ],
            "alert_rule_test": [at(360 + minute) for minute in (10, 30, 60, 90)],
        },
        # a short blip at full volume (5 minutes at 0) stays below every threshold
        {
            "interval": "1m",
            "input_series": [
                _series(names.kpi_attainment, key, "1x359 0x4 1x60"),
                _series(names.kpi_events, key, "200x425"),
            ],
            "alert_rule_test": [at(360 + minute) for minute in (3, 5, 10, 30)],
        },
    ]
    _run_promtool(promtool, tmp_path / "minute", inputs, minute_tests, evaluation_interval="1m")

    # evaluated every 5 minutes: 3 days at target, then a lasting shortfall
    good = _hours(72)
    # attainment 0.9 (burn 10): the 6 h page after 6 h × 6 × budget / 0.1, then the 3 d ticket
    # after 3 d × 1 × budget / 0.1; the 1 h page never (0.1 < 14.4 × budget)
    ticket_at = ticket.factor * budget * ticket.hours * 60 / 0.1
    page_at = slow.factor * budget * slow.hours * 60 / 0.1
    partial = {
        "interval": "15m",
        "input_series": [
            _series(names.kpi_attainment, key, f"1x{good // 15 - 1} 0.9x{_hours(8) // 15}"),
            _series(names.kpi_events, key, f"200x{(good + _hours(8)) // 15}"),
        ],
        "alert_rule_test": [
            at(good + page_at - 15),
            at(good + page_at + 15, "6h"),
            at(good + ticket_at - 15, "6h"),
            at(good + ticket_at + 15, "6h", "3d"),
        ],
    }
    # attainment 0.97 (burn 3): only the ticket, after 3 d × 1 / 3
    ticket_at = ticket.factor * budget * ticket.hours * 60 / 0.03
    slight = {
        "interval": "15m",
        "input_series": [
            _series(names.kpi_attainment, key, f"1x{good // 15 - 1} 0.97x{_hours(30) // 15}"),
            _series(names.kpi_events, key, f"200x{(good + _hours(30)) // 15}"),
        ],
        "alert_rule_test": [at(good + ticket_at - 30), at(good + ticket_at + 30, "3d")],
    }
    _run_promtool(promtool, tmp_path / "five", inputs, [partial, slight], evaluation_interval="5m")


def test_every_other_alert_fires_on_its_condition_and_stays_silent_otherwise(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    n = inputs.names
    th = inputs.thresholds
    biz = {"business": B}
    csat = {"business": B, "kpi": "csat"}
    automation = inputs.automations[0]
    cases: list[tuple[str, list[dict[str, str]], list[dict[str, str]], str, list[dict[str, Any]]]] = []

    # (alert, firing input, silent input, eval time, expected alerts when firing)
    drop = th["regression_drop"]
    cases.append((
        "AlignwatchKPIRegression",
        [_series(n.regression, {**csat, "window": "7d"}, f"{drop + 0.1}x120")],
        [_series(n.regression, {**csat, "window": "7d"}, f"{drop / 2}x120")],
        "90m",
        [_expected(inputs, "AlignwatchKPIRegression", csat, drop + 0.1, kpi="csat")],
    ))
    points = th["sai_drop_points"]
    cases.append((
        "AlignwatchSAIDrop",
        [_series(n.sai, {**biz, "window": "7d"}, f"80x60 {80 - points - 5}x60")],
        [_series(n.sai, {**biz, "window": "7d"}, f"80x60 {80 - points + 5}x60")],
        "100m",
        [_expected(inputs, "AlignwatchSAIDrop", biz, points + 5)],
    ))
    pitfall = {"business": B, "automation": automation.id, "pitfall": "feature_overload"}
    cases.append((
        "AlignwatchPitfallDetected",
        [_series(n.pitfall, {**pitfall, "window": "7d"}, "1x60")],
        [_series(n.pitfall, {**pitfall, "window": "7d"}, "0x60")],
        "30m",
        [_expected(inputs, "AlignwatchPitfallDetected", pitfall, automation=automation.id)],
    ))
    floor = th["human_reachability_floor"]
    cases.append((
        "AlignwatchHumanReachabilityBelowFloor",
        [_series(n.human_reachability, {**biz, "window": "hour"}, "0.5x30"),
         _series(n.human_reachability_events, {**biz, "window": "hour"}, "12x30")],
        [_series(n.human_reachability, {**biz, "window": "hour"}, f"{(1 + floor) / 2}x30"),
         _series(n.human_reachability_events, {**biz, "window": "hour"}, "12x30")],
        "5m",
        [_expected(inputs, "AlignwatchHumanReachabilityBelowFloor", biz, 0.5)],
    ))
    cases.append((
        "AlignwatchStrategicStaleness",
        [_series(n.staleness, {**biz, "window": "7d"}, "1x120")],
        [_series(n.staleness, {**biz, "window": "7d"}, "0x120")],
        "90m",
        [_expected(inputs, "AlignwatchStrategicStaleness", biz)],
    ))
    stale_after = 2 * inputs.continuous_interval_s
    eval_s = stale_after + 600
    cases.append((
        "AlignwatchMetricsStale",
        [_series(n.snapshot_timestamp, biz, "0x60")],
        [_series(n.snapshot_timestamp, biz, "0+60x60")],  # published every minute
        f"{eval_s // 60}m",
        [_expected(inputs, "AlignwatchMetricsStale", biz, eval_s)],
    ))
    cases.append((
        "AlignwatchValidationFailing",
        [_series(n.validation_success, biz, "1x10 0x20")],
        [_series(n.validation_success, biz, "1x30")],
        "20m",
        [_expected(inputs, "AlignwatchValidationFailing", biz)],
    ))
    lag = {"topic": "alignwatch.events", "partition": "0"}
    cases.append((
        "AlignwatchConsumerLagGrowing",
        [_series(n.consumer_lag, {**lag, "job": n.consumer_job}, "1000+100x60")],
        [_series(n.consumer_lag, {**lag, "job": n.consumer_job}, "5000x60")],
        "40m",
        [_expected(inputs, "AlignwatchConsumerLagGrowing", {"topic": lag["topic"]}, 5000)],
    ))
    cases.append((
        "AlignwatchDeadLettersGrowing",
        [_series(n.rejected, {"reason": "invalid_payload", "job": n.consumer_job}, "0+5x90")],
        [_series(n.rejected, {"reason": "invalid_payload", "job": n.consumer_job}, "0+0x90")],
        "60m",
        [_expected(inputs, "AlignwatchDeadLettersGrowing", {"reason": "invalid_payload"}, 150)],
    ))
    cases.append((
        "AlignwatchExporterAbsent",
        [_series("up", {"job": n.exporter_job, "instance": "x"}, "0x30")],
        [_series("up", {"job": n.exporter_job, "instance": "x"}, "1x30")],
        "20m",
        [_expected(inputs, "AlignwatchExporterAbsent", {})],
    ))

    covered = {case[0] for case in cases} | {"AlignwatchKPIBelowTarget", "AlignwatchNightlyRecomputationStale"}
    assert covered == set(alert_names(inputs)), "every alert needs a firing and a silent case"
    tests = []
    for alert, firing, silent, at, expected in cases:
        tests.append({"interval": "1m", "input_series": firing,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": expected}]})
        tests.append({"interval": "1m", "input_series": silent,
                      "alert_rule_test": [{"eval_time": at, "alertname": alert, "exp_alerts": []}]})
    _run_promtool(promtool, tmp_path, inputs, tests)


def test_nightly_staleness_fires_26_hours_after_the_last_nightly_or_after_26_hours_without_any(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    n = inputs.names
    biz = {"business": B}
    hours = inputs.nightly_max_age_s // 3600
    nightly = {**biz, "kind": "nightly", "status": "published"}
    steps = (hours + 3) * 12  # 5-minute samples

    def at(minute: int, *expected: dict[str, Any]) -> dict[str, Any]:
        return {"eval_time": f"{minute}m", "alertname": "AlignwatchNightlyRecomputationStale", "exp_alerts": list(expected)}

    def rule(index: int) -> dict[str, Any]:
        rules = [r for c in render_rules(inputs).values() for g in c["groups"] for r in g["rules"]
                 if r.get("alert") == "AlignwatchNightlyRecomputationStale"]
        labels = {**biz, **rules[index]["labels"]}
        return {"exp_labels": labels, "exp_annotations": rules[index]["annotations"]}

    last_nightly = {**rule(0)}
    tests = [
        # a nightly run published at 0 and never again: stale once 26 h (+ 30 m) have passed
        {"interval": "5m", "input_series": [_series(n.snapshot_timestamp, biz, f"0+300x{steps}"),
                                            _series(n.last_run, nightly, f"0x{steps}")],
         "alert_rule_test": [at(hours * 60 + 15), at(hours * 60 + 45, last_nightly)]},
        # nightly runs every 24 h: never stale
        {"interval": "5m", "input_series": [_series(n.snapshot_timestamp, biz, f"0+300x{steps}"),
                                            _series(n.last_run, nightly, f"0x287 86400x{steps - 288}")],
         "alert_rule_test": [at(hours * 60 + 45), at((hours + 2) * 60)]},
        # continuous runs publish but no nightly ever did: reminded after 26 h, not before
        {"interval": "5m", "input_series": [_series(n.snapshot_timestamp, biz, f"0+300x{steps}")],
         "alert_rule_test": [at(hours * 60 - 30), at(hours * 60 + 15, rule(1))]},
    ]
    last_nightly["exp_annotations"] = {
        **last_nightly["exp_annotations"],
        "description": last_nightly["exp_annotations"]["description"].replace("{{ $value }}", f"{hours * 3600 + 45 * 60}"),
    }
    _run_promtool(promtool, tmp_path, inputs, tests, evaluation_interval="5m")


def test_every_series_a_rule_reads_is_exported_or_recorded(inputs: RuleInputs) -> None:
    from metrics.catalogue import CATALOGUE
    from metrics.exporter import EXPORTER_SERIES
    from metrics.exporter import served_name
    from stream.health import INSTRUMENTS

    known = {served_name(decl)[0] for decl in CATALOGUE.values()} | {s.name for s in EXPORTER_SERIES}
    known |= {spec.exposed_name for spec in INSTRUMENTS} | {"up"}
    recorded: set[str] = set()
    read: set[str] = set()
    for content in render_rules(inputs).values():
        for group in content["groups"]:
            for rule in group["rules"]:
                if "record" in rule:
                    recorded.add(rule["record"])
                expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", rule["expr"])
                read |= {name for name in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr) if "alignwatch" in name or name == "up"}
    assert not sorted(read - known - recorded), "rules read series nobody exports or records"
