"""
### alignment_nightly

At 02:00 in the business's timezone (``ALIGNWATCH_NIGHTLY_CRON``, default ``0 2 * * *``;
``ALIGNWATCH_BUSINESS_TIMEZONE``, default UTC): recomputes the last ``days`` local days
(DAG param, default 7) and every older local day that received events since the previous
published nightly run, however old, with the 7d and 28d windows that cover it (at most
``ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS`` such days, default 62, oldest first; the rest are
logged and left to the next run), validates and publishes
(``alignwatch.pipeline.nightly_task``). The same night run twice writes the same rows.

The task **fails** (after its retries) when validation failed: nothing is published, the
run is recorded as ``failed_validation`` (``alignwatch.pipeline.task_result``).

Catch-up is off by default: a newly deployed DAG runs the latest night only (each run
recomputes 7 days and every day with late events anyway), never every night since
``start_date``. ``ALIGNWATCH_NIGHTLY_CATCHUP=true`` replays the nights missed while the
scheduler was down, from ``ALIGNWATCH_NIGHTLY_START_DATE`` (an ISO date, default
2026-01-01; set it to the date of the store's first event). Both are read when the file is
parsed. Any range can be recomputed with Airflow's own backfill, one run per night:

    airflow backfill create --dag-id alignment_nightly --from-date 2026-03-01 --to-date 2026-03-31 --dag-run-conf '{"days": 1}'

The store and the strategy file come from the Airflow Variables ``alignwatch_store_url``
and ``alignwatch_strategy_file`` when set, else from ``ALIGNWATCH_STORE_URL`` and
``ALIGNWATCH_STRATEGY_FILE``. See ``docs/airflow.md``.
"""

from __future__ import annotations

import os

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from alignwatch.config import nightly_schedule

CRON = os.environ.get("ALIGNWATCH_NIGHTLY_CRON", "0 2 * * *")
TIMEZONE = os.environ.get("ALIGNWATCH_BUSINESS_TIMEZONE", "UTC")
START_DATE, CATCHUP = nightly_schedule(os.environ)


@dag(
    dag_id="alignment_nightly",
    schedule=CronDataIntervalTimetable(CRON, timezone=TIMEZONE),
    start_date=START_DATE,
    catchup=CATCHUP,
    max_active_runs=1,
    tags=["alignwatch", "nightly"],
    doc_md=__doc__,
    params={
        "days": Param(
            7, type="integer", minimum=1, description="Local days to recompute, ending last midnight (plus the late days)."
        )
    },
    default_args={"owner": "alignwatch", "retries": 2},
)
def alignment_nightly() -> None:
    @task
    def recompute(store_url: str, strategy_file: str, days: int, data_interval_end=None):  # type: ignore[no-untyped-def]
        """Recompute, validate and publish the last ``days`` local days and the days with late events."""
        # heavy (metric engine, Great Expectations): imported when the task runs, never at DAG parse time
        from alignwatch.pipeline import nightly_task, task_result

        return task_result(nightly_task(store_url or None, strategy_file or None, end=data_interval_end, days=int(days)))

    recompute(
        store_url="{{ var.value.get('alignwatch_store_url', '') }}",
        strategy_file="{{ var.value.get('alignwatch_strategy_file', '') }}",
        days="{{ params.days }}",
    )


alignment_nightly()
