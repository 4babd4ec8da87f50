"""Metric engine benchmark on PostgreSQL (a database created for the run, dropped after it).

1. **A day of 1M events**: ``alignwatch.metrics.engine.compute`` of that day (granularity ``day``: the
   day window and the rolling 7d and 28d windows, nothing else stored in them) against one
   raw ``SELECT type, count(*) ... GROUP BY type`` scan of the same rows, in the same run,
   three ways: without the hour-aggregate cache, **cold** (empty cache: the first compute
   of the day, which also fills it) and **warm** (every hour already aggregated by earlier
   runs: the nightly recomputation after the continuous runs). Target: warm compute ÷
   scan ≤ 1.5 (the target is judged on the warm case; cold and uncached are reported).
2. **A 5-minute window with 1× vs 10× history**: ``compute_window`` of one 5-minute
   window (3,000 events) with 100k events of history before it, then with 1M (median of 15
   runs each). Target: the time ratio < 1.2 (the window reads its own rows through the
   index, not the history).

Events are generated in SQL (``generate_series``) with the same rows the ingestion sink
writes (identifier columns copied from the payload), ids from ``examples/ecommerce.yaml``
and the simulator's mix of types. Each timing is the best of several runs.

Options: ``--events N`` (default 1,000,000), ``--keep`` (do not drop the database),
``--json`` (store the payload as ``json`` text instead of the schema's ``jsonb``),
``--admin-url URL`` (default ``ALIGNWATCH_BENCH_PG_ADMIN_URL`` or the local postgres).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alignwatch.metrics.strategy import Strategy

REPO = Path(__file__).resolve().parents[1]
DEFAULT_ADMIN = os.environ.get("ALIGNWATCH_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
DAY = dt.datetime(2026, 7, 1, tzinfo=dt.UTC)
WINDOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
DAY_TARGET = 1.5
HISTORY_TARGET = 1.2

# event types and their share per 1000 (the simulator's base mix)
MIX: tuple[tuple[str, int], ...] = (
    ("automation.run", 185),
    ("process.execution", 185),
    ("customer.touchpoint", 145),
    ("customer.feedback", 60),
    ("customer.order", 145),
    ("finance.entry", 40),
    ("feature.usage", 125),
    ("integration.issue", 2),
    ("data.produced", 20),
    ("data.used", 25),
    ("workforce.task", 48),
    ("workforce.skill", 10),
    ("workforce.survey", 10),
)

_GENERATE = """
INSERT INTO events (source, event_id, type, time, automation_id, process_id, touchpoint_id, case_id, actor_id, data,
                    ingested_at)
SELECT 'bench://' || x.type, :prefix || x.g, x.type, x.time, p.automation_id, p.process_id, p.touchpoint_id,
       p.case_id, p.actor_id, p.data, x.time
