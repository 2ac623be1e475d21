"""The `Store` contract, search and property tests on `SqlStore` with PostgreSQL.

The same suites as tests/unit/store run here against a real server (see conftest.py). This
module gets a database of its own; every test starts with its tables emptied.
"""

from __future__ import annotations

import pytest

from heron.store.sql.engine import dispose_engines
from tests.store_contract.properties import *  # noqa: F403
from tests.store_contract.search_suite import *  # noqa: F403
from tests.store_contract.suite import *  # noqa: F403
from tests.support.stores import empty_sql_store, open_sql_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def module_database(postgres_server):
    uri = postgres_server.create_database()
    yield uri
    dispose_engines()
    postgres_server.drop_database(uri)


@pytest.fixture
def store(module_database):
    store = empty_sql_store(module_database)
    yield store
    store.engine.dispose()


@pytest.fixture(scope="module")
def search_store(postgres_server):
    uri = postgres_server.create_database()
    with open_sql_store(uri) as store:
        yield store
    postgres_server.drop_database(uri)


def test_the_store_really_talks_to_postgresql(store):
    assert store.engine.dialect.name == "postgresql"
    assert store.uri.startswith("postgresql://")


def test_a_fresh_database_gets_the_heron_schema(postgres_database):
    with open_sql_store(postgres_database) as store:
        exp = store.create_experiment("first")
        assert store.get_experiment(exp.id).name == "first"
    with open_sql_store(postgres_database) as reopened:  # the schema is found, not re-created
        assert reopened.get_experiment_by_name("first").id == exp.id
