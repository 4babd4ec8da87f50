"""The mapping file: how an event log's attributes map onto alignwatch's strategy.

A process-mining log knows cases, activities, timestamps and resources; alignwatch knows
processes, automations and customer touchpoints. The mapping (YAML, one per log) says
which attribute carries each of the log's notions, which activities belong to which
process, which resources or attribute values mean "done by automation", and which
activities are customer touchpoints. It is validated when loaded; every problem names
its path (``processes.application.activities[2]: ...``).

    log: bpic2012                    # name of the log: part of every event's source
    attributes:                      # XES attribute keys (defaults shown)
      case: concept:name             # trace attribute
      activity: concept:name         # event attributes from here on
      timestamp: time:timestamp
      resource: org:resource
    processes:                       # process id (from the strategy) -> its activities
      loan_application: {prefixes: ["A_"]}
    automated:                       # a step is automated when one rule matches it
      - automation_id: loan_intake_system
        resources: ["112"]
    touchpoints:                     # optional: activity -> customer touchpoint
      "A_SUBMITTED": {touchpoint_id: online_application, channel: web}
    decisions:                       # optional: an automation's decision on the case
      - automation_id: loan_intake_system
        outcomes: {A_DECLINED: declined, A_PREACCEPTED: preaccepted}
        segments: {amount_band: {attribute: AMOUNT_REQ, bands: [5000, 10000, 20000]}}
"""

from __future__ import annotations

import re
from collections.abc import Mapping as AnyMapping
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alignwatch.errors import ConfigError, Problem
from alignwatch.vocabulary import SEGMENT_NAME_PATTERN

__all__ = [
    "AttributeMap",
    "AutomatedRule",
    "DecisionMap",
    "FinanceMap",
    "LogMapping",
    "MappingError",
    "OrderMap",
    "OutcomeRule",
    "ProcessMap",
    "SegmentMap",
    "RobotLogMapping",
    "TouchpointMap",
    "load_mapping",
    "load_robot_mapping",
    "parse_mapping",
]

_ID = r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$"


