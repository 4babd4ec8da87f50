"""Import a UiPath robot log as ``automation.run`` events, one per job and business case.

UiPath robots write one JSON object per log line (``message``, ``level``, ``timeStamp``,
``jobId``, ``robotName``, ``processName`` ...), often behind a ``HH:MM:SS.ffff Level``
prefix. A job often works through several business cases in turn (the mapping's
``case_field``, e.g. the case number the robot logs on every line); each (job, case) is
one run of the automation. With ``case_field: jobId`` a run is a whole job. Jobs of
several robots may interleave; only a few numbers per run are kept, never the lines.

Each run becomes one ``automation.run``:

- time = its last line, ``duration_s`` = last line − first line;
- ``status`` = ``failed`` when one of its lines has a failing level (Error, Fatal), or it
  is the job's last run and the job never logged its normal end (the mapping's
  ``end_marker``), else ``succeeded``;
- id = ``<jobId>/<case>``, subject = the robot.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from alignwatch.errors import ImportFormatError
from alignwatch.stream.importers.base import Emitted, ImportStats, event_id, open_log, parse_timestamp
from alignwatch.stream.importers.mapping import RobotLogMapping

__all__ = ["RobotLogImport", "read_robot_log"]

_REQUIRED = ("jobId", "timeStamp", "processName", "level")


@dataclass
class _Run:
    job_id: str
    process_name: str
    robot: str | None
    case: str
    first: dt.datetime
    last: dt.datetime
    lines: int = 0
    failures: int = 0
    levels: dict[str, int] = field(default_factory=dict)


@dataclass
class _Job:
    last_run: tuple[str, str]
    last: dt.datetime
    ended: bool = False


class RobotLogImport:
    """One pass over a UiPath robot log; iterate it for the events, then read ``stats``.

    ``stats.events`` counts log lines, ``stats.cases`` runs (job × case), ``stats.failed_steps``
    failed runs; ``jobs`` holds the jobs seen.
    """

    def __init__(
        self, path: Path | str, mapping: RobotLogMapping, *, on_read: Callable[[int], None] | None = None
    ) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.on_read = on_read
        self.stats = ImportStats(log=mapping.log, source=mapping.event_source)
        self._zone = ZoneInfo(mapping.assume_timezone) if mapping.assume_timezone else None
        self._end = re.compile(mapping.end_marker) if mapping.end_marker else None
        self.jobs: dict[str, _Job] = {}
        self.runs: dict[tuple[str, str], _Run] = {}

    def __iter__(self) -> Iterator[Emitted]:
        handle = open_log(self.path, self.on_read)
        try:
            for number, raw in enumerate(_lines(handle, self.path), start=1):
                if raw.strip():
                    self._line(number, raw)
        finally:
            handle.close()
        if not self.jobs:
            raise ImportFormatError(f"{self.path}: no robot log lines (JSON with jobId) found")
        for key, run in self.runs.items():
            job = self.jobs[run.job_id]
            unended = self._end is not None and not job.ended and job.last_run == key
            yield self._emit(run, unended)

    def _line(self, number: int, raw: bytes) -> None:
        where = f"{self.path}: line {number}"
        text = raw.decode("utf-8", "replace")
        start = text.find("{")
        if start < 0:
            raise ImportFormatError(f"{where}: no JSON object on the line: {text[:80]!r}")
        try:
            record = json.loads(text[start:])
        except json.JSONDecodeError as exc:
            reason = exc.msg.removesuffix(" at")
            raise ImportFormatError(f"{where}: broken JSON at column {start + exc.colno}: {reason}") from None
        if not isinstance(record, dict):
            raise ImportFormatError(f"{where}: expected a JSON object")
        missing = [name for name in _REQUIRED if not record.get(name)]
        if missing:
            raise ImportFormatError(f"{where}: missing {', '.join(missing)}; fields seen: {', '.join(sorted(record))}")
        moment = parse_timestamp(str(record["timeStamp"]), self._zone, where)
        process_name = str(record["processName"])
        if process_name not in self.mapping.automations or process_name not in self.mapping.processes:
            raise ImportFormatError(
                f"{where}: UiPath process {process_name!r} is not in the mapping's automations and processes "
                f"(known: {', '.join(sorted(self.mapping.automations))})"
            )
        job_id = str(record["jobId"])
        case = record.get(self.mapping.case_field)
        if case is None or case == "":
            raise ImportFormatError(
                f"{where}: no {self.mapping.case_field!r} (mapping case_field); fields seen: "
                f"{', '.join(sorted(record))}"
            )
        key = (job_id, str(case))
        run = self.runs.get(key)
        if run is None:
            run = self.runs[key] = _Run(
                job_id, process_name, record.get("robotName"), str(case), first=moment, last=moment
            )
            self.stats.cases += 1
        run.first = min(run.first, moment)
        run.last = max(run.last, moment)
        run.lines += 1
        level = str(record["level"])
        run.levels[level] = run.levels.get(level, 0) + 1
        if level in self.mapping.failed_levels:
            run.failures += 1
        job = self.jobs.get(job_id)
        if job is None:
            job = self.jobs[job_id] = _Job(last_run=key, last=moment)
        if moment >= job.last:
            job.last, job.last_run = moment, key
        if self._end is not None and self._end.search(str(record.get("message", ""))):
            job.ended = True
        self.stats.events += 1
        self.stats.saw_time(moment)

    def _emit(self, job: _Run, unended: bool) -> Emitted:
        failed = job.failures > 0 or unended
        automation = self.mapping.automations[job.process_name]
        self.stats.steps_by_activity[job.process_name] += 1
        self.stats.automated_steps += 1
        self.stats.automated_by_activity[job.process_name] += 1
        self.stats.failed_steps += failed
        self.stats.emitted["automation.run"] += 1
        return Emitted(
            type="automation.run",
            id=event_id(job.job_id, job.case),
            time=job.last,
            data={
                "automation_id": automation,
                "process_id": self.mapping.processes[job.process_name],
                "case_id": job.case,
                "status": "failed" if failed else "succeeded",
                "duration_s": (job.last - job.first).total_seconds(),
                "manual_intervention": False,
            },
            subject=job.robot,
        )


def _lines(handle: Any, path: Path) -> Iterator[bytes]:
    try:
        yield from handle
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ImportFormatError(f"{path}: the file breaks off: {exc}") from None


def read_robot_log(path: Path | str, mapping: RobotLogMapping) -> tuple[list[Emitted], ImportStats]:
    """All events of a robot log at once, with its statistics."""
    run = RobotLogImport(path, mapping)
    emitted = list(run)
    return emitted, run.stats
