"""Great Expectations suites that gate every publication of metrics.

- :mod:`alignwatch.expectations.raw_events`: the stored events of a run's interval (ids, types, times,
  value ranges, volume against a band learned from earlier days);
- :mod:`alignwatch.expectations.metric_values`: the computed values (finite, ratios in [0, 1], scores
  in [0, 100], required metrics present, contributions summing to the SAI);
- :mod:`alignwatch.expectations.runner`: runs a suite on a pandas frame in the process's ephemeral
  context and returns a plain :class:`~alignwatch.expectations.runner.SuiteOutcome`.

The suite modules import Great Expectations, which is slow: ``alignwatch.pipeline`` imports
them inside the run, never at module level.
"""

__all__: list[str] = []
