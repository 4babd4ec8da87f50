"""One place for Prometheus names: ``alignwatch_<subsystem>_<name>_<unit>``.

Base units (seconds, ratios 0..1); units that are not a base unit of Prometheus's
conventions but are part of the metric's meaning (``score`` on 0..100, ``minutes``,
``per_30d``) are suffixed too; dimensionless factors, flags, counts and KPI values (whose
unit is the KPI's own) carry no suffix. Identity labels: ``business`` and ``window`` on
every series, then the metric's own labels from the catalogue.
"""

from __future__ import annotations

from alignwatch.metrics.catalogue import CATALOGUE, MetricDecl

__all__ = ["IDENTITY_LABELS", "NAMESPACE", "label_names", "names", "prometheus_name"]

NAMESPACE = "alignwatch"
IDENTITY_LABELS: tuple[str, ...] = ("business", "window")
_SUFFIXED_UNITS = {"ratio", "score", "seconds", "minutes", "per_30d", "per_100_runs"}


def prometheus_name(decl: MetricDecl | str) -> str:
    """The Prometheus name of a catalogue metric (a declaration or its id)."""
    if isinstance(decl, str):
        decl = CATALOGUE[decl]
    name = decl.name or decl.id
    prefix = f"{decl.subsystem}_"
    if name.startswith(prefix):
        name = name[len(prefix):]
    parts = [NAMESPACE, decl.subsystem, name]
    if decl.unit in _SUFFIXED_UNITS and not name.endswith(decl.unit):
        parts.append(decl.unit)
    return "_".join(parts)


def label_names(decl: MetricDecl | str) -> tuple[str, ...]:
    """Every label of the metric's series: the identity labels, then its own."""
    if isinstance(decl, str):
        decl = CATALOGUE[decl]
    return (*IDENTITY_LABELS, *decl.labels)


def names() -> dict[str, str]:
    """Catalogue id -> Prometheus name, for every metric."""
    return {metric_id: prometheus_name(decl) for metric_id, decl in CATALOGUE.items()}
