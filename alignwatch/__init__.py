"""alignwatch: measure, continuously, whether automation serves the business's strategy.

The distribution ships four packages: ``alignwatch`` (configuration, store, CLI),
``stream`` (event contract and Kafka ingestion), ``metrics`` (strategy, metric catalogue,
engine, exporter) and ``expectations`` (Great Expectations suites gating publication).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
