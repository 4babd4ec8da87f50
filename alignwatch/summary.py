"""What the live view shows of a scorecard and of the firing alerts, in a few lines."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

__all__ = ["firing_lines", "summarise_scorecard"]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, dict):
        for key in ("value", "score"):
            if key in value:
                return _number(value[key])
    return None


def _pairs(value: Any, keys: tuple[str, ...] = ("id",)) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        yield from ((str(k), v) for k, v in value.items())
    elif isinstance(value, list):
        for item in value:
            ident = next((item.get(k) for k in keys if isinstance(item, dict) and item.get(k)), None)
            yield str(ident), item


#: labels every alert carries that say nothing about what fired
_CONTEXT_LABELS = frozenset({"business", "severity", "alert_class", "goal", "perspective"})


def firing_lines(firing: Sequence[Any]) -> list[str]:
    """The live view's lines for firing alerts (:class:`alignwatch.metrics.rules.Firing`): pages first,
    then tickets, each ``"<severity> <alert> (<label>=<value>, ...)"`` without the labels
    every alert carries."""
    order = {"page": 0, "ticket": 1}
    lines = []
    for alert in sorted(firing, key=lambda a: (order.get(a.severity, 2), a.name, sorted(a.labels.items()))):
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k not in _CONTEXT_LABELS)
        lines.append(f"{alert.severity} {alert.name}" + (f" ({labels})" if labels else ""))
    return list(dict.fromkeys(lines))


def summarise_scorecard(scorecard: dict[str, Any]) -> dict[str, Any]:
    """What the live view shows of a scorecard: SAI, indices, perspectives, pitfalls, alerts."""
    pitfalls: list[str] = []
    for ident, item in _pairs(scorecard.get("pitfalls"), ("id", "pitfall")):
        if isinstance(item, dict) and item.get("active") is False:
            continue
        subject = item.get("subject") or item.get("automation") or item.get("automation_id") or item.get("process_id") if isinstance(item, dict) else None
        pitfalls.append(f"{ident} ({subject})" if subject else ident)
    alerts: list[str] = []
    for ident, item in _pairs(scorecard.get("drift"), ("id", "kpi", "kind")):
        if isinstance(item, dict) and item.get("active") is False:
            continue
        message = item.get("message") if isinstance(item, dict) else None
        alerts.append(f"{ident}: {message}" if message else ident)
    human = scorecard.get("human_reachability")
    reach, floor = _number(human), human.get("floor") if isinstance(human, dict) else None
    if reach is not None and isinstance(floor, int | float) and reach < floor:
        alerts.append(f"human reachability {reach:.0%} below the floor {floor:.0%}")
    return {
        "sai": _number(scorecard.get("sai")),
        "indices": {k: _number(v) for k, v in _pairs(scorecard.get("indices"))},
        "perspectives": {k: _number(v) for k, v in _pairs(scorecard.get("perspectives"))},
        "pitfalls": sorted(set(pitfalls)),
        "alerts": alerts,
    }
