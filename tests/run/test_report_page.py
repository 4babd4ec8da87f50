"""The owner's report: one self-contained page with the SAI, indices, perspectives and pitfalls."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
from helpers_scorecard import empty_scorecard

from alignwatch.metrics.card import Scorecard
from alignwatch.metrics.report import (
    INDEX_NAMES,
    PERSPECTIVE_NAMES,
    PITFALL_ADVICE,
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
