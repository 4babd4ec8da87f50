"""Airflow running the project's DAGs, for ``alignwatch run --airflow``.

:func:`launch_airflow` starts a small leader process (``python -m alignwatch.airflow_launch``)
in a session of its own (stopped with every process of the session,
:func:`alignwatch.processes.stop_session`), with ``AIRFLOW_HOME`` under the run's ``var``
directory, the DAG folder shipped with the package and the run's store, strategy and broker
in its environment; its output and its components' go to ``<var>/airflow.log``.

The leader does what ``airflow standalone`` does (migrate the metadata DB, then run the
scheduler, the DAG processor, the triggerer and the API server) with two differences that
make it safe on a shared machine:

- nothing listens beyond loopback: the API server (and UI) binds ``127.0.0.1`` unless
  ``AIRFLOW__API__HOST`` says otherwise, and the scheduler and triggerer run with
  ``--skip-serve-logs``, because Airflow's log servers always bind every interface (the
  host is not configurable) and are not needed when the API server reads the task logs
  from the same ``AIRFLOW_HOME/logs``;
- the simple auth manager's admin password is never printed: it is generated here, before
  Airflow starts, into a file of mode 0600 (Airflow prints only passwords it generates
  itself), and the run prints the file's path.

Leaving out ``standalone``'s parent process (a whole Airflow import) and the two log servers
also saves about 200 MB (1.29 GB PSS in all before, 1.09 GB after, on the bakery demo:
``scripts/run-memory``).
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from alignwatch.config import Settings
from alignwatch.stream.broker import parent_death_signal

__all__ = ["AIRFLOW_LOG", "COMPONENTS", "DAGS", "PASSWORDS_FILE", "AirflowLaunch", "launch_airflow", "write_passwords"]

#: the project's DAG files, shipped in the package (alignwatch/dags links to the repository's dags/)
DAGS = (Path(__file__).parent / "dags").resolve()
#: Airflow's log file, in the run's var directory
AIRFLOW_LOG = "airflow.log"
#: the simple auth manager's passwords (user -> password, JSON), in ``AIRFLOW_HOME``
PASSWORDS_FILE = "simple_auth_manager_passwords.json"
#: what the leader runs after ``airflow db migrate``: ``airflow standalone``'s components,
#: without the log servers (they bind every interface); the API server first, since the
#: task processes the scheduler starts report to its execution API
COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
#: how long the leader waits for the API server to accept connections before starting the rest
API_START_TIMEOUT_S = 180.0
#: simple auth manager users when ``AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS`` is not set
DEFAULT_USERS = "admin:admin"
#: the alphabet of generated passwords (Airflow's own: no look-alike characters)
_ALPHABET = "abcdefghkmnpqrstuvwxyzABCDEFGHKMNPQRSTUVWXYZ23456789"


@dataclass(frozen=True)
class AirflowLaunch:
    """A started Airflow: the leader process, the API's URL and the file holding the passwords."""

    process: subprocess.Popen[bytes]
    url: str
    passwords_file: Path


def write_passwords(path: Path, users: list[str]) -> None:
    """Give every user in ``users`` a random password in ``path`` (JSON), readable by its owner only.

    Passwords already in the file are kept; the file is created with mode 0600 (never
    readable by others, not even for an instant) and set to 0600 when it already existed.
    """
    passwords: dict[str, str] = {}
    if path.exists():
        os.chmod(path, 0o600)
        text = path.read_text().strip()
        passwords = json.loads(text) if text else {}
    missing = [user for user in users if user not in passwords]
    if not missing and path.exists():
        return
    for user in missing:
        passwords[user] = "".join(secrets.choice(_ALPHABET) for _ in range(16))
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(json.dumps(passwords) + "\n")


