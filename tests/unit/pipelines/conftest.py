"""Each pipelines test gets its own store (metadata and artifacts) and a clean process state."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import heron
from heron.core import config
from heron.store import log_buffer, registry
from heron.tracking import fluent


class Workspace:
    """Where this test's pipelines write: ``path`` (tmp), ``uri`` (tracking), ``artifacts``."""

    def __init__(self, path: Path, uri: str) -> None:
        self.path = path
        self.uri = uri
        self.artifacts = path / "artifacts"

    def stored_objects(self) -> set[str]:
        """Content hashes of the objects in the artifact store (each stored once)."""
        root = self.artifacts / "objects"
        if not root.exists():
            return set()
        return {
            prefix.name + entry.name
            for prefix in root.iterdir()
            if prefix.is_dir()
            for entry in prefix.iterdir()
        }

    def stored_files(self) -> int:
        """How many files the artifact store's objects hold."""
        root = self.artifacts / "objects"
        return sum(len(files) for _dir, _dirs, files in os.walk(root))


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch) -> Workspace:
    """A fresh SQLite store and artifact root under tmp_path, the only ones this test reaches."""
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    for var in ("HERON_TRACKING_URI", "HERON_ARTIFACT_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    heron.set_tracking_uri(uri)
    yield Workspace(tmp_path, uri)
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    registry.forget_stores()


@pytest.fixture
def client(workspace) -> heron.Client:
    """A client of this test's store, to read back what pipelines recorded."""
    return heron.Client()
