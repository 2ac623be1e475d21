"""A real ``mlflow server`` (the full ``mlflow`` package, pinned) for tests, on 127.0.0.1.

The server runs from a virtualenv of its own: ``.venv-peers/mlflow`` beside the checkout
(``HERON_TEST_MLFLOW_SERVER_VENV`` overrides it), reused while it has :data:`MLFLOW_VERSION`,
else made once by the test set-up (a file lock keeps two test processes from doing it at once).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.mlflow_client import MLFLOW_VERSION
from tests.support.server import free_port

REPO = Path(__file__).resolve().parents[2]


def server_venv() -> Path:
    """The folder of a virtualenv with ``mlflow==MLFLOW_VERSION`` (made when missing)."""
    venv = Path(os.environ.get("HERON_TEST_MLFLOW_SERVER_VENV", REPO / ".venv-peers" / "mlflow"))
    python = venv / "bin" / "python"
    probe = f"import mlflow; assert mlflow.__version__ == {MLFLOW_VERSION!r}"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".mlflow-server.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and _ok(python, probe):
            return venv
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"mlflow=={MLFLOW_VERSION}"],
            check=True,
            stdin=subprocess.DEVNULL,
        )
        if not _ok(python, probe):
            raise RuntimeError(f"{venv} does not import mlflow {MLFLOW_VERSION}.")
    return venv


def _ok(python: Path, probe: str) -> bool:
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


@dataclass
class MlflowServer:
    url: str
    backend_store_uri: str
    artifacts_destination: Path
    log_path: Path


@contextlib.contextmanager
def mlflow_server(folder: Path, *, wait: float = 90) -> Iterator[MlflowServer]:
    """Run ``mlflow server`` on a SQLite store and an artifact folder under ``folder``
    (artifacts served through the proxy, as by default) until the context ends."""
    venv = server_venv()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    backend = f"sqlite:///{folder / 'mlflow.db'}"
    artifacts = folder / "mlartifacts"
    log_path = folder / "mlflow-server.log"
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HERON_"))}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [
                str(venv / "bin" / "mlflow"),
                "server",
                "--backend-store-uri",
                backend,
                "--artifacts-destination",
                str(artifacts),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=folder,
            env=environment,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield MlflowServer(url, backend, artifacts, log_path)
    finally:
        # the whole group this started: `mlflow server` runs its workers as children
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
