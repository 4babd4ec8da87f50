"""An event as a row of the ``events`` table: envelope columns, identifier columns copied
from the payload, the whole payload (unknown fields included) in ``data``. The event is a
typed :class:`~alignwatch.stream.contract.Event` or a
:class:`~alignwatch.stream.fastdecode.PlainEvent` (the same row either way)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from operator import attrgetter
from typing import Any

from alignwatch.stream.contract import Event, Payload
from alignwatch.stream.fastdecode import PlainEvent

__all__ = ["ROW_COLUMNS", "ROW_ID_FIELDS", "event_row", "event_values", "payload_dict", "plain_identifiers"]

_ROW_CASE_FIELDS = ("case_id", "order_id", "dataset_id", "initiative_id")
_ROW_ACTOR_FIELDS = ("customer_id", "employee_id", "user_id")
ROW_ID_FIELDS: tuple[tuple[str, ...], ...] = (
    ("automation_id",), ("process_id",), ("touchpoint_id",), _ROW_CASE_FIELDS, _ROW_ACTOR_FIELDS,
)  # fmt: skip
"""The payload fields behind the identifier columns ``automation_id``, ``process_id``,
``touchpoint_id``, ``case_id`` and ``actor_id``: each column holds the first of its fields that is set."""


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


def event_values(event: Event | PlainEvent, ingested_at: dt.datetime) -> tuple[Any, ...]:
    """The ``events`` table values of ``event``, in ``ROW_COLUMNS`` order: envelope columns,
    identifier columns copied from the payload, the whole payload (unknown fields included)
    in ``data``."""
    data = event.payload() if isinstance(event, PlainEvent) else payload_dict(event.data)
    get = data.get
    return (
        event.source, event.id, event.type, event.time, event.subject,
        get("automation_id"), get("process_id"), get("touchpoint_id"),
        _first(data, _ROW_CASE_FIELDS), _first(data, _ROW_ACTOR_FIELDS), data, ingested_at,
    )  # fmt: skip


def event_row(event: Event | PlainEvent, ingested_at: dt.datetime) -> dict[str, Any]:
    """The ``events`` table row of ``event``: :func:`event_values` by column name."""
    return dict(zip(ROW_COLUMNS, event_values(event, ingested_at), strict=True))


def _none(data: Any) -> None:
    return None


def _first_of(names: tuple[str, ...]) -> Callable[[Any], Any]:
    """A getter of the first of ``names`` set on a payload structure (None when none is)."""
    if not names:
        return _none
    if len(names) == 1:
        return attrgetter(names[0])
    getters = tuple(attrgetter(name) for name in names)

    def first(data: Any) -> Any:
        for get in getters:
            value = get(data)
            if value is not None:
                return value
        return None

    return first


def _identifiers_getter(struct: type) -> Callable[[Any], tuple[str | None, ...]]:
    fields = set(struct.__struct_fields__)  # type: ignore[attr-defined]
    automation, process, touchpoint, case, actor = (
        _first_of(tuple(name for name in names if name in fields)) for names in ROW_ID_FIELDS
    )
    return lambda data: (automation(data), process(data), touchpoint(data), case(data), actor(data))


_IDENTIFIERS: dict[type, Callable[[Any], tuple[str | None, ...]]] = {}


def plain_identifiers(event: PlainEvent) -> tuple[str | None, ...]:
    """The identifier columns of a plain event (``ROW_ID_FIELDS`` order), read from its payload
    structure with one getter per column, made once per payload type."""
    data = event.data
    get = _IDENTIFIERS.get(type(data))
    if get is None:
        get = _IDENTIFIERS[type(data)] = _identifiers_getter(type(data))
    return get(data)
