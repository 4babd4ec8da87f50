"""Generated rules pass ``promtool check rules`` and ``promtool test rules``.

Every alert has a firing and a non-firing case asserting its labels and annotations
(runbook_url included). Error-budget alerts page on a fast burn backed by evidence, stay
silent on a burn with too little evidence, and ticket on a slow burn over the KPI's period
while the last 7 days still burn; a KPI on another measure is judged over its period only.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from alignwatch.metrics.rules import RUNBOOKS, RuleInputs, alert_names, render_rules, rule_files

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
        if expr == '$value | printf "%.1f"':
            return f"{value:.1f}"
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


def test_kpi_error_budget_alerts_page_on_a_fast_burn_with_evidence_and_ticket_on_a_slow_one(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    n = inputs.names
    reach = {"business": B, "kpi": "reach"}  # human reachability, target 0.95: budget 5 % of escalations

    def series(metric: str, window: str, values: str) -> dict[str, str]:
        return _series(metric, {**reach, "window": window}, values)

    def burn(window: str, rate: float, evidence: float, minutes: int = 120) -> list[dict[str, str]]:
        return [series(n.metric("kpi_burn_rate"), window, f"{rate}x{minutes}"), series(n.metric("kpi_burn_evidence"), window, f"{evidence}x{minutes}")]

    def expect(window: str, value: float) -> dict[str, Any]:
        return _expected(inputs, "AlignwatchKPIErrorBudgetBurn", reach, value, kpi="reach", burn_window=window)

    def at(minute: int, *alerts: dict[str, Any]) -> dict[str, Any]:
        return {"eval_time": f"{minute}m", "alertname": "AlignwatchKPIErrorBudgetBurn", "exp_alerts": list(alerts)}

    tests = [
        # the ecommerce collapse over 7 days: 11 of 17 escalations unreached, burn (11/17)/0.05 = 12.9,
        # evidence 9.7: pending for its 2 minutes, then a page
        {"interval": "1m", "input_series": burn("7d", 12.9, 9.7), "alert_rule_test": [at(1), at(3, expect("7d", 12.9))]},
        # the same burn on 2 escalations (both unreached: evidence -log10 0.05^2 = 2.6): no page, too little evidence
        {"interval": "1m", "input_series": burn("7d", 20, 2.6), "alert_rule_test": [at(3), at(60)]},
        # a busy hour where every second event misses: burn 10 < 14.4 in the hour window: no page
        {"interval": "1m", "input_series": burn("hour", 10, 40), "alert_rule_test": [at(30)]},
        # an hour of total collapse on enough events: burn 20, evidence 26: page on the hour window
        {"interval": "1m", "input_series": burn("hour", 20, 26), "alert_rule_test": [at(3, expect("hour", 20))]},
        # a slow burn over the period (1.5x, evidence 2.5) while the last 7 days still burn (1.2x): a ticket after 1 h
        {"interval": "1m", "input_series": [*burn("28d", 1.5, 2.5), *burn("7d", 1.2, 0.4)],
         "alert_rule_test": [at(50), at(65, expect("28d", 1.5))]},
        # the same period burn after a recovery (the last 7 days within budget): no ticket
        {"interval": "1m", "input_series": [*burn("28d", 1.5, 2.5), *burn("7d", 0.5, 0)], "alert_rule_test": [at(65)]},
    ]
    csat = {"business": B, "kpi": "csat"}  # a mean: judged below target over its 28-day period, ticket only

    def below(minute: int, *alerts: dict[str, Any]) -> dict[str, Any]:
        return {"eval_time": f"{minute}m", "alertname": "AlignwatchKPIBelowTarget", "exp_alerts": list(alerts)}

    expected = _expected(inputs, "AlignwatchKPIBelowTarget", csat, 0.9, kpi="csat")
    tests += [
        {"interval": "1m", "input_series": [_series(n.metric("kpi_attainment"), {**csat, "window": "28d"}, "0.9x90"),
                                            _series(n.metric("kpi_events"), {**csat, "window": "28d"}, "25x90")],
         "alert_rule_test": [below(50), below(65, expected)]},
        # too few events behind the value (min_events 20), or on target: nothing
        {"interval": "1m", "input_series": [_series(n.metric("kpi_attainment"), {**csat, "window": "28d"}, "0.9x90"),
                                            _series(n.metric("kpi_events"), {**csat, "window": "28d"}, "10x90")],
         "alert_rule_test": [below(65)]},
        # an hour window below target never alerts: only the period counts for a mean
        {"interval": "1m", "input_series": [_series(n.metric("kpi_attainment"), {**csat, "window": "hour"}, "0x90"),
                                            _series(n.metric("kpi_events"), {**csat, "window": "hour"}, "100x90")],
         "alert_rule_test": [below(65)]},
    ]
    _run_promtool(promtool, tmp_path, inputs, tests)


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
        [_series(n.metric("drift_regression"), {**csat, "window": "7d"}, f"{drop + 0.1}x120")],
        [_series(n.metric("drift_regression"), {**csat, "window": "7d"}, f"{drop / 2}x120")],
        "90m",
        [_expected(inputs, "AlignwatchKPIRegression", csat, drop + 0.1, kpi="csat")],
    ))
    points = th["sai_drop_points"]
    cases.append((
        "AlignwatchSAIDrop",
        [_series(n.metric("sai"), {**biz, "window": "7d"}, f"80x60 {80 - points - 5}x60")],
        [_series(n.metric("sai"), {**biz, "window": "7d"}, f"80x60 {80 - points + 5}x60")],
        "100m",
        [_expected(inputs, "AlignwatchSAIDrop", biz, points + 5)],
    ))
    pitfall = {"business": B, "automation": automation.id, "pitfall": "feature_overload"}
    cases.append((
        "AlignwatchPitfallDetected",
        [_series(n.metric("pitfall_active"), {**pitfall, "window": "7d"}, "1x60")],
        [_series(n.metric("pitfall_active"), {**pitfall, "window": "7d"}, "0x60")],
        "30m",
        [_expected(inputs, "AlignwatchPitfallDetected", pitfall, automation=automation.id)],
    ))
    floor = th["human_reachability_floor"]
    # 7 days: 6 of 17 reached (0.35), evidence 5.1 of being below the floor; silent: 2 of 3 reached is below the
    # floor too, but one unreached escalation is no evidence (0.3)
    cases.append((
        "AlignwatchHumanReachabilityBelowFloor",
        [_series(n.metric("human_reachability"), {**biz, "window": "7d"}, "0.35x30"),
         _series(n.metric("human_reachability_floor_evidence"), {**biz, "window": "7d"}, "5.1x30")],
        [_series(n.metric("human_reachability"), {**biz, "window": "7d"}, f"{round(floor - 0.25, 2)}x30"),
         _series(n.metric("human_reachability_floor_evidence"), {**biz, "window": "7d"}, "0.3x30")],
        "5m",
        [_expected(inputs, "AlignwatchHumanReachabilityBelowFloor", biz, 0.35, burn_window="7d")],
    ))
    decides = {"business": B, "automation": automation.id, "window": "7d"}
    by_region = {**decides, "window": "28d", "dimension": "region"}
    # parity 0.5 below the floor 0.8 with a significant gap: a ticket; silent: as low, but the gap may be chance
    cases.append((
        "AlignwatchEthicsParityBelowFloor",
        [_series(n.metric("ethics_parity_ratio"), by_region, "0.5x30"),
         _series(n.metric("ethics_parity_breach"), by_region, "1x30")],
        [_series(n.metric("ethics_parity_ratio"), by_region, "0.5x30"),
         _series(n.metric("ethics_parity_breach"), by_region, "0x30")],
        "5m",
        [_expected(inputs, "AlignwatchEthicsParityBelowFloor",
                   {"business": B, "automation": automation.id, "dimension": "region"}, 0.5)],
    ))
    # a third of 60 decisions reversed (max 0.2): a page; silent: as many reversed, on too few decisions (12 < 30)
    cases.append((
        "AlignwatchEthicsOverrideRateHigh",
        [_series(n.metric("ethics_override_rate"), decides, "0.35x30"),
         _series(n.metric("ethics_decisions"), decides, "60x30")],
        [_series(n.metric("ethics_override_rate"), decides, "0.35x30"),
         _series(n.metric("ethics_decisions"), decides, "12x30")],
        "5m",
        [_expected(inputs, "AlignwatchEthicsOverrideRateHigh", {"business": B, "automation": automation.id}, 0.35)],
    ))
    cases.append((
        "AlignwatchStrategicStaleness",
        [_series(n.metric("drift_strategic_staleness"), {**biz, "window": "7d"}, "1x120")],
        [_series(n.metric("drift_strategic_staleness"), {**biz, "window": "7d"}, "0x120")],
        "90m",
        [_expected(inputs, "AlignwatchStrategicStaleness", biz)],
    ))
    from alignwatch.metrics.exporter import HEARTBEAT

    beat = {**biz, "kind": "continuous"}
    eval_s = 3 * inputs.continuous_interval_s + 600
    cases.append((
        "AlignwatchMetricsStale",
        # published at 0, then no continuous run at all
        [_series(n.snapshot_timestamp, biz, "0x60"), _series(HEARTBEAT.name, {**beat, "outcome": "published"}, "0x60")],
        # published at 0, then a skipped run every minute: the pipeline is alive, the hour has not closed
        [_series(n.snapshot_timestamp, biz, "0x60"), _series(HEARTBEAT.name, {**beat, "outcome": "published"}, "0x60"),
         _series(HEARTBEAT.name, {**beat, "outcome": "skipped"}, "0+60x60")],
        f"{eval_s // 60}m",
        [_expected(inputs, "AlignwatchMetricsStale", biz, eval_s)],
    ))
    cases.append((
        "AlignwatchExporterStoreDown",
        [_series(n.store_up, biz, "1x5 0x20")],
        [_series(n.store_up, biz, "1x5 0x2 1x18")],  # one failed read, then the store answers again
        "20m",
        [_expected(inputs, "AlignwatchExporterStoreDown", biz)],
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
        [_series(n.instrument("lag"), {**lag, "job": n.consumer_job}, "1000+100x60")],
        [_series(n.instrument("lag"), {**lag, "job": n.consumer_job}, "5000x60")],
        "40m",
        [_expected(inputs, "AlignwatchConsumerLagGrowing", {"topic": lag["topic"]}, 5000)],
    ))
    cases.append((
        "AlignwatchDeadLettersGrowing",
        [_series(n.instrument("rejected"), {"reason": "invalid_payload", "job": n.consumer_job}, "0+5x90")],
        [_series(n.instrument("rejected"), {"reason": "invalid_payload", "job": n.consumer_job}, "0+0x90")],
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

    covered = {case[0] for case in cases} | {"AlignwatchKPIBelowTarget", "AlignwatchKPIErrorBudgetBurn",
                                             "AlignwatchNightlyRecomputationStale", "AlignwatchNightlyRecomputationMissing"}
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

    def at(minute: int, *expected: dict[str, Any], alert: str = "AlignwatchNightlyRecomputationStale") -> dict[str, Any]:
        return {"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": list(expected)}

    def rule(alert: str) -> dict[str, Any]:
        found = _rule(inputs, alert)
        return {"exp_labels": {**biz, **found["labels"]}, "exp_annotations": found["annotations"]}

    last_nightly = {**rule("AlignwatchNightlyRecomputationStale")}
    missing = "AlignwatchNightlyRecomputationMissing"
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
         "alert_rule_test": [at(hours * 60 - 30, alert=missing), at(hours * 60 + 15, rule(missing), alert=missing),
                             at(hours * 60 + 15)]},
    ]
    last_nightly["exp_annotations"] = {
        **last_nightly["exp_annotations"],
        "description": last_nightly["exp_annotations"]["description"].replace("{{ $value }}", f"{hours * 3600 + 45 * 60}"),
    }
    _run_promtool(promtool, tmp_path, inputs, tests, evaluation_interval="5m")


def test_every_series_a_rule_reads_is_exported_or_recorded(inputs: RuleInputs) -> None:
    from alignwatch.metrics.catalogue import CATALOGUE
    from alignwatch.metrics.exporter import EXPORTER_SERIES, served_name
    from alignwatch.stream.health import INSTRUMENTS

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


def test_the_rules_and_the_engine_agree_on_which_kpi_measures_are_shares_of_events() -> None:
    from alignwatch.metrics.formulas import EVENT_SHARE_MEASURES as ENGINE
    from alignwatch.metrics.rules import EVENT_SHARE_MEASURES as RULES

    assert RULES == ENGINE


def test_every_generated_alert_has_a_for_duration_and_every_rule_file_passes_promtool_lint(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    for content in render_rules(inputs).values():
        for group in content["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert re.fullmatch(r"\d+[mh]", rule.get("for", "")), rule["alert"]
    paths = []
    for name, text in rule_files(inputs).items():
        (tmp_path / name).write_text(text)
        paths.append(str(tmp_path / name))
    committed = sorted(str(p) for p in (Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules").glob("*.yml"))
    result = subprocess.run([promtool, "check", "rules", "--lint-fatal", *paths, *committed],
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_in_process_evaluation_fires_exactly_what_prometheus_fires_on_the_same_values(
    promtool: str, inputs: RuleInputs, tmp_path: Path
) -> None:
    from alignwatch.metrics.rules import Sample, alert_specs, firing_alerts

    n = inputs.names
    reach, csat = {"business": B, "kpi": "reach"}, {"business": B, "kpi": "csat"}
    bot = {"business": B, "automation": "chatbot"}
    samples = [
        Sample(n.metric("kpi_burn_rate"), {**reach, "window": "7d"}, 12.9),  # a fast burn with evidence: page
        Sample(n.metric("kpi_burn_evidence"), {**reach, "window": "7d"}, 9.7),
        Sample(n.metric("kpi_burn_rate"), {**reach, "window": "hour"}, 20.0),  # too little evidence in the hour: nothing
        Sample(n.metric("kpi_burn_evidence"), {**reach, "window": "hour"}, 1.3),
        Sample(n.metric("kpi_burn_rate"), {**reach, "window": "28d"}, 3.0),  # a slow burn still burning: ticket
        Sample(n.metric("kpi_burn_evidence"), {**reach, "window": "28d"}, 4.0),
        Sample(n.metric("kpi_attainment"), {**csat, "window": "28d"}, 0.9),  # a mean below target over its period: ticket
        Sample(n.metric("kpi_events"), {**csat, "window": "28d"}, 40.0),
        Sample(n.metric("drift_regression"), {**csat, "window": "7d"}, 0.05),  # below the regression threshold: nothing
        Sample(n.metric("pitfall_active"), {"business": B, "automation": "chatbot", "pitfall": "feature_overload", "window": "7d"}, 1.0),
        Sample(n.metric("pitfall_active"), {"business": B, "automation": "chatbot", "pitfall": "process_mismatch", "window": "7d"}, 0.0),
        Sample(n.metric("human_reachability"), {"business": B, "window": "7d"}, 0.35),
        Sample(n.metric("human_reachability_floor_evidence"), {"business": B, "window": "7d"}, 5.1),
        Sample(n.metric("drift_strategic_staleness"), {"business": B, "window": "7d"}, 0.0),
        # parity below the floor and significant by region: ticket; as low by amount band, but maybe chance: nothing
        Sample(n.metric("ethics_parity_ratio"), {**bot, "dimension": "region", "window": "28d"}, 0.6),
        Sample(n.metric("ethics_parity_breach"), {**bot, "dimension": "region", "window": "28d"}, 1.0),
        Sample(n.metric("ethics_parity_ratio"), {**bot, "dimension": "amount_band", "window": "28d"}, 0.6),
        Sample(n.metric("ethics_parity_breach"), {**bot, "dimension": "amount_band", "window": "28d"}, 0.0),
        # many reversals on too few decisions: nothing
        Sample(n.metric("ethics_override_rate"), {**bot, "window": "7d"}, 0.3),
        Sample(n.metric("ethics_decisions"), {**bot, "window": "7d"}, 12.0),
        Sample(n.metric("kpi_burn_rate"), {"business": "another", "kpi": "reach", "window": "7d"}, 50.0),  # not this business
        Sample(n.metric("kpi_burn_evidence"), {"business": "another", "kpi": "reach", "window": "7d"}, 50.0),
    ]
    specs = alert_specs(inputs)
    firing = firing_alerts(specs, samples, B)
    assert {(f.name, f.labels.get("burn_window"), f.labels.get("pitfall")) for f in firing} == {
        ("AlignwatchKPIErrorBudgetBurn", "7d", None), ("AlignwatchKPIErrorBudgetBurn", "28d", None),
        ("AlignwatchKPIBelowTarget", "28d", None), ("AlignwatchPitfallDetected", None, "feature_overload"),
        ("AlignwatchHumanReachabilityBelowFloor", "7d", None), ("AlignwatchEthicsParityBelowFloor", None, None),
    }
    series = [_series(s.name, dict(s.labels), f"{s.value}x120") for s in samples]
    tests = [{"interval": "1m", "input_series": series, "alert_rule_test": []}]
    for name in sorted({spec.name for spec in specs}):
        expected = []
        for f in (f for f in firing if f.name == name):
            rule = _rule(inputs, name, **{k: v for k, v in f.labels.items() if k in ("kpi", "burn_window", "automation")})
            labels = dict(f.labels)
            expected.append({"exp_labels": labels, "exp_annotations": {
                key: _render_value(text, labels, f.value) for key, text in rule["annotations"].items()}})
        tests[0]["alert_rule_test"].append({"eval_time": "90m", "alertname": name, "exp_alerts": expected})
    _run_promtool(promtool, tmp_path, inputs, tests)
