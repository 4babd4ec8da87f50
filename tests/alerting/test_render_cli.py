"""`alignwatch render`: committed artefacts equal a fresh render (golden files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import DEPLOY, REPO


def _alignwatch(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from alignwatch.cli import main; main()", *args],
        cwd=cwd, capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"},
    )


def test_committed_rules_and_dashboards_equal_a_fresh_render() -> None:
    result = _alignwatch("render", "all", "--check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "up to date" in result.stdout


def test_every_generated_file_says_it_is_generated() -> None:
    rules = sorted((DEPLOY / "prometheus" / "rules").glob("*.rules.yml"))
    assert len(rules) >= 3
    for path in rules:
        assert "generated" in path.read_text().splitlines()[0] and "do not edit" in path.read_text().splitlines()[0]
    dashboards = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert len(dashboards) == 5
    for path in dashboards:
        assert "do not edit" in json.loads(path.read_text())["description"]


def test_check_names_a_hand_edited_file_in_one_line_and_fails(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    written = _alignwatch("render", "all", "--out", str(out))
    assert written.returncode == 0, written.stderr
    edited = next((out / "prometheus" / "rules").glob("alignwatch-northwind*.rules.yml"))
    edited.write_text(edited.read_text().replace("severity: page", "severity: ticket", 1))
    (out / "grafana" / "dashboards" / "stray.json").write_text("{}")
    result = _alignwatch("render", "all", "--check", "--out", str(out))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert edited.name in result.stderr and "stray.json (extra)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    again = _alignwatch("render", "all", "--out", str(out))
    assert again.returncode == 0 and "1 stale removed" in again.stdout
    assert _alignwatch("render", "all", "--check", "--out", str(out)).returncode == 0


def test_rendering_one_strategy_keeps_only_its_business_and_links_runbooks_where_told(tmp_path: Path) -> None:
    out = tmp_path / "deploy"
    assert _alignwatch("render", "rules", "--out", str(out)).returncode == 0
    assert len(list((out / "prometheus" / "rules").glob("*.rules.yml"))) == 6
    result = _alignwatch("render", "rules", "--strategy", "examples/ecommerce.yaml", "--out", str(out),
                         "--runbook-base", "https://docs.example/runbooks.md")
    assert result.returncode == 0, result.stderr
    files = sorted(path.name for path in (out / "prometheus" / "rules").glob("*.rules.yml"))
    assert files == ["alignwatch-northwind_outfitters.rules.yml", "alignwatch-pipeline.rules.yml",
                     "alignwatch-recording.rules.yml"]
    text = (out / "prometheus" / "rules" / files[0]).read_text()
    assert "runbook_url: https://docs.example/runbooks.md#human-reachability-below-floor" in text
    assert "docs/runbooks.md#" not in text.replace("https://docs.example/runbooks.md#", "")
