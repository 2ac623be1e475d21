"""A model version's ``source``: which Heron artifact version it names, and back.

MLflow's ``create-model-version`` sends a ``source`` URI (and, from MLflow 3, ``model_id`` and
``run_id``). Heron registers models it stores, so a source must name a Heron artifact version:

- ``models:/<model_id>`` (a logged model, what ``mlflow.<flavor>.log_model`` makes in MLflow 3);
- ``runs:/<run_id>/<name>``: the artifact the run logged or produced under ``name`` (a model
  logged with ``heron.log_model`` or MLflow's ``log_model`` is linked to its run by its name);
- ``mlflow-artifacts:/<exp>/<run_id>/artifacts/<name>`` (a run's artifact through the proxy) or
  ``mlflow-artifacts:/<exp>/models/<model_id>/artifacts`` (a logged model's folder);
- ``models:/<name>/<version>``, ``models:/<name>/<stage>`` or ``models:/<name>@<alias>`` (a
  registered version, registered again);
- an artifact version id (32 hex characters).

Any other URI (``s3://…``, ``file://…``, a local path) is refused with a 400 saying why and how.
Going back, :func:`lineage_of` gives what MLflow shows of a version: its ``source``, its
``model_id`` and the URI to download it through the artifact proxy. They are derived from the
artifact each time, so a version Heron registered reads the same as one MLflow registered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from heron.core.entities import OUTPUT, ArtifactVersion, ModelVersion
from heron.core.errors import HeronError, InvalidArgument, NotFound
from heron.server.mlflow import convert, errors, paths

_ARTIFACT_ID = re.compile(r"^[0-9a-f]{32}$")
_HOW = (
    "Heron registers models it stores: log the model to a run first "
    "(mlflow.<flavor>.log_model(..., name='model') or heron.log_model) and register "
    "models:/<model_id> or runs:/<run_id>/<name>."
)


@dataclass(frozen=True)
class Lineage:
    """What MLflow shows of a model version's artifact."""

    source: str
    model_id: str | None
    download_uri: str


def artifact_for_source(
    store: Any, source: str, *, run_id: str | None = None, model_id: str | None = None
) -> ArtifactVersion:
    """The Heron artifact version ``source`` names (see the module docstring); 400
    ``INVALID_PARAMETER_VALUE`` for a source Heron does not store, a ``run_id`` or ``model_id``
    that does not hold the source, or an artifact that is data, not a model."""
    from heron.models.model import check_model_artifact

    _check_safe(source)
    try:
        if model_id:
            artifact = _artifact_of_model_id(store, source, model_id)
        else:
            artifact = _artifact_of(store, source, run_id)
        check_model_artifact(artifact)
    except errors.MlflowError as e:
        if e.code not in (errors.RESOURCE_DOES_NOT_EXIST, errors.INVALID_PARAMETER_VALUE):
            raise
        raise _invalid(source, e.message) from None
    except (NotFound, InvalidArgument) as e:
        raise _invalid(source, str(e)) from None
    return artifact


def lineage_of(store: Any, version: ModelVersion, *, cache: dict | None = None) -> Lineage:
    """The ``source``, ``model_id`` and download URI MLflow shows for ``version``: the logged
    model's when the artifact is one (every Heron model artifact has a logged-model id once
    :mod:`.logged_models` is there), else the run's artifact under the name the run linked it
    with, else the artifact id. ``cache`` (by artifact id) saves look-ups across one answer."""
    if cache is not None and version.artifact_id in cache:
        return cache[version.artifact_id]
    lineage = _lineage(store, version)
    if cache is not None:
        cache[version.artifact_id] = lineage
    return lineage


def _lineage(store: Any, version: ModelVersion) -> Lineage:
    logged_models = _logged_models()
    try:
        artifact = store.get_artifact_version(version.artifact_id)
    except HeronError:
        artifact = None
    if logged_models is not None and artifact is not None:
        try:
            model_id = logged_models.model_id_of(store, artifact)
            location = logged_models.artifact_location(store, model_id) if model_id else None
        except (HeronError, errors.MlflowError):
            model_id = location = None
        if model_id and location:
            return Lineage(f"models:/{model_id}", model_id, location)
    if version.run_id:
        name = _link_name(store, version.artifact_id, version.run_id)
        if name is not None:
            try:
                experiment_id = store.get_run(version.run_id).experiment_id
            except HeronError:
                experiment_id = None
            if experiment_id is not None:
                base = paths.run_artifact_uri(
                    convert.mlflow_experiment_id(store, experiment_id), version.run_id
                )
                return Lineage(f"runs:/{version.run_id}/{name}", None, f"{base}/{name}")
    return Lineage(version.artifact_id, None, version.artifact_id)


def _link_name(store: Any, artifact_id: str, run_id: str) -> str | None:
    for link in store.list_artifact_links(artifact_id=artifact_id):
        if link.run_id == run_id and link.direction == OUTPUT:
            return link.name
    return None


