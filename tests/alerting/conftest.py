"""Alerting fixtures: the real promtool, amtool, Prometheus and Alertmanager binaries.

The servers and the webhook receiver are :mod:`alignwatch.promstack`'s (shared with the
alerting drill); here they are fixtures and names the tests import.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from alignwatch.metrics.catalogue import CATALOGUE
from alignwatch.metrics.dashboards import PanelSpec, dashboard_names
from alignwatch.promstack import (  # noqa: F401 - re-exported for the tests of this folder
    Server,
    WebhookReceiver,
    binary,
    free_port,
    get_json,
    prometheus_query,
    start_alertmanager,
    start_prometheus,
    start_webhook_receiver,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of ``promtool``."""
    return binary("promtool")


@pytest.fixture(scope="session")
def amtool() -> str:
    """Path of ``amtool``."""
    return binary("amtool")


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A webhook receiver on a free loopback port; ``received`` holds (time, payload)."""
    receiver = start_webhook_receiver()
    try:
        yield receiver
    finally:
        receiver.stop()


def per_decision_maker(panel: PanelSpec) -> bool:
    """Every query of ``panel`` reads a metric labelled by the strategy's decision-making
    automations (``ethics.decisions``): for a strategy that declares none, it has nothing to show."""
    names = dashboard_names()
    labelled = [names.metric(d.id) for d in CATALOGUE.values()
                if any(label.from_strategy == "ethics.decisions" for label in d.labels_decl)]
    return all(any(f"{name}{{" in query.expr for name in labelled) for query in panel.queries)
