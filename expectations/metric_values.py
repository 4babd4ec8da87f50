"""Suite ``metric_values``: computed metrics, checked before they are published.

Rules (each a named expectation class with a description):

- no value is NaN or infinite (a metric without data is ``None``, never NaN);
- ratios lie in [0, 1];
- scores and indices lie in [0, 100];
- every metric the strategy needs is present, and every KPI it declares has a value;
- the SAI's contributions add up to the SAI, in every window.

Which metrics are ratios, scores, required or contributions is not restated here: it comes
from the metric catalogue and the strategy as :class:`MetricRules` (see
:func:`rules_from_catalogue`). The batch is a pandas frame with one row per value
(:func:`values_frame`).

This module imports Great Expectations (slow): import it inside the functions that run it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np

from alignwatch.expectations.runner import SuiteOutcome, gx_context, validate_frame
from alignwatch.metrics.catalogue import CATALOGUE
from alignwatch.metrics.strategy import Strategy
from alignwatch.metrics.values import MetricValue

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CONTRIBUTION_TOLERANCE",
    "SUITE_NAME",
    "ExpectContributionsSumToSai",
    "ExpectFiniteValues",
    "ExpectRatiosInUnitInterval",
    "ExpectRequiredMetricsPresent",
    "ExpectScoresOnHundredPointScale",
    "ExpectStrategyKpisPresent",
    "MetricRules",
    "build_suite",
    "check_metric_values",
    "rules_from_catalogue",
    "values_frame",
]

SUITE_NAME = "metric_values"
#: the catalogue metrics the suite's own rules are about
SAI_ID = "sai"
CONTRIBUTION_ID = "sai_contribution"
KPI_VALUE_ID = "kpi_value"
# contributions are rounded by nobody, but floating point sums are not exact
CONTRIBUTION_TOLERANCE = 1e-6


@dataclass(frozen=True)
class MetricRules:
    """What the suite needs to know about the metrics (derived from catalogue + strategy)."""

    ratio_ids: frozenset[str]
    score_ids: frozenset[str]
    required_ids: frozenset[str]
    sai_id: str | None = None
    contribution_id: str | None = None
    # the metric carrying one value per strategy KPI (label ``kpi``) and the KPI ids it must cover
    kpi_metric_id: str | None = None
    kpi_ids: frozenset[str] = frozenset()


# ---------------------------------------------------------------- domain rules


class ExpectFiniteValues(gxe.ExpectColumnValuesToBeInSet):
    """No value is NaN or infinite: a metric without data is None."""

    column: str = "not_finite"
    value_set: list[Any] = [False]  # noqa: RUF012
    description: str | None = "no metric value is NaN or infinite (no data is None, never NaN)"


class ExpectRatiosInUnitInterval(gxe.ExpectColumnValuesToBeBetween):
    """Ratios lie in [0, 1]."""

    column: str = "ratio_value"
    min_value: float = 0.0
    max_value: float = 1.0
    description: str | None = "every ratio lies in [0, 1]"


class ExpectScoresOnHundredPointScale(gxe.ExpectColumnValuesToBeBetween):
    """Scores and indices lie in [0, 100]."""

    column: str = "score_value"
    min_value: float = 0.0
    max_value: float = 100.0
    description: str | None = "every score lies in [0, 100]"


class ExpectRequiredMetricsPresent(gxe.ExpectColumnDistinctValuesToContainSet):
    """Every metric the strategy needs was computed."""

    column: str = "metric_id"
    description: str | None = "every metric the strategy needs is present"


class ExpectStrategyKpisPresent(gxe.ExpectColumnDistinctValuesToContainSet):
    """Every KPI the strategy declares has a value row (None when it had no data)."""

    column: str = "kpi"
    description: str | None = "every KPI of the strategy is computed"


class ExpectContributionsSumToSai(gxe.ExpectColumnValuesToBeBetween):
    """In every window, the SAI equals the sum of its contributions."""

    column: str = "contribution_gap"
    min_value: float = -CONTRIBUTION_TOLERANCE
    max_value: float = CONTRIBUTION_TOLERANCE
    description: str | None = "the SAI's contributions add up to the SAI in every window"


# ---------------------------------------------------------------- batch and suite


def values_frame(values: Iterable[MetricValue], rules: MetricRules) -> pd.DataFrame:
    """One row per value, with the derived columns the rules read.

    ``contribution_gap`` is set on SAI rows only: SAI minus the sum of the contributions of
    the same window (no contributions and no SAI value: no gap to check).
    """
    import pandas as pd

    values = list(values)
    contributions: dict[tuple[str, Any], float] = defaultdict(float)
    if rules.contribution_id is not None:
        for item in values:
            if item.metric_id == rules.contribution_id and _finite(item.value):
                contributions[(item.window, item.window_end)] += float(item.value)
    # one list per column (the common window ends converted once)
    metric_ids, keys, windows, ends, numbers, not_finite, ratios, scores, gaps, kpis = ([] for _ in range(10))
    seconds: dict[dt.datetime, float] = {}
    for item in values:
        metric_id, value, end = item.metric_id, item.value, item.window_end
        number = float(value) if _finite(value) else None  # None: no data, NaN or infinite
        gap = None
        if metric_id == rules.sai_id and number is not None:
            gap = number - contributions.get((item.window, end), 0.0)
        if end not in seconds:
            seconds[end] = end.timestamp()
        metric_ids.append(metric_id)
        keys.append(item.labels_key)
        windows.append(item.window)
        ends.append(seconds[end])
        numbers.append(number)
        not_finite.append(value is not None and number is None)
        ratios.append(number if metric_id in rules.ratio_ids else None)
        scores.append(number if metric_id in rules.score_ids else None)
        gaps.append(gap)
        kpis.append(item.labels.get("kpi") if metric_id == rules.kpi_metric_id else None)
    frame = pd.DataFrame(
        {
            "metric_id": pd.Series(metric_ids, dtype=None if metric_ids else "object"),
            "labels_key": pd.Series(keys, dtype=None if keys else "object"),
            "window": pd.Series(windows, dtype=None if windows else "object"),
            "window_end_s": np.array(ends, dtype="float64"),
            "value": np.array(numbers, dtype="float64"),
            "not_finite": np.array(not_finite, dtype=bool),
            "ratio_value": np.array(ratios, dtype="float64"),
            "score_value": np.array(scores, dtype="float64"),
            "contribution_gap": np.array(gaps, dtype="float64"),
            "kpi": pd.Series(kpis, dtype=None if kpis else "object"),
        }
    )
    return frame


def _finite(value: float | None) -> TypeGuard[float]:
    return value is not None and isinstance(value, int | float) and math.isfinite(value)


def build_suite(rules: MetricRules) -> gx.ExpectationSuite:
    """The ``metric_values`` suite for the given rules."""
    gx_context()  # suites need an active context
    suite = gx.ExpectationSuite(name=SUITE_NAME)
    suite.add_expectation(ExpectFiniteValues())
    suite.add_expectation(ExpectRatiosInUnitInterval())
    suite.add_expectation(ExpectScoresOnHundredPointScale())
    suite.add_expectation(ExpectRequiredMetricsPresent(value_set=sorted(rules.required_ids)))
    if rules.kpi_metric_id is not None and rules.kpi_ids:
        suite.add_expectation(ExpectStrategyKpisPresent(value_set=sorted(rules.kpi_ids)))
    if rules.sai_id is not None and rules.contribution_id is not None:
        suite.add_expectation(ExpectContributionsSumToSai())
    return suite


def check_metric_values(values: Iterable[MetricValue], rules: MetricRules) -> SuiteOutcome:
    """Validate computed values before they are published."""
    return validate_frame(build_suite(rules), values_frame(values, rules))


def rules_from_catalogue(strategy: Strategy) -> MetricRules:
    """The rules for ``strategy``, derived from the metric catalogue's declarations.

    The catalogue says which metrics are ratios, scores (the SAI's contributions are points
    checked by their own rule) and required; the strategy adds the KPIs that must each have
    a ``kpi_value`` row.
    """
    return MetricRules(
        ratio_ids=frozenset(d.id for d in CATALOGUE.values() if d.is_ratio),
        score_ids=frozenset(d.id for d in CATALOGUE.values() if d.is_score and d.id != CONTRIBUTION_ID),
        required_ids=frozenset(d.id for d in CATALOGUE.values() if d.required),
        sai_id=SAI_ID,
        contribution_id=CONTRIBUTION_ID,
        kpi_metric_id=KPI_VALUE_ID,
        kpi_ids=frozenset(str(kpi.id) for kpi in strategy.kpis),
    )
