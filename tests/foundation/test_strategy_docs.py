"""docs/strategy.md documents every field, default, measure and checklist item of the models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from alignwatch.metrics.strategy import (
    CHECKLIST_ITEMS,
    KPI_MEASURES,
    Automation,
    Business,
    ChecklistAnswer,
    DecisionOversight,
    Ethics,
    Goal,
    Kpi,
    KpiFilters,
    Process,
    Strategy,
    Thresholds,
    Touchpoint,
    Weights,
    WorkforceCommitment,
    parse_strategy,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "strategy.md").read_text(encoding="utf-8")
MODELS = [Strategy, Business, Goal, Kpi, KpiFilters, Process, Touchpoint, Automation, Ethics, DecisionOversight,
          WorkforceCommitment, Weights, Thresholds, ChecklistAnswer]


def table_rows(heading: str) -> dict[str, list[str]]:
    """Rows of the markdown table under ``heading``, keyed by their first cell (no backticks)."""
    section = DOC.split(heading, 1)[1].split("\n#", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            rows[cells[0].strip("`")] = cells
    return rows


@pytest.mark.parametrize("model", MODELS, ids=[m.__name__ for m in MODELS])
def test_every_field_of_every_model_is_documented(model: type) -> None:
    missing = [name for name in model.model_fields if f"`{name}`" not in DOC]
    assert missing == []


@pytest.mark.parametrize(
    ("section", "heading"),
    [(Weights, "### `weights`"), (Thresholds, "### `thresholds`")],
    ids=["weights", "thresholds"],
)
def test_documented_defaults_are_the_models_defaults(section: type, heading: str) -> None:
    rows = table_rows(heading)
    assert set(rows) == set(section.model_fields)
    for name, field in section.model_fields.items():
        assert float(rows[name][1]) == field.default, name


def test_every_measure_is_documented_with_its_perspective() -> None:
    rows = table_rows("## Measures")
    assert {measure: cells[1] for measure, cells in rows.items()} == KPI_MEASURES


def test_every_checklist_item_is_documented() -> None:
    assert [item for item in CHECKLIST_ITEMS if f"`{item}`" not in DOC] == []


def test_the_annotated_example_is_a_valid_strategy() -> None:
    [example] = re.findall(r"```yaml\n(.*?)```", DOC, flags=re.S)
    strategy = parse_strategy(yaml.safe_load(example), source="docs/strategy.md")
    assert strategy.goal_weights() == {"reduce_waste": 0.75, "delight_customers": 0.25}
