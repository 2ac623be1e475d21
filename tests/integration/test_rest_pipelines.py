"""The pipeline behaviour matrix (tests/unit/pipelines/test_matrix.py) through a live
`heron server`: every shape in every mode (in process, two worker processes, cached and
uncached re-runs) records the same statuses, values, runs, links and artifact bytes as on the
embedded store, with the artifacts proxied by the server, whose own store is SQLite or
PostgreSQL. One server per back-end; each test starts with its tables emptied."""

from __future__ import annotations

import pytest

import heron
from heron.core import config
from heron.store import log_buffer, registry
from heron.store.sql.engine import dispose_engines
from heron.tracking import fluent
from tests.support.server import running_server
from tests.support.stores import close_store, empty_sql_store, sqlite_uri
from tests.unit.pipelines.conftest import Workspace
from tests.unit.pipelines.test_matrix import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest-pipelines")
    if request.param == "sqlite":
        uri = sqlite_uri(folder / "heron.db")
    else:
        postgres = request.getfixturevalue("postgres_server")
        uri = postgres.create_database()
    with running_server(
        uri, str(folder / "artifacts"), folder / "server.log", extra_args=("--no-access-log",)
    ) as running:
        yield running
    if request.param == "postgresql":
        dispose_engines()
        postgres.drop_database(uri)


@pytest.fixture(autouse=True)
def workspace(server, tmp_path, monkeypatch):
    close_store(empty_sql_store(server.backend_store_uri))
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    for var in ("HERON_TRACKING_URI", "HERON_ARTIFACT_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    heron.set_tracking_uri(server.url)
    space = Workspace(tmp_path, server.url)
    space.artifacts = type(tmp_path)(server.artifacts_uri)  # the server's own store
    yield space
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    registry.forget_stores()


@pytest.fixture
def client(workspace) -> heron.Client:
    return heron.Client()


def test_the_pipelines_really_go_through_the_server(client, server):
    assert type(client.store).__name__ == "RestStore"
    run = linear()  # noqa: F405
    assert run.status == "completed"
    stored = client.store.get_run(run.id)
    assert stored.kind == "pipeline"
    artifact_uri = client.store.list_artifact_versions(run_id=run.steps["square"].id)[0].uri
    assert artifact_uri.startswith(server.artifacts_uri)
