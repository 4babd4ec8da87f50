"""The event contract: CloudEvents 1.0 envelopes carrying typed alignwatch payloads.

Every message a producer sends is decoded here, once, into either an :class:`Event` (a
frozen envelope whose ``data`` is the typed payload model of its ``type``) or a
:class:`Rejection` (a machine-readable :class:`RejectReason` and a message naming the field
and the bad value). Decoding never raises: a bad message must never stop a consumer.

Two Kafka modes are accepted (see ``docs/events.md``):

- *structured*: the message value is the whole CloudEvent as one JSON object;
- *binary*: the attributes travel as ``ce_*`` headers (``ce_specversion``, ``ce_id``,
  ``ce_source``, ``ce_type``, ``ce_time``, ``ce_subject``), the ``content-type`` header
  gives the media type of the data and the message value is the data alone.

Forward compatibility: unknown payload fields are kept (they are stored with the payload)
and envelope extension attributes (any other attribute, or ``ce_*`` header) are kept in
``Event.extensions``. Known fields are checked strictly: no string-to-bool or
string-to-number coercion, integers for counts, finite numbers only.

The idempotency key of an event is (``source``, ``id``): the store keeps one row per key.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from alignwatch.errors import AlignwatchError

if TYPE_CHECKING:
    from alignwatch.config import Settings

__all__ = [
    "ATTRIBUTE_LIMITS",
    "BINARY_HEADERS",
    "CONTENT_TYPE",
    "CONTENT_TYPE_PATTERN",
    "ENVELOPE_ATTRIBUTES",
    "EXTENSION_NAME_PATTERN",
    "MAX_SUBJECT_LENGTH",
    "NO_CONTROL_PATTERN",
    "NO_NUL_PATTERN",
    "REJECT_REASON_HELP",
    "REQUIRED_ATTRIBUTES",
    "ROW_COLUMNS",
    "EVENT_TYPES",
    "PAYLOADS",
    "SPECVERSION",
    "TIME_PATTERN",
    "AutomationReconfigured",
    "AutomationRun",
    "CustomerFeedback",
    "CustomerOrder",
    "CustomerTouchpoint",
    "DataProduced",
    "DataUsed",
    "DecodeLimits",
    "Event",
    "FeatureUsage",
    "FinanceEntry",
    "IntegrationIssue",
    "InvalidEventError",
    "KpiObserved",
    "Payload",
    "ProcessExecution",
    "RejectReason",
    "Rejection",
    "StrategyInitiative",
    "WorkforceSkill",
    "WorkforceSurvey",
    "WorkforceTask",
    "decode_binary",
    "decode_message",
    "decode_structured",
    "encode_binary",
    "encode_structured",
    "event_row",
    "event_to_dict",
    "event_values",
    "is_binary_mode",
    "make_event",
    "payload_dict",
]

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
MAX_SOURCE_LENGTH = 512  # events.source column
MAX_ID_LENGTH = 256  # events.event_id column
MAX_SUBJECT_LENGTH = 512  # events.subject column
MAX_ID_FIELD_LENGTH = 128  # identifier columns copied from the payload
MAX_EXTRA_DEPTH = 32  # nesting of unknown payload fields, kept with the payload
MAX_MAGNITUDE = 10**15
"""The largest number a declared numeric payload field may hold. The metric engine sums
these fields as double precision over windows of up to 28 days (PostgreSQL refuses a
``float8`` beyond about 1.8e308 and integers beyond a double), and a double holds every
integer up to 2**53 exactly: 10**15 leaves room for billions of events per window."""

# RFC 3339 date-time with a mandatory offset; the JSON Schemas carry the same pattern.
TIME_PATTERN = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"
_TIME_RE = re.compile(TIME_PATTERN)
# application/json, any letter case, optional parameters (e.g. "; charset=utf-8")
CONTENT_TYPE_PATTERN = "^" + "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in CONTENT_TYPE) + r"\s*(;.*)?$"
_CONTENT_TYPE_RE = re.compile(CONTENT_TYPE_PATTERN)
# identifiers end up in indexed text columns: no control characters (PostgreSQL refuses NUL)
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# free text: any character but NUL, which PostgreSQL's text and jsonb cannot hold
NO_NUL_PATTERN = r"^[^\x00]*$"
_NO_OFFSET_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


class RejectReason(StrEnum):
    """Why a message was rejected; the value is the ``reason_code`` stored in quarantine."""

    EMPTY_MESSAGE = "empty_message"
    TOO_LARGE = "too_large"
    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    NOT_OBJECT = "not_object"
    MISSING_ATTRIBUTE = "missing_attribute"
    MISSING_HEADERS = "missing_headers"
    BAD_SPECVERSION = "bad_specversion"
    UNKNOWN_TYPE = "unknown_type"
    BAD_CONTENT_TYPE = "bad_content_type"
    INVALID_ATTRIBUTE = "invalid_attribute"
    BAD_TIME = "bad_time"
    TIME_IN_FUTURE = "time_in_future"
    TIME_TOO_OLD = "time_too_old"
    INVALID_PAYLOAD = "invalid_payload"
    AMBIGUOUS_HEADER = "ambiguous_header"
    # decided by the sink, not the decoder (see stream/sink.py)
    CONFLICTING_DUPLICATE = "conflicting_duplicate"
    STORE_REJECTED = "store_rejected"


REJECT_REASON_HELP: dict[RejectReason, str] = {
    RejectReason.EMPTY_MESSAGE: "the message value is empty",
    RejectReason.TOO_LARGE: "the message is larger than the configured limit (max_payload_bytes)",
    RejectReason.NOT_UTF8: "the value or a ce_* header is not valid UTF-8",
    RejectReason.NOT_JSON: "the value is not JSON (NaN and Infinity are not JSON either)",
    RejectReason.NOT_OBJECT: "the JSON value is not an object",
    RejectReason.MISSING_ATTRIBUTE: "a required attribute (specversion, id, source, type, time) is absent",
    RejectReason.MISSING_HEADERS: "binary mode without one of the required ce_* headers",
    RejectReason.BAD_SPECVERSION: "specversion is not \"1.0\"",
    RejectReason.UNKNOWN_TYPE: "type is not one of the event types of this contract",
    RejectReason.BAD_CONTENT_TYPE: "datacontenttype / content-type is not application/json, or data_base64 was sent",
    RejectReason.INVALID_ATTRIBUTE: "an attribute has the wrong JSON type, is empty or too long",
    RejectReason.BAD_TIME: "time is not an RFC 3339 timestamp with a timezone offset",
    RejectReason.TIME_IN_FUTURE: "time is further in the future than allowed (max_future)",
    RejectReason.TIME_TOO_OLD: "time is older than allowed on live topics (max_age)",
    RejectReason.INVALID_PAYLOAD: "data is missing, not an object, or a payload field is invalid",
    RejectReason.AMBIGUOUS_HEADER: "binary mode with a ce_* or content-type header given more than once",
    RejectReason.CONFLICTING_DUPLICATE: (
        "(source, id) is stored already with a different type, time, subject or data; the first stored "
        "version stays authoritative"
    ),
    RejectReason.STORE_REJECTED: "the store refused the decoded event (the database's message says why)",
}


@dataclass(frozen=True, slots=True)
class Rejection:
    """A message that was not accepted: why (machine-readable), what (human-readable), and
    the event's ``source`` and ``id`` when they could be read."""

    reason: RejectReason
    message: str
    source: str | None = None
    event_id: str | None = None

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    """Limits a decoder enforces. ``max_age=None`` accepts events of any age (imports)."""

    max_payload_bytes: int = 256 * 1024
    max_future: dt.timedelta = dt.timedelta(days=1)
    max_age: dt.timedelta | None = None
    now: Callable[[], dt.datetime] = field(default=_utcnow)

    @classmethod
    def from_settings(cls, settings: Settings, live: bool = True) -> DecodeLimits:
        """Limits from the settings; ``live=False`` (imports, replays) lifts the age limit."""
        max_age = None
        if live and settings.max_age_s is not None:
            max_age = dt.timedelta(seconds=settings.max_age_s)
        return cls(
            max_payload_bytes=settings.max_payload_bytes,
            max_future=dt.timedelta(seconds=settings.max_future_s),
            max_age=max_age,
        )


