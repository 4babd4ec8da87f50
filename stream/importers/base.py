"""What every importer shares: the events it emits, its running statistics, reading gzip or
plain files with progress, and parsing timestamps that must carry a time zone."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from alignwatch.errors import ImportFormatError

__all__ = [
    "Emitted",
    "ImportStats",
    "ProgressReader",
    "event_id",
    "open_log",
    "parse_timestamp",
]

_GZIP_MAGIC = b"\x1f\x8b"
# longest event id kept readable; longer ones become a digest (the store allows 256)
_MAX_ID = 200


@dataclass(frozen=True)
class Emitted:
    """One alignwatch event an importer derived from a log, before it becomes a CloudEvent."""

    type: str
    id: str
    time: dt.datetime
    data: dict[str, Any]
    subject: str | None = None


@dataclass
class ImportStats:
    """What an import read and emitted; filled while the import runs."""

    log: str
    source: str
    events: int = 0
    cases: int = 0
    automated_steps: int = 0
    failed_steps: int = 0
    first_time: dt.datetime | None = None
    last_time: dt.datetime | None = None
    emitted: Counter[str] = field(default_factory=Counter)
    steps_by_activity: Counter[str] = field(default_factory=Counter)
    automated_by_activity: Counter[str] = field(default_factory=Counter)

    def saw_time(self, moment: dt.datetime) -> None:
        """Widen the period the log covers."""
        if self.first_time is None or moment < self.first_time:
            self.first_time = moment
        if self.last_time is None or moment > self.last_time:
            self.last_time = moment

    @property
    def steps(self) -> int:
        """Steps read: the log's events for an event log, the runs for a robot log."""
        return sum(self.steps_by_activity.values())

    @property
    def automated_share(self) -> float | None:
        """Automated steps ÷ all steps (None for an empty log)."""
        return self.automated_steps / self.steps if self.steps else None

    def automation_rate_by_activity(self) -> dict[str, float]:
        """Share of each activity's steps done by an automation."""
        return {
            activity: self.automated_by_activity[activity] / total
            for activity, total in sorted(self.steps_by_activity.items())
        }

    def summary(self) -> dict[str, Any]:
        """A JSON-friendly summary (printed by the CLI)."""
        return {
            "log": self.log,
            "source": self.source,
            "events": self.events,
            "cases": self.cases,
            "steps": self.steps,
            "automated_steps": self.automated_steps,
            "automated_share": None if self.automated_share is None else round(self.automated_share, 6),
            "failed_steps": self.failed_steps,
            "first_time": self.first_time.isoformat() if self.first_time else None,
            "last_time": self.last_time.isoformat() if self.last_time else None,
            "emitted": dict(sorted(self.emitted.items())),
        }


def event_id(*parts: object) -> str:
    """A deterministic event id from its parts (log-local: the source names the log).

    Readable (``173688/4/run``) when short enough, else a sha256 digest of the parts.
    """
    text = "/".join(str(part) for part in parts)
    if len(text) <= _MAX_ID:
        return text
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


class ProgressReader(io.RawIOBase):
    """A read-only file that reports how many bytes of it have been read so far."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None] | None) -> None:
        self._raw = raw
        self._on_read = on_read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        if self._on_read is not None and data:
            self._on_read(len(data))
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_log(path: Path, on_read: Callable[[int], None] | None = None) -> io.BufferedIOBase:
    """Open a log, gzip-compressed or plain (told apart by its magic bytes).

    ``on_read`` is called with the number of bytes of the *file* read (compressed bytes
    for a gzip file), so progress can be shown against the file size.
    """
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from None
    magic = raw.read(2)
    raw.seek(0)
    counted = io.BufferedReader(ProgressReader(raw, on_read), buffer_size=1 << 16)
    if magic == _GZIP_MAGIC:
        return _GzipLog(counted)
    return counted


class _GzipLog(gzip.GzipFile):
    """A gzip reader that also closes the file under it."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__(fileobj=inner, mode="rb")
        self._inner = inner

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._inner.close()


def parse_timestamp(value: str, assume: ZoneInfo | None, where: str) -> dt.datetime:
    """An aware datetime from an ISO 8601 value; naive values need ``assume`` (else an error)."""
    text = value.strip()
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ImportFormatError(f"{where}: timestamp {value!r} is not ISO 8601") from None
    if moment.tzinfo is None:
        if assume is None:
            raise ImportFormatError(
                f"{where}: timestamp {value!r} has no time zone; give it an offset in the log "
                "or set assume_timezone in the mapping"
            )
        moment = moment.replace(tzinfo=assume)
    return moment
