"""Decode stage, fast path: the common message decoded in C, with the contract's exact result.

:mod:`alignwatch.stream.decode` is the contract's reference decoder. It checks everything and
explains every rejection, at about 70-100k messages/s on one core. Most messages on a live
topic are plain and valid: known envelope attributes (in the JSON object, or as ``ce_*``
headers in binary mode), a payload of one of the contract's types with only its declared
fields. For those, this module lets msgspec parse and check the message against typed
structures derived from the payload models' JSON Schemas (so from the same single
declaration) and builds the same :class:`~alignwatch.stream.contract.Event` without pydantic's
per-field work.

The fast path never decides a rejection. Whatever it does not accept outright goes to the
reference decoder, which returns its usual result and message: extension attributes,
unknown payload fields, payload types with timestamp fields, a content type with
parameters, backslash escapes, and every invalid message. So a message is accepted here
only if the reference decoder accepts it, and the event is equal to the reference
decoder's one (only pydantic's ``model_fields_set``, which nothing reads, lists every
declared field, as the envelope's does). ``tests/foundation/test_events_fastdecode.py``
holds both decoders to that on every scenario of the simulator, every bad sample of the
contract, and mutations of valid messages in both modes.

The consumer goes one step further (:func:`decode_record`): a plain valid event stays a
:class:`PlainEvent`, its checked values as msgspec decoded them, and the typed ``Event`` is
built from it only when something asks for one (:meth:`PlainEvent.event`: a conflicting
duplicate to compare and quarantine, a row the store refuses). The store writes the values
as they are.
"""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Iterable
from typing import Annotated, Any, Literal, Union

import msgspec

from alignwatch.stream import contract
from alignwatch.stream import decode as reference
from alignwatch.stream.contract import DecodeLimits, Event, Payload, Rejection

__all__ = ["FAST_TYPES", "PlainEvent", "decode_message", "decode_plain", "decode_record", "decode_structured"]

_FLOAT_MAX = sys.float_info.max
_new = object.__new__
_set = object.__setattr__


def _scalar(schema: dict[str, Any]) -> Any:
    """The msgspec type of one JSON Schema scalar, or None when the fast path cannot check it.

    Patterns are left out: the only ones on these fields forbid control characters or NUL,
    and a JSON string can hold one only as a backslash escape or a raw DEL byte, which send
    the whole message to the reference decoder (see ``_fast``).
    """
    if schema.get("pattern") not in (None, contract.NO_CONTROL_PATTERN, contract.NO_NUL_PATTERN):
        return None
    if "format" in schema or set(schema) - {"type", "minLength", "maxLength", "pattern", "minimum", "maximum",
                                              "enum", "description", "title", "default", "items"}:  # fmt: skip
        return None
    kind = schema.get("type")
    if "enum" in schema:
        return Literal[tuple(schema["enum"])] if all(isinstance(v, str) for v in schema["enum"]) else None
    if kind == "string":
        return Annotated[str, msgspec.Meta(min_length=schema.get("minLength"), max_length=schema.get("maxLength"))]
    if kind == "number":  # finite only: msgspec refuses numbers out of float range
        return Annotated[float, msgspec.Meta(ge=schema.get("minimum"), le=schema.get("maximum", _FLOAT_MAX))]
    if kind == "integer":
        return Annotated[int, msgspec.Meta(ge=schema.get("minimum"), le=schema.get("maximum"))]
    if kind == "boolean":
        return bool
    if kind == "array":
        item = _scalar(schema.get("items", {}))
        return None if item is None else list[item]  # type: ignore[valid-type]
    return None


