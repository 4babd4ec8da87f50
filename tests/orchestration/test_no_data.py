"""No data is not a zero: a run with no event in its interval nor in the 28 days its rolling
windows read fails validation and publishes nothing; a quiet hour beside busy days publishes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from alignwatch.pipeline import run_interval
from alignwatch.store.schema import metric_values

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
DAY0 = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)


def published(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(metric_values)).scalar_one())


def test_metrics_compute_over_a_range_without_events_publishes_nothing_and_says_why(store_url: str) -> None:
    from alignwatch.cli import cli
    from alignwatch.store import connect

    result = CliRunner().invoke(cli, ["metrics", "compute", "--from", "2026-03-01", "--to", "2026-03-02",
                                      "--store", store_url, "--strategy", str(STRATEGY)])  # fmt: skip
    assert result.exit_code == 1, result.output
    # the error main() prints in one line
    assert str(result.exception) == "run 1 failed_validation: validation failed: raw_events.expect_events_in_window"
    engine = connect(store_url)
    try:
        assert published(engine) == 0
    finally:
        engine.dispose()


def test_a_quiet_hour_within_28_days_of_events_is_published_not_refused_as_no_data(
    store_engine: sa.Engine, insert_events: Any, simulated: Any
) -> None:
    from alignwatch.metrics.strategy import load_strategy

    insert_events(store_engine, simulated(DAY0, 2, 240), DAY0 + dt.timedelta(days=3))
    quiet = DAY0 + dt.timedelta(days=10)  # eight days after the last event: its 7d and 28d windows hold them
    outcome = run_interval(store_engine, load_strategy(STRATEGY), start=quiet, end=quiet + dt.timedelta(hours=1))
    assert outcome.status == "published", outcome.validation["failed"]
    assert published(store_engine) > 0
