"""Strategy as code: the business's declared strategy, typed and cross-checked.

alignment is only measurable against a declared strategy. The owner writes one YAML file
per business (see ``docs/strategy.md``); :func:`load_strategy` reads it with
``yaml.safe_load``, validates it against the typed models below and cross-checks every
reference. Every problem names its path and the bad value
(``automations[1].processes[0]: unknown process 'bakng'``) and all problems are reported
at once in one :class:`~alignwatch.errors.StrategyError`.

    business:   name, timezone, currency
    goals:      1..7 priorities, each with a balanced-scorecard perspective, a weight, KPI ids
    kpis:       what is measured (a ``measure`` of :data:`KPI_MEASURES` plus filters), target
    processes:  criticality, linked goals, pre-automation baselines
    journey:    customer touchpoints, strategic when linked to goals, human fallback
    automations: what was bought and what it was promised to deliver
    new_products: product ids (as the shop's orders list them) counted as new products
    ethics:     the decisions automations make about customers and how they are compared,
                who oversees them, and what the business promised the people whose work is automated
    weights:    of the Strategic Alignment Index's components (normalised by their sum)
    thresholds: of the pitfall and drift detectors (defaults below)
    checklist:  answers to the alignment checklist that the data cannot give
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypeVar, Union, get_args, get_origin
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator
from pydantic_core import ErrorDetails

from alignwatch.errors import ConfigError, Problem, StrategyError
from alignwatch.metrics.catalogue import CATALOGUE
from alignwatch.vocabulary import CHECKLIST as CHECKLIST_ITEMS
from alignwatch.vocabulary import DIRECTIONS, PERSPECTIVES, SEGMENT_NAME_PATTERN, ChecklistItem, Direction, Perspective

__all__ = [
    "ANY_PERSPECTIVE",
    "CHECKLIST_ITEMS",
    "CRITICALITIES",
    "DIRECTIONS",
    "KPI_MEASURES",
    "PERSPECTIVES",
    "Automation",
    "Business",
    "ChecklistAnswer",
    "Criticality",
    "DecisionOversight",
    "Direction",
    "Ethics",
    "Goal",
    "Kpi",
    "KpiFilters",
    "Perspective",
    "Process",
    "Strategy",
    "Thresholds",
    "Touchpoint",
    "Weights",
    "WorkforceCommitment",
    "check_catalogue_thresholds",
    "load_strategy",
    "parse_strategy",
]

# --------------------------------------------------------------------------- vocabulary

Criticality = Literal["critical", "supporting", "peripheral"]
Answer = Literal["yes", "no", "unknown"]

CRITICALITIES: tuple[str, ...] = get_args(Criticality)
"""Process criticalities, most critical first."""

ANY_PERSPECTIVE = "any"
"""The perspective of a measure that serves KPIs of every perspective (``observed``)."""

KPI_MEASURES: dict[str, str] = {
    # financial
    "roi": "financial",
    "roi_realisation": "financial",
    "cost_savings": "financial",
    "revenue": "financial",
    "automation_cost": "financial",
    "order_amount_p50": "financial",
    "order_amount_p90": "financial",
    # customer
    "csat": "customer",
    "nps": "customer",
    "repeat_purchase_rate": "customer",
    "human_reachability": "customer",
    "first_contact_resolution": "customer",
    "customer_lifetime_value": "customer",
    "new_product_adoption": "customer",
    # internal process
    "cycle_time": "internal_process",
    "error_rate": "internal_process",
    "rework_rate": "internal_process",
    "throughput": "internal_process",
    "automation_rate": "internal_process",
    "sell_through": "internal_process",
    "cycle_time_p50": "internal_process",
    "cycle_time_p90": "internal_process",
    "run_duration_p50": "internal_process",
    "run_duration_p90": "internal_process",
    # learning and growth
    "training_rate": "learning_growth",
    "employee_satisfaction": "learning_growth",
    "ssai": "learning_growth",
    "minutes_saved_per_employee": "learning_growth",
    # any perspective: a value measured outside the automated systems (kpi.observed events)
    "observed": ANY_PERSPECTIVE,
}
"""Every measure a KPI may use (the metric catalogue implements each) -> its perspective
(:data:`ANY_PERSPECTIVE` for a measure a KPI of any perspective may use)."""

_ID_PATTERN = r"^[a-z][a-z0-9_]*$"
Id = Annotated[str, Field(pattern=_ID_PATTERN, max_length=64)]
"""An identifier: short, lower case, snake_case (``support_chat``)."""
Text = Annotated[str, Field(min_length=1)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Ratio = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Number = Annotated[float, Field(allow_inf_nan=False)]
_NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
ProductId = Annotated[str, Field(min_length=1, max_length=128, pattern=_NO_CONTROL_PATTERN)]
"""A product as the shop's orders name it (``customer.order`` product_ids): any text up to 128
characters without control characters, like the event contract's identifiers."""