def _mapping(schema: dict[str, Any]) -> Any:
    """The msgspec type of a JSON Schema object whose keys follow one pattern and whose
    values are one scalar (a decision's segments), or None when the fast path cannot check it.

    The key pattern is checked here (it is not one of the control-character patterns);
    Python's ``re.search`` reads the anchored pattern as the schema means it, since a key
    with a newline can only be sent as a backslash escape, which goes to the reference.
    """
    if set(schema) - {"type", "patternProperties", "additionalProperties", "maxProperties", "description", "title"}:
        return None
    if schema.get("additionalProperties") is not False or len(schema.get("patternProperties", {})) != 1:
        return None
    [(pattern, values)] = schema["patternProperties"].items()
    value = _scalar(values)
    if value is None:
        return None
    key = Annotated[str, msgspec.Meta(pattern=pattern)]
    return Annotated[dict[key, value], msgspec.Meta(max_length=schema.get("maxProperties"))]  # type: ignore[valid-type]


def _field_type(schema: dict[str, Any]) -> Any:
    if schema.get("type") == "object":
        return _mapping(schema)
    if "anyOf" in schema:
        options = schema["anyOf"]
        if len(options) != 2 or {"type": "null"} not in options:
            return None
        inner = _scalar(next(option for option in options if option != {"type": "null"}))
        return None if inner is None else inner | None
    return _scalar(schema)


class _PayloadPlan:
    """How one payload model is decoded fast: its struct and its "one of" groups."""

    def __init__(self, event_type: str, model: type[Payload]) -> None:
        schema = model.model_json_schema()
        required = set(schema.get("required", ()))
        fields: list[tuple[str, Any] | tuple[str, Any, Any]] = []
        self.event_type = event_type
        self.model = model
        self.supported = True
        for name, prop in schema["properties"].items():
            kind = _field_type(prop)
            if kind is None:
                self.supported = False
                return
            if name in required:
                fields.append((name, kind))
            else:
                fields.append((name, kind, model.model_fields[name].get_default(call_default_factory=True)))
        self.fields = frozenset(name for name, *_ in fields)
        # "at least one of these groups of fields" (e.g. csat or nps): a schema-level anyOf
        self.one_of = tuple(tuple(option.get("required", ())) for option in schema.get("anyOf", ()))
        # not tracked by the garbage collector: a payload holds no reference back to anything
        self.struct = msgspec.defstruct(
            f"Fast{model.__name__}", fields, forbid_unknown_fields=True, kw_only=True, gc=False
        )
        self.data_decoder = msgspec.json.Decoder(self.struct)  # binary mode: the value is the data

    def accepts(self, decoded: Any) -> bool:
        """Whether a decoded struct holds one of the "at least one of" groups (when there are any)."""
        if not self.one_of:
            return True
        for group in self.one_of:
            for name in group:
                if getattr(decoded, name) is None:
                    break
            else:
                return True
        return False

    def payload(self, decoded: Any) -> Payload:
        """The pydantic payload of an accepted struct, as ``model_validate`` builds it (every
        declared field set, defaults filled in, no unknown fields)."""
        values = _asdict(decoded)
        payload = _new(self.model)
        _set(payload, "__dict__", values)
        _set(payload, "__pydantic_fields_set__", set(self.fields))
        _set(payload, "__pydantic_extra__", {})
        _set(payload, "__pydantic_private__", None)
        return payload


_ID = Annotated[str, msgspec.Meta(min_length=1, max_length=contract.MAX_ID_LENGTH)]
_SOURCE = Annotated[str, msgspec.Meta(min_length=1, max_length=contract.MAX_SOURCE_LENGTH)]
_SUBJECT = Annotated[str, msgspec.Meta(max_length=contract.MAX_SUBJECT_LENGTH)]
_TIME_RE = re.compile(contract.TIME_PATTERN[:-1] + r"\Z")  # Python's "$" would allow a final newline
_asdict = msgspec.structs.asdict


def _envelope(plan: _PayloadPlan) -> type[msgspec.Struct]:
    return msgspec.defstruct(
        f"Fast{plan.model.__name__}Event",
        [
            ("specversion", Literal["1.0"]),
            ("id", _ID),
            ("source", _SOURCE),
            ("time", str),
            ("data", plan.struct),
            ("subject", _SUBJECT | None, None),
            ("datacontenttype", Literal["application/json"], contract.CONTENT_TYPE),
        ],
        tag_field="type",
        tag=plan.event_type,
        forbid_unknown_fields=True,
        gc=False,
    )


