"""The event contract: CloudEvents 1.0 envelopes carrying typed alignwatch payloads.

The typed models and the limits of the contract. Every message a producer sends is decoded
once (:mod:`alignwatch.stream.decode`) into either an :class:`Event` (a frozen envelope whose
``data`` is the typed payload model of its ``type``) or a :class:`Rejection` (a
machine-readable :class:`RejectReason` and a message naming the field and the bad value).
Decoding never raises: a bad message must never stop a consumer.

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
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from alignwatch.errors import AlignwatchError
from alignwatch.vocabulary import SEGMENT_NAME_PATTERN

if TYPE_CHECKING:
    from alignwatch.config import Settings

__all__ = [
    "ATTRIBUTE_LIMITS",
    "BINARY_HEADERS",
    "CONTENT_TYPE",
    "CONTENT_TYPE_PATTERN",
    "ENVELOPE_ATTRIBUTES",
    "EVENT_TYPES",
    "EXTENSION_NAME_PATTERN",
    "MAX_EXTRA_DEPTH",
    "MAX_ID_FIELD_LENGTH",
    "MAX_ID_LENGTH",
    "MAX_MAGNITUDE",
    "MAX_SEGMENTS",
    "MAX_SOURCE_LENGTH",
    "MAX_SUBJECT_LENGTH",
    "NO_CONTROL_PATTERN",
    "NO_NUL_PATTERN",
    "PAYLOADS",
    "REJECT_REASON_HELP",
    "REQUIRED_ATTRIBUTES",
    "SEGMENT_NAME_PATTERN",
    "SPECVERSION",
    "TIME_PATTERN",
    "AutomationDecision",
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
]

SPECVERSION: Final = "1.0"
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
# identifiers end up in indexed text columns: no control characters (PostgreSQL refuses NUL)
NO_CONTROL_PATTERN = r"^[^\x00-\x1f\x7f]*$"
MAX_SEGMENTS = 16  # segment dimensions of one decision
# free text: any character but NUL, which PostgreSQL's text and jsonb cannot hold
NO_NUL_PATTERN = r"^[^\x00]*$"



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


class AutomationDecision(Payload):
    """A decision an automation made about a customer's case, its segments, and what people did about it."""

    automation_id: Id = Field(description="The automation that decided, as declared in the strategy's automations.")
    process_id: Id = Field(description="The business process the decision belongs to.")
    case_id: Id = Field(description="The case decided on (a refund request, a loan application).")
    outcome: Id = Field(
        description="What the automation decided (approved, declined, refunded...); the strategy's ethics section "
        "says which outcomes are favourable to the customer."
    )
    segments: Annotated[
        dict[Annotated[str, Field(pattern=SEGMENT_NAME_PATTERN)], Id], Field(max_length=MAX_SEGMENTS)
    ] = Field(
        default_factory=dict,
        json_schema_extra={"additionalProperties": False},
        description="The case's segment per dimension the business compares (customer_tier, region, language, "
        "amount_band...), as pseudonymous values; never a name or a protected attribute the business does not hold.",
    )
    reviewed: bool = Field(False, description="A person reviewed the decision.")
    overridden: bool = Field(
        False, description="A person reversed the decision (a reversal is a review, whatever reviewed says)."
    )
    appealed: bool = Field(False, description="The customer appealed against the decision.")


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
    "automation.decision": AutomationDecision,
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

# binary mode: header name -> attribute
BINARY_HEADERS: dict[str, str] = {
    "ce_specversion": "specversion",
    "ce_id": "id",
    "ce_source": "source",
    "ce_type": "type",
    "ce_time": "time",
    "ce_subject": "subject",
}
