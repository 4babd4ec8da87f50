"""Helpers of the ``alignwatch run`` tests (imported by name): run the command as a
subprocess, watch it until it exits, and check that it left no process behind."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[2]


def sai_series_name() -> str:
    """The exporter's series name of the Strategic Alignment Index."""
    from alignwatch.metrics.catalogue import served_name

    return served_name("sai")


@dataclass
class WatchedRun:
    """What a watched ``alignwatch run`` did: exit status, output, the processes it started
    (children seen while it ran) and the SAI line its exporter served, if any."""

    pid: int
    returncode: int
    output: str
    children: set[int] = field(default_factory=set)
    sai_line: str | None = None


def watch_run(
    command: list[str],
    env: dict[str, str],
    *,
    each_second: Callable[[], None] | None = None,
    stop_when: Callable[[], bool] | None = None,
    exit_timeout_s: float = 120,
) -> WatchedRun:
    """Run ``command`` (an ``alignwatch run`` that stops by itself) and watch it every second:
    record its child processes, scrape the SAI from the exporter it announces, then call
    ``each_second``. Once the SAI was scraped and ``stop_when()`` is true, stop the run as a
    user would, with Ctrl-C (SIGINT), before its duration. Kills it if the wait fails."""
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    children: set[int] = set()
    sai_name = sai_series_name()
    sai_line = None
    try:
        parent = psutil.Process(process.pid)
        while process.poll() is None:
            try:
                children.update(child.pid for child in parent.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
            url = next((line.split(" ", 1)[1].strip() for line in list(lines) if line.startswith("exporter: ")), None)
            if url and sai_line is None:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        body = response.read().decode()
                except OSError:
                    body = ""
                sai_line = next((line for line in body.splitlines() if line.startswith(sai_name + "{")), None)
            if each_second is not None:
                each_second()
            if stop_when is not None and sai_line is not None and stop_when():
                process.send_signal(signal.SIGINT)
                stop_when = None
            time.sleep(1)
        process.wait(timeout=exit_timeout_s)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    assert process.stdout is not None
    process.stdout.close()
    return WatchedRun(process.pid, process.returncode, "".join(lines), children, sai_line)


def still_running(pids: Iterable[int]) -> list[int]:
    """The pids among ``pids`` that are alive (zombies excluded)."""
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            continue
    return alive
