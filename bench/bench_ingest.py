"""Ingest benchmark: the alignwatch consumer against hand-rolled idempotent consumers, the store's limit and a raw loop.

One broker, one topic, the same simulated messages for every contender (default 200,000 on
3 partitions; a share of duplicates, binary-mode and malformed messages as the simulator
produces them), the same PostgreSQL and the same ``events`` table (a fresh database per
run, so every run writes into an empty table with the same indexes). Contenders:

- ``alignwatch``: ``IngestConsumer`` into the store (validates, writes idempotently,
  quarantines and dead-letters rejects and conflicting duplicates, commits after the store);
- ``executemany``: kafka-python + ``json.loads`` + psycopg ``executemany`` of
  ``INSERT ... ON CONFLICT DO NOTHING``, one transaction per poll, offsets committed after it;
- ``copy-staging``: kafka-python + ``json.loads`` + COPY into a temporary staging table +
  ``INSERT ... SELECT ... ON CONFLICT DO NOTHING``, likewise;
- ``store-limit``: no Kafka; COPY of the same rows, built beforehand, in batches of 2,000,
  one transaction each (what PostgreSQL itself allows for this table);
- ``raw``: a kafka-python loop that polls and counts, no store.

The hand-rolled consumers skip what they cannot parse and validate nothing else. Rates are
messages per second from the first message received to the last offset commit (the group
join is not counted; the raw loop: to the last message, the store limit: the whole COPY
run). The contenders run in interleaved rounds (the order rotates each round); ratios are
paired by round and summarised by their median. Exit status 1 when alignwatch's median
ratio to ``copy-staging`` is below 1.0.

    python -m bench ingest              # or: make bench
    python -m bench ingest --events 200000 --partitions 3 --rounds 5
    python -m bench ingest --only alignwatch copy-staging --processes 2   # also the scale-out run
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from kafka import KafkaConsumer
from prometheus_client import CollectorRegistry

from alignwatch.config import Settings
from alignwatch.store import connect, upgrade
from alignwatch.stream.broker import TansuBroker, ensure_topics
from alignwatch.stream.consumer import (
    SWITCH_INTERVAL_S,
    ConsumerOptions,
    IngestConsumer,
    kafka_consumer,
    kafka_producer,
)
from alignwatch.stream.contract import DecodeLimits, RejectReason
from alignwatch.stream.health import PipelineMetrics
from alignwatch.stream.process import Origin, classify_message
from alignwatch.stream.simulator import SimMessage, messages, produce
from alignwatch.stream.sink import StoreSink

TARGET = 1.0  # alignwatch ÷ copy-staging, median of paired rounds
BATCH = 2000
PG_ADMIN_URL = os.environ.get("ALIGNWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")

COLUMNS = (
    "source", "event_id", "type", "time", "subject", "automation_id", "process_id",
    "touchpoint_id", "case_id", "actor_id", "data", "ingested_at",
)  # fmt: skip
_CASE = ("case_id", "order_id", "dataset_id", "initiative_id")
_ACTOR = ("customer_id", "employee_id", "user_id")
Row = tuple[Any, ...]


# -- the hand-rolled peers ----------------------------------------------------------------


def peer_row(value: bytes, headers: list[tuple[str, bytes]] | None, now: str) -> Row | None:
    """The ``events`` row of one message as a hand-rolled consumer builds it (None: unparsable)."""
    try:
        if headers and headers[0][0].startswith("ce_"):  # binary mode: the envelope in headers
            envelope = {key[3:]: raw.decode() for key, raw in headers if key.startswith("ce_")}
            data = json.loads(value)
        else:
            envelope = json.loads(value)
            data = envelope["data"]
        case = next((data[k] for k in _CASE if data.get(k) is not None), None)
        actor = next((data[k] for k in _ACTOR if data.get(k) is not None), None)
        return (
            envelope["source"], envelope["id"], envelope["type"], envelope["time"], envelope.get("subject"),
            data.get("automation_id"), data.get("process_id"), data.get("touchpoint_id"), case, actor,
            json.dumps(data), now,
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def _peer_consumer(bootstrap: str, topic: str) -> KafkaConsumer:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"peer-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        max_poll_records=BATCH,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    consumer.subscribe([topic])
    return consumer


def _peer_loop(bootstrap: str, topic: str, expected: int, write: Callable[[list[Row]], None]) -> float:
    """Poll, build rows, ``write`` them (one transaction), commit the offsets; msg/s."""
    consumer = _peer_consumer(bootstrap, topic)
    seen = 0
    first = last = 0.0
    try:
        while seen < expected:
            batch = consumer.poll(timeout_ms=500, max_records=BATCH)
            if not batch:
                continue
            if not first:
                first = time.perf_counter()
            now = dt.datetime.now(dt.UTC).isoformat()
            rows = []
            for records in batch.values():
                for record in records:
                    row = peer_row(record.value, record.headers, now)
                    if row is not None:
                        rows.append(row)
                seen += len(records)
            write(rows)
            consumer.commit()
            last = time.perf_counter()
    finally:
        consumer.close()
    return seen / (last - first)


_INSERT = (
    f"INSERT INTO events ({', '.join(COLUMNS)}) VALUES ({', '.join(['%s'] * len(COLUMNS))}) "
    "ON CONFLICT (source, event_id) DO NOTHING"
)


def executemany_rate(bootstrap: str, topic: str, dsn: str, expected: int) -> float:
    with psycopg.connect(dsn) as conn:

        def write(rows: list[Row]) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(_INSERT, rows)

        return _peer_loop(bootstrap, topic, expected, write)


def copy_staging_rate(bootstrap: str, topic: str, dsn: str, expected: int) -> float:
    columns = ", ".join(COLUMNS)
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "CREATE TEMP TABLE stage (source text, event_id text, type text, time timestamptz, subject text, "
            "automation_id text, process_id text, touchpoint_id text, case_id text, actor_id text, data jsonb, "
            "ingested_at timestamptz) ON COMMIT DELETE ROWS"
        )
        conn.commit()

        def write(rows: list[Row]) -> None:
            with conn.transaction(), conn.cursor() as cursor:
                with cursor.copy(f"COPY stage ({columns}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                cursor.execute(
                    f"INSERT INTO events ({columns}) SELECT {columns} FROM stage "
                    "ON CONFLICT (source, event_id) DO NOTHING"
                )

        return _peer_loop(bootstrap, topic, expected, write)


def _copy_line(row: Row) -> str:
    def field(value: Any) -> str:
        if value is None:
            return "\\N"
        return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")

    return "\t".join(map(field, row))


def store_limit_rate(dsn: str, sent: list[SimMessage]) -> float:
    """COPY of the messages' distinct rows, built beforehand, in batches of 2,000; msg/s."""
    now = dt.datetime.now(dt.UTC).isoformat()
    rows: dict[tuple[str, str], Row] = {}
    for message in sent:
        row = peer_row(message.value, message.headers, now)
        if row is not None:
            rows.setdefault((row[0], row[1]), row)
    lines = [_copy_line(row) for row in rows.values()]
    blocks = [("\n".join(lines[i : i + BATCH]) + "\n").encode() for i in range(0, len(lines), BATCH)]
    statement = f"COPY events ({', '.join(COLUMNS)}) FROM STDIN"
    with psycopg.connect(dsn) as conn:
        began = time.perf_counter()
        for block in blocks:
            with conn.transaction(), conn.cursor() as cursor, cursor.copy(statement) as copy:
                copy.write(block)
        elapsed = time.perf_counter() - began
    return len(sent) / elapsed


