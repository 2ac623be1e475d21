"""Starting scheduled runs, each in a child process of its own.

A crashing pipeline (or one that exhausts memory) takes only its own process down. Children
run in a session of their own: a Ctrl-C or SIGTERM meant for the scheduler does not reach
them, so runs in flight finish when the scheduler stops, and the next scheduler records their
outcome. Each child's output goes to ``<heron home>/scheduler/logs/<run id>.log``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from heron.core import config


@dataclass
class Launched:
    """A child process running one scheduled run."""

    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """Its exit code, or ``None`` while it runs."""
        return self.process.poll()

    def terminate(self) -> None:
        """Stop the run (SIGTERM to its whole process group: steps it started go too)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGTERM)

    def log_tail(self, limit: int = 2000) -> str:
        try:
            data = self.log_path.read_bytes()[-limit:]
        except OSError:
            return ""
        return data.decode("utf-8", "replace").strip()


def log_folder() -> Path:
    return config.heron_home() / "scheduler" / "logs"


class SubprocessLauncher:
    """Starts ``python -m heron.scheduling.child`` with the run's spec and environment."""

    def __init__(self, python: str | None = None, cwd: str | None = None) -> None:
        self.python = python or sys.executable
        self.cwd = cwd or os.getcwd()

    def launch(self, spec: dict[str, Any], env: dict[str, str]) -> Launched:
        folder = log_folder()
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / f"{spec['run_id']}.log"
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
        return Launched(process, log_path)
