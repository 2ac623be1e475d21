"""The real MLflow client, in a virtualenv of its own that the test set-up makes once.

``mlflow-skinny`` (the client only, pinned to :data:`MLFLOW_VERSION`) with scikit-learn and
pandas for autologging and models, SQLAlchemy, Alembic and psycopg so that it can write
MLflow's SQLite and PostgreSQL stores for ``heron import``, and Heron itself (a model Heron
logged loads in MLflow through Heron's pyfunc loader). The virtualenv lives in
``.venv-peers/mlflow-client`` beside the checkout (``HERON_TEST_MLFLOW_VENV`` overrides it) and
is reused while it imports; a file lock keeps two test processes from building it at once.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import textwrap
from pathlib import Path

MLFLOW_VERSION = "3.17.2"
REPO = Path(__file__).resolve().parents[2]
PACKAGES = (
    f"mlflow-skinny=={MLFLOW_VERSION}",
    "scikit-learn",
    "pandas",
    "sqlalchemy>=2",
    "alembic",
    "psycopg[binary]",  # SQLAlchemy 2.1's default driver of postgresql:// URIs
)
#: what the virtualenv must import to be reused
PROBE = (
    "import mlflow, sklearn, pandas, sqlalchemy, alembic, psycopg, heron; "
    "assert mlflow.__version__ == {v!r}"
)


def client_venv() -> Path:
    """The client virtualenv's folder, made (once) when it is missing or incomplete."""
    venv = Path(os.environ.get("HERON_TEST_MLFLOW_VENV", REPO / ".venv-peers" / "mlflow-client"))
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / ".mlflow-client.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and _imports(python):
            return venv
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *PACKAGES], check=True, stdin=subprocess.DEVNULL)
        subprocess.run([*pip, "-e", str(REPO)], check=True, stdin=subprocess.DEVNULL)
        if not _imports(python):
            raise RuntimeError(f"The MLflow client virtualenv {venv} does not import {PROBE}.")
    return venv


def _imports(python: Path) -> bool:
    probe = PROBE.format(v=MLFLOW_VERSION)
    return subprocess.run([str(python), "-c", probe], capture_output=True).returncode == 0


def run_client(
    venv: Path,
    script: str,
    tracking_uri: str | None,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run the Python ``script`` (dedented) with the client virtualenv's interpreter, with
    ``MLFLOW_TRACKING_URI`` set (unless None); its output is captured as text."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "HERON_"))}
    environment.pop("PYTHONPATH", None)
    if tracking_uri is not None:
        environment["MLFLOW_TRACKING_URI"] = tracking_uri
    # fail fast instead of retrying for minutes when the server answers 5xx
    environment.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    environment.update(env or {})
    return subprocess.run(
        [str(venv / "bin" / "python"), "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=environment,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def check_client(result: subprocess.CompletedProcess[str]) -> str:
    """The script's stdout; an AssertionError with its output when it failed."""
    assert result.returncode == 0, (
        f"MLflow client script failed ({result.returncode}).\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )
    return result.stdout