class _Model(BaseModel):
    """Base of the strategy models: frozen, unknown keys rejected, numbers strict-ish."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


# --------------------------------------------------------------------------- sections


class Business(_Model):
    """Who the strategy belongs to."""

    name: Text
    timezone: str = "UTC"
    currency: str = "EUR"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {_short(value)} (use an IANA name such as 'Europe/Berlin')") from None
        return value

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Z]{3}", value):
            raise ValueError(f"must be a three-letter ISO 4217 code such as 'EUR', got {_short(value)}")
        return value


class Goal(_Model):
    """A strategic priority, seen from one balanced-scorecard perspective."""

    id: Id
    name: Text
    perspective: Perspective
    weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 1.0
    kpis: Annotated[tuple[Id, ...], Field(min_length=1)]


class KpiFilters(_Model):
    """Which events a KPI's measure is computed over (all events when empty)."""

    process: Id | None = None
    automation: Id | None = None
    touchpoint: Id | None = None
    channel: Text | None = None


class Kpi(_Model):
    """A key performance indicator: a catalogue measure, filtered, with a target."""

    id: Id
    name: Text
    perspective: Perspective
    unit: Text
    direction: Direction
    target: Number
    baseline: Number | None = None
    red_flag: Number | None = None
    measure: str
    filters: KpiFilters = KpiFilters()
    min_events: Annotated[int, Field(ge=1)] = 20
    period: Literal["7d", "28d"] = "28d"  # the objective's period: the window its error budget is judged over

    @field_validator("measure")
    @classmethod
    def _known_measure(cls, value: str) -> str:
        if value not in KPI_MEASURES:
            raise ValueError(f"unknown measure {value!r}; known measures: {', '.join(KPI_MEASURES)}")
        return value


class Process(_Model):
    """A business process, how critical it is, and how it performed before automation."""

    id: Id
    name: Text
    criticality: Criticality
    goals: tuple[Id, ...] = ()
    baseline_cycle_time_s: NonNegative | None = None
    baseline_error_rate: Ratio | None = None
    monthly_volume: NonNegative | None = None
    manual_cost_per_case: NonNegative | None = None
    candidate: bool = False


class Touchpoint(_Model):
    """A step of the customer journey; strategic when linked to goals."""

    id: Id
    name: Text
    stage: Text
    process: Id
    goals: tuple[Id, ...] = ()
    human_fallback: bool = False

    @property
    def strategic(self) -> bool:
        """A touchpoint is strategic when it serves at least one goal."""
        return bool(self.goals)


class Automation(_Model):
    """An automation the business runs, and what it was promised to deliver."""

    id: Id
    name: Text
    system: Text
    processes: tuple[Id, ...] = ()
    touchpoints: tuple[Id, ...] = ()
    features_licensed: tuple[Text, ...] = ()
    seats: Annotated[int, Field(ge=0)] = 0
    monthly_cost: NonNegative = 0.0
    projected_roi: Number = 0.0
    projected_monthly_savings: NonNegative = 0.0
    go_live: date
    pilot: bool = False
    pilot_end: date | None = None
    priority: Annotated[int, Field(ge=1)] = 1
    kpis: tuple[Id, ...] = ()


SegmentName = Annotated[str, Field(pattern=SEGMENT_NAME_PATTERN)]
"""A segment dimension of ``automation.decision`` events (``region``, ``amount_band``)."""


class DecisionOversight(_Model):
    """A decision-making automation: which outcomes favour the customer, which segments are
    compared, the parity floor, and who reviews it how often."""

    automation: Id
    favourable: Annotated[tuple[Id, ...], Field(min_length=1)]
    dimensions: Annotated[tuple[SegmentName, ...], Field(min_length=1, max_length=16)]
    parity_floor: Ratio = 0.8  # the four-fifths convention
    min_sample: Annotated[int, Field(ge=1)] = 30
    override_rate_max: Ratio = 0.2  # more reversals than one in five pages: the automation decides wrongly
    owner: Text | None = None
    review_every_days: Annotated[int, Field(ge=1)] | None = None
    reviewed: date | None = None


