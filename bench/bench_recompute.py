"""Recomputation benchmark: the nightly task and a year's backfill against raw scans, on SQLite and PostgreSQL.

The data set is the simulator's year (``ecommerce`` scenario, seeded: 2,940,000 events over
365 days), generated once and cached (:mod:`bench.recompute_data`). For each store (a
fresh one per store, in a process of its own so that its peak RSS is its own):

1. **nightly** ``nightly_task`` over the last 1, 7 and 28 days of the data, **cold** (the
   hour-aggregate cache emptied before the run) and **warm** (run again: every hour
   cached), each paired with a raw ``SELECT type, count(*) … GROUP BY type`` of the rows
   the nightly days read (the days and the 28 days before them) measured just before it;
   then the warm day again through the step-by-step path (``compute`` per step and
   granularity, as before :class:`~alignwatch.metrics.engine.Recomputation`);
2. **backfill** ``backfill_task`` of the whole range (one run per day, each computed,
   gated and published), cache cold, with the time of every day: the per-day cost of the
   first and the last tenth of the range tells whether it stays flat; with ``--workers N``,
   in N processes (each day's time is then its run's, start to publication);
3. the process's **peak RSS** (and the largest backfill worker's);
4. with ``--cold-read N``, first: the **cold read** of the last N days through the hour-aggregate
   cache (emptied: every hour read from the events, a week per read, and written), best of 3,
   with this process's CPU time, per event, and the raw scan of the same rows.

Targets: nightly 1 day (warm) ≤ 5× its raw scan; backfill of the year ≤ 120 s; per-day
cost flat (last tenth ÷ first tenth ≤ 1.5); peak RSS ≤ 400 MB. The exit status is
non-zero when one is missed. Options: ``--days N`` and ``--events N`` (a smaller data set
while developing: ``--days 60`` scales the events), ``--store sqlite|postgresql`` (one
store only), ``--nightly 1,7,28`` (the nightly runs measured), ``--backfill-days N`` (backfill
the last N days only; 0: none), ``--cold-read N`` (default 0: not measured), ``--workers N`` (the backfill's processes, default 1), ``--admin-url URL`` (default ``ALIGNWATCH_BENCH_PG_ADMIN_URL``
or the local postgres).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

YEAR_DAYS = 365
YEAR_EVENTS = 2_940_000
DEFAULT_ADMIN = os.environ.get("ALIGNWATCH_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
NIGHTLY_TARGET = 5.0
BACKFILL_TARGET_S = 120.0
FLAT_TARGET = 1.5
RSS_TARGET_MB = 400.0
DAY = dt.timedelta(days=1)
SCAN = sa.text("SELECT type, count(*) FROM events WHERE time >= :lo AND time < :hi GROUP BY type")


def _scan(engine: sa.Engine, lo: dt.datetime, hi: dt.datetime) -> float:
    best = float("inf")
    for _ in range(3):
        began = time.perf_counter()
        with engine.connect() as conn:
            conn.execute(SCAN, {"lo": lo, "hi": hi}).all()
        best = min(best, time.perf_counter() - began)
    return best


def _measure(
    store: str, days: int, count: int, admin_url: str, nightly_days: list[int], backfill_days: int, cold_days: int = 0,
    workers: int = 1,
) -> dict[str, Any]:
    """The figures of one store (run in a process of its own)."""
    from alignwatch.metrics import hourcache
    from alignwatch.metrics.aggregates import DISTRIBUTIONS
    from alignwatch.metrics.engine import Recomputation, compute
    from alignwatch.pipeline import backfill_task, nightly_task
    from alignwatch.store import connect, upgrade
    from alignwatch.store.schema import metric_values, pipeline_runs
    from bench.recompute_data import START, dataset, load_postgres, strategy

    source = dataset(days, count)
    plan = strategy()
    end = START + days * DAY
    out: dict[str, Any] = {"store": store}
    scratch = Path(tempfile.mkdtemp(prefix="alignwatch-bench-recompute-"))
    admin = name = None
    if store == "sqlite":
        shutil.copy(source, scratch / "store.db")
        engine = connect(f"sqlite:///{scratch / 'store.db'}")
        upgrade(engine)  # the cached data set may have been generated at an older revision
    else:
        name = f"alignwatch_bench_recompute_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        engine = connect(sa.engine.make_url(admin_url).set(database=name).render_as_string(hide_password=False))
        upgrade(engine)
        began = time.perf_counter()
        load_postgres(source, engine)
        out["load_s"] = time.perf_counter() - began
    try:
        with engine.connect() as conn:
            out["events"] = conn.execute(sa.text("SELECT count(*) FROM events")).scalar_one()

        def reset(cache: bool) -> None:
            with engine.begin() as conn:
                conn.execute(metric_values.delete())
                conn.execute(pipeline_runs.delete())
                if cache:
                    hourcache.clear(conn)

        if cold_days:
            lo = end - cold_days * DAY
            with engine.connect() as conn:
                events = conn.execute(sa.text("SELECT count(*) FROM events WHERE time >= :lo AND time < :hi"),
                                      {"lo": lo, "hi": end}).scalar_one()
            scan = _scan(engine, lo, end)
            runs = []
            for _ in range(3):
                reset(cache=True)
                began, cpu = time.perf_counter(), time.process_time()
                with engine.connect() as conn:
                    hourcache.cached_columns(conn, lo, end, sla_s=float(plan.thresholds.escalation_sla_s),
                                             now=lambda: end + DAY, distributions=tuple(DISTRIBUTIONS))
                    conn.commit()
                runs.append((time.perf_counter() - began, time.process_time() - cpu))
            seconds, cpu = min(runs)
            out["cold_read"] = {"days": cold_days, "events": events, "seconds": seconds, "cpu_s": cpu, "scan": scan}
            print(f"[{store}] cold read of {cold_days} days ({events:,} events) through the emptied hour cache: "
                  f"{seconds:.2f} s (CPU of this process {cpu:.2f} s), {seconds / events * 1e6:.1f} µs an event; raw "
                  f"scan {scan:.3f} s", flush=True)

        nightly: dict[str, Any] = {}
        for n in nightly_days:
            lo = end - n * DAY
            for case in ("cold", "warm"):
                reset(cache=case == "cold")
                scan = _scan(engine, lo - 28 * DAY, end)
                began = time.perf_counter()
                outcome = nightly_task(engine, plan, end=end + dt.timedelta(hours=2), days=n, trigger="bench")
                seconds = time.perf_counter() - began
                nightly[f"{n}d_{case}"] = {"seconds": seconds, "scan": scan, "ratio": seconds / scan,
                                           "status": outcome.status, "values": outcome.value_count,
                                           "gate_s": outcome.gate_seconds}
                print(f"[{store}] nightly {n:>2} day(s) {case}: {seconds:7.2f} s; raw scan of the rows it needs "
                      f"{scan:.3f} s; ratio {seconds / scan:6.1f} ({outcome.status}, {outcome.value_count:,} values; "
                      f"gate {outcome.gate_seconds:.2f} s)", flush=True)
        if 1 in nightly_days:
            # the same warm nightly day through the step-by-step path (compute per step and granularity)
            reset(cache=False)  # (warm: the hours are cached by the runs above)
            scan = _scan(engine, end - 29 * DAY, end)
            began = time.perf_counter()
            nightly_task(engine, plan, end=end + dt.timedelta(hours=2), days=1, trigger="bench", compute=compute)
            seconds = time.perf_counter() - began
            nightly["1d_warm_stepwise"] = {"seconds": seconds, "scan": scan, "ratio": seconds / scan}
            print(f"[{store}] nightly  1 day(s) warm, step by step (before): {seconds:7.2f} s; raw scan {scan:.3f} s; "
                  f"ratio {seconds / scan:6.1f}", flush=True)
        out["nightly"] = nightly
        if backfill_days:
            first = end - backfill_days * DAY
            reset(cache=True)
            stamps: list[float] = []
            began = time.perf_counter()
            if workers == 1:
                session = Recomputation(engine, plan, until=end)

                def timed(*args: Any, **kwargs: Any) -> Any:
                    if kwargs.get("granularity") == "hour":
                        stamps.append(time.perf_counter())
                    return session.compute(*args, **kwargs)

                outcomes = backfill_task(engine, plan, start=first, end=end, trigger="bench", compute=timed)
            else:
                outcomes = backfill_task(engine, plan, start=first, end=end, trigger="bench", workers=workers)
            seconds = time.perf_counter() - began
            stamps.append(began + seconds)
            if workers == 1:
                per_day = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
            else:  # each day's run, from its start to its publication (the block gates of raw events not included)
                with engine.connect() as conn:
                    per_day = [(b - a).total_seconds() for a, b in conn.execute(
                        sa.select(pipeline_runs.c.started_at, pipeline_runs.c.finished_at)
                        .where(pipeline_runs.c.kind == "backfill").order_by(pipeline_runs.c.interval_start))]
            tenth = max(1, len(per_day) // 10)
            first, last = sum(per_day[:tenth]) / tenth, sum(per_day[-tenth:]) / tenth
            published = sum(o.status == "published" for o in outcomes)
            gate = sum(o.gate_seconds for o in outcomes)
            out["backfill"] = {"seconds": seconds, "days": len(outcomes), "published": published, "workers": workers,
                               "first_tenth_s": first, "last_tenth_s": last, "max_day_s": max(per_day), "gate_s": gate}
            print(f"[{store}] backfill of {len(outcomes)} days in {workers} process(es): {seconds:.1f} s ({published} published; gates "
                  f"{gate:.2f} s, {gate / len(outcomes):.3f} s a day); per day: first tenth {first:.3f} s, last tenth "
                  f"{last:.3f} s, slowest {max(per_day):.3f} s", flush=True)
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
        shutil.rmtree(scratch, ignore_errors=True)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["worker_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 if workers > 1 else 0.0
    print(f"[{store}] peak RSS {out['peak_rss_mb']:.0f} MB" + (
        f"; the largest backfill worker's {out['worker_rss_mb']:.0f} MB ({workers} workers: up to "
        f"{workers * out['worker_rss_mb']:.0f} MB together)" if workers > 1 else ""), flush=True)
    return out


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench recompute", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=YEAR_DAYS)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--store", choices=("sqlite", "postgresql"), default=None)
    parser.add_argument("--admin-url", default=DEFAULT_ADMIN)
    parser.add_argument("--nightly", default="1,7,28", help="the nightly runs' numbers of days (comma-separated)")
    parser.add_argument("--backfill-days", type=int, default=None,
                        help="backfill the last N days of the data (default: all of them; 0: no backfill)")
    parser.add_argument("--cold-read", type=int, default=0, metavar="N",
                        help="first time the cold read of the last N days through the emptied hour cache (best of 3)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes of the backfill (backfill_task workers=; default 1)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    count = args.events or round(YEAR_EVENTS * args.days / YEAR_DAYS)
    if args.child:
        assert args.store is not None
        backfill = args.days if args.backfill_days is None else args.backfill_days
        nightly = [int(n) for n in args.nightly.split(",") if n]
        result = _measure(args.store, args.days, count, args.admin_url, nightly, backfill, args.cold_read, args.workers)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    from bench.recompute_data import dataset

    dataset(args.days, count)  # generated once, before the stores are timed
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} cores",
          flush=True)
    results = []
    for store in [args.store] if args.store else ["sqlite", "postgresql"]:
        command = [sys.executable, "-m", "bench", "recompute", "--child", "--store", store, "--days", str(args.days),
                   "--events", str(count), "--admin-url", args.admin_url, "--nightly", args.nightly,
                   "--workers", str(args.workers)]
        if args.backfill_days is not None:
            command += ["--backfill-days", str(args.backfill_days)]
        if args.cold_read:
            command += ["--cold-read", str(args.cold_read)]
        done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
        for line in done.stdout.splitlines():
            if line.startswith("RESULT "):
                results.append(json.loads(line[len("RESULT "):]))
            elif not line.startswith("== bench"):
                print(line, flush=True)
    status = 0
    for result in results:
        store, nightly = result["store"], result["nightly"]
        rss = max(result["peak_rss_mb"], result.get("worker_rss_mb", 0.0))
        checks = [(f"peak RSS of a process {rss:.0f} MB", rss <= RSS_TARGET_MB, f"≤ {RSS_TARGET_MB:.0f} MB")]
        if "1d_warm" in nightly:
            ratio = nightly["1d_warm"]["ratio"]
            checks.append((f"nightly 1 day warm ÷ raw scan {ratio:.1f}", ratio <= NIGHTLY_TARGET, f"≤ {NIGHTLY_TARGET}"))
            before = nightly["1d_warm_stepwise"]["seconds"] / nightly["1d_warm"]["seconds"]
            print(f"{store:>10}: nightly 1 day warm, step by step ÷ shared reads: {before:.2f}")
        if "backfill" in result:
            b = result["backfill"]
            share = b["days"] / YEAR_DAYS
            checks.append((f"backfill of {b['days']} days in {b['workers']} process(es) {b['seconds']:.1f} s",
                           b["seconds"] <= BACKFILL_TARGET_S * share,
                           f"≤ {BACKFILL_TARGET_S * share:.0f} s (120 s for the year)"))
            flat = b["last_tenth_s"] / b["first_tenth_s"]
            checks.append((f"per-day cost last ÷ first tenth {flat:.2f}", flat <= FLAT_TARGET, f"≤ {FLAT_TARGET}"))
        for text, met, target in checks:
            print(f"{store:>10}: {text} (target {target}) {'met' if met else 'MISSED'}")
            status |= 0 if met else 1
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    return status
