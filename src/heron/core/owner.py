"""Which process owns a running run, and whether that process is certainly gone.

A run records its owner as ``"<pid>:<start>@<machine>"``. ``start`` is the process's start
time (Linux: field 22 of ``/proc/<pid>/stat``, in clock ticks since boot) so that a reused
pid does not pass for the old process; ``machine`` is the host name, the boot id and the pid
namespace, so that only a process that can see the owner's pid judges it. A process on
another machine, in another container or after a reboot cannot tell, and the heartbeat
timeout decides for it.
"""

from __future__ import annotations

import functools
import os
import socket


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


def current_owner() -> str:
    """The owner string of this process (recomputed after a fork)."""
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