_PLANS = {name: _PayloadPlan(name, model) for name, model in contract.PAYLOADS.items()}
_ENVELOPES = {plan.event_type: _envelope(plan) for plan in _PLANS.values() if plan.supported}
_BY_STRUCT = {envelope: _PLANS[name] for name, envelope in _ENVELOPES.items()}
_FAST_PLANS = {name: _PLANS[name] for name in _ENVELOPES}
FAST_TYPES: tuple[str, ...] = tuple(_ENVELOPES)
"""Event types the fast path decodes; the others always take the reference decoder."""

_decoder = msgspec.json.Decoder(Union[tuple(_ENVELOPES.values())])  # noqa: UP007 - built at run time
_UTC = dt.UTC


def _time(text: str, limits: DecodeLimits) -> dt.datetime | None:
    """The event time when it is a plain RFC 3339 timestamp inside the limits, else None."""
    if _TIME_RE.match(text) is None:
        return None
    try:
        time = dt.datetime.fromisoformat(text).astimezone(_UTC)  # the store keeps UTC
        ahead = time - limits.now()
    except (ValueError, OverflowError):  # lower-case "t"/"z", out of range: the reference decides
        return None
    if ahead > limits.max_future or (limits.max_age is not None and -ahead > limits.max_age):
        return None
    return time


class PlainEvent(msgspec.Struct, gc=False):
    """A plain valid event as the fast path decoded it: the checked values, and the typed
    :class:`~alignwatch.stream.contract.Event` only on demand (:meth:`event`, equal to the
    reference decoder's).

    ``time`` is in UTC, ``time_text`` the time as the message wrote it; ``data`` is the
    payload's msgspec structure (every declared field, defaults filled in, no unknown field). No text of a plain event holds a backslash or a
    control character (a message with any takes the reference decoder), so its values go
    into the store's COPY text as they are. Not tracked by the garbage collector: it holds
    only text, a time and an untracked structure.
    """

    source: str
    id: str
    type: str
    time: dt.datetime
    subject: str | None
    data: Any
    time_text: str

    @property
    def key(self) -> tuple[str, str]:
        """The idempotency key (``source``, ``id``)."""
        return (self.source, self.id)

    def payload(self) -> dict[str, Any]:
        """The payload as JSON-ready values, as :func:`alignwatch.stream.rows.payload_dict` gives
        them for the typed event: the declared fields in order, defaults filled in."""
        return _asdict(self.data)

    def event(self) -> Event:
        """The typed event, as the reference decoder builds it."""
        return reference._construct_event(  # noqa: SLF001 - the same constructor as the reference decoder
            {
                "specversion": contract.SPECVERSION,
                "id": self.id,
                "source": self.source,
                "type": self.type,
                "time": self.time,
                "subject": self.subject,
                "datacontenttype": contract.CONTENT_TYPE,
                "data": _FAST_PLANS[self.type].payload(self.data),
                "extensions": {},
            }
        )


def _fast(raw: bytes, limits: DecodeLimits) -> PlainEvent | None:
    """The plain event when the fast path accepts ``raw`` outright, else None."""
    if b"\\" in raw or b"\x7f" in raw:  # escapes (maybe of control characters) or DEL: reference
        return None
    try:
        decoded = _decoder.decode(raw)
    except (ValueError, RecursionError):  # msgspec.DecodeError and UnicodeDecodeError are ValueErrors
        return None
    plan = _BY_STRUCT[type(decoded)]
    time = _time(decoded.time, limits)
    if time is None or (plan.one_of and not plan.accepts(decoded.data)):
        return None
    return PlainEvent(decoded.source, decoded.id, plan.event_type, time, decoded.subject, decoded.data, decoded.time)


