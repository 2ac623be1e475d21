"""`SqlStore.search_runs` on SQLite: the search contract and its property tests.

The tests themselves are in tests/store_contract (search_suite, properties), shared with the
PostgreSQL tier.
"""

from __future__ import annotations

import pytest

from tests.store_contract.properties import *  # noqa: F403
from tests.store_contract.search_suite import *  # noqa: F403
from tests.support.stores import open_sql_store, sqlite_uri


@pytest.fixture
def store(sqlite_store):
    return sqlite_store


@pytest.fixture(scope="module")
def search_store(tmp_path_factory):
    with open_sql_store(sqlite_uri(tmp_path_factory.mktemp("search") / "heron.db")) as store:
        yield store
