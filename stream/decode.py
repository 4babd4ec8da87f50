"""Decode stage: Kafka message bytes (and headers) to a typed :class:`Event` or a typed :class:`Rejection`.

The reference decoder of the contract (:mod:`alignwatch.stream.contract`): it checks
everything, never raises, and names the field and the bad value in every rejection.
:mod:`alignwatch.stream.fastdecode` is its fast path for plain valid events, with the same
results. :func:`make_event` applies the same checks to an event built in code.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from alignwatch.stream.contract import (
    ATTRIBUTE_LIMITS,
    BINARY_HEADERS,
    CONTENT_TYPE,
    CONTENT_TYPE_PATTERN,
    ENVELOPE_ATTRIBUTES,
    EXTENSION_NAME_PATTERN,
    MAX_EXTRA_DEPTH,
    MAX_ID_LENGTH,
    MAX_SOURCE_LENGTH,
    MAX_SUBJECT_LENGTH,
    PAYLOADS,
    REQUIRED_ATTRIBUTES,
    SPECVERSION,
    TIME_PATTERN,
    DecodeLimits,
    Event,
    InvalidEventError,
    Payload,
    Rejection,
    RejectReason,
)

__all__ = ["decode_binary", "decode_message", "decode_structured", "is_binary_mode", "make_event"]

_TIME_RE = re.compile(TIME_PATTERN)
_NO_OFFSET_RE = re.compile(r"^\d{4}-\d{2}-\d{2}([Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_CONTENT_TYPE_RE = re.compile(CONTENT_TYPE_PATTERN)
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")  # the characters NO_CONTROL_PATTERN refuses
_EXTENSION_NAME_RE = re.compile(EXTENSION_NAME_PATTERN)
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


# --------------------------------------------------------------------------- events built in code

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


