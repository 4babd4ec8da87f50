"""Every planted change alerts, and the same business without it pages nobody.

Each simulator scenario is replayed at demo volume (12,000 events over 28 days) with its
planted change and without it (its control), and the strategy's alerts are evaluated on the
engine's values every two simulated days (:mod:`alignwatch.drill`; the evaluation is held
equal to Prometheus's by ``test_rules_promtool.py``, and ``test_end_to_end.py`` carries a
detection through a real Prometheus and Alertmanager to a webhook).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alignwatch.drill import EXPECTED, run_drill

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
def test_the_planted_change_raises_its_alert_and_the_control_run_pages_nobody(scenario: str, tmp_path: Path) -> None:
    result = run_drill(scenario, workdir=tmp_path, step=dt.timedelta(days=2))
    found = result.detection
    assert found is not None, [(d.alert, d.labels) for d in result.planted]
    assert found.severity == EXPECTED[scenario].severity
    if result.change_at is not None:  # a change in mid-period: detected after it, within 7 simulated days
        assert result.change_at < found.simulated_at <= result.change_at + dt.timedelta(days=7)
    assert result.false_pages == [], [(d.alert, d.labels, d.simulated_at) for d in result.false_pages]
    # the expected alert is the planted change's: it never fires without it
    assert not [d for d in result.control if EXPECTED[scenario].matches(d.alert, d.labels)]
    # and nothing pages in the planted run but the planted change
    assert all(EXPECTED[scenario].matches(d.alert, d.labels) or d.severity != "page" or d.labels.get("kpi") ==
               found.labels.get("kpi") for d in result.planted)