def raw_rate(bootstrap: str, topic: str, expected: int) -> float:
    """Messages per second of a bare kafka-python consume loop (no decoding, no store)."""
    consumer = _peer_consumer(bootstrap, topic)
    seen = 0
    first = last = 0.0
    try:
        while seen < expected:
            batch = consumer.poll(timeout_ms=500)
            for records in batch.values():
                if not first:
                    first = time.perf_counter()
                seen += len(records)
            last = time.perf_counter()
    finally:
        consumer.close()
    return seen / (last - first)


# -- alignwatch ----------------------------------------------------------------------------


def alignwatch_rate(bootstrap: str, topic: str, store_url: str, expected: int) -> float:
    """Messages per second of the alignwatch consumer into PostgreSQL."""
    settings = Settings(
        bootstrap_servers=[bootstrap],
        topics=[topic],
        consumer_group=f"bench-{uuid.uuid4().hex[:6]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        store_url=store_url,
    )
    engine = connect(store_url)
    try:
        loop = IngestConsumer(
            kafka_consumer(settings),
            kafka_producer(settings),
            StoreSink(engine),
            DecodeLimits.from_settings(settings, live=True),
            PipelineMetrics(CollectorRegistry(), reasons=tuple(str(r) for r in RejectReason)),
            ConsumerOptions.from_settings(settings, max_events=expected),
        )
        loop.subscribe([topic])
        return loop.run().active_rate
    finally:
        engine.dispose()


def decode_rate(sent: list[SimMessage]) -> float:
    """Messages per second of the event contract's decoder alone, in memory (no Kafka, no store)."""
    limits = DecodeLimits(256 * 1024, dt.timedelta(days=1), None, lambda: dt.datetime.now(dt.UTC))
    origin = Origin("bench", 0, 0)
    began = time.perf_counter()
    for message in sent:
        classify_message(message.value, message.headers, origin, limits)
    return len(sent) / (time.perf_counter() - began)


