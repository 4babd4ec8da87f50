"""A real Prometheus and Alertmanager on loopback, and a webhook receiver, for the alerting
tests and the alerting drill (``python -m bench alerting --stack``).

The binaries come from Debian's ``prometheus`` and ``prometheus-alertmanager`` packages
(``make test`` installs them when missing). Servers run on free loopback ports with
temporary configuration and storage and are stopped by their own PID.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

__all__ = [
    "Server",
    "WebhookReceiver",
    "binary",
    "free_port",
    "get_json",
    "prometheus_query",
    "start_alertmanager",
    "start_prometheus",
    "start_webhook_receiver",
    "wait_until",
]


def binary(*names: str) -> str:
    """Path of the first of ``names`` installed (RuntimeError naming the packages when none is)."""
    for name in names:
        found = shutil.which(name) or (f"/usr/bin/{name}" if Path(f"/usr/bin/{name}").exists() else None)
        if found:
            return found
    raise RuntimeError(f"{names[0]} is not installed: run `make debs` (Debian prometheus, prometheus-alertmanager)")


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get_json(url: str, timeout: float = 5.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback test server
        return json.loads(response.read())


def wait_until(predicate: Any, *, timeout: float, interval: float = 0.2, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, urllib.error.URLError, ValueError):
            last = None
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


@dataclass
class Server:
    """A server process started by a test; stopped by PID."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _popen(stderr: Any, command: list[str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr, stdin=subprocess.DEVNULL)


def start_prometheus(config: Path, workdir: Path) -> Server:
    """Start Prometheus with ``config`` on a free loopback port; wait until ready."""
    port = free_port()
    log = workdir / "prometheus.log"
    with log.open("wb") as stderr:
        process = _popen(stderr, [
            binary("prometheus"),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=1d",
            "--web.enable-lifecycle",
        ])
    server = Server(process, port, log)
    try:
        wait_until(lambda: _ready(server), timeout=30, what="Prometheus to be ready")
    except AssertionError:
        server.stop()
        raise AssertionError(f"Prometheus did not start:\n{log.read_text()[-2000:]}") from None
    return server


def start_alertmanager(config: Path, workdir: Path) -> Server:
    """Start Alertmanager with ``config`` on a free loopback port (no clustering)."""
    port = free_port()
    log = workdir / "alertmanager.log"
    with log.open("wb") as stderr:
        process = _popen(stderr, [
            binary("alertmanager", "prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={workdir / 'am-data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ])
    server = Server(process, port, log)
    try:
        wait_until(lambda: _ready(server), timeout=30, what="Alertmanager to be ready")
    except AssertionError:
        server.stop()
        raise AssertionError(f"Alertmanager did not start:\n{log.read_text()[-2000:]}") from None
    return server


def _ready(server: Server) -> bool:
    if server.process.poll() is not None:
        raise AssertionError(f"server exited with {server.process.returncode}:\n{server.log.read_text()[-2000:]}")
    with urllib.request.urlopen(f"{server.url}/-/ready", timeout=2) as response:  # noqa: S310
        status: int = response.status
        return status == 200


@dataclass
class WebhookReceiver:
    """A tiny HTTP server recording Alertmanager webhook notifications."""

    httpd: ThreadingHTTPServer
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/alerts"

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def alerts(self) -> list[tuple[float, dict[str, Any]]]:
        """(time received, alert) of every alert in every notification so far."""
        return [(at, alert) for at, payload in list(self.received) for alert in payload.get("alerts", [])]


def start_webhook_receiver() -> WebhookReceiver:
    """A webhook receiver on a free loopback port; ``received`` holds (time, payload)."""
    received: list[tuple[float, dict[str, Any]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.append((time.time(), json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return WebhookReceiver(httpd, received)


def prometheus_query(server: Server, expr: str) -> list[dict[str, Any]]:
    """Instant query; the result vector."""
    url = f"{server.url}/api/v1/query?{urllib.parse.urlencode({'query': expr})}"
    payload = get_json(url)
    if payload["status"] != "success":
        raise AssertionError(payload)
    return list(payload["data"]["result"])
