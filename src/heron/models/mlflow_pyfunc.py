"""The ``loader_module`` through which ``mlflow.pyfunc.load_model`` loads a Heron model.

The MLmodel that ``heron server`` presents for a Heron model
(:func:`heron.models.mlmodel.mlmodel_for_artifact`) names this module; MLflow calls
:func:`_load_pyfunc` with the model's ``data`` folder (the stored model files) and calls
``predict`` on what it returns. The MLmodel beside that folder carries the artifact's facts
(materializer, flavor, signature), so the model predicts exactly as ``heron.load_model``'s.
"""

from __future__ import annotations

import json
import os
from typing import Any

from heron.core.errors import InvalidArgument


class HeronPyfuncModel:
    """A Heron :class:`~heron.models.model.Model` with the ``predict(data, params=None)``
    that MLflow's pyfunc calls."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def predict(self, data: Any, params: dict[str, Any] | None = None) -> Any:
        """Predictions for ``data`` (checked against the model's signature by Heron)."""
        return self.model.predict(data, params or None)

    def get_raw_model(self) -> Any:
        """The underlying model object (the estimator, the function, ...)."""
        return self.model.impl


def _load_pyfunc(data_path: str, model_config: Any = None) -> HeronPyfuncModel:
    """The model stored in ``data_path`` (see the module doc)."""
    from heron.artifacts.materializers import get_materializer
    from heron.core.entities import ArtifactVersion
    from heron.models.mlmodel import MLMODEL
    from heron.models.model import MODEL_KEY, Model

    mlmodel = os.path.join(os.path.dirname(os.path.abspath(data_path)), MLMODEL)
    try:
        with open(mlmodel, encoding="utf-8") as f:
            facts = json.load(f)["heron"]
    except (OSError, ValueError, KeyError) as e:
        raise InvalidArgument(
            f"{mlmodel} does not describe a Heron model ({e}): load models that heron server "
            "presents, whose MLmodel has a 'heron' section."
        ) from e
    import fsspec

    impl = get_materializer(facts["materializer"]).load(fsspec.filesystem("file"), data_path)
    artifact = ArtifactVersion(
        id=facts["artifact_id"],
        name=facts["name"],
        version=int(facts["version"]),
        content_hash=facts["content_hash"],
        type=facts["type"],
        materializer=facts["materializer"],
        size=0,
        uri=os.path.abspath(data_path),
        materializer_version=str(facts.get("materializer_version", "1")),
        metadata={MODEL_KEY: facts["model"]},
    )
    return HeronPyfuncModel(Model(impl, artifact, f"models:/m-{artifact.id}"))
