"""The production deployment files are consistent: what can be checked without Docker."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import yaml

from .conftest import DEPLOY

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


def test_alertmanager_routes_by_severity_groups_by_business_and_goal_and_inhibits_kpi_alerts_on_failed_validation() -> None:
    config = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    assert {"business", "goal"} <= set(config["route"]["group_by"])
    severities = {m for route in config["route"]["routes"] for m in route["matchers"]}
    assert severities == {'severity="page"', 'severity="ticket"'}
    inhibit = next(r for r in config["inhibit_rules"] if 'alertname="AlignwatchValidationFailing"' in r["source_matchers"])
    assert inhibit["equal"] == ["business"] and any("kpi" in m for m in inhibit["target_matchers"])
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
    assert {"kafka", "postgres", "airflow", "consumer", "exporter", "prometheus", "alertmanager", "grafana"} <= set(services)
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
