"""The model-registry contract on `RestStore` against a live `heron server`
whose back-end is PostgreSQL (one server and database per module); each test starts with
the tables emptied."""

from __future__ import annotations

import pytest

from heron.store.rest.store import RestStore
from heron.store.sql.engine import dispose_engines
from tests.store_contract.registry_suite import *  # noqa: F403
from tests.support.server import running_server
from tests.support.stores import close_store, empty_sql_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(postgres_server, tmp_path_factory):
    uri = postgres_server.create_database()
    folder = tmp_path_factory.mktemp("rest-postgres")
    with running_server(
        uri, str(folder / "artifacts"), folder / "server.log", extra_args=("--no-access-log",)
    ) as running:
        yield running
    dispose_engines()
    postgres_server.drop_database(uri)


@pytest.fixture
def store(server):
    close_store(empty_sql_store(server.backend_store_uri))
    return RestStore(server.url)
