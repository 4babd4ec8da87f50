"""Running a suite against a pandas frame, and the outcome it leaves for the store.

Great Expectations is slow to import and to set up, so it is imported inside
:func:`validate_frame` and one ephemeral context (with its pandas data source) is built per
process and reused by every run. The outcome is a :class:`SuiteOutcome`: plain data that
goes into ``pipeline_runs.validation`` as JSON and that the exporter reads.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core.expectation_suite import ExpectationSuite

__all__ = ["ExpectationOutcome", "SuiteOutcome", "gx_context", "run_suite", "validate_frame"]

DATA_SOURCE = "alignwatch"

_lock = threading.Lock()
_context: Any = None


@dataclass(frozen=True)
class ExpectationOutcome:
    """One expectation's result: which rule, what it checked, and what it observed."""

    expectation: str
    description: str
    success: bool
    kwargs: dict[str, Any] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form stored in the run's validation column."""
        return {
            "expectation": self.expectation,
            "description": self.description,
            "success": self.success,
            "kwargs": _json_safe(self.kwargs),
            "observed": _json_safe(self.observed),
        }


@dataclass(frozen=True)
class SuiteOutcome:
    """A suite's verdict on one batch."""

    suite: str
    success: bool
    rows: int
    expectations: tuple[ExpectationOutcome, ...]

    @property
    def failed(self) -> tuple[ExpectationOutcome, ...]:
        """The expectations that did not hold."""
        return tuple(item for item in self.expectations if not item.success)

    def as_json(self) -> dict[str, Any]:
        """JSON-safe form stored in the run's validation column."""
        return {
            "suite": self.suite,
            "success": self.success,
            "rows": self.rows,
            "failed": [item.expectation for item in self.failed],
            "expectations": [item.as_json() for item in self.expectations],
        }


def gx_context() -> Any:
    """The process's ephemeral Great Expectations context (built once, then reused)."""
    global _context
    with _lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            context.data_sources.add_pandas(DATA_SOURCE)
            _context = context
        return _context


def run_suite(suite: ExpectationSuite, frame: pd.DataFrame, result_format: str = "SUMMARY") -> Any:
    """Great Expectations' own result of ``suite`` on ``frame`` (the shared ephemeral context)."""
    context = gx_context()
    with _lock:
        source = context.data_sources.get(DATA_SOURCE)
        try:
            asset = source.get_asset(suite.name)
        except LookupError:
            asset = source.add_dataframe_asset(suite.name)
        try:
            definition = asset.get_batch_definition("whole")
        except (KeyError, LookupError):
            definition = asset.add_batch_definition_whole_dataframe("whole")
    batch = definition.get_batch(batch_parameters={"dataframe": frame})
    return batch.validate(suite, result_format=result_format)


def validate_frame(suite: ExpectationSuite, frame: pd.DataFrame) -> SuiteOutcome:
    """Validate ``frame`` against ``suite`` with the shared ephemeral context."""
    result = run_suite(suite, frame)
    # each domain rule is its own class; a rule used on several columns differs by column
    described = {(exp.expectation_type, getattr(exp, "column", None)): exp for exp in suite.expectations}
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        declared = described.get((config.type, config.kwargs.get("column"))) or described.get((config.type, None))
        kwargs = {k: v for k, v in dict(config.kwargs).items() if k != "batch_id"}
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                description=(declared.description if declared is not None else None) or config.type,
                success=bool(item.success),
                kwargs=kwargs,
                observed=_observed(dict(item.result or {})),
            )
        )
    return SuiteOutcome(
        suite=suite.name,
        success=bool(result.success),
        rows=len(frame),
        expectations=tuple(outcomes),
    )


def _observed(result: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "observed_value", "element_count", "unexpected_count", "missing_count",
        "partial_unexpected_list", "partial_missing_list",
    )
    observed = {key: result[key] for key in keep if key in result}
    for key in ("partial_unexpected_list", "partial_missing_list"):
        if key in observed:
            observed[key] = list(observed[key])[:10]
    return observed


def _json_safe(value: Any) -> Any:
    """Plain JSON values: NaN and infinities become strings, tuples lists, others str."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
