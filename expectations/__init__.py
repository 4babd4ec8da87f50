"""Great Expectations suites that gate every publication of metrics."""
