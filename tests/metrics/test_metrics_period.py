"""The scorecard and ``explain sai`` over any period ``[--from, --to)``, computed by hand.

The period is 45 days, [2026-01-19, 2026-03-05): longer than any fixed window, so only a
period scorecard sees both ends of it. Every store test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from alignwatch.cli import main
from alignwatch.metrics.scorecard import build_period_scorecard, explain_sai_period
from alignwatch.store import connect, upgrade

from .builders import DAY0, STRATEGY, at, execution, feedback, insert, run

DAY = dt.timedelta(days=1)
START = DAY0 - 42 * DAY  # 2026-01-19
END = DAY0 + 3 * DAY  # 2026-03-05


def _rows() -> list[dict]:
    return [
        execution(at(9, DAY0 - 40 * DAY), "pack", True), execution(at(9, DAY0 - 40 * DAY), "pack", True),
        execution(at(10, DAY0 + DAY), "pack", True), execution(at(10, DAY0 + DAY), "pack", False, errors=1),
        run(at(11, DAY0 + 2 * DAY), "bot", "pack"),
        feedback(at(11, DAY0 + 2 * DAY), csat=4), feedback(at(11, DAY0 + 2 * DAY), csat=2),
        execution(at(9, DAY0 - 43 * DAY), "pack", False),  # before the period: the previous period's
        execution(END, "pack", False),  # at the end: outside ([from, to) excludes it)
    ]


def test_a_period_scorecard_counts_every_event_of_the_period_and_none_outside(store, strategy) -> None:
    insert(store, _rows())
    card = build_period_scorecard(store, strategy, START, END).to_dict()
    assert (card["window"], card["start"], card["end"]) == ("period", START.isoformat(), END.isoformat())
    kpis = card["kpis"]
    # pack in the period: 4 executions (2 on 2026-01-21, 2 on 2026-03-03), 3 automated, 1 with errors
    assert (kpis["k_auto"]["value"], kpis["k_auto"]["events"]) == (0.75, 4)
    assert kpis["k_err"]["value"] == 0.25
    # CSAT (4 + 2) / 2 = 3
    assert kpis["k_csat"]["value"] == 3.0
    # internal process: k_auto 0.75 / 0.8 = 0.9375 and k_err (0.25 - 0.3) / (0.1 - 0.3) = 0.25 -> 100 x 1.1875 / 2
    assert card["perspectives"]["internal_process"] == 59.375
    # customer: k_csat 3 / 4 = 0.75 -> 75 (k_reach has no data)
    assert card["perspectives"]["customer"] == 75.0
    # SPAR 1 / 1 (pack is critical) -> 100. SAI weights spar .15, customer .1, internal .1 over the inputs with data:
    # (0.15 x 100 + 0.1 x 75 + 0.1 x 59.375) / 0.35 = 28.4375 / 0.35 = 81.25
    assert card["indices"]["spar"]["value"] == 1.0
    assert card["sai"] == pytest.approx(81.25, abs=1e-9)


def test_explain_compares_a_period_with_the_period_of_the_same_length_before_it(store, strategy) -> None:
    insert(store, _rows())
    result = explain_sai_period(store, strategy, START, END)
    # the 45 days before: one manual pack execution without error -> k_auto 0 (attainment 0), k_err 0 (beyond target:
    # attainment 1) -> internal process 50, the only input: SAI 50; change 81.25 - 50 = +31.25
    assert result["window"] == "period"
    assert result["previous_sai"] == 50.0
    assert result["change"] == pytest.approx(31.25, abs=1e-9)
    # SPAR moved most: 0.15 / 0.35 x 100 = 42.857 points from none
    first = result["inputs"][0]
    assert first["input"] == "spar"
    assert first["delta"] == pytest.approx(0.15 / 0.35 * 100, abs=1e-6)


# ---------------------------------------------------------------------------- the commands


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = connect(url)
    upgrade(engine)
    insert(engine, _rows())
    engine.dispose()
    path = tmp_path / "strategy.yaml"
    path.write_text(yaml.safe_dump(STRATEGY), encoding="utf-8")
    return url, str(path)


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_scorecard_and_explain_take_any_period_from_the_command_line(setup, capsys) -> None:
    url, strategy = setup
    code, out, err = _main(["scorecard", "--from", "2026-01-19", "--to", "2026-03-05", "--json", "--store", url,
                            "--strategy", strategy], capsys)
    assert code == 0, err
    card = json.loads(out)
    assert (card["window"], card["start"], card["end"]) == ("period", START.isoformat(), END.isoformat())
    assert card["sai"] == pytest.approx(81.25, abs=1e-9)  # as worked out above
    code, out, err = _main(["scorecard", "--from", "2026-01-19", "--to", "2026-03-05", "--store", url,
                            "--strategy", strategy], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == f"Test Shop — period [{START.isoformat()}, {END.isoformat()})"
    code, out, err = _main(["explain", "sai", "--from", "2026-01-19", "--to", "2026-03-05", "--store", url,
                            "--strategy", strategy], capsys)
    assert code == 0, err
    assert out.splitlines()[0].startswith("SAI 81.2 (previous period 50.0, change +31.2)")


@pytest.mark.parametrize(("args", "message"), [
    (["--from", "2026-02-30", "--to", "2026-03-05"], "--from '2026-02-30': expected a date like"),
    (["--from", "2026-03-05", "--to", "2026-01-19"],
     "--to 2026-01-19T00:00:00+00:00 is not after --from 2026-03-05T00:00:00+00:00: the period is empty"),
    (["--from", "2026-03-05", "--to", "2026-03-05"], "is not after --from"),
    (["--from", "2026-01-19"], "--from and --to go together"),
    (["--to", "2026-03-05"], "--from and --to go together"),
    (["--from", "2026-01-19", "--to", "2026-03-05", "--at", "2026-03-05"], "leave out --at and --window"),
    (["--from", "2026-01-19", "--to", "2026-03-05", "--window", "7d"], "leave out --at and --window"),
    (["--from", "2026-01-19T10:30", "--to", "2026-03-05"], "a period starts and ends on a whole hour"),
])
@pytest.mark.parametrize("command", [["scorecard"], ["explain", "sai"]])
def test_a_bad_or_inverted_period_is_one_line_and_a_non_zero_exit(setup, capsys, command, args, message) -> None:
    url, strategy = setup
    code, out, err = _main([*command, *args, "--store", url, "--strategy", strategy], capsys)
    assert code != 0
    assert err.strip().count("\n") == 0 and message in err, err
    assert "Traceback" not in err and not out
