"""The monitor suite (tests/unit/monitoring/test_monitors.py) on the other stores: PostgreSQL
directly, and through a live `heron server` (on SQLite), so that monitors, their evaluations and
the retraining they trigger behave the same wherever the metadata lives. The inference log sits
in a local folder (``HERON_INFERENCE_LOG_URI``), as it must when artifacts go through a server."""

from __future__ import annotations

import sys

import pytest

import heron
from heron.core import config
from heron.store import log_buffer, registry
from tests.support.backends import other_backend
from tests.support.stores import close_store, empty_sql_store
from tests.unit.monitoring.test_monitors import *  # noqa: F403
from tests.unit.monitoring.test_monitors import PIPELINES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=["postgresql", "server"])
def backend(request, tmp_path_factory):
    yield from other_backend(request, tmp_path_factory, "monitoring-stores")


@pytest.fixture
def workspace(backend, tmp_path, monkeypatch):
    tracking_uri, database_uri = backend
    close_store(empty_sql_store(database_uri))
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HERON_INFERENCE_LOG_URI", str(tmp_path / "inferences"))
    monkeypatch.delenv("HERON_ARTIFACT_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "flows.py").write_text(PIPELINES)
    monkeypatch.syspath_prepend(str(tmp_path))
    heron.set_tracking_uri(tracking_uri)
    yield tmp_path
    sys.modules.pop("flows", None)
    log_buffer.flush_all(raise_errors=False)
    config.set_tracking_uri(None)
    registry.forget_stores()
