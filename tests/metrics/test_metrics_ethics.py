"""Ethics and human agency: each measure checked against values worked out by hand from its
definition, and the parity against Fairlearn's on the simulated refund decisions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from alignwatch.cli import main
from alignwatch.metrics.engine import compute
from alignwatch.metrics.ethics import (
    Z_95,
    decisions_of,
    human_agency,
    outcome_parity,
    oversight_staleness,
    reskilling_coverage,
    wilson_interval,
)
from alignwatch.metrics.rules import alert_specs, firing_alerts, inputs_from_strategy, metric_names, samples_from_values
from alignwatch.metrics.scorecard import build_scorecard
from alignwatch.metrics.strategy import DecisionOversight, Ethics, load_strategy
from alignwatch.store import connect, upgrade
from alignwatch.stream.simulator import simulate

from .builders import ev, insert

REPO = Path(__file__).resolve().parents[2]

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
REFUNDS = DecisionOversight(automation="refund_bot", favourable=("refunded",), dimensions=("region",), min_sample=5)


def _decision(n: int, region: str | None, outcome: str, **flags: bool) -> tuple[dt.datetime, dict[str, Any]]:
    segments = {} if region is None else {"region": region}
    data = {"automation_id": "refund_bot", "process_id": "refunds", "case_id": f"RF-{n}", "outcome": outcome,
            "segments": segments, **flags}
    return T0 + dt.timedelta(minutes=n), data


def _regions(**tallies: tuple[int, int]) -> list[tuple[dt.datetime, dict[str, Any]]]:
    """``region=(decisions, refunded)`` → that many decisions, the first ``refunded`` of them favourable."""
    rows, n = [], 0
    for region, (decisions, refunded) in tallies.items():
        for k in range(decisions):
            n += 1
            rows.append(_decision(n, region, "refunded" if k < refunded else "declined"))
    return rows


def test_the_wilson_interval_of_eight_in_ten_is_worked_out_from_its_formula() -> None:
    # z = 2, p = 0.8, n = 10: z²/n = 0.4, denominator = 1.4
    # centre = (0.8 + 4/20) / 1.4 = 1.0 / 1.4 = 0.7142857
    # half = 2/1.4 × sqrt(0.8 × 0.2 / 10 + 4/400) = 1.4285714 × sqrt(0.026) = 1.4285714 × 0.1612452 = 0.2303503
    low, high = wilson_interval(8, 10, z=2)  # type: ignore[misc]
    assert low == pytest.approx(0.7142857 - 0.2303503, abs=1e-6)
    assert high == pytest.approx(0.7142857 + 0.2303503, abs=1e-6)
    # at 95 % (z = 1.95996): the textbook 0.4902 .. 0.9433
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # it stays inside 0..1 where the normal approximation would not, and says nothing without decisions
    low, high = wilson_interval(0, 5)  # type: ignore[misc]
    assert low == 0.0 and 0 < high < 1
    assert wilson_interval(0, 0) is None


def test_parity_compares_the_segments_with_enough_decisions_and_gives_no_significance_on_few() -> None:
    # north 8/10 = 0.8, south 4/10 = 0.4, east 0/3 below min_sample 5: shown, not compared
    parity = outcome_parity(decisions_of(_regions(north=(10, 8), south=(10, 4), east=(3, 0))), REFUNDS, "region")
    assert [(r.segment, r.decisions, r.favourable, r.compared) for r in parity.segments] == [
        ("east", 3, 0, False), ("south", 10, 4, True), ("north", 10, 8, True),
    ]
    # ratio = 0.4 / 0.8 = 0.5, below the floor 0.8
    assert (parity.ratio, parity.lowest, parity.highest, parity.below_floor) == (0.5, "south", "north", True)
    # pooled p = 12/20 = 0.6; z = 0.4 / sqrt(0.6 × 0.4 × (1/10 + 1/10)) = 0.4 / 0.2190890 = 1.825742 < 1.96
    assert parity.z == pytest.approx(1.825742, abs=1e-6)
    assert parity.significant is False and parity.breach is False


def test_the_same_gap_on_twice_the_decisions_is_significant_and_a_breach() -> None:
    # north 16/20, south 8/20: pooled 0.6; z = 0.4 / sqrt(0.24 × (1/20 + 1/20)) = 0.4 / 0.1549193 = 2.581989
    parity = outcome_parity(decisions_of(_regions(north=(20, 16), south=(20, 8))), REFUNDS, "region")
    assert parity.ratio == 0.5 and parity.z == pytest.approx(2.581989, abs=1e-6)
    assert parity.significant is True and parity.breach is True


def test_no_parity_verdict_below_the_minimum_sample() -> None:
    # only north reaches 5 decisions: one compared segment, no ratio, no verdict
    parity = outcome_parity(decisions_of(_regions(north=(6, 6), south=(4, 0))), REFUNDS, "region")
    assert (parity.ratio, parity.below_floor, parity.significant, parity.breach) == (None, None, None, False)


def test_a_case_counts_once_with_its_first_outcome_and_the_flags_of_any_later_event() -> None:
    rows = [
        _decision(1, "south", "declined"),
        (T0 + dt.timedelta(hours=5), {**_decision(1, "south", "refunded")[1], "overridden": True}),  # reversed
        _decision(2, "south", "declined", appealed=True),
        _decision(3, "north", "refunded", reviewed=True),
        _decision(4, None, "refunded"),  # no region: counted for agency, not in the region comparison
    ]
    decisions = decisions_of(rows)
    first = next(d for d in decisions if d.case_id == "RF-1")
    assert (first.outcome, first.reviewed, first.overridden, first.appealed) == ("declined", True, True, False)
    agency = human_agency(decisions, "refund_bot")
    # 4 decisions: reviewed RF-1 (by its reversal) and RF-3; overridden RF-1; appealed RF-2
    assert (agency.decisions, agency.reviewed, agency.overridden, agency.appealed) == (4, 2, 1, 1)
    assert (agency.override_rate, agency.appeal_rate) == (0.25, 0.25)
    assert sum(r.decisions for r in outcome_parity(decisions, REFUNDS, "region").segments) == 3
    assert human_agency(decisions, "other_bot").override_rate is None


def test_reskilling_coverage_counts_who_was_trained_in_time_and_names_who_was_displaced() -> None:
    day = dt.timedelta(days=1)
    tasks = [
        (T0, {"employee_id": "e1", "automation_id": "refund_bot", "augmented": True, "minutes_saved": 10}),
        (T0, {"employee_id": "e2", "automation_id": "refund_bot", "augmented": True, "minutes_saved": 10}),
        (T0 + 80 * day, {"employee_id": "e3", "automation_id": "refund_bot", "augmented": True, "minutes_saved": 5}),
        (T0, {"employee_id": "e4", "augmented": False, "minutes_saved": 0}),  # no automation: not counted
        (T0 + 5 * day, {"employee_id": "e5", "automation_id": "order_flow", "augmented": True, "minutes_saved": 3}),
    ]
    skills = [
        (T0 + 10 * day, {"employee_id": "e1", "skill": "refund rules", "kind": "training"}),  # day 10 ≤ 30: covered
        (T0 + 40 * day, {"employee_id": "e2", "skill": "refund rules", "kind": "training"}),  # day 40 > 30: too late
        (T0 + 5 * day, {"employee_id": "e5", "skill": "shipping", "kind": "certification"}),  # same day: covered
    ]
    result = reskilling_coverage(tasks, skills, within_days=30, as_of=T0 + 100 * day)
    assert result.automated == ("e1", "e2", "e3", "e5")
    # e3 automated on day 80: the delay ends on day 110, after as_of (day 100): pending, not judged
    assert (result.covered, result.pending, result.displaced) == (("e1", "e5"), ("e3",), ("e2",))
    assert result.coverage == pytest.approx(2 / 3)  # covered 2 ÷ (covered 2 + displaced 1)


def test_oversight_staleness_is_days_since_the_owners_review_against_the_cadence() -> None:
    ethics = Ethics(
        oversight_owner="shop owner",
        decisions=(
            DecisionOversight(automation="refund_bot", favourable=("refunded",), dimensions=("region",),
                              reviewed=dt.date(2026, 1, 1)),
            DecisionOversight(automation="credit_bot", favourable=("approved",), dimensions=("region",),
                              owner="credit manager", review_every_days=30),
        ),
    )
    refund, credit = oversight_staleness(ethics, dt.date(2026, 3, 2))
    # 1 January to 2 March 2026: 31 + 28 + 1 = 60 days, within the default 90
    assert (refund.owner, refund.days_since, refund.review_every_days, refund.overdue) == ("shop owner", 60, 90, False)
    assert (credit.owner, credit.days_since, credit.overdue) == ("credit manager", None, True)  # never reviewed


def test_the_parity_agrees_with_fairlearn_on_the_simulated_refund_decisions() -> None:
    fairlearn_metrics = pytest.importorskip("fairlearn.metrics")
    events = simulate("refunds", 5, dt.datetime(2026, 2, 2, tzinfo=dt.UTC), 28, 12_000)
    rows = [(dt.datetime.fromisoformat(e["time"]), e["data"]) for e in events if e["type"] == "automation.decision"]
    decisions = decisions_of(rows)
    every_segment = DecisionOversight(automation="refund_bot", favourable=("refunded",), dimensions=("region",),
                                      min_sample=1)
    for dimension in ("region", "amount_band"):
        parity = outcome_parity(decisions, every_segment, dimension)
        y_pred = [int(d.outcome == "refunded") for d in decisions]
        groups = [d.segments[dimension] for d in decisions]
        frame = fairlearn_metrics.MetricFrame(metrics=fairlearn_metrics.selection_rate, y_true=y_pred, y_pred=y_pred,
                                              sensitive_features=groups)
        assert {r.segment: r.rate for r in parity.segments} == pytest.approx(frame.by_group.to_dict())
        oracle = fairlearn_metrics.demographic_parity_ratio(y_pred, y_pred, sensitive_features=groups)
        assert parity.ratio == pytest.approx(oracle)
    assert Z_95 == pytest.approx(1.96, abs=1e-3)


def test_the_measures_catch_the_planted_refund_bias_and_leave_its_control_alone() -> None:
    """The refunds scenario (docs: stream/simulator/scenarios.py) with and without its planted bias."""
    oversight = DecisionOversight(automation="refund_bot", favourable=("refunded",), dimensions=("region", "amount_band"),
                                  min_sample=30)
    start = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)

    def parity(planted: bool, dimension: str) -> Any:
        events = simulate("refunds", 5, start, 28, 12_000, planted=planted)
        rows = [(dt.datetime.fromisoformat(e["time"]), e["data"]) for e in events if e["type"] == "automation.decision"]
        return outcome_parity(decisions_of(rows), oversight, dimension)

    biased = parity(True, "region")
    assert biased.breach and biased.lowest == "south" and biased.ratio < 0.8  # type: ignore[operator]
    control = parity(False, "region")
    assert not control.breach and control.below_floor is False
    # the bias is by region only: the amount bands of the same decisions stay above the floor
    assert not parity(True, "amount_band").breach


def test_explain_ethics_tells_the_owner_which_region_the_refund_bot_treats_worse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = connect(url)
    upgrade(engine)
    start = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    simulated = simulate("refunds", 5, start, 28, 12_000)
    rows = [ev(e["type"], dt.datetime.fromisoformat(e["time"]), **e["data"]) for e in simulated
            if e["type"] in ("automation.decision", "workforce.task", "workforce.skill")]
    insert(engine, rows)
    engine.dispose()
    with pytest.raises(SystemExit) as exited:
        main(["explain", "ethics", "--at", "2026-03-02", "--window", "28d", "--store", url,
              "--strategy", str(REPO / "examples" / "refunds.yaml")])
    out = capsys.readouterr().out
    assert exited.value.code in (0, None)
    assert "refund_bot, by region:" in out and "refund_bot, by amount_band:" in out
    assert "'south' gets a favourable outcome" in out and "not chance at these numbers" in out
    assert "reversed" in out and "appealed" in out
    # reviewed 2025-12-01, 91 days before 2026-03-02, against a 90-day cadence
    assert "oversight of refund_bot: last reviewed 91 days ago by shop owner (every 90 days): overdue" in out
    assert "reskilling:" in out
    with pytest.raises(SystemExit):
        main(["explain", "ethics", "--at", "2026-03-02", "--json", "--store", url,
              "--strategy", str(REPO / "examples" / "refunds.yaml")])
    measures = json.loads(capsys.readouterr().out)
    region = next(p for p in measures["parity"] if p["dimension"] == "region")
    assert (region["lowest"], region["breach"], region["below_floor"]) == ("south", True, True)
    assert measures["staleness"][0] == {"automation_id": "refund_bot", "owner": "shop owner", "reviewed": "2025-12-01",
                                        "days_since": 91, "review_every_days": 90, "overdue": True}
    assert 0 <= measures["agency"][0]["override_rate"] < 0.05


def _refunds_store(tmp_path: Path, planted: bool) -> Any:
    engine = connect(f"sqlite:///{tmp_path / f'store-{planted}.db'}")
    upgrade(engine)
    start = dt.datetime(2026, 2, 2, tzinfo=dt.UTC)
    insert(engine, [ev(e["type"], dt.datetime.fromisoformat(e["time"]), **e["data"])
                    for e in simulate("refunds", 5, start, 28, 12_000, planted=planted)])
    return engine


@pytest.mark.parametrize("planted", [True, False])
def test_the_served_values_ticket_the_planted_refund_bias_and_its_control_pages_nobody(tmp_path: Path, planted: bool) -> None:
    strategy = load_strategy(REPO / "examples" / "refunds.yaml")
    engine = _refunds_store(tmp_path, planted)
    try:
        at = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
        values = compute(engine, strategy, start=at - dt.timedelta(days=1), end=at, granularity="day", cache=False)
        card = build_scorecard(engine, strategy, at, window="28d").to_dict()
    finally:
        engine.dispose()
    by_region = {"automation": "refund_bot", "dimension": "region"}
    month = {(v.metric_id, tuple(sorted(v.labels.items()))): v.value for v in values if v.window == "28d"}
    assert ("ethics_parity_ratio", tuple(sorted(by_region.items()))) in month
    assert not [v for v in values if v.metric_id.startswith("ethics_") and v.window in ("hour", "day")]
    inputs = inputs_from_strategy(strategy, metric_names())
    fired = firing_alerts(alert_specs(inputs), samples_from_values(values, inputs.business), inputs.business)
    parity = [f for f in fired if f.name == "AlignwatchEthicsParityBelowFloor"]
    assert [f.labels["dimension"] for f in parity] == (["region"] if planted else [])
    assert not [f for f in fired if f.severity == "page"]
    # the scorecard's "Ethics and human agency" perspective, beside the SAI at the default weight 0
    ethics = card["ethics"]
    assert ethics["weighted_into_sai"] is False
    assert strategy.weights.ethics == 0.0
    contribution = next(c for c in card["contributions"] if c["input"] == "ethics")
    assert (contribution["weight"], contribution["points"], contribution["score"]) == (0.0, None, ethics["score"])
    region = next(p for p in ethics["parity"] if p["dimension"] == "region")
    assert region["breach"] is planted and region["ratio"] == month[("ethics_parity_ratio", tuple(sorted(by_region.items())))]


def test_the_inputs_read_once_for_a_range_give_every_window_the_measures_of_its_own_read(store) -> None:
    # workforce events over 130 days (the training delay reaches 90 days before a window), with employees named
    # as awkwardly as the contract allows, tasks with and without an automation, every kind of skill event and
    # refund decisions; every window of the last 28 days is measured from the range read and from its own read
    from alignwatch.metrics.ethics import InputSource, assess, fetch_inputs

    from .builders import make_strategy, workforce

    strategy = make_strategy(ethics={"oversight_owner": "owner", "decisions": [
        {"automation": "bot", "favourable": ["approved"], "dimensions": ["region"], "min_sample": 2}]})
    first = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    names = ["e1", "é-2", 'quote"3', "back\\slash", "ümlaut ✓", "{\"a\": 1}", "  4  ", "5"]
    rows = []
    for index in range(400):
        time = first + dt.timedelta(hours=7.3 * index)
        employee = names[index % len(names)]
        if index % 3 == 0:
            rows.append(workforce(time, "task", employee, augmented=True, minutes_saved=1.0, automation_id="bot"))
        elif index % 3 == 1:
            rows.append(workforce(time, "task", employee, augmented=False, minutes_saved=0.0))
        else:
            kind = ("training", "certification", "new_responsibility")[index % 9 // 3]
            rows.append(workforce(time, "skill", employee, skill="ops", kind=kind))
        if index % 5 == 0:
            rows.append(ev("automation.decision", time, automation_id="bot", process_id="pack", case_id=f"c{index}",
                           outcome=("approved", "denied")[index % 2], segments={"region": ("north", "south")[index % 3 % 2]}))
    insert(store, rows)
    lo, hi = first + dt.timedelta(days=87), first + dt.timedelta(days=128)
    windows = [(hi - dt.timedelta(days=length) - dt.timedelta(days=back), hi - dt.timedelta(days=back))
               for length in (1, 7, 28) for back in (0, 3, 13)]
    with store.connect() as conn:
        source = InputSource(conn, strategy, lo, hi)
        for start, end in windows:
            own = fetch_inputs(conn, strategy, start, end)
            assert assess(strategy, source.inputs(start, end), start, end) == assess(strategy, own, start, end)
            assert [time for time, _ in source.inputs(start, end).decisions] == [time for time, _ in own.decisions]
        measured = assess(strategy, source.inputs(lo, hi), lo, hi)
    assert set(measured.reskilling.automated) == set(names)  # every name came through as it was sent
