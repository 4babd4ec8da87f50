"""Generated Grafana dashboards are valid Grafana 11.6 models with stable UIDs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from alignwatch.metrics.dashboards import dashboard_files, dashboard_names, dashboard_specs, render_dashboard

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "grafana-schema" / "v11.6.x"


def _schema(name: str) -> dict[str, Any]:
    return json.loads((SCHEMAS / f"{name}.jsonschema.json").read_text())


def _validator(schema: dict[str, Any], definition: str | None = None) -> jsonschema.Draft7Validator:
    if definition is not None:
        schema = {**schema, "$ref": f"#/definitions/{definition}"}
    return jsonschema.Draft7Validator(schema)


#: the options of Grafana 11.6's alert list panel (UnifiedAlertList) the dashboards set
ALERT_LIST_OPTIONS = {"viewMode", "groupMode", "groupBy", "maxItems", "sortOrder", "dashboardAlerts", "alertName",
                      "alertInstanceLabelFilter", "datasource", "stateFilter"}


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    names = dashboard_names()
    return [render_dashboard(spec, names) for spec in dashboard_specs(names)]


def test_every_dashboard_validates_against_the_grafana_11_6_dashboard_schema(rendered: list[dict[str, Any]]) -> None:
    validator = _validator(_schema("dashboard"))
    for model in rendered:
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(model)]
        assert not errors, (model["title"], errors[:5])


def test_every_panel_and_query_validates_against_its_plugin_schema(rendered: list[dict[str, Any]]) -> None:
    query_validator = _validator(_schema("prometheus"))
    for model in rendered:
        for panel in model["panels"]:
            if panel["type"] == "alertlist":  # no schema is published for it; Grafana reads the alerts, no query
                assert set(panel["options"]) == ALERT_LIST_OPTIONS, panel["options"]
                assert "targets" not in panel
                continue
            if panel["type"] == "row":  # validated as the dashboard schema's RowPanel; a row has no query
                assert "targets" not in panel and panel["panels"] == []
                continue
            schema = _schema(panel["type"])
            if "options" in panel:
                errors = [e.message for e in _validator(schema, "Options").iter_errors(panel["options"])]
                assert not errors, (model["title"], panel["title"], errors[:3])
            custom = panel.get("fieldConfig", {}).get("defaults", {}).get("custom")
            if custom is not None and "FieldConfig" in schema["definitions"]:
                errors = [e.message for e in _validator(schema, "FieldConfig").iter_errors(custom)]
                assert not errors, (model["title"], panel["title"], errors[:3])
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                errors = [e.message for e in query_validator.iter_errors(target)]
                assert not errors, (panel["title"], errors[:3])
                assert target["expr"] and target["refId"]


def test_the_five_dashboards_have_distinct_stable_uids_and_unique_panel_ids(rendered: list[dict[str, Any]]) -> None:
    again = [render_dashboard(spec, dashboard_names()) for spec in dashboard_specs(dashboard_names())]
    assert [m["uid"] for m in rendered] == [m["uid"] for m in again]
    assert len({m["uid"] for m in rendered}) == 5
    assert all(len(m["uid"]) <= 40 for m in rendered)
    for model in rendered:
        ids = [panel["id"] for panel in model["panels"]]
        assert len(ids) == len(set(ids))
        assert {v["name"] for v in model["templating"]["list"]} >= {"business"}
    kpi_detail = next(m for m in rendered if m["title"].endswith("KPI detail"))
    assert "kpi" in {v["name"] for v in kpi_detail["templating"]["list"]}


def test_provisioning_points_grafana_at_the_datasource_uid_the_panels_use() -> None:
    import yaml

    files = dashboard_files(dashboard_names())
    datasource = yaml.safe_load(files["provisioning/datasources/alignwatch.yml"])["datasources"][0]
    dashboards = [json.loads(text) for path, text in files.items() if path.endswith(".json")]
    assert len(dashboards) == 5
    for model in dashboards:
        for panel in model["panels"]:
            if panel["type"] == "alertlist":
                assert panel["options"]["datasource"] == datasource["name"]
            elif panel["type"] != "row":
                assert panel["datasource"]["uid"] == datasource["uid"]
    provider = yaml.safe_load(files["provisioning/dashboards/alignwatch.yml"])["providers"][0]
    assert provider["type"] == "file" and provider["options"]["path"]


def test_every_catalogue_metric_is_on_a_dashboard_and_every_queried_series_exists() -> None:
    import re

    from alignwatch.metrics.catalogue import CATALOGUE
    from alignwatch.metrics.dashboards import panel_queries
    from alignwatch.metrics.exporter import EXPORTER_SERIES, served_name
    from alignwatch.stream.health import INSTRUMENTS

    names = dashboard_names()
    queries = " ".join(expr for spec in dashboard_specs(names) for _, expr in panel_queries(spec))
    used = set(re.findall(r"[a-z_:]*alignwatch_[a-z0-9_]+", queries))
    missing = sorted(metric_id for metric_id, decl in CATALOGUE.items() if served_name(decl)[0] not in used)
    assert not missing, f"catalogue metrics on no dashboard: {missing}"
    known = {served_name(decl)[0] for decl in CATALOGUE.values()} | {s.name for s in EXPORTER_SERIES}
    known |= {spec.exposed_name for spec in INSTRUMENTS} | {spec.name for spec in INSTRUMENTS}
    recorded = {name for name in used if name.startswith("business_kpi:")}
    unknown = sorted(name for name in used - recorded if name not in known and not name.endswith("_bucket"))
    assert not unknown, f"dashboards query series nobody exports: {unknown}"


def _panels(rendered: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{model['title']} / {panel['title']}": panel for model in rendered for panel in model["panels"]}


def _colour_at(panel: dict[str, Any], value: float) -> str:
    """The colour Grafana gives ``value``: the highest step at or below it (the first is the base)."""
    steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
    colour = steps[0]["color"]
    for step in steps[1:]:
        if value >= step["value"]:
            colour = step["color"]
    return colour


def test_every_panel_has_a_unit_and_its_own_thresholds_never_grafanas_default(rendered: list[dict[str, Any]]) -> None:
    for title, panel in _panels(rendered).items():
        if panel["type"] in ("alertlist", "row"):
            continue
        defaults = panel["fieldConfig"]["defaults"]
        assert defaults.get("unit"), title
        steps = [(step["value"], step["color"]) for step in defaults["thresholds"]["steps"]]
        assert steps and steps[1:] != [(80, "red")], title


def test_colours_follow_the_direction_sai_80_is_not_red_and_attainment_below_target_is(
    rendered: list[dict[str, Any]],
) -> None:
    panels = _panels(rendered)
    sai = panels["alignwatch / Alignment overview / Strategic Alignment Index (7 days)"]
    assert _colour_at(sai, 80) == "green" and _colour_at(sai, 20) == "red"
    for title in ("alignwatch / Balanced scorecard / KPI attainment (7 days)", "alignwatch / KPI detail / Attainment (7 days)"):
        assert _colour_at(panels[title], 0.0) == "red" and _colour_at(panels[title], 1.0) == "green"
        assert panels[title]["fieldConfig"]["defaults"]["unit"] == "percentunit"
    reach = panels["alignwatch / Alignment overview / Human reachability"]
    assert _colour_at(reach, 0.5) == "red" and _colour_at(reach, 0.95) == "green"  # the floor is 0.9
    lead = panels["alignwatch / Alignment overview / AAC: lead time to reconfigure (28 days)"]
    assert lead["fieldConfig"]["defaults"]["unit"] == "s"
    assert _colour_at(lead, 3600) == "green" and _colour_at(lead, 30 * 86400) == "red"  # lower is better
    burn = panels["alignwatch / KPI detail / Error-budget burn rate per window"]
    steps = [s["value"] for s in burn["fieldConfig"]["defaults"]["thresholds"]["steps"][1:]]
    assert steps == [1.0, 6.0, 14.4]  # the slow burn and the two page factors of metrics/rules.py
    assert burn["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    # the KPI's own target becomes the threshold of its value panel, drawn dashed
    value = panels["alignwatch / KPI detail / Value and target"]
    target_ref = next(t["refId"] for t in value["targets"] if t["expr"].startswith("alignwatch_kpi_target{"))
    assert value["transformations"] == [{"id": "configFromQueryResult", "options": {
        "configRefId": target_ref, "mappings": [{"fieldName": "target", "handlerKey": "threshold1"}]}}]
    assert value["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"


def test_ratio_panels_read_as_percent_from_0_to_1(rendered: list[dict[str, Any]]) -> None:
    from alignwatch.metrics.catalogue import CATALOGUE, served_name

    ratios = {served_name(decl) for decl in CATALOGUE.values() if decl.unit == "ratio"}
    for title, panel in _panels(rendered).items():
        read = {name for target in panel.get("targets", []) for name in ratios if f"{name}{{" in target["expr"]}
        exprs = [target["expr"] for target in panel.get("targets", [])]
        if read and len(read) == len(exprs) and all(expr.startswith("alignwatch_") for expr in exprs):
            assert panel["fieldConfig"]["defaults"]["unit"] == "percentunit", title


def test_every_panel_on_an_alerted_metric_links_each_alert_s_runbook(rendered: list[dict[str, Any]]) -> None:
    from alignwatch.metrics.catalogue import CATALOGUE, served_name
    from alignwatch.metrics.rules import RUNBOOKS

    for title, panel in _panels(rendered).items():
        exprs = " ".join(target["expr"] for target in panel.get("targets", []))
        alerts = {alert for decl in CATALOGUE.values() if f"{served_name(decl)}{{" in exprs for alert in decl.alerts}
        links = {link["url"] for link in panel.get("links", [])}
        for alert in alerts:
            assert f"docs/runbooks.md#{RUNBOOKS[alert]}" in links, (title, alert)
        for url in links:
            assert url.split("#")[1] in RUNBOOKS.values(), (title, url)


def test_every_dashboard_annotates_publications_failed_validations_and_strategy_changes(
    rendered: list[dict[str, Any]],
) -> None:
    for model in rendered:
        names = [note["name"] for note in model["annotations"]["list"]]
        assert names[:1] == ["Publications"] or "Publications" in names, model["title"]
        assert "Failed validations" in names and any(name.startswith("Strategy changes") for name in names)
        assert all('business="$business"' in note["expr"] for note in model["annotations"]["list"] if "expr" in note)


def test_docs_say_what_each_dashboard_answers_and_name_every_panel() -> None:
    docs = " ".join((Path(__file__).resolve().parents[2] / "docs" / "dashboards.md").read_text().split())
    for spec in dashboard_specs(dashboard_names()):
        assert f"## {spec.title}" in docs, spec.title
        for question in spec.questions:
            assert question in docs, question
        for panel in spec.panels:
            assert panel.title in docs, (spec.title, panel.title)


def test_every_catalogue_unit_has_a_grafana_unit() -> None:
    from alignwatch.metrics.dashboards import GRAFANA_UNITS
    from alignwatch.vocabulary import UNITS

    assert set(GRAFANA_UNITS) == set(UNITS)


def test_the_ethics_row_draws_each_measure_against_its_limit_and_links_its_alerts_runbooks(
    rendered: list[dict[str, Any]],
) -> None:
    pitfalls = next(m for m in rendered if m["title"].endswith("Pitfalls and checklist"))
    row = next(p for p in pitfalls["panels"] if p["type"] == "row")
    assert row["title"] == "Ethics and human agency" and row["gridPos"]["x"] == 0 and row["gridPos"]["w"] == 24
    # the ethics panels follow the row, below it; the detectors table reads no ethics metric any more
    after = [p for p in pitfalls["panels"] if p["id"] > row["id"]]
    assert after and all(p["gridPos"]["y"] > row["gridPos"]["y"] for p in after)
    assert all("ethics" not in t["expr"] for p in pitfalls["panels"] if p["id"] < row["id"] for t in p.get("targets", []))
    panels = {p["title"]: p for p in after}
    parity = panels["Outcome parity per automation and dimension"]
    # the default parity floor 0.8 (the four-fifths convention), dashed, in percent
    assert parity["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert _colour_at(parity, 0.79) == "red" and _colour_at(parity, 0.8) == "green"
    assert parity["fieldConfig"]["defaults"]["custom"]["thresholdsStyle"]["mode"] == "dashed"
    assert "docs/runbooks.md#ethics-parity-below-floor" in {link["url"] for link in parity["links"]}
    overrides = panels["Overrides and appeals (7 days)"]
    # the default override_rate_max 0.2: red above it, linked to the page's runbook
    assert _colour_at(overrides, 0.19) == "green" and _colour_at(overrides, 0.2) == "red"
    assert "docs/runbooks.md#ethics-override-rate-high" in {link["url"] for link in overrides["links"]}
    oversight = panels["Oversight: time since the owner's review"]
    # the default review cadence: 90 days = 90 × 86400 = 7,776,000 s
    assert oversight["fieldConfig"]["defaults"]["unit"] == "s"
    assert _colour_at(oversight, 89 * 86400) == "green" and _colour_at(oversight, 7_776_000) == "red"
    assert panels["Reskilling coverage (28 days)"]["fieldConfig"]["defaults"]["unit"] == "percentunit"
    assert panels["Displaced without reskilling (28 days)"]["fieldConfig"]["defaults"]["unit"] == "short"
    assert panels["Ethics score (28 days)"]["fieldConfig"]["defaults"]["max"] == 100
