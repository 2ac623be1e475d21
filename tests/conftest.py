"""Fixtures shared by every test tier (keep this file small)."""

from __future__ import annotations

import pytest

# Assertions in the shared suites report values like those in test modules.
pytest.register_assert_rewrite("tests.store_contract", "tests.support")

from tests.support.stores import open_sql_store, sqlite_uri  # noqa: E402


@pytest.fixture
def sqlite_store(tmp_path):
    """A `SqlStore` on a fresh SQLite file, closed after the test."""
    with open_sql_store(sqlite_uri(tmp_path / "heron.db")) as store:
        yield store


def pytest_collection_modifyitems(items):
    """Mark each test with its tier (unit, integration, e2e) from its folder, so that
    `pytest -m unit` runs the fast tier alone."""
    for item in items:
        for tier in ("unit", "integration", "e2e"):
            if f"/tests/{tier}/" in item.path.as_posix():
                item.add_marker(tier)
