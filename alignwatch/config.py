"""Configuration: one frozen, typed settings object built at the entry point.

Every field can be set from the environment with the ``ALIGNWATCH_`` prefix (the variable
is named in each field's description) or from a ``.env`` file in the working directory.
Only entry points (the CLI, the DAG tasks, the runner) build a ``Settings``; everything
else receives the values it needs as arguments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypedDict

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from alignwatch.errors import ConfigError

__all__ = ["DEFAULT_STORE_URL", "NIGHTLY_START_DATE", "Settings", "load_settings", "nightly_schedule"]

DEFAULT_STORE_URL = "sqlite:///var/alignwatch.db"
#: the nightly DAG's default ``start_date`` (only replayed from with catch-up on)
NIGHTLY_START_DATE = dt.date(2026, 1, 1)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class KafkaSecurity(TypedDict, total=False):
    """The security keyword arguments of kafka-python's clients (see :meth:`Settings.kafka_security`)."""

    security_protocol: str
    sasl_mechanism: str
    sasl_plain_username: str | None
    sasl_plain_password: str
    ssl_cafile: str
    ssl_certfile: str
    ssl_keyfile: str
    ssl_password: str


class Settings(BaseSettings):
    """alignwatch settings. Environment variables: ``ALIGNWATCH_<FIELD>`` (upper case)."""

    model_config = SettingsConfigDict(
        env_prefix="ALIGNWATCH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
    )

    store_url: str = Field(
        DEFAULT_STORE_URL,
        description="SQLAlchemy URL of the store (ALIGNWATCH_STORE_URL). "
        "SQLite under ./var/ by default; postgresql+psycopg://user@host/db in production.",
    )
    strategy_file: Path = Field(
        Path("examples/bakery.yaml"),
        description="The business's strategy file (ALIGNWATCH_STRATEGY_FILE).",
    )
    allow_business_mismatch: bool = Field(
        False,
        description="Use the strategy even when the store serves another business "
        "(ALIGNWATCH_ALLOW_BUSINESS_MISMATCH); off by default: a command whose strategy names another business "
        "than the one the store records stops with an error naming both (alignwatch.store.business).",
    )
    max_strategy_bytes: int = Field(
        1024 * 1024,
        ge=1024,
        description="Largest strategy file read, in bytes (ALIGNWATCH_MAX_STRATEGY_BYTES); checked before the file "
        "is parsed. 1 MiB by default.",
    )
    bootstrap_servers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1:9092"],
        description="Kafka bootstrap servers, comma-separated HOST:PORT (ALIGNWATCH_BOOTSTRAP_SERVERS).",
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="Kafka security protocol (ALIGNWATCH_SECURITY_PROTOCOL)."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        None, description="Kafka SASL mechanism (ALIGNWATCH_SASL_MECHANISM)."
    )
    sasl_username: str | None = Field(None, description="Kafka SASL user (ALIGNWATCH_SASL_USERNAME).")
    sasl_password: SecretStr | None = Field(
        None, description="Kafka SASL password (ALIGNWATCH_SASL_PASSWORD); never logged."
    )
    ssl_cafile: Path | None = Field(None, description="CA bundle for Kafka TLS (ALIGNWATCH_SSL_CAFILE).")
    ssl_certfile: Path | None = Field(None, description="Client certificate for Kafka TLS (ALIGNWATCH_SSL_CERTFILE).")
    ssl_keyfile: Path | None = Field(None, description="Client key for Kafka TLS (ALIGNWATCH_SSL_KEYFILE).")
    ssl_password: SecretStr | None = Field(
        None, description="Password of the client key (ALIGNWATCH_SSL_PASSWORD); never logged."
    )
    topics: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["alignwatch.events"],
        description="Topics to consume, comma-separated (ALIGNWATCH_TOPICS).",
    )
    topic_pattern: str | None = Field(
        None, description="Regex of topics to subscribe to instead of a list (ALIGNWATCH_TOPIC_PATTERN)."
    )
    dlq_suffix: str = Field(".dlq", description="Dead-letter topic = <topic><suffix> (ALIGNWATCH_DLQ_SUFFIX).")
    consumer_group: str = Field(
        "alignwatch",
        min_length=1,
        description="Kafka consumer group (ALIGNWATCH_CONSUMER_GROUP). `alignwatch run` with the simulator uses a "
        "group of its own per run (alignwatch-demo-<time>-<pid>) unless this or --group is given.",
    )
    batch_size: int = Field(2000, ge=1, description="Events per store transaction, at most (ALIGNWATCH_BATCH_SIZE).")
    batch_timeout_s: float = Field(
        1.0, gt=0, description="Seconds a partial batch may wait before it is written (ALIGNWATCH_BATCH_TIMEOUT_S)."
    )
    session_timeout_ms: int = Field(
        10000, ge=1000, description="Kafka consumer session timeout (ALIGNWATCH_SESSION_TIMEOUT_MS)."
    )
    heartbeat_interval_ms: int = Field(
        3000, ge=100, description="Kafka consumer heartbeat interval (ALIGNWATCH_HEARTBEAT_INTERVAL_MS)."
    )
    metadata_max_age_ms: int = Field(
        300_000,
        ge=1000,
        description="How often the consumer refreshes the cluster's metadata, so how soon a topic created after it "
        "started and matching the topic pattern is consumed (ALIGNWATCH_METADATA_MAX_AGE_MS).",
    )
    max_payload_bytes: int = Field(
        256 * 1024, ge=1024, description="Largest accepted event, in bytes (ALIGNWATCH_MAX_PAYLOAD_BYTES)."
    )
    max_future_s: float = Field(
        86400.0, ge=0, description="How far in the future an event time may be (ALIGNWATCH_MAX_FUTURE_S)."
    )
    max_age_s: float | None = Field(
        None,
        description="Oldest accepted event time on live topics, in seconds; unset = no limit "
        "(ALIGNWATCH_MAX_AGE_S). Imports of historical logs ignore it.",
    )
    run_timeout_s: float = Field(
        6 * 3600.0,
        gt=0,
        description="A pipeline run still `running` after this many seconds is marked `abandoned` "
        "(ALIGNWATCH_RUN_TIMEOUT_S); 6 hours by default.",
    )
    nightly_max_late_days: int = Field(
        62,
        ge=0,
        description="Most local days a nightly run recomputes besides its own for late events, oldest first "
        "(ALIGNWATCH_NIGHTLY_MAX_LATE_DAYS); the days over it are logged and left to the next nightly run. "
        "A late event brings its day and the 27 days after it (the 7d and 28d windows that cover it).",
    )
    exporter_host: str = Field(
        "127.0.0.1", description="Address the exporter binds (ALIGNWATCH_EXPORTER_HOST); loopback by default."
    )
    exporter_port: int = Field(9464, ge=0, le=65535, description="Exporter port (ALIGNWATCH_EXPORTER_PORT).")
    exporter_web_config: Path | None = Field(
        None, description="Prometheus-style web config (TLS, basic auth) for the exporter (ALIGNWATCH_EXPORTER_WEB_CONFIG)."
    )

    @field_validator("bootstrap_servers", "topics", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def kafka_security(self) -> KafkaSecurity:
        """Keyword arguments for kafka-python clients carrying the security settings."""
        options: KafkaSecurity = {"security_protocol": self.security_protocol}
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            if self.sasl_password is not None:
                options["sasl_plain_password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile is not None:
            options["ssl_cafile"] = str(self.ssl_cafile)
        if self.ssl_certfile is not None:
            options["ssl_certfile"] = str(self.ssl_certfile)
        if self.ssl_keyfile is not None:
            options["ssl_keyfile"] = str(self.ssl_keyfile)
        if self.ssl_password is not None:
            options["ssl_password"] = self.ssl_password.get_secret_value()
        return options


def load_settings(**overrides: Any) -> Settings:
    """Build the settings from the environment, with command-line ``overrides`` (None = not given)."""
    # pydantic validates the values: what the command line gives is checked there, not here
    given: dict[str, Any] = {key: value for key, value in overrides.items() if value is not None and value != ()}
    return Settings(**given)


def nightly_schedule(environ: Mapping[str, str]) -> tuple[dt.datetime, bool]:
    """The nightly DAG's ``start_date`` (midnight UTC) and ``catchup``, read when the DAG file is parsed.

    ``ALIGNWATCH_NIGHTLY_CATCHUP`` (true/false, default false: only the latest night runs
    when the DAG is deployed or the scheduler comes back) and
    ``ALIGNWATCH_NIGHTLY_START_DATE`` (ISO date, default 2026-01-01; with catch-up on, set it
    to the date of the store's first event, or every night since is replayed). A bad value
    is a :class:`ConfigError` naming the variable.
    """
    raw_catchup = environ.get("ALIGNWATCH_NIGHTLY_CATCHUP", "false").strip().lower()
    if raw_catchup not in _TRUE | _FALSE:
        raise ConfigError(f"ALIGNWATCH_NIGHTLY_CATCHUP: expected true or false, not {raw_catchup!r}")
    raw_start = environ.get("ALIGNWATCH_NIGHTLY_START_DATE", "").strip()
    try:
        start = dt.date.fromisoformat(raw_start) if raw_start else NIGHTLY_START_DATE
    except ValueError as exc:
        raise ConfigError(f"ALIGNWATCH_NIGHTLY_START_DATE: expected an ISO date (2026-01-31), not {raw_start!r}") from exc
    return dt.datetime.combine(start, dt.time(), dt.UTC), raw_catchup in _TRUE
