"""The model-registry contract on `RestStore`: a live `heron server` on SQLite (one per
module); each test starts with the server's tables emptied."""

from __future__ import annotations

import pytest

from heron.store.rest.store import RestStore
from tests.store_contract.registry_suite import *  # noqa: F403
from tests.support.server import running_server
from tests.support.stores import close_store, empty_sql_store, sqlite_uri

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest-registry")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--no-access-log",),
    ) as running:
        yield running


@pytest.fixture
def store(server):
    close_store(empty_sql_store(server.backend_store_uri))
    return RestStore(server.url)
