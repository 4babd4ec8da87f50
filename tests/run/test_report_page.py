"""The owner's report: one self-contained page with the SAI, indices, perspectives and pitfalls."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from helpers_scorecard import empty_scorecard

from alignwatch.metrics.card import Ethics, Scorecard
from alignwatch.metrics.ethics import (
    Assessment,
    HumanAgency,
    OversightStaleness,
    Parity,
    Reskilling,
    SegmentRate,
    ethics_score,
)
from alignwatch.metrics.report import (
    INDEX_NAMES,
    PERSPECTIVE_NAMES,
    PITFALL_ADVICE,
    actions,
    format_index,
    format_score,
    render_report,
)


def _page(scorecard: Scorecard, at: dt.datetime, **kwargs: Any) -> str:
    trend = [(at - dt.timedelta(days=n), 50.0 + n) for n in range(6, -1, -1)]
    return render_report(scorecard, business="Corner Bakery", at=at, window="7d", trend=trend, **kwargs)


def test_report_shows_sai_indices_perspectives_and_each_pitfall_with_advice(sample_scorecard, at):
    page = _page(sample_scorecard, at)
    assert f'id="sai" data-value="63.2700">{format_score(63.27)}<' in page
    for ident, index in sample_scorecard.indices.items():
        assert re.search(rf'id="index-{ident}".*?{re.escape(format_index(index.value))}', page, re.S)
    for ident, score in sample_scorecard.perspectives.items():
        assert re.search(rf'id="perspective-{ident}".*?{re.escape(format_score(score))}', page, re.S)
    for pitfall in sample_scorecard.pitfalls:
        start = page.index(f'data-pitfall="{pitfall.pitfall}"')
        card = page[start:page.index("</article>", start)]
        assert pitfall.automation in card
        assert all(action.replace("'", "&#x27;") in card for action in PITFALL_ADVICE[pitfall.pitfall].actions)
    assert "Bread sold of bread baked" in page and "62.0%" in page
    assert re.search(r'id="kpi-sell_through".*?<td>red flag crossed</td>', page, re.S)
    assert re.search(r'id="kpi-csat".*?<td>on target \(only 12 events\)</td>', page, re.S)


def test_report_needs_no_network_to_be_read(sample_scorecard, at):
    page = _page(sample_scorecard, at)
    assert not re.search(r"https?://|<script|<link|<img|<iframe|url\(|@import", page)
    assert page.count("<svg") >= 3


def test_report_without_data_says_so_instead_of_showing_zeros(at):
    page = render_report(empty_scorecard(), business="New shop", at=at, window="7d")
    assert 'id="sai" data-value="">—<' in page
    assert "no published SAI yet" in page and "No pitfall detected" in page
    for ident in INDEX_NAMES:
        assert f'id="index-{ident}"' in page
    for ident in PERSPECTIVE_NAMES:
        assert f'id="perspective-{ident}"' in page


def test_every_pitfall_the_catalogue_declares_has_advice_for_the_owner():
    from alignwatch.metrics.catalogue import PITFALLS

    assert set(PITFALLS) <= set(PITFALL_ADVICE)
    assert all(advice.actions for advice in PITFALL_ADVICE.values())


def test_report_command_rejects_a_bad_date_in_one_line_without_a_traceback(tmp_path: Path):
    import subprocess
    import sys

    result = subprocess.run(
        [str(Path(sys.executable).with_name("alignwatch")), "report", "--at", "last tuesday", "--out", str(tmp_path / "r.html")],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --at 'last tuesday': expected a date like 2026-03-01 or 2026-03-01T12:00:00+00:00"
    ]
    assert not (tmp_path / "r.html").exists()


@pytest.mark.integration
def test_chromium_renders_the_report_with_sai_indices_and_pitfalls_and_a_non_blank_screenshot(
    sample_scorecard, at, chromium, colour_count, tmp_path: Path
):
    report = tmp_path / "report.html"
    report.write_text(_page(sample_scorecard, at), encoding="utf-8")
    dom = chromium("--dump-dom", report.as_uri()).stdout.decode()
    sai = re.search(r'id="sai"[^>]*>([^<]+)<', dom)
    assert sai and sai.group(1) == "63.3"
    for ident, index in sample_scorecard.indices.items():
        tile = re.search(rf'id="index-{ident}".*?class="tile-value">([^<]+)<', dom, re.S)
        assert tile and tile.group(1) == format_index(index.value)
    for pitfall in sample_scorecard.pitfalls:
        assert f'data-pitfall="{pitfall.pitfall}"' in dom
        assert PITFALL_ADVICE[pitfall.pitfall].title in dom
    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1366,900", "--hide-scrollbars", report.as_uri())
    assert colour_count(shot.read_bytes()) >= 8


REFUND_BOT_START, REFUND_BOT_END = dt.datetime(2026, 2, 22, tzinfo=dt.UTC), dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def _ethics(agency: HumanAgency | None = None) -> Assessment:
    """The ethics measures of one refund bot with few decisions (``agency``: its reversals, 8 of 32 by default)."""
    # north 20 decisions, south 12: below min_sample 30 in both, no parity verdict
    parity = Parity("refund_bot", "region", (SegmentRate("south", 12, 6, 0.5, 0.25, 0.75, False),
                                             SegmentRate("north", 20, 18, 0.9, 0.7, 0.97, False)),
                    None, None, None, None, None, 0.8, 30)
    return Assessment(
        REFUND_BOT_START, REFUND_BOT_END, (parity,),
        (agency or HumanAgency("refund_bot", 32, 10, 8, 1, override_rate_max=0.2, min_sample=30),),
        Reskilling(automated=("e1", "e2", "e3"), covered=("e1",), pending=(), displaced=("e2", "e3")),
        (OversightStaleness("refund_bot", "shop owner", dt.date(2026, 2, 1), 28, 90),),
    )


def _with_ethics(scorecard: Scorecard, assessment: Assessment | None) -> Scorecard:
    """``scorecard`` with ``assessment`` as its ethics block, scored as the scorecard scores it, at weight 0."""
    return replace(scorecard, ethics=Ethics(assessment, None if assessment is None else ethics_score(assessment)))


def _ethics_text(page: str) -> str:
    start = page.index('<section id="ethics">')
    return " ".join(re.sub(r"<[^>]+>", " ", page[start:page.index("</section>", start)]).split())


def test_a_strategy_without_decisions_gets_one_line_saying_how_to_declare_them(sample_scorecard, at):
    undeclared = replace(_ethics(), parity=(), agency=(), staleness=())
    for assessment in (None, undeclared):
        section = _ethics_text(_page(_with_ethics(sample_scorecard, assessment), at))
        assert section == ("Ethics and human agency Your strategy declares no automation that decides about customers, "
                           "so nothing here is judged. To have an automation&#x27;s decisions about customers (refunds, "
                           "credit, bookings) checked for fair treatment, list it under ethics.decisions in the strategy "
                           "file (docs/strategy.md, section ethics).")


def test_below_the_minimum_sample_parity_is_not_judged_and_says_how_many_decisions_it_needs(sample_scorecard, at):
    section = _ethics_text(_page(_with_ethics(sample_scorecard, _ethics()), at))
    # a verdict needs two groups of 30: the second largest, south, has 12
    assert "refund_bot, by region: not enough decisions to judge (12 of 30 needed)." in section
    few = _ethics(HumanAgency("refund_bot", 12, 10, 3, 1, override_rate_max=0.2, min_sample=30))
    assert "Reversals: not enough decisions to judge (12 of 30 needed)." in _ethics_text(
        _page(_with_ethics(sample_scorecard, few), at))


def test_reversals_above_the_limit_page_before_every_ticket_and_displaced_people_are_counted(sample_scorecard, at):
    card = _with_ethics(sample_scorecard, _ethics())
    found = actions(card)
    # 8 of 32 reversed = 25.0 %, above the limit 20.0 %: the page of AlignwatchEthicsOverrideRateHigh
    assert found[0].severity == "page"
    assert found[0].problem.startswith("People reversed 25.0% of the decisions of refund_bot (8 of 32), above your limit "
                                       "of 20.0%")
    assert [a.severity for a in found[1:]] == ["ticket"] * (len(found) - 1)
    # two of the three automated people (e2, e3) passed the delay untrained: a ticket, named by count
    assert found[-1].problem == ("2 people whose tasks an automation took on got no training or new responsibility "
                                 "within the delay you committed to.")
    section = _ethics_text(_page(card, at))
    assert "refund_bot: 32 decisions, 10 reviewed by a person, 8 reversed (25.0%), 1 appealed by the customer (3.1%)." \
        in section  # 1 / 32 = 3.125 %
    assert "More reversals than your limit of 20.0%" in section
    assert "Oversight of refund_bot: reviewed 28 days ago by shop owner, within the 90 days committed." in section
    # checks with a verdict: override rate (failed), oversight (passed), reskilling (failed; parity has none):
    # 100 × 1 / 3 = 33.3
    assert "Ethics score: 33.3 of 100" in section and "does not count in it (weights.ethics is 0)" in section


def test_an_ethics_score_weighed_into_the_sai_says_it_counts(sample_scorecard, at):
    card = replace(sample_scorecard, ethics=Ethics(_ethics(), 33.3, weighted_into_sai=True))
    section = _ethics_text(_page(card, at))
    assert "Ethics score: 33.3 of 100" in section and "it counts in the SAI (weights.ethics in your strategy file)" in section
