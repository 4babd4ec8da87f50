"""Clear errors for broken logs and mappings: each names where it broke, and a failed import
to a file leaves no file behind."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pytest

from alignwatch.cli import main
from alignwatch.errors import ImportFormatError
from alignwatch.stream.importers.mapping import MappingError, load_mapping, parse_mapping
from alignwatch.stream.importers.xes import read_xes

COMPANY = "company_business_process_log.xes.gz"


def _company_text(eventlogs: Path) -> list[str]:
    return gzip.decompress((eventlogs / COMPANY).read_bytes()).decode("utf-8").splitlines(keepends=True)


def _mapping_text(mappings: Path) -> str:
    return (mappings / "company_bot.yaml").read_text(encoding="utf-8")


def test_a_garbled_element_is_named_by_its_line(eventlogs: Path, mappings: Path, tmp_path: Path) -> None:
    lines = _company_text(eventlogs)
    number = next(i for i, line in enumerate(lines, start=1) if i > 60 and line.strip() == "</event>")
    lines[number - 1] = lines[number - 1].replace("</event>", "</evnt>")
    garbled = tmp_path / "garbled.xes"
    garbled.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=rf"garbled\.xes: malformed XES at line {number}, column \d+: .*evnt"):
        read_xes(garbled, load_mapping(mappings / "company_bot.yaml"))


def test_a_timestamp_without_time_zone_is_an_error_unless_the_mapping_assumes_one(
    eventlogs: Path, mappings: Path, tmp_path: Path
) -> None:
    naive = tmp_path / "naive.xes"
    naive.write_text("".join(_company_text(eventlogs)).replace('+0200"', '"'), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"naive\.xes: line \d+: <event> 0 of case .* has no time zone"):
        read_xes(naive, load_mapping(mappings / "company_bot.yaml"))
    assumed = tmp_path / "assumed.yaml"
    assumed.write_text(_mapping_text(mappings) + "assume_timezone: Europe/Vienna\n", encoding="utf-8")
    emitted, stats = read_xes(naive, load_mapping(assumed))
    assert stats.events == 132
    assert stats.first_time is not None and stats.first_time.utcoffset() is not None
    assert stats.first_time.isoformat() == "2022-05-12T11:40:42.173030+02:00"


def test_an_unknown_mapping_attribute_names_the_mapping_path_and_the_attributes_seen(
    eventlogs: Path, mappings: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(_mapping_text(mappings).replace("attribute: bot", "attribute: is_bot"), encoding="utf-8")
    with pytest.raises(ImportFormatError) as info:
        read_xes(eventlogs / COMPANY, load_mapping(wrong))
    message = str(info.value)
    assert "mapping automated[0].attribute names attribute 'is_bot'" in message
    assert "event attributes seen: DN, RPA_Exec_Nr, bot, caseId" in message


def test_a_missing_case_attribute_names_the_trace_line_and_its_attributes(
    eventlogs: Path, mappings: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(_mapping_text(mappings).replace("case: concept:name", "case: caseid"), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"line 8: <trace> has no attribute 'caseid' \(mapping attributes\.case\); "
                       r"trace attributes seen: concept:name"):
        read_xes(eventlogs / COMPANY, load_mapping(wrong))


def test_an_activity_outside_every_process_is_named(eventlogs: Path, mappings: Path, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(_mapping_text(mappings).replace("      - Loan decision\n", ""), encoding="utf-8")
    with pytest.raises(ImportFormatError, match="activity 'Loan decision' belongs to no process of the mapping"):
        read_xes(eventlogs / COMPANY, load_mapping(wrong))


def test_an_invalid_mapping_lists_every_problem_with_its_path() -> None:
    with pytest.raises(MappingError) as info:
        parse_mapping({"log": "x", "processes": {"p": {}}, "automated": [{"automation_id": "a"}], "bogus": 1})
    paths = [problem.path for problem in info.value.problems]
    assert paths == ["processes.p", "automated[0]", "bogus"]


def test_a_file_that_is_not_xes_is_rejected(tmp_path: Path, mappings: Path) -> None:
    other = tmp_path / "page.xml"
    other.write_text("<html><body><trace/></body></html>", encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"page\.xml: line 1: <trace> has no attribute|not an XES log"):
        read_xes(other, load_mapping(mappings / "company_bot.yaml"))


def test_a_failed_import_to_a_file_leaves_no_file_and_prints_one_line(
    eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (eventlogs / "helpdesk.xes.gz").read_bytes()
    broken = tmp_path / "helpdesk.xes.gz"
    broken.write_bytes(data[: len(data) // 3])
    output = tmp_path / "out" / "helpdesk.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "xes", str(broken), "--mapping", str(mappings / "helpdesk.yaml"), "--output", str(output), "--quiet"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 1
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1 and "breaks off" in err
    assert not output.exists() and list(output.parent.iterdir()) == []


def test_an_import_to_a_file_writes_events_that_ingest_reads_back(
    eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    output = tmp_path / "company.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "xes", str(eventlogs / COMPANY), "--mapping", str(mappings / "company_bot.yaml"),
              "--output", str(output), "--quiet"])
    assert exit_info.value.code == 0
    from alignwatch.stream.contract import DecodeLimits, Event
    from alignwatch.stream.decode import decode_structured

    limits = DecodeLimits(
        max_payload_bytes=1 << 20, max_future=dt.timedelta(days=1), max_age=None, now=lambda: dt.datetime.now(dt.UTC)
    )
    decoded = [decode_structured(line, limits) for line in output.read_bytes().splitlines()]
    assert len(decoded) == 80 and all(isinstance(event, Event) for event in decoded)


def test_a_mapping_that_does_not_fit_the_strategy_is_refused_before_reading(
    eventlogs: Path, mappings: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    strategy = mappings.parent / "helpdesk.yaml"
    output = tmp_path / "out.jsonl"
    with pytest.raises(SystemExit) as exit_info:
        main(["import", "xes", str(eventlogs / COMPANY), "--mapping", str(mappings / "company_bot.yaml"),
              "--strategy", str(strategy), "--output", str(output), "--quiet"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert "processes credit_process not declared" in err and "automations document_check_bot not declared" in err
    assert not output.exists()


@pytest.mark.parametrize(
    ("mapping", "strategy"),
    [("bpic2012", "bpic2012"), ("helpdesk", "helpdesk"), ("company_bot", "company_bot")],
)
def test_every_example_mapping_fits_its_example_strategy(mapping: str, strategy: str, mappings: Path) -> None:
    from alignwatch.cli.importers import strategy_misfits

    loaded = load_mapping(mappings / f"{mapping}.yaml")
    assert strategy_misfits(
        mappings.parent / f"{strategy}.yaml",
        processes=set(loaded.processes),
        automations={rule.automation_id for rule in loaded.automated},
        touchpoints={tp.touchpoint_id for tp in loaded.touchpoints.values()},
    ) == []


def test_cost_finance_and_order_attributes_become_run_costs_entries_and_orders_and_bad_numbers_are_named(
    eventlogs: Path, mappings: Path, tmp_path: Path
) -> None:
    text = "".join(_company_text(eventlogs))
    costed = text.replace('<boolean key="bot" value="true" />', '<boolean key="bot" value="true" /><float key="cost" value="0.25" />')
    log = tmp_path / "costed.xes"
    log.write_text(costed, encoding="utf-8")
    mapping = tmp_path / "costed.yaml"
    mapping.write_text(
        _mapping_text(mappings).replace("  lifecycle: lifecycle:transition\n", "  lifecycle: lifecycle:transition\n  cost: cost\n")
        + "finance:\n  - {activity: Loan decision, kind: revenue, amount: DN}\n"
        + "orders:\n  - {activity: Loan decision, amount: DN}\n",
        encoding="utf-8",
    )
    emitted, _ = read_xes(log, load_mapping(mapping))
    runs = [e for e in emitted if e.type == "automation.run"]
    assert len(runs) == 20 and {run.data["cost"] for run in runs} == {0.25}
    entries = [e for e in emitted if e.type == "finance.entry"]
    assert len(entries) == 20 and all(e.data["kind"] == "revenue" and e.data["amount"] > 0 for e in entries)
    orders = [e for e in emitted if e.type == "customer.order"]
    assert [o.data["amount"] for o in orders] == [e.data["amount"] for e in entries]
    log.write_text(costed.replace('value="0.25"', 'value="a quarter"', 1), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"attribute 'cost' \(mapping attributes\.cost\): 'a quarter' is not a number"):
        read_xes(log, load_mapping(mapping))


def test_an_external_entity_in_a_log_is_refused_not_resolved(tmp_path: Path) -> None:
    log = tmp_path / "entity.xes"
    log.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE log [<!ENTITY secret SYSTEM "file:///etc/hostname">]>\n'
        '<log><trace><string key="concept:name" value="c1"/><event><string key="concept:name" value="&secret;"/>'
        '<date key="time:timestamp" value="2020-01-01T00:00:00+00:00"/></event></trace></log>\n',
        encoding="utf-8",
    )
    mapping = parse_mapping({"log": "x", "attributes": {"resource": None}, "processes": {"p": {"prefixes": [""]}}})
    with pytest.raises(ImportFormatError, match=r"entity\.xes: malformed XES at line 3, .*external entity 'secret'"):
        read_xes(log, mapping)


def test_the_progress_bar_follows_the_bytes_read_on_a_terminal_and_stays_silent_otherwise(
    eventlogs: Path, mappings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from alignwatch.cli.importers import _progress
    from alignwatch.stream.importers.xes import XesImport

    log = eventlogs / COMPANY
    with _progress(log.stat().st_size, False, "importing") as on_read:
        assert on_read is None  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    read: list[int] = []
    with _progress(log.stat().st_size, False, "importing") as on_read:
        assert on_read is not None

        def count(n: int) -> None:
            read.append(n)
            on_read(n)

        assert sum(1 for _ in XesImport(log, load_mapping(mappings / "company_bot.yaml"), on_read=count)) == 80
    assert sum(read) == log.stat().st_size
    with _progress(log.stat().st_size, True, "importing") as on_read:
        assert on_read is None  # --quiet
