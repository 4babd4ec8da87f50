"""An event as a row of the ``events`` table: envelope columns, identifier columns copied
from the payload, the whole payload (unknown fields included) in ``data``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from alignwatch.stream.contract import Event, Payload

__all__ = ["ROW_COLUMNS", "event_row", "event_values", "payload_dict"]

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