def _airflow_env(settings: Settings, home: Path) -> tuple[dict[str, str], str]:
    """The environment of Airflow's processes and the API's URL.

    Operators' ``AIRFLOW__*`` settings win over every default set here.
    """
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),  # the leader starts `airflow` sub-commands
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "ALIGNWATCH_STORE_URL": settings.store_url,
        "ALIGNWATCH_STRATEGY_FILE": str(Path(settings.strategy_file).resolve()),
        "ALIGNWATCH_BOOTSTRAP_SERVERS": ",".join(settings.bootstrap_servers),
    }
    env.setdefault("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    env.setdefault("AIRFLOW__CORE__AUTH_MANAGER",
                   "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager")
    env.setdefault("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE", str(home / PASSWORDS_FILE))
    env.setdefault("AIRFLOW__API__HOST", "127.0.0.1")
    # only served when [scheduler] enable_health_check is on; loopback then too
    env.setdefault("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST", "127.0.0.1")
    # the API server listens on [api] host and port (8080 unless AIRFLOW__API__PORT says
    # otherwise); the task workers reach its execution API at [api] base_url, which defaults to
    # localhost:8080 whatever the host and port, so both are carried into it unless it is set
    host, port = env["AIRFLOW__API__HOST"], env.get("AIRFLOW__API__PORT", "8080")
    url_host = "localhost" if host in ("0.0.0.0", "::", "") else (f"[{host}]" if ":" in host else host)
    if not env.get("AIRFLOW__API__BASE_URL"):
        env["AIRFLOW__API__BASE_URL"] = f"http://{url_host}:{port}"
    return env, env["AIRFLOW__API__BASE_URL"]


def launch_airflow(settings: Settings, var_dir: Path) -> AirflowLaunch:
    """Start Airflow over the project's DAGs, its admin password in a file of mode 0600."""
    home = (var_dir / "airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    env, url = _airflow_env(settings, home)
    passwords_file = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    if env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS", "").lower() != "true":
        users = env.get("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS") or DEFAULT_USERS
        write_passwords(passwords_file, [user.split(":")[0].strip() for user in users.split(",") if user.strip()])
    log_file = open(var_dir / AIRFLOW_LOG, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [sys.executable, "-m", "alignwatch.airflow_launch"], stdout=log_file, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, env=env, start_new_session=True, preexec_fn=parent_death_signal(),
    )
    log_file.close()
    return AirflowLaunch(process, url, passwords_file)


def lead() -> int:
    """The leader: ``airflow db migrate``, then every component until one exits or SIGTERM.

    Returns the exit status: 0 after SIGTERM, else that of the first component that ended
    (Airflow's components run until stopped, so any end is a failure).
    """
    airflow = str(Path(sys.executable).with_name("airflow"))
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("leader | airflow db migrate", flush=True)
    migrate = subprocess.run([airflow, "db", "migrate"], stdin=subprocess.DEVNULL, check=False)
    if migrate.returncode != 0 or stopping:
        return 0 if stopping else migrate.returncode
    pdeathsig = parent_death_signal()
    children: dict[str, subprocess.Popen[bytes]] = {}
    for name, command in COMPONENTS.items():
        children[name] = subprocess.Popen([airflow, *command], stdin=subprocess.DEVNULL, preexec_fn=pdeathsig)
        print(f"leader | started {name} pid {children[name].pid}", flush=True)
        if name == "api-server":
            # on a loaded machine the API server takes tens of seconds to listen: tasks the
            # scheduler started before then failed with "connection refused"
            _wait_for_api(children[name], lambda: stopping)
    status = 0
    while not stopping:
        ended = next(((name, child) for name, child in children.items() if child.poll() is not None), None)
        if ended is not None:
            print(f"leader | {ended[0]} exited with status {ended[1].returncode}", flush=True)
            status = ended[1].returncode or 1
            break
        time.sleep(0.5)
    for child in children.values():
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 10
    for child in children.values():
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return status


def _wait_for_api(api_server: subprocess.Popen[bytes], stopping: Callable[[], bool]) -> None:
    """Wait until the API server accepts connections (or exits, or the leader is stopped)."""
    host = os.environ.get("AIRFLOW__API__HOST", "127.0.0.1")
    host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    port = int(os.environ.get("AIRFLOW__API__PORT", "8080"))
    deadline = time.monotonic() + API_START_TIMEOUT_S
    while api_server.poll() is None and not stopping() and time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(lead())
