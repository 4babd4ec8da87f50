"""The simulated year of ``python -m bench recompute``: generated once (seeded), cached as a SQLite store.

``dataset(days, events)`` returns the path of a migrated SQLite store holding the events
of the ``ecommerce`` scenario over ``days`` days from :data:`START` (seed :data:`SEED`),
stored as the ingestion sink stores them (``ingested_at`` one minute after the event's
time). The file is kept under ``ALIGNWATCH_BENCH_CACHE`` (default
``~/.cache/alignwatch-bench``) and reused by later runs. ``load_postgres(path, url)``
copies its events into a migrated PostgreSQL store with ``COPY``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path

import sqlalchemy as sa

from alignwatch.metrics.strategy import load_strategy
from alignwatch.store import connect, upgrade
from alignwatch.store.schema import events
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

REPO = Path(__file__).resolve().parents[1]
SCENARIO = "ecommerce"
SEED = 18
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
_COLUMNS = ("source", "event_id", "type", "time", "subject", "automation_id", "process_id", "touchpoint_id",
            "case_id", "actor_id", "data", "ingested_at")


def cache_dir() -> Path:
    return Path(os.environ.get("ALIGNWATCH_BENCH_CACHE") or Path.home() / ".cache" / "alignwatch-bench")


def strategy() -> object:
    """The scenario's example strategy, its days in UTC (the computed days are the generated ones)."""
    loaded = load_strategy(REPO / "examples" / f"{SCENARIO}.yaml")
    return loaded.model_copy(update={"business": loaded.business.model_copy(update={"timezone": "UTC"})})


def dataset(days: int, count: int) -> Path:
    """The cached store of ``count`` events over ``days`` days (generated on the first call)."""
    path = cache_dir() / f"{SCENARIO}-seed{SEED}-{START.date()}-{days}d-{count}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    began = time.perf_counter()
    engine = connect(f"sqlite:///{partial}")
    try:
        upgrade(engine)
        batch: list[dict[str, object]] = []
        with engine.begin() as conn:
            for e in simulate(SCENARIO, SEED, START, days, count, strategy=strategy()):
                event = make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject"))
                batch.append(event_row(event, event.time + dt.timedelta(minutes=1)))
                if len(batch) == 20_000:
                    conn.execute(events.insert(), batch)
                    batch = []
            if batch:
                conn.execute(events.insert(), batch)
    finally:
        engine.dispose()
    partial.rename(path)
    print(f"generated {count:,} events over {days} days in {time.perf_counter() - began:.0f} s: {path}", flush=True)
    return path


def load_postgres(path: Path, engine: sa.Engine) -> None:
    """Copy the events of the SQLite store at ``path`` into the (migrated, empty) PostgreSQL store ``engine``."""
    source = connect(f"sqlite:///{path}")
    try:
        with source.connect() as src, engine.connect() as dst:
            raw = dst.connection.driver_connection
            assert raw is not None
            with raw.cursor() as cursor, cursor.copy(f"COPY events ({', '.join(_COLUMNS)}) FROM STDIN") as copy:
                rows = src.execute(sa.select(*(events.c[name] for name in _COLUMNS)).order_by(events.c.id))
                for row in rows:
                    values = list(row)
                    values[10] = json.dumps(values[10])
                    copy.write_row(values)
            raw.commit()
            dst.exec_driver_sql("ANALYZE events")
            dst.commit()
    finally:
        source.dispose()
