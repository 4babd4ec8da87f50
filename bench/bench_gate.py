"""Cost of the validation gate per pipeline run vs the run itself and vs plain pandas.

A SQLite store gets ``DAYS`` days of the bakery simulator at ``EVENTS_PER_DAY`` events a
day. One nightly run (``days=1``) warms the process up (Great Expectations import and
context, reported as the cold cost); then ``RUNS`` more runs of the same night are timed:
the whole run and its gate (``RunOutcome.gate_seconds``: reading the window's events,
building the frames, both suites). The baseline is the same raw-event rules written as
plain vectorised pandas on the same frame. Targets: gate ≤ 0.5 s per run (median) and
≤ 35 % of the run.

``python -m bench gate [EVENTS_PER_DAY]``
"""

from __future__ import annotations

import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

from bench import count_argument

TARGET_GATE_S = 0.5
TARGET_SHARE = 0.35
DAYS = 8
EVENTS_PER_DAY = 1500
RUNS = 5
STRATEGY = Path(__file__).resolve().parents[1] / "examples" / "bakery.yaml"
DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def _store(directory: Path, events_per_day: int):  # type: ignore[no-untyped-def]
    from alignwatch.store import connect, upgrade
    from alignwatch.store.schema import events
    from alignwatch.stream.decode import make_event
    from alignwatch.stream.rows import event_row
    from alignwatch.stream.simulator import simulate

    engine = connect(f"sqlite:///{directory / 'bench.db'}")
    upgrade(engine)
    ingested = DAY0 + dt.timedelta(days=DAYS + 1)
    rows = [
        event_row(make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject")), ingested)
        for e in simulate("bakery", 11, DAY0, DAYS, DAYS * events_per_day, late_share=0.0)
    ]
    with engine.begin() as conn:
        for index in range(0, len(rows), 2000):
            conn.execute(events.insert(), rows[index : index + 2000])
    return engine, len(rows)


def _pandas_baseline(frame, start: dt.datetime, end: dt.datetime, types: tuple[str, ...]) -> float:  # type: ignore[no-untyped-def]
    """The raw-event rules as plain pandas; returns seconds."""
    from alignwatch.expectations.raw_events import SCALES

    began = time.perf_counter()
    ok = bool(frame["source"].notna().all() and frame["event_id"].notna().all())
    ok &= not frame.duplicated(["source", "event_id"]).any()
    ok &= bool(frame["type"].isin(types).all())
    ok &= bool(frame["time_s"].between(start.timestamp(), end.timestamp(), inclusive="left").all())
    for name, (low, high) in SCALES.items():
        column = frame[name].dropna()
        ok &= bool((column >= low).all() and (column <= high).all())
    ok &= bool(frame["bad_quantity"].isna().all())
    _ = ok
    return time.perf_counter() - began


def main(argv: list[str]) -> int:
    import sqlalchemy as sa

    from alignwatch.expectations.raw_events import events_frame
    from alignwatch.metrics.strategy import load_strategy
    from alignwatch.pipeline import nightly_task
    from alignwatch.store.schema import events
    from alignwatch.stream.contract import EVENT_TYPES
    from alignwatch.windows import nightly_range

    per_day = count_argument(argv, "gate", "events per simulated day", EVENTS_PER_DAY)
    strategy = load_strategy(STRATEGY)
    night = DAY0 + dt.timedelta(days=DAYS - 1, hours=2)
    with tempfile.TemporaryDirectory(prefix="alignwatch-bench-gate-") as tmp:
        engine, stored = _store(Path(tmp), per_day)
        began = time.perf_counter()
        cold = nightly_task(engine, strategy, end=night, days=1)
        cold_s = time.perf_counter() - began
        totals, gates = [], []
        for _ in range(RUNS):
            began = time.perf_counter()
            outcome = nightly_task(engine, strategy, end=night, days=1)
            totals.append(time.perf_counter() - began)
            gates.append(outcome.gate_seconds)
        start, end = nightly_range(night, 1, strategy.business.timezone)
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(events.c.source, events.c.event_id, events.c.type, events.c.time, events.c.data).where(
                    events.c.time >= start, events.c.time < end
                )
            ).mappings().all()
        frame = events_frame(rows)
        baseline = statistics.median(_pandas_baseline(frame, start, end, EVENT_TYPES) for _ in range(RUNS))
        engine.dispose()
    gate, total = statistics.median(gates), statistics.median(totals)
    share = gate / total if total else 0.0
    print(f"store: {stored} events over {DAYS} days; one night = {len(frame)} events, {outcome.value_count} values")
    print(f"cold run (imports, context): {cold_s:.2f}s, status {cold.status}")
    print(f"run median {total:.3f}s, gate median {gate:.3f}s ({share:.0%} of the run), status {outcome.status}")
    print(f"plain pandas raw-event rules: {baseline * 1000:.1f} ms; gate / pandas = {gate / baseline:.0f}x")
    ok = gate <= TARGET_GATE_S and share <= TARGET_SHARE and outcome.status == "published"
    print(f"target gate ≤ {TARGET_GATE_S}s and ≤ {TARGET_SHARE:.0%} of the run: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1
