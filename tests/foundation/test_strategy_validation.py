"""Strategy files: the examples load, and every mistake is reported with its exact path."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from alignwatch.errors import Problem, StrategyError
from alignwatch.metrics.strategy import (
    ANY_PERSPECTIVE,
    CHECKLIST_ITEMS,
    CRITICALITIES,
    KPI_MEASURES,
    PERSPECTIVES,
    Strategy,
    Thresholds,
    Weights,
    load_strategy,
    parse_strategy,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCENARIOS = ["bakery", "ecommerce", "retail", "control", "refunds"]


def bakery() -> dict[str, Any]:
    """A fresh, mutable copy of the bakery strategy as plain data."""
    return yaml.safe_load((EXAMPLES / "bakery.yaml").read_text(encoding="utf-8"))


def problems_of(data: Any) -> list[Problem]:
    with pytest.raises(StrategyError) as caught:
        parse_strategy(data, source="bakery.yaml")
    return caught.value.problems


def mutated(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = bakery()
    change(data)
    return data


def _eight_goals(data: dict[str, Any]) -> None:
    template = data["goals"][0]
    data["goals"] = [{**copy.deepcopy(template), "id": f"goal_{n}"} for n in range(8)]


def _set_all_weights_zero(data: dict[str, Any]) -> None:
    data["weights"] = {name: 0 for name in Weights.model_fields}


def _oven_decisions(**fields: Any) -> dict[str, Any]:
    """An ethics decision oversight of the bakery's oven, with ``fields`` changed."""
    return {"automation": "smart_oven", "favourable": ["approved"], "dimensions": ["region"], **fields}