class InvalidEventError(AlignwatchError, ValueError):
    """An event built in code (``make_event``) breaks the contract; carries the rejection."""

    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection
        super().__init__(str(rejection))


# --------------------------------------------------------------------------- payload types


def _require_text(value: object) -> object:
    if not isinstance(value, str | dt.datetime):
        raise ValueError("must be an RFC 3339 timestamp string")
    if isinstance(value, str) and not _TIME_RE.match(value):
        raise ValueError("must be an RFC 3339 timestamp with a timezone offset")
    return value


def _convertible_to_utc(value: dt.datetime) -> dt.datetime:
    """The same instant in UTC (the store keeps UTC; PostgreSQL refuses offsets beyond ±15:59)."""
    try:
        return value.astimezone(dt.UTC)
    except OverflowError:
        raise ValueError("is out of range in UTC") from None


Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_FIELD_LENGTH, pattern=NO_CONTROL_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=256, pattern=NO_NUL_PATTERN)]
NonNegative = Annotated[float, Field(ge=0, le=MAX_MAGNITUDE, allow_inf_nan=False)]
Signed = Annotated[float, Field(ge=-MAX_MAGNITUDE, le=MAX_MAGNITUDE, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=MAX_MAGNITUDE)]
Timestamp = Annotated[
    AwareDatetime,
    Field(strict=False, json_schema_extra={"pattern": TIME_PATTERN}),
    BeforeValidator(_require_text),
    AfterValidator(_convertible_to_utc),
]


