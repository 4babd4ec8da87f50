"""The catalogue is the single source: names, units, docs and validation rules derive from it."""

from __future__ import annotations

import re
from pathlib import Path

from alignwatch.metrics.catalogue import CATALOGUE, PITFALLS, SAI_INPUTS, render_docs, validation_rules
from alignwatch.metrics.naming import label_names, names, prometheus_name
from alignwatch.metrics.strategy import KPI_MEASURES

from .builders import make_strategy

REPO = Path(__file__).resolve().parents[2]


def test_docs_metrics_md_is_current_with_the_catalogue() -> None:
    # regenerate with `alignwatch metrics docs --write`
    assert (REPO / "docs" / "metrics.md").read_text(encoding="utf-8") == render_docs()


def test_every_metric_has_a_unique_conventional_prometheus_name() -> None:
    all_names = names()
    assert len(set(all_names.values())) == len(all_names)
    for metric_id, name in all_names.items():
        decl = CATALOGUE[metric_id]
        assert re.fullmatch(r"alignwatch_[a-z]+_[a-z0-9_]+", name), name
        assert name.startswith(f"alignwatch_{decl.subsystem}_")
        if decl.unit in ("ratio", "seconds", "score"):
            assert name.endswith(f"_{decl.unit}"), name
        assert not name.endswith("_total")  # snapshots are gauges, not counters
        assert label_names(decl)[:2] == ("business", "window")


def test_the_names_other_components_query_are_the_catalogues() -> None:
    assert prometheus_name("sai") == "alignwatch_index_sai_score"
    assert prometheus_name("kpi_attainment") == "alignwatch_kpi_attainment_ratio"
    assert prometheus_name("human_reachability") == "alignwatch_customer_human_reachability_ratio"
    assert prometheus_name("pitfall_active") == "alignwatch_pitfall_active"
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


def test_validation_rules_derive_ratios_scores_and_the_sai_from_the_catalogue() -> None:
    rules = validation_rules(make_strategy())
    assert rules.ratio_ids == {d.id for d in CATALOGUE.values() if d.unit == "ratio"}
    assert "sai" in rules.score_ids and "perspective_score" in rules.score_ids
    assert rules.sai_id == "sai" and rules.contribution_id == "sai_contribution"
    assert rules.required_ids <= set(CATALOGUE)
