"""The `heron` command line through a live `heron server`: the quickstart with
`--tracking-uri http://…`, the reading and writing commands, and `heron serve` of a model
registered through the server. One server per module (SQLite)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import httpx
import pytest

from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server-cli")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--no-access-log",),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def env(server, tmp_path_factory):
    home = tmp_path_factory.mktemp("cli-home")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    environment.update(HERON_TRACKING_URI=server.url, HERON_HOME=str(home), HOME=str(home))
    return environment


def heron(env, *args, timeout=300):
    done = subprocess.run(
        [sys.executable, "-m", "heron", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"heron {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def quickstart(env, server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("qs")
    out = heron(env, "quickstart", "--tracking-uri", server.url, "--dir", str(folder / "qs"))
    return out


def test_the_quickstart_runs_through_the_server(quickstart, server):
    assert "completed" in quickstart
    assert "models:/quickstart@champion" in quickstart
    assert f"export HERON_TRACKING_URI={server.url}" in quickstart


def test_the_second_quickstart_reuses_the_cache_through_the_server(
    quickstart, env, server, tmp_path
):
    again = heron(env, "quickstart", "--tracking-uri", server.url, "--dir", str(tmp_path / "qs"))
    assert re.search(r"1[01] of 13 steps reused from the cache", again), again


def test_reading_commands_answer_through_the_server(quickstart, env):
    runs = json.loads(heron(env, "runs", "list", "-e", "quickstart", "--json"))
    assert runs and all(r["status"] in ("completed", "cached") for r in runs)
    shown = json.loads(heron(env, "runs", "show", runs[0]["id"], "--json"))
    assert shown["id"] == runs[0]["id"]
    assert "quickstart" in heron(env, "experiments", "list")
    assert "champion" in heron(env, "models", "show", "quickstart@champion")
    assert "batch_score" in heron(env, "artifacts", "lineage", "batch_score.output")
    assert "quickstart" in heron(env, "pipelines", "list")


def test_writing_commands_work_through_the_server(quickstart, env):
    heron(env, "experiments", "create", "from-the-cli")
    assert "from-the-cli" in heron(env, "experiments", "list")
    report = json.loads(heron(env, "gc", "--dry-run", "--json"))
    assert report["dry_run"] is True


def test_heron_serve_serves_a_model_registered_through_the_server(quickstart, env):
    process = subprocess.Popen(
        [sys.executable, "-m", "heron", "serve", "models:/quickstart@champion", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"on (http://[0-9.]+:[0-9]+)", line)
        assert url, line
        from sklearn.datasets import load_wine

        data = load_wine(as_frame=True).frame.drop(columns=["target"]).head(3)
        response = httpx.post(
            url[1] + "/invocations",
            json={"dataframe_split": {"columns": list(data.columns), "data": data.values.tolist()}},
            timeout=30,
        )
        assert response.status_code == 200, response.text
        assert len(response.json()["predictions"]) == 3
    finally:
        process.terminate()
        process.wait(30)
