"""The KPI and alignment alert rules are built from the catalogue: an alert exists because a
metric declaration names it in ``alerts``, and its rules read exactly the series of the
metrics that name it (served under the one naming function)."""

from __future__ import annotations

import dataclasses
import re

import pytest

from alignwatch.errors import ConfigError
from alignwatch.metrics.catalogue import CATALOGUE, served_name
from alignwatch.metrics.rules import (
    ALERT_RULES,
    Reads,
    check_alert_declarations,
    declared_alerts,
    metric_names,
    render_rules,
)

from .rules_fixtures import rule_inputs

TOKEN = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _declared_groups(business: str = "test") -> list[dict]:
    files = render_rules(rule_inputs(business))
    groups = files[f"alignwatch-{business}.rules.yml"]["groups"]
    return [g for g in groups if g["name"] in (f"alignwatch-{business}-kpi", f"alignwatch-{business}-alignment")]


def test_each_alert_reads_exactly_the_series_of_the_metrics_whose_declaration_names_it() -> None:
    served = {served_name(decl): decl.id for decl in CATALOGUE.values()}
    read: dict[str, set[str]] = {}
    for group in _declared_groups():
        for rule in group["rules"]:
            tokens = set(TOKEN.findall(rule["expr"]))
            # the SAI's 7-day high is the recording rule business:<sai>:max_over_time7d
            tokens |= {part for token in tokens for part in token.split(":")}
            read.setdefault(rule["alert"], set()).update(served[t] for t in tokens if t in served)
    assert read == {alert: set(ids) for alert, ids in declared_alerts().items()}
    # e.g. the burn alert reads the two series that declare it, and nothing else
    assert read["AlignwatchKPIErrorBudgetBurn"] == {"kpi_burn_rate", "kpi_burn_evidence"}


def test_the_rule_groups_hold_one_rule_per_kpi_automation_and_decision_in_declared_order() -> None:
    kpi, alignment = _declared_groups()
    # csat (a mean: below target) then reach (an event share: 3 burn windows), each followed by its regression
    assert [(r["alert"], r["labels"]["kpi"]) for r in kpi["rules"]] == [
        ("AlignwatchKPIBelowTarget", "csat"), ("AlignwatchKPIRegression", "csat"),
        ("AlignwatchKPIErrorBudgetBurn", "reach"), ("AlignwatchKPIErrorBudgetBurn", "reach"),
        ("AlignwatchKPIErrorBudgetBurn", "reach"), ("AlignwatchKPIRegression", "reach"),
    ]
    # one automation (chatbot), which is also the one decision-making automation
    assert [r["alert"] for r in alignment["rules"]] == [
        "AlignwatchSAIDrop", "AlignwatchPitfallDetected", "AlignwatchHumanReachabilityBelowFloor",
        "AlignwatchHumanReachabilityBelowFloor", "AlignwatchEthicsParityBelowFloor", "AlignwatchEthicsOverrideRateHigh",
        "AlignwatchStrategicStaleness",
    ]


def test_a_rule_reading_a_series_whose_metric_does_not_declare_its_alert_is_a_one_line_error() -> None:
    reads = Reads("AlignwatchSAIDrop", metric_names())
    assert dict(reads) == {"sai": served_name("sai")}
    with pytest.raises(ConfigError) as error:
        reads["kpi_events"]
    assert str(error.value) == ("alert AlignwatchSAIDrop reads metric 'kpi_events', whose catalogue declaration does "
                                "not name it in `alerts`")


def test_an_alert_no_metric_declares_is_neither_checked_in_nor_rendered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CATALOGUE, "sai", dataclasses.replace(CATALOGUE["sai"], alerts=()))
    with pytest.raises(ConfigError, match="^metrics/rules.py: alert 'AlignwatchSAIDrop' is read by no metric"):
        check_alert_declarations()
    assert "AlignwatchSAIDrop" not in {r["alert"] for g in _declared_groups() for r in g["rules"]}


def test_a_declared_alert_without_a_rule_names_the_metric_that_declares_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(CATALOGUE, "sai", dataclasses.replace(CATALOGUE["sai"], alerts=("AlignwatchSAIDrop", "AlignwatchSAIJump")))
    with pytest.raises(ConfigError, match=r"^metric catalogue: sai.alerts: alert 'AlignwatchSAIJump' has no rule"):
        check_alert_declarations()


def test_every_rule_is_named_once() -> None:
    names = [rule.name for rule in ALERT_RULES]
    assert len(names) == len(set(names)) == len(declared_alerts())