def decode_structured(raw: bytes, limits: DecodeLimits) -> Event | Rejection:
    """:func:`alignwatch.stream.decode.decode_structured`, same results, faster on plain valid events."""
    if raw and len(raw) <= limits.max_payload_bytes:
        plain = _fast(raw, limits)
        if plain is not None:
            return plain.event()
    return reference.decode_structured(raw, limits)


_BINARY_NAMES = {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_subject", "content-type"}
_CONTROL_BYTES = re.compile(rb"[\x00-\x1f\x7f\\]")  # and the backslash, which COPY text would escape


def _fast_binary(value: bytes, headers: list[tuple[str, bytes]], limits: DecodeLimits) -> PlainEvent | None:
    """The plain event when the fast path accepts a binary-mode message outright, else None."""
    size = len(value)
    found: dict[str, bytes] = {}
    for key, raw_header in headers:
        if key not in _BINARY_NAMES or key in found or raw_header is None or _CONTROL_BYTES.search(raw_header):
            return None  # extensions, other spellings, repeats, control characters, backslashes: reference
        found[key] = raw_header
        size += len(key) + len(raw_header)
    if size > limits.max_payload_bytes or b"\\" in value or b"\x7f" in value:
        return None
    try:
        if found["ce_specversion"] != b"1.0" or found.get("content-type", b"application/json") != b"application/json":
            return None
        plan = _FAST_PLANS.get(found["ce_type"].decode("utf-8"))
        event_id = found["ce_id"].decode("utf-8")
        source = found["ce_source"].decode("utf-8")
        time_text = found["ce_time"].decode("utf-8")
        subject = found["ce_subject"].decode("utf-8") if "ce_subject" in found else None
    except (KeyError, UnicodeDecodeError):
        return None
    if (
        plan is None
        or not 0 < len(event_id) <= contract.MAX_ID_LENGTH
        or not 0 < len(source) <= contract.MAX_SOURCE_LENGTH
        or (subject is not None and len(subject) > contract.MAX_SUBJECT_LENGTH)
    ):
        return None
    time = _time(time_text, limits)
    if time is None:
        return None
    try:
        data = plan.data_decoder.decode(value)
    except (ValueError, RecursionError):
        return None
    if plan.one_of and not plan.accepts(data):
        return None
    return PlainEvent(source, event_id, plan.event_type, time, subject, data, time_text)


def _binary_mode(headers: list[tuple[str, bytes]]) -> bool:
    """:func:`alignwatch.stream.decode.is_binary_mode` without a generator (the hot path)."""
    for key, _ in headers:
        if key == "ce_specversion" or key.lower() == "ce_specversion":
            return True
    return False


def decode_plain(value: bytes, headers: list[tuple[str, bytes]] | None, limits: DecodeLimits) -> PlainEvent | None:
    """The plain event when the fast path takes a Kafka message outright, else None (the
    reference decoder decides). Header values may be None here (they send the message to the
    reference decoder)."""
    if headers and _binary_mode(headers):
        return _fast_binary(value, headers, limits) if value else None
    if value and len(value) <= limits.max_payload_bytes:
        return _fast(value, limits)
    return None


def decode_record(
    value: bytes, headers: Iterable[tuple[str, bytes]] | None, limits: DecodeLimits
) -> PlainEvent | Event | Rejection:
    """A Kafka message decoded as :func:`decode_message` decodes it, except that a plain valid
    event stays a :class:`PlainEvent` (whose ``event()`` is the event ``decode_message``
    returns). The consumer's hot path: most messages are plain and valid."""
    header_list = list(headers) if headers else None
    plain = decode_plain(value, header_list, limits)
    return plain if plain is not None else reference.decode_message(value, header_list, limits)


def decode_message(
    value: bytes, headers: Iterable[tuple[str, bytes]] | None, limits: DecodeLimits
) -> Event | Rejection:
    """:func:`alignwatch.stream.decode.decode_message`, same results, faster on plain valid events."""
    result = decode_record(value, headers, limits)
    return result.event() if isinstance(result, PlainEvent) else result
