"""Two demo runs at once on the same broker and topic each store every event: each has a consumer group of its own.

Before, both joined the group ``alignwatch``: the second stored 0 events in 95 s and the
first lost its partition.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alignwatch.cli.run import demo_group
from alignwatch.metrics.strategy import load_strategy
from alignwatch.runner import floor_time
from alignwatch.stream.broker import TansuBroker
from alignwatch.stream.simulator import messages
from alignwatch.stream.simulator.generate import default_strategy_path

DAYS, EVENTS, SEED = 2, 300, 7


def test_each_demo_run_gets_a_group_of_its_own() -> None:
    at = dt.datetime(2026, 3, 1, 12, 30, 5, tzinfo=dt.UTC)
    assert demo_group(at, 4242) == "alignwatch-demo-20260301T123005-4242"
    # two runs started the same second differ by their process; the same process later, by time
    assert demo_group(at, 4242) != demo_group(at, 4243)
    assert demo_group(at, 4242) != demo_group(at + dt.timedelta(seconds=1), 4242)


def _expected(start: dt.datetime) -> set[tuple[str, str]]:
    """(source, id) of every valid event the bakery demo sends (as the runner plans them)."""
    strategy = load_strategy(default_strategy_path("bakery"))
    return {m.identity for m in messages("bakery", SEED, start, DAYS, EVENTS, strategy=strategy) if m.identity}


@pytest.mark.integration
@pytest.mark.slow
def test_two_demo_runs_at_once_on_one_broker_and_topic_each_store_every_event(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALIGNWATCH_")}
    # the Tansu join takes about half the session timeout
    env.update(ALIGNWATCH_EXPORTER_PORT="0", ALIGNWATCH_SESSION_TIMEOUT_MS="6000",
               ALIGNWATCH_HEARTBEAT_INTERVAL_MS="2000")  # fmt: skip
    alignwatch = str(Path(sys.executable).with_name("alignwatch"))
    with TansuBroker() as broker:
        runs = []
        for name in ("first", "second"):
            command = [alignwatch, "run", "--scenario", "bakery", "--bootstrap-servers", broker.bootstrap,
                       "--topic", "shop.events", "--store", f"sqlite:///{tmp_path / name}.db", "--var", str(tmp_path / name),
                       "--days", str(DAYS), "--events", str(EVENTS), "--seed", str(SEED), "--story", "5",
                       "--duration", "25"]  # fmt: skip
            runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
            time.sleep(8)  # the second starts while the first consumes
        outputs = [run.communicate(timeout=180)[0] for run in runs]
    start = floor_time(dt.datetime.now(dt.UTC), dt.timedelta(days=1)) - dt.timedelta(days=DAYS)
    for run, output in zip(runs, outputs, strict=True):
        assert run.returncode == 0, output[-3000:]
        assert "warning: consumer group" not in output, output[-3000:]
    groups = [re.search(r"^consumer: group (\S+) on ", output, re.M) for output in outputs]
    assert all(groups), outputs[0][-2000:]
    assert groups[0].group(1) != groups[1].group(1)
    assert all(found.group(1).startswith("alignwatch-demo-") for found in groups if found)
    expected = _expected(start)
    for name in ("first", "second"):
        with sqlite3.connect(tmp_path / f"{name}.db") as db:
            stored = set(db.execute("select source, event_id from events").fetchall())
        assert stored == expected, f"{name}: {len(stored)} stored of {len(expected)}"
