"""Autolog tests: each in its own store (see the pipelines tests), autologging off after."""

from __future__ import annotations

import pytest

import heron
from tests.unit.pipelines.conftest import client, workspace  # noqa: F401  (fixtures)


@pytest.fixture(autouse=True)
def autolog_off():
    """Whatever a test turned on is turned off (and every method restored) after it."""
    yield
    heron.autolog(disable=True)


@pytest.fixture(scope="session")
def iris():
    """Iris as arrays ``(X, y)``."""
    from sklearn.datasets import load_iris

    return load_iris(return_X_y=True)


@pytest.fixture(scope="session")
def binary():
    """A two-class problem ``(X, y)``."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=120, n_features=5, random_state=0)