class WorkforceCommitment(_Model):
    """What the business promised the people whose tasks are automated."""

    training_within_days: Annotated[int, Field(ge=1)] = 90


class Ethics(_Model):
    """Ethics and human agency: oversight of the automations' decisions about customers,
    and the workforce commitments."""

    oversight_owner: Text | None = None
    review_every_days: Annotated[int, Field(ge=1)] = 90
    decisions: tuple[DecisionOversight, ...] = ()
    workforce: WorkforceCommitment = WorkforceCommitment()

    def owner_of(self, decision: DecisionOversight) -> str | None:
        """Who reviews ``decision``: its own owner, else the section's."""
        return decision.owner or self.oversight_owner

    def review_days_of(self, decision: DecisionOversight) -> int:
        """How often ``decision`` is to be reviewed, in days: its own cadence, else the section's."""
        return decision.review_every_days or self.review_every_days

    def decision(self, automation_id: str) -> DecisionOversight:
        """The oversight of ``automation_id`` (``KeyError`` when absent)."""
        for decision in self.decisions:
            if decision.automation == automation_id:
                return decision
        raise KeyError(automation_id)


class Weights(_Model):
    """Weights of the Strategic Alignment Index's components; normalised by their sum."""

    cjai: NonNegative = 0.15
    spar: NonNegative = 0.15
    aac: NonNegative = 0.1
    sdur: NonNegative = 0.1
    ssai: NonNegative = 0.1
    financial: NonNegative = 0.1
    customer: NonNegative = 0.1
    internal_process: NonNegative = 0.1
    learning_growth: NonNegative = 0.1
    #: the ethics score (share of the ethics checks that pass): 0, beside the index and not in it, unless
    #: the owner chooses otherwise (docs/strategy.md, "Ethics and the Strategic Alignment Index")
    ethics: NonNegative = 0.0

    def normalised(self) -> dict[str, float]:
        """Each component's share of the index (the shares sum to 1)."""
        values = self.model_dump()
        total = sum(values.values())
        return {key: value / total for key, value in values.items()}


class Thresholds(_Model):
    """Thresholds of the pitfall and drift detectors (ratios are 0..1)."""

    cjai_automation_share: Ratio = 0.6
    cjai_csat_tolerance: NonNegative = 0.3
    feature_usage_min: Ratio = 0.5
    failure_rate_max: Ratio = 0.15
    rework_rate_max: Ratio = 0.1
    manual_intervention_max: Ratio = 0.2
    integration_issues_per_100_runs_max: NonNegative = 5.0
    adoption_min: Ratio = 0.6
    manual_share_max: Ratio = 0.5
    roi_realisation_min: NonNegative = 0.7
    roi_consecutive_windows: Annotated[int, Field(ge=1)] = 3
    sell_through_min: Ratio = 0.8
    escalation_sla_s: NonNegative = 300.0
    human_reachability_floor: Ratio = 0.9
    aac_target_lead_time_h: Annotated[float, Field(gt=0, allow_inf_nan=False)] = 336.0
    regression_min_samples: Annotated[int, Field(ge=1)] = 30
    regression_drop: Ratio = 0.15
    staleness_sai_min: Annotated[float, Field(ge=0, le=100)] = 60.0
    staleness_windows: Annotated[int, Field(ge=1)] = 3
    sai_drop_points: Annotated[float, Field(ge=0, le=100)] = 10.0


def check_catalogue_thresholds(decls: Iterable[Any] = CATALOGUE.values()) -> None:
    """A default threshold is written once: a catalogue default that is also a field of
    :class:`Thresholds` (or, for the ethics metrics, of :class:`Ethics` or
    :class:`DecisionOversight`) must be that field's default (the docs and the dashboards show the
    catalogue's, the detectors read the strategy's). Run when this module is imported."""
    models = (Thresholds, Ethics, DecisionOversight)  # the section's cadence before the entry's (None: the section's)
    for decl in decls:
        for key, default in decl.thresholds.items():
            model = next((m for m in models if key in m.model_fields), None)
            if model is not None and model.model_fields[key].default != default:
                raise ConfigError(
                    f"metric catalogue: {decl.id}.thresholds.{key}: default {default!r} differs from "
                    f"{model.__name__}.{key} = {model.model_fields[key].default!r}"
                )


check_catalogue_thresholds()


