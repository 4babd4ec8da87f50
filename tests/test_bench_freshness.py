"""The freshness benchmark's arithmetic (``bench/bench_freshness.py``): its percentiles and the
reading of a served sample, on hand-made inputs."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_freshness.py"
spec = importlib.util.spec_from_file_location("bench_freshness", BENCH)
assert spec is not None and spec.loader is not None
freshness = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = freshness  # its dataclasses look their module up there
spec.loader.exec_module(freshness)


def test_percentiles_are_nearest_rank() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0, 10.0, 9.0, 8.0, 7.0, 6.0]  # 1..10, shuffled
    # nearest rank: the ceil(q/100 * n)-th smallest
    assert freshness.percentile(values, 50) == 5.0
    assert freshness.percentile(values, 95) == 10.0  # ceil(9.5) = 10th
    assert freshness.percentile(values, 90) == 9.0
    assert freshness.percentile(values, 0) == 1.0
    assert freshness.percentile([2.5], 95) == 2.5
    with pytest.raises(ValueError):
        freshness.percentile([], 50)


def test_a_served_sample_is_found_by_name_and_labels() -> None:
    body = "\n".join([
        "# HELP alignwatch_ingest_events_stored_total Events stored.",
        "alignwatch_ingest_events_stored_created 1.7e+09",
        "alignwatch_ingest_events_stored_total 26.0",
        'alignwatch_pipeline_last_run_timestamp_seconds{business="b",kind="continuous",status="failed_validation"} 1.0',
        'alignwatch_pipeline_last_run_timestamp_seconds{business="b",kind="continuous",status="published"} 2.5',
    ])  # fmt: skip
    assert freshness.served(body, "alignwatch_ingest_events_stored_total") == 26.0
    assert freshness.served(body, "alignwatch_pipeline_last_run_timestamp_seconds", status="published") == 2.5
    assert freshness.served(body, "alignwatch_pipeline_last_run_timestamp_seconds", status="error") is None
    # a longer name sharing the prefix is another series
    assert freshness.served(body, "alignwatch_ingest_events_stored") is None
