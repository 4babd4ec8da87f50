"""
### alignment_continuous

Every few minutes (``ALIGNWATCH_CONTINUOUS_EVERY_MINUTES``, default 5): computes the hour
windows that closed in the run's data interval and recomputes the last 24 hours (late
events of the day), validates the events and the values with the Great Expectations suites
and publishes only when both pass (``alignwatch.pipeline.continuous_task``).

The task's state tells the truth (``alignwatch.pipeline.task_result``): **skipped** when no
hour closed in the data interval (nothing to publish; the run's heartbeat is recorded),
**failed** (after its retries) when validation failed (the run is recorded as
``failed_validation``, nothing is published), **success** when it published. Every run,
skipped ones included, records a heartbeat that the exporter serves for the freshness
alert.

The store and the strategy file come from the Airflow Variables ``alignwatch_store_url``
and ``alignwatch_strategy_file`` when set, else from ``ALIGNWATCH_STORE_URL`` and
``ALIGNWATCH_STRATEGY_FILE``. See ``docs/airflow.md``.
"""

from __future__ import annotations

import datetime as dt
import os

from airflow.sdk import DeltaDataIntervalTimetable, dag, task

EVERY = dt.timedelta(minutes=int(os.environ.get("ALIGNWATCH_CONTINUOUS_EVERY_MINUTES", "5")))


@dag(
    dag_id="alignment_continuous",
    schedule=DeltaDataIntervalTimetable(EVERY),
    start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    catchup=False,
    max_active_runs=1,
    tags=["alignwatch", "continuous"],
    doc_md=__doc__,
    default_args={"owner": "alignwatch", "retries": 2},
)
def alignment_continuous() -> None:
    @task
    def aggregate(store_url: str, strategy_file: str, data_interval_start=None, data_interval_end=None):  # type: ignore[no-untyped-def]
        """Compute, validate and publish the windows that closed in the data interval."""
        # heavy (metric engine, Great Expectations): imported when the task runs, never at DAG parse time
        from alignwatch.pipeline import continuous_task, task_result

        return task_result(
            continuous_task(store_url or None, strategy_file or None, start=data_interval_start, end=data_interval_end)
        )

    aggregate(
        store_url="{{ var.value.get('alignwatch_store_url', '') }}",
        strategy_file="{{ var.value.get('alignwatch_strategy_file', '') }}",
    )


alignment_continuous()
