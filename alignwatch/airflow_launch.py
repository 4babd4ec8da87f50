"""``airflow standalone`` running the project's DAGs, for ``alignwatch run --airflow``.

:func:`launch_airflow` starts it in a session of its own (stopped with every process of the
session, :func:`alignwatch.processes.stop_session`), with ``AIRFLOW_HOME`` under the run's
``var`` directory, the DAG folder of this repository and the run's store, strategy and
broker in its environment; its output goes to ``<var>/airflow.log``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alignwatch.config import Settings
from alignwatch.stream.broker import parent_death_signal

__all__ = ["AIRFLOW_LOG", "DAGS", "launch_airflow"]

#: the DAG folder of this repository
#: the project's DAG files, shipped in the package (alignwatch/dags links to the repository's dags/)
DAGS = (Path(__file__).parent / "dags").resolve()
#: Airflow's log file, in the run's var directory
AIRFLOW_LOG = "airflow.log"


def launch_airflow(settings: Settings, var_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``airflow standalone`` over the project's DAGs; the process and the API's URL."""
    home = (var_dir / "airflow").resolve()
    home.mkdir(parents=True, exist_ok=True)
    bin_dir = str(Path(sys.executable).parent)
    env = {
        **os.environ,
        "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),  # standalone starts `airflow` sub-commands
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "ALIGNWATCH_STORE_URL": settings.store_url,
        "ALIGNWATCH_STRATEGY_FILE": str(Path(settings.strategy_file).resolve()),
        "ALIGNWATCH_BOOTSTRAP_SERVERS": ",".join(settings.bootstrap_servers),
    }
    # the API server listens on [api] port (8080 unless AIRFLOW__API__PORT says otherwise); the
    # task workers reach its execution API at [api] base_url, which defaults to port 8080 whatever
    # the port, so a port asked for is carried into the base URL unless one is set
    port = env.get("AIRFLOW__API__PORT", "8080")
    if "AIRFLOW__API__PORT" in env and not env.get("AIRFLOW__API__BASE_URL"):
        env["AIRFLOW__API__BASE_URL"] = f"http://localhost:{port}"
    url = env.get("AIRFLOW__API__BASE_URL") or f"http://localhost:{port}"
    airflow = Path(sys.executable).with_name("airflow")
    log_file = open(var_dir / AIRFLOW_LOG, "ab")  # noqa: SIM115 - closed with the process
    process = subprocess.Popen(
        [str(airflow), "standalone"], stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        env=env, start_new_session=True, preexec_fn=parent_death_signal(),
    )
    log_file.close()
    return process, url
