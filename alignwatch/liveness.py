"""Liveness of pipeline runs: who runs a run, whether that process still runs, abandoned runs.

A run records its owner (:class:`RunOwner`: host, pid, and on Linux the boot id, pid
namespace and process start time). Before a run starts, :func:`close_abandoned_runs` marks
``abandoned`` every ``running`` run whose process is gone (checked in ``/proc``) or that
has run longer than :data:`RUN_TIMEOUT`.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from alignwatch.store.schema import pipeline_runs

__all__ = ["RUN_TIMEOUT", "AbandonedRun", "RunOwner", "close_abandoned_runs", "process_running"]

# a run still running after this long is abandoned (settings: ALIGNWATCH_RUN_TIMEOUT_S)
RUN_TIMEOUT = dt.timedelta(hours=6)


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RunOwner:
    """The process that runs a pipeline run: its host name and pid.

    On Linux three more facts make the pid trustworthy: ``boot_id`` and ``pid_namespace``
    say whether a pid recorded under this host name means the same process here (not after
    a reboot, not in another container that shares the host name), and ``process_start``
    (clock ticks after boot) tells the recorded process from a later one given the same pid.
    """

    host: str
    pid: int
    boot_id: str | None = None
    pid_namespace: str | None = None
    process_start: int | None = None

    @classmethod
    def current(cls) -> RunOwner:
        """This process."""
        pid = os.getpid()
        return cls(
            host=socket.gethostname(),
            pid=pid,
            boot_id=_read_text("/proc/sys/kernel/random/boot_id"),
            pid_namespace=_read_link("/proc/self/ns/pid"),
            process_start=_process_start(pid),
        )

    @classmethod
    def from_json(cls, data: Any) -> RunOwner | None:
        """The owner recorded in a run's ``details``; None when missing or malformed."""
        if not isinstance(data, dict) or not isinstance(data.get("host"), str) or not isinstance(data.get("pid"), int):
            return None
        start = data.get("process_start")
        return cls(
            host=data["host"],
            pid=data["pid"],
            boot_id=data.get("boot_id") if isinstance(data.get("boot_id"), str) else None,
            pid_namespace=data.get("pid_namespace") if isinstance(data.get("pid_namespace"), str) else None,
            process_start=start if isinstance(start, int) else None,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "pid": self.pid,
            "boot_id": self.boot_id,
            "pid_namespace": self.pid_namespace,
            "process_start": self.process_start,
        }

    def sees(self, other: RunOwner) -> bool:
        """Whether ``other``'s pid can be looked up from here: same host, boot and pid namespace."""
        return (self.host, self.boot_id, self.pid_namespace) == (other.host, other.boot_id, other.pid_namespace)


@dataclass(frozen=True)
class AbandonedRun:
    """A run :func:`close_abandoned_runs` marked ``abandoned``, and why."""

    run_id: int
    reason: str


def _read_text(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="ascii").strip() or None
    except (OSError, UnicodeDecodeError):
        return None


def _read_link(path: str) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name (state first); None if none."""
    text = _read_text(f"/proc/{pid}/stat")
    return None if text is None else text.rpartition(")")[2].split()


def _process_start(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields is not None and len(fields) > 19 else None


def process_running(owner: RunOwner) -> bool:
    """Whether the process ``owner`` names still runs on this host (True when unsure).

    Linux: ``/proc/<pid>`` is not a zombie and started when the recorded process did.
    Without a readable ``/proc/<pid>`` (other systems, ``hidepid``): signal 0 reaches the
    pid (a process of another user counts as running).
    """
    fields = _proc_stat(owner.pid)
    if fields is not None:
        if fields[0] in ("Z", "X"):
            return False
        return owner.process_start is None or len(fields) <= 19 or int(fields[19]) == owner.process_start
    if os.name == "nt":
        return True  # os.kill would terminate the process
    try:
        os.kill(owner.pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _hours(limit: dt.timedelta) -> str:
    seconds = limit.total_seconds()
    if seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def close_abandoned_runs(
    engine: sa.Engine,
    *,
    timeout: dt.timedelta = RUN_TIMEOUT,
    clock: Callable[[], dt.datetime] = _utcnow,
    here: RunOwner | None = None,
    running: Callable[[RunOwner], bool] = process_running,
) -> list[AbandonedRun]:
    """Mark ``abandoned`` every ``running`` run whose process is gone or that runs too long.

    A run is abandoned when it was started on this host (same host name, boot and pid
    namespace as ``here``, by default this process) by a process that no longer runs, or
    when it started more than ``timeout`` ago, wherever it runs. ``finished_at`` is set and
    ``details["error"]`` says why. Cheap: one read on the ``(status, started_at)`` index,
    and an update only of the runs it closes. A run whose process was in fact alive and
    finishes later still records its real outcome over ``abandoned``.
    """
    here = here or RunOwner.current()
    now = clock()
    runs = pipeline_runs.c
    closed: list[AbandonedRun] = []
    with engine.begin() as conn:
        rows = conn.execute(
            sa.select(runs.id, runs.started_at, runs.details).where(runs.status == "running").order_by(runs.id)
        ).all()
        for row in rows:
            details = dict(row.details) if isinstance(row.details, dict) else {}
            owner = RunOwner.from_json(details.get("owner"))
            if now - row.started_at > timeout:
                reason = f"running for more than {_hours(timeout)}"
            elif owner is not None and here.sees(owner) and not running(owner):
                reason = f"process {owner.pid} on host {owner.host} is gone"
            else:
                continue
            details["error"] = reason
            updated = conn.execute(
                pipeline_runs.update()
                .where(runs.id == row.id, runs.status == "running")
                .values(status="abandoned", finished_at=now, details=details)
            )
            if updated.rowcount:
                closed.append(AbandonedRun(int(row.id), reason))
    return closed
