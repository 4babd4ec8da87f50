"""``alignwatch strategy validate``: a summary and exit 0, or every problem and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from alignwatch.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONSOLE_SCRIPT = Path(sys.executable).parent / "alignwatch"


def broken_copy(tmp_path: Path) -> Path:
    """The bakery strategy with a misspelt process, a negative weight and a word as target."""
    text = (EXAMPLES / "bakery.yaml").read_text(encoding="utf-8")
    text = text.replace("    processes: [custom_orders]\n", "    processes: [bakng]\n", 1)
    text = text.replace("    weight: 2\n", "    weight: -2\n", 1)
    text = text.replace("    target: 0.9\n", "    target: high\n", 1)
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_the_console_script_validates_the_bakery_and_prints_its_summary() -> None:
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "strategy", "validate", str(EXAMPLES / "bakery.yaml")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Riverside Bakery" in result.stdout
    for words in ("reduce_waste", "sell_through >= 0.9 ratio", "critical: counter_sales", "smart_oven"):
        assert words in result.stdout


def test_the_console_script_rejects_a_broken_copy_with_every_path_and_no_traceback(tmp_path: Path) -> None:
    path = broken_copy(tmp_path)
    result = subprocess.run(
        [str(CONSOLE_SCRIPT), "strategy", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.splitlines() == [
        f"error: {path}: 3 problem(s)",
        "  goals[2].weight: must be > 0.0, got -2",
        "  kpis[0].target: must be a number, got 'high'",
        "  automations[1].processes[0]: unknown process 'bakng'",
    ]


@pytest.mark.parametrize("scenario", ["bakery", "ecommerce", "retail", "control"])
def test_every_example_validates_through_the_strategy_option(
    scenario: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(["strategy", "validate", "--strategy", str(EXAMPLES / f"{scenario}.yaml")], capsys)
    assert code == 0, err
    assert out.startswith(f"valid {EXAMPLES / f'{scenario}.yaml'}:")


def test_json_output_of_a_valid_file_carries_the_summary(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["strategy", "validate", str(EXAMPLES / "ecommerce.yaml"), "--json"], capsys)
    summary = json.loads(out)
    assert code == 0 and summary["valid"] is True
    assert summary["business"]["name"] == "Northwind Outfitters"
    assert [g["id"] for g in summary["goals"]] == ["fast_delivery", "customer_trust", "profitable_growth", "capable_team"]
    assert sum(g["share"] for g in summary["goals"]) == pytest.approx(1.0, abs=1e-3)
    assert "human_reachability" in [k["id"] for k in summary["kpis"]["customer"]]
    assert summary["processes"]["critical"] == ["order_fulfilment", "customer_support"]
    assert {a["id"]: a["pilot_end"] for a in summary["automations"]}["support_bot"] == "2026-07-31"


def test_json_output_of_a_broken_file_lists_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_copy(tmp_path)
    code, out, _ = run_main(["strategy", "validate", "--json", "--strategy", str(path)], capsys)
    report = json.loads(out)
    assert code == 1 and report["valid"] is False and report["source"] == str(path)
    assert [p["path"] for p in report["problems"]] == ["goals[2].weight", "kpis[0].target", "automations[1].processes[0]"]


def test_without_a_file_the_strategy_file_setting_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALIGNWATCH_STRATEGY_FILE", str(EXAMPLES / "retail.yaml"))
    code, out, _ = run_main(["strategy", "validate"], capsys)
    assert code == 0 and "Lindenhof Hardware" in out


def test_two_different_files_at_once_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(
        ["strategy", "validate", str(EXAMPLES / "bakery.yaml"), "--strategy", str(EXAMPLES / "retail.yaml")], capsys
    )
    assert code == 2
    assert err.strip().startswith("error: two strategy files given:")


def test_a_missing_file_is_one_line_and_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(["strategy", "validate", str(tmp_path / "missing.yaml")], capsys)
    assert code == 1 and out == ""
    assert err.splitlines() == [f"error: {tmp_path / 'missing.yaml'}: 1 problem(s)", "  file not found"]
