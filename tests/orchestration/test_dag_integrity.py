"""DAG integrity: the DAG files parse quickly, without errors, with what every DAG needs."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"alignment_continuous", "alignment_nightly"}

PARSE_PROBE = """
import json, sys, time
import airflow.sdk  # Airflow itself is imported before timing: only the DAG files count
from airflow.dag_processing.dagbag import DagBag
began = time.perf_counter()
bag = DagBag(dag_folder=sys.argv[1])
seconds = time.perf_counter() - began
heavy = sorted(m for m in ("great_expectations", "pandas", "alignwatch.pipeline", "alignwatch.metrics.engine") if m in sys.modules)
print(json.dumps({"seconds": seconds, "dags": sorted(bag.dags), "errors": {k: str(v) for k, v in bag.import_errors.items()}, "heavy": heavy}))
"""


@pytest.mark.integration
def test_dag_files_parse_in_under_two_seconds_without_errors_or_heavy_imports(airflow_db: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PARSE_PROBE, str(DAGS)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ),
        timeout=120,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert set(report["dags"]) == EXPECTED
    assert report["heavy"] == []
    assert report["seconds"] < 2.0


@pytest.mark.integration
def test_dag_bag_loads_both_dags_without_import_errors(dag_bag: Any) -> None:
    assert dag_bag.import_errors == {}
    assert set(dag_bag.dags) == EXPECTED


@pytest.mark.integration
@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_every_dag_has_schedule_utc_start_tags_retries_and_docs(dag_bag: Any, dag_id: str) -> None:
    dag = dag_bag.dags[dag_id]
    assert dag.timetable is not None and dag.timetable.can_be_scheduled
    assert dag.start_date.utcoffset() == dt.timedelta(0)
    assert "alignwatch" in dag.tags
    assert dag.doc_md and dag_id in dag.doc_md
    assert dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.retries >= 2


@pytest.mark.integration
def test_nightly_dag_runs_at_two_in_the_business_timezone(dag_bag: Any) -> None:
    nightly = dag_bag.dags["alignment_nightly"]
    assert nightly.timetable.expression == "0 2 * * *"
    assert str(nightly.timetable.timezone) == os.environ.get("ALIGNWATCH_BUSINESS_TIMEZONE", "UTC")
    continuous = dag_bag.dags["alignment_continuous"]
    assert continuous.timetable.delta == dt.timedelta(minutes=5)