class Payload(BaseModel):
    """Base of every payload: strict types for known fields, unknown fields kept."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class AutomationRun(Payload):
    """One run of an automation (a workflow, a bot) on one case."""

    automation_id: Id = Field(description="The automation, as declared in the strategy's automations.")
    process_id: Id = Field(description="The business process the run served.")
    case_id: Id = Field(description="The case (order, ticket, batch) the run worked on.")
    status: Literal["succeeded", "failed"] = Field(description="Outcome of the run.")
    duration_s: NonNegative = Field(description="Run time in seconds.")
    manual_intervention: bool = Field(False, description="A person had to step in during the run.")
    cost: NonNegative | None = Field(None, description="Cost of the run in the business's currency.")


class ProcessExecution(Payload):
    """One execution of a business process on one case, automated or not."""

    process_id: Id = Field(description="The process, as declared in the strategy's processes.")
    case_id: Id = Field(description="The case the execution handled.")
    automated: bool = Field(description="The execution was done by automation.")
    cycle_time_s: NonNegative = Field(description="From start to finish, in seconds.")
    errors: Count = Field(0, description="Errors found in the output.")
    rework: Count = Field(0, description="Times the work had to be redone.")
    units_out: NonNegative | None = Field(None, description="Units produced (e.g. loaves baked).")
    automated_share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = Field(
        None, description="Share of the steps done by automation, 0..1."
    )


class CustomerTouchpoint(Payload):
    """A customer's contact at a journey touchpoint, handled by automation or a human."""

    touchpoint_id: Id = Field(description="The touchpoint, as declared in the strategy's journey.")
    customer_id: Id = Field(description="The customer (a pseudonymous id).")
    channel: Text = Field(description="Channel of the contact (chat, email, phone, shop...).")
    handled_by: Literal["automation", "human"] = Field(description="Who handled the contact.")
    resolved: bool = Field(description="The customer's need was resolved in this contact.")
    escalation_requested: bool = Field(False, description="The customer asked for a human.")
    escalation_fulfilled_s: NonNegative | None = Field(
        None, description="Seconds until a human took over; null or absent = never reached a human."
    )


class CustomerFeedback(Payload):
    """A customer's satisfaction (CSAT 1..5) and/or recommendation (NPS 0..10) answer."""

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [
                {"required": ["csat"], "properties": {"csat": {"type": "integer"}}},
                {"required": ["nps"], "properties": {"nps": {"type": "integer"}}},
            ]
        }
    )

    customer_id: Id = Field(description="The customer (a pseudonymous id).")
    touchpoint_id: Id | None = Field(None, description="The touchpoint the feedback is about.")
    csat: Annotated[int, Field(ge=1, le=5)] | None = Field(None, description="Satisfaction, 1..5.")
    nps: Annotated[int, Field(ge=0, le=10)] | None = Field(None, description="Likelihood to recommend, 0..10.")

    @model_validator(mode="after")
    def _one_answer(self) -> CustomerFeedback:
        if self.csat is None and self.nps is None:
            raise ValueError("at least one of csat or nps is required")
        return self


class CustomerOrder(Payload):
    """An order placed by a customer."""

    customer_id: Id = Field(description="The customer (a pseudonymous id).")
    order_id: Id = Field(description="The order.")
    amount: NonNegative = Field(description="Order amount in the business's currency.")
    repeat: bool = Field(description="The customer had ordered before.")
    units: NonNegative | None = Field(None, description="Units ordered (compared with units produced).")
    product_ids: list[Id] | None = Field(
        None,
        description="The products ordered, as the shop identifies them (compared with the strategy's new_products); "
        "absent: the order does not say.",
    )


class FinanceEntry(Payload):
    """A cost, saving or revenue amount, optionally attributed to an automation."""

    automation_id: Id | None = Field(None, description="The automation the amount is attributed to.")
    kind: Literal["cost", "saving", "revenue"] = Field(description="What the amount is.")
    amount: NonNegative = Field(description="Amount in the business's currency.")


class FeatureUsage(Payload):
    """A user used one feature of an automation's system."""

    automation_id: Id = Field(description="The automation whose system offers the feature.")
    feature: Text = Field(description="The feature, named as in the strategy's features_licensed.")
    user_id: Id = Field(description="The user (a pseudonymous id).")


class IntegrationIssue(Payload):
    """Records that had to be re-keyed, failed to sync or were exported/imported by hand."""

    automation_id: Id = Field(description="The automation whose integration failed.")
    kind: Literal["manual_reentry", "sync_failure", "export_import"] = Field(description="What went wrong.")
    records: Annotated[int, Field(ge=1)] = Field(description="Records affected, at least 1.")


class DataProduced(Payload):
    """An automation produced (updated) a dataset."""

    dataset_id: Id = Field(description="The dataset.")
    automation_id: Id = Field(description="The automation that produced it.")


class DataUsed(Payload):
    """A dataset was used for a decision or a report."""

    dataset_id: Id = Field(description="The dataset.")
    used_for: Literal["decision", "report"] = Field(description="What it was used for.")
    strategic: bool = Field(description="The decision or report serves a strategic goal.")


class WorkforceTask(Payload):
    """An employee's task, augmented by automation or not, and the minutes it saved."""

    employee_id: Id = Field(description="The employee (a pseudonymous id).")
    automation_id: Id | None = Field(None, description="The automation that helped, if any.")
    augmented: bool = Field(description="Automation helped with the task.")
    minutes_saved: NonNegative = Field(description="Minutes the automation saved on the task.")


class WorkforceSkill(Payload):
    """An employee gained a skill: training, certification or a new responsibility."""

    employee_id: Id = Field(description="The employee (a pseudonymous id).")
    skill: Text = Field(description="The skill.")
    kind: Literal["training", "certification", "new_responsibility"] = Field(description="How it was gained.")


