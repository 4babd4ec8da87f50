"""Percentiles on a real log: BPI Challenge 2012 imported into SQLite and PostgreSQL.

The engine's p50 and p90 of cycle time, run duration and order amount over a 28-day window
must equal the same percentiles of a plain sort of the stored values (read back with a
plain SELECT, the standard library's ``statistics.quantiles`` with its ``inclusive`` method:
linear interpolation between the closest ranks, numpy's default).
"""

from __future__ import annotations

import datetime as dt
import statistics
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from alignwatch.metrics.scorecard import build_period_scorecard, build_scorecard
from alignwatch.metrics.strategy import parse_strategy
from alignwatch.store.schema import events
from alignwatch.stream.decode import make_event
from alignwatch.stream.importers.mapping import load_mapping
from alignwatch.stream.importers.xes import read_xes
from alignwatch.stream.rows import event_row

from .builders import clear, insert

REPO = Path(__file__).resolve().parents[2]
EVENTLOGS = (REPO / ".." / "shared" / "data" / "eventlogs").resolve()
TYPES = ("process.execution", "automation.run", "customer.order")
AT = dt.datetime(2012, 1, 1, tzinfo=dt.UTC)
WINDOW = dt.timedelta(days=28)


def _kpi(kpi_id: str, perspective: str, measure: str, **filters: str) -> dict[str, Any]:
    return {"id": kpi_id, "name": kpi_id, "perspective": perspective, "unit": "u", "direction": "down",
            "target": 1, "measure": measure, "filters": filters}


@pytest.fixture(scope="module")
def strategy() -> Any:
    """The BPI 2012 example strategy plus p50 and p90 KPIs of each distribution."""
    mapping = yaml.safe_load((REPO / "examples" / "bpic2012.yaml").read_text(encoding="utf-8"))
    mapping["kpis"] += [
        _kpi("cycle_p50", "internal_process", "cycle_time_p50", process="loan_application"),
        _kpi("cycle_p90", "internal_process", "cycle_time_p90", process="loan_application"),
        _kpi("offer_cycle_p90", "internal_process", "cycle_time_p90", process="offer_handling"),
        _kpi("run_p50", "internal_process", "run_duration_p50", automation="application_intake"),
        _kpi("run_p90", "internal_process", "run_duration_p90", automation="application_intake"),
        _kpi("amount_p50", "financial", "order_amount_p50"),
        _kpi("amount_p90", "financial", "order_amount_p90"),
    ]
    return parse_strategy(mapping)


@pytest.fixture(scope="module")
def bpic2012(module_engine: sa.Engine) -> sa.Engine:
    """The store holding the log's executions, runs and orders (on each backend)."""
    assert EVENTLOGS.is_dir(), f"real event logs expected in {EVENTLOGS}"
    emitted, _ = read_xes(EVENTLOGS / "bpic2012.xes.gz", load_mapping(REPO / "examples" / "mappings" / "bpic2012.yaml"))
    clear(module_engine)
    rows = [event_row(make_event(e.type, "import://bpic2012", e.id, e.time, e.data, e.subject), e.time)
            for e in emitted if e.type in TYPES]
    for start in range(0, len(rows), 5000):
        insert(module_engine, rows[start : start + 5000])
    return module_engine


def _stored(engine: sa.Engine, type_: str, field: str, *, whole_log: bool = False, **columns: str) -> list[float]:
    """The ``field`` of every stored ``type_`` event of the window (or log), sorted (a plain SELECT of the payloads)."""
    e = events.c
    query = sa.select(e.data).where(e.type == type_)
    if not whole_log:
        query = query.where(e.time >= AT - WINDOW, e.time < AT)
    for column, value in columns.items():
        query = query.where(e[column] == value)
    with engine.connect() as conn:
        return sorted(float(data[field]) for data in conn.execute(query).scalars())


def _percentiles(values: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[49], cuts[89]


def test_percentiles_on_bpi_2012_equal_those_of_a_plain_sort_of_the_stored_values(bpic2012, strategy) -> None:
    card = build_scorecard(bpic2012, strategy, AT, window="28d").to_dict()
    kpis = card["kpis"]
    cases = [
        (("cycle_p50", "cycle_p90"), _stored(bpic2012, "process.execution", "cycle_time_s", process_id="loan_application")),
        ((None, "offer_cycle_p90"), _stored(bpic2012, "process.execution", "cycle_time_s", process_id="offer_handling")),
        (("run_p50", "run_p90"), _stored(bpic2012, "automation.run", "duration_s", automation_id="application_intake")),
        (("amount_p50", "amount_p90"), _stored(bpic2012, "customer.order", "amount")),
    ]
    for (p50_id, p90_id), values in cases:
        assert len(values) > 100, p90_id  # the window holds a real sample of the log
        p50, p90 = _percentiles(values)
        if p50_id is not None:
            assert kpis[p50_id]["value"] == pytest.approx(p50, rel=1e-12, abs=1e-9), p50_id
            assert kpis[p50_id]["events"] == len(values)
        assert kpis[p90_id]["value"] == pytest.approx(p90, rel=1e-12, abs=1e-9), p90_id
        assert kpis[p90_id]["events"] == len(values)
    # the median is not the mean: the log's cycle times are skewed by a few slow applications
    cycle = cases[0][1]
    assert kpis["cycle_p50"]["value"] < sum(cycle) / len(cycle) < kpis["cycle_p90"]["value"]


def test_a_period_scorecard_of_the_whole_bpi_2012_log_gives_the_percentiles_of_all_its_cases(bpic2012, strategy) -> None:
    # the log runs from 2011-09-30T22:38Z to 2012-03-14T15:04Z: the period [2011-09-30, 2012-03-15) holds all of it
    card = build_period_scorecard(bpic2012, strategy, dt.datetime(2011, 9, 30, tzinfo=dt.UTC),
                                  dt.datetime(2012, 3, 15, tzinfo=dt.UTC)).to_dict()
    kpis = card["kpis"]
    cycle = _stored(bpic2012, "process.execution", "cycle_time_s", whole_log=True, process_id="loan_application")
    assert len(cycle) == 13_087  # one execution per application of the log
    p50, p90 = _percentiles(cycle)
    assert kpis["cycle_p50"]["value"] == pytest.approx(p50, rel=1e-12)
    assert kpis["cycle_p90"]["value"] == pytest.approx(p90, rel=1e-12)
    assert kpis["application_cycle_time"]["value"] == pytest.approx(sum(cycle) / len(cycle), rel=1e-9)
    amounts = _stored(bpic2012, "customer.order", "amount", whole_log=True)
    assert (kpis["amount_p50"]["value"], kpis["amount_p50"]["events"]) == (pytest.approx(_percentiles(amounts)[0]),
                                                                          len(amounts))
