"""The scheduler's semantics (tests/unit/scheduling) on the other stores: PostgreSQL directly,
and through a live `heron server` (whose own store is SQLite), so that exactly once, catch-up,
DST, concurrency, triggers and backfills hold wherever the schedules live. One server per
module; each test starts with the tables emptied."""

from __future__ import annotations

import pytest

import heron
from heron.core import config
from heron.store import log_buffer, registry
from tests.support.backends import other_backend
from tests.support.stores import close_store, empty_sql_store
from tests.unit.scheduling.conftest import clock, launcher, pipelines_file  # noqa: F401
from tests.unit.scheduling.test_backfills_and_definitions import *  # noqa: F403
from tests.unit.scheduling.test_cron_and_dst import (  # noqa: F401
    test_the_scheduler_ticks_through_a_transition_at_wall_clock_times,
)
from tests.unit.scheduling.test_scheduler import *  # noqa: F403

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["postgresql", "server"])
def backend(request, tmp_path_factory):
    yield from other_backend(request, tmp_path_factory, "scheduling-stores")


@pytest.fixture
def store(backend, tmp_path, monkeypatch):
    tracking_uri, database_uri = backend
    close_store(empty_sql_store(database_uri))
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HERON_ARTIFACT_URI", raising=False)
    heron.set_tracking_uri(tracking_uri)
    store = registry.get_store(tracking_uri)
    if store.get_experiment_by_name("Default") is None:
        store.create_experiment("Default")
    yield store
    log_buffer.flush_all(raise_errors=False)
    config.set_tracking_uri(None)
    registry.forget_stores()
