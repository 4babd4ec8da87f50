"""The words every layer shares, each list written once.

Perspectives, checklist items, pitfalls, the strategic indices and the inputs of the
Strategic Alignment Index; metric units and directions; the naming convention
(``alignwatch_<subsystem>_<name>_<unit>``) with its identity labels; the served names of
the ingestion instruments. The strategy model, the metric catalogue, the formulas, the
exporter, the rules, the dashboards, the report and the live view import these; none of
them writes a list of its own.

This module imports nothing of the project but :mod:`alignwatch.errors`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal, get_args

from alignwatch.errors import ConfigError

__all__ = [
    "BASE_UNITS",
    "CHECKLIST",
    "DIRECTIONS",
    "ETHICS_INPUT",
    "EVENT_SHARE_MEASURES",
    "IDENTITY_LABELS",
    "INDICES",
    "INDEX_TITLES",
    "INGEST_INSTRUMENTS",
    "NAMESPACE",
    "PERSPECTIVES",
    "PERSPECTIVE_TITLES",
    "PITFALLS",
    "SAI_INPUTS",
    "SEGMENT_NAME_PATTERN",
    "SUFFIXED_UNITS",
    "UNITS",
    "BaseUnit",
    "ChecklistItem",
    "Direction",
    "InstrumentName",
    "MetricDirection",
    "Perspective",
    "Unit",
    "utc",
]

# --------------------------------------------------------------------------- strategy words

Perspective = Literal["financial", "customer", "internal_process", "learning_growth"]
PERSPECTIVES: tuple[str, ...] = get_args(Perspective)
"""The four balanced-scorecard perspectives, in scorecard order."""
PERSPECTIVE_TITLES: dict[str, str] = {
    "financial": "Financial",
    "customer": "Customer",
    "internal_process": "Internal process",
    "learning_growth": "Learning & growth",
}
"""How a perspective reads on a page."""

ChecklistItem = Literal[
    "clear_strategy",
    "process_assessment",
    "automation_linked_to_goals",
    "prioritisation",
    "pilot_projects",
    "team_involvement",
    "kpi_measurement",
    "continuous_monitoring",
]
CHECKLIST: tuple[ChecklistItem, ...] = get_args(ChecklistItem)
"""The eight items of the strategic alignment checklist."""

PITFALLS: tuple[str, ...] = (
    "feature_overload",
    "process_mismatch",
    "integration_issues",
    "lack_of_user_adoption",
    "roi_miscalculation",
    "overproduction",
)
"""Pitfall ids: the five of the seed plus over-production, the bakery's parable."""

INDICES: tuple[str, ...] = ("cjai", "spar", "aac", "sdur", "ssai")
"""The five strategic automation indices (catalogue ids), in the order pages show them."""
INDEX_TITLES: dict[str, str] = {
    "cjai": "Customer Journey Automation Index",
    "spar": "Strategic Process Automation Ratio",
    "aac": "Adaptive Automation Capacity",
    "sdur": "Strategic Data Utilization Rate",
    "ssai": "Strategic Skill Augmentation Index",
}
"""How an index reads on a page."""

ETHICS_INPUT = "ethics"
"""The SAI input of the "Ethics and human agency" perspective: the ethics score, at weight 0 unless the strategy says otherwise."""
SAI_INPUTS: tuple[str, ...] = (*INDICES, *PERSPECTIVES, ETHICS_INPUT)
"""Inputs of the Strategic Alignment Index, in order (their weights come from the strategy)."""

EVENT_SHARE_MEASURES: frozenset[str] = frozenset(
    {"human_reachability", "first_contact_resolution", "repeat_purchase_rate", "error_rate", "rework_rate",
     "automation_rate"}
)  # fmt: skip
"""KPI measures that are a share of events: each event meets the objective or spends error
budget (good ÷ all for direction up, bad ÷ all for direction down). The engine computes
their burn rate, the rules alert on it."""

# --------------------------------------------------------------------------- metric words

