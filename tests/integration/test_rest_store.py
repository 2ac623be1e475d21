"""The `Store` contract, search and property suites on `RestStore`: a live `heron server`
(one per module) on SQLite. Each test starts with the server's tables emptied."""

from __future__ import annotations

import pytest

from heron.store.rest.store import RestStore
from tests.store_contract.properties import *  # noqa: F403
from tests.store_contract.search_suite import *  # noqa: F403
from tests.store_contract.suite import *  # noqa: F403
from tests.support.server import running_server
from tests.support.stores import close_store, empty_sql_store, sqlite_uri

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest-server")
    backend = sqlite_uri(folder / "heron.db")
    with running_server(
        backend, str(folder / "artifacts"), folder / "server.log", extra_args=("--no-access-log",)
    ) as running:
        yield running


@pytest.fixture
def store(server):
    close_store(empty_sql_store(server.backend_store_uri))
    return RestStore(server.url)


@pytest.fixture(scope="module")
def search_store(tmp_path_factory):
    folder = tmp_path_factory.mktemp("rest-search")
    backend = sqlite_uri(folder / "heron.db")
    with running_server(
        backend, str(folder / "artifacts"), folder / "server.log", extra_args=("--no-access-log",)
    ) as running:
        yield RestStore(running.url)
