"""Sample events of the contract tests: one valid payload per type, and bad messages.

Each bad message names the reason the decoder must give and whether the JSON Schema of
its type can express the problem (time and size limits relative to the consumer cannot).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)

VALID_DATA: dict[str, dict[str, Any]] = {
    "automation.run": {"automation_id": "invoice_bot", "process_id": "invoicing", "case_id": "INV-1",
                       "status": "succeeded", "duration_s": 41.5, "manual_intervention": True, "cost": 0.12},
    "process.execution": {"process_id": "baking", "case_id": "batch-7", "automated": True, "cycle_time_s": 5400,
                          "errors": 1, "rework": 0, "units_out": 120, "automated_share": 0.75},
    "customer.touchpoint": {"touchpoint_id": "order_chat", "customer_id": "c-9", "channel": "chat",
                            "handled_by": "automation", "resolved": False, "escalation_requested": True,
                            "escalation_fulfilled_s": None},
    "customer.feedback": {"customer_id": "c-9", "touchpoint_id": "order_chat", "csat": 4},
    "customer.order": {"customer_id": "c-9", "order_id": "o-55", "amount": 23.4, "repeat": True, "units": 6,
                       "product_ids": ["rye-loaf", "SKU-0042"]},
    "finance.entry": {"automation_id": "invoice_bot", "kind": "saving", "amount": 150},
    "feature.usage": {"automation_id": "crm", "feature": "segments", "user_id": "u-3"},
    "integration.issue": {"automation_id": "crm", "kind": "manual_reentry", "records": 4},
    "data.produced": {"dataset_id": "daily_sales", "automation_id": "pos_sync"},
    "data.used": {"dataset_id": "daily_sales", "used_for": "decision", "strategic": True},
    "workforce.task": {"employee_id": "e-2", "automation_id": "invoice_bot", "augmented": True, "minutes_saved": 12.5},
    "workforce.skill": {"employee_id": "e-2", "skill": "bot maintenance", "kind": "training"},
    "workforce.survey": {"employee_id": "e-2", "satisfaction": 5},
    "strategy.initiative": {"initiative_id": "less_waste", "goal_ids": ["g_waste", "g_margin"],
                            "started_at": "2026-01-05T09:00:00+01:00"},
    "automation.reconfigured": {"automation_id": "forecast", "initiative_id": "less_waste",
                                "deployed_at": "2026-01-20T06:30:00Z"},
    "kpi.observed": {"kpi_id": "market_share", "value": -0.004, "unit": "ratio", "period": "2026-Q1",
                     "measured_by": "regional retail panel", "method": "panel survey"},
    "automation.decision": {"automation_id": "refund_bot", "process_id": "refunds", "case_id": "RF-17",
                            "outcome": "declined", "segments": {"region": "north", "amount_band": "50-200"},
                            "reviewed": True, "overridden": True, "appealed": False},
}


def envelope(event_type: str = "automation.run", data: Any = None, **attributes: Any) -> dict[str, Any]:
    """A structured-mode event dict; ``attributes`` override (``None`` removes) envelope keys."""
    value: dict[str, Any] = {
        "specversion": "1.0",
        "id": f"{event_type}-1",
        "source": "tests/foundation",
        "type": event_type,
        "time": "2026-03-02T08:15:00Z",
        "datacontenttype": "application/json",
        "data": copy.deepcopy(VALID_DATA[event_type]) if data is None else data,
    }
    for name, attribute in attributes.items():
        if attribute is None:
            value.pop(name, None)
        else:
            value[name] = attribute
    return value


def with_data(event_type: str, **fields: Any) -> dict[str, Any]:
    """A valid event of ``event_type`` with payload ``fields`` changed (``...`` removes one)."""
    data = copy.deepcopy(VALID_DATA[event_type])
    for name, field_value in fields.items():
        if field_value is ...:
            data.pop(name, None)
        else:
            data[name] = field_value
    return envelope(event_type, data)


def raw(value: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":")).encode()


@dataclass(frozen=True)
class Bad:
    """A bad structured-mode message, the reason it must get, and what its message names."""

    name: str
    message: bytes
    reason: str
    mentions: str
    schema_rejects: bool = True  # the type's JSON Schema can express the problem


BAD_STRUCTURED: list[Bad] = [
    Bad("empty message", b"", "empty_message", "empty", schema_rejects=False),
    Bad("not JSON", b'{"specversion": "1.0", ', "not_json", "not JSON", schema_rejects=False),
    Bad("a JSON array", b"[1, 2, 3]", "not_object", "array", schema_rejects=False),
    Bad("JSON null", b"null", "not_object", "null", schema_rejects=False),
    Bad("NaN literal", b'{"specversion":"1.0","data":{"duration_s":NaN}}', "not_json", "NaN", schema_rejects=False),
    Bad("number too large for a float", b'{"specversion":"1.0","data":{"extra":1e400}}', "not_json", "1e400",
        schema_rejects=False),
    Bad("nested too deeply", b"[" * 100_000 + b"]" * 100_000, "not_json", "deeply", schema_rejects=False),
    Bad("invalid UTF-8", b'{"id":"\xff\xfe"}', "not_utf8", "UTF-8", schema_rejects=False),
    Bad("unpaired surrogate escape", raw(with_data("automation.run", case_id="INV-\ud800")), "not_utf8", "surrogate",
        schema_rejects=False),
    Bad("missing id", raw(envelope(id=None)), "missing_attribute", "id"),
    Bad("missing source", raw(envelope(source=None)), "missing_attribute", "source"),
    Bad("missing type", raw(envelope(type=None)), "missing_attribute", "type", schema_rejects=False),
    Bad("missing specversion", raw(envelope(specversion=None)), "missing_attribute", "specversion"),
    Bad("missing time", raw(envelope(time=None)), "missing_attribute", "time"),
    Bad("wrong specversion", raw(envelope(specversion="0.3")), "bad_specversion", "0.3"),
    Bad("unknown type", raw(envelope(type="automation.ran")), "unknown_type", "automation.ran", schema_rejects=False),
    Bad("id is a number", raw(envelope(id=42)), "invalid_attribute", "id"),
    Bad("empty source", raw(envelope(source="")), "invalid_attribute", "source"),
    Bad("id longer than the store column", raw(envelope(id="x" * 257)), "invalid_attribute", "id"),
    Bad("source with a NUL character", raw(envelope(source="shop\u0000x")), "invalid_attribute", "control character"),
    Bad("subject with a newline", raw(envelope(subject="batch\n7")), "invalid_attribute", "control character"),
    Bad("payload identifier with a NUL character", raw(with_data("automation.run", case_id="INV\u00001")),
        "invalid_payload", "data.case_id"),
    Bad("unknown payload field nested too deeply", raw(with_data("automation.run", trace=json.loads("[" * 40 + "]" * 40))),
        "invalid_payload", "data.trace: nested deeper than 32 levels", schema_rejects=False),
    Bad("extension attribute with an object value", raw(envelope(tenant={"a": 1})), "invalid_attribute", "tenant"),
    Bad("content type is XML", raw(envelope(datacontenttype="application/xml")), "bad_content_type", "application/xml"),
    Bad("base64 data", raw(envelope(data_base64="AAAA")), "bad_content_type", "data_base64"),
    Bad("timestamp without timezone", raw(envelope(time="2026-03-02T08:15:00")), "bad_time", "timezone"),
    Bad("date-only timestamp", raw(envelope(time="2026-03-02")), "bad_time", "2026-03-02"),
    Bad("unparsable timestamp", raw(envelope(time="yesterday at noon")), "bad_time", "yesterday"),
    Bad("timestamp is a number", raw(envelope(time=1772438100)), "bad_time", "1772438100"),
    Bad("timestamp far in the future", raw(envelope(time="2026-03-05T12:00:00Z")), "time_in_future", "2026-03-05",
        schema_rejects=False),
    Bad("data missing", raw({k: v for k, v in envelope().items() if k != "data"}), "invalid_payload", "data"),
    Bad("data is null", raw(envelope() | {"data": None}), "invalid_payload", "data"),
    Bad("data is an array", raw(envelope(data=[1, 2])), "invalid_payload", "data"),
    Bad("payload field of wrong type", raw(with_data("automation.run", duration_s="41.5")), "invalid_payload",
        "data.duration_s"),
    Bad("string instead of boolean", raw(with_data("automation.run", manual_intervention="true")), "invalid_payload",
        "data.manual_intervention"),
    Bad("negative duration", raw(with_data("automation.run", duration_s=-3)), "invalid_payload", "data.duration_s: -3"),
    Bad("unknown run status", raw(with_data("automation.run", status="ok")), "invalid_payload", "data.status"),
    Bad("required payload field missing", raw(with_data("automation.run", case_id=...)), "invalid_payload",
        "data.case_id"),
    Bad("CSAT out of range", raw(with_data("customer.feedback", csat=7)), "invalid_payload", "data.csat: 7"),
    Bad("NPS out of range", raw(with_data("customer.feedback", csat=..., nps=11)), "invalid_payload", "data.nps: 11"),
    Bad("feedback without csat or nps", raw(with_data("customer.feedback", csat=...)), "invalid_payload", "csat or nps"),
    Bad("fractional error count", raw(with_data("process.execution", errors=1.5)), "invalid_payload", "data.errors"),
    Bad("automated share above one", raw(with_data("process.execution", automated_share=1.2)), "invalid_payload",
        "data.automated_share"),
    Bad("order amount negative", raw(with_data("customer.order", amount=-1)), "invalid_payload", "data.amount"),
    Bad("integration issue with no records", raw(with_data("integration.issue", records=0)), "invalid_payload",
        "data.records"),
    Bad("initiative start without timezone", raw(with_data("strategy.initiative", started_at="2026-01-05T09:00:00")),
        "invalid_payload", "data.started_at"),
    Bad("survey satisfaction is a boolean", raw(with_data("workforce.survey", satisfaction=True)), "invalid_payload",
        "data.satisfaction"),
    Bad("handled by a robot", raw(with_data("customer.touchpoint", handled_by="robot")), "invalid_payload",
        "data.handled_by"),
    # the store's domain: what PostgreSQL and the engine's sums cannot hold is refused here
    Bad("payload text with a NUL character", raw(with_data("customer.touchpoint", channel="chat\u0000")),
        "invalid_payload", "data.channel: contains a control character, NUL"),
    Bad("unknown payload field with a NUL character", raw(with_data("automation.run", note=["ok", "a\u0000"])),
        "invalid_payload", "data.note[1]", schema_rejects=False),
    Bad("payload field name with a NUL character", raw(with_data("automation.run", **{"no\u0000te": 1})),
        "invalid_payload", "field name", schema_rejects=False),
    Bad("extension attribute with a NUL character", raw(envelope(tenant="a\u0000b")), "invalid_attribute",
        "tenant: contains a control character, NUL"),
    Bad("count beyond a double", raw(with_data("process.execution", rework=10**400)), "invalid_payload",
        "data.rework"),
    Bad("amount above the bound of the sums", raw(with_data("customer.order", amount=1e300)), "invalid_payload",
        "data.amount"),
    Bad("product ids not a list", raw(with_data("customer.order", product_ids="rye-loaf")), "invalid_payload",
        "data.product_ids"),
    Bad("empty product id", raw(with_data("customer.order", product_ids=["rye-loaf", ""])), "invalid_payload",
        "data.product_ids.1"),
    Bad("observed KPI value is text", raw(with_data("kpi.observed", value="0.12")), "invalid_payload", "data.value"),
    Bad("observed KPI value below the bound of the sums", raw(with_data("kpi.observed", value=-1e16)),
        "invalid_payload", "data.value"),
    Bad("observed KPI without its KPI", raw(with_data("kpi.observed", kpi_id=...)), "invalid_payload", "data.kpi_id"),
    Bad("decision without its outcome", raw(with_data("automation.decision", outcome=...)), "invalid_payload",
        "data.outcome"),
    Bad("segment dimension not a lower-case name", raw(with_data("automation.decision", segments={"Region": "north"})),
        "invalid_payload", "data.segments.Region"),
    Bad("empty segment value", raw(with_data("automation.decision", segments={"region": ""})), "invalid_payload",
        "data.segments.region"),
    Bad("segments not an object", raw(with_data("automation.decision", segments=["north"])), "invalid_payload",
        "data.segments"),
    Bad("more segment dimensions than the bound", raw(with_data("automation.decision",
        segments={f"d{n}": "x" for n in range(17)})), "invalid_payload", "data.segments"),
    Bad("override given as text", raw(with_data("automation.decision", overridden="yes")), "invalid_payload",
        "data.overridden"),
]
