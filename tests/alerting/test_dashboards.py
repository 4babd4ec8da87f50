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
            else:
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
