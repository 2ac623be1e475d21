"""The model-registry contract on `SqlStore` with SQLite (the suite is in tests/store_contract)."""

from __future__ import annotations

import pytest

from tests.store_contract.registry_suite import *  # noqa: F403


@pytest.fixture
def store(sqlite_store):
    return sqlite_store
