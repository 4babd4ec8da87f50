"""``alignwatch run --airflow`` end to end: the project's DAGs in ``airflow standalone`` publish into the run's store."""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import sys
import urllib.request
from pathlib import Path

import psutil
import pytest
from helpers_run import sai_series_name, still_running, watch_run

DURATION_S = 180
# Airflow starts, parses the DAGs and finishes the first continuous run about 16 s into the
# run on two idle cores, about 29 s with four other busy processes, and more than 60 s when
# the nightly DAG's first run recomputes a day beside it on a loaded machine: the test stops
# the run with Ctrl-C once the continuous run is published and logged, and the duration
# is only the limit. The simulator replays its 28 days over
# 240 s (8.6 s a simulated day), so the test sees only the oldest few: the continuous run's
# last 24 hours and the seven days its volume band is learned from stay empty, and its
# validation does not depend on the hour of day at which the test runs. Its 28-day window
# ends at the hour that closed last and so leaves out as many hours of the first simulated
# day as the hour of day: late in the day, a first run 15 s in needs more than the first
# day stored for the window to hold data (over 600 s, at 23:00 UTC it held 7 events and no SAI).
STORY_S = 240


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def started_by(pid: int) -> list[int]:
    """``pid``'s descendants: the test's ``alignwatch run`` and everything it started."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _started_with_home(home: Path) -> list[int]:
    """Live processes whose environment has ``AIRFLOW_HOME=home`` (what the run's Airflow started)."""
    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("AIRFLOW_HOME") == str(home) and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.solo
def test_a_bakery_run_with_airflow_listens_on_loopback_only_keeps_the_admin_password_in_a_private_file_publishes_from_the_dag_stops_on_ctrl_c_and_leaves_no_process(
    tmp_path: Path,
):
    var = tmp_path / "var"
    home = (var / "airflow").resolve()
    api_port, worker_log_port, trigger_log_port = _free_ports(3)
    env = {key: value for key, value in os.environ.items() if not key.startswith(("ALIGNWATCH_", "AIRFLOW"))}
    env.update({
        "ALIGNWATCH_EXPORTER_PORT": "0",
        # an hourly continuous DAG: its first run, scheduled as soon as the DAG is parsed,
        # covers the hour that closed last (a 5-minute run publishes only across an hour)
        "ALIGNWATCH_CONTINUOUS_EVERY_MINUTES": "60",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_log_port),
    })
    command = [str(Path(sys.executable).with_name("alignwatch")), "run", "--scenario", "bakery", "--airflow",
               "--duration", str(DURATION_S), "--story", str(STORY_S), "--var", str(var)]
    api_answered = False
    listening: set[tuple[str, int, str]] = set()

    def ask_the_api() -> None:
        nonlocal api_answered
        # every socket the run's processes listen on, while they run
        for pid in started_by(os.getpid()):
            try:
                proc = psutil.Process(pid)
                listening.update((c.laddr.ip, c.laddr.port, proc.name()) for c in proc.net_connections(kind="inet")
                                 if c.status == psutil.CONN_LISTEN)
            except psutil.Error:
                continue
        if not api_answered:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{api_port}/api/v2/monitor/health", timeout=2) as response:
                    api_answered = response.status == 200
            except OSError:
                pass

    def published_and_logged() -> bool:
        try:
            with sqlite3.connect(var / "demo-bakery.db") as db:
                published = db.execute(
                    "select count(*) from pipeline_runs where kind = 'continuous' and status = 'published'"
                ).fetchone()[0]
        except sqlite3.Error:
            return False
        log = (var / "airflow.log").read_text(errors="replace") if (var / "airflow.log").exists() else ""
        logged = re.search(r"Returned value was: \{'run_id': \d+, 'kind': 'continuous', 'status': 'published'.* dag_id=alignment_continuous ", log)
        return api_answered and published > 0 and logged is not None

    run = watch_run(command, env, each_second=ask_the_api, stop_when=published_and_logged)
    output = run.output
    airflow_log = (var / "airflow.log").read_text(errors="replace")
    assert run.returncode == 0, output[-3000:] + airflow_log[-3000:]

    passwords = home / "simple_auth_manager_passwords.json"
    standalone = re.search(rf"^airflow: pid (\d+), http://127.0.0.1:{api_port} \(log .*; user admin, password in {re.escape(str(passwords))}\)$",
                           output, re.M)
    broker = re.search(r"broker: Tansu pid (\d+)", output)
    assert standalone and broker, output[-3000:]
    assert int(standalone.group(1)) in run.children
    alive = still_running(run.children | {int(broker.group(1))})
    assert not alive, f"still running after exit: {alive}"
    assert not _started_with_home(home), "Airflow processes still running after exit"
    assert api_answered, f"the API server never answered on port {api_port}"

    # nothing listened beyond loopback: not the API server, and no log server at all
    assert any(port == api_port for _, port, _ in listening), listening
    assert all(ip in ("127.0.0.1", "::1") for ip, _, _ in listening), f"listening beyond loopback: {sorted(listening)}"
    assert not {worker_log_port, trigger_log_port} & {port for _, port, _ in listening}
    # the admin password: in a file only its owner reads, never in the log or the output
    assert passwords.stat().st_mode & 0o777 == 0o600
    password = json.loads(passwords.read_text())["admin"]
    assert len(password) == 16
    assert password not in airflow_log and password not in output

    assert "cycle: run" not in output, "the in-process schedule ran although Airflow was asked for"
    with sqlite3.connect(var / "demo-bakery.db") as db:
        runs = db.execute(
            "select id, trigger, details from pipeline_runs where kind = 'continuous' and status = 'published'"
        ).fetchall()
    assert runs, airflow_log[-3000:]
    for run_id, trigger, details in runs:
        assert trigger == "airflow:alignment_continuous"
        assert json.loads(details)["owner"]["pid"] != run.pid
        task_returned = rf"Returned value was: \{{'run_id': {run_id}, 'kind': 'continuous', 'status': 'published'.* dag_id=alignment_continuous "
        assert re.search(task_returned, airflow_log), f"the Airflow log does not show the task that published run {run_id}"

    assert run.sai_line is not None, f"/metrics never exposed {sai_series_name()}\n{output[-3000:]}"
    assert re.search(r"\} [0-9.]+(e[+-]?\d+)?$", run.sai_line)
