"""A server outage during a run loses nothing: what the client could not send is kept, spilled
to disk at run end when the server stays away, and `heron sync` sends it later, once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from heron.store.rest.store import RestStore
from tests.support.server import free_port, start_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

_CLIENT = textwrap.dedent(
    """
    import sys, time
    import heron

    n = int(sys.argv[1])
    heron.set_experiment("outage")
    with heron.start_run() as run:
        for step in range(n):
            heron.log_metric("loss", 1.0 / (step + 1), step=step)
        time.sleep(1.0)
        print(run.id, flush=True)
        sys.stdin.readline()  # the server is down now (or back, in scenario B)
        for step in range(n, 2 * n):
            heron.log_metric("loss", 1.0 / (step + 1), step=step)
        if len(sys.argv) > 2:
            print("ending", flush=True)
            sys.stdin.readline()
    print("done", flush=True)
    """
)


def _env(url, home, wait="2"):
    env = {
        **os.environ,
        "HERON_TRACKING_URI": url,
        "HERON_HOME": str(home),
        "HERON_HTTP_RETRY_SECONDS": "1",
        "HERON_OUTAGE_WAIT": wait,
        "HERON_FLUSH_INTERVAL": "0.2",
    }
    env.pop("HERON_ARTIFACT_URI", None)
    return env


def _history(url, run_id):
    store = RestStore(url)
    return store.get_run(run_id), [p.step for p in store.get_metric_history(run_id, "loss")]


def test_a_run_ended_while_the_server_is_down_is_sent_by_heron_sync(tmp_path):
    uri, artifacts, home = sqlite_uri(tmp_path / "heron.db"), str(tmp_path / "a"), tmp_path / "h"
    port = free_port()
    server = start_server(
        uri, artifacts, tmp_path / "s1.log", port=port, extra_args=("--no-access-log",)
    )
    n = 500
    client = subprocess.Popen(
        [sys.executable, "-c", _CLIENT, str(n)],
        env=_env(server.url, home),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = client.stdout.readline().strip()
        server.stop(signal.SIGKILL)
        out, err = client.communicate("\n", timeout=50)
        assert client.returncode == 0, err
        assert "done" in out
        assert "heron sync" in err and str(home / "pending" / f"127.0.0.1_{port}") in err, err
        server = start_server(
            uri, artifacts, tmp_path / "s2.log", port=port, extra_args=("--no-access-log",)
        )
        env = {**_env(server.url, home)}
        sync = subprocess.run(
            [sys.executable, "-m", "heron", "sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert sync.returncode == 0, sync.stderr
        assert "Sent" in sync.stdout and "0 pending" in sync.stdout, sync.stdout
        run, steps = _history(server.url, run_id)
        assert steps == list(range(2 * n))
        assert run.status == "completed", (run.status, run.status_reason)
        again = subprocess.run(
            [sys.executable, "-m", "heron", "sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert again.returncode == 0 and "Nothing pending" in again.stdout, again.stdout
    finally:
        if client.poll() is None:
            client.kill()
        server.stop()


def test_a_server_back_before_the_wait_ends_gets_everything_and_nothing_is_spilled(tmp_path):
    uri, artifacts, home = sqlite_uri(tmp_path / "heron.db"), str(tmp_path / "a"), tmp_path / "h"
    port = free_port()
    server = start_server(
        uri, artifacts, tmp_path / "s1.log", port=port, extra_args=("--no-access-log",)
    )
    n = 500
    client = subprocess.Popen(
        [sys.executable, "-c", _CLIENT, str(n)],
        env=_env(server.url, home, wait="40"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        run_id = client.stdout.readline().strip()
        server.stop(signal.SIGKILL)
        client.stdin.write("\n")
        client.stdin.flush()
        time.sleep(3)  # the client meets the outage and keeps its points
        server = start_server(
            uri, artifacts, tmp_path / "s2.log", port=port, extra_args=("--no-access-log",)
        )
        _out, err = client.communicate(timeout=55)
        assert client.returncode == 0, err
        run, steps = _history(server.url, run_id)
        assert steps == list(range(2 * n))
        assert run.status == "completed", (run.status, run.status_reason)
        assert not list((home / "pending").rglob("*.json"))
    finally:
        if client.poll() is None:
            client.kill()
        server.stop()
