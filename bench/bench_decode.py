"""Decode throughput: the decoders vs plain ``json.loads`` on the same messages.

The messages are 200,000 structured-mode events spread evenly over every event type (with
realistic payloads, unique ids and times), encoded once before timing. The baseline parses
the same bytes with ``json.loads`` and nothing else; the contract adds UTF-8 and envelope
checks, time parsing and typed payload validation. Binary mode is measured on 1 in 4 of
the messages. Both decoders are measured: the reference one (``alignwatch.stream.decode``) and the one the
consumer and file ingest use (``alignwatch.stream.fastdecode``: same results, msgspec on the common
case). Each measurement is the best of 3 passes. Target: at least 50,000 events/s for
structured decoding on one core, by the decoder the consumer uses.

``python -m bench decode`` (``bench.bench_decode.main(["50000"])`` for another count)
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from typing import Any

from alignwatch.stream import fastdecode
from alignwatch.stream.contract import DecodeLimits, Event
from alignwatch.stream.decode import decode_binary, decode_structured, make_event
from alignwatch.stream.encode import encode_binary, encode_structured
from bench import count_argument

TARGET_EVENTS_PER_S = 50_000
START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)

SAMPLE_DATA: dict[str, Callable[[int], dict[str, Any]]] = {
    "automation.run": lambda i: {"automation_id": f"bot_{i % 7}", "process_id": f"p_{i % 5}", "case_id": f"c-{i}",
                                 "status": "failed" if i % 13 == 0 else "succeeded", "duration_s": 12.5 + i % 40,
                                 "manual_intervention": i % 9 == 0, "cost": 0.05},
    "process.execution": lambda i: {"process_id": f"p_{i % 5}", "case_id": f"c-{i}", "automated": i % 3 != 0,
                                    "cycle_time_s": 600.0 + i % 300, "errors": i % 4, "rework": i % 2,
                                    "units_out": 40, "automated_share": 0.5},
    "customer.touchpoint": lambda i: {"touchpoint_id": f"t_{i % 4}", "customer_id": f"cust-{i % 5000}",
                                      "channel": "chat", "handled_by": "automation", "resolved": i % 5 != 0,
                                      "escalation_requested": i % 11 == 0, "escalation_fulfilled_s": 120.0},
    "customer.feedback": lambda i: {"customer_id": f"cust-{i % 5000}", "touchpoint_id": "t_1", "csat": 1 + i % 5,
                                    "nps": i % 11},
    "customer.order": lambda i: {"customer_id": f"cust-{i % 5000}", "order_id": f"o-{i}", "amount": 18.9,
                                 "repeat": i % 2 == 0, "units": 3},
    "finance.entry": lambda i: {"automation_id": f"bot_{i % 7}", "kind": "saving", "amount": 42.0},
    "feature.usage": lambda i: {"automation_id": "crm", "feature": f"feature_{i % 12}", "user_id": f"u-{i % 40}"},
    "integration.issue": lambda i: {"automation_id": "crm", "kind": "sync_failure", "records": 1 + i % 9},
    "data.produced": lambda i: {"dataset_id": f"ds_{i % 20}", "automation_id": "etl"},
    "data.used": lambda i: {"dataset_id": f"ds_{i % 20}", "used_for": "decision", "strategic": i % 2 == 0},
    "workforce.task": lambda i: {"employee_id": f"e-{i % 30}", "automation_id": "bot_1", "augmented": True,
                                 "minutes_saved": 7.5},
    "workforce.skill": lambda i: {"employee_id": f"e-{i % 30}", "skill": "bot maintenance", "kind": "training"},
    "workforce.survey": lambda i: {"employee_id": f"e-{i % 30}", "satisfaction": 1 + i % 5},
    "strategy.initiative": lambda i: {"initiative_id": f"init-{i}", "goal_ids": ["g1", "g2"],
                                      "started_at": "2026-01-05T09:00:00+01:00"},
    "automation.reconfigured": lambda i: {"automation_id": "bot_2", "initiative_id": f"init-{i}",
                                          "deployed_at": "2026-01-20T06:30:00Z"},
}


def _events(count: int) -> list[Event]:
    types = list(SAMPLE_DATA)
    return [
        make_event(types[i % len(types)], f"bench/{types[i % len(types)]}", f"ev-{i}",
                   START + dt.timedelta(seconds=i), SAMPLE_DATA[types[i % len(types)]](i))
        for i in range(count)
    ]


def _best_rate(label: str, count: int, run: Callable[[], int]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        accepted = run()
        best = min(best, time.perf_counter() - started)
        if accepted != count:
            raise SystemExit(f"{label}: {count - accepted} of {count} messages were not decoded")
    rate = count / best
    print(f"{label:<28} {rate:>12,.0f} events/s  ({best:.2f} s for {count:,})", flush=True)
    return rate


def main(argv: list[str]) -> int:
    count = count_argument(argv, "decode", "messages to decode", 200_000)
    events = _events(count)
    messages = [encode_structured(event) for event in events]
    binary = [encode_binary(event) for event in events[::4]]
    limits = DecodeLimits(max_future=dt.timedelta(days=3650))
    size = sum(map(len, messages)) / count
    print(f"{count:,} structured messages over {len(SAMPLE_DATA)} types, {size:.0f} bytes on average")

    loads = json.loads
    baseline = _best_rate("json.loads", count, lambda: sum(isinstance(loads(m), dict) for m in messages))
    structured = _best_rate(
        "decode_structured", count, lambda: sum(isinstance(decode_structured(m, limits), Event) for m in messages)
    )
    _best_rate(
        "decode_binary (1 in 4)",
        len(binary),
        lambda: sum(isinstance(decode_binary(value, headers, limits), Event) for value, headers in binary),
    )
    fast = _best_rate(
        "fastdecode.decode_structured",
        count,
        lambda: sum(isinstance(fastdecode.decode_structured(m, limits), Event) for m in messages),
    )
    _best_rate(
        "fastdecode binary (1 in 4)",
        len(binary),
        lambda: sum(isinstance(fastdecode.decode_message(value, headers, limits), Event) for value, headers in binary),
    )
    print(f"decode_structured is {baseline / structured:.1f}x slower than parsing alone, "
          f"fastdecode {baseline / fast:.1f}x ({fast / structured:.1f}x faster than the reference); "
          f"target >= {TARGET_EVENTS_PER_S:,} events/s: {'met' if fast >= TARGET_EVENTS_PER_S else 'MISSED'}")
    return 0 if fast >= TARGET_EVENTS_PER_S else 1
