"""The pipeline behaviour matrix (tests/unit/pipelines/test_matrix.py) on `SqlStore` with
PostgreSQL: the same shapes and modes record the same story as on SQLite. One database per
module; each test starts with its tables emptied and a fresh artifact folder."""

from __future__ import annotations

import pytest

import heron
from heron.core import config
from heron.store import log_buffer, registry
from heron.store.sql.engine import dispose_engines
from heron.tracking import fluent
from tests.support.stores import close_store, empty_sql_store
from tests.unit.pipelines.conftest import Workspace
from tests.unit.pipelines.test_matrix import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def database(postgres_server):
    uri = postgres_server.create_database()
    yield uri
    dispose_engines()
    postgres_server.drop_database(uri)


@pytest.fixture(autouse=True)
def workspace(database, tmp_path, monkeypatch):
    close_store(empty_sql_store(database))
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    for var in ("HERON_TRACKING_URI", "HERON_ARTIFACT_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    heron.set_tracking_uri(database)
    space = Workspace(tmp_path, database)
    config.set_artifact_uri(str(space.artifacts))
    monkeypatch.setenv("HERON_ARTIFACT_URI", str(space.artifacts))  # the step worker processes
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


def test_the_pipelines_really_use_postgresql(client):
    assert client.store.engine.dialect.name == "postgresql"