def processes_rate(bootstrap: str, topic: str, store_url: str, distinct: int, processes: int) -> float:
    """Events per second stored by ``processes`` ``alignwatch consume`` processes in one group.

    Measured in the store: from the first stored row to the last expected one (the group
    join is not counted), polling ``count(*)`` every 50 ms.
    """
    env = {**os.environ, "ALIGNWATCH_SESSION_TIMEOUT_MS": "6000", "ALIGNWATCH_HEARTBEAT_INTERVAL_MS": "2000"}
    command = [
        str(Path(sys.executable).parent / "alignwatch"), "consume", "--bootstrap-servers", bootstrap,
        "--topic", topic, "--group", f"bench-{uuid.uuid4().hex[:6]}", "--store", store_url,
        "--idle-timeout", "5", "--quiet",
    ]  # fmt: skip
    engine = sa.create_engine(store_url)
    procs = [subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL) for _ in range(processes)]
    first = last = 0.0
    try:
        with engine.connect() as conn:
            while True:
                stored = int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())
                conn.rollback()
                now = time.perf_counter()
                if stored and not first:
                    first = now
                if stored >= distinct:
                    last = now
                    break
                if all(proc.poll() is not None for proc in procs):
                    raise RuntimeError(f"consumers exited with {stored} of {distinct} events stored")
                time.sleep(0.05)
        for proc in procs:
            proc.wait(timeout=60)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        engine.dispose()
    return distinct / (last - first)


# -- the run -------------------------------------------------------------------------------


