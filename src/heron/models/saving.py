"""``heron.log_model``: store a model as an artifact version of the active run (or step)."""

from __future__ import annotations

import logging
from typing import Any

from heron.core import validation
from heron.core.entities import ArtifactVersion
from heron.core.errors import InvalidArgument
from heron.models import flavors
from heron.models.model import MODEL_KEY, ModelInfo, _is_frame, to_jsonable
from heron.models.signature import Signature, infer_signature
from heron.store.base import Store

logger = logging.getLogger("heron.models")

#: rows of an input example kept in the model's metadata
EXAMPLE_ROWS = 20


def log_model(
    model: Any,
    name: str,
    registered_model_name: str | None = None,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
) -> ModelInfo:
    """Store ``model`` as the artifact ``name`` of the active run (a step's run inside a
    pipeline; a new run when none is active) and return a :class:`ModelInfo`.

    The artifact's metadata records the flavor, the library versions and the signature,
    inferred from ``input_example`` (and from the model's prediction on it) unless given.
    With ``registered_model_name`` the model also becomes the next version of that name.
    """
    from heron.tracking import fluent

    run = fluent.run_for_logging()
    return save_model(
        run.store,
        run.id,
        model,
        name,
        registered_model_name=registered_model_name,
        input_example=input_example,
        signature=signature,
    )


def save_model(
    store: Store,
    run_id: str | None,
    model: Any,
    name: str,
    *,
    registered_model_name: str | None = None,
    input_example: Any = None,
    signature: Signature | dict[str, Any] | None = None,
) -> ModelInfo:
    """:func:`log_model` with an explicit store and producing run."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgument(
            f"log_model needs a name such as 'iris-model'; got {name!r}. The model is stored "
            "as the artifact of that name, addressable as runs:/<run_id>/<name>."
        )
    # Checked before any byte is written, so that a refused name leaves no object behind.
    name = validation.check_artifact_name(name.strip(), "Model")
    flavor = flavors.detect_flavor(model)
    chosen = _signature(model, flavor, input_example, signature)
    facts = {
        "flavor": flavor,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "libraries": flavors.library_versions(model),
        "signature": chosen.to_dict() if chosen else None,
        "input_example": _example_json(input_example),
    }
    artifact = _store_artifact(store, run_id, model, name, flavor, facts)
    info = ModelInfo(
        name=artifact.name,
        artifact_id=artifact.id,
        artifact_version=artifact.version,
        run_id=run_id,
        model_uri=f"runs:/{run_id}/{artifact.name}" if run_id else artifact.id,
        flavor=flavor,
        signature=facts["signature"],
        libraries=facts["libraries"],
    )
    if registered_model_name:
        from heron.registry.operations import register_artifact

        version = register_artifact(store, registered_model_name, artifact)
        info.registered_model_name = version.name
        info.registered_model_version = version.version
    return info


def _store_artifact(
    store: Store, run_id: str | None, model: Any, name: str, flavor: str, facts: dict[str, Any]
) -> ArtifactVersion:
    from heron.artifacts.materializers import get_materializer
    from heron.tracking.run_artifacts import artifact_store_for

    materializer = get_materializer(flavors.materializer_name(flavor))
    blobs = artifact_store_for(store)
    stored, metadata = blobs.write_object(lambda fs, path: materializer.save(model, fs, path))
    metadata = dict(metadata or {})
    metadata[MODEL_KEY] = facts
    return store.create_artifact_version(
        name,
        content_hash=stored.content_hash,
        type=facts["class"],
        materializer=materializer.name,
        materializer_version=materializer.version,
        size=stored.size,
        uri=stored.uri,
        producer_run_id=run_id,
        metadata=metadata,
        link_name=name if run_id else None,
    )


def _signature(
    model: Any, flavor: str, input_example: Any, given: Signature | dict[str, Any] | None
) -> Signature | None:
    if isinstance(given, Signature):
        return given
    if isinstance(given, dict):
        try:
            return Signature.from_dict(given)
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(
                f"signature={given!r} is not a signature: build one with "
                f"heron.models.signature.infer_signature(input_example). ({e})"
            ) from e
    if given is not None:
        raise InvalidArgument(
            f"signature must be a Signature or its dict, not {type(given).__name__}."
        )
    if input_example is None:
        return None
    inputs = infer_signature(input_example)
    output = None
    try:
        from heron.models.inputs import prepare_input
        from heron.models.model import align_columns, feature_names

        needs_dataframe = flavors.needs_dataframe(model, flavor, bool(inputs.columns))
        prepared = prepare_input(input_example, inputs, needs_dataframe=needs_dataframe)
        if needs_dataframe:
            prepared = align_columns(prepared, feature_names(model))
        output = flavors.predictor(model, flavor)(prepared)
    except Exception as e:  # the signature of the output is a nicety, never a failure
        logger.debug("no output signature: predicting on the input example failed: %s", e)
    return Signature(inputs.inputs, infer_signature(output).inputs if output is not None else None)


def _example_json(example: Any) -> Any:
    """The first rows of an input example as JSON (DataFrames in ``dataframe_split`` form)."""
    if example is None:
        return None
    if _is_frame(example):
        head = example.iloc[:EXAMPLE_ROWS]
        return {
            "columns": [str(c) for c in head.columns],
            "data": to_jsonable(head.to_numpy()),
        }
    if isinstance(example, list) or getattr(example, "ndim", 0) >= 1:
        example = example[:EXAMPLE_ROWS]
    value = to_jsonable(example)
    import json

    try:
        json.dumps(value, allow_nan=True)
    except (TypeError, ValueError):
        return None
    return value
