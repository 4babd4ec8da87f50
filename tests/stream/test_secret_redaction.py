"""Secrets never reach a log line, at any level: not alignwatch's, not kafka-python's.

kafka-python's admin client logs its whole configuration at DEBUG, SASL and TLS passwords
included; the CLI's redaction masks them (and any password-like key, and URL passwords).
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator

import pytest

from alignwatch.cli import main
from alignwatch.cli.logs import MASK, REDACTOR, SecretRedactor, install_redaction, uninstall_redaction
from alignwatch.config import Settings
from alignwatch.stream.broker import TansuBroker, ensure_topics
from alignwatch.stream.consumer import kafka_consumer, kafka_producer

# a PLAINTEXT broker ignores SASL settings, so real clients are built and connect with them
SASL_PASSWORD = "sasl-Pa55word-'with\\quote"
SSL_PASSWORD = "tls-key-passphrase-8f3a"


@pytest.fixture
def redaction_installed() -> Iterator[None]:
    """The CLI's redaction, removed again after the test (main() installs it for good)."""
    yield
    uninstall_redaction(REDACTOR)


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALIGNWATCH_SECURITY_PROTOCOL", "PLAINTEXT")
    monkeypatch.setenv("ALIGNWATCH_SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("ALIGNWATCH_SASL_USERNAME", "alignwatch")
    monkeypatch.setenv("ALIGNWATCH_SASL_PASSWORD", SASL_PASSWORD)
    monkeypatch.setenv("ALIGNWATCH_SSL_PASSWORD", SSL_PASSWORD)


def secrets_in(text: str) -> list[str]:
    return [secret for secret in (SASL_PASSWORD, SSL_PASSWORD, repr(SASL_PASSWORD)[1:-1]) if secret in text]


@pytest.mark.integration
def test_no_secret_reaches_the_debug_logs_of_a_cli_command_that_builds_kafka_clients(
    broker: TansuBroker,
    secret_env: None,
    redaction_installed: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    topic = "redaction-cli"
    with pytest.raises(SystemExit) as exited:
        main(["simulate", "--scenario", "bakery", "--events", "20", "--days", "1",
              "--bootstrap-servers", broker.bootstrap, "--topic", topic])  # fmt: skip
    out, err = capsys.readouterr()
    assert exited.value.code == 0, err
    assert out.strip() == f"produced 20 messages to {topic}"

    # the admin client (ensure_topics) logged its configuration, with the passwords masked
    [config] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Starting KafkaAdminClient")]
    assert f"'sasl_plain_password': \"{MASK}\"" in config or f"'sasl_plain_password': '{MASK}'" in config
    assert f"'ssl_password': '{MASK}'" in config
    assert "'sasl_plain_username': 'alignwatch'" in config
    assert len(caplog.records) > 50  # kafka-python's DEBUG lines were captured too
    assert secrets_in(caplog.text) == []
    assert secrets_in(out + err) == []


@pytest.mark.integration
def test_a_handler_with_the_redactor_as_filter_never_sees_a_secret_from_real_kafka_clients(
    broker: TansuBroker, kafka_settings: Callable[..., Settings]
) -> None:
    settings = kafka_settings(
        sasl_mechanism="PLAIN", sasl_username="alignwatch", sasl_password=SASL_PASSWORD, ssl_password=SSL_PASSWORD
    )
    redactor = SecretRedactor([SASL_PASSWORD, SSL_PASSWORD])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.addFilter(redactor)
    kafka_logger = logging.getLogger("kafka")
    level = kafka_logger.level
    kafka_logger.setLevel(logging.DEBUG)
    kafka_logger.addHandler(handler)
    try:
        ensure_topics(broker.bootstrap, ["redaction-handler"], **settings.kafka_security())
        consumer = kafka_consumer(settings, group="redaction-handler")
        producer = kafka_producer(settings)
        producer.send("redaction-handler", b"{}").get(timeout=30)
        producer.close(timeout=10)
        consumer.close(autocommit=False)
    finally:
        kafka_logger.removeHandler(handler)
        kafka_logger.setLevel(level)
    logged = stream.getvalue()
    assert "Starting KafkaAdminClient with configuration" in logged
    assert logged.count(MASK) >= 2
    assert secrets_in(logged) == []


def test_a_record_is_redacted_when_created_so_every_handler_sees_it_masked() -> None:
    redactor = SecretRedactor(["hunter22"])
    install_redaction(redactor)
    try:
        record = logging.getLogger("anything").makeRecord(
            "anything", logging.DEBUG, __file__, 1, "connecting with %s", ({"password": "other", "pw": "hunter22"},),
            None,
        )
    finally:
        uninstall_redaction(redactor)
    assert record.getMessage() == f"connecting with {{'password': '{MASK}', 'pw': '{MASK}'}}"


def test_an_exception_text_is_redacted_too() -> None:
    redactor = SecretRedactor(["hunter22"])
    try:
        raise ValueError("login failed for password hunter22")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, exc_info=sys.exc_info())
    redactor.redact_record(record)
    assert "hunter22" not in logging.Formatter().format(record)
    assert f"login failed for password {MASK}" in logging.Formatter().format(record)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("{'sasl_plain_password': 'x1', 'ssl_password': None}", f"{{'sasl_plain_password': '{MASK}', 'ssl_password': None}}"),
        ('{"ssl_password": "a \\"b\\" c", "acks": "all"}', f'{{"ssl_password": "{MASK}", "acks": "all"}}'),
        ("password=abc token: xyz, user=bob", f"password={MASK} token: {MASK}, user=bob"),
        ("postgresql+psycopg://postgres:pw@db:5432/x", f"postgresql+psycopg://postgres:{MASK}@db:5432/x"),
        ("auth_bytes=b'\\x00bob\\x00hunter22'", f"auth_bytes=b'\\x00bob\\x00{MASK}'"),
        ("the token was refreshed", "the token was refreshed"),
    ],
    ids=["config dict", "json", "key=value", "url", "sasl bytes", "prose"],
)
def test_password_like_keys_urls_and_known_secrets_are_masked_and_prose_is_kept(text: str, shown: str) -> None:
    assert SecretRedactor(["hunter22"]).redact(text) == shown


def test_the_cli_error_line_is_redacted(secret_env: None, redaction_installed: None, capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://postgres:hunter22@127.0.0.1:1/nowhere"
    with pytest.raises(SystemExit) as exited:
        main(["db", "upgrade", "--store", url])
    _, err = capsys.readouterr()
    assert exited.value.code != 0
    assert err.startswith("error: cannot reach the store postgresql+psycopg://postgres:**********@127.0.0.1:1/nowhere")
    assert "hunter22" not in err
