"""The catalogue is the single source: names, units, formulas, docs, validation rules,
alerts and panels derive from it, and a declaration missing any of them fails here."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from alignwatch.errors import ConfigError
from alignwatch.expectations.metric_values import rules_from_catalogue
from alignwatch.metrics.catalogue import CATALOGUE, PANEL_GROUPS, label_names, render_docs, served_name
from alignwatch.metrics.dashboards import dashboard_names, dashboard_specs, panel_queries
from alignwatch.metrics.engine import compute
from alignwatch.metrics.exporter import SnapshotCollector, catalogue_families, catalogue_scales
from alignwatch.metrics.formulas import FORMULAS, Evaluation
from alignwatch.metrics.naming import names
from alignwatch.metrics.rules import inputs_from_strategy, metric_names, render_rules
from alignwatch.metrics.runs import Snapshot
from alignwatch.metrics.strategy import KPI_MEASURES, Thresholds, check_catalogue_thresholds, load_strategy
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events
from alignwatch.stream.contract import EVENT_TYPES
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate
from alignwatch.vocabulary import PITFALLS, SAI_INPUTS

from .builders import make_strategy

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs" / "metrics.md"
START = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)


def documented_names() -> dict[str, str]:
    """Metric id → the Prometheus name docs/metrics.md gives it (its first table)."""
    rows = re.findall(r"^\| `(\w+)` \| `(alignwatch_\w+)` \|", DOCS.read_text(encoding="utf-8"), re.MULTILINE)
    return dict(rows)


def test_docs_metrics_md_is_current_with_the_catalogue() -> None:
    # regenerate with `alignwatch metrics docs --write`
    assert DOCS.read_text(encoding="utf-8") == render_docs()


def test_every_metric_has_a_unique_conventional_prometheus_name() -> None:
    all_names = names()
    assert len(set(all_names.values())) == len(all_names)
    for metric_id, name in all_names.items():
        decl = CATALOGUE[metric_id]
        assert re.fullmatch(r"alignwatch_[a-z]+_[a-z0-9_]+", name), name
        assert name.startswith(f"alignwatch_{decl.subsystem}_")
        if decl.unit in ("ratio", "seconds", "score"):
            assert name.endswith(f"_{decl.unit}"), name
        assert "minutes" not in name  # base units: minutes are served as seconds
        assert not name.endswith("_total")  # snapshots are gauges, not counters
        assert label_names(decl)[:2] == ("business", "window")


def test_the_names_other_components_query_are_the_catalogues() -> None:
    assert served_name("sai") == "alignwatch_index_sai_score"
    assert served_name("kpi_attainment") == "alignwatch_kpi_attainment_ratio"
    assert served_name("human_reachability") == "alignwatch_customer_human_reachability_ratio"
    assert served_name("pitfall_active") == "alignwatch_pitfall_active"
    assert served_name("minutes_saved_per_employee") == "alignwatch_workforce_time_saved_per_employee_seconds"
    assert served_name("cycle_time_p90") == "alignwatch_process_cycle_time_p90_seconds"
    assert CATALOGUE["pitfall_active"].labels == ("pitfall", "automation")


def test_every_declaration_is_complete_and_documented() -> None:
    text = render_docs()
    for decl in CATALOGUE.values():
        assert decl.help and decl.formula and decl.unit and decl.direction in ("up", "down", "none")
        assert f"`{decl.id}`" in text
    for measure in KPI_MEASURES:
        assert f"| `{measure}` |" in text
    for pitfall in PITFALLS:
        assert f"| `{pitfall}` |" in text
    assert {label.name for label in CATALOGUE["sai_contribution"].labels_decl} == {"input"}
    assert CATALOGUE["sai_contribution"].labels_decl[0].values == SAI_INPUTS


def test_validation_rules_derive_ratios_scores_and_the_required_metrics_from_the_catalogue() -> None:
    rules = rules_from_catalogue(make_strategy())
    assert rules.ratio_ids == {d.id for d in CATALOGUE.values() if d.unit == "ratio"}
    assert "sai" in rules.score_ids and "perspective_score" in rules.score_ids
    assert "sai_contribution" not in rules.score_ids  # its points have their own rule: they sum to the SAI
    assert rules.sai_id == "sai" and rules.contribution_id == "sai_contribution"
    assert rules.required_ids == {"sai", "perspective_score", "checklist_readiness"}


def test_every_declared_metric_has_every_piece_derived_from_its_declaration() -> None:
    # formula, served name, docs entry, GX bound, panel and alerts: one declaration, all derived
    strategy = load_strategy(REPO / "examples" / "bakery.yaml")
    rules = rules_from_catalogue(strategy)
    families = catalogue_families()
    documented = documented_names()
    series = dashboard_names()
    queries = [(spec.title, title, expr) for spec in dashboard_specs(series) for title, expr in panel_queries(spec)]
    alerts: dict[str, str] = {}
    # the refunds shop declares a decision-making automation: its rules carry the ethics alerts
    deciding = load_strategy(REPO / "examples" / "refunds.yaml")
    rendered = [render_rules(inputs_from_strategy(s, metric_names())) for s in (strategy, deciding)]
    for content in (content for files in rendered for content in files.values()):
        for group in content["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    alerts[rule["alert"]] = alerts.get(rule["alert"], "") + rule["expr"]
    missing = []
    for decl in CATALOGUE.values():
        name = served_name(decl)
        if decl.computed_by not in FORMULAS:
            missing.append(f"{decl.id}: formula {decl.computed_by!r}")
        if families.get(decl.id, ("",))[0] != name:
            missing.append(f"{decl.id}: exporter family")
        if documented.get(decl.id) != name:
            missing.append(f"{decl.id}: docs/metrics.md row")
        if decl.unit == "ratio" and decl.id not in rules.ratio_ids:
            missing.append(f"{decl.id}: GX ratio bound")
        if decl.unit == "score" and decl.id not in rules.score_ids | {rules.contribution_id}:
            missing.append(f"{decl.id}: GX score bound")
        if decl.required and decl.id not in rules.required_ids:
            missing.append(f"{decl.id}: GX required-metric rule")
        if not any(re.search(rf"\b{name}\b", expr) for _, _, expr in queries):
            missing.append(f"{decl.id}: dashboard panel")
        if decl.panel and decl.panel not in PANEL_GROUPS:
            missing.append(f"{decl.id}: panel group {decl.panel!r}")
        for alert in decl.alerts:
            if not re.search(rf"\b{name}\b", alerts.get(alert, "")):
                missing.append(f"{decl.id}: alert {alert}")
        for key, default in decl.thresholds.items():
            field = Thresholds.model_fields.get(key)
            if field is not None and field.default != default:
                missing.append(f"{decl.id}: threshold {key} default")
    assert missing == []


def test_every_event_type_a_declaration_reads_is_one_of_the_event_contract() -> None:
    unknown = [(decl.id, source) for decl in CATALOGUE.values() for source in decl.sources if source not in EVENT_TYPES]
    assert unknown == []


def test_a_metric_is_added_only_by_the_formula_its_declaration_names() -> None:
    evaluation = Evaluation(start=START, end=START + dt.timedelta(hours=1))
    evaluation.step = "spar"
    with pytest.raises(KeyError, match="'cjai' is computed by 'cjai', not 'spar'"):
        evaluation.add("cjai", {}, 0.5)
    evaluation.add("spar", {}, 0.5)
    assert evaluation.value("spar") == 0.5


def test_every_metric_is_served_under_the_name_docs_metrics_md_gives_it(tmp_path: Path) -> None:
    # computed snapshots (two simulated weeks of the bakery, and of the refunds shop whose refund bot decides
    # about customers), served by the exporter's collector
    values, served = [], set()
    for scenario in ("bakery", "refunds"):
        strategy = load_strategy(REPO / "examples" / f"{scenario}.yaml")
        engine = connect(f"sqlite:///{tmp_path / f'{scenario}.db'}")
        try:
            upgrade(engine)
            rows = [
                event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), START)
                for e in simulate(scenario, 11, START, 14, 3000, strategy=strategy)
            ]
            with engine.begin() as conn:
                conn.execute(events.insert(), rows)
            computed = compute(engine, strategy, start=START, end=START + dt.timedelta(days=14), granularity="day")
        finally:
            engine.dispose()
        values += computed
        snapshot = Snapshot(values=tuple(computed))
        registry = CollectorRegistry()
        registry.register(SnapshotCollector(lambda snapshot=snapshot: snapshot, business=scenario,
                                            families=catalogue_families(), scales=catalogue_scales()))
        served |= {metric.name for metric in registry.collect() if metric.samples}
    documented = documented_names()
    assert set(documented) == set(CATALOGUE)
    # the simulated weeks give every metric a value somewhere, so every metric is served
    assert {v.metric_id for v in values if v.value is not None} == set(CATALOGUE)
    assert served == set(documented.values())


def test_a_catalogue_threshold_default_differing_from_the_strategys_fails_naming_both() -> None:
    # drift_regression documents regression_drop = 0.15; Thresholds.regression_drop defaults to 0.15
    check_catalogue_thresholds()
    drifted = replace(CATALOGUE["drift_regression"], thresholds={"regression_drop": 0.2})
    with pytest.raises(ConfigError, match=r"drift_regression\.thresholds\.regression_drop: default 0\.2 differs "
                                          r"from Thresholds\.regression_drop = 0\.15"):
        check_catalogue_thresholds([drifted])
