"""Encode stage: an :class:`Event` to Kafka message bytes, in structured or binary mode
(the inverse of :mod:`alignwatch.stream.decode`; used by the simulator, the importers and
the dead-letter path)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from alignwatch.stream.contract import Event

__all__ = ["encode_binary", "encode_structured", "event_to_dict"]


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