class ChecklistAnswer(_Model):
    """The owner's answer to a checklist item the data cannot decide, with evidence."""

    answer: Answer
    evidence: str = ""

    @field_validator("answer", mode="before")
    @classmethod
    def _yaml_booleans(cls, value: Any) -> Any:
        # YAML 1.1 reads a bare yes/no as a boolean; the owner meant the word
        return {True: "yes", False: "no"}.get(value, value) if isinstance(value, bool) else value


class Strategy(_Model):
    """A business's strategy: goals, KPIs, processes, journey, automations, weights."""

    business: Business
    goals: Annotated[tuple[Goal, ...], Field(min_length=1, max_length=7)]
    kpis: Annotated[tuple[Kpi, ...], Field(min_length=1)]
    processes: tuple[Process, ...] = ()
    journey: tuple[Touchpoint, ...] = ()
    automations: tuple[Automation, ...] = ()
    new_products: tuple[ProductId, ...] = ()
    ethics: Ethics = Ethics()
    weights: Weights = Weights()
    thresholds: Thresholds = Thresholds()
    checklist: dict[ChecklistItem, ChecklistAnswer] = {}

    def goal(self, goal_id: str) -> Goal:
        """The goal ``goal_id`` (``KeyError`` when absent)."""
        return _by_id(self.goals, goal_id)

    def kpi(self, kpi_id: str) -> Kpi:
        """The KPI ``kpi_id`` (``KeyError`` when absent)."""
        return _by_id(self.kpis, kpi_id)

    def process(self, process_id: str) -> Process:
        """The process ``process_id`` (``KeyError`` when absent)."""
        return _by_id(self.processes, process_id)

    def touchpoint(self, touchpoint_id: str) -> Touchpoint:
        """The journey touchpoint ``touchpoint_id`` (``KeyError`` when absent)."""
        return _by_id(self.journey, touchpoint_id)

    def automation(self, automation_id: str) -> Automation:
        """The automation ``automation_id`` (``KeyError`` when absent)."""
        return _by_id(self.automations, automation_id)

    def goals_of_kpi(self, kpi_id: str) -> tuple[Goal, ...]:
        """The goals that list ``kpi_id`` among their KPIs."""
        return tuple(goal for goal in self.goals if kpi_id in goal.kpis)

    def kpis_by_perspective(self) -> dict[str, tuple[Kpi, ...]]:
        """KPIs grouped by perspective, every perspective present, in scorecard order."""
        return {p: tuple(k for k in self.kpis if k.perspective == p) for p in PERSPECTIVES}

    def goal_weights(self) -> dict[str, float]:
        """Each goal's share of the total goal weight (the shares sum to 1)."""
        total = sum(goal.weight for goal in self.goals)
        return {goal.id: goal.weight / total for goal in self.goals}

    def advice(self) -> list[str]:
        """Advisory remarks: valid, but worth a second look (not errors)."""
        notes: list[str] = []
        if not 3 <= len(self.goals) <= 5:
            notes.append(f"{len(self.goals)} goals declared; 3 to 5 priorities keep a strategy focused")
        linked = {kpi_id for goal in self.goals for kpi_id in goal.kpis}
        notes += [f"kpis[{i}] '{k.id}' serves no goal" for i, k in enumerate(self.kpis) if k.id not in linked]
        missing = [p for p, kpis in self.kpis_by_perspective().items() if not kpis]
        if missing:
            notes.append(f"no KPI for perspective(s): {', '.join(missing)}")
        notes += [
            f"automations[{i}] '{a.id}' was promised to move no KPI" for i, a in enumerate(self.automations) if not a.kpis
        ]
        return notes


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


_Item = TypeVar("_Item", bound=_Identified)


def _by_id(items: Iterable[_Item], wanted: str) -> _Item:
    for item in items:
        if item.id == wanted:
            return item
    raise KeyError(wanted)


# --------------------------------------------------------------------------- loading


