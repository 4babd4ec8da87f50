"""Event contract and Kafka ingestion: decode, validate, batch, idempotent sink."""
