"""Stopping the processes a run started, with every process of their session.

The broker and Airflow run in sessions of their own (``start_new_session=True``);
:func:`stop_session` ends a session's leader and every process left in it, read from
``/proc`` (Airflow's components may outlive the leader that started them).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

__all__ = ["session_members", "signal_session", "stop_session"]


def stop_session(process: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Stop ``process`` (started with ``start_new_session=True``) and every process of its session.

    SIGTERM to the session's processes, then a wait of up to ``timeout_s`` for all of them,
    SIGKILL to those left. Waiting for ``process`` alone is not enough: Airflow's scheduler and
    API server may outlive the leader that started them by a few seconds, and its task processes run in
    process groups of their own. Without ``/proc`` only the process group is signalled.
    """
    sid = process.pid
    if process.poll() is not None and not session_members(sid):
        return
    signal_session(sid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        process.poll()  # reap the leader: a zombie is not waited for
        if process.returncode is not None and not session_members(sid):
            return
        time.sleep(0.2)
    signal_session(sid, signal.SIGKILL)
    process.wait(timeout=5)


def signal_session(sid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(sid, signum)
    except ProcessLookupError:
        pass
    for pid in session_members(sid):
        try:
            os.kill(pid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def session_members(sid: int) -> list[int]:
    """The live (not zombie) processes of session ``sid``, read from ``/proc``; none without it."""
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getsid(int(entry.name)) != sid:
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state not in ("Z", "X"):
            members.append(int(entry.name))
    return members