_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """The safe YAML loader, refusing a key repeated in one mapping.

    A value its tag cannot hold (``!!int ten``) is a YAML error at its line and column,
    not a ``ValueError`` from deep inside the constructor.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {_short(node.value)} as {node.tag.rpartition(':')[2]}: {exc}", node.start_mark
            ) from None


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue  # a merge key (<<: *defaults): the base constructor merges, explicit keys win
        key = loader.construct_object(key_node, deep=deep)
        if isinstance(key, Mapping | list):
            continue  # unhashable keys: let the base constructor report them
        if key in seen:
            first = seen[key]
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first at line {first.line + 1}, column {first.column + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark
    return yaml.constructor.SafeConstructor.construct_mapping(loader, node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _construct_timestamp(loader: _UniqueKeyLoader, node: yaml.ScalarNode) -> Any:
    """A YAML date or time; an impossible one (``2026-02-30``) stays text, so that the
    model reports it with its path (``automations[0].go_live: must be a date``)."""
    try:
        return yaml.constructor.SafeConstructor.construct_yaml_timestamp(loader, node)
    except (ValueError, OverflowError):
        return loader.construct_scalar(node)


_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


DEFAULT_MAX_STRATEGY_BYTES = 1024 * 1024
"""Largest strategy file read by default (1 MiB; setting ``ALIGNWATCH_MAX_STRATEGY_BYTES``).
Real strategy files are a few kilobytes; the limit is checked before anything is parsed."""

MAX_EXPANDED_NODES = 100_000
"""How many YAML nodes a document may expand to through aliases (``*anchor``) when it has
any: a "billion laughs" file, a few lines of nested aliases standing for billions of
values, is refused before anything is built from it."""


def load_strategy(path: str | Path, *, max_bytes: int = DEFAULT_MAX_STRATEGY_BYTES) -> Strategy:
    """Read, validate and cross-check the strategy file at ``path``.

    Raises :class:`~alignwatch.errors.StrategyError` listing every problem with its path;
    a missing file, an empty file, a file larger than ``max_bytes`` (checked before it is
    parsed), a YAML syntax error (with line and column) and aliases expanding beyond
    :data:`MAX_EXPANDED_NODES` nodes are problems too.
    """
    path = Path(path)
    source = str(path)
    text = _read_text(path, source, max_bytes)
    data = _parse_yaml(text, source)
    return parse_strategy(data, source=source)


def _read_text(path: Path, source: str, max_bytes: int) -> str:
    """The file's text, refusing it unread when larger than ``max_bytes``."""
    limit = f"the limit is {max_bytes:,} bytes (ALIGNWATCH_MAX_STRATEGY_BYTES)"
    try:
        if path.is_dir():
            raise IsADirectoryError(str(path))
        size = path.stat().st_size
        if size > max_bytes:
            raise StrategyError(source, [Problem("", f"file too large: {size:,} bytes; {limit}")])
        # read at most one byte past the limit: a file that grows, or a pipe, is not read whole
        with path.open("rb") as stream:
            raw = stream.read(max_bytes + 1)
    except FileNotFoundError:
        raise StrategyError(source, [Problem("", "file not found")]) from None
    except IsADirectoryError:
        raise StrategyError(source, [Problem("", "is a directory, not a strategy file")]) from None
    except OSError as exc:
        raise StrategyError(source, [Problem("", f"cannot be read: {exc.strerror}")]) from None
    if len(raw) > max_bytes:
        raise StrategyError(source, [Problem("", f"file too large: more than {max_bytes:,} bytes; {limit}")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StrategyError(source, [Problem("", f"not UTF-8 text (byte {exc.start})")]) from None


def _parse_yaml(text: str, source: str) -> Any:
    """The YAML document in ``text``; every failure is a one-line problem with line and column."""
    loader = _UniqueKeyLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise StrategyError(source, [Problem("", _yaml_message(exc))]) from None
    except yaml.YAMLError as exc:
        raise StrategyError(source, [Problem("", f"YAML error: {' '.join(str(exc).split())}")]) from None
    except RecursionError:
        raise StrategyError(source, [Problem("", "YAML error: nested too deeply")]) from None
    finally:
        loader.dispose()


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a document whose aliases expand it beyond :data:`MAX_EXPANDED_NODES` nodes.

    Counts each node once per path that reaches it (what building it as plain data
    visits), without building anything: nodes shared through aliases are counted once
    per use, from a memo, so a billion laughs costs as many steps as it has lines.
    """
    sizes: dict[int, int] = {}
    entered: set[int] = set()
    distinct = 0
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in sizes or (not children_done and id(node) in entered):
            continue  # sized already, or an ancestor of itself (a recursive alias)
        children = _children(node)
        if not children_done:
            entered.add(id(node))
            distinct += 1
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in sizes)
            continue
        # a child still unsized here is an ancestor (a recursive alias): the constructor reports it
        sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
        if sizes[id(node)] > max(MAX_EXPANDED_NODES, distinct):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"aliases expand the document to more than {MAX_EXPANDED_NODES:,} values",
                node.start_mark,
            )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    what = exc.problem or exc.context or "invalid YAML"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"YAML syntax error{where}: {what}"


def parse_strategy(mapping: Any, source: str = "<string>") -> Strategy:
    """Validate an already-parsed strategy (a mapping) and cross-check its references.

    ``source`` names the origin in the error. Raises
    :class:`~alignwatch.errors.StrategyError` listing every problem.
    """
    if mapping is None:
        raise StrategyError(source, [Problem("", "the strategy is empty")])
    if not isinstance(mapping, Mapping):
        raise StrategyError(source, [Problem("", f"must be a mapping of sections, got {_kind(mapping)}")])
    problems: list[Problem] = []
    strategy: Strategy | None = None
    try:
        strategy = Strategy.model_validate(dict(mapping))
    except ValidationError as exc:
        problems += [_problem(error) for error in exc.errors()]
    problems += _cross_check(mapping)
    if problems:
        raise StrategyError(source, _ordered(problems))
    assert strategy is not None
    return strategy


# --------------------------------------------------------------------------- messages


def _path(loc: Iterable[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float | str):
        return _short(value)
    return f"{_short(value)} ({type(value).__name__})"


def _short(value: Any, limit: int = 60) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters (a 5 MB value is not echoed)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"a number of more than {limit} digits"
    text = repr(value if not isinstance(value, str) else value[: limit + 1])
    return text if len(text) <= limit else text[: limit - 4] + "...'" if isinstance(value, str) else text[:limit] + "..."


def _problem(error: ErrorDetails) -> Problem:
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith(("function-", "["))))
    kind = error["type"]
    ctx = error.get("ctx", {})
    got = f", got {_kind(error.get('input'))}" if "input" in error else ""
    if kind == "missing":
        message = "required field is missing"
    elif kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        message = "unknown key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    elif kind in {"float_parsing", "float_type", "int_parsing", "decimal_parsing"} or kind == "finite_number":
        wanted = "a whole number" if kind.startswith("int") else "a finite number" if kind == "finite_number" else "a number"
        message = f"must be {wanted}{got}"
    elif kind in {"int_type", "int_from_float"}:
        message = f"must be a whole number{got}"
    elif kind in {"bool_parsing", "bool_type"}:
        message = f"must be true or false{got}"
    elif kind in {"string_type", "string_unicode"}:
        message = f"must be text{got}"
    elif kind == "string_too_short":
        message = "must not be empty"
    elif kind == "string_pattern_mismatch":
        if ctx.get("pattern") == _ID_PATTERN:
            message = f"must be a lower-case snake_case id (a-z, 0-9, _; starting with a letter){got}"
        elif ctx.get("pattern") == SEGMENT_NAME_PATTERN:
            message = f"must be a lower-case segment dimension (a-z, 0-9, _; starting with a letter){got}"
        elif ctx.get("pattern") == _NO_CONTROL_PATTERN:
            message = f"must not contain control characters (tab, newline, ...){got}"
        else:
            message = f"must match {ctx.get('pattern')}{got}"
    elif kind == "string_too_long":
        message = f"must be at most {ctx.get('max_length')} characters{got}"
    elif kind == "literal_error":
        message = f"must be one of {ctx.get('expected', '').replace(' or ', ', ')}{got}"
    elif kind in {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}:
        op = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}[kind]
        bound = next(iter(ctx.values()), "?")
        message = f"must be {op} {bound}{got}"
    elif kind == "too_short":
        what = "goal" if loc == ("goals",) else "item"
        message = f"must have at least {ctx.get('min_length')} {what}(s), got {ctx.get('actual_length')}"
    elif kind == "too_long":
        what = "goals" if loc == ("goals",) else "items"
        message = f"must have at most {ctx.get('max_length')} {what}, got {ctx.get('actual_length')}"
    elif kind in {"list_type", "tuple_type"}:
        message = f"must be a list{got}"
    elif kind in {"model_type", "model_attributes_type", "dict_type"}:
        message = f"must be a mapping{got}"
    elif kind.startswith("date"):
        message = f"must be a date (YYYY-MM-DD){got}"
    elif kind == "value_error":
        message = str(ctx.get("error", error["msg"]))
    else:
        message = f"{error['msg'][:1].lower()}{error['msg'][1:]}{got}"
    return Problem(_path(loc), message)


@functools.lru_cache(maxsize=256)
def _allowed_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys allowed in the mapping at ``loc`` (empty when it cannot be told)."""
    annotation: Any = Strategy
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(part, int):
            args = get_args(annotation)
            if not args:
                return []
            annotation = args[0]
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel) and part in annotation.model_fields:
            annotation = annotation.model_fields[part].annotation
        elif get_origin(annotation) is dict:
            annotation = get_args(annotation)[1]
        else:
            return []
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    while get_origin(annotation) in (Annotated, Union) or type(annotation).__name__ == "UnionType":
        args = [a for a in get_args(annotation) if a is not type(None)]
        annotation = args[0]
    return annotation


def _ordered(problems: list[Problem]) -> list[Problem]:
    """Problems in document order (fields in model order, list items by position), unique."""

    def key(problem: Problem) -> tuple[Any, ...]:
        loc: list[int | str] = []
        out: list[tuple[int, int, str]] = []
        for index, name in re.findall(r"\[(\d+)\]|([^.\[\]]+)", problem.path):
            if index:
                loc.append(int(index))
                out.append((0, int(index), ""))
            else:
                allowed = _allowed_keys(tuple(loc))
                out.append((1, allowed.index(name) if name in allowed else len(allowed), name))
                loc.append(name)
        return tuple(out)

    seen: set[tuple[str, str]] = set()
    unique = []
    for problem in sorted(problems, key=key):
        if (problem.path, problem.message) not in seen:
            seen.add((problem.path, problem.message))
            unique.append(problem)
    return unique


# --------------------------------------------------------------------------- cross-checks


def _entries(data: Mapping[str, Any], section: str) -> list[tuple[int, Mapping[str, Any]]]:
    """The mapping entries of a list section, with their index (ill-shaped ones skipped)."""
    items = data.get(section)
    if not isinstance(items, list):
        return []
    return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]


