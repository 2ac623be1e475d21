"""Each tracking test gets its own workspace and a clean tracking state."""

from __future__ import annotations

import pytest

import heron
from heron.core import config
from heron.store import log_buffer
from heron.tracking import fluent


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    """A fresh SQLite store under tmp_path, the only one this test can reach."""
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HERON_TRACKING_URI", raising=False)
    monkeypatch.delenv("HERON_ARTIFACT_URI", raising=False)
    monkeypatch.delenv("HERON_EXPERIMENT_NAME", raising=False)
    monkeypatch.chdir(tmp_path)
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    heron.set_tracking_uri(uri)
    yield uri
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
