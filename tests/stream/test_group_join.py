"""A consumer its group gives no partition says so, naming the group and the broker (real Tansu broker).

Before, a second consumer in the group of a running one stored nothing and said nothing
(a second ``alignwatch run`` under the default group stored 0 events in 95 s).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers_stream import build_consumer, expected_identities, stored_identities

from alignwatch.config import Settings
from alignwatch.store import connect, upgrade
from alignwatch.stream.consumer import kafka_consumer, kafka_producer
from alignwatch.stream.simulator import messages, produce

pytestmark = pytest.mark.integration


def _wait(condition: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def test_of_two_consumers_in_a_one_partition_group_the_one_left_without_it_says_so_and_the_other_stores_all(
    kafka_settings: Callable[..., Settings], new_topic: Callable[..., str], tmp_path: Path, sim_start: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = new_topic(partitions=1)
    settings = kafka_settings(topics=[topic], consumer_group=f"held-{topic}")
    engines = [connect(f"sqlite:///{tmp_path / name}") for name in ("first.db", "second.db")]
    for engine in engines:
        upgrade(engine)
    caplog.set_level(logging.WARNING, logger="alignwatch.stream.consumer")
    loops = [build_consumer(settings, engine) for engine in engines]
    threads = [threading.Thread(target=loop.run, daemon=True) for loop in loops]
    loops[0].subscribe([topic])
    threads[0].start()
    assert _wait(lambda: loops[0]._assigned_at is not None, 15), "the first consumer never joined"
    # the second run under the same group (which of the two keeps the partition is the broker's choice)
    loops[1].subscribe([topic])
    threads[1].start()
    sim = list(messages("bakery", 5, sim_start, 1, 60, malformed_share=0.0, duplicate_share=0.0))
    try:
        assert _wait(lambda: any(loop.report.waiting for loop in loops), 16), "neither consumer said it has no partition"
        producer = kafka_producer(settings)
        produce(producer, topic, sim)
        producer.close()
        assert _wait(lambda: sum(loop.report.stored for loop in loops) == len(expected_identities(sim)), 15)
        # before either stops: the one that stops first leaves the partition to the other
        waiting = [loop.report.waiting for loop in loops]
        stored = [loop.report.stored for loop in loops]
    finally:
        for loop in loops:
            loop.stop()
        for thread in threads:
            thread.join(30)
        for engine in engines:
            engine.dispose()
    idle = [index for index, text in enumerate(waiting) if text]
    assert len(idle) == 1, waiting
    broker = settings.bootstrap_servers[0]
    assert waiting[idle[0]].startswith(f"consumer group 'held-{topic}' on {broker}")
    assert stored[idle[0]] == 0 and stored[1 - idle[0]] == len(expected_identities(sim))
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert waiting[idle[0]] in warnings


def test_a_consumer_whose_group_cannot_rebalance_in_time_warns_naming_the_group_and_the_broker(
    kafka_settings: Callable[..., Settings], new_topic: Callable[..., str], tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = new_topic(partitions=1)
    settings = kafka_settings(topics=[topic], consumer_group=f"stuck-{topic}")
    # a member that holds the partition and then stops polling: the group cannot complete the
    # newcomer's join until that member's poll interval (60 s) runs out
    holder = kafka_consumer(settings, client_id="holder", max_poll_interval_ms=60_000)
    holder.subscribe([topic])
    assert _wait(lambda: bool(holder.poll(timeout_ms=500) is not None and holder.assignment()), 15)
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    newcomer = build_consumer(settings, engine)
    newcomer.subscribe([topic])
    caplog.set_level(logging.WARNING, logger="alignwatch.stream.consumer")
    began = time.monotonic()
    running = threading.Thread(target=newcomer.run, daemon=True)
    running.start()
    try:
        assert _wait(lambda: bool(newcomer.report.waiting), 14), "no warning from the consumer that cannot join"
        waited = time.monotonic() - began
        warning = newcomer.report.waiting
    finally:
        newcomer.stop()  # returns after the poll in progress (up to 10 s while joining)
        running.join(30)
        holder.close()
        engine.dispose()
    broker = settings.bootstrap_servers[0]
    # the session timeout of these tests is 6 s: the warning comes then, not before
    assert 6 <= waited < 6 + 2
    assert warning.startswith(f"consumer group 'stuck-{topic}' on {broker}: no partition assigned 6 s after joining")
    warnings = [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]
    assert warning in warnings
    assert newcomer.report.stored == 0


def test_consumers_in_groups_of_their_own_each_store_every_event_of_the_same_topic(
    kafka_settings: Callable[..., Settings], new_topic: Callable[..., str], tmp_path: Path, sim_start: Any,
) -> None:
    topic = new_topic(partitions=1)
    sim = list(messages("bakery", 6, sim_start, 1, 80, malformed_share=0.0, duplicate_share=0.0))
    producer = kafka_producer(kafka_settings())
    produce(producer, topic, sim)
    producer.close()
    stored = []
    for name in ("first", "second"):
        # one after the other, as two demo runs on the same broker: each its own group
        engine = connect(f"sqlite:///{tmp_path / name}.db")
        upgrade(engine)
        loop = build_consumer(kafka_settings(topics=[topic], consumer_group=f"{name}-{topic}"), engine, idle_timeout_s=2)
        loop.subscribe([topic])
        report = loop.run()
        assert report.waiting == ""
        stored.append(sorted(stored_identities(engine)))
        engine.dispose()
    assert stored[0] == stored[1] == sorted(expected_identities(sim))