def _ids(data: Mapping[str, Any], section: str) -> set[str]:
    return {item["id"] for _, item in _entries(data, section) if isinstance(item.get("id"), str)}


def _refs(value: Any) -> list[tuple[int, str]]:
    if not isinstance(value, list):
        return []
    return [(i, ref) for i, ref in enumerate(value) if isinstance(ref, str)]


def _cross_check(data: Mapping[str, Any]) -> list[Problem]:
    """Problems no single field can see: duplicates, dangling references, consistency."""
    problems: list[Problem] = []
    labels = {"goals": "goal", "kpis": "KPI", "processes": "process", "journey": "touchpoint", "automations": "automation"}
    known = {section: _ids(data, section) for section in labels}
    # a section that is not a list is reported by the models; references to it are not checked
    checkable = {section for section in labels if isinstance(data.get(section, []), list)}

    for section in labels:
        first: dict[str, int] = {}
        for i, item in _entries(data, section):
            item_id = item.get("id")
            if not isinstance(item_id, str):
                continue
            if item_id in first:
                problems.append(
                    Problem(f"{section}[{i}].id", f"duplicate id {item_id!r} (first at {section}[{first[item_id]}])")
                )
            else:
                first[item_id] = i

    def check_list(section: str, field: str, target: str) -> None:
        for i, item in _entries(data, section):
            for j, ref in _refs(item.get(field)):
                if target in checkable and ref not in known[target]:
                    problems.append(Problem(f"{section}[{i}].{field}[{j}]", f"unknown {labels[target]} {ref!r}"))

    check_list("goals", "kpis", "kpis")
    check_list("processes", "goals", "goals")
    check_list("journey", "goals", "goals")
    check_list("automations", "processes", "processes")
    check_list("automations", "touchpoints", "journey")
    check_list("automations", "kpis", "kpis")

    for i, item in _entries(data, "journey"):
        ref = item.get("process")
        if isinstance(ref, str) and "processes" in checkable and ref not in known["processes"]:
            problems.append(Problem(f"journey[{i}].process", f"unknown process {ref!r}"))

    filter_targets = {"process": "processes", "automation": "automations", "touchpoint": "journey"}
    for i, kpi in _entries(data, "kpis"):
        filters = kpi.get("filters")
        if isinstance(filters, Mapping):
            for field, target in filter_targets.items():
                ref = filters.get(field)
                if isinstance(ref, str) and target in checkable and ref not in known[target]:
                    problems.append(Problem(f"kpis[{i}].filters.{field}", f"unknown {labels[target]} {ref!r}"))
        measure, perspective = kpi.get("measure"), kpi.get("perspective")
        expected = KPI_MEASURES.get(measure) if isinstance(measure, str) else None
        if expected not in (None, ANY_PERSPECTIVE) and perspective in PERSPECTIVES and perspective != expected:
            problems.append(
                Problem(
                    f"kpis[{i}].perspective",
                    f"{perspective!r} does not match measure {measure!r}, which belongs to the {expected} perspective",
                )
            )
        problems += _red_flag_problems(i, kpi)
        if measure == "new_product_adoption" and not data.get("new_products"):
            problems.append(
                Problem(f"kpis[{i}].measure", "new_product_adoption needs the products counted as new: declare new_products")
            )

    first_product: dict[str, int] = {}
    for j, product in _refs(data.get("new_products")):
        if product in first_product:
            problems.append(
                Problem(f"new_products[{j}]", f"duplicate product {_short(product)} (first at new_products[{first_product[product]}])")
            )
        else:
            first_product[product] = j

    for i, automation in _entries(data, "automations"):
        problems += _pilot_problems(i, automation)

    if isinstance(data.get("ethics"), Mapping):
        problems += _ethics_problems(data["ethics"], known["automations"] if "automations" in checkable else None)

    weights = data.get("weights")
    if isinstance(weights, Mapping):
        merged = {**Weights().model_dump(), **{k: v for k, v in weights.items() if k in Weights.model_fields}}
        numeric = [_number(v) for v in merged.values()]
        if all(v is not None for v in numeric) and sum(max(v or 0.0, 0.0) for v in numeric) == 0:
            problems.append(Problem("weights", "at least one weight must be positive"))

    return problems


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _red_flag_problems(i: int, kpi: Mapping[str, Any]) -> list[Problem]:
    target, red_flag, direction = _number(kpi.get("target")), _number(kpi.get("red_flag")), kpi.get("direction")
    if target is None or red_flag is None:
        return []
    if direction == "up" and red_flag >= target:
        return [Problem(f"kpis[{i}].red_flag", f"must be below the target {target:g} (direction up), got {red_flag:g}")]
    if direction == "down" and red_flag <= target:
        return [Problem(f"kpis[{i}].red_flag", f"must be above the target {target:g} (direction down), got {red_flag:g}")]
    return []


