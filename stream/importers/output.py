"""Where imported events go: a JSON-lines file, the store, or a Kafka topic.

Every output is all-or-nothing by default: ``write`` each event, then ``commit``; when the
log turns out to be broken half-way the caller calls ``abort`` and nothing of this import
is left behind:

- ``JsonlOutput`` writes to a temporary file beside the target and renames it on commit;
- ``StoreOutput`` goes through the ingestion sink (idempotent on (source, id)) with every
  row of this import stamped with the same ``ingested_at``; abort deletes exactly those
  rows (events stored by an earlier import of the same log are untouched);
- ``KafkaOutput`` cannot take back what it sent, so the CLI reads the log once to check
  it before sending anything.

``--keep-partial`` skips the abort: whatever was written before the error stays.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from pydantic import ValidationError

from alignwatch.errors import ImportFormatError
from alignwatch.metrics import hourcache
from alignwatch.store.schema import events as events_table
from alignwatch.stream.decode import make_event
from alignwatch.stream.encode import encode_structured
from alignwatch.stream.importers.base import Emitted
from alignwatch.stream.sink import StoreSink, utcnow

__all__ = [
    "JsonlOutput",
    "KafkaOutput",
    "Output",
    "StoreOutput",
    "WriteSummary",
    "to_event",
    "write_all",
]


@dataclass(frozen=True)
class WriteSummary:
    """What an output did with the events it was given."""

    written: int
    stored: int | None = None
    duplicates: int | None = None
    target: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the CLI."""
        return {key: value for key, value in self.__dict__.items() if value is not None}


class Output(Protocol):
    """A destination for imported events."""

    def write(self, event: Emitted) -> None:
        """Send one event (buffered or not)."""

    def commit(self) -> WriteSummary:
        """Make everything written final."""

    def abort(self) -> None:
        """Take back everything this import wrote (where the destination allows it)."""


def to_event(source: str, emitted: Emitted) -> Any:
    """The ``alignwatch.stream.contract.Event`` for an emitted event (validated against the event contract)."""
    try:
        return make_event(
            emitted.type, source, emitted.id, emitted.time, emitted.data, subject=emitted.subject
        )
    except (ValidationError, ValueError) as exc:
        first = str(exc).strip().splitlines()
        raise ImportFormatError(
            f"derived event {emitted.type} {emitted.id!r} breaks the event contract: "
            f"{' '.join(first[:3])}"
        ) from None


class JsonlOutput:
    """Structured-mode CloudEvents, one per line, in ``path`` (written atomically on commit)."""

    def __init__(self, path: Path, source: str, *, keep_partial: bool = False) -> None:
        self._encode = encode_structured
        self.path = Path(path)
        self.source = source
        self.keep_partial = keep_partial
        self._tmp = self.path.with_name(f".{self.path.name}.partial")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = open(self._tmp, "wb")
        self._written = 0

    def write(self, event: Emitted) -> None:
        self._handle.write(self._encode(to_event(self.source, event)).replace(b"\n", b" ") + b"\n")
        self._written += 1

    def commit(self) -> WriteSummary:
        self._handle.close()
        os.replace(self._tmp, self.path)
        return WriteSummary(written=self._written, target=str(self.path))

    def abort(self) -> None:
        self._handle.close()
        if self.keep_partial:
            os.replace(self._tmp, self.path)
        else:
            self._tmp.unlink(missing_ok=True)


class StoreOutput:
    """Straight into the store through the ingestion sink; abort deletes this import's rows."""

    def __init__(
        self,
        engine: sa.Engine,
        source: str,
        *,
        batch_size: int = 5000,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.engine = engine
        self.source = source
        self.batch_size = batch_size
        # one stamp for every row of this import: it is how abort finds them
        self.stamp = (clock or utcnow)()
        self._sink = StoreSink(engine, clock=lambda: self.stamp)
        self._written = 0
        self._stored = 0
        self._duplicates = 0

    def write(self, event: Emitted) -> None:
        self._sink.add(to_event(self.source, event))
        self._written += 1
        if self._sink.pending_events >= self.batch_size:
            self._flush()

    def _flush(self) -> None:
        result = self._sink.flush()
        self._stored += result.stored
        self._duplicates += result.duplicates

    def commit(self) -> WriteSummary:
        self._flush()
        url = self.engine.url.render_as_string(hide_password=True)
        return WriteSummary(self._written, self._stored, self._duplicates, target=url)

    def abort(self) -> None:
        self._sink.discard()
        with self.engine.begin() as conn:
            removed = conn.execute(
                events_table.delete().where(
                    events_table.c.source == self.source, events_table.c.ingested_at == self.stamp
                )
            ).rowcount
            if removed:
                # a computation may have aggregated these events meanwhile: forget its hours
                hourcache.clear(conn)


class KafkaOutput:
    """Structured-mode CloudEvents to a Kafka topic, keyed by case (sent in order per case)."""

    def __init__(self, producer: Any, topic: str, source: str) -> None:
        self._encode = encode_structured
        self.producer = producer
        self.topic = topic
        self.source = source
        self._written = 0

    def write(self, event: Emitted) -> None:
        case = event.data.get("case_id") or event.data.get("customer_id") or event.id
        self.producer.send(self.topic, value=self._encode(to_event(self.source, event)), key=str(case).encode())
        self._written += 1

    def commit(self) -> WriteSummary:
        try:
            self.producer.flush()
        finally:
            self.producer.close()
        return WriteSummary(written=self._written, target=f"kafka topic {self.topic}")

    def abort(self) -> None:
        # sent messages cannot be taken back: the CLI checks the whole log before sending
        try:
            self.producer.flush()
        finally:
            self.producer.close()


def write_all(events: Iterable[Emitted], output: Output, *, keep_partial: bool = False) -> WriteSummary:
    """Write every event and commit; on any error abort (unless ``keep_partial``) and re-raise."""
    try:
        for event in events:
            output.write(event)
        return output.commit()
    except BaseException:
        if keep_partial:
            try:
                output.commit()
            except Exception:  # noqa: BLE001 - the original error is the one to report
                pass
        else:
            output.abort()
        raise