# (mutation, exact path, words the message must contain)
MISTAKES: dict[str, tuple[Callable[[dict[str, Any]], None], str, str]] = {
    "an automation names an unknown process": (
        lambda d: d["automations"][1]["processes"].__setitem__(0, "bakng"),
        "automations[1].processes[0]",
        "unknown process 'bakng'",
    ),
    "a KPI id is declared twice": (
        lambda d: d["kpis"][3].__setitem__("id", "sell_through"),
        "kpis[3].id",
        "duplicate id 'sell_through' (first at kpis[0])",
    ),
    "a goal has a perspective outside the scorecard": (
        lambda d: d["goals"][0].__setitem__("perspective", "finance"),
        "goals[0].perspective",
        "must be one of 'financial', 'customer', 'internal_process', 'learning_growth', got 'finance'",
    ),
    "a goal weight is negative": (
        lambda d: d["goals"][2].__setitem__("weight", -2),
        "goals[2].weight",
        "must be > 0",
    ),
    "a goal weight is zero": (
        lambda d: d["goals"][1].__setitem__("weight", 0),
        "goals[1].weight",
        "must be > 0",
    ),
    "a KPI target is not a number": (
        lambda d: d["kpis"][1].__setitem__("target", "low"),
        "kpis[1].target",
        "must be a number, got 'low'",
    ),
    "a KPI target is not finite": (
        lambda d: d["kpis"][1].__setitem__("target", math.inf),
        "kpis[1].target",
        "must be a finite number",
    ),
    "a goal has no name": (
        lambda d: d["goals"][0].pop("name"),
        "goals[0].name",
        "required field is missing",
    ),
    "seats are not a whole number": (
        lambda d: d["automations"][0].__setitem__("seats", 2.5),
        "automations[0].seats",
        "must be a whole number, got 2.5",
    ),
    "a process list is a single string": (
        lambda d: d["automations"][0].__setitem__("processes", "baking"),
        "automations[0].processes",
        "must be a list, got 'baking'",
    ),
    "there are no goals": (
        lambda d: d.__setitem__("goals", []),
        "goals",
        "must have at least 1 goal(s), got 0",
    ),
    "there are more than seven goals": (_eight_goals, "goals", "must have at most 7 goals, got 8"),
    "a KPI uses a measure the catalogue does not know": (
        lambda d: d["kpis"][0].__setitem__("measure", "waste"),
        "kpis[0].measure",
        "unknown measure 'waste'; known measures: roi,",
    ),
    "a pilot ends before it went live": (
        lambda d: d["automations"][1].__setitem__("pilot_end", "2026-08-01"),
        "automations[1].pilot_end",
        "2026-08-01 is not after go_live 2026-09-01",
    ),
    "a pilot has no end date": (
        lambda d: d["automations"][1].pop("pilot_end"),
        "automations[1].pilot_end",
        "required when pilot is true",
    ),
    "an unknown top-level section appears": (
        lambda d: d.__setitem__("budget", 1000),
        "budget",
        "unknown key; allowed keys: business, goals, kpis",
    ),
    "a goal carries an unknown key": (
        lambda d: d["goals"][3].__setitem__("owner", "anna"),
        "goals[3].owner",
        "unknown key; allowed keys: id, name, perspective, weight, kpis",
    ),
    "a KPI direction is neither up nor down": (
        lambda d: d["kpis"][2].__setitem__("direction", "sideways"),
        "kpis[2].direction",
        "must be one of 'up', 'down', got 'sideways'",
    ),
    "a KPI filter names an unknown process": (
        lambda d: d["kpis"][0]["filters"].__setitem__("process", "bakng"),
        "kpis[0].filters.process",
        "unknown process 'bakng'",
    ),
    "a KPI filter names an unknown automation": (
        lambda d: d["kpis"][7]["filters"].__setitem__("automation", "oven"),
        "kpis[7].filters.automation",
        "unknown automation 'oven'",
    ),
    "a KPI's perspective contradicts its measure": (
        lambda d: d["kpis"][0].__setitem__("perspective", "customer"),
        "kpis[0].perspective",
        "'customer' does not match measure 'sell_through', which belongs to the internal_process perspective",
    ),
    "a goal lists an unknown KPI": (
        lambda d: d["goals"][0]["kpis"].__setitem__(1, "waste_rate"),
        "goals[0].kpis[1]",
        "unknown KPI 'waste_rate'",
    ),
    "a touchpoint belongs to an unknown process": (
        lambda d: d["journey"][0].__setitem__("process", "sales"),
        "journey[0].process",
        "unknown process 'sales'",
    ),
    "a touchpoint serves an unknown goal": (
        lambda d: d["journey"][1]["goals"].__setitem__(0, "growth"),
        "journey[1].goals[0]",
        "unknown goal 'growth'",
    ),
    "an automation names an unknown touchpoint": (
        lambda d: d["automations"][1]["touchpoints"].__setitem__(1, "pickup"),
        "automations[1].touchpoints[1]",
        "unknown touchpoint 'pickup'",
    ),
    "an automation promises an unknown KPI": (
        lambda d: d["automations"][2]["kpis"].__setitem__(0, "savings"),
        "automations[2].kpis[0]",
        "unknown KPI 'savings'",
    ),
    "an index weight is negative": (
        lambda d: d["weights"].__setitem__("cjai", -0.1),
        "weights.cjai",
        "must be >= 0",
    ),
    "every index weight is zero": (_set_all_weights_zero, "weights", "at least one weight must be positive"),
    "a red flag lies on the good side of the target": (
        lambda d: d["kpis"][0].__setitem__("red_flag", 0.95),
        "kpis[0].red_flag",
        "must be below the target 0.9 (direction up), got 0.95",
    ),
    "a checklist answer names an unknown item": (
        lambda d: d["checklist"].__setitem__("team_spirit", {"answer": "yes"}),
        "checklist.team_spirit",
        "must be one of 'clear_strategy'",
    ),
    "a checklist answer is not yes, no or unknown": (
        lambda d: d["checklist"]["pilot_projects"].__setitem__("answer", "maybe"),
        "checklist.pilot_projects.answer",
        "must be one of 'yes', 'no', 'unknown', got 'maybe'",
    ),
    "the time zone is not an IANA name": (
        lambda d: d["business"].__setitem__("timezone", "Mars/Olympus"),
        "business.timezone",
        "unknown time zone 'Mars/Olympus'",
    ),
    "an id is not snake_case": (
        lambda d: d["processes"][4].__setitem__("id", "Book Keeping"),
        "processes[4].id",
        "must be a lower-case snake_case id",
    ),
    "a go-live is not a date": (
        lambda d: d["automations"][0].__setitem__("go_live", "next spring"),
        "automations[0].go_live",
        "must be a date (YYYY-MM-DD), got 'next spring'",
    ),
    "a ratio threshold exceeds one": (
        lambda d: d["thresholds"].__setitem__("sell_through_min", 1.5),
        "thresholds.sell_through_min",
        "must be <= 1",
    ),
    "a flag is not a boolean": (
        lambda d: d["processes"][3].__setitem__("candidate", "perhaps"),
        "processes[3].candidate",
        "must be true or false, got 'perhaps'",
    ),
    "a new product is listed twice": (
        lambda d: d.__setitem__("new_products", ["rye", "SKU-0042", "rye"]),
        "new_products[2]",
        "duplicate product 'rye' (first at new_products[0])",
    ),
    "a new product holds a control character": (
        lambda d: d.__setitem__("new_products", ["rye", "sour\tdough"]),
        "new_products[1]",
        "must not contain control characters (tab, newline, ...), got 'sour\\tdough'",
    ),
    "new-product adoption is measured without new products": (
        lambda d: d["kpis"].append({"id": "adoption", "name": "New bread bought", "perspective": "customer",
                                    "unit": "ratio", "direction": "up", "target": 0.2,
                                    "measure": "new_product_adoption"}),
        "kpis[15].measure",  # appended after the bakery's 15 KPIs
        "new_product_adoption needs the products counted as new: declare new_products",
    ),
    "an ethics decision names an unknown automation": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(automation="smart_ovn")]}),
        "ethics.decisions[0].automation",
        "unknown automation 'smart_ovn'",
    ),
    "an automation's decisions are declared twice": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(), _oven_decisions()]}),
        "ethics.decisions[1].automation",
        "duplicate automation 'smart_oven' (first at ethics.decisions[0])",
    ),
    "decisions nobody oversees": (
        lambda d: d.__setitem__("ethics", {"decisions": [_oven_decisions()]}),
        "ethics.decisions[0].owner",
        "required when ethics.oversight_owner is not declared",
    ),
    "a segment dimension is not a lower-case word": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(dimensions=["Region"])]}),
        "ethics.decisions[0].dimensions[0]",
        "must be a lower-case segment dimension (a-z, 0-9, _; starting with a letter), got 'Region'",
    ),
    "a segment dimension is listed twice": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner",
                                           "decisions": [_oven_decisions(dimensions=["region", "region"])]}),
        "ethics.decisions[0].dimensions[1]",
        "duplicate 'region' (first at dimensions[0])",
    ),
    "decisions without a favourable outcome": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(favourable=[])]}),
        "ethics.decisions[0].favourable",
        "must have at least 1 item(s), got 0",
    ),
    "a parity floor above one": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(parity_floor=1.25)]}),
        "ethics.decisions[0].parity_floor",
        "must be <= 1",
    ),
    "an override-rate limit above one": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner",
                                           "decisions": [_oven_decisions(override_rate_max=1.5)]}),
        "ethics.decisions[0].override_rate_max",
        "must be <= 1",
    ),
    "a minimum sample of zero": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(min_sample=0)]}),
        "ethics.decisions[0].min_sample",
        "must be >= 1",
    ),
    "a review date that is no date": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(reviewed="last spring")]}),
        "ethics.decisions[0].reviewed",
        "must be a date (YYYY-MM-DD)",
    ),
    "a training commitment of zero days": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "workforce": {"training_within_days": 0}}),
        "ethics.workforce.training_within_days",
        "must be >= 1",
    ),
    "an unknown key in a decision's oversight": (
        lambda d: d.__setitem__("ethics", {"oversight_owner": "owner", "decisions": [_oven_decisions(floor=0.8)]}),
        "ethics.decisions[0].floor",
        "unknown key; allowed keys: automation, favourable, dimensions, parity_floor",
    ),
    "a section is a mapping where a list belongs": (
        lambda d: d.__setitem__("automations", {"smart_oven": {}}),
        "automations",
        "must be a list, got a mapping",
    ),
}