class WorkforceSurvey(Payload):
    """An employee's satisfaction answer (1..5)."""

    employee_id: Id = Field(description="The employee (a pseudonymous id).")
    satisfaction: Annotated[int, Field(ge=1, le=5)] = Field(description="Satisfaction, 1..5.")


class StrategyInitiative(Payload):
    """A strategic initiative started, serving some goals."""

    initiative_id: Id = Field(description="The initiative.")
    goal_ids: list[Id] = Field(description="The strategy goals it serves.")
    started_at: Timestamp = Field(description="When it started (RFC 3339 with offset).")


class AutomationReconfigured(Payload):
    """An automation was reconfigured for an initiative and deployed."""

    automation_id: Id = Field(description="The automation.")
    initiative_id: Id = Field(description="The initiative it was reconfigured for.")
    deployed_at: Timestamp = Field(description="When the new configuration went live (RFC 3339 with offset).")


class KpiObserved(Payload):
    """A KPI value measured outside the automated systems (market share, brand perception...)."""

    kpi_id: Id = Field(description="The strategy KPI the value feeds (a KPI with measure observed).")
    value: Signed = Field(description="The measured value, in the KPI's unit (a finite number, may be negative).")
    unit: Text | None = Field(None, description="The unit of the value, as the KPI's unit (ratio, points, EUR...).")
    period: Text | None = Field(None, description="The period the value describes, as a label (2026-Q1, 2026-03, week 12).")
    measured_by: Text | None = Field(None, description="Who measured it (a market research firm, a survey tool).")
    method: Text | None = Field(None, description="How it was measured (panel survey, sales-data share, social listening).")


PAYLOADS: dict[str, type[Payload]] = {
    "automation.run": AutomationRun,
    "process.execution": ProcessExecution,
    "customer.touchpoint": CustomerTouchpoint,
    "customer.feedback": CustomerFeedback,
    "customer.order": CustomerOrder,
    "finance.entry": FinanceEntry,
    "feature.usage": FeatureUsage,
    "integration.issue": IntegrationIssue,
    "data.produced": DataProduced,
    "data.used": DataUsed,
    "workforce.task": WorkforceTask,
    "workforce.skill": WorkforceSkill,
    "workforce.survey": WorkforceSurvey,
    "strategy.initiative": StrategyInitiative,
    "automation.reconfigured": AutomationReconfigured,
    "kpi.observed": KpiObserved,
}
EVENT_TYPES: tuple[str, ...] = tuple(PAYLOADS)


# --------------------------------------------------------------------------- the envelope


