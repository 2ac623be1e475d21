"""Fixtures for the materializer tests: a local fsspec file system, fresh folders, and a
registry of the built-ins alone (no installed plugins, nothing registered by other tests)."""

from __future__ import annotations

import itertools
import json

import fsspec
import pytest

from heron.artifacts.materializers import registry


@pytest.fixture
def fs():
    """fsspec's local file system."""
    return fsspec.filesystem("file")


@pytest.fixture
def folder(tmp_path, fs):
    """A function returning a new, existing folder for each call (as the executor gives)."""
    counter = itertools.count()

    def make() -> str:
        path = f"{tmp_path.as_posix()}/out{next(counter)}"
        fs.makedirs(path)
        return path

    return make


@pytest.fixture(autouse=True)
def fresh_registry(monkeypatch):
    """The module-level functions see a registry of the built-ins and no entry points."""
    fresh = registry.MaterializerRegistry.with_builtins(entry_points=lambda: [])
    monkeypatch.setattr(registry, "_registry", fresh)
    return fresh


@pytest.fixture
def round_trip(fs, folder):
    """Save a value with a materializer, check the metadata is strict JSON, load it back."""

    def run(materializer, value, filesystem=None, path=None):
        filesystem = filesystem or fs
        path = path or folder()
        metadata = materializer.save(value, filesystem, path)
        assert isinstance(metadata, dict)
        assert metadata["type"] == materializer.type_name(value)
        json.dumps(metadata, allow_nan=False)  # plain JSON values only, no NaN
        assert json.loads(json.dumps(metadata)) == metadata  # no tuples or numpy scalars
        return materializer.load(filesystem, path), metadata

    return run
