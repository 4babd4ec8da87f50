"""``alignwatch consume --metrics-port`` serves like the exporter: the web config's TLS and
basic auth (``ALIGNWATCH_EXPORTER_WEB_CONFIG``) apply to it too."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import bcrypt
import pytest

from alignwatch.stream.broker import TansuBroker, free_port

pytestmark = pytest.mark.integration

ALIGNWATCH = str(Path(sys.executable).parent / "alignwatch")
PASSWORD = "scrape-s3cret"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "consume.crt", directory / "consume.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_file, key_file


def web_config(directory: Path, *, tls: bool) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode().replace("$2b$", "$2y$", 1)
    text = f"basic_auth_users:\n  prometheus: '{hashed}'\n"
    if tls:
        cert_file, key_file = self_signed(directory)
        text = f"tls_server_config:\n  cert_file: {cert_file.name}\n  key_file: {key_file.name}\n" + text
    path = directory / "web.yml"
    path.write_text(text, encoding="utf-8")
    return path


def fetch(url: str, password: str | None, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
    """(HTTP status, body) of a GET, with basic auth as ``prometheus`` when ``password`` is given."""
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"prometheus:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5, context=context) as response:  # noqa: S310
            return int(response.status), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""


def wait_until_up(probe: Callable[[], int], proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            return probe()
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the metrics port never answered:\n{log.read_text()}")


@pytest.fixture
def sqlite_store(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    subprocess.run([ALIGNWATCH, "db", "upgrade", "--store", url], check=True, capture_output=True, timeout=120)
    return url


def start_consume(
    broker: TansuBroker, store: str, log: Path, port: int, *args: str, **env: str
) -> subprocess.Popen[bytes]:
    command = [
        ALIGNWATCH, "consume", "--bootstrap-servers", broker.bootstrap, "--topic", f"web-{port}",
        "--group", f"web-{port}", "--store", store, "--metrics-port", str(port), *args,
    ]  # fmt: skip
    with open(log, "ab") as handle:
        return subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, **env})


def end(proc: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM once the consumer runs (its partitions assigned), and expect a clean exit."""
    deadline = time.monotonic() + 60
    while proc.poll() is None and "assigned" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_the_consume_metrics_port_requires_the_web_configs_basic_auth(
    broker: TansuBroker, sqlite_store: str, tmp_path: Path
) -> None:
    config = web_config(tmp_path, tls=False)
    port = free_port()
    log = tmp_path / "consume.log"
    proc = start_consume(broker, sqlite_store, log, port, ALIGNWATCH_EXPORTER_WEB_CONFIG=str(config))
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        assert wait_until_up(lambda: fetch(url, None)[0], proc, log) == 401
        assert fetch(url, "wrong")[0] == 401
        status, body = fetch(url, PASSWORD)
        assert status == 200
        assert b"alignwatch_ingest_events_consumed_total" in body
    finally:
        end(proc, log)


def test_the_consume_metrics_port_serves_tls_only_with_a_tls_web_config(
    broker: TansuBroker, sqlite_store: str, tmp_path: Path
) -> None:
    config = web_config(tmp_path, tls=True)
    context = ssl.create_default_context(cafile=str(tmp_path / "consume.crt"))
    port = free_port()
    log = tmp_path / "consume.log"
    proc = start_consume(broker, sqlite_store, log, port, "--web-config", str(config))
    url = f"https://127.0.0.1:{port}/metrics"
    try:
        assert wait_until_up(lambda: fetch(url, None, context)[0], proc, log) == 401
        status, body = fetch(url, PASSWORD, context)
        assert status == 200 and b"alignwatch_ingest_events_consumed_total" in body
        with pytest.raises(OSError):  # plain HTTP is refused: there is no handshake
            urllib.request.urlopen(url.replace("https", "http"), timeout=5)  # noqa: S310
    finally:
        end(proc, log)


def test_a_bad_web_config_stops_consume_before_it_starts_with_one_line(
    broker: TansuBroker, sqlite_store: str, tmp_path: Path
) -> None:
    config = tmp_path / "web.yml"
    config.write_text("basic_auth_users:\n  prometheus: plaintext\n", encoding="utf-8")
    result = subprocess.run(
        [ALIGNWATCH, "consume", "--bootstrap-servers", broker.bootstrap, "--topic", "web-bad", "--store", sqlite_store,
         "--metrics-port", str(free_port()), "--web-config", str(config)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: web config {config}: basic_auth_users.prometheus: must be a bcrypt hash ($2y$...)"
    ]
