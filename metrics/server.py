"""The exporter's HTTP endpoint: ``/metrics`` on a host and port, with optional TLS and basic auth.

:func:`serve` runs it in a daemon thread: loopback by default, with TLS and basic auth read
from a Prometheus-style web-config file (:func:`load_web_config`: ``tls_server_config``,
``basic_auth_users`` with bcrypt hashes), as Prometheus's own exporters accept. Given the
snapshot collector (:class:`alignwatch.metrics.exporter.SnapshotCollector`), a scrape serves
its cached exposition next to the live registry's instruments.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import bcrypt
import yaml
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import choose_encoder

from alignwatch.errors import ConfigError
from alignwatch.metrics.exporter import Families, SnapshotCollector

__all__ = ["ExporterServer", "WebConfig", "load_web_config", "serve"]


# ---------------------------------------------------------------------------- web config


@dataclass(frozen=True)
class WebConfig:
    """The exporter's TLS and basic-auth settings (Prometheus web-config format)."""

    cert_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    client_auth_required: bool = False
    min_version: ssl.TLSVersion | None = None
    #: user name -> bcrypt hash
    users: Mapping[str, bytes] = field(default_factory=dict)

    @property
    def tls(self) -> bool:
        return self.cert_file is not None

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context for the configured certificate."""
        assert self.cert_file is not None and self.key_file is not None
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = self.min_version or ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(certfile=str(self.cert_file), keyfile=str(self.key_file))
            if self.client_ca_file is not None:
                context.load_verify_locations(cafile=str(self.client_ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(f"web config: cannot load TLS files: {exc}") from None
        if self.client_auth_required:
            context.verify_mode = ssl.CERT_REQUIRED
        return context


_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}
_CLIENT_AUTH = {
    "NoClientCert": False,
    "RequestClientCert": False,
    "RequireAnyClientCert": True,
    "VerifyClientCertIfGiven": False,
    "RequireAndVerifyClientCert": True,
}


def load_web_config(path: Path) -> WebConfig:
    """Parse a web-config file; every problem is a ``ConfigError`` naming its key."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigError(f"web config {path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"web config {path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"web config {path}: must be a mapping")
    unknown = sorted(set(raw) - {"tls_server_config", "basic_auth_users", "http_server_config"})
    if unknown:
        raise ConfigError(f"web config {path}: unknown key {unknown[0]!r}")
    tls = raw.get("tls_server_config") or {}
    if not isinstance(tls, dict):
        raise ConfigError(f"web config {path}: tls_server_config must be a mapping")
    known_tls = {"cert_file", "key_file", "client_ca_file", "client_auth_type", "min_version"}
    unknown = sorted(set(tls) - known_tls)
    if unknown:
        raise ConfigError(f"web config {path}: tls_server_config.{unknown[0]}: not supported")

    def _file(key: str) -> Path | None:
        value = tls.get(key)
        if value is None:
            return None
        resolved = (path.parent / str(value)).resolve()
        if not resolved.is_file():
            raise ConfigError(f"web config {path}: tls_server_config.{key}: no such file {value!r}")
        return resolved

    cert, key = _file("cert_file"), _file("key_file")
    if (cert is None) != (key is None):
        raise ConfigError(f"web config {path}: tls_server_config needs both cert_file and key_file")
    auth_type = tls.get("client_auth_type", "NoClientCert")
    if auth_type not in _CLIENT_AUTH:
        raise ConfigError(f"web config {path}: tls_server_config.client_auth_type: unknown value {auth_type!r}")
    min_version = tls.get("min_version")
    if min_version is not None and min_version not in _TLS_VERSIONS:
        raise ConfigError(f"web config {path}: tls_server_config.min_version: use TLS12 or TLS13, not {min_version!r}")
    users_raw = raw.get("basic_auth_users") or {}
    if not isinstance(users_raw, dict):
        raise ConfigError(f"web config {path}: basic_auth_users must be a mapping of user to bcrypt hash")
    users: dict[str, bytes] = {}
    for user, hashed in users_raw.items():
        if not isinstance(hashed, str) or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"web config {path}: basic_auth_users.{user}: must be a bcrypt hash ($2y$...)")
        users[str(user)] = hashed.encode()
    return WebConfig(
        cert_file=cert,
        key_file=key,
        client_ca_file=_file("client_ca_file"),
        client_auth_required=_CLIENT_AUTH[auth_type],
        min_version=_TLS_VERSIONS.get(min_version) if min_version else None,
        users=users,
    )


