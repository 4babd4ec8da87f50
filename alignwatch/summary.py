"""What the live view shows of a scorecard and of the firing alerts, in a few lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from alignwatch.metrics.rules import Firing
from alignwatch.metrics.scorecard import Scorecard

__all__ = ["Summary", "firing_lines", "summarise_scorecard"]


#: labels every alert carries that say nothing about what fired
_CONTEXT_LABELS = frozenset({"business", "severity", "alert_class", "goal", "perspective"})


def firing_lines(firing: Sequence[Firing]) -> list[str]:
    """The live view's lines for firing alerts: pages first, then tickets, each
    ``"<severity> <alert> (<label>=<value>, ...)"`` without the labels every alert carries."""
    order = {"page": 0, "ticket": 1}
    lines = []
    for alert in sorted(firing, key=lambda a: (order.get(a.severity, 2), a.name, sorted(a.labels.items()))):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _CONTEXT_LABELS)
        lines.append(f"{alert.severity} {alert.name}" + (f" ({labels})" if labels else ""))
    return list(dict.fromkeys(lines))


@dataclass(frozen=True)
class Summary:
    """What the live view shows of a scorecard: the SAI, the indices (0–1) and perspective scores
    (0–100), the active pitfalls as ``"<pitfall> (<automation>)"`` and the drift signals as
    ``"<signal>: <message>"``."""

    sai: float | None
    indices: dict[str, float | None]
    perspectives: dict[str, float | None]
    pitfalls: list[str]
    alerts: list[str]


def summarise_scorecard(scorecard: Scorecard) -> Summary:
    """What the live view shows of a scorecard: SAI, indices, perspectives, pitfalls, drift signals.

    Human reachability below its floor is one of the drift signals: the scorecard raises it
    when the window's value is under the strategy's floor."""
    pitfalls = sorted({f"{finding.pitfall} ({finding.automation})" for finding in scorecard.pitfalls if finding.active})
    alerts = [f"{signal.id}: {signal.message}" for signal in scorecard.drift if signal.active]
    return Summary(
        sai=scorecard.sai,
        indices={ident: index.value for ident, index in scorecard.indices.items()},
        perspectives=dict(scorecard.perspectives),
        pitfalls=pitfalls,
        alerts=alerts,
    )
