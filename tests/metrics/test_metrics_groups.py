"""The facts of a window folded from the hour groups as columns are the facts ``Facts.build`` folds group by group.

Exactly, not rounded: every sum is taken in the same order (hour after hour, identifiers
within an hour), the keys of the sum dicts come in the order in which they first occur.
A hand-made set of groups of every type (shuffled: the columns sort them), a set where the
order of the additions shows in the result, and a simulated month read from SQLite and
PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
import sqlalchemy as sa

from alignwatch.metrics.aggregates import (
    MEASURES,
    ORDER_PRODUCTS,
    Aggregate,
    Sample,
    fetch_aggregates,
    fetch_reconfigurations,
    fetch_samples,
    hour_index,
    order,
)
from alignwatch.metrics.engine import Reader
from alignwatch.metrics.facts import Facts
from alignwatch.metrics.formulas import ROI_TYPES, distributions_needed
from alignwatch.metrics.groups import HourGroups, HourSamples, fold_facts, project
from alignwatch.metrics.strategy import load_strategy
from alignwatch.store.schema import events
from alignwatch.stream.decode import make_event
from alignwatch.stream.rows import event_row
from alignwatch.stream.simulator import simulate

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
HOUR0 = hour_index(START)
DAY = dt.timedelta(days=1)
H = dt.timedelta(hours=1)


def _aggregate(type_: str, hour: int, **fields: object) -> Aggregate:
    ids = {name: fields.pop(name, None) for name in
           ("automation_id", "process_id", "touchpoint_id", "actor", "dataset", "k1", "k2")}
    return Aggregate(type=type_, hour=HOUR0 + hour, **ids, sums=dict(fields))  # type: ignore[arg-type]


def _every_type(seed: int) -> list[Aggregate]:
    """Three days of groups of every type the facts fold, several groups per key and hour."""
    rng = random.Random(seed)

    def value() -> float:
        return rng.choice([0.1, 0.2, 0.3, 1e8 / 3, 7.25, 1.0]) * rng.randint(1, 9)

    out = []
    for hour in range(72):
        for automation in ("bot", "crm", None):
            for touchpoint in ("chat", None):
                out.append(_aggregate("automation.run", hour, automation_id=automation, process_id="orders",
                                      touchpoint_id=touchpoint, n=2.0, succeeded=1.0, cost=value()))
            out.append(_aggregate("finance.entry", hour, automation_id=automation, k1=rng.choice(["cost", "saving"]),
                                  n=1.0, amount=value()))
            out.append(_aggregate("feature.usage", hour, automation_id=automation, actor=f"u{rng.randint(1, 5)}",
                                  k1=rng.choice(["search", None]), n=3.0))
            out.append(_aggregate("integration.issue", hour, automation_id=automation, k1="timeout", n=1.0,
                                  records=value()))
        for automated in ("true", "false", None):
            out.append(_aggregate("process.execution", hour, process_id="orders", k1=automated, n=1.0, cycle=value(),
                                  with_errors=1.0))
        out.append(_aggregate("customer.touchpoint", hour, touchpoint_id="chat", k1="web", k2="bot", n=4.0,
                              resolved=3.0, escalations=1.0, within_sla=1.0))
        out.append(_aggregate("customer.feedback", hour, touchpoint_id="chat", n=2.0, csat_n=2.0, csat_sum=value()))
        out.append(_aggregate("customer.order", hour, k1=rng.choice(["true", "false"]), n=1.0, amount=value(),
                              units=2.0))
        out.append(_aggregate(ORDER_PRODUCTS, hour, actor=f"c{rng.randint(1, 9)}", k2=f"p{rng.randint(1, 3)}", n=1.0))
        out.append(_aggregate("kpi.observed", hour, k1="nps", n=1.0, observed=value()))
        out.append(_aggregate("data.produced", hour, automation_id="bot", dataset=f"d{hour % 4}", n=1.0))
        out.append(_aggregate("data.used", hour, dataset=f"d{hour % 5}", k1=rng.choice(["decision", "report"]),
                              k2=rng.choice(["true", "false"]), n=1.0))
        for type_ in ("workforce.task", "workforce.skill", "workforce.survey"):
            out.append(_aggregate(type_, hour, automation_id="bot", actor=f"e{rng.randint(1, 6)}",
                                  k1=rng.choice(["true", "false"]) if type_ == "workforce.task" else None, n=1.0,
                                  minutes=value() if type_ == "workforce.task" else 0.0,
                                  satisfaction=value() if type_ == "workforce.survey" else 0.0))
    # as fetched: a group carries the measures that are not 0
    return [Aggregate(**{**vars(a), "sums": {k: v for k, v in a.sums.items() if v}}) for a in out]


def _samples(seed: int) -> list[Sample]:
    rng = random.Random(seed)
    return [Sample("cycle_time", HOUR0 + hour, None, rng.choice(["orders", "returns"]), float(rng.randint(1, 50)),
                   rng.randint(1, 3)) for hour in range(72) for _ in range(4)]


def _sum_dicts(facts: Facts) -> dict[str, list[object]]:
    """The keys of every dict of sums, in their order."""
    return {name: list(getattr(facts, name)) for name in
            ("runs", "executions", "touches", "feedback", "orders", "finance", "observed", "issues", "usage_events")}


def _same(got: Facts, expected: Facts) -> None:
    """Equal facts, sum dicts in the same key order; the samples of a key in any order (a percentile sorts them)."""
    assert {**vars(got), "samples": None} == {**vars(expected), "samples": None}
    assert _sum_dicts(got) == _sum_dicts(expected)
    assert {k: sorted(v) for k, v in got.samples.items()} == {k: sorted(v) for k, v in expected.samples.items()}


@pytest.mark.parametrize(("first", "last"), [(0, 72), (0, 1), (5, 6), (10, 34), (24, 48), (70, 72), (80, 90)])
def test_a_window_folded_from_columns_equals_the_facts_built_group_by_group(first: int, last: int) -> None:
    aggregates, samples = _every_type(7), _samples(7)
    shuffled = aggregates[:]
    random.Random(1).shuffle(shuffled)  # the columns sort the groups as `order` does
    start, end = START + first * H, START + last * H
    inside = sorted((a for a in aggregates if first <= a.hour - HOUR0 < last), key=order)
    expected = Facts.build(start, end, inside, (), (s for s in samples if first <= s.hour - HOUR0 < last))
    got = fold_facts(start, end, HourGroups.of(shuffled), HourSamples.of(reversed(samples)), ())
    _same(got, expected)


def test_the_sums_are_taken_group_after_group_in_time_order() -> None:
    # two groups of one automation and process per hour (two touchpoints), in this order:
    # hour 0: 'a' 1e16, 'b' 1.0; hour 1: 'a' 1.0, 'b' -1e16. One after the other from 0.0:
    # 1e16 + 1.0 = 1e16 (the doubles near 1e16 are 2 apart; the tie rounds to even),
    # + 1.0 = 1e16 again, + (-1e16) = 0.0. Summed in pairs ((1e16 - 1e16) + (1.0 + 1.0)) it would be 2.0.
    groups = [
        _aggregate("automation.run", 1, automation_id="bot", process_id="p", touchpoint_id="b", cost=-1e16, n=1.0),
        _aggregate("automation.run", 0, automation_id="bot", process_id="p", touchpoint_id="b", cost=1.0, n=1.0),
        _aggregate("automation.run", 1, automation_id="bot", process_id="p", touchpoint_id="a", cost=1.0, n=1.0),
        _aggregate("automation.run", 0, automation_id="bot", process_id="p", touchpoint_id="a", cost=1e16, n=1.0),
    ]
    facts = fold_facts(START, START + 2 * H, HourGroups.of(groups), HourSamples.of(()), ())
    assert facts.run_sums("bot")["cost"] == 0.0
    assert facts.run_sums("bot")["n"] == 4.0
    assert facts == Facts.build(START, START + 2 * H, sorted(groups, key=order))


def test_a_measure_no_group_of_a_key_carries_stays_out_of_its_sums() -> None:
    groups = [_aggregate("customer.order", 0, k1="true", n=1.0, amount=5.0),
              _aggregate("customer.order", 0, k1="false", n=2.0)]
    facts = fold_facts(START, START + H, HourGroups.of(groups), HourSamples.of(()), ())
    assert dict(facts.orders[False]) == {"n": 2.0}
    assert dict(facts.orders[True]) == {"n": 1.0, "amount": 5.0}
    assert set(MEASURES) >= set(facts.orders[True])


@pytest.fixture(scope="module")
def month(module_engine: sa.Engine):
    loaded = load_strategy(EXAMPLES / "ecommerce.yaml")
    strategy = loaded.model_copy(update={"business": loaded.business.model_copy(update={"timezone": "UTC"})})
    made = (make_event(e["type"], e["source"], e["id"], e["time"], e["data"], e.get("subject"))
            for e in simulate("ecommerce", 18, START, 30, 12_000, strategy=strategy))
    rows = [event_row(event, event.time + dt.timedelta(minutes=1)) for event in made]
    with module_engine.begin() as conn:
        conn.execute(events.insert(), rows)
    return module_engine, strategy


def test_the_reader_folds_the_facts_of_a_simulated_month_as_facts_build_does(month) -> None:
    engine, strategy = month
    sla = float(strategy.thresholds.escalation_sla_s)
    lo, hi = START + 2 * DAY, START + 30 * DAY
    with engine.connect() as conn:
        reader = Reader(conn, strategy, lo, hi, clock=lambda: hi + DAY)
        for start, end in [(lo, hi), (hi - 7 * DAY, hi), (lo + 3 * DAY, lo + 4 * DAY), (lo + 5 * H, lo + 6 * H)]:
            expected = Facts.build(start, end, fetch_aggregates(conn, start, end, sla_s=sla),
                                   fetch_reconfigurations(conn, start, end),
                                   fetch_samples(conn, start, end, distributions_needed(strategy)))
            got = reader.facts(start, end)
            assert got is not None
            _same(got, expected)


def test_a_window_before_the_range_read_for_the_roi_series_folds_its_runs_and_finance_entries(month) -> None:
    engine, strategy = month
    sla = float(strategy.thresholds.escalation_sla_s)
    lo, hi = START + 16 * DAY, START + 30 * DAY
    start, end = START + 2 * DAY, START + 16 * DAY  # before the range read: read for itself
    with engine.connect() as conn:
        reader = Reader(conn, strategy, lo, hi, clock=lambda: hi + DAY)
        expected = Facts.build(start, end, fetch_aggregates(conn, start, end, sla_s=sla))
        got = reader.facts(start, end, ROI_TYPES)
        assert got is not None
        assert got.runs and got.finance
        assert (got.runs, got.finance) == (expected.runs, expected.finance)
        assert list(got.runs) == list(expected.runs) and list(got.finance) == list(expected.finance)
        assert not got.samples and not got.touches  # nothing else read
        whole = reader.facts(start, end)
        assert whole is not None
        _same(whole, Facts.build(start, end, fetch_aggregates(conn, start, end, sla_s=sla),
                                 fetch_reconfigurations(conn, start, end),
                                 fetch_samples(conn, start, end, distributions_needed(strategy))))


def test_the_roi_projection_of_facts_keeps_the_runs_and_finance_entries_a_typed_read_folds() -> None:
    aggregates = _every_type(3)
    whole = fold_facts(START, START + DAY, HourGroups.of(aggregates), HourSamples.of(_samples(3)), ())
    typed = fold_facts(START, START + DAY, HourGroups.of(a for a in aggregates if a.type in ROI_TYPES),
                       HourSamples.of(()), ())
    _same(project(whole, ROI_TYPES), typed)
    with pytest.raises(ValueError, match="types without a dict of sums of their own: \\['feature.usage'\\]"):
        project(whole, frozenset({"feature.usage"}))