class MappingError(ConfigError):
    """A mapping file is invalid; ``problems`` lists every problem with its path."""

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "; ".join(str(p) for p in self.problems)
        super().__init__(f"mapping {source}: {lines}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeMap(_Model):
    """Which log attribute carries each notion alignwatch needs."""

    case: str = Field(default="concept:name", description="Trace attribute holding the case id.")
    activity: str = Field(default="concept:name", description="Event attribute holding the activity name.")
    timestamp: str = Field(default="time:timestamp", description="Event attribute holding the time (with offset).")
    resource: str | None = Field(default="org:resource", description="Event attribute holding who performed the step.")
    lifecycle: str | None = Field(default=None, description="Event attribute holding the lifecycle transition.")
    customer: str | None = Field(default=None, description="Event or trace attribute identifying the customer.")
    cost: str | None = Field(default=None, description="Event attribute holding an automated step's cost.")

    def required(self) -> dict[str, str]:
        """Mapping path -> attribute key of the attributes every event must carry."""
        return {"attributes.activity": self.activity, "attributes.timestamp": self.timestamp}

    def optional(self) -> dict[str, str]:
        """Mapping path -> attribute key of the attributes that must appear somewhere in the log."""
        named = {"attributes.resource": self.resource, "attributes.lifecycle": self.lifecycle}
        named["attributes.customer"] = self.customer
        named["attributes.cost"] = self.cost
        return {path: key for path, key in named.items() if key}


class ProcessMap(_Model):
    """The activities of one process: listed by name and/or by name prefix."""

    activities: list[str] = Field(default_factory=list)
    prefixes: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> ProcessMap:
        if not self.activities and not self.prefixes:
            raise ValueError("list activities or prefixes")
        return self

    def contains(self, activity: str) -> bool:
        """Whether ``activity`` belongs to this process."""
        return activity in self.activities or any(activity.startswith(p) for p in self.prefixes)


class AutomatedRule(_Model):
    """A step is done by ``automation_id`` when its resource or an attribute value says so.

    Within a rule every given condition must hold (resource listed or matching the
    pattern, attribute value listed, activity listed); a step is automated when any rule
    matches.
    """

    automation_id: str = Field(pattern=_ID)
    resources: list[str] = Field(default_factory=list)
    resource_pattern: str | None = None
    attribute: str | None = None
    values: list[str] = Field(default_factory=list)
    activities: list[str] = Field(default_factory=list)

    @field_validator("resource_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_condition(self) -> AutomatedRule:
        if not (self.resources or self.resource_pattern or self.attribute):
            raise ValueError("give resources, resource_pattern or attribute (with values)")
        if self.attribute and not self.values:
            raise ValueError("attribute needs the values that mean automated")
        return self

    def matches(self, activity: str, resource: str | None, attributes: AnyMapping[str, str]) -> bool:
        """Whether a step with these properties is done by this automation."""
        if self.activities and activity not in self.activities:
            return False
        if self.resources and resource not in self.resources:
            return False
        if self.resource_pattern and (resource is None or not re.fullmatch(self.resource_pattern, resource)):
            return False
        if self.attribute and attributes.get(self.attribute) not in self.values:
            return False
        return True


class OutcomeRule(_Model):
    """Which attribute value marks a step as failed (e.g. ``success: "false"``)."""

    attribute: str
    failed_values: list[str] = Field(min_length=1)


class FinanceMap(_Model):
    """An activity that books money: a ``finance.entry`` of ``kind`` for the attribute ``amount``."""

    activity: str
    kind: Literal["cost", "saving", "revenue"]
    amount: str = Field(description="Event or trace attribute holding the amount (a number >= 0).")
    automation_id: str | None = Field(None, pattern=_ID)


class OrderMap(_Model):
    """An activity that is a customer's order (or contract): a ``customer.order`` of ``amount``."""

    activity: str
    amount: str = Field(description="Event or trace attribute holding the order's amount (a number >= 0).")


class SegmentMap(_Model):
    """A segment dimension of a decision: an event or trace attribute, banded when numeric."""

    attribute: str = Field(description="Event or trace attribute holding the segment (or the number to band).")
    bands: list[float] = Field(
        default_factory=list,
        description="Ascending bounds that cut a numeric attribute into bands: [5000, 10000] gives "
        "'<5000', '5000-10000', '>=10000'; empty: the attribute's value is the segment.",
    )

    @field_validator("bands")
    @classmethod
    def _ascending(cls, value: list[float]) -> list[float]:
        if any(low >= high for low, high in zip(value, value[1:], strict=False)):
            raise ValueError(f"bands must be strictly ascending, got {value}")
        return value

    def band(self, number: float) -> str:
        """The band of ``number``: ``<first``, ``low-high`` or ``>=last``."""
        if number < self.bands[0]:
            return f"<{self.bands[0]:g}"
        for low, high in zip(self.bands, self.bands[1:], strict=False):
            if number < high:
                return f"{low:g}-{high:g}"
        return f">={self.bands[-1]:g}"


class DecisionMap(_Model):
    """An automation's decision on a case: the first of its steps whose activity is an
    outcome becomes one ``automation.decision`` with the case's segments."""

    automation_id: str = Field(pattern=_ID, description="The automation (of the automated rules) that decides.")
    outcomes: dict[str, str] = Field(min_length=1, description="Activity -> the outcome it means (declined, approved).")
    segments: dict[str, SegmentMap] = Field(default_factory=dict, description="Segment dimension -> where its value is.")

    @field_validator("outcomes")
    @classmethod
    def _outcome_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for outcome in value.values():
            if not re.match(_ID, outcome):
                raise ValueError(f"outcome {outcome!r} must match {_ID}")
        return value

    @field_validator("segments")
    @classmethod
    def _dimensions(cls, value: dict[str, SegmentMap]) -> dict[str, SegmentMap]:
        for name in value:
            if not re.match(SEGMENT_NAME_PATTERN, name):
                raise ValueError(f"segment dimension {name!r} must be a lower-case word matching {SEGMENT_NAME_PATTERN}")
        return value


class TouchpointMap(_Model):
    """An activity that is a customer touchpoint."""

    touchpoint_id: str = Field(pattern=_ID)
    channel: str = "web"


class LogMapping(_Model):
    """How one event log maps onto a strategy (see the module docstring)."""

    log: str = Field(pattern=_ID, description="Name of the log; events get source import/<log>.")
    source: str | None = Field(None, description="CloudEvents source; default import/<log>.")
    assume_timezone: str | None = Field(
        None, description="IANA zone for timestamps without offset; unset = such timestamps are an error."
    )
    attributes: AttributeMap = Field(default_factory=AttributeMap)
    processes: dict[str, ProcessMap] = Field(min_length=1)
    default_process: str | None = Field(None, description="Process of activities no process lists.")
    automated: list[AutomatedRule] = Field(default_factory=list)
    process_automated: Literal["any", "all", "majority"] = Field(
        "any", description="A case's process execution is automated when any / all / most of its steps are."
    )
    outcome: OutcomeRule | None = None
    automation_runs: bool = Field(
        True,
        description="Emit automation.run per automated step; false when a robot log of the same "
        "period provides the runs (so each run is counted once).",
    )
    touchpoints: dict[str, TouchpointMap] = Field(default_factory=dict)
    finance: list[FinanceMap] = Field(default_factory=list, description="Activities that book money.")
    orders: list[OrderMap] = Field(
        default_factory=list, description="Activities that are customer orders (revenue, repeat purchases)."
    )
    decisions: list[DecisionMap] = Field(
        default_factory=list, description="Automations' decisions about the case (automation.decision)."
    )
    resolved_activities: list[str] = Field(
        default_factory=list, description="Activities that mean the customer's case was resolved."
    )
    error_activities: list[str] = Field(
        default_factory=list, description="Activities that mean something went wrong (counted as errors)."
    )

    @field_validator("processes")
    @classmethod
    def _process_ids(cls, value: dict[str, ProcessMap]) -> dict[str, ProcessMap]:
        for key in value:
            if not re.match(_ID, key):
                raise ValueError(f"process id {key!r} must match {_ID}")
        return value

    @field_validator("assume_timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @model_validator(mode="after")
    def _default_known(self) -> LogMapping:
        if self.default_process is not None and self.default_process not in self.processes:
            raise ValueError(f"default_process {self.default_process!r} is not one of processes")
        return self

    @property
    def event_source(self) -> str:
        """The CloudEvents ``source`` of every event imported with this mapping."""
        return self.source or f"import/{self.log}"

    def process_of(self, activity: str) -> str | None:
        """The process an activity belongs to (the first that lists it), else the default."""
        for process_id, process in self.processes.items():
            if process.contains(activity):
                return process_id
        return self.default_process

    def automation_of(self, activity: str, resource: str | None, attributes: AnyMapping[str, str]) -> str | None:
        """The automation that performed a step, or None when a person did."""
        for rule in self.automated:
            if rule.matches(activity, resource, attributes):
                return rule.automation_id
        return None

    def failed(self, attributes: AnyMapping[str, str]) -> bool:
        """Whether the outcome rule marks a step as failed."""
        return self.outcome is not None and attributes.get(self.outcome.attribute) in self.outcome.failed_values


def parse_mapping(data: Any, source: str = "<string>") -> LogMapping:
    """Validate a mapping read from YAML; MappingError lists every problem with its path."""
    if not isinstance(data, dict):
        raise MappingError(source, [Problem("", "a mapping file is a YAML mapping (key: value)")])
    try:
        return LogMapping.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(_path(err["loc"]), _message(err)) for err in exc.errors(include_url=False)
        ]
        raise MappingError(source, problems) from None


def load_mapping(path: Path | str) -> LogMapping:
    """Read and validate a mapping file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise MappingError(str(path), [Problem("", f"cannot read: {exc.strerror}")]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(str(path), [Problem("", f"not YAML: {exc}")]) from None
    return parse_mapping(data, str(path))


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown field"
    message = str(err["msg"])
    return message.removeprefix("Value error, ")


class RobotLogMapping(_Model):
    """How a UiPath robot log maps onto a strategy.

        log: company_bot_uipath
        automations: {AutomatedRPAProcess_Processing: document_check_bot}   # processName -> automation
        processes: {AutomatedRPAProcess_Processing: credit_process}         # processName -> process
        case_field: Ordnungsbegriff          # log field naming the business case (default: jobId)
    """

    log: str = Field(pattern=_ID)
    source: str | None = None
    automations: dict[str, str] = Field(min_length=1, description="UiPath processName -> automation id.")
    processes: dict[str, str] = Field(min_length=1, description="UiPath processName -> process id.")
    case_field: str = Field("jobId", description="Log field holding the business case id.")
    failed_levels: list[str] = Field(default_factory=lambda: ["Error", "Fatal"])
    end_marker: str | None = Field(
        r"(?i)execution ended|end process\.xaml",
        description="Regex of the message that closes a job normally; a job without it failed. Null: no check.",
    )
    assume_timezone: str | None = None

    @field_validator("end_marker")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from None
        return value

    @property
    def event_source(self) -> str:
        """The CloudEvents ``source`` of every event imported with this mapping."""
        return self.source or f"import/{self.log}"


def load_robot_mapping(path: Path | str) -> RobotLogMapping:
    """Read and validate a robot-log mapping file."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MappingError(str(path), [Problem("", f"cannot read: {exc.strerror}")]) from None
    except yaml.YAMLError as exc:
        raise MappingError(str(path), [Problem("", f"not YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise MappingError(str(path), [Problem("", "a mapping file is a YAML mapping (key: value)")])
    try:
        return RobotLogMapping.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(_path(err["loc"]), _message(err)) for err in exc.errors(include_url=False)]
        raise MappingError(str(path), problems) from None
