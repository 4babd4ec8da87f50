"""The UiPath robot-log importer on the company's real robot log, cross-checked with the
business-process log of the same bot (both from pandyke/bot-log-mining)."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from alignwatch.errors import ImportFormatError
from alignwatch.stream.decode import make_event
from alignwatch.stream.importers.mapping import load_robot_mapping
from alignwatch.stream.importers.uipath import read_robot_log


def _rpa_steps(path: Path) -> dict[str, str]:
    """Business case number (DN) -> success flag of each bot step in the process log, read plainly."""
    steps: dict[str, str] = {}
    with gzip.open(path, "rb") as handle:
        for _, element in ET.iterparse(handle, events=("end",)):
            if element.tag == "event":
                attrs = {child.get("key"): child.get("value") for child in element}
                if attrs["bot"] == "true":
                    steps[attrs["DN"]] = attrs["success"]
    return steps


def test_robot_log_becomes_one_automation_run_per_job_and_business_case(eventlogs: Path, mappings: Path) -> None:
    path = eventlogs / "company_bot_log_uipath.txt.gz"
    emitted, stats = read_robot_log(path, load_robot_mapping(mappings / "company_bot_uipath.yaml"))
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line[line.index("{") :]) for line in handle if line.strip()]
    assert stats.events == len(records) == 7_201
    assert len({r["jobId"] for r in records}) == 5 and len({r["robotName"] for r in records}) == 2
    assert {(e.id.split("/")[0], e.data["case_id"]) for e in emitted} == {
        (r["jobId"], str(r["Ordnungsbegriff"])) for r in records
    }
    assert all(e.type == "automation.run" and e.data["duration_s"] >= 0 for e in emitted)
    for event in emitted:
        assert make_event(event.type, stats.source, event.id, event.time, event.data, event.subject).id == event.id


def test_robot_runs_fail_exactly_where_the_process_log_says_the_bot_step_failed(eventlogs: Path, mappings: Path) -> None:
    emitted, stats = read_robot_log(
        eventlogs / "company_bot_log_uipath.txt.gz", load_robot_mapping(mappings / "company_bot_uipath.yaml")
    )
    bot_steps = _rpa_steps(eventlogs / "company_business_process_log.xes.gz")
    robot_status = {e.data["case_id"]: e.data["status"] for e in emitted}
    assert set(robot_status) == set(bot_steps)
    assert {case for case, status in robot_status.items() if status == "failed"} == {
        case for case, success in bot_steps.items() if success == "false"
    }
    assert stats.failed_steps == 2


def test_robot_run_duration_spans_its_first_to_last_log_line(eventlogs: Path, mappings: Path) -> None:
    path = eventlogs / "company_bot_log_uipath.txt.gz"
    emitted, _ = read_robot_log(path, load_robot_mapping(mappings / "company_bot_uipath.yaml"))
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        records = [json.loads(line[line.index("{") :]) for line in handle if line.strip()]
    run = emitted[0]
    times = [
        dt.datetime.fromisoformat(r["timeStamp"])
        for r in records
        if r["jobId"] == run.id.split("/")[0] and str(r["Ordnungsbegriff"]) == run.data["case_id"]
    ]
    assert run.data["duration_s"] == pytest.approx((max(times) - min(times)).total_seconds())
    assert run.time == max(times)


def test_a_broken_robot_log_line_is_named_by_its_number(tmp_path: Path, eventlogs: Path, mappings: Path) -> None:
    with gzip.open(eventlogs / "company_bot_log_uipath.txt.gz", "rt", encoding="utf-8") as handle:
        lines = [next(handle) for _ in range(10)]
    lines[6] = lines[6][: len(lines[6]) // 2] + "\n"
    broken = tmp_path / "robot.log"
    broken.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ImportFormatError, match=r"robot\.log: line 7: broken JSON"):
        read_robot_log(broken, load_robot_mapping(mappings / "company_bot_uipath.yaml"))
