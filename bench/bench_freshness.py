"""Freshness and footprint of a real ``alignwatch run``: event produced → visible on ``/metrics``.

Two runs of the real command (embedded broker, SQLite store, exporter), each watched from
outside as a user would, through its output and its ``/metrics``:

1. **production** (``--no-simulator``, real clock, ``--interval`` seconds): one event
   timestamped in the hour that closed last is produced as soon as the broker is up, and the bench times produced →
   ``alignwatch_ingest_events_stored_total`` counts it (*stored*) and produced → the first
   ``published`` run is served (``alignwatch_pipeline_last_run_timestamp_seconds{status=
   "published"}``, *published*); then ``--markers`` events of the current hour, one at a
   time, each produced with a real Kafka producer and timed until the stored counter counts
   it (polled every 20 ms). On the real clock the continuous task publishes hour windows:
   an event of the current hour is published when its hour has closed (next cycle after
   the hour), as the hourly DAG does; that bound is by design, not measured here.
2. **demo** (the simulator, cycles every min(``--interval``, story ÷ days) seconds): the
   time each ``cycle: … published`` line is printed, so the actual interval between the
   starts of published cycles against the configured one, and published → visible: the
   time from a published cycle to the served ``last_run_timestamp`` changing (the
   exporter's snapshot cache lives min(15 s, interval) seconds).

For both runs the process tree (the run, the Tansu broker) is sampled every 0.5 s from
``/proc`` (psutil): peak RSS summed over the tree (it counts the pages the processes share once per
process), peak PSS summed likewise (shared pages divided among their processes), CPU seconds of the
tree (each process's user and system time at its last sample, its reaped children's included).

Targets: p95 produced → stored visible ≤ 10 s; under Airflow, the first event's produced →
published visible ≤ 2× the DAG's interval (the exit status is non-zero when one is missed).
``--airflow`` adds the production run under ``run --airflow`` (the continuous DAG hourly,
``ALIGNWATCH_CONTINUOUS_EVERY_MINUTES=60``: its first run, once the DAG is parsed, covers the
last closed hour), measured the same way. The interval between the DAG's published runs (an
hour) is not measured.

``python -m bench freshness [--markers 25] [--interval 5] [--days 20] [--story 120]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from alignwatch.config import load_settings
from alignwatch.stream.consumer import kafka_producer
from alignwatch.stream.simulator import simulate
from alignwatch.stream.simulator.generate import encode

REPO = Path(__file__).resolve().parents[1]
TARGET_P95_S = 10.0
AIRFLOW_DAG_S = 3600  # ALIGNWATCH_CONTINUOUS_EVERY_MINUTES=60
STORED = "alignwatch_ingest_events_stored_total"
LAST_RUN = "alignwatch_pipeline_last_run_timestamp_seconds"
CYCLE = re.compile(r"^cycle: run \d+ (\w+) up to .* in ([0-9.]+)s")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``values`` by the nearest-rank method."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class Tree:
    """Peak RSS and CPU seconds of a process and its descendants, sampled from ``/proc``."""

    root: int
    peak_rss: int = 0
    peak_pss: int = 0
    cpu: dict[int, float] = field(default_factory=dict)
    stop: threading.Event = field(default_factory=threading.Event)

    def sample(self) -> None:
        try:
            parent = psutil.Process(self.root)
            processes = [parent, *parent.children(recursive=True)]
        except psutil.NoSuchProcess:
            return
        rss = pss = 0
        for process in processes:
            try:
                with process.oneshot():
                    memory = process.memory_full_info()
                    rss += memory.rss
                    pss += memory.pss
                    times = process.cpu_times()
                    self.cpu[process.pid] = times.user + times.system + times.children_user + times.children_system
            except psutil.NoSuchProcess:
                continue
        self.peak_rss = max(self.peak_rss, rss)
        self.peak_pss = max(self.peak_pss, pss)

    def watch(self) -> None:
        while not self.stop.wait(0.5):
            self.sample()

    @property
    def cpu_s(self) -> float:
        return sum(self.cpu.values())


class Run:
    """A real ``alignwatch run`` subprocess; its output lines stamped with the time they were read."""

    def __init__(self, arguments: list[str], var: Path, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ALIGNWATCH_EXPORTER_PORT": "0", **(env or {})}
        command = [str(Path(sys.executable).parent / "alignwatch"), "run", "--var", str(var), "--store", f"sqlite:///{var}/store.db",
                   *arguments]  # fmt: skip
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: list[tuple[float, str]] = []
        self.tree = Tree(self.process.pid)
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self.tree.watch, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in iter(self.process.stdout.readline, ""):
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def value(self, prefix: str, timeout_s: float = 120) -> str:
        """The rest of the first output line starting with ``prefix``, waiting for it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for _, line in list(self.lines):
                if line.startswith(prefix):
                    return line[len(prefix) :].strip()
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"no {prefix!r} line from the run:\n" + "\n".join(line for _, line in self.lines[-30:]))

    def wait(self, timeout_s: float = 180) -> int:
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            self.close()

    def close(self) -> None:
        """Kill the run if it is still running, and stop watching its process tree."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.tree.stop.set()

    def cycles(self) -> list[tuple[float, str, float]]:
        """(time the line was read, status, seconds the cycle took) of every cycle printed."""
        found = []
        for at, line in self.lines:
            match = CYCLE.match(line)
            if match:
                found.append((at, match.group(1), float(match.group(2))))
        return found


def scrape(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
    return body.decode()


def served(body: str, name: str, **labels: str) -> float | None:
    """The value of the first served sample ``name`` whose labels include ``labels``."""
    for line in body.splitlines():
        if not line.startswith(name) or line[len(name) : len(name) + 1] not in ("{", " "):
            continue
        if all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


def wait_for(url: str, check: Any, timeout_s: float) -> float:
    """Poll ``url`` every 20 ms until ``check(body)`` holds; the monotonic time it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check(scrape(url)):
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.02)
    raise TimeoutError(f"not visible on {url} within {timeout_s:.0f} s")


