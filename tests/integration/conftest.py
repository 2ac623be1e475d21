"""A throw-away PostgreSQL server for the integration tier, installed if needed.

``postgres_server`` (session) finds ``initdb`` and ``pg_ctl`` (PATH, then
/usr/lib/postgresql/*/bin), installs the ``postgresql`` Debian package when they are missing
and we are root, creates a cluster in a temporary folder (owned by the ``postgres`` user when
running as root: initdb refuses root), and starts it on a free port of 127.0.0.1 only, with its
unix socket in that folder. Tests get databases of their own from it
(``postgres_server.create_database()``, or the ``postgres_uri`` fixtures), owned by a role that
logs in with a password. The cluster is stopped and deleted at the end of the session.

Set ``HERON_TEST_POSTGRES_URI`` to a superuser URI of an existing server to use that instead.
Without PostgreSQL the tier is skipped, except when ``CI=true``: then it fails.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

ADMIN_USER = "heron_admin"
ROLE = "heron"
INSTALL_TIMEOUT = 600


def _unavailable(reason: str):
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL tier cannot run on CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available: {reason}")


def _bin_dir() -> Path | None:
    """A folder holding both initdb and pg_ctl, newest version first."""
    candidates = []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versions = glob.glob("/usr/lib/postgresql/*/bin")
    versions.sort(key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0)
    candidates += [Path(p) for p in reversed(versions)]
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _install() -> str | None:
    """Install the postgresql package; the reason it failed, or None."""
    command = (
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
        "apt-get install -y -qq --no-install-recommends postgresql"
    )
    try:
        done = subprocess.run(
            ["bash", "-c", command], capture_output=True, text=True, timeout=INSTALL_TIMEOUT
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"apt-get failed: {e}"
    if done.returncode != 0:
        return f"apt-get install postgresql failed ({done.returncode}): {done.stderr[-2000:]}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """A running server and the way to get fresh databases from it."""

    def __init__(self, admin_uri: str, password: str) -> None:
        self.admin_uri = admin_uri  # a superuser, connected to the postgres database
        self.password = password  # of ROLE
        parts = urlsplit(admin_uri)
        self.host, self.port = parts.hostname, parts.port or 5432

    def _admin(self, *statements: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_uri, autocommit=True, connect_timeout=10) as conn:
            for statement in statements:
                conn.execute(statement)

    def setup_role(self) -> None:
        self._admin(
            f"DROP ROLE IF EXISTS {ROLE}",
            f"CREATE ROLE {ROLE} LOGIN PASSWORD '{self.password}'",
        )

    def create_database(self) -> str:
        """A new empty database owned by ROLE; its URI."""
        name = "heron_test_" + secrets.token_hex(6)
        self._admin(f"CREATE DATABASE {name} OWNER {ROLE}")
        return f"postgresql://{ROLE}:{quote(self.password)}@{self.host}:{self.port}/{name}"

    def drop_database(self, uri: str) -> None:
        name = urlsplit(uri).path.lstrip("/")
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


class LocalCluster:
    """A cluster in a temporary folder, run by an unprivileged user when we are root."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.run_as: list[str] = []
        owner = None
        if os.geteuid() == 0:
            try:
                owner = pwd.getpwnam("postgres")
            except KeyError:
                _unavailable("running as root and there is no 'postgres' user to run the server")
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.base = Path(tempfile.mkdtemp(prefix="heron-pg-"))  # /tmp: reachable by postgres
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.admin_password = secrets.token_hex(12)
        pwfile = self.base / "pwfile"
        pwfile.write_text(self.admin_password + "\n")
        if owner is not None:
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        os.chmod(self.base, 0o700)
        self.port = 0

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*self.run_as, *args], capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> str:
        """Init and start the cluster; its superuser URI."""
        done = self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            ADMIN_USER,
            f"--pwfile={self.base / 'pwfile'}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        )
        if done.returncode != 0:
            _unavailable(f"initdb failed: {done.stdout}{done.stderr}")
        last_error = ""
        for _ in range(3):  # another process may take the free port first
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} "
                f"-c unix_socket_directories={self.base} -c max_connections=300 "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
            )
            done = self._run(
                str(self.bin_dir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                return (
                    f"postgresql://{ADMIN_USER}:{self.admin_password}@127.0.0.1:{self.port}"
                    "/postgres"
                )
            last_error = done.stdout + done.stderr + self._log_tail()
        _unavailable(f"pg_ctl start failed: {last_error}")
        raise AssertionError("unreachable")

    def _log_tail(self) -> str:
        try:
            return self.log.read_text()[-2000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.data.exists():
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server to create test databases on (see the module docstring)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg 3 is not installed (pip install 'heron-ml[postgres]')")
    external = os.environ.get("HERON_TEST_POSTGRES_URI")
    if external:
        server = PostgresServer(external, secrets.token_hex(12))
        server.setup_role()
        yield server
        return
    bin_dir = _bin_dir()
    if bin_dir is None:
        if os.geteuid() != 0:
            _unavailable("initdb/pg_ctl not found, and installing them needs root")
        problem = _install()
        bin_dir = _bin_dir()
        if bin_dir is None:
            _unavailable(problem or "installed postgresql but found no initdb/pg_ctl")
    cluster = LocalCluster(bin_dir)
    try:
        server = PostgresServer(cluster.start(), secrets.token_hex(12))
        server.setup_role()
        yield server
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_uri(postgres_server) -> str:
    """``postgresql://heron:…@127.0.0.1:PORT/db``: one database for the whole session."""
    return postgres_server.create_database()


@pytest.fixture
def postgres_database(postgres_server):
    """The URI of a database of this test's own, dropped afterwards."""
    uri = postgres_server.create_database()
    yield uri
    postgres_server.drop_database(uri)


# --- S3 (moto's standalone server; see tests/support/s3.py) ---------------------------------


@pytest.fixture(scope="session")
def s3_server():
    """An S3 endpoint on 127.0.0.1 for the whole session: ``endpoint_url``, ``env`` (the
    variables a process needs to use it through s3fs), ``subprocess_env()``,
    ``create_bucket()``, ``keys(bucket)``."""
    from tests.support.s3 import start_s3_server, stop_s3_server

    process, server, home = start_s3_server()
    try:
        yield server
    finally:
        stop_s3_server(process)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A fresh bucket for this test (``name``, ``uri`` = ``s3://<name>/heron``, ``keys()``,
    ``objects()``), with this process pointed at the endpoint; emptied and deleted after."""
    from tests.support.s3 import Bucket, forget_s3_instances

    forget_s3_instances()
    s3_server.use_in_process(monkeypatch)
    bucket = Bucket(s3_server, s3_server.create_bucket())
    yield bucket
    forget_s3_instances()
    s3_server.delete_bucket(bucket.name)


# --- the engines of the scale-out tier: one Dask LocalCluster and one local Ray per session --


@pytest.fixture(scope="session")
def dask_address():
    """The scheduler address of a Dask LocalCluster (2 worker processes, 1 thread each, on
    127.0.0.1) shared by the session. A killed worker fails its task at once (no Dask
    retries), as Heron's orchestrator asks of the clusters it starts."""
    distributed = pytest.importorskip("distributed")
    import dask

    dask.config.set({"distributed.scheduler.allowed-failures": 0})
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",  # a free port: never a fixed one others may hold
        host="127.0.0.1",
    )
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def ray_local():
    """A local Ray (``num_cpus=2``, on 127.0.0.1, no dashboard) shared by the session, started
    as Heron's Ray orchestrator starts one; the orchestrator reuses a Ray already running."""
    pytest.importorskip("ray")
    import ray

    from heron.orchestrators import ray as ray_orchestrator

    started = not ray.is_initialized()
    ray_orchestrator.RayOrchestrator(num_cpus=2 if started else None).shutdown()
    try:
        yield ray
    finally:
        if started:
            ray_orchestrator.stop_local_ray()
