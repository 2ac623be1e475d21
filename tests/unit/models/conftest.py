"""Model tests run in their own workspace, like the tracking tests."""

from __future__ import annotations

import numpy as np
import pytest

from tests.unit.tracking.conftest import workspace  # noqa: F401  (autouse fixture)


@pytest.fixture(scope="session")
def iris():
    """Iris as arrays (X, y) and as a DataFrame (frame, target)."""
    from sklearn.datasets import load_iris

    data = load_iris(as_frame=True)
    return data.data.to_numpy(), data.target.to_numpy(), data.data, data.target


@pytest.fixture(scope="session")
def fitted(iris):
    """A LogisticRegression fitted on arrays, and one fitted on the DataFrame."""
    from sklearn.linear_model import LogisticRegression

    X, y, frame, target = iris
    on_arrays = LogisticRegression(max_iter=1000).fit(X, y)
    on_frame = LogisticRegression(max_iter=1000).fit(frame, target)
    return on_arrays, on_frame


def same(a, b) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))