@pytest.mark.parametrize("mistake", list(MISTAKES), ids=list(MISTAKES))
def test_each_mistake_is_reported_with_its_exact_path(mistake: str) -> None:
    change, path, words = MISTAKES[mistake]
    problems = problems_of(mutated(change))
    at_path = [p for p in problems if p.path == path]
    assert at_path, f"no problem at {path}: {problems}"
    assert any(words in p.message for p in at_path), at_path
    assert any(str(p).startswith(f"{path}: ") for p in at_path)


def test_a_file_with_several_mistakes_reports_all_of_them_in_document_order(tmp_path: Path) -> None:
    data = bakery()
    data["goals"][2]["weight"] = -1
    data["goals"][0]["perspective"] = "finance"
    data["kpis"][4]["target"] = "soon"
    data["kpis"][5]["id"] = "csat_score"
    data["processes"][0]["criticality"] = "vital"
    data["automations"][1]["processes"][0] = "bakng"
    data["automations"][1]["pilot_end"] = "2026-01-01"
    data["favourite_colour"] = "blue"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")

    with pytest.raises(StrategyError) as caught:
        load_strategy(path)

    assert [str(p) for p in caught.value.problems] == [
        "goals[0].perspective: must be one of 'financial', 'customer', 'internal_process', 'learning_growth', "
        "got 'finance'",
        "goals[1].kpis[0]: unknown KPI 'csat'",
        "goals[2].weight: must be > 0.0, got -1",
        "kpis[4].target: must be a number, got 'soon'",
        "processes[0].criticality: must be one of 'critical', 'supporting', 'peripheral', got 'vital'",
        "automations[1].processes[0]: unknown process 'bakng'",
        "automations[1].pilot_end: 2026-01-01 is not after go_live 2026-09-01",
        "automations[1].kpis[1]: unknown KPI 'csat'",
        "favourite_colour: unknown key; allowed keys: business, goals, kpis, processes, journey, automations, "
        "new_products, ethics, weights, thresholds, checklist",
    ]
    assert caught.value.source == str(path)
    assert str(caught.value).startswith(f"{path}: 9 problem(s)\n  goals[0].perspective:")