FROM (
  SELECT g, :lo + (:hi - :lo) * random() AS time, random() AS r, random() AS q, random() AS s,
         (SELECT t FROM unnest(CAST(:types AS text[]), CAST(:bounds AS int[])) AS m(t, b)
          WHERE (g %% 1000) < b ORDER BY b LIMIT 1) AS type
  FROM generate_series(1, :n) AS g
) AS x
CROSS JOIN LATERAL (
  SELECT
    CASE WHEN x.type IN ('automation.run', 'feature.usage', 'integration.issue', 'data.produced', 'finance.entry')
         THEN (CAST(:automations AS text[]))[1 + floor(x.q * :n_automations)::int] END AS automation_id,
    CASE WHEN x.type IN ('automation.run', 'process.execution')
         THEN (CAST(:processes AS text[]))[1 + floor(x.s * :n_processes)::int] END AS process_id,
    CASE WHEN x.type IN ('customer.touchpoint', 'customer.feedback')
         THEN (CAST(:touchpoints AS text[]))[1 + floor(x.s * :n_touchpoints)::int] END AS touchpoint_id,
    CASE WHEN x.type IN ('data.produced', 'data.used') THEN 'ds-' || (x.g %% 500)
         WHEN x.type IN ('automation.run', 'process.execution') THEN 'case-' || x.g
         WHEN x.type = 'customer.order' THEN 'ord-' || x.g END AS case_id,
    CASE WHEN x.type IN ('customer.touchpoint', 'customer.feedback', 'customer.order')
              THEN 'cust-' || floor(x.r * 2000)::int
         WHEN x.type = 'feature.usage' THEN 'emp-' || floor(x.r * 20)::int
         WHEN x.type LIKE 'workforce.%%' THEN 'emp-' || floor(x.r * 30)::int END AS actor_id
) AS i
CROSS JOIN LATERAL (
  SELECT i.*, CASE x.type
    WHEN 'automation.run' THEN json_build_object('automation_id', i.automation_id, 'process_id', i.process_id,
         'case_id', i.case_id, 'status', CASE WHEN x.r < 0.97 THEN 'succeeded' ELSE 'failed' END,
         'duration_s', round((x.r * 90)::numeric, 2), 'manual_intervention', x.r > 0.95, 'cost', NULL)
    WHEN 'process.execution' THEN json_build_object('process_id', i.process_id, 'case_id', i.case_id,
         'automated', x.r < 0.85, 'cycle_time_s', round((600 + x.q * 3000)::numeric, 1),
         'errors', CASE WHEN x.q < 0.02 THEN 1 ELSE 0 END, 'rework', CASE WHEN x.r > 0.97 THEN 1 ELSE 0 END,
         'units_out', round((2 + x.q * 4)::numeric, 1), 'automated_share', NULL)
    WHEN 'customer.touchpoint' THEN json_build_object('touchpoint_id', i.touchpoint_id, 'customer_id', i.actor_id,
         'channel', i.touchpoint_id, 'handled_by', CASE WHEN x.r < 0.7 THEN 'automation' ELSE 'human' END,
         'resolved', x.q < 0.88, 'escalation_requested', x.q > 0.85,
         'escalation_fulfilled_s', CASE WHEN x.q > 0.85 AND x.r < 0.95 THEN round((30 + x.r * 200)::numeric, 1) END)
    WHEN 'customer.feedback' THEN json_build_object('customer_id', i.actor_id, 'touchpoint_id', i.touchpoint_id,
         'csat', 1 + floor(x.r * 5)::int, 'nps', CASE WHEN x.q < 0.4 THEN floor(x.q * 25)::int END)
    WHEN 'customer.order' THEN json_build_object('customer_id', i.actor_id, 'order_id', i.case_id,
         'amount', round((5 + x.q * 60)::numeric, 2), 'repeat', x.r < 0.45, 'units', 1 + floor(x.q * 5)::int)
    WHEN 'finance.entry' THEN json_build_object('automation_id', i.automation_id,
         'kind', CASE WHEN x.r < 0.4 THEN 'cost' WHEN x.r < 0.8 THEN 'saving' ELSE 'revenue' END,
         'amount', round((10 + x.q * 200)::numeric, 2))
    WHEN 'feature.usage' THEN json_build_object('automation_id', i.automation_id,
         'feature', 'feature_' || floor(x.s * 4)::int, 'user_id', i.actor_id)
    WHEN 'integration.issue' THEN json_build_object('automation_id', i.automation_id, 'kind', 'sync_failure',
         'records', 1 + floor(x.r * 4)::int)
    WHEN 'data.produced' THEN json_build_object('dataset_id', i.case_id, 'automation_id', i.automation_id)
    WHEN 'data.used' THEN json_build_object('dataset_id', i.case_id,
         'used_for', CASE WHEN x.r < 0.6 THEN 'decision' ELSE 'report' END, 'strategic', x.q < 0.8)
    WHEN 'workforce.task' THEN json_build_object('employee_id', i.actor_id, 'automation_id', NULL,
         'augmented', x.r < 0.75, 'minutes_saved', round((x.q * 40)::numeric, 1))
    WHEN 'workforce.skill' THEN json_build_object('employee_id', i.actor_id, 'skill', 'ops', 'kind', 'training')
    ELSE json_build_object('employee_id', i.actor_id, 'satisfaction', 1 + floor(x.r * 5)::int)
  END AS data
) AS p
"""


def _generate(engine: sa.Engine, strategy: Strategy, n: int, lo: dt.datetime, hi: dt.datetime, prefix: str) -> float:
    bounds, total = [], 0
    for _, share in MIX:
        total += share
        bounds.append(total)
    scale = 1000 / total
    params = {
        "prefix": prefix,
        "lo": lo,
        "hi": hi,
        "n": n,
        "types": [t for t, _ in MIX],
        "bounds": [round(b * scale) for b in bounds[:-1]] + [1000],
        "automations": [a.id for a in strategy.automations],
        "n_automations": len(strategy.automations),
        "processes": [p.id for p in strategy.processes],
        "n_processes": len(strategy.processes),
        "touchpoints": [t.id for t in strategy.journey],
        "n_touchpoints": len(strategy.journey),
    }
    began = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT setseed(0.42)")
        conn.execute(sa.text(_GENERATE.replace("%%", "%")), params)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE events")
    return time.perf_counter() - began


def _best(func: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return min(times)


def _median(func: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        func()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench metrics", description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--json", action="store_true",
                        help="store the payload as json text in the benchmark's database (the schema's column is jsonb)")
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN)
    args = parser.parse_args(argv)

    from alignwatch.metrics import hourcache
    from alignwatch.metrics.engine import compute, compute_window
    from alignwatch.metrics.strategy import load_strategy
    from alignwatch.store import connect, upgrade

    loaded = load_strategy(REPO / "examples" / "ecommerce.yaml")
    # day windows in UTC, so that the computed day is exactly the generated one
    strategy = loaded.model_copy(update={"business": loaded.business.model_copy(update={"timezone": "UTC"})})
    name = f"alignwatch_bench_metrics_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(args.admin_url).set(database=name).render_as_string(hide_password=False)
    engine = connect(url)
    status = 0
    try:
        upgrade(engine)
        if args.json:
            with engine.begin() as conn:
                conn.exec_driver_sql("ALTER TABLE events ALTER COLUMN data TYPE json USING data::json")
        print(f"payload column: {'json' if args.json else 'jsonb'}")
        # --- 2. a 5-minute window with 1x and 10x history
        window_end = WINDOW + dt.timedelta(minutes=5)
        _generate(engine, strategy, 3_000, WINDOW, window_end, "w-")
        _generate(engine, strategy, 100_000, WINDOW - dt.timedelta(days=10), WINDOW, "h1-")

        def window() -> None:
            compute_window(engine, strategy, start=WINDOW, end=window_end)

        _median(window, 3)  # warm the caches
        one = _median(window, 15)
        _generate(engine, strategy, 900_000, WINDOW - dt.timedelta(days=10), WINDOW, "h10-")
        _median(window, 3)
        ten = _median(window, 15)
        history_ratio = ten / one
        print(f"5-minute window (3,000 events), 100k history: {one * 1000:.1f} ms; 1M history: {ten * 1000:.1f} ms; "
              f"ratio {history_ratio:.2f} (target < {HISTORY_TARGET})")
        # --- 1. a day of N events: compute vs one raw GROUP BY scan
        seconds = _generate(engine, strategy, args.events, DAY, DAY + dt.timedelta(days=1), "d-")
        print(f"generated {args.events:,} events for {DAY.date()} in {seconds:.1f} s")
        raw = sa.text("SELECT type, count(*) FROM events WHERE time >= :lo AND time < :hi GROUP BY type")

        def scan() -> None:
            with engine.connect() as conn:
                conn.execute(raw, {"lo": DAY, "hi": DAY + dt.timedelta(days=1)}).all()

        values: dict[str, list[Any]] = {}

        def day(case: str, cache: bool) -> Callable[[], None]:
            def run() -> None:
                values[case] = compute(
                    engine, strategy, start=DAY, end=DAY + dt.timedelta(days=1), granularity="day", cache=cache
                )

            return run

        def empty_cache() -> None:
            with engine.begin() as conn:
                hourcache.clear(conn)

        def cold() -> None:
            empty_cache()
            day("cold", True)()

        scan()
        day("uncached", False)()
        t_scan = _best(scan, 3)
        t_uncached = _best(day("uncached", False), 3)
        # cold: the cache is emptied before each run (the emptying is timed with it; it is small)
        t_cold = _best(cold, 3)
        t_warm = _best(day("warm", True), 3)
        t_scan = min(t_scan, _best(scan, 3))
        if values["cold"] != values["warm"]:
            print("the warm values differ from the cold ones")
            status = 1
        # the uncached statement sums floats in a parallel, run-dependent order: two uncached runs
        # can already differ in the last digits of large sums (e.g. revenue ~1.5e8)
        deviations = [
            abs(a.value - b.value) / max(abs(a.value), abs(b.value))
            for a, b in zip(values["uncached"], values["warm"], strict=True)
            if a != b and a.value is not None and b.value is not None and a.value != b.value
        ]
        print(f"cached vs uncached values: {len(deviations)} of {len(values['warm'])} differ in value, "
              f"largest relative difference {max(deviations, default=0.0):.1e}")
        with engine.connect() as conn:
            groups = conn.execute(sa.text("SELECT count(*) FROM hour_aggregates")).scalar_one()
        day_ratio = t_warm / t_scan
        print(f"raw GROUP BY type scan of the day: {t_scan:.3f} s; metrics compute of the day "
              f"({len(values['warm']):,} values, {groups:,} cached groups):")
        print(f"  without the cache: {t_uncached:.3f} s; ratio {t_uncached / t_scan:.2f}")
        print(f"  cold (empty cache, filled by the run): {t_cold:.3f} s; ratio {t_cold / t_scan:.2f}")
        print(f"  warm (every hour cached): {t_warm:.3f} s; ratio {day_ratio:.2f} (target <= {DAY_TARGET}, judged here)")
        if day_ratio > DAY_TARGET or history_ratio >= HISTORY_TARGET:
            status = 1
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return status
