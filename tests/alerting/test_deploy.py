"""The production deployment files are consistent (what can be checked without Docker),
and the Alertmanager configuration routes and inhibits as designed on a real Alertmanager."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from .conftest import DEPLOY, WebhookReceiver, get_json, start_alertmanager, wait_until

COMPOSE = DEPLOY / "compose" / "compose.yml"


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _expand(value: str) -> str:
    """``${VAR:-default}`` → default (what compose does when VAR is unset)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def test_alertmanager_config_passes_amtool_check_config(amtool: str) -> None:
    result = subprocess.run([amtool, "check-config", str(DEPLOY / "alertmanager" / "alertmanager.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_by_severity_groups_by_business_and_goal_and_inhibits_kpi_alerts_only_on_stale_metrics() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    assert {"business", "goal"} <= set(config["route"]["group_by"])
    severities = {m for route in config["route"]["routes"] for m in route["matchers"]}
    assert severities == {'severity="page"', 'severity="ticket"'}
    holding = [r for r in config["inhibit_rules"] if any("kpi" in m for m in r["target_matchers"])]
    assert [r["source_matchers"] for r in holding] == [['alertname="AlignwatchMetricsStale"']]
    assert holding[0]["equal"] == ["business"]
    assert all(receiver.get("webhook_configs") for receiver in config["receivers"])


def test_prometheus_config_with_the_committed_rules_passes_promtool_check_config(promtool: str, tmp_path: Path) -> None:
    shutil.copy(DEPLOY / "prometheus" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(DEPLOY / "prometheus" / "rules", tmp_path / "rules")
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"SUCCESS: \d+ rules found", result.stdout), result.stdout


def test_compose_runs_the_whole_stack_with_kraft_kafka_and_several_consumers() -> None:
    services = _compose()["services"]
    assert {"kafka", "postgres", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor", "consumer", "exporter", "prometheus", "alertmanager", "grafana"} <= set(services)
    kafka_env = services["kafka"]["environment"]
    assert "controller" in kafka_env["KAFKA_PROCESS_ROLES"] and "KAFKA_CONTROLLER_QUORUM_VOTERS" in kafka_env
    assert services["consumer"]["deploy"]["replicas"] >= 2
    for name, service in services.items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"


def test_every_file_the_compose_stack_mounts_exists_in_the_repository() -> None:
    compose = _compose()
    base = COMPOSE.parent
    checked = 0
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = _expand(str(volume)).split(":", 1)[0]
            if not source.startswith("."):
                continue  # a named volume
            assert (base / source).resolve().exists(), f"{name} mounts missing {source}"
            checked += 1
    assert checked >= 6
    grafana = DEPLOY / "grafana"
    assert list((grafana / "dashboards").glob("*.json")) and list((grafana / "provisioning").rglob("*.yml"))


def test_compose_and_k8s_commands_use_options_the_cli_really_has() -> None:
    from alignwatch.cli import COMMANDS

    def params(command_name: str) -> set[str]:
        module, attribute = COMMANDS[command_name].split(":")
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return {opt for param in command.params for opt in getattr(param, "opts", [])}

    commands = [service.get("command") for service in _compose()["services"].values()]
    for path in (DEPLOY / "k8s").glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "Deployment":
                commands.extend(c["args"] for c in doc["spec"]["template"]["spec"]["containers"])
    used = 0
    for command in commands:
        if not command or command[0] != "alignwatch":
            continue
        name, *rest = command[1:]
        if name == "db":
            continue
        known = params(name)
        for token in rest:
            if token.startswith("--"):
                assert token in known, f"alignwatch {name} has no option {token}"
        used += 1
    assert used >= 4


def test_k8s_services_select_their_deployments_and_target_declared_ports() -> None:
    docs = [doc for path in sorted((DEPLOY / "k8s").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text()) if doc]
    assert all({"apiVersion", "kind", "metadata"} <= set(doc) for doc in docs)
    deployments = {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == "Deployment"}
    assert {"alignwatch-consumer", "alignwatch-exporter"} <= set(deployments)
    for deployment in deployments.values():
        spec = deployment["spec"]
        assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    for service in (doc for doc in docs if doc["kind"] == "Service"):
        selected = [
            d for d in deployments.values()
            if service["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(selected) == 1, service["metadata"]["name"]
        ports = {p["name"] for c in selected[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= ports


def test_amtool_routes_pages_and_tickets_to_their_receivers(amtool: str) -> None:
    config = str(DEPLOY / "alertmanager" / "alertmanager.yml")

    def route(*labels: str) -> str:
        result = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}", *labels],
                                capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    assert route("severity=page", "business=shop", "goal=loyal") == "alignwatch-pages"
    assert route("severity=ticket", "business=shop", "goal=loyal") == "alignwatch-tickets"


@pytest.mark.integration
def test_a_running_alertmanager_holds_kpi_and_alignment_alerts_of_a_business_whose_metrics_are_stale_not_of_one_whose_validation_fails(
    tmp_path: Path, webhook_receiver: WebhookReceiver
) -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    for entry in config["receivers"]:
        for hook in entry["webhook_configs"]:
            hook["url"] = webhook_receiver.url
    (tmp_path / "am.yml").write_text(yaml.safe_dump(config))
    server = start_alertmanager(tmp_path / "am.yml", tmp_path)
    try:
        def alert(name: str, business: str, alert_class: str) -> dict[str, Any]:
            return {"labels": {"alertname": name, "business": business, "alert_class": alert_class, "severity": "page",
                               "goal": "loyal"}}

        alerts = [
            # shop: validation fails, its KPI pages are judged on the last validated snapshot
            alert("AlignwatchValidationFailing", "shop", "pipeline"),
            alert("AlignwatchHumanReachabilityBelowFloor", "shop", "kpi"),
            # mill: its pipeline stopped, its data is stale
            alert("AlignwatchMetricsStale", "mill", "pipeline"),
            alert("AlignwatchHumanReachabilityBelowFloor", "mill", "kpi"),
            alert("AlignwatchPitfallDetected", "mill", "alignment"),
            alert("AlignwatchHumanReachabilityBelowFloor", "bakery", "kpi"),
        ]
        request = urllib.request.Request(f"{server.url}/api/v2/alerts", data=json.dumps(alerts).encode(),
                                         headers={"Content-Type": "application/json"}, method="POST")
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310 - loopback

        last: dict[tuple[str, str], str] = {}

        def states() -> dict[tuple[str, str], str] | None:
            # Alertmanager's inhibitor learns source alerts from the alert store asynchronously, so
            # a target can read "active" for a moment after it is stored. The inhibitor sees the
            # alerts in the order they were posted: once the last inhibited one ("mill") reads
            # suppressed, every source posted before it (shop's included) has been seen.
            last.clear()
            last.update({(a["labels"]["alertname"], a["labels"]["business"]): a["status"]["state"]
                         for a in get_json(f"{server.url}/api/v2/alerts")})
            settled = len(last) == 6 and last.get(("AlignwatchPitfallDetected", "mill")) == "suppressed"
            return dict(last) if settled else None

        try:
            found = wait_until(states, timeout=15, what="Alertmanager to suppress the stale business's alerts")
        except AssertionError as error:
            raise AssertionError(f"{error}; last states: {last}") from error
        assert found == {
            ("AlignwatchValidationFailing", "shop"): "active",
            ("AlignwatchHumanReachabilityBelowFloor", "shop"): "active",
            ("AlignwatchMetricsStale", "mill"): "active",
            ("AlignwatchHumanReachabilityBelowFloor", "mill"): "suppressed",
            ("AlignwatchPitfallDetected", "mill"): "suppressed",
            ("AlignwatchHumanReachabilityBelowFloor", "bakery"): "active",
        }
    finally:
        server.stop()
