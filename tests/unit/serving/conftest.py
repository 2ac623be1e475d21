"""Serving tests: models logged to a fresh workspace, served by the ASGI app in-process."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():  # starlette would rather have httpx2, not installed here
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

import heron
from heron.serving.app import ScoringApp, create_app
from heron.serving.loading import load_served_model
from heron.serving.settings import ServeSettings
from tests.unit.models.conftest import fitted, iris  # noqa: F401  (fixtures)
from tests.unit.tracking.conftest import workspace  # noqa: F401  (autouse fixture)


def log(model: Any, input_example: Any = None, name: str = "model", **kwargs: Any) -> str:
    """Log ``model`` in a new run of the active workspace; its model URI."""
    with heron.start_run():
        return heron.log_model(model, name, input_example=input_example, **kwargs).model_uri


def app_for(uri: str, **settings: Any) -> ScoringApp:
    """The scoring app of the model at ``uri``, loaded as ``heron serve`` loads it."""
    chosen = ServeSettings(model_uri=uri, tracking_uri=heron.get_tracking_uri(), **settings)
    return create_app(load_served_model(chosen), chosen)


@pytest.fixture
def serve() -> Callable[..., TestClient]:
    """``serve(model, input_example, **settings)``: a test client of the model's server."""

    def make(model: Any, input_example: Any = None, **settings: Any) -> TestClient:
        return TestClient(app_for(log(model, input_example), **settings))

    return make


def same(a: Any, b: Any) -> bool:
    return np.array_equal(np.asarray(a), np.asarray(b))


def memory_model(impl: Any, signature: Any = None, flavor: str | None = None) -> Any:
    """A :class:`~heron.models.model.Model` of ``impl`` built in memory (no store, no run)."""
    from heron.core.entities import ArtifactVersion
    from heron.models import flavors
    from heron.models.model import MODEL_KEY, Model

    facts = {
        "flavor": flavor or flavors.detect_flavor(impl),
        "class": f"{type(impl).__module__}.{type(impl).__qualname__}",
        "libraries": {},
        "signature": signature.to_dict() if signature is not None else None,
        "input_example": None,
    }
    artifact = ArtifactVersion(
        id="0" * 32,
        name="model",
        version=1,
        content_hash="0" * 64,
        type=facts["class"],
        materializer="cloudpickle",
        size=0,
        uri="memory://model",
        metadata={MODEL_KEY: facts},
    )
    return Model(impl, artifact, "memory://model")