class _BasicAuth:
    """WSGI middleware checking ``Authorization: Basic`` against bcrypt hashes.

    bcrypt is deliberately slow, so a verified (user, password) pair is remembered by its
    salted SHA-256 for the life of the process, as Prometheus's exporter toolkit does.
    """

    def __init__(self, app: Callable[..., Any], users: Mapping[str, bytes]) -> None:
        self._app = app
        self._users = dict(users)
        self._salt = os.urandom(16)
        self._verified: set[bytes] = set()
        self._lock = threading.Lock()

    def _check(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        hashed = self._users.get(user)
        if hashed is None:
            return False
        token = hashlib.sha256(self._salt + hashed + b"\0" + password.encode()).digest()
        with self._lock:
            if token in self._verified:
                return True
        normalised = b"$2b$" + hashed[4:] if hashed.startswith(b"$2y$") else hashed
        try:
            ok = bcrypt.checkpw(password.encode(), normalised)
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._verified.add(token)
        return ok

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        if header and self._check(header):
            return self._app(environ, start_response)
        start_response(
            "401 Unauthorized",
            [("Content-Type", "text/plain; charset=utf-8"), ("WWW-Authenticate", 'Basic realm="alignwatch"')],
        )
        return [b"Unauthorized\n"]


# ---------------------------------------------------------------------------- server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Scrapes are not logged."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@dataclass
class ExporterServer:
    """A running exporter endpoint; ``url`` is what Prometheus scrapes."""

    httpd: WSGIServer
    thread: threading.Thread
    scheme: str

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    @property
    def url(self) -> str:
        host = self.httpd.server_address[0]
        return f"{self.scheme}://{host}:{self.port}/metrics"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def __enter__(self) -> ExporterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _SnapshotApp:
    """``/metrics`` from a snapshot collector's cached exposition plus a live registry.

    Between two snapshot refreshes a scrape only concatenates the cached bytes of the
    snapshot with the (small) live instruments, whatever the number of series.
    """

    def __init__(self, snapshot: SnapshotCollector, live: CollectorRegistry) -> None:
        self._snapshot = snapshot
        self._live = live

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "GET":
            start_response("405 Method Not Allowed", [("Allow", "GET")])
            return [b""]
        encoder, content_type = choose_encoder(environ.get("HTTP_ACCEPT", ""))
        cached = self._snapshot.exposition(content_type, encoder)
        # the live instruments and the store's health change between snapshots: never cached
        live = encoder(Families([*self._live.collect(), *self._snapshot.health_families()]))
        eof = b"# EOF\n"
        if cached.endswith(eof) and live.endswith(eof):
            cached = cached[: -len(eof)]
        body = cached + live
        start_response("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(body)))])
        return [body]


def serve(
    registry: CollectorRegistry,
    *,
    host: str = "127.0.0.1",
    port: int = 9464,
    web_config: WebConfig | None = None,
    snapshot: SnapshotCollector | None = None,
) -> ExporterServer:
    """Serve ``registry`` on ``host:port`` (port 0 = a free one) in a daemon thread.

    With ``snapshot`` (a collector *not* registered on ``registry``), its exposition is
    serialised once per snapshot and served next to the live ``registry``.
    """
    app: Callable[..., Any] = make_wsgi_app(registry) if snapshot is None else _SnapshotApp(snapshot, registry)
    if web_config is not None and web_config.users:
        app = _BasicAuth(app, web_config.users)
    try:
        httpd = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    except OSError as exc:
        raise ConfigError(f"exporter cannot listen on {host}:{port}: {exc.strerror}") from None
    scheme = "http"
    if web_config is not None and web_config.tls:
        httpd.socket = web_config.ssl_context().wrap_socket(httpd.socket, server_side=True)
        scheme = "https"
    thread = threading.Thread(target=httpd.serve_forever, name="alignwatch-exporter", daemon=True)
    thread.start()
    return ExporterServer(httpd, thread, scheme)
