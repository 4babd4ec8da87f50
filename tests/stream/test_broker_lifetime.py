"""The embedded broker never outlives the process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

pytestmark = pytest.mark.integration

STARTER = """
import sys, time
from alignwatch.stream.broker import TansuBroker
broker = TansuBroker().start()
print(broker.pid, flush=True)
time.sleep(120)
"""


def test_a_broker_whose_owner_is_killed_with_sigkill_stops_too() -> None:
    owner = subprocess.Popen([sys.executable, "-c", STARTER], stdout=subprocess.PIPE, text=True)
    try:
        line = owner.stdout.readline() if owner.stdout else ""
        broker_pid = int(line)
        assert psutil.pid_exists(broker_pid)
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if not psutil.pid_exists(broker_pid) or psutil.Process(broker_pid).status() == psutil.STATUS_ZOMBIE:
                break
            time.sleep(0.2)
        alive = psutil.pid_exists(broker_pid) and psutil.Process(broker_pid).status() != psutil.STATUS_ZOMBIE
        if alive:
            os.kill(broker_pid, signal.SIGKILL)
        assert not alive, "the broker outlived its owner"
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if owner.stdout:
            owner.stdout.close()
