"""A consume run that ends cleanly prints no traceback.

kafka-python 3.0.12's ``KafkaConsumer.close()`` closes its broker connections from the
calling thread while the client's network thread may be reading from one of them; that read
then finds the socket gone and logs ``'NoneType' object has no attribute 'recv'`` with a
traceback, at the exit of an otherwise clean run (rc 0; a few runs in a hundred). The
consume loop therefore has the network thread close its own connections: no connection is
ever closed under a running network thread by another thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from helpers_stream import build_consumer
from kafka.net.transport import KafkaTCPTransport

from alignwatch.config import Settings
from alignwatch.store import connect, upgrade
from alignwatch.stream.broker import TansuBroker
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.simulator import messages, produce

pytestmark = pytest.mark.integration


def foreign_closes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records every transport closed by a thread other than its client's running network thread."""
    seen: list[str] = []
    original = KafkaTCPTransport._close

    def _close(self: KafkaTCPTransport, error: Any = None) -> Any:
        io_thread = getattr(self._net, "_io_thread", None)
        if self._sock is not None and io_thread is not None and io_thread is not threading.current_thread():
            seen.append(f"{self} closed by {threading.current_thread().name} while {io_thread.name} runs")
        return original(self, error)

    monkeypatch.setattr(KafkaTCPTransport, "_close", _close)
    return seen


def test_the_consume_loop_closes_the_consumer_without_racing_its_network_thread(
    broker: TansuBroker,
    new_topic: Callable[..., str],
    kafka_settings: Callable[..., Settings],
    sim_start: Any,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    topic = new_topic(partitions=3)
    producer = kafka_producer(Settings(bootstrap_servers=[broker.bootstrap]), acks=1)
    try:
        produce(producer, topic, messages("bakery", 3, sim_start, 28, 3000, malformed_share=0.0, duplicate_share=0.0))
    finally:
        producer.close()
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    upgrade(engine)
    settings = kafka_settings(topics=[topic], consumer_group=f"clean-{topic}")
    # stop half way: fetches for the rest are in flight while the consumer closes
    loop = build_consumer(settings, engine, max_events=1500)
    loop.subscribe([topic])
    closes = foreign_closes(monkeypatch)
    try:
        report = loop.run()
    finally:
        engine.dispose()
    out, err = capfd.readouterr()
    assert report.consumed == 1500 and report.stored == 1500
    assert closes == []
    assert loop.consumer._closed  # noqa: SLF001 - closed for good, network thread stopped
    assert loop.consumer._net._io_thread is None  # noqa: SLF001
    assert "Traceback" not in out + err


def test_a_plain_kafka_python_close_does_close_connections_under_the_running_network_thread(
    broker: TansuBroker, new_topic: Callable[..., str], kafka_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the hazard the loop avoids, shown on the library alone: this is what races a read
    from alignwatch.stream.consumer import kafka_consumer

    topic = new_topic(partitions=1)
    consumer = kafka_consumer(kafka_settings(), group=f"plain-{topic}")
    consumer.subscribe([topic])
    deadline = time.monotonic() + 30  # joined and fetching: connections to the coordinator and the leader are open
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=500)
    assert consumer.assignment(), "the consumer did not join its group in 30 s"
    consumer.poll(timeout_ms=100)
    closes = foreign_closes(monkeypatch)
    consumer.close(autocommit=False)
    assert closes != []