Unit = Literal["ratio", "score", "seconds", "minutes", "per_30d", "per_100_runs", "count", "factor", "flag", "kpi"]
UNITS: tuple[str, ...] = get_args(Unit)
"""Units a metric is computed in (``kpi``: the KPI's own unit)."""
MetricDirection = Literal["up", "down", "none"]
"""Which way is better for a metric (``none``: neither, a volume or a share to read)."""
Direction = Literal["up", "down"]
"""Which way is better for a KPI."""
DIRECTIONS: tuple[str, ...] = get_args(Direction)

SUFFIXED_UNITS: frozenset[str] = frozenset({"ratio", "score", "seconds", "minutes", "per_30d", "per_100_runs"})
"""Units a served name ends with; factors, flags, counts and KPI values carry no suffix."""


@dataclass(frozen=True)
class BaseUnit:
    """A unit served converted to a Prometheus base unit: the word that replaces it in the
    name, the base unit's suffix and the factor applied to the values."""

    word: str
    suffix: str
    factor: float


BASE_UNITS: dict[str, BaseUnit] = {"minutes": BaseUnit("time", "seconds", 60.0)}
"""``promtool check metrics`` rejects ``minutes`` anywhere in a name: minutes are served as seconds."""

SEGMENT_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
"""A segment dimension of a decision about customers (``region``, ``amount_band``): the keys
of an ``automation.decision`` event's ``segments`` and the strategy's ``ethics`` dimensions."""

NAMESPACE = "alignwatch"
IDENTITY_LABELS: tuple[str, ...] = ("business", "window")
"""The labels every metric series carries before its own."""

# --------------------------------------------------------------------------- ingestion instruments


@dataclass(frozen=True)
class InstrumentName:
    """The Prometheus name of an ingestion instrument (a counter is exposed with ``_total``)."""

    kind: Literal["counter", "gauge", "histogram"]
    name: str

    @property
    def exposed(self) -> str:
        """The sample name as scraped."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


INGEST_INSTRUMENTS: dict[str, InstrumentName] = {
    "consumed": InstrumentName("counter", f"{NAMESPACE}_ingest_events_consumed"),
    "stored": InstrumentName("counter", f"{NAMESPACE}_ingest_events_stored"),
    "duplicates": InstrumentName("counter", f"{NAMESPACE}_ingest_events_duplicates"),
    "rejected": InstrumentName("counter", f"{NAMESPACE}_ingest_events_rejected"),
    "store_retries": InstrumentName("counter", f"{NAMESPACE}_ingest_store_retries"),
    "batch_size": InstrumentName("histogram", f"{NAMESPACE}_ingest_batch_size_events"),
    "commit_latency": InstrumentName("histogram", f"{NAMESPACE}_ingest_commit_latency_seconds"),
    "lag": InstrumentName("gauge", f"{NAMESPACE}_ingest_consumer_lag_messages"),
    "last_commit": InstrumentName("gauge", f"{NAMESPACE}_ingest_last_commit_timestamp_seconds"),
}
"""Instrument attribute → its name: the consumer registers them, rules and dashboards query them."""

# --------------------------------------------------------------------------- time


def utc(moment: dt.datetime, what: str) -> dt.datetime:
    """``moment`` in UTC, as a plain :class:`datetime.datetime`; a naive datetime is a
    :class:`ConfigError` naming ``what``.

    Airflow passes its data intervals as pendulum ``DateTime`` objects, a subclass whose
    arithmetic and timezone handling differ from the standard library's (window arithmetic
    on them mixed naive and aware datetimes): the result is always the plain type.
    """
    if moment.tzinfo is None:
        raise ConfigError(f"{what} {moment.isoformat()} has no timezone: windows are timezone-aware")
    m = moment.astimezone(dt.UTC)
    return dt.datetime(m.year, m.month, m.day, m.hour, m.minute, m.second, m.microsecond, tzinfo=dt.UTC)
