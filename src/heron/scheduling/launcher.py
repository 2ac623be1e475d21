"""Starting scheduled runs, each in a child process of its own.

A crashing pipeline (or one that exhausts memory) takes only its own process down. Children
run in a session of their own: a Ctrl-C or SIGTERM meant for the scheduler does not reach
them, so runs in flight finish when the scheduler stops, and the next scheduler records their
outcome. Each child's output goes to ``<heron home>/scheduler/logs/<run id>.log``.

:class:`ForkServerLauncher` (the default) forks each child from a process that imported
Heron once (:mod:`heron.scheduling.forkserver`): a run starts in milliseconds instead of the
half second a fresh interpreter takes. :class:`SubprocessLauncher` starts a fresh interpreter
per run. Both call ``on_exit`` when a child ends, so the scheduler wakes at once.
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from heron.core import config


@dataclass
class Launched:
    """A child process running one scheduled run."""

    pid: int
    log_path: Path
    _poll: Callable[[], int | None] = field(repr=False)

    def poll(self) -> int | None:
        """Its exit code, or ``None`` while it runs."""
        return self._poll()

    def terminate(self) -> None:
        """Stop the run (SIGTERM to its whole process group: steps it started go too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGTERM)

    def log_tail(self, limit: int = 2000) -> str:
        try:
            data = self.log_path.read_bytes()[-limit:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()


def log_folder() -> Path:
    return config.heron_home() / "scheduler" / "logs"


def _log_path(spec: dict[str, Any]) -> Path:
    folder = log_folder()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{spec['run_id']}.log"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class SubprocessLauncher:
    """Starts ``python -m heron.scheduling.child`` with the run's spec and environment."""

    def __init__(self, python: str | None = None, cwd: str | None = None) -> None:
        self.python = python or sys.executable
        self.cwd = cwd or os.getcwd()
        self.on_exit: Callable[[], None] = lambda: None

    def launch(self, spec: dict[str, Any], env: dict[str, str]) -> Launched:
        log_path = _log_path(spec)
        with open(log_path, "ab") as log:
            process = subprocess.Popen(
                [self.python, "-m", "heron.scheduling.child", orjson.dumps(spec).decode()],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **env},
                cwd=self.cwd,
                start_new_session=True,
            )

        def wait() -> None:
            process.wait()
            self.on_exit()

        threading.Thread(target=wait, name="heron-child-wait", daemon=True).start()
        return Launched(process.pid, log_path, process.poll)

    def close(self) -> None:
        """Nothing to stop: children go on by themselves."""


class ForkServerLauncher:
    """Forks each run from a fork server that imported Heron once (started on first use,
    and again if it dies)."""

    def __init__(self, python: str | None = None, cwd: str | None = None) -> None:
        self.python = python or sys.executable
        self.cwd = cwd or os.getcwd()
        self.on_exit: Callable[[], None] = lambda: None
        self._server: subprocess.Popen[bytes] | None = None
        self._replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._codes: dict[int, int] = {}
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        server = subprocess.Popen(
            [self.python, "-m", "heron.scheduling.forkserver"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=self.cwd,
            start_new_session=True,
        )
        replies: queue.Queue[dict[str, Any]] = queue.Queue()
        self._replies = replies
        threading.Thread(
            target=self._read, args=(server, replies), name="heron-forkserver", daemon=True
        ).start()
        ready = replies.get(timeout=60)
        if "ready" not in ready:
            raise OSError(f"the fork server did not start: {ready}")
        return server

    def _read(self, server: subprocess.Popen[bytes], replies: queue.Queue[dict]) -> None:
        assert server.stdout is not None
        for line in server.stdout:
            message = orjson.loads(line)
            if "exit" in message:
                self._codes[message["exit"]] = message["code"]
                self.on_exit()
            else:
                replies.put(message)
        replies.put({"error": f"the fork server exited (code {server.wait()})"})
        self.on_exit()

    def launch(self, spec: dict[str, Any], env: dict[str, str]) -> Launched:
        log_path = _log_path(spec)
        request = {"spec": spec, "env": env, "log": str(log_path), "cwd": self.cwd}
        with self._lock:
            if self._server is None or self._server.poll() is not None:
                self._server = self._start()
            server, replies = self._server, self._replies
            assert server.stdin is not None
            server.stdin.write(orjson.dumps(request) + b"\n")
            server.stdin.flush()
            reply = replies.get(timeout=60)
        if "started" not in reply:
            raise OSError(reply.get("error", "the fork server did not start the run"))
        pid = reply["started"]

        def poll() -> int | None:
            code = self._codes.get(pid)
            if code is not None:
                return code
            if server.poll() is not None and not _alive(pid):
                return self._codes.get(pid, -1)  # its exit went unseen with the server
            return None

        return Launched(pid, log_path, poll)

    def close(self) -> None:
        """Stop the fork server (children it started go on)."""
        if self._server is not None and self._server.poll() is None:
            assert self._server.stdin is not None
            self._server.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._server.wait(timeout=5)


def default_launcher() -> Any:
    """The fork server where ``fork`` exists, else a fresh interpreter per run."""
    return ForkServerLauncher() if hasattr(os, "fork") else SubprocessLauncher()
