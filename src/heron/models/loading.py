"""``heron.load_model``: a stored model, by URI, ready to ``predict``."""

from __future__ import annotations

import os

from heron.models.model import Model, check_model_artifact
from heron.models.uris import resolve


def load_model(model_uri: str, tracking_uri: str | os.PathLike[str] | None = None) -> Model:
    """The model ``model_uri`` names, as a :class:`~heron.models.model.Model`.

    ``model_uri`` is ``models:/<name>/<version>``, ``models:/<name>@<alias>``,
    ``models:/<name>`` (the latest version), ``runs:/<run_id>/<name>`` or an artifact id;
    the model is read from the active tracking URI unless ``tracking_uri`` is given.
    """
    from heron.core import config
    from heron.store.registry import get_store

    uri = config.normalize_tracking_uri(os.fspath(tracking_uri)) if tracking_uri else None
    store = get_store(uri)
    resolved = resolve(store, model_uri)
    check_model_artifact(resolved.artifact)
    from heron.models.mlmodel import load_artifact_impl

    impl = load_artifact_impl(resolved.artifact)  # an MLflow model directory, or Heron's own
    version = resolved.model_version
    return Model(
        impl,
        resolved.artifact,
        model_uri,
        registered_name=version.name if version else None,
        registered_version=version.version if version else None,
    )
