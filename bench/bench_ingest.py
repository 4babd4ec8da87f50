"""Ingest benchmark: raw kafka-python consume loop vs the alignwatch consumer into PostgreSQL.

One broker, one topic, the same simulated messages for both runs (default 200,000; a share
of duplicates and malformed messages as the simulator produces them). The raw loop only
polls and counts; the alignwatch consumer decodes, writes to PostgreSQL in batches, sends
dead letters and commits offsets. Each rate is measured from the first message received to
the last message consumed (raw) or the last offset commit (alignwatch), so the group join
is not counted. Prints both rates and the ratio against the target of 0.6.

    python -m bench ingest              # or: make bench
    python -m bench.bench_ingest --events 200000 --partitions 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import sys
import time
import uuid

import sqlalchemy as sa

TARGET_RATIO = 0.6
PG_ADMIN_URL = os.environ.get("ALIGNWATCH_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def raw_rate(bootstrap: str, topic: str, expected: int) -> float:
    """Messages per second of a bare kafka-python consume loop (no decoding, no store)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        max_poll_records=2000,
        fetch_max_bytes=64 * 1024 * 1024,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    consumer.subscribe([topic])
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


def decode_rate(sent: list) -> float:  # type: ignore[type-arg]
    """Messages per second of the event contract's decoder alone, in memory (no Kafka, no store)."""
    from alignwatch.stream.contract import DecodeLimits
    from alignwatch.stream.process import Origin, classify_message

    limits = DecodeLimits(256 * 1024, dt.timedelta(days=1), None, lambda: dt.datetime.now(dt.UTC))
    origin = Origin("bench", 0, 0)
    began = time.perf_counter()
    for message in sent:
        classify_message(message.value, message.headers, origin, limits)
    return len(sent) / (time.perf_counter() - began)


def alignwatch_rate(bootstrap: str, topic: str, store_url: str, expected: int) -> tuple[float, int]:
    """Messages per second of the alignwatch consumer into PostgreSQL; also the rows stored."""
    from prometheus_client import CollectorRegistry

    from alignwatch.config import Settings
    from alignwatch.store import connect
    from alignwatch.stream.consumer import ConsumerOptions, IngestConsumer, kafka_consumer, kafka_producer
    from alignwatch.stream.contract import DecodeLimits, RejectReason
    from alignwatch.stream.health import PipelineMetrics
    from alignwatch.stream.sink import StoreSink

    settings = Settings(
        bootstrap_servers=[bootstrap],
        topics=[topic],
        consumer_group=f"bench-{uuid.uuid4().hex[:6]}",
        session_timeout_ms=6000,
        heartbeat_interval_ms=2000,
        store_url=store_url,
    )
    engine = connect(store_url)
    loop = IngestConsumer(
        kafka_consumer(settings),
        kafka_producer(settings),
        StoreSink(engine),
        DecodeLimits.from_settings(settings, live=True),
        PipelineMetrics(CollectorRegistry(), reasons=tuple(str(r) for r in RejectReason)),
        ConsumerOptions.from_settings(settings, max_events=expected),
    )
    loop.subscribe([topic])
    report = loop.run()
    with engine.connect() as conn:
        stored = int(conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one())
    engine.dispose()
    return report.active_rate, stored


def processes_rate(bootstrap: str, topic: str, store_url: str, distinct: int, processes: int) -> float:
    """Events per second stored by ``processes`` ``alignwatch consume`` processes in one group.

    Measured in the store: from the first stored row to the last expected one (the group
    join is not counted), polling ``count(*)`` every 50 ms.
    """
    import subprocess
    from pathlib import Path

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


def _fresh_store(admin: sa.Engine, names: list[str]) -> str:
    from alignwatch.store import connect, upgrade

    name = f"alignwatch_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    names.append(name)
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    engine = connect(url)
    upgrade(engine)
    engine.dispose()
    return url


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench ingest", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--processes", type=int, default=2, help="consumer processes of the scale-out run (0: skip)")
    args = parser.parse_args(argv)

    from alignwatch.config import Settings
    from alignwatch.stream.broker import TansuBroker, ensure_topics
    from alignwatch.stream.consumer import SWITCH_INTERVAL_S, kafka_producer
    from alignwatch.stream.simulator import messages, produce

    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    databases: list[str] = []
    group_rate = 0.0
    try:
        store_url = _fresh_store(admin, databases)
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
            # both loops run in this process beside the 200k messages kept for the decode run:
            # keep them out of the collector's way, as `alignwatch consume` does for its start-up
            gc.freeze()
            # and with the interpreter lock's switch interval `alignwatch consume` sets
            sys.setswitchinterval(SWITCH_INTERVAL_S)
            raw = raw_rate(broker.bootstrap, topic, len(sent))
            ours, stored = alignwatch_rate(broker.bootstrap, topic, store_url, len(sent))
            decode = decode_rate(sent)
            if args.processes > 1:
                distinct = len({m.identity for m in sent if m.identity is not None})
                group_url = _fresh_store(admin, databases)
                group_rate = processes_rate(broker.bootstrap, topic, group_url, distinct, args.processes)
    finally:
        with admin.connect() as conn:
            for name in databases:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    ratio = ours / raw
    print(f"raw kafka-python consume loop : {raw:>10,.0f} msg/s")
    print(f"alignwatch consume → PostgreSQL: {ours:>10,.0f} msg/s  ({stored:,} events stored)")
    print(f"decode only (in memory)        : {decode:>10,.0f} msg/s  (upper bound of any consumer that decodes)")
    print(f"ratio {ratio:.2f} (target ≥ {TARGET_RATIO}) {'OK' if ratio >= TARGET_RATIO else 'BELOW TARGET'}")
    if group_rate:
        print(
            f"scale-out: {args.processes} alignwatch consume processes in one group: {group_rate:,.0f} events/s "
            f"stored, ratio {group_rate / raw:.2f}"
        )
    return 0 if ratio >= TARGET_RATIO else 1