def _artifact_of(store: Any, source: str, run_id: str | None) -> ArtifactVersion:
    from heron.models.uris import artifact_of_run

    if source.startswith("models:/"):
        return _registered_or_logged(store, source)
    if source.startswith("runs:/"):
        source_run, _, name = source[len("runs:/") :].partition("/")
        name = name.strip("/")
        if not source_run or not name:
            raise InvalidArgument("A runs URI is runs:/<run_id>/<name>.")
        if run_id and run_id != source_run:
            raise InvalidArgument(
                f"The run_id request parameter ({run_id}) must identify the run that contains "
                "the source."
            )
        return artifact_of_run(store, source_run, name)
    if source.startswith(paths.SCHEME):
        where = paths.parse_artifact_path(unquote(urlsplit(source).path))
        if where.owner == "model":
            return _whole_logged_model(store, where.owner_id, where.relative)
        if run_id and run_id != where.owner_id:
            raise InvalidArgument(
                f"The run_id request parameter ({run_id}) must identify the run that contains "
                "the source."
            )
        if not where.relative:
            raise InvalidArgument(
                "This is the run's whole artifact folder, not one model: name the model in it "
                "(mlflow-artifacts:/<exp>/<run_id>/artifacts/<name>)."
            )
        return artifact_of_run(store, where.owner_id, where.relative)
    if _ARTIFACT_ID.match(source):
        return store.get_artifact_version(source)
    raise InvalidArgument(f"It is not in Heron's artifact store. {_HOW}")


def _artifact_of_model_id(store: Any, source: str, model_id: str) -> ArtifactVersion:
    if source.startswith("models:/") and source[len("models:/") :].strip("/") == model_id:
        return _logged_model(store, model_id)
    if source.startswith(paths.SCHEME):
        where = paths.parse_artifact_path(unquote(urlsplit(source).path))
        if where.owner == "model" and where.owner_id == model_id:
            return _whole_logged_model(store, model_id, where.relative)
    raise InvalidArgument(
        f"The model_id request parameter ({model_id}) must identify the logged model that "
        "contains the source (models:/<model_id> or its artifact_location)."
    )


def _registered_or_logged(store: Any, source: str) -> ArtifactVersion:
    from heron.models.uris import resolve

    rest = source[len("models:/") :].strip("/")
    if not rest:
        raise InvalidArgument("A models URI names a model: models:/<model_id> or models:/<name>/3.")
    if "/" not in rest and "@" not in rest:
        return _logged_model(store, rest)  # MLflow 3: models:/<model_id>
    name, _, tail = rest.rpartition("/")
    if name and tail.lower() in ("none", "staging", "production", "archived"):
        return store.get_artifact_version(_at_stage(store, name, tail).artifact_id)
    return resolve(store, source).artifact


def _at_stage(store: Any, name: str, stage: str) -> ModelVersion:
    from heron.server.mlflow import registry

    wanted = registry.canonical_stage(stage)
    store.get_registered_model(name)  # 404 naming the model when it is unknown
    versions = registry.versions_of(store, [name])[name]
    for version in registry.latest_per_stage(versions):
        if registry.stage_of(version) == wanted:
            return version
    raise NotFound(f"Model {name!r} has no version in stage {wanted!r}.")


def _whole_logged_model(store: Any, model_id: str, relative: str) -> ArtifactVersion:
    if relative:
        raise InvalidArgument(
            f"{relative!r} is a file inside logged model {model_id}, not a model: register the "
            f"whole model (models:/{model_id})."
        )
    return _logged_model(store, model_id)


def _logged_model(store: Any, model_id: str) -> ArtifactVersion:
    logged_models = _logged_models()
    if logged_models is None:
        raise InvalidArgument(
            f"This Heron server has no logged models, so {model_id!r} names nothing. {_HOW}"
        )
    return logged_models.artifact_of(store, model_id)


def _logged_models() -> Any:
    """The logged-model routes' module (written separately), or ``None`` if it is absent."""
    try:
        from heron.server.mlflow import logged_models
    except ImportError:
        return None
    return logged_models


def is_artifact_id(source: str) -> bool:
    """Whether ``source`` is an artifact version id (32 hex characters)."""
    return _ARTIFACT_ID.match(source) is not None


def _check_safe(source: str) -> None:
    """400 for a source holding ``..`` segments or a NUL, even percent-encoded (MLflow's
    check, which keeps sources from reaching outside their root)."""
    decoded = source
    for _ in range(10):
        unquoted = unquote(decoded)
        if unquoted == decoded:
            break
        decoded = unquoted
    if "\x00" in decoded or any(part == ".." for part in re.split(r"[/\\]", decoded)):
        raise _invalid(source, "It holds '..' segments or a NUL character; give a plain path.")


def _invalid(source: str, why: str) -> errors.MlflowError:
    return errors.invalid(f"Invalid model version source: {source[:500]!r}. {why}")
