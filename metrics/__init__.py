"""Strategy as code, the metric catalogue, the aggregation engine and the exporter."""
