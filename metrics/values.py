"""The unit of computed output: one metric value for one label set and one window.

Shared by the engine (which produces them), the expectation suites (which gate them), the
store writer (which upserts them into ``metric_values``) and the exporter (which serves the
latest published ones).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from alignwatch.store.schema import labels_key

__all__ = ["WINDOWS", "MetricValue", "WindowKind"]

WindowKind = Literal["hour", "day", "7d", "28d"]
WINDOWS: tuple[WindowKind, ...] = ("hour", "day", "7d", "28d")


@dataclass(frozen=True)
class MetricValue:
    """``value`` is None when the metric has no data in the window (never a silent zero)."""

    metric_id: str
    labels: dict[str, str]
    window: WindowKind
    window_start: dt.datetime
    window_end: dt.datetime
    value: float | None
    inputs: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def labels_key(self) -> str:
        """The canonical key of ``labels`` (computed once: the writer, the gate and the exporter all ask)."""
        return labels_key(self.labels)

    @property
    def key(self) -> tuple[str, str, str, dt.datetime]:
        """The store's unique key: (metric, labels, window kind, window end)."""
        return (self.metric_id, self.labels_key, self.window, self.window_end)
