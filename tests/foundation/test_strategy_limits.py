"""Strategy files: a size cap checked before parsing, YAML bombs refused, and every bad value
(dates included) a path-precise one-line problem, never a traceback."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignwatch.config import Settings
from alignwatch.errors import StrategyError
from alignwatch.metrics.strategy import DEFAULT_MAX_STRATEGY_BYTES, MAX_EXPANDED_NODES, load_strategy

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
CONSOLE_SCRIPT = Path(sys.executable).parent / "alignwatch"
BAKERY = (EXAMPLES / "bakery.yaml").read_text(encoding="utf-8")


def problems(path: Path, **options: int) -> list[str]:
    with pytest.raises(StrategyError) as caught:
        load_strategy(path, **options)
    return [str(problem) for problem in caught.value.problems]


def bakery_with(tmp_path: Path, old: str, new: str) -> Path:
    assert old in BAKERY
    path = tmp_path / "strategy.yaml"
    path.write_text(BAKERY.replace(old, new, 1), encoding="utf-8")
    return path


def validate(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSOLE_SCRIPT), "strategy", "validate", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **env},
    )


def billion_laughs(levels: int = 9) -> str:
    """Nine lines of nested aliases standing for 9**9 (387 million) strings."""
    lines = ['lol0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_the_default_size_cap_is_one_mebibyte_and_is_the_settings_default() -> None:
    assert DEFAULT_MAX_STRATEGY_BYTES == 1024 * 1024
    assert Settings().max_strategy_bytes == DEFAULT_MAX_STRATEGY_BYTES


def test_a_file_over_the_cap_is_refused_by_its_size_without_being_parsed(tmp_path: Path) -> None:
    # 16 MiB of one unterminated flow sequence: parsing it would take a minute and gigabytes
    path = tmp_path / "huge.yaml"
    with path.open("wb") as out:
        out.write(b"goals: [" + b"x, " * (16 * 1024 * 1024 // 3))
    size = path.stat().st_size
    started = time.monotonic()
    assert problems(path) == [
        f"file too large: {size:,} bytes; the limit is 1,048,576 bytes (ALIGNWATCH_MAX_STRATEGY_BYTES)"
    ]
    assert time.monotonic() - started < 1.0


def test_the_cap_is_a_parameter_and_a_file_exactly_at_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text(BAKERY, encoding="utf-8")
    size = len(BAKERY.encode())
    assert load_strategy(path, max_bytes=size).business.name == "Riverside Bakery"
    assert problems(path, max_bytes=size - 1) == [
        f"file too large: {size:,} bytes; the limit is {size - 1:,} bytes (ALIGNWATCH_MAX_STRATEGY_BYTES)"
    ]


def test_a_stream_without_a_size_is_read_only_up_to_the_cap(tmp_path: Path) -> None:
    # /dev/zero says it is empty and never ends: only cap + 1 bytes may be read from it
    assert problems(Path("/dev/zero"), max_bytes=4096) == [
        "file too large: more than 4,096 bytes; the limit is 4,096 bytes (ALIGNWATCH_MAX_STRATEGY_BYTES)"
    ]


def test_the_cli_takes_the_cap_from_ALIGNWATCH_MAX_STRATEGY_BYTES(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text(BAKERY, encoding="utf-8")
    refused = validate(path, ALIGNWATCH_MAX_STRATEGY_BYTES="2048")
    assert refused.returncode == 1
    assert refused.stderr.splitlines() == [
        f"error: {path}: 1 problem(s)",
        f"  file too large: {path.stat().st_size:,} bytes; the limit is 2,048 bytes (ALIGNWATCH_MAX_STRATEGY_BYTES)",
    ]
    assert validate(path, ALIGNWATCH_MAX_STRATEGY_BYTES=str(1024 * 1024)).returncode == 0


def test_an_impossible_go_live_date_is_a_path_precise_problem_not_a_traceback(tmp_path: Path) -> None:
    path = bakery_with(tmp_path, "go_live: 2026-03-02", "go_live: 2026-02-30")
    result = validate(path)
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"error: {path}: 1 problem(s)",
        "  automations[0].go_live: must be a date (YYYY-MM-DD), got '2026-02-30'",
    ]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-13-01", "must be a date (YYYY-MM-DD), got '2026-13-01'"),
        ("2026-04-31", "must be a date (YYYY-MM-DD), got '2026-04-31'"),
        ("2025-02-29", "must be a date (YYYY-MM-DD), got '2025-02-29'"),
        ("2026-02-30 10:00:00", "must be a date (YYYY-MM-DD), got '2026-02-30 10:00:00'"),
        ("2026-02-28T25:00:00", "must be a date (YYYY-MM-DD), got '2026-02-28T25:00:00'"),
        ("0000-01-01", "must be a date (YYYY-MM-DD), got '0000-01-01'"),
    ],
    ids=["month 13", "april 31", "not a leap year", "impossible datetime", "hour 25", "year zero"],
)
def test_every_impossible_date_or_time_is_reported_at_its_path(tmp_path: Path, value: str, expected: str) -> None:
    path = bakery_with(tmp_path, "go_live: 2026-03-02", f"go_live: {value}")
    assert problems(path) == [f"automations[0].go_live: {expected}"]


def test_an_impossible_date_in_a_text_field_stays_the_text_written(tmp_path: Path) -> None:
    path = bakery_with(tmp_path, "  name: Riverside Bakery", "  name: 2026-02-30")
    assert load_strategy(path).business.name == "2026-02-30"


def test_a_value_its_explicit_tag_cannot_hold_is_a_yaml_error_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text("business:\n  name: Bakery\ngoals:\n  - weight: !!int ten\n", encoding="utf-8")
    [message] = problems(path)
    assert message.startswith("YAML syntax error at line 4, column 13: cannot read 'ten' as int:")
    assert "\n" not in message


def test_a_billion_laughs_file_is_refused_quickly_and_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(billion_laughs() + "business: *a9\ngoals: *a9\nkpis: *a9\n", encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    [message] = problems(path)
    assert time.monotonic() - started < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50 * 1024  # KiB: under 50 MB more
    assert message == f"YAML syntax error at line 6, column 7: aliases expand the document to more than {MAX_EXPANDED_NODES:,} values"


def test_anchors_and_aliases_of_ordinary_size_are_still_accepted(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    text = BAKERY.replace("    features_licensed: [auto_schedule,", "    features_licensed: &oven [auto_schedule,", 1)
    path.write_text(text.replace("    features_licensed: [bank_sync, invoicing]", "    features_licensed: *oven", 1))
    automations = load_strategy(path).automations
    assert automations[2].features_licensed == automations[0].features_licensed == (
        "auto_schedule", "recipe_library", "remote_monitoring", "energy_saver",
    )


def test_an_alias_containing_itself_is_a_one_line_problem(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text("business: &loop\n  name: *loop\n", encoding="utf-8")
    [message] = problems(path)
    assert message == "YAML syntax error at line 1, column 11: found unconstructable recursive node"


def test_a_huge_value_is_cut_in_the_message_so_the_problem_stays_one_short_line(tmp_path: Path) -> None:
    path = bakery_with(tmp_path, "  currency: EUR", "  currency: " + "E" * 100_000)
    [message] = problems(path)
    assert message == (
        "business.currency: must be a three-letter ISO 4217 code such as 'EUR', got "
        "'EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE...'"
    )


def test_merge_keys_merge_and_the_explicit_keys_win(tmp_path: Path) -> None:
    # the second goal takes the first one's perspective and weight and overrides the rest
    path = bakery_with(
        tmp_path,
        "  - id: delight_customers\n    name: Fresh bread and friendly service for regulars\n"
        "    perspective: customer\n    weight: 3\n",
        "  - <<: *first_goal\n    id: delight_customers\n    name: Fresh bread and friendly service for regulars\n",
    )
    path.write_text(path.read_text().replace("  - id: reduce_waste\n", "  - &first_goal\n    id: reduce_waste\n", 1))
    goal = load_strategy(path).goals[1]
    assert (goal.id, goal.perspective, goal.weight) == ("delight_customers", "internal_process", 3)
    assert goal.kpis == ("csat", "repeat_rate", "order_cycle_time")


def test_a_character_yaml_refuses_is_a_one_line_problem(tmp_path: Path) -> None:
    path = bakery_with(tmp_path, "Riverside Bakery", "River\x00side Bakery")
    [message] = problems(path)
    assert message.startswith("YAML error: unacceptable character #x0000: control characters are not allowed")
    assert "\n" not in message
