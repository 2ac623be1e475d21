"""The quality bars of the tracking server under load and faults (bounded in count and time):

- 16 client processes each log 50,000 points through one server (SQLite and PostgreSQL
  back-ends): all 800,000 arrive, and every (run, key) history is in step order;
- the server is killed (SIGKILL) during a client's run and started again 5 s later: every
  buffered point arrives and the run ends ``completed``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from heron.store.rest.store import RestStore
from heron.store.sql.engine import dispose_engines
from tests.support.server import running_server, start_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

CLIENTS = 16
POINTS = 50_000

_CLIENT = textwrap.dedent(
    """
    import sys
    import heron

    heron.set_experiment("load")
    with heron.start_run(name=f"client-{sys.argv[1]}") as run:
        for step in range(int(sys.argv[2])):
            heron.log_metric("loss", 1.0 / (step + 1), step=step)
    print(run.id)
    """
)


def _client_env(url: str, home) -> dict[str, str]:
    env = {**os.environ, "HERON_TRACKING_URI": url, "HERON_HOME": str(home)}
    env.pop("HERON_ARTIFACT_URI", None)
    return env


def _log_from_many_processes(url: str, home) -> list[str]:
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT, str(i), str(POINTS)],
            env=_client_env(url, home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(CLIENTS)
    ]
    run_ids = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        run_ids.append(out.strip().splitlines()[-1])
    return run_ids


def _check_everything_arrived(url: str, run_ids: list[str]) -> None:
    store = RestStore(url)
    assert len(set(run_ids)) == CLIENTS
    total = 0
    for run_id in run_ids:
        run = store.get_run(run_id)
        assert run.status == "completed"
        history = store.get_metric_history(run_id, "loss")
        steps = [point.step for point in history]
        assert steps == list(range(POINTS)), run_id
        total += len(history)
    assert total == CLIENTS * POINTS


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_sixteen_processes_log_800_000_points_through_the_server(backend, tmp_path, request):
    if backend == "sqlite":
        uri = sqlite_uri(tmp_path / "heron.db")
    else:
        postgres = request.getfixturevalue("postgres_server")
        uri = postgres.create_database()
    try:
        with running_server(
            uri,
            str(tmp_path / "artifacts"),
            tmp_path / "server.log",
            workers=2,
            extra_args=("--no-access-log",),
        ) as server:
            run_ids = _log_from_many_processes(server.url, tmp_path / "home")
            _check_everything_arrived(server.url, run_ids)
    finally:
        if backend == "postgresql":
            dispose_engines()
            postgres.drop_database(uri)


_STEADY_CLIENT = textwrap.dedent(
    """
    import sys, time
    import heron

    heron.set_experiment("outage")
    with heron.start_run() as run:
        print(run.id, flush=True)
        for step in range(int(sys.argv[1])):
            heron.log_metric("loss", 1.0 / (step + 1), step=step)
            if step % 100 == 0:
                time.sleep(0.01)
    print("done", flush=True)
    """
)


def test_a_server_killed_and_restarted_during_a_run_loses_no_point(tmp_path):
    uri = sqlite_uri(tmp_path / "heron.db")
    artifacts = str(tmp_path / "artifacts")
    server = start_server(uri, artifacts, tmp_path / "server.log")
    points = 30_000  # ~3 s of logging, then the outage, then the rest
    env = {**_client_env(server.url, tmp_path / "home"), "HERON_FLUSH_INTERVAL": "0.2"}
    client = subprocess.Popen(
        [sys.executable, "-c", _STEADY_CLIENT, str(points)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = client.stdout.readline().strip()
        time.sleep(1.0)  # some points are in, more are buffered
        server.stop(signal.SIGKILL)
        time.sleep(5)
        server = start_server(uri, artifacts, tmp_path / "server2.log", port=server.port)
        out, err = client.communicate(timeout=300)
        assert client.returncode == 0, err
        assert "done" in out
        store = RestStore(server.url)
        run = store.get_run(run_id)
        assert run.status == "completed", (run.status, run.status_reason, err)
        steps = [p.step for p in store.get_metric_history(run_id, "loss")]
        assert steps == list(range(points))
    finally:
        if client.poll() is None:
            client.kill()
        server.stop()
