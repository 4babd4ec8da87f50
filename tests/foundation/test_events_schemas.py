"""The generated JSON Schemas are current and agree with the decoder on good and bad events."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from foundation_event_samples import BAD_STRUCTURED, VALID_DATA, Bad, envelope, with_data
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from alignwatch.stream.contract import EVENT_TYPES, DecodeLimits, Event, Rejection
from alignwatch.stream.decode import decode_structured
from alignwatch.stream.schemas import render_doc_section, render_schemas, stale_files, write_files

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_DIR = ROOT / "docs" / "schemas"
DOC = ROOT / "docs" / "events.md"


def _validator(event_type: str) -> Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def test_the_committed_schemas_and_event_reference_are_up_to_date() -> None:
    assert stale_files(SCHEMA_DIR, DOC) == []
    for name, text in render_schemas().items():
        assert (SCHEMA_DIR / name).read_text(encoding="utf-8") == text, name
    assert render_doc_section() in DOC.read_text(encoding="utf-8")


def test_the_index_lists_every_event_type_with_its_schema_file() -> None:
    index = json.loads((SCHEMA_DIR / "index.json").read_text(encoding="utf-8"))
    assert list(index["types"]) == list(EVENT_TYPES)
    for event_type, entry in index["types"].items():
        assert (SCHEMA_DIR / entry["schema"]).is_file(), event_type
    assert "invalid_payload" in index["reject_reasons"]


def test_every_event_type_and_field_is_documented_for_producers() -> None:
    text = DOC.read_text(encoding="utf-8")
    for event_type, data in VALID_DATA.items():
        assert f"### `{event_type}`" in text
        for name in data:
            assert f"| `{name}` |" in text, (event_type, name)


@pytest.mark.parametrize("event_type", sorted(VALID_DATA))
def test_valid_samples_satisfy_the_json_schema_of_their_type(event_type: str) -> None:
    errors = list(_validator(event_type).iter_errors(envelope(event_type, tenant="north", subject="s")))
    assert errors == []


def _typed_object(bad: Bad) -> dict[str, Any] | None:
    try:
        value = json.loads(bad.message)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


SCHEMA_CASES = [bad for bad in BAD_STRUCTURED if bad.schema_rejects]


def test_most_bad_samples_are_expressible_in_the_json_schemas() -> None:
    assert len(SCHEMA_CASES) >= 25
    assert all(_typed_object(bad) is not None for bad in SCHEMA_CASES)


@pytest.mark.parametrize("bad", SCHEMA_CASES, ids=lambda bad: bad.name)
def test_the_json_schema_rejects_what_the_decoder_rejects(bad: Bad, limits: DecodeLimits) -> None:
    value = _typed_object(bad)
    assert value is not None
    event_type = value.get("type") if value.get("type") in EVENT_TYPES else "automation.run"
    assert isinstance(decode_structured(bad.message, limits), Rejection)
    assert not _validator(event_type).is_valid(value)


@pytest.mark.parametrize(
    "event",
    [
        with_data("customer.feedback", csat=..., nps=0),
        with_data("customer.order", coupon="SPRING"),
        envelope("data.used", datacontenttype="Application/JSON; charset=utf-8"),
        envelope("finance.entry", time="2026-03-02T09:15:00.123456+01:00"),
        envelope("customer.touchpoint", subject=None, datacontenttype=None),
    ],
    ids=["nps only", "unknown payload field", "content type with parameters", "fractional seconds and offset",
         "optional attributes absent"],
)
def test_the_json_schema_accepts_what_the_decoder_accepts(event: dict[str, Any], limits: DecodeLimits) -> None:
    assert isinstance(decode_structured(json.dumps(event).encode(), limits), Event)
    assert _validator(event["type"]).is_valid(event)


def test_writing_the_schemas_into_an_empty_directory_makes_them_current(tmp_path: Path) -> None:
    doc = tmp_path / "events.md"
    doc.write_text("# Events\n\nProse written by hand.\n", encoding="utf-8")
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "old.type.json").write_text("{}", encoding="utf-8")
    assert len(stale_files(tmp_path / "schemas", doc)) == len(EVENT_TYPES) + 4
    written = write_files(tmp_path / "schemas", doc)
    assert len(written) == len(EVENT_TYPES) + 4
    assert stale_files(tmp_path / "schemas", doc) == []
    assert doc.read_text(encoding="utf-8").startswith("# Events\n\nProse written by hand.\n")
    assert write_files(tmp_path / "schemas", doc) == []


def _blocks(language: str) -> list[str]:
    text = DOC.read_text(encoding="utf-8")
    return [part.split("```", 1)[0] for part in text.split(f"```{language}\n")[1:]]


def test_the_json_examples_of_the_event_reference_decode(limits: DecodeLimits) -> None:
    examples = _blocks("json")
    assert examples
    for example in examples:
        result = decode_structured(example.encode(), limits)
        assert isinstance(result, Event), result


def test_the_python_example_of_the_event_reference_runs() -> None:
    (example,) = _blocks("python")
    namespace: dict[str, Any] = {}
    exec(compile(example, str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    assert isinstance(namespace["result"], Event)
    assert namespace["result"] == namespace["event"]


def _any_event_validator() -> Draft202012Validator:
    schemas = [json.loads(path.read_text(encoding="utf-8")) for path in sorted(SCHEMA_DIR.glob("*.json"))]
    registry: Registry = Registry().with_resources(
        (schema["$id"], Resource.from_contents(schema)) for schema in schemas if "$id" in schema
    )
    any_event = json.loads((SCHEMA_DIR / "event.json").read_text(encoding="utf-8"))
    return Draft202012Validator(any_event, registry=registry)


def test_the_any_event_schema_picks_the_schema_of_the_type(limits: DecodeLimits) -> None:
    validator = _any_event_validator()
    for event_type in EVENT_TYPES:
        assert validator.is_valid(envelope(event_type)), event_type
    assert not validator.is_valid(with_data("customer.feedback", csat=7))
    assert not validator.is_valid(envelope("data.used", type="automation.ran"))
    assert not validator.is_valid(envelope("data.used", type="workforce.survey"))
