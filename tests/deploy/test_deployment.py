"""The images and the stacks built from the repository, checked without a container engine.

The Dockerfiles are linted (hadolint, and the rules that matter checked directly), the
compose file is validated against the compose-spec JSON schema (the copy that the
``check-jsonschema`` package ships as ``vendor.compose-spec``), the Kubernetes manifests with
``kubernetes-validate --strict``, and every command the containers run is run with
``--help`` from this virtualenv, which installs what the images install.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import setuptools
import yaml

from alignwatch.cli import COMMANDS

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
DOCKERFILES = sorted((DEPLOY / "docker").glob("*.Dockerfile"))
COMPOSE = DEPLOY / "compose" / "compose.yml"
K8S = sorted((DEPLOY / "k8s").glob("*.yaml"))
AIRFLOW_VALUES = DEPLOY / "helm" / "airflow" / "values.yaml"
BIN = Path(sys.executable).parent
IMAGES = {  # the image each Dockerfile builds (compose's defaults, the manifests' and the chart's)
    "alignwatch.Dockerfile": "ghcr.io/alignwatch/alignwatch:0.1.0",
    "airflow.Dockerfile": "ghcr.io/alignwatch/alignwatch-airflow:0.1.0",
}


def _instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")]


def _compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _expand(value: str) -> str:
    """``${VAR:-default}`` → default (what compose does when VAR is unset)."""
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def _k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in K8S for doc in yaml.safe_load_all(path.read_text()) if doc]


def _containers() -> list[dict[str, Any]]:
    found = []
    for doc in _k8s_documents():
        if doc["kind"] in {"Deployment", "Job"}:
            found.extend(doc["spec"]["template"]["spec"]["containers"])
    return found


def test_both_images_have_a_dockerfile() -> None:
    assert sorted(p.name for p in DOCKERFILES) == sorted(IMAGES)


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_is_multi_stage_pinned_non_root_and_installs_by_the_constraints(dockerfile: Path) -> None:
    instructions = _instructions(dockerfile)
    bases = [args.split()[0] for name, args in instructions if name == "FROM"]
    assert len(bases) >= 2, "multi-stage: a build stage and a runtime stage"
    for base in bases:
        image, _, tag = base.partition(":")
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{base}: base image not pinned by tag"
    users = [args for name, args in instructions if name == "USER"]
    assert users and users[-1].split(":")[0] not in {"root", "0"}, "the image must end as a non-root user"
    installs = [args for name, args in instructions if name == "RUN" and re.search(r"\bpip (install|wheel)\b", args)]
    assert installs
    for command in installs:
        assert "--no-cache-dir" in command, command
        if " install " in command:
            assert re.search(r"-c \S*constraints\.txt", command), f"not pinned by constraints.txt: {command}"
    assert not any(name == "ADD" for name, _ in instructions), "COPY, not ADD"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_every_file_a_dockerfile_copies_from_the_repository_exists_and_is_in_the_build_context(dockerfile: Path) -> None:
    ignored = [line.strip().rstrip("/") for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    copied = 0
    for name, args in _instructions(dockerfile):
        if name != "COPY" or "--from=" in args:
            continue
        *sources, _destination = [token for token in shlex.split(args) if not token.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), f"{dockerfile.name} copies missing {source}"
            assert source.rstrip("/") not in ignored, f"{source} is excluded by .dockerignore"
            copied += 1
    assert copied >= 4


def test_the_airflow_image_carries_the_dags_and_the_package_and_runs_the_pinned_airflow() -> None:
    instructions = _instructions(DEPLOY / "docker" / "airflow.Dockerfile")
    copies = [args for name, args in instructions if name == "COPY"]
    assert any(args.split()[-2] == "dags/" for args in copies)
    assert any("alignwatch-*.whl" in args for name, args in instructions if name == "RUN")
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert pinned
    base = [args for name, args in instructions if name == "FROM"][-1]
    assert base.startswith(f"apache/airflow:{pinned.group(1)}-python3.11"), base


@pytest.mark.integration
def test_hadolint_passes_on_both_dockerfiles() -> None:
    hadolint = BIN / "hadolint"
    result = subprocess.run([str(hadolint), "--no-color", *map(str, DOCKERFILES)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_file_is_valid_against_the_compose_spec_schema() -> None:
    schema_file = resources.files("check_jsonschema") / "builtin_schemas" / "vendor" / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(_compose())]
    assert not errors, errors


def test_every_compose_image_is_built_here_or_pinned_by_tag() -> None:
    built = 0
    for name, service in _compose()["services"].items():
        image = _expand(service["image"])
        if "build" in service:
            dockerfile = REPO / "deploy" / "compose" / service["build"]["context"] / service["build"]["dockerfile"]
            assert dockerfile.resolve().exists(), f"{name}: {dockerfile} missing"
            assert IMAGES[dockerfile.name] == image, f"{name} tags {image}, the Dockerfile builds {IMAGES[dockerfile.name]}"
            built += 1
        else:
            _, _, tag = image.rpartition(":")
            assert tag and tag != "latest" and "/" not in tag and re.search(r"\d", tag), f"{name}: {image} not pinned"
    assert built >= 7


def test_compose_runs_airflow_as_separate_components_after_its_database_is_migrated() -> None:
    services = _compose()["services"]
    commands = {name: service.get("command") for name, service in services.items()}
    assert commands["airflow-db-migrate"] == ["airflow", "db", "migrate"]
    assert services["airflow-db-migrate"]["restart"] == "no"
    components = {"api-server", "scheduler", "dag-processor"}
    running = {name: command for name, command in commands.items() if command and command[:1] == ["airflow"]
               and command[1] in components}
    assert {command[1] for command in running.values()} == components
    for name in running:
        depends_on = services[name]["depends_on"]
        assert depends_on["airflow-db-migrate"] == {"condition": "service_completed_successfully"}, name
    assert not any("standalone" in json.dumps(command) for command in commands.values())
    assert "airflow" in (DEPLOY / "compose" / "postgres-init" / "10-airflow-database.sh").read_text()


def test_alignwatch_and_airflow_containers_run_as_one_uid_that_owns_the_shared_secret_files() -> None:
    services = _compose()["services"]
    airflow = [name for name, service in services.items() if "airflow.Dockerfile" in str(service.get("build"))]
    assert len(airflow) == 4
    assert {services[name]["user"] for name in airflow} == {"10001:0"}
    assert "USER 10001:10001" in (DEPLOY / "docker" / "alignwatch.Dockerfile").read_text()
    assert all("pgpass" in services[name]["secrets"] for name in [*airflow, "consumer", "exporter", "migrate"])


def test_compose_mounts_depend_and_secrets_refer_to_what_exists() -> None:
    compose = _compose()
    services, base = compose["services"], COMPOSE.parent
    for name, service in services.items():
        for dependency in service.get("depends_on", {}):
            assert dependency in services, f"{name} depends on unknown {dependency}"
        for volume in service.get("volumes", []):
            source = _expand(str(volume)).split(":", 1)[0]
            if source.startswith("."):
                assert (base / source).resolve().exists(), f"{name} mounts missing {source}"
            else:
                assert source in compose["volumes"], f"{name} mounts undeclared volume {source}"
        for secret in service.get("secrets", []):
            assert secret in compose["secrets"], f"{name} uses undeclared secret {secret}"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    ignored = subprocess.run(["git", "check-ignore", "-q", str(base / "secrets" / "x")], cwd=REPO, timeout=30)
    assert ignored.returncode == 0, "deploy/compose/secrets/ must be git-ignored"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(base / ".env")], cwd=REPO, timeout=30)
    assert ignored.returncode == 0, "deploy/compose/.env must be git-ignored"
    assert (base / ".env.example").exists()


def test_no_secret_is_written_in_clear_in_the_deployment_files() -> None:
    """A key naming a password, secret or key holds a reference (a file, a command, a Secret's name), never a value."""
    setting = re.compile(r"^\s*-?\s*(\w*(PASSWORD|SECRET|FERNET|TOKEN)\w*)\s*[:=]\s*(\S.*)?$", re.I)
    files = [COMPOSE, DEPLOY / "compose" / ".env.example", AIRFLOW_VALUES, *K8S]
    for path in files:
        for line in path.read_text().splitlines():
            match = setting.match(line)
            if not match or not match.group(3) or line.lstrip().startswith("#"):
                continue
            key, value = match.group(1), match.group(3)
            reference = key.endswith(("_FILE", "_CMD", "SecretName")) or value.startswith(("[", "{"))
            assert reference, f"{path.name}: {line.strip()}"
    compose_env = [service.get("environment", {}) for service in _compose()["services"].values()]
    for environment in compose_env:
        for key, value in environment.items():
            if re.search("PASSWORD|SECRET|FERNET", key):
                assert key.endswith(("_FILE", "_CMD")), key
            assert "@" not in str(value) or ":" not in str(value).split("@")[0].split("//")[-1], f"password in {key}"


@pytest.mark.integration
def test_kubernetes_manifests_pass_kubernetes_validate_strict() -> None:
    result = subprocess.run([str(BIN / "kubernetes-validate"), "--strict", *map(str, K8S)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed") == len(_k8s_documents())


def test_kubernetes_runs_the_images_built_here_as_their_user_and_migrates_in_a_job() -> None:
    for container in _containers():
        assert container["image"] == IMAGES["alignwatch.Dockerfile"], container["name"]
    for doc in _k8s_documents():
        if doc["kind"] in {"Deployment", "Job"}:
            assert doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001  # the Dockerfile's USER
    jobs = [doc for doc in _k8s_documents() if doc["kind"] == "Job"]
    assert [job["spec"]["template"]["spec"]["containers"][0]["args"] for job in jobs] == [["alignwatch", "db", "upgrade"]]
    assert "USER 10001:10001" in (DEPLOY / "docker" / "alignwatch.Dockerfile").read_text()


def test_the_airflow_chart_values_run_the_airflow_image_built_here_with_secrets_by_name() -> None:
    values = yaml.safe_load(AIRFLOW_VALUES.read_text())
    repository, tag = IMAGES["airflow.Dockerfile"].rsplit(":", 1)
    assert values["images"]["airflow"] == {"repository": repository, "tag": tag, "pullPolicy": "IfNotPresent"}
    pinned = re.search(r"^apache-airflow==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert pinned and values["airflowVersion"] == pinned.group(1)
    assert values["postgresql"]["enabled"] is False and values["data"]["metadataSecretName"]
    assert values["fernetKeySecretName"] and values["jwtSecretName"] and values["apiSecretKeySecretName"]
    assert values["dags"]["gitSync"]["enabled"] is False and values["dagProcessor"]["enabled"] is True
    config_map = next(doc for doc in _k8s_documents() if doc["kind"] == "ConfigMap")
    assert config_map["metadata"]["name"] in values["extraEnvFrom"]


def _commands() -> list[list[str]]:
    """Every command a container of the compose stack or of the manifests runs."""
    commands = [service["command"] for service in _compose()["services"].values()
                if isinstance(service.get("command"), list) and service["command"][0] in {"alignwatch", "airflow"}]
    commands += [container["args"] for container in _containers()]
    unique = []
    for command in commands:
        if command not in unique:
            unique.append(command)
    return unique


@pytest.mark.integration
@pytest.mark.slow
def test_every_command_the_containers_run_exists_in_the_installed_package() -> None:
    """``alignwatch …`` and ``airflow …`` with ``--help``, from this virtualenv, side by side."""
    commands = _commands()
    assert {c[1] for c in commands if c[0] == "airflow"} == {"db", "api-server", "scheduler", "dag-processor"}
    assert {c[1] for c in commands if c[0] == "alignwatch"} == {"db", "consume", "export"}
    runs = {}
    for command in commands:
        subcommand = [token for token in command[1:] if not token.startswith("-")][: 2 if command[1] == "db" else 1]
        argv = [str(BIN / command[0]), *subcommand, "--help"]
        runs[" ".join(command)] = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                                   cwd=REPO)
    for name, process in runs.items():
        output, _ = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}: {output[-2000:]}"
        for option in (token for token in name.split()[1:] if token.startswith("--")):
            assert option in output, f"{name}: no option {option}"


def test_every_file_the_containers_read_exists_in_the_repository() -> None:
    compose = _compose()
    strategy = _expand(compose["x-alignwatch"]["volumes"][0]).split(":", 1)[0]
    assert (COMPOSE.parent / strategy).resolve().is_file()
    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    for pattern in prometheus["rule_files"]:
        assert list((DEPLOY / "prometheus").glob(pattern)), pattern
    init = DEPLOY / "compose" / "postgres-init" / "10-airflow-database.sh"
    assert init.stat().st_mode & 0o111, "the init script must be executable"
    assert sorted(p.name for p in (REPO / "dags").glob("*.py")) == ["alignment_continuous.py", "alignment_nightly.py"]


def _installed_modules() -> set[str]:
    """Modules the image's ``pip install .`` puts in the image (the packages pyproject.toml finds)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    modules = set()
    # the build backend's own package discovery, as the image build runs it
    for package in setuptools.find_packages(where=str(REPO), include=include):
        folder = REPO.joinpath(*package.split("."))
        modules |= {package} | {f"{package}.{path.stem}" for path in folder.glob("*.py") if path.stem != "__init__"}
    return modules


def test_the_modules_the_commands_and_the_dags_import_are_in_the_installed_package() -> None:

    modules = _installed_modules()
    assert {"alignwatch.stream", "alignwatch.metrics", "alignwatch.expectations"} <= modules  # through the links
    for command in _commands():
        if command[0] == "alignwatch":
            assert COMMANDS[command[1]].split(":")[0] in modules, command
    for dag in (REPO / "dags").glob("*.py"):
        imported = {node.module for node in ast.walk(ast.parse(dag.read_text()))
                    if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("alignwatch")}
        assert imported and imported <= modules, f"{dag.name} imports {imported - modules}"


def test_prometheus_grafana_and_alertmanager_find_each_other_and_the_rendered_files_in_the_stack() -> None:
    services = _compose()["services"]

    def mounts(name: str) -> dict[str, str]:
        pairs = [_expand(str(volume)).split(":")[:2] for volume in services[name]["volumes"]]
        return {target: source for source, target in pairs}

    prometheus = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert mounts("prometheus")["/etc/prometheus/rules"] == "../prometheus/rules"
    assert all(pattern.startswith("rules/") for pattern in prometheus["rule_files"])
    targets = [target for job in prometheus["scrape_configs"] for config in job.get("static_configs", [])
               for target in config["targets"]]
    targets += [target for config in prometheus["alerting"]["alertmanagers"] for s in config["static_configs"]
                for target in s["targets"]]
    targets += [name for job in prometheus["scrape_configs"] for config in job.get("dns_sd_configs", [])
                for name in config["names"]]
    for target in targets:
        assert target.split(":")[0] in services | {"localhost": None}, target
    provider = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "alignwatch.yml").read_text())
    dashboards = provider["providers"][0]["options"]["path"]
    assert mounts("grafana")[dashboards] == "../grafana/dashboards"
    datasource = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "alignwatch.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert mounts("grafana")["/etc/grafana/provisioning/datasources"] == "../grafana/provisioning/datasources"
    assert mounts("alertmanager")["/etc/alertmanager/alertmanager.yml"] == "../alertmanager/alertmanager.yml"
