"""Business-system simulator: realistic CloudEvents for the example strategies.

``simulate(scenario, seed, start, days, events)`` yields valid CloudEvents as dicts (in
emission order: some arrive late, out of time order) for the metric engine's scenario
tests and the embedded pipeline. ``messages(...)`` yields what goes onto Kafka: the same
events (a share in binary mode), plus duplicates (same source and id resent) and a small
share of malformed messages of every kind. ``produce`` sends them with a real Kafka
producer; ``write_jsonl`` writes them to a file. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alignwatch.metrics.strategy import Strategy
from alignwatch.stream.simulator.generate import SimMessage, Simulation, encode, load_scenario_strategy
from alignwatch.stream.simulator.scenarios import PROFILES, SCENARIOS, Profile

__all__ = [
    "MALFORMED_KINDS",
    "PROFILES",
    "ProduceReport",
    "SCENARIOS",
    "Profile",
    "SimMessage",
    "messages",
    "produce",
    "simulate",
    "write_jsonl",
]


def simulate(
    scenario: str,
    seed: int,
    start: dt.datetime,
    days: int,
    events: int,
    *,
    strategy: Strategy | None = None,
    late_share: float = 0.03,
    planted: bool = True,
) -> Iterator[dict[str, Any]]:
    """``events`` distinct valid CloudEvents (dicts) of ``scenario`` over ``days`` from ``start``
    (``planted=False``: the same business without the scenario's planted change, its control)."""
    strategy = strategy if strategy is not None else load_scenario_strategy(scenario)
    simulation = Simulation(scenario, strategy, seed=seed, start=start, days=days, late_share=late_share, planted=planted)
    yield from simulation.events(events)


def _malformed(kind: str, rng: random.Random, template: dict[str, Any]) -> bytes:
    bad = json.loads(json.dumps(template))
    if kind == "not_json":
        return b"{this is not json"
    if kind == "json_array":
        return b'[{"specversion":"1.0"}]'
    if kind == "invalid_utf8":
        return encode(bad).replace(b'"data"', b'"d\xff\xfeta"', 1)
    if kind == "missing_id":
        bad.pop("id")
    elif kind == "wrong_specversion":
        bad["specversion"] = "0.3"
    elif kind == "unknown_type":
        bad["type"] = "shop.unknown_thing"
    elif kind == "naive_time":
        bad["time"] = bad["time"][:19]
    elif kind == "future_time":
        bad["time"] = "2999-01-01T00:00:00+00:00"
    elif kind == "wrong_payload_type":
        bad["type"] = "automation.run"
        bad["data"] = {"automation_id": "x", "process_id": "p", "case_id": "c", "status": "succeeded", "duration_s": "fast"}
    elif kind == "negative_duration":
        bad["type"] = "automation.run"
        bad["data"] = {"automation_id": "x", "process_id": "p", "case_id": "c", "status": "succeeded", "duration_s": -5}
    elif kind == "csat_out_of_range":
        bad["type"] = "customer.feedback"
        bad["data"] = {"customer_id": "c", "csat": 9}
    bad["id"] = f"bad-{kind}-{rng.getrandbits(48):012x}" if "id" in bad else None
    if bad["id"] is None:
        bad.pop("id")
    return encode(bad)


MALFORMED_KINDS: tuple[str, ...] = (
    "not_json",
    "json_array",
    "invalid_utf8",
    "missing_id",
    "wrong_specversion",
    "unknown_type",
    "naive_time",
    "future_time",
    "wrong_payload_type",
    "negative_duration",
    "csat_out_of_range",
)


def _key(event: dict[str, Any]) -> bytes | None:
    data = event.get("data") or {}
    for name in ("case_id", "customer_id", "automation_id", "employee_id", "dataset_id", "initiative_id"):
        value = data.get(name)
        if isinstance(value, str):
            return value.encode()
    return None


def _binary(event: dict[str, Any]) -> tuple[bytes, list[tuple[str, bytes]]]:
    headers = [
        (f"ce_{name}", str(event[name]).encode())
        for name in ("specversion", "id", "source", "type", "time", "subject")
        if name in event
    ]
    headers.append(("content-type", b"application/json"))
    return encode(event["data"]), headers


def messages(
    scenario: str,
    seed: int,
    start: dt.datetime,
    days: int,
    events: int,
    *,
    strategy: Strategy | None = None,
    malformed_share: float = 0.01,
    duplicate_share: float = 0.01,
    binary_share: float = 0.1,
    late_share: float = 0.03,
    planted: bool = True,
) -> Iterator[SimMessage]:
    """Exactly ``events`` Kafka messages: valid events, duplicates and malformed ones, mixed."""
    rng = random.Random(f"{seed}-messages")
    malformed = round(events * malformed_share)
    duplicates = round(events * duplicate_share)
    valid = list(simulate(scenario, seed, start, days, events - malformed - duplicates, strategy=strategy,
                          late_share=late_share, planted=planted))  # fmt: skip
    extras: list[tuple[int, SimMessage]] = []
    for _ in range(duplicates):
        position = rng.randrange(len(valid))
        original = valid[position]
        extras.append((rng.randint(position, len(valid)), SimMessage(encode(original), _key(original), "duplicate", event=original)))
    for n in range(malformed):
        kind = MALFORMED_KINDS[n % len(MALFORMED_KINDS)]
        template = valid[rng.randrange(len(valid))]
        extras.append((rng.randrange(len(valid) + 1), SimMessage(_malformed(kind, rng, template), None, "malformed")))
    extras.sort(key=lambda item: item[0])
    extra_index = 0
    for position, event in enumerate(valid):
        while extra_index < len(extras) and extras[extra_index][0] <= position:
            yield extras[extra_index][1]
            extra_index += 1
        if rng.random() < binary_share:
            value, headers = _binary(event)
            yield SimMessage(value, _key(event), "event", headers=headers, event=event)
        else:
            yield SimMessage(encode(event), _key(event), "event", event=event)
    for _, message in extras[extra_index:]:
        yield message


@dataclass
class ProduceReport:
    """What ``produce`` sent: the count and, per partition, the offset after the last message."""

    sent: int = 0
    ends: dict[int, int] = field(default_factory=dict)

    def _record(self, metadata: Any) -> None:
        end = metadata.offset + 1
        if end > self.ends.get(metadata.partition, 0):
            self.ends[metadata.partition] = end


def produce(
    producer: Any,
    topic: str,
    stream: Iterable[SimMessage],
    *,
    rate: float | None = None,
) -> ProduceReport:
    """Send every message to ``topic`` (at most ``rate`` per second when given); waits for the acks."""
    report = ProduceReport()
    lock = threading.Lock()

    def acked(metadata: Any) -> None:
        with lock:
            report._record(metadata)

    sent = 0
    started = time.monotonic()
    for message in stream:
        future = producer.send(topic, value=message.value, key=message.key, headers=message.headers or None)
        future.add_callback(acked)
        sent += 1
        if rate:
            ahead = sent / rate - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
    producer.flush()
    report.sent = sent
    return report


def write_jsonl(path: Path, stream: Iterable[SimMessage]) -> int:
    """Write the messages as JSON lines (binary-mode events in their structured form); returns the count."""
    written = 0
    with open(path, "wb") as handle:
        for message in stream:
            value = encode(message.event) if message.event is not None else message.value
            handle.write(value.replace(b"\n", b" ") + b"\n")
            written += 1
    return written