class Stores:
    """Fresh, migrated databases on the benchmark's PostgreSQL, dropped after use."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")

    def create(self) -> str:
        name = f"alignwatch_bench_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        return url

    def count_and_drop(self, url: str) -> int:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            stored = int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())
        engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.engine.make_url(url).database}" WITH (FORCE)'))
        return stored


class BackendCpu:
    """CPU seconds spent by the PostgreSQL backends serving one database, sampled every 0.1 s
    while a contender runs (the last 0.1 s of a backend that exits are not seen: its close)."""

    def __init__(self, admin: sa.Engine, database: str) -> None:
        self.admin = admin
        self.database = database
        self.seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="bench-backend-cpu", daemon=True)

    def __enter__(self) -> BackendCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def seconds(self) -> float:
        return sum(self.seen.values())

    def _sample(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        query = sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :name")
        with self.admin.connect() as conn:
            while True:
                for pid in conn.execute(query, {"name": self.database}).scalars():
                    try:
                        with open(f"/proc/{pid}/stat") as stat:
                            fields = stat.read().rsplit(")", 1)[1].split()
                    except OSError:  # exited meanwhile, or PostgreSQL runs elsewhere
                        continue
                    self.seen[pid] = (int(fields[11]) + int(fields[12])) / tick
                if self._stop.wait(0.1):
                    return


def _dsn(url: str) -> str:
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


CONTENDERS = ("alignwatch", "executemany", "copy-staging", "store-limit", "raw")
LABELS = {
    "alignwatch": "alignwatch consume → PostgreSQL (validate, idempotent, dead letters, commit after store)",
    "executemany": "hand-rolled: kafka-python + json.loads + executemany … ON CONFLICT DO NOTHING",
    "copy-staging": "hand-rolled: kafka-python + COPY into staging + INSERT … SELECT … ON CONFLICT DO NOTHING",
    "store-limit": "the store's limit: COPY of the same pre-built rows, batches of 2,000",
    "raw": "raw kafka-python consume, no store",
}


@dataclass(frozen=True)
class Run:
    """One contender's run: msg/s, rows stored (None: stores nothing), CPU seconds of this
    process (every thread) and of the PostgreSQL backends serving its database."""

    rate: float
    stored: int | None
    client_cpu_s: float
    store_cpu_s: float


def one_run(name: str, bootstrap: str, topic: str, sent: list[SimMessage], stores: Stores) -> Run:
    """Run contender ``name`` once."""
    began = time.process_time()
    if name == "raw":
        rate = raw_rate(bootstrap, topic, len(sent))
        return Run(rate, None, time.process_time() - began, 0.0)
    url = stores.create()
    began = time.process_time()
    backends = BackendCpu(stores.admin, str(sa.engine.make_url(url).database))
    try:
        with backends:
            rate = _store_run(name, bootstrap, topic, sent, url)
        client = time.process_time() - began
    finally:
        stored = stores.count_and_drop(url)
    return Run(rate, stored, client, backends.seconds)


def _store_run(name: str, bootstrap: str, topic: str, sent: list[SimMessage], url: str) -> float:
    if name == "alignwatch":
        return alignwatch_rate(bootstrap, topic, url, len(sent))
    if name == "executemany":
        return executemany_rate(bootstrap, topic, _dsn(url), len(sent))
    if name == "copy-staging":
        return copy_staging_rate(bootstrap, topic, _dsn(url), len(sent))
    return store_limit_rate(_dsn(url), sent)


def _rotated(names: Iterable[str], by: int) -> list[str]:
    names = list(names)
    by %= len(names)
    return names[by:] + names[:by]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=0, help="also: N alignwatch consume processes in one group")
    parser.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS), help="contenders to run")
    args = parser.parse_args(argv)
    chosen = [name for name in CONTENDERS if name in args.only]

    stores = Stores()
    rates: dict[str, list[float]] = {name: [] for name in chosen}
    stored: dict[str, set[int]] = {name: set() for name in chosen}
    group_rate = 0.0
    cpu: dict[str, list[Run]] = {name: [] for name in chosen}
    try:
        with TansuBroker() as broker:
            topic = "bench.events"
            ensure_topics(broker.bootstrap, [topic, topic + ".dlq"], partitions=args.partitions)
            start = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0) - dt.timedelta(days=28)
            sent = list(messages("ecommerce", 42, start, 28, args.events))
            producer = kafka_producer(
                Settings(bootstrap_servers=[broker.bootstrap]), acks=1, linger_ms=20, batch_size=1024 * 1024
            )
            began = time.perf_counter()
            produce(producer, topic, sent)
            producer.close()
            print(f"produced {len(sent):,} messages to {args.partitions} partitions in {time.perf_counter() - began:.1f}s")
            # every contender runs in this process beside the messages kept for the store limit:
            # keep them out of the collector's way, as `alignwatch consume` does for its start-up,
            # and with the interpreter lock's switch interval `alignwatch consume` sets
            gc.freeze()
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            for round_ in range(args.rounds):
                for name in _rotated(chosen, round_):
                    run = one_run(name, broker.bootstrap, topic, sent, stores)
                    rates[name].append(run.rate)
                    cpu[name].append(run)
                    if run.stored is not None:
                        stored[name].add(run.stored)
                    print(
                        f"round {round_ + 1}: {name:<12} {run.rate:>10,.0f} msg/s, CPU per message: "
                        f"{_us(run.client_cpu_s, sent)} here, {_us(run.store_cpu_s, sent)} PostgreSQL",
                        flush=True,
                    )
            decode = decode_rate(sent)
            if args.processes:
                url = stores.create()
                distinct = len({m.identity for m in sent if m.identity is not None})
                try:
                    group_rate = processes_rate(broker.bootstrap, topic, url, distinct, args.processes)
                finally:
                    stores.count_and_drop(url)
    finally:
        stores.admin.dispose()

    print(f"\n{len(sent):,} messages, {args.partitions} partitions, {args.rounds} interleaved rounds; load {_load()}")
    print("| contender | msg/s (min / median / max) | alignwatch ÷ contender (paired by round, median) |")
    print("|---|---|---|")
    ratios: dict[str, float] = {}
    for name in chosen:
        low, mid, high = min(rates[name]), statistics.median(rates[name]), max(rates[name])
        ratio = "—"
        if name != "alignwatch" and "alignwatch" in rates:
            ratios[name] = statistics.median(a / b for a, b in zip(rates["alignwatch"], rates[name], strict=True))
            ratio = f"{ratios[name]:.3f}"
        print(f"| {LABELS[name]} | {low:,.0f} / {mid:,.0f} / {high:,.0f} | {ratio} |")
    print("\nCPU per message, median of the rounds (this process, all threads | PostgreSQL backends):")
    for name in chosen:
        here = statistics.median(run.client_cpu_s for run in cpu[name])
        there = statistics.median(run.store_cpu_s for run in cpu[name])
        print(f"  {name:<12} {_us(here, sent)} | {_us(there, sent)} | total {_us(here + there, sent)}")
    print(f"decode only (in memory): {decode:,.0f} msg/s")
    if args.processes:
        print(f"{args.processes} alignwatch consume processes in one group: {group_rate:,.0f} events/s stored")
    for name in chosen:
        if stored[name]:
            print(f"rows stored by {name}: {', '.join(f'{n:,}' for n in sorted(stored[name]))}")
    if "copy-staging" not in ratios:
        return 0
    met = ratios["copy-staging"] >= TARGET
    print(f"alignwatch ÷ copy-staging {ratios['copy-staging']:.3f} (target ≥ {TARGET}) {'OK' if met else 'BELOW TARGET'}")
    return 0 if met else 1


def _us(seconds: float, sent: list[SimMessage]) -> str:
    return f"{seconds / len(sent) * 1e6:5.1f} µs"


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1/5/15 min) on {os.cpu_count()} cores"
