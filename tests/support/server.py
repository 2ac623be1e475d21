"""Starting and stopping a real `heron server` for tests (a subprocess on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunningServer:
    """A `heron server` process: its URL, back-end URIs and log file."""

    process: subprocess.Popen
    url: str
    backend_store_uri: str
    artifacts_uri: str
    log_path: Path
    port: int

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def start_server(
    backend_store_uri: str,
    artifacts_uri: str,
    log_path: Path,
    *,
    port: int | None = None,
    workers: int = 1,
    env: dict[str, str] | None = None,
    extra_args: tuple[str, ...] = (),
    wait: float = 60,
) -> RunningServer:
    """Start `heron server` and wait until GET /health answers 200."""
    port = port or free_port()
    command = [
        sys.executable,
        "-m",
        "heron",
        "server",
        "--backend-store-uri",
        backend_store_uri,
        "--artifacts-uri",
        artifacts_uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        *extra_args,
    ]
    environment = {**os.environ, **(env or {})}
    environment.pop("HERON_TRACKING_URI", None)
    log_file = open(log_path, "ab")  # noqa: SIM115 - the process writes it until it ends
    process = subprocess.Popen(
        command,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env=environment,
        stdin=subprocess.DEVNULL,
    )
    log_file.close()
    server = RunningServer(
        process, f"http://127.0.0.1:{port}", backend_store_uri, artifacts_uri, log_path, port
    )
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"heron server exited with {process.returncode}:\n{server.log()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(server.url + "/health", timeout=2).status_code == 200:
                return server
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    raise RuntimeError(f"heron server did not answer /health in {wait} s:\n{server.log()}")


@contextlib.contextmanager
def running_server(
    backend_store_uri: str, artifacts_uri: str, log_path: Path, **kwargs
) -> Iterator[RunningServer]:
    server = start_server(backend_store_uri, artifacts_uri, log_path, **kwargs)
    try:
        yield server
    finally:
        server.stop()