def test_a_yaml_syntax_error_names_its_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text("business:\n  name: Bakery\ngoals: [\n  - id: a\n", encoding="utf-8")
    with pytest.raises(StrategyError) as caught:
        load_strategy(path)
    [problem] = caught.value.problems
    assert problem.message.startswith("YAML syntax error at line 4, column 3:")


def test_a_key_repeated_in_one_mapping_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text("business:\n  name: Bakery\n  name: Other bakery\n", encoding="utf-8")
    with pytest.raises(StrategyError) as caught:
        load_strategy(path)
    [problem] = caught.value.problems
    assert problem.message == (
        "YAML syntax error at line 3, column 3: duplicate key 'name' (first at line 2, column 3)"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "the strategy is empty"),
        ("# only a comment\n", "the strategy is empty"),
        ("- goals\n- kpis\n", "must be a mapping of sections, got a list"),
        ("just words\n", "must be a mapping of sections, got 'just words'"),
    ],
    ids=["empty file", "comment only", "a list", "a scalar"],
)
def test_a_file_without_a_mapping_of_sections_is_rejected_in_one_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "strategy.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(StrategyError) as caught:
        load_strategy(path)
    assert [str(p) for p in caught.value.problems] == [message]


def test_a_missing_file_is_reported_as_not_found(tmp_path: Path) -> None:
    with pytest.raises(StrategyError) as caught:
        load_strategy(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: 1 problem(s)\n  file not found"


def test_a_section_that_is_not_a_list_does_not_flood_the_report_with_dangling_references() -> None:
    problems = problems_of(mutated(lambda d: d.__setitem__("goals", "all of them")))
    assert [str(p) for p in problems] == ["goals: must be a list, got 'all of them'"]


def test_bare_yes_and_no_checklist_answers_are_read_as_the_words() -> None:
    strategy = parse_strategy(bakery())
    assert strategy.checklist["clear_strategy"].answer == "yes"
    assert strategy.checklist["pilot_projects"].answer == "no"
    assert strategy.checklist["kpi_measurement"].answer == "unknown"


def test_omitted_sections_take_their_documented_defaults() -> None:
    data = bakery()
    for section in ("weights", "thresholds", "checklist", "journey"):
        data.pop(section)
    for automation in data["automations"]:
        automation.pop("touchpoints", None)
    strategy = parse_strategy(data)
    assert strategy.thresholds == Thresholds()
    assert strategy.thresholds.human_reachability_floor == 0.9
    assert strategy.thresholds.roi_consecutive_windows == 3
    assert strategy.weights == Weights()
    assert strategy.checklist == {}
    assert strategy.kpi("csat").min_events == 20
    assert sum(Weights().normalised().values()) == pytest.approx(1.0)


def test_a_loaded_strategy_is_frozen() -> None:
    strategy = parse_strategy(bakery())
    with pytest.raises(pydantic.ValidationError):
        strategy.business.name = "Another bakery"  # type: ignore[misc]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_example_strategy_loads_and_is_rich_enough_for_every_metric(scenario: str) -> None:
    strategy = load_strategy(EXAMPLES / f"{scenario}.yaml")

    assert 3 <= len(strategy.goals) <= 5
    assert {g.perspective for g in strategy.goals} == set(PERSPECTIVES)
    assert all(strategy.kpis_by_perspective()[p] for p in PERSPECTIVES)
    assert len({k.measure for k in strategy.kpis}) >= 15
    assert {p.criticality for p in strategy.processes} == set(CRITICALITIES)
    assert all(p.baseline_cycle_time_s is not None and p.baseline_error_rate is not None for p in strategy.processes)
    assert any(p.candidate for p in strategy.processes)
    assert any(t.strategic for t in strategy.journey) and any(t.human_fallback for t in strategy.journey)
    assert any(a.pilot and a.pilot_end for a in strategy.automations)
    assert all(a.features_licensed and a.seats and a.kpis for a in strategy.automations)
    assert set(strategy.checklist) == set(CHECKLIST_ITEMS)
    assert strategy.advice() == []


def test_the_bakery_oven_serves_a_supporting_process_measured_by_sell_through() -> None:
    strategy = load_strategy(EXAMPLES / "bakery.yaml")
    oven = strategy.automation("smart_oven")
    sell_through = strategy.kpi("sell_through")
    assert oven.processes == ("baking",)
    assert strategy.process("baking").criticality == "supporting"
    assert (sell_through.measure, sell_through.target, sell_through.filters.process) == ("sell_through", 0.9, "baking")
    assert "sell_through" in oven.kpis and not oven.pilot


def test_the_ecommerce_support_bot_must_keep_a_human_reachable() -> None:
    strategy = load_strategy(EXAMPLES / "ecommerce.yaml")
    bot = strategy.automation("support_bot")
    chat = strategy.touchpoint("support_chat")
    reachability = strategy.kpi("human_reachability")
    assert bot.touchpoints == ("support_chat",) and chat.human_fallback and chat.strategic
    assert reachability.filters.touchpoint == "support_chat"
    assert strategy.thresholds.human_reachability_floor == 0.9


def test_the_retail_inventory_suite_licenses_far_more_than_a_small_team_uses() -> None:
    strategy = load_strategy(EXAMPLES / "retail.yaml")
    suite = strategy.automation("inventory_suite")
    assert len(suite.features_licensed) >= 12 and suite.seats >= 40
    assert {strategy.process(p).criticality for p in suite.processes} == {"critical"}


def test_kpi_measures_cover_every_perspective() -> None:
    assert set(KPI_MEASURES.values()) == set(PERSPECTIVES) | {ANY_PERSPECTIVE}


@pytest.mark.parametrize("perspective", ["financial", "customer", "internal_process", "learning_growth"])
def test_an_observed_kpi_may_belong_to_any_perspective(perspective: str) -> None:
    data = bakery()
    data["kpis"].append({"id": "market_share", "name": "Local market share", "perspective": perspective,
                         "unit": "ratio", "direction": "up", "target": 0.3, "measure": "observed", "min_events": 1})
    assert parse_strategy(data).kpi("market_share").perspective == perspective


def test_new_products_are_kept_as_the_orders_name_them() -> None:
    data = bakery()
    data["new_products"] = ["sourdough", "SKU-0042", "pão-de-ló"]
    assert parse_strategy(data).new_products == ("sourdough", "SKU-0042", "pão-de-ló")


def test_the_strategy_model_lists_its_sections_in_file_order() -> None:
    assert list(Strategy.model_fields) == [
        "business", "goals", "kpis", "processes", "journey", "automations", "new_products", "ethics", "weights",
        "thresholds", "checklist",
    ]


def test_a_currency_must_be_an_iso_code() -> None:
    problems = problems_of(mutated(lambda d: d["business"].__setitem__("currency", "euro")))
    assert [str(p) for p in problems] == [
        "business.currency: must be a three-letter ISO 4217 code such as 'EUR', got 'euro'"
    ]


def test_ethics_oversight_takes_the_sections_owner_and_cadence_unless_a_decision_names_its_own() -> None:
    data = bakery()
    data["ethics"] = {
        "oversight_owner": "shop owner",
        "review_every_days": 30,
        "decisions": [_oven_decisions(reviewed="2026-01-15"), ],
        "workforce": {"training_within_days": 60},
    }
    ethics = parse_strategy(data).ethics
    oven = ethics.decision("smart_oven")
    assert (ethics.owner_of(oven), ethics.review_days_of(oven)) == ("shop owner", 30)
    assert (oven.parity_floor, oven.min_sample, oven.reviewed.isoformat()) == (0.8, 30, "2026-01-15")
    assert ethics.workforce.training_within_days == 60
    data["ethics"]["decisions"] = [_oven_decisions(owner="head baker", review_every_days=7)]
    ethics = parse_strategy(data).ethics
    assert (ethics.owner_of(ethics.decisions[0]), ethics.review_days_of(ethics.decisions[0])) == ("head baker", 7)


def test_a_strategy_without_ethics_declares_no_decisions() -> None:
    ethics = parse_strategy(bakery()).ethics
    assert (ethics.decisions, ethics.oversight_owner, ethics.workforce.training_within_days) == ((), None, 90)