class Event(BaseModel):
    """A decoded CloudEvent: envelope attributes, typed ``data``, kept extension attributes."""

    model_config = ConfigDict(frozen=True)

    specversion: Literal["1.0"] = SPECVERSION
    id: str
    source: str
    type: str
    time: AwareDatetime
    subject: str | None = None
    datacontenttype: str = CONTENT_TYPE
    data: Payload
    extensions: dict[str, str | int | bool] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _typed_data(cls, values: Any) -> Any:
        """Built from a mapping (not by the decoder), ``data`` becomes the payload model of ``type``."""
        if isinstance(values, Mapping):
            event_type = values.get("type")
            if event_type not in PAYLOADS:
                raise ValueError(f"type: {event_type!r} is not one of the known event types")
            data = values.get("data")
            if not isinstance(data, PAYLOADS[event_type]):
                values = {**values, "data": PAYLOADS[event_type].model_validate(data)}
        return values

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key (``source``, ``id``)."""
        return (self.source, self.id)


EXTENSION_NAME_PATTERN = r"^[a-z0-9]{1,20}$"
ENVELOPE_ATTRIBUTES = frozenset({"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "data"})
REQUIRED_ATTRIBUTES = ("specversion", "id", "source", "type", "time")
ATTRIBUTE_LIMITS = {"id": MAX_ID_LENGTH, "source": MAX_SOURCE_LENGTH, "type": 64}
_EXTENSION_NAME_RE = re.compile(EXTENSION_NAME_PATTERN)

# binary mode: header name -> attribute
BINARY_HEADERS: dict[str, str] = {
    "ce_specversion": "specversion",
    "ce_id": "id",
    "ce_source": "source",
    "ce_type": "type",
    "ce_time": "time",
    "ce_subject": "subject",
}
_REQUIRED_HEADERS = tuple(f"ce_{name}" for name in REQUIRED_ATTRIBUTES)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (_INF, -_INF):
        raise ValueError(f"number {text} is out of range")
    return value


_INF = float("inf")
_SURROGATE_ESCAPE_RE = re.compile(r"\\u[dD][89a-fA-F]")
# NaN, Infinity and numbers too large for a float are refused: the store's JSON cannot hold them
_json_loads = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float).decode


def _short(value: object, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _text_or_none(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _is_json_media_type(value: str) -> bool:
    return _CONTENT_TYPE_RE.match(value) is not None


def _number(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _span(delta: dt.timedelta) -> str:
    seconds = delta.total_seconds()
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds:g} seconds"


def _format_errors(error: ValidationError, prefix: str = "data") -> str:
    parts = []
    for item in error.errors(include_url=False)[:5]:
        where = ".".join(str(part) for part in (prefix, *item["loc"]))
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        message = message[0].lower() + message[1:] if message else message
        bounds = item.get("ctx") or {}
        if item["type"] == "missing":
            parts.append(f"{where}: required field is missing")
        elif item["type"] in ("greater_than_equal", "greater_than"):
            limit = _number(bounds.get("ge", bounds.get("gt")))
            parts.append(f"{where}: {_short(item['input'])} is below the minimum {limit}")
        elif item["type"] in ("less_than_equal", "less_than"):
            limit = _number(bounds.get("le", bounds.get("lt")))
            parts.append(f"{where}: {_short(item['input'])} is above the maximum {limit}")
        elif item["loc"] == ():
            parts.append(f"{where}: {message}")
        else:
            parts.append(f"{where}: {_short(item['input'])} is invalid: {message}")
    more = len(error.errors()) - 5
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


def _parse_time(value: object) -> dt.datetime | str:
    """The aware time, or the message explaining why ``value`` is not one."""
    if not isinstance(value, str):
        return f"time: {_short(value)} is not a string"
    if not _TIME_RE.match(value):
        if _NO_OFFSET_RE.match(value):
            return f"time: {value!r} has no timezone offset (add Z or +HH:MM)"
        return f"time: {_short(value)} is not an RFC 3339 timestamp"
    try:
        return dt.datetime.fromisoformat(value)
    except ValueError:
        pass
    try:  # RFC 3339 allows lower-case "t" and "z", which fromisoformat does not
        return dt.datetime.fromisoformat(value.upper())
    except ValueError as exc:
        return f"time: {_short(value)} is not a valid timestamp ({exc})"


def _deeper_than(value: dict[str, Any] | list[Any], limit: int) -> bool:
    """Whether a JSON value nests containers more than ``limit`` levels deep."""
    level: list[Any] = [value]
    for _ in range(limit):
        level = [
            child
            for container in level
            for child in (container.values() if isinstance(container, dict) else container)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True


_new_event = object.__new__
_set = object.__setattr__
_EVENT_FIELDS = frozenset(Event.model_fields)


def _construct_event(values: dict[str, Any]) -> Event:
    """An ``Event`` from already checked values: what ``Event.model_construct`` does, without
    its per-field bookkeeping (every field is given here), which the consumer pays per message."""
    event = _new_event(Event)
    _set(event, "__dict__", values)
    _set(event, "__pydantic_fields_set__", set(_EVENT_FIELDS))
    _set(event, "__pydantic_extra__", None)
    _set(event, "__pydantic_private__", None)
    return event


def _build(attributes: Mapping[str, Any], data: object, limits: DecodeLimits, *, binary: bool) -> Event | Rejection:
    """Check the attributes and the data of one event (both modes end here)."""
    get = attributes.get
    event_id = get("id")
    source = get("source")
    event_type = get("type")
    specversion = get("specversion")
    time_text = get("time")

    def reject(reason: RejectReason, message: str) -> Rejection:
        return Rejection(
            reason, message, _text_or_none(source, MAX_SOURCE_LENGTH), _text_or_none(event_id, MAX_ID_LENGTH)
        )

    if event_id is None or source is None or event_type is None or specversion is None or time_text is None:
        name = next(name for name in REQUIRED_ATTRIBUTES if get(name) is None)
        if binary:
            return reject(RejectReason.MISSING_HEADERS, f"header ce_{name} is missing")
        return reject(RejectReason.MISSING_ATTRIBUTE, f"{name}: required attribute is missing")
    if specversion != SPECVERSION:
        return reject(RejectReason.BAD_SPECVERSION, f"specversion: {_short(specversion)} is not \"1.0\"")
    for name, value in (("id", event_id), ("source", source), ("type", event_type)):
        if type(value) is not str or not value or len(value) > ATTRIBUTE_LIMITS[name]:
            if not isinstance(value, str):
                return reject(RejectReason.INVALID_ATTRIBUTE, f"{name}: {_short(value)} is not a string")
            if not value:
                return reject(RejectReason.INVALID_ATTRIBUTE, f"{name}: must not be empty")
            if len(value) > ATTRIBUTE_LIMITS[name]:
                limit = ATTRIBUTE_LIMITS[name]
                return reject(
                    RejectReason.INVALID_ATTRIBUTE, f"{name}: {_short(value)} is longer than {limit} characters"
                )
    for name, value in (("id", event_id), ("source", source)):
        if _CONTROL_RE.search(value):
            return reject(RejectReason.INVALID_ATTRIBUTE, f"{name}: {_short(value)} contains a control character")
    payload_model = PAYLOADS.get(event_type)
    if payload_model is None:
        return reject(RejectReason.UNKNOWN_TYPE, f"type: {event_type!r} is not one of the known event types")
    subject = get("subject")
    if subject is not None and (
        type(subject) is not str or len(subject) > MAX_SUBJECT_LENGTH or _CONTROL_RE.search(subject)
    ):
        return reject(
            RejectReason.INVALID_ATTRIBUTE,
            f"subject: {_short(subject)} is not a string of at most {MAX_SUBJECT_LENGTH} characters "
            "without control characters",
        )
    content_type = get("datacontenttype")
    if content_type is None:
        content_type = CONTENT_TYPE
    elif content_type != CONTENT_TYPE and (type(content_type) is not str or not _is_json_media_type(content_type)):
        where = "content-type" if binary else "datacontenttype"
        return reject(RejectReason.BAD_CONTENT_TYPE, f"{where}: {_short(content_type)} is not {CONTENT_TYPE}")

    time = _parse_time(time_text)
    if isinstance(time, str):
        return reject(RejectReason.BAD_TIME, time)
    now = limits.now()
    try:
        # the store keeps UTC (year 1 at +01:00 cannot be stored; PostgreSQL refuses offsets
        # beyond ±15:59, which RFC 3339 allows up to ±23:59): every event time becomes UTC here
        time = time.astimezone(dt.UTC)
        ahead = time - now
    except OverflowError:
        return reject(RejectReason.BAD_TIME, f"time: {time_text!r} is out of range")
    if ahead > limits.max_future:
        return reject(
            RejectReason.TIME_IN_FUTURE,
            f"time: {time_text!r} is more than {_span(limits.max_future)} ahead of {now.isoformat()}",
        )
    if limits.max_age is not None and -ahead > limits.max_age:
        return reject(
            RejectReason.TIME_TOO_OLD,
            f"time: {time_text!r} is more than {_span(limits.max_age)} before {now.isoformat()}",
        )

    extensions: dict[str, str | int | bool] = {}
    others = attributes.keys() - ENVELOPE_ATTRIBUTES
    if others:
        if "data_base64" in others:
            return reject(RejectReason.BAD_CONTENT_TYPE, "data_base64: binary data is not accepted; send JSON data")
        for name in sorted(others):
            value = attributes[name]
            if not _EXTENSION_NAME_RE.match(name):
                return reject(
                    RejectReason.INVALID_ATTRIBUTE,
                    f"{_short(name)}: extension attribute names are 1-20 lower-case letters or digits",
                )
            if not isinstance(value, str | int | bool):
                return reject(
                    RejectReason.INVALID_ATTRIBUTE, f"{name}: {_short(value)} is not a string, integer or boolean"
                )
            extensions[name] = value

    if data is None:
        return reject(RejectReason.INVALID_PAYLOAD, "data: required for every event type")
    if type(data) is not dict:
        return reject(RejectReason.INVALID_PAYLOAD, f"data: {_short(data)} is not a JSON object")
    try:
        payload = payload_model.__pydantic_validator__.validate_python(data)
    except ValidationError as exc:
        return reject(RejectReason.INVALID_PAYLOAD, _format_errors(exc))
    if payload.__pydantic_extra__:
        for name, value in payload.__pydantic_extra__.items():
            if isinstance(value, dict | list) and _deeper_than(value, MAX_EXTRA_DEPTH):
                return reject(RejectReason.INVALID_PAYLOAD, f"data.{name}: nested deeper than {MAX_EXTRA_DEPTH} levels")
    return _construct_event(
        {
            "specversion": SPECVERSION,
            "id": event_id,
            "source": source,
            "type": event_type,
            "time": time,
            "subject": subject,
            "datacontenttype": content_type,
            "data": payload,
            "extensions": extensions,
        }
    )


def _load_json(raw: bytes, what: str) -> tuple[Any, Rejection | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, Rejection(RejectReason.NOT_UTF8, f"{what}: byte {exc.start} is not valid UTF-8 ({exc.reason})")
    try:
        value = _json_loads(text)
    except ValueError as exc:
        return None, Rejection(RejectReason.NOT_JSON, f"{what}: not JSON: {exc}")
    except RecursionError:
        return None, Rejection(RejectReason.NOT_JSON, f"{what}: not JSON: nested too deeply")
    if "\\u0000" in text:  # rare: only then look for a NUL (raw NUL bytes are not JSON)
        where = _nul_path(value, "data" if what == "data" else "")
        if where is not None:
            reason = RejectReason.INVALID_PAYLOAD if where.startswith("data") else RejectReason.INVALID_ATTRIBUTE
            envelope = value if isinstance(value, dict) and what == "message" else {}
            return None, Rejection(
                reason,
                f"{where}: contains a control character, NUL (U+0000), which the store cannot hold",
                _text_or_none(envelope.get("source"), MAX_SOURCE_LENGTH),
                _text_or_none(envelope.get("id"), MAX_ID_LENGTH),
            )
    if _SURROGATE_ESCAPE_RE.search(text):  # rare: only then look for an unpaired one
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            return None, Rejection(
                RejectReason.NOT_UTF8, f"{what}: a \\u escape is an unpaired surrogate, not a Unicode character"
            )
    return value, None


def _nul_path(value: object, path: str) -> str | None:
    """Where the first NUL character is in a JSON value (a dotted path, ``[i]`` for list
    items, ``key name`` for a field name holding one), or None."""
    if isinstance(value, str):
        return path or "value" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            inner = f"{path}.{key}" if path else key
            if "\x00" in key:
                return f"{path or 'message'}: field name {_short(key)}"
            found = _nul_path(item, inner)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def decode_structured(raw: bytes, limits: DecodeLimits) -> Event | Rejection:
    """Decode a structured-mode message: the whole CloudEvent as one JSON object."""
    if not raw or raw.isspace():
        return Rejection(RejectReason.EMPTY_MESSAGE, "the message is empty")
    if len(raw) > limits.max_payload_bytes:
        return Rejection(
            RejectReason.TOO_LARGE, f"message: {len(raw)} bytes is more than the limit of {limits.max_payload_bytes} bytes"
        )
    value, problem = _load_json(raw, "message")
    if problem is not None:
        return problem
    if not isinstance(value, dict):
        return Rejection(RejectReason.NOT_OBJECT, f"message: a JSON {_json_kind(value)} is not a CloudEvent object")
    return _build(value, value.get("data"), limits, binary=False)


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null" if value is None else type(value).__name__


def decode_binary(value: bytes, headers: Iterable[tuple[str, bytes]], limits: DecodeLimits) -> Event | Rejection:
    """Decode a binary-mode message: ``ce_*`` headers carry the attributes, the value the data."""
    attributes: dict[str, Any] = {}
    seen: dict[str, str] = {}  # attribute -> the header that gave it
    size = len(value or b"")
    for key, raw_header in headers:
        raw_header = raw_header or b""
        size += len(key) + len(raw_header)
        name = key.lower()
        if name == "content-type":
            attribute = "datacontenttype"
        elif name in BINARY_HEADERS:
            attribute = BINARY_HEADERS[name]
        elif name.startswith("ce_"):
            attribute = name[3:]
        else:
            continue
        if attribute in attributes:  # which of the two is the event's? neither wins silently
            return Rejection(
                RejectReason.AMBIGUOUS_HEADER,
                f"header {key}: given more than once (as {_short(seen[attribute])} and {_short(key)})",
                _text_or_none(attributes.get("source"), MAX_SOURCE_LENGTH),
                _text_or_none(attributes.get("id"), MAX_ID_LENGTH),
            )
        seen[attribute] = key
        try:
            attributes[attribute] = raw_header.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Rejection(RejectReason.NOT_UTF8, f"header {key}: byte {exc.start} is not valid UTF-8")
    if size > limits.max_payload_bytes:
        return Rejection(
            RejectReason.TOO_LARGE,
            f"message: {size} bytes (value and headers) is more than the limit of {limits.max_payload_bytes} bytes",
            _text_or_none(attributes.get("source"), MAX_SOURCE_LENGTH),
            _text_or_none(attributes.get("id"), MAX_ID_LENGTH),
        )
    missing = [header for header in _REQUIRED_HEADERS if header[3:] not in attributes]
    if missing:
        return Rejection(
            RejectReason.MISSING_HEADERS,
            f"binary mode: header(s) {', '.join(missing)} missing",
            _text_or_none(attributes.get("source"), MAX_SOURCE_LENGTH),
            _text_or_none(attributes.get("id"), MAX_ID_LENGTH),
        )
    if not value or value.isspace():
        return Rejection(
            RejectReason.EMPTY_MESSAGE,
            "binary mode: the message value (the data) is empty",
            _text_or_none(attributes.get("source"), MAX_SOURCE_LENGTH),
            _text_or_none(attributes.get("id"), MAX_ID_LENGTH),
        )
    content_type = attributes.get("datacontenttype")
    if content_type is not None and not _is_json_media_type(content_type):
        return Rejection(
            RejectReason.BAD_CONTENT_TYPE,
            f"content-type: {content_type!r} is not {CONTENT_TYPE}",
            _text_or_none(attributes.get("source"), MAX_SOURCE_LENGTH),
            _text_or_none(attributes.get("id"), MAX_ID_LENGTH),
        )
    data, problem = _load_json(value, "data")
    if problem is not None:
        return Rejection(
            problem.reason,
            problem.message,
            _text_or_none(attributes.get("source"), MAX_SOURCE_LENGTH),
            _text_or_none(attributes.get("id"), MAX_ID_LENGTH),
        )
    return _build(attributes, data, limits, binary=True)


def is_binary_mode(headers: Iterable[tuple[str, bytes]]) -> bool:
    """Whether a message with these headers is in binary mode: a ``ce_specversion`` header."""
    return any(key.lower() == "ce_specversion" for key, _ in headers)


def decode_message(value: bytes, headers: Iterable[tuple[str, bytes]] | None, limits: DecodeLimits) -> Event | Rejection:
    """Decode a Kafka message: binary mode when a ``ce_specversion`` header is present,
    structured mode otherwise."""
    header_list = list(headers or ())
    if is_binary_mode(header_list):
        return decode_binary(value, header_list, limits)
    return decode_structured(value, limits)


# --------------------------------------------------------------------------- producing


def event_to_dict(event: Event) -> dict[str, Any]:
    """The structured-mode JSON object of ``event`` (extensions flattened into the envelope)."""
    out: dict[str, Any] = {
        "specversion": event.specversion,
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "time": event.time.isoformat(),
    }
    if event.subject is not None:
        out["subject"] = event.subject
    out["datacontenttype"] = event.datacontenttype
    out.update(event.extensions)
    out["data"] = event.data.model_dump(mode="json", exclude_none=True)
    return out


def encode_structured(event: Event | Mapping[str, Any]) -> bytes:
    """Structured-mode bytes (compact UTF-8 JSON) of an event or of a CloudEvent dict."""
    value = event_to_dict(event) if isinstance(event, Event) else dict(event)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False, default=_json_default).encode(
        "utf-8"
    )


def _json_default(value: object) -> object:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_binary(event: Event) -> tuple[bytes, list[tuple[str, bytes]]]:
    """Binary-mode value (the data as JSON) and ``ce_*`` / ``content-type`` headers of ``event``."""
    headers = [
        ("ce_specversion", event.specversion.encode()),
        ("ce_id", event.id.encode("utf-8")),
        ("ce_source", event.source.encode("utf-8")),
        ("ce_type", event.type.encode("utf-8")),
        ("ce_time", event.time.isoformat().encode()),
    ]
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode("utf-8")))
    for name, value in event.extensions.items():
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        headers.append((f"ce_{name}", text.encode("utf-8")))
    headers.append(("content-type", event.datacontenttype.encode()))
    value = json.dumps(event.data.model_dump(mode="json", exclude_none=True), ensure_ascii=False, separators=(",", ":"))
    return value.encode("utf-8"), headers


_MAKE_LIMITS = DecodeLimits(max_payload_bytes=1 << 30, max_future=dt.timedelta.max // 2)


def make_event(
    type: str,
    source: str,
    id: str,
    time: dt.datetime | str,
    data: Mapping[str, Any] | Payload,
    subject: str | None = None,
) -> Event:
    """Build a valid event in code (simulator, importers, tests).

    Applies every check of the decoder except the time limits; raises
    :class:`InvalidEventError` (carrying the :class:`Rejection`) when the event breaks the
    contract.
    """
    if isinstance(time, dt.datetime):
        if time.tzinfo is None:
            raise InvalidEventError(Rejection(RejectReason.BAD_TIME, f"time: {time.isoformat()!r} has no timezone"))
        time_text = time.isoformat()
    else:
        time_text = time
    payload = data.model_dump(mode="json") if isinstance(data, Payload) else _jsonable(dict(data))
    attributes: dict[str, Any] = {"specversion": SPECVERSION, "id": id, "source": source, "type": type, "time": time_text}
    if subject is not None:
        attributes["subject"] = subject
    result = _build(attributes, payload, _MAKE_LIMITS, binary=False)
    if isinstance(result, Rejection):
        raise InvalidEventError(result)
    return result


def _jsonable(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` as the decoder would see it: datetimes as RFC 3339 text (a naive one is then
    rejected by validation, with its field name)."""
    return {key: value.isoformat() if isinstance(value, dt.datetime) else value for key, value in data.items()}


