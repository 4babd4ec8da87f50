"""``alignwatch run`` end to end: broker, store, consumer, aggregation, exporter and simulator."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from helpers_run import REPO, sai_series_name, still_running, watch_run


@pytest.mark.integration
@pytest.mark.solo
def test_a_45_second_bakery_run_ingests_publishes_exposes_the_sai_reports_overproduction_and_leaves_no_process(
    tmp_path: Path, chromium
):
    var = tmp_path / "var"
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALIGNWATCH_")}
    env["ALIGNWATCH_EXPORTER_PORT"] = "0"
    command = [str(Path(sys.executable).with_name("alignwatch")), "run", "--scenario", "bakery",
               "--duration", "45", "--var", str(var)]
    run = watch_run(command, env)
    output = run.output
    assert run.returncode == 0, output[-3000:]

    broker = re.search(r"broker: Tansu pid (\d+)", output)
    assert broker, output[-3000:]
    alive = still_running(run.children | {int(broker.group(1))})
    assert not alive, f"still running after exit: {alive}"

    assert run.sai_line is not None, f"/metrics never exposed {sai_series_name()}\n{output[-3000:]}"
    assert re.search(r"\} [0-9.]+(e[+-]?\d+)?$", run.sai_line)

    with sqlite3.connect(var / "demo-bakery.db") as db:
        (events,) = db.execute("select count(*) from events").fetchone()
        (published,) = db.execute("select count(*) from pipeline_runs where status = 'published'").fetchone()
    assert events > 1000
    assert published >= 2, output[-3000:]

    report = var / "report-bakery.html"
    assert f"report written to {report.resolve()}" in output
    # then what to try next, on the demo's store (the README's commands)
    assert f"\n  alignwatch scorecard --store sqlite:///{var / 'demo-bakery.db'} --window 7d\n" in output
    assert re.search(r"^pitfalls: .*overproduction", output, re.M)
    dom = chromium("--dump-dom", report.resolve().as_uri()).stdout.decode()
    assert 'data-pitfall="overproduction"' in dom
    sai = re.search(r'id="sai" data-value="([0-9.]+)">([0-9.]+)<', dom)
    assert sai and f"{float(sai.group(1)):.1f}" == sai.group(2)


@pytest.mark.integration
def test_sigint_stops_every_component_cleanly_with_a_zero_exit_status(tmp_path: Path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("ALIGNWATCH_")}
    env["ALIGNWATCH_EXPORTER_PORT"] = "0"
    command = [str(Path(sys.executable).with_name("alignwatch")), "run", "--scenario", "bakery", "--events", "2000",
               "--var", str(tmp_path / "var")]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stdout.readline, "")), daemon=True)
    reader.start()
    started: set[int] = set()
    try:
        deadline = time.monotonic() + 60
        while not any(line.startswith("report: will be written") for line in list(lines)):
            assert process.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.2)
        started.update(child.pid for child in psutil.Process(process.pid).children(recursive=True))
        process.send_signal(signal.SIGINT)
        process.wait(timeout=180)  # a component busy at the signal is awaited up to 120 s
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(timeout=5)
    process.stdout.close()
    output = "".join(lines)
    assert process.returncode == 0, output[-3000:]
    broker = re.search(r"broker: Tansu pid (\d+)", output)
    assert broker and int(broker.group(1)) in started
    alive = still_running(started)
    assert not alive, f"still running after Ctrl-C: {alive}"
    assert "report written to" in output
