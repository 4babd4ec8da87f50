"""Pipeline runs on a PostgreSQL store: publish when valid, hold back when not, never both."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from alignwatch.metrics.runs import latest_snapshot
from alignwatch.pipeline import nightly_task, run_interval
from alignwatch.store.schema import events, pipeline_runs

STRATEGY = Path(__file__).resolve().parents[2] / "examples" / "bakery.yaml"
DAY0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
INGESTED = DAY0 + dt.timedelta(days=30)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def strategy() -> Any:
    from alignwatch.metrics.strategy import load_strategy

    return load_strategy(STRATEGY)


def runs(engine: sa.Engine) -> list[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.select(pipeline_runs).order_by(pipeline_runs.c.id)).all()


def night(days_after_day0: int) -> dt.datetime:
    """02:00 UTC of DAY0 + n days: the nightly run for the local day before."""
    return DAY0 + dt.timedelta(days=days_after_day0, hours=2)


def test_a_valid_interval_is_published_and_served_by_the_snapshot(
    store: sa.Engine, strategy: Any, insert_events: Any, simulated: Any, metric_rows: Any
) -> None:
    insert_events(store, simulated(DAY0, 2, 200), INGESTED)
    outcome = nightly_task(store, strategy, end=night(2), days=1)
    assert outcome.status == "published", outcome.validation
    (run,) = runs(store)
    assert run.status == "published" and run.value_count == outcome.value_count > 0
    assert run.validation["success"] is True and run.validation["failed"] == []
    assert {suite["suite"] for suite in run.validation["suites"]} == {"raw_events", "metric_values"}
    assert len(metric_rows(store)) == outcome.value_count
    snapshot = latest_snapshot(store)
    assert snapshot.validation_ok is True
    assert {v.metric_id for v in snapshot.values} >= {"sai", "sai_contribution"}
    assert {v.window for v in snapshot.values} == {"hour", "day", "7d", "28d"}


def test_failed_validation_is_recorded_with_details_and_leaves_the_published_snapshot_unchanged(
    store: sa.Engine, strategy: Any, insert_events: Any, simulated: Any, metric_rows: Any
) -> None:
    from prometheus_client import CollectorRegistry

    from alignwatch.metrics.exporter import SnapshotCollector

    # a week of normal trading, then a day on which the feed collapses to one odd event
    insert_events(store, simulated(DAY0, 7, 7 * 80), INGESTED)
    published = nightly_task(store, strategy, end=night(7), days=1)
    assert published.status == "published", published.validation
    rows_before = metric_rows(store)
    snapshot_before = latest_snapshot(store).values
    with store.begin() as conn:
        conn.execute(
            events.insert().values(
                source="sim://bakery/survey",
                event_id="odd-1",
                type="customer.feedback",
                time=DAY0 + dt.timedelta(days=7, hours=10),
                actor_id="c-1",
                data={"customer_id": "c-1", "csat": 7},
                ingested_at=INGESTED,
            )
        )

    outcome = nightly_task(store, strategy, end=night(8), days=1)

    assert outcome.status == "failed_validation"
    run = runs(store)[-1]
    assert run.status == "failed_validation" and run.id == outcome.run_id
    failed = set(run.validation["failed"])
    assert {"raw_events.expect_payload_field_in_range", "raw_events.expect_volume_within_learned_band"} <= failed
    raw = next(s for s in run.validation["suites"] if s["suite"] == "raw_events")
    csat = next(e for e in raw["expectations"] if e["kwargs"].get("column") == "csat")
    assert csat["success"] is False and csat["observed"]["partial_unexpected_list"] == [7.0]
    volume = next(e for e in raw["expectations"] if e["expectation"] == "expect_volume_within_learned_band")
    assert volume["observed"]["observed_value"] < 5 < volume["kwargs"]["min_value"]
    assert len(run.details["held_back"]) == run.value_count > 0
    assert metric_rows(store) == rows_before
    snapshot = latest_snapshot(store)
    assert snapshot.values == snapshot_before
    assert snapshot.validation_ok is False
    assert "raw_events.expect_volume_within_learned_band" in snapshot.failed_expectations

    registry = CollectorRegistry()
    registry.register(SnapshotCollector(lambda: latest_snapshot(store), business="bakery", families={}))
    assert registry.get_sample_value("alignwatch_pipeline_validation_success", {"business": "bakery"}) == 0.0
    assert registry.get_sample_value("alignwatch_pipeline_validation_failed_expectations", {"business": "bakery"}) == len(
        run.validation["failed"]
    )


def test_an_error_while_computing_marks_the_run_error_and_is_raised(store: sa.Engine, strategy: Any) -> None:
    def broken(*_args: Any, **_kwargs: Any) -> list[Any]:
        raise RuntimeError("aggregation exploded")

    with pytest.raises(RuntimeError, match="exploded"):
        run_interval(store, strategy, start=DAY0, end=DAY0 + dt.timedelta(hours=1), compute=broken)
    (run,) = runs(store)
    assert run.status == "error" and "aggregation exploded" in run.details["error"]
    assert latest_snapshot(store).values == ()


def test_a_task_given_an_unmigrated_store_url_fails_with_a_store_error(tmp_path: Path) -> None:
    from alignwatch.errors import StoreError

    with pytest.raises(StoreError, match="alignwatch db upgrade"):
        nightly_task(f"sqlite:///{tmp_path / 'empty.db'}", str(STRATEGY), end=night(1), days=1)
