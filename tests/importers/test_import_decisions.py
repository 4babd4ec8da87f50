"""A mapping's decisions: one automation.decision per case and entry, segments banded as declared."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from alignwatch.errors import ImportFormatError
from alignwatch.stream.decode import make_event
from alignwatch.stream.importers.mapping import MappingError, parse_mapping
from alignwatch.stream.importers.xes import read_xes

MAPPING: dict[str, Any] = {
    "log": "loans",
    "processes": {"application": {"prefixes": ["A_"]}},
    "automated": [{"automation_id": "intake", "resources": ["112"]}],
    "decisions": [{
        "automation_id": "intake",
        "outcomes": {"A_DECLINED": "declined", "A_PREACCEPTED": "preaccepted"},
        "segments": {"amount_band": {"attribute": "AMOUNT_REQ", "bands": [5000, 20000]}, "channel": {"attribute": "channel"}},
    }],
}


def _trace(case: str, amount: str, steps: list[tuple[str, str]], channel: str | None = None) -> str:
    events = "".join(
        f'<event><string key="concept:name" value="{activity}"/><string key="org:resource" value="{resource}"/>'
        f'<date key="time:timestamp" value="2012-01-0{n + 1}T10:00:00+01:00"/>'
        + (f'<string key="channel" value="{channel}"/>' if channel else "")
        + "</event>"
        for n, (activity, resource) in enumerate(steps)
    )
    return f'<trace><string key="concept:name" value="{case}"/><string key="AMOUNT_REQ" value="{amount}"/>{events}</trace>'


def _log(tmp_path: Path, *traces: str) -> Path:
    path = tmp_path / "loans.xes"
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0">{"".join(traces)}</log>', encoding="utf-8")
    return path


def test_the_first_outcome_of_the_deciding_automation_becomes_the_cases_decision(tmp_path: Path) -> None:
    log = _log(
        tmp_path,
        _trace("1", "2500", [("A_SUBMITTED", "112"), ("A_DECLINED", "112")], channel="web"),
        # a person's decline is not the automation's decision; its later pre-acceptance is
        _trace("2", "5000", [("A_DECLINED", "10910"), ("A_PREACCEPTED", "112"), ("A_DECLINED", "112")], channel="web"),
        _trace("3", "20000", [("A_PREACCEPTED", "112")]),  # no channel: left out of that dimension
        _trace("4", "9000", [("A_SUBMITTED", "112")]),  # the automation never decided
    )
    emitted, _ = read_xes(log, parse_mapping(MAPPING))
    decisions = {e.data["case_id"]: e for e in emitted if e.type == "automation.decision"}
    assert {case: (e.data["outcome"], e.data["segments"]) for case, e in decisions.items()} == {
        "1": ("declined", {"amount_band": "<5000", "channel": "web"}),
        "2": ("preaccepted", {"amount_band": "5000-20000", "channel": "web"}),
        "3": ("preaccepted", {"amount_band": ">=20000"}),
    }
    assert decisions["2"].id == "2/1/decision/0" and decisions["2"].subject == "A_PREACCEPTED"
    for e in decisions.values():  # each satisfies the event contract
        make_event(e.type, "import/loans", e.id, e.time, e.data, e.subject)


def test_an_amount_that_is_no_number_names_the_mapping_path(tmp_path: Path) -> None:
    log = _log(tmp_path, _trace("1", "lots", [("A_DECLINED", "112")], channel="web"))
    with pytest.raises(ImportFormatError, match=r"mapping decisions\[0\]\.segments\.amount_band.*'lots' is not a number"):
        read_xes(log, parse_mapping(MAPPING))


def test_an_outcome_activity_the_log_never_has_is_an_error(tmp_path: Path) -> None:
    mapping = {**MAPPING, "decisions": [{**MAPPING["decisions"][0], "outcomes": {"A_DENIED": "declined"}}]}
    log = _log(tmp_path, _trace("1", "100", [("A_DECLINED", "112")]))
    with pytest.raises(ImportFormatError, match=r"mapping names activity 'A_DENIED' \(touchpoints, finance, orders or decisions\)"):
        read_xes(log, parse_mapping(mapping))


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        ({"segments": {"Amount": {"attribute": "AMOUNT_REQ"}}}, "decisions.0.segments", "segment dimension 'Amount'"),
        ({"segments": {"amount_band": {"attribute": "AMOUNT_REQ", "bands": [20000, 5000]}}},
         "decisions.0.segments.amount_band.bands", "strictly ascending"),
        ({"outcomes": {}}, "decisions.0.outcomes", "at least 1"),
    ],
    ids=["dimension not a lower-case word", "bands not ascending", "no outcome"],
)
def test_a_decisions_entry_is_validated_at_its_path(change: dict[str, Any], path: str, words: str) -> None:
    mapping = {**MAPPING, "decisions": [{**MAPPING["decisions"][0], **change}]}
    with pytest.raises(MappingError) as caught:
        parse_mapping(mapping)
    assert any(p.path.replace("[", ".").replace("]", "") == path and words in p.message for p in caught.value.problems), (
        caught.value.problems
    )
