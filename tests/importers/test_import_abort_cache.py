"""An aborted import that a computation already aggregated leaves no stale cached hours."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from alignwatch.metrics.hourcache import cached_aggregates
from alignwatch.store.schema import aggregated_hours, events
from alignwatch.stream.importers.base import Emitted
from alignwatch.stream.importers.output import StoreOutput


def test_aborting_an_import_forgets_the_hours_aggregated_from_its_rows(store_engine: sa.Engine) -> None:
    t0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)
    output = StoreOutput(store_engine, "import/probe", batch_size=1)
    for n in range(3):
        output.write(
            Emitted(
                type="workforce.survey",
                id=f"s{n}",
                time=t0 + dt.timedelta(minutes=10 * n),
                data={"employee_id": f"e{n}", "satisfaction": 4},
            )
        )
    output.write(  # flushes the third row: every row is stored before the import fails
        Emitted(type="workforce.survey", id="s3", time=t0, data={"employee_id": "e3", "satisfaction": 3})
    )
    with store_engine.connect() as conn:
        cached_aggregates(
            conn, t0, t0 + dt.timedelta(hours=1), sla_s=300, now=lambda: t0 + dt.timedelta(days=1)
        )
    with store_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(aggregated_hours)).scalar_one() == 1

    output.abort()

    with store_engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(events)).scalar_one() == 0
        assert conn.execute(sa.select(sa.func.count()).select_from(aggregated_hours)).scalar_one() == 0
