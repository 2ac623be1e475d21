"""The model-registry contract on `SqlStore` with PostgreSQL (the suite is in
tests/store_contract). This module gets a database of its own; every test starts with its
tables emptied.
"""

from __future__ import annotations

import pytest

from heron.store.sql.engine import dispose_engines
from tests.store_contract.registry_suite import *  # noqa: F403
from tests.support.stores import empty_sql_store

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


def test_the_registry_really_talks_to_postgresql(store):
    assert store.engine.dialect.name == "postgresql"
