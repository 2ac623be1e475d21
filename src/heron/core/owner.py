"""Which process owns a running run, and whether that process is certainly gone.

A run records its owner as ``"<pid>:<start>@<machine>"``. ``start`` is the process's start
time (Linux: field 22 of ``/proc/<pid>/stat``, in clock ticks since boot) so that a reused
pid does not pass for the old process; ``machine`` is the host name, the boot id and the pid
namespace, so that only a process that can see the owner's pid judges it. A process on
another machine, in another container or after a reboot cannot tell, and the heartbeat
timeout decides for it.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import os
import socket
from collections.abc import Iterator


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` ('' where the platform cannot tell), None if it is gone."""
    stat = _read(f"/proc/{pid}/stat")
    if stat:
        # the command name (field 2) may hold spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields and fields[0] in ("Z", "X"):
            return None  # exited, waiting to be reaped by its parent
        return fields[19] if len(fields) > 19 else ""
    if os.path.isdir("/proc/self"):
        return None  # a Linux /proc without this pid: the process is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except OSError:
        pass  # it exists (PermissionError: owned by someone else)
    return ""


@functools.cache
def machine() -> str:
    """Who can judge a pid: host name, boot id and pid namespace."""
    boot = _read("/proc/sys/kernel/random/boot_id")[:8]
    try:
        namespace = os.readlink("/proc/self/ns/pid").strip("pid:[]")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}:{boot}:{namespace}"


_owner: tuple[int, str] | None = None

# Set by the tracking server while it serves one client's request: the runs it writes then
# belong to the client's process (with the client's heartbeat timeout), not to the server.
_acting: contextvars.ContextVar[tuple[str, int | None] | None] = contextvars.ContextVar(
    "heron_acting_owner", default=None
)


@contextlib.contextmanager
def acting_for(owner: str | None, heartbeat_timeout_ms: int | None) -> Iterator[None]:
    """Within the block, :func:`current_owner` is ``owner`` (a client's owner string) and
    :func:`acting_timeout` its heartbeat timeout. ``owner=None`` changes nothing."""
    if not owner:
        yield
        return
    token = _acting.set((owner, heartbeat_timeout_ms))
    try:
        yield
    finally:
        _acting.reset(token)


def acting_timeout() -> int | None:
    """The heartbeat timeout (ms) of the client being served, or ``None``."""
    acting = _acting.get()
    return acting[1] if acting is not None else None


def heartbeat_timeout_ms() -> int:
    """This process's heartbeat timeout (``HERON_HEARTBEAT_TIMEOUT`` seconds, default 120),
    recorded on the runs it writes (on a server: the timeout of the client being served)."""
    acting = acting_timeout()
    if acting is not None:
        return acting
    return int(float(os.environ.get("HERON_HEARTBEAT_TIMEOUT", "120")) * 1000)


def current_owner() -> str:
    """The owner string of this process (recomputed after a fork), or of the client the
    server is serving (:func:`acting_for`)."""
    acting = _acting.get()
    if acting is not None:
        return acting[0]
    global _owner
    pid = os.getpid()
    if _owner is None or _owner[0] != pid:
        _owner = (pid, f"{pid}:{_start_time(pid) or ''}@{machine()}")
    return _owner[1]


def owner_is_gone(owner: str | None) -> bool:
    """True only when ``owner`` ran on this machine and that process no longer exists."""
    if not owner or owner == current_owner():
        return False
    process, _, where = owner.partition("@")
    if where != machine():
        return False
    pid_text, _, started = process.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    now_started = _start_time(pid)
    if now_started is None:
        return True
    return bool(started and now_started and started != now_started)


def describe(owner: str) -> str:
    """``pid 123 on host`` for messages."""
    process, _, where = owner.partition("@")
    return f"pid {process.partition(':')[0]} on {where.partition(':')[0]}"