_DATE: TypeAdapter[date] = TypeAdapter(date)


def _as_date(value: Any) -> date | None:
    try:
        return _DATE.validate_python(value)
    except ValidationError:
        return None


def _pilot_problems(i: int, automation: Mapping[str, Any]) -> list[Problem]:
    pilot, raw_end = automation.get("pilot"), automation.get("pilot_end")
    if pilot is True and raw_end is None:
        return [Problem(f"automations[{i}].pilot_end", "required when pilot is true")]
    go_live, end = _as_date(automation.get("go_live")), _as_date(raw_end) if raw_end is not None else None
    if go_live is not None and end is not None and end <= go_live:
        return [Problem(f"automations[{i}].pilot_end", f"{end.isoformat()} is not after go_live {go_live.isoformat()}")]
    return []


def _ethics_problems(ethics: Mapping[str, Any], automations: set[str] | None) -> list[Problem]:
    """Each decision oversight names a declared automation once, has an owner, and lists
    each outcome and dimension once (``automations=None``: not checkable)."""
    problems: list[Problem] = []
    first: dict[str, int] = {}
    section_owner = ethics.get("oversight_owner")
    for i, decision in _entries(ethics, "decisions"):
        path = f"ethics.decisions[{i}]"
        automation = decision.get("automation")
        if isinstance(automation, str):
            if automations is not None and automation not in automations:
                problems.append(Problem(f"{path}.automation", f"unknown automation {automation!r}"))
            elif automation in first:
                problems.append(
                    Problem(f"{path}.automation", f"duplicate automation {automation!r} (first at ethics.decisions[{first[automation]}])")
                )
            else:
                first[automation] = i
        if decision.get("owner") is None and section_owner is None:
            problems.append(Problem(f"{path}.owner", "required when ethics.oversight_owner is not declared: who reviews these decisions"))
        for field in ("favourable", "dimensions"):
            seen: dict[str, int] = {}
            for j, value in _refs(decision.get(field)):
                if value in seen:
                    problems.append(Problem(f"{path}.{field}[{j}]", f"duplicate {_short(value)} (first at {field}[{seen[value]}])"))
                else:
                    seen[value] = j
    return problems