# --------------------------------------------------------------------------- storing

_ROW_CASE_FIELDS = ("case_id", "order_id", "dataset_id", "initiative_id")
_ROW_ACTOR_FIELDS = ("customer_id", "employee_id", "user_id")


def _first(data: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = data.get(name)
        if value is not None:
            return value
    return None


_JSON_NATIVE: dict[type[Payload], bool] = {}


def payload_dict(payload: Payload) -> dict[str, Any]:
    """The payload as JSON-ready values: declared fields (defaults filled in), then unknown
    fields. Same result as ``model_dump(mode="json")``, about twice as fast for the payloads
    whose fields are all JSON-native already (every type without a timestamp field)."""
    model = type(payload)
    native = _JSON_NATIVE.get(model)
    if native is None:
        properties = model.model_json_schema()["properties"].values()
        native = _JSON_NATIVE[model] = not any(prop.get("format") == "date-time" for prop in properties)
    if not native:
        return payload.model_dump(mode="json")
    extra = payload.__pydantic_extra__
    return {**payload.__dict__, **extra} if extra else dict(payload.__dict__)


ROW_COLUMNS: tuple[str, ...] = (
    "source", "event_id", "type", "time", "subject", "automation_id", "process_id",
    "touchpoint_id", "case_id", "actor_id", "data", "ingested_at",
)  # fmt: skip
"""The ``events`` columns an ingested event fills, in the order of :func:`event_values`."""


def event_values(event: Event, ingested_at: dt.datetime) -> tuple[Any, ...]:
    """The ``events`` table values of ``event``, in ``ROW_COLUMNS`` order: envelope columns,
    identifier columns copied from the payload, the whole payload (unknown fields included)
    in ``data``."""
    data = payload_dict(event.data)
    get = data.get
    return (
        event.source, event.id, event.type, event.time, event.subject,
        get("automation_id"), get("process_id"), get("touchpoint_id"),
        _first(data, _ROW_CASE_FIELDS), _first(data, _ROW_ACTOR_FIELDS), data, ingested_at,
    )  # fmt: skip


def event_row(event: Event, ingested_at: dt.datetime) -> dict[str, Any]:
    """The ``events`` table row of ``event``: :func:`event_values` by column name."""
    return dict(zip(ROW_COLUMNS, event_values(event, ingested_at), strict=True))
