"""File ingestion: CloudEvents in JSON lines through the same decode → sink path as Kafka.

For backfills from files and for tests. Each line is one structured-mode event; a bad line
goes to the quarantine table with origin ``file:line``. Re-ingesting a file is harmless:
events are stored once per (source, id), a bad line is one quarantine row.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from alignwatch.errors import ImportFormatError
from alignwatch.stream.contract import DecodeLimits
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.process import Origin, Quarantined, Received, classify_line
from alignwatch.stream.sink import FlushResult, StoreSink

__all__ = ["IngestReport", "ingest_files", "ingest_lines"]


@dataclass(frozen=True)
class IngestReport:
    """Counts of a file ingestion."""

    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0

    @property
    def total(self) -> int:
        """Lines read (blank lines excluded)."""
        return self.stored + self.duplicates + self.quarantined


def ingest_lines(
    engine: sa.Engine,
    lines: Iterable[tuple[str, int, bytes]],
    limits: DecodeLimits,
    *,
    batch_size: int = 5000,
    metrics: PipelineMetrics | None = None,
) -> IngestReport:
    """Ingest ``(file, line number, raw bytes)`` triples; blank lines are skipped."""
    sink = StoreSink(engine)
    total = FlushResult()
    quarantined = 0
    for file, number, raw in lines:
        raw = raw.rstrip(b"\r\n")
        if not raw.strip():
            continue
        origin = Origin(file=file, line=number)
        result = classify_line(raw, origin, limits)
        if metrics is not None:
            metrics.consumed.inc()
        if isinstance(result, Quarantined):
            sink.quarantine(result)
            quarantined += 1
            if metrics is not None:
                metrics.rejected.labels(reason=result.reason).inc()
        else:
            sink.add(result, Received(raw, [], origin))  # kept if the sink turns it away
        if len(sink) >= batch_size:
            total = total + _flush(sink, metrics)
    total = total + _flush(sink, metrics)
    quarantined += len(total.turned_away)  # conflicting duplicates, rows the store refused
    return IngestReport(stored=total.stored, duplicates=total.duplicates, quarantined=quarantined)


def _flush(sink: StoreSink, metrics: PipelineMetrics | None) -> FlushResult:
    result = sink.flush()
    if metrics is not None:
        metrics.stored.inc(result.stored)
        metrics.duplicates.inc(result.duplicates)
        for record in result.turned_away:
            metrics.rejected.labels(reason=record.reason).inc()
    return result


def _read(paths: Iterable[Path]) -> Iterable[tuple[str, int, bytes]]:
    for path in paths:
        try:
            handle = open(path, "rb")
        except OSError as exc:
            raise ImportFormatError(f"cannot read {path}: {exc.strerror}") from exc
        with handle:
            for number, raw in enumerate(handle, start=1):
                yield str(path), number, raw


def ingest_files(
    engine: sa.Engine,
    paths: Iterable[Path | str],
    limits: DecodeLimits,
    *,
    batch_size: int = 5000,
    metrics: PipelineMetrics | None = None,
) -> IngestReport:
    """Ingest JSON-lines files of structured CloudEvents; returns stored/duplicate/quarantined counts."""
    return ingest_lines(engine, _read(Path(p) for p in paths), limits, batch_size=batch_size, metrics=metrics)