def marker_events(count: int) -> list[dict[str, Any]]:
    """``count`` valid events of the bakery (the simulator's), to be given fresh ids and times."""
    start = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(days=1)
    return list(simulate("bakery", 11, start, 1, count, late_share=0.0))


def produce_one(producer: Any, topic: str, event: dict[str, Any], when: dt.datetime) -> float:
    """Send ``event`` with a new id and time ``when``; the monotonic time it was handed to the producer."""
    event = {**event, "id": str(uuid.uuid4()), "time": when.isoformat().replace("+00:00", "Z")}
    sent = time.monotonic()
    producer.send(topic, value=encode(event)).get(timeout=30)
    return sent


def production(markers: int, interval: float, var: Path, *, airflow: bool = False) -> dict[str, Any]:
    arguments = ["--no-simulator", "--strategy", str(REPO / "examples" / "bakery.yaml"), "--interval", str(interval)]
    if airflow:
        # the continuous DAG hourly: its first run, as soon as the DAG is parsed, covers the last closed hour
        run = Run(
            [*arguments, "--airflow", "--duration", "900"],
            var,
            {"ALIGNWATCH_CONTINUOUS_EVERY_MINUTES": str(AIRFLOW_DAG_S // 60)},
        )
    else:
        run = Run([*arguments, "--duration", str(120 + markers * 2)], var)
    try:
        bootstrap = run.value("broker: ").rsplit(" at ", 1)[1]
        settings = load_settings(bootstrap_servers=[bootstrap])
        producer = kafka_producer(settings, linger_ms=0)
        topic = settings.topics[0]
        pool = marker_events(markers + 1)
        # the first event, of the hour that closed last, as soon as the broker is up: the first
        # published cycle can count it (its hour is the one the first cycle aggregates)
        last_hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(minutes=30)
        sent = produce_one(producer, topic, pool[0], last_hour)
        url = run.value("exporter: ", 300)
        first_stored = wait_for(url, lambda body: (served(body, STORED) or 0) >= 1, 300) - sent
        first_published = wait_for(url, lambda body: served(body, LAST_RUN, status="published") is not None, 600) - sent
        stored: list[float] = []
        for n, event in enumerate(pool[1:], start=2):
            sent = produce_one(producer, topic, event, dt.datetime.now(dt.UTC))
            stored.append(wait_for(url, lambda body, n=n: (served(body, STORED) or 0) >= n, 60) - sent)
        producer.close(timeout=5)
        run.process.send_signal(2)  # SIGINT: stop as a user would
        code = run.wait()
    finally:
        run.close()
    return {"stored": stored, "first_stored": first_stored, "first_published": first_published, "code": code,
            "rss": run.tree.peak_rss, "pss": run.tree.peak_pss, "cpu": run.tree.cpu_s, "wall": time.monotonic() - run.started}  # fmt: skip


def demo(interval: float, var: Path, days: int, story: float) -> dict[str, Any]:
    run = Run(["--scenario", "bakery", "--events", "4000", "--days", str(days), "--story", str(story),
               "--interval", str(interval), "--duration", str(story + 10)], var)  # fmt: skip
    period = min(interval, story / days)
    changes: list[float] = []
    served_until = run.started
    try:
        url = run.value("exporter: ")
        last = None
        while run.process.poll() is None:
            try:
                value = served(scrape(url), LAST_RUN, status="published")
                served_until = time.monotonic()
            except OSError:
                value = last
            if value is not None and value != last:
                changes.append(time.monotonic())
                last = value
            time.sleep(0.05)
        code = run.wait()
    finally:
        run.close()
    # the cycles printed while the exporter still answered (not the shutdown's final one)
    published = [(at, seconds) for at, status, seconds in run.cycles() if status == "published" and at <= served_until]
    starts = [at - seconds for at, seconds in published]
    intervals = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    visible: list[float] = []
    pending = [at for at, _ in published]
    for change in changes:
        waiting = [at for at in pending if at <= change]
        if waiting:
            visible.append(change - waiting[0])
            pending = [at for at in pending if at > change]
    return {"period": period, "intervals": intervals, "visible": visible, "cycles": len(published), "code": code,
            "rss": run.tree.peak_rss, "pss": run.tree.peak_pss, "cpu": run.tree.cpu_s, "wall": time.monotonic() - run.started}  # fmt: skip


def spread(values: list[float]) -> str:
    return f"p50 {percentile(values, 50):.3f} s, p95 {percentile(values, 95):.3f} s, max {max(values):.3f} s (n={len(values)})"


def report_production(title: str, interval: float, prod: dict[str, Any]) -> int:
    """Print a production run's figures; 1 when the target was missed or the run failed."""
    print(f"{title}, --interval {interval:g}): exit {prod['code']}, {prod['wall']:.0f} s")
    print(f"  first event (of the last closed hour, produced once the broker is up): stored visible "
          f"{prod['first_stored']:.3f} s, first published cycle visible {prod['first_published']:.3f} s")  # fmt: skip
    p95 = percentile(prod["stored"], 95)
    print(f"  produced -> stored visible on /metrics: {spread(prod['stored'])}; "
          f"target p95 <= {TARGET_P95_S:g} s: ratio {p95 / TARGET_P95_S:.3f}")  # fmt: skip
    print(f"  process tree: peak RSS {prod['rss'] / 2**20:.0f} MiB (PSS {prod['pss'] / 2**20:.0f} MiB), CPU {prod['cpu']:.1f} s "
          f"({prod['cpu'] / prod['wall']:.2f} cores on average)", flush=True)  # fmt: skip
    return int(p95 > TARGET_P95_S) | int(prod["code"] != 0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench freshness", description=__doc__.splitlines()[0])
    parser.add_argument("--markers", type=int, default=25, help="events timed one by one (default 25)")
    parser.add_argument("--interval", type=float, default=5.0, help="the runs' --interval (default 5)")
    parser.add_argument("--days", type=int, default=20, help="the demo run's simulated days (default 20)")
    parser.add_argument("--story", type=float, default=120.0, help="the demo run's --story seconds (default 120)")
    parser.add_argument("--airflow", action="store_true", help="also the production run under run --airflow")
    args = parser.parse_args(argv)
    if args.markers < 20:
        parser.error("at least 20 markers")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores", flush=True)
    status = 0
    with tempfile.TemporaryDirectory(prefix="bench-freshness-") as tmp:
        prod = production(args.markers, args.interval, Path(tmp) / "production")
        status |= report_production("production run (--no-simulator", args.interval, prod)
        if args.airflow:
            flow = production(args.markers, args.interval, Path(tmp) / "airflow", airflow=True)
            status |= report_production("production run under Airflow (--no-simulator --airflow, continuous DAG hourly",
                                        args.interval, flow)  # fmt: skip
            ratio = flow["first_published"] / (2 * AIRFLOW_DAG_S)
            print(f"  first event published visible against 2x the DAG interval ({2 * AIRFLOW_DAG_S} s): ratio {ratio:.3f}")
            status |= int(ratio > 1)
        sim = demo(args.interval, Path(tmp) / "demo", args.days, args.story)
        print(f"demo run (simulator, {args.days} days over {args.story:g} s, --interval {args.interval:g}): "
              f"exit {sim['code']}, {sim['wall']:.0f} s, {sim['cycles']} published cycles")  # fmt: skip
        if sim["intervals"]:
            mean = statistics.fmean(sim["intervals"])
            print(f"  interval between published cycle starts: mean {mean:.3f} s, {spread(sim['intervals'])}; "
                  f"configured {sim['period']:.3f} s: ratio {mean / sim['period']:.3f}")  # fmt: skip
        if sim["visible"]:
            print(f"  published -> visible on /metrics: {spread(sim['visible'])}")
        print(f"  process tree: peak RSS {sim['rss'] / 2**20:.0f} MiB (PSS {sim['pss'] / 2**20:.0f} MiB), CPU {sim['cpu']:.1f} s "
              f"({sim['cpu'] / sim['wall']:.2f} cores on average)")  # fmt: skip
        status |= int(sim["code"] != 0)
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    return status
