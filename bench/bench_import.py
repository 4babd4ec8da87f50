"""Importing BPI Challenge 2012 into PostgreSQL, then computing its daily metrics.

Phases, each in its own process so that its peak RSS is its own:

1. baseline: one plain lxml ``iterparse`` pass over the log counting events (no mapping,
   no events built): the floor any XES importer pays;
2. import: ``alignwatch import xes`` of the log (262,200 events, 13,087 cases) with
   ``examples/mappings/bpic2012.yaml`` into a fresh PostgreSQL database;
3. compute: one manual pipeline run (compute, validate, publish) of daily metrics for the
   log's whole period (2011-10-01 .. 2012-03-14) with ``examples/bpic2012.yaml``.

Targets: the import keeps memory flat (peak RSS under 300 MB whatever the log size: it
streams one trace at a time) and runs at no less than a tenth of the plain parse rate.

``python -m bench import`` (needs PostgreSQL at ALIGNWATCH_BENCH_PG_ADMIN_URL, default
postgresql+psycopg://postgres@127.0.0.1:5432/postgres; creates and drops its own database)
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
LOG = (REPO / ".." / "shared" / "data" / "eventlogs" / "bpic2012.xes.gz").resolve()
MAPPING = REPO / "examples" / "mappings" / "bpic2012.yaml"
STRATEGY = REPO / "examples" / "bpic2012.yaml"
ADMIN_URL = os.environ.get("ALIGNWATCH_BENCH_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
TARGET_PEAK_RSS_MB = 300
TARGET_RATIO = 0.1


def _peak_rss_mb() -> float:
    # Linux reports ru_maxrss in KiB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _baseline() -> dict[str, Any]:
    from lxml import etree

    from alignwatch.stream.importers.base import open_log

    started = time.perf_counter()
    count = 0
    with open_log(LOG) as handle:
        for _, element in etree.iterparse(handle, events=("end",), tag=("{*}event", "{*}trace")):
            if element.tag.endswith("event"):
                count += 1
            else:
                element.clear()
                while element.getprevious() is not None:
                    del element.getparent()[0]
    return {"seconds": time.perf_counter() - started, "events": count, "peak_rss_mb": _peak_rss_mb()}


def _import(url: str) -> dict[str, Any]:
    from alignwatch.store.engine import connect
    from alignwatch.stream.importers.mapping import load_mapping
    from alignwatch.stream.importers.output import StoreOutput, write_all
    from alignwatch.stream.importers.xes import XesImport

    engine = connect(url)
    started = time.perf_counter()
    run = XesImport(LOG, load_mapping(MAPPING))
    summary = write_all(run, StoreOutput(engine, run.mapping.event_source))
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "events": run.stats.events,
        "cases": run.stats.cases,
        "stored": summary.stored,
        "first_time": run.stats.first_time.isoformat() if run.stats.first_time else None,
        "last_time": run.stats.last_time.isoformat() if run.stats.last_time else None,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _compute(url: str, first: str, last: str) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    from alignwatch.metrics.strategy import load_strategy
    from alignwatch.pipeline import run_interval
    from alignwatch.store.engine import connect

    strategy = load_strategy(STRATEGY)
    zone = ZoneInfo(strategy.business.timezone)
    start = dt.datetime.combine(dt.datetime.fromisoformat(first).astimezone(zone).date(), dt.time(), zone)
    end = dt.datetime.combine(dt.datetime.fromisoformat(last).astimezone(zone).date() + dt.timedelta(days=1), dt.time(), zone)
    engine = connect(url)
    started = time.perf_counter()
    outcome = run_interval(engine, strategy, start=start, end=end, kind="manual", granularity="day", trigger="bench")
    seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": seconds,
        "days": (end - start).days,
        "values": outcome.value_count,
        "status": outcome.status,
        "detail": outcome.detail,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _child(*args: str) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_import", "--phase", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"phase {args[0]} failed:\n{result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    import sqlalchemy as sa

    from alignwatch.store.engine import connect, upgrade

    name = f"alignwatch_bench_import_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        engine = connect(url)
        upgrade(engine)
        engine.dispose()
        baseline = _child("baseline")
        imported = _child("import", url)
        computed = _child("compute", url, imported["first_time"], imported["last_time"])
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    base_rate = baseline["events"] / baseline["seconds"]
    rate = imported["events"] / imported["seconds"]
    print(f"log: {LOG.name}, {imported['events']:,} events, {imported['cases']:,} cases")
    print(f"plain lxml iterparse      {base_rate:>10,.0f} events/s  ({baseline['seconds']:.1f} s, peak RSS {baseline['peak_rss_mb']:.0f} MB)")
    print(f"import into PostgreSQL    {rate:>10,.0f} events/s  ({imported['seconds']:.1f} s, {imported['stored']:,} alignwatch events stored, peak RSS {imported['peak_rss_mb']:.0f} MB)")
    print(f"daily metrics, {computed['days']} days    {computed['seconds']:>10.1f} s           ({computed['values']:,} values, {computed['status']}, peak RSS {computed['peak_rss_mb']:.0f} MB)")
    ratio = rate / base_rate
    print(f"ratio import / plain parse: {ratio:.2f} (target >= {TARGET_RATIO}); import peak RSS target <= {TARGET_PEAK_RSS_MB} MB")
    ok = ratio >= TARGET_RATIO and imported["peak_rss_mb"] <= TARGET_PEAK_RSS_MB and computed["status"] == "published"
    return 0 if ok else 1


def _phase(argv: list[str]) -> None:
    phase, *rest = argv
    if phase == "baseline":
        result = _baseline()
    elif phase == "import":
        result = _import(rest[0])
    elif phase == "compute":
        result = _compute(*rest)
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--phase"]:
        _phase(sys.argv[2:])
    else:
        sys.exit(main(sys.argv[1:]))
