"""MLflow 3 logged models and the model registry, written through Heron's ``Store``.

A logged model becomes one folder artifact version (its MLmodel directory) produced by its
source run, its metadata carrying Heron's model facts (so ``heron.load_model`` loads it) and
MLflow's own (``mlflow``: the parsed MLmodel, the logged model's id, tags and params). A model
version points at the artifact its ``source`` names; version numbers are kept (numbers MLflow
deleted are used and deleted here too), stages become the ``heron.stage`` tag.
"""

from __future__ import annotations

import contextlib
import json
import re
from pathlib import Path
from typing import Any

from heron.core.entities import ArtifactVersion
from heron.core.errors import HeronError, NotFound
from heron.importers.mlflow.context import IMPORTED_FROM, ImportContext
from heron.importers.mlflow.locations import local_path, proxy_path
from heron.importers.mlflow.records import (
    DELETED,
    SourceLoggedModel,
    SourceModelVersion,
    SourceRegisteredModel,
)

#: the model-version tag holding an MLflow stage (as heron.server.mlflow.registry keeps it)
STAGE_TAG = "heron.stage"
#: files beside the MLmodel that Heron's model facts read
_SMALL_FILES = ("requirements.txt", "input_example.json")
_RUN_PATH = re.compile(r"(?:^|/)([0-9a-f]{32})/artifacts/(.+?)/?$")


def model_metadata(folder: Path, model: SourceLoggedModel | None, label: str) -> dict[str, Any]:
    """The artifact metadata of the MLflow model directory ``folder``."""
    from heron.models import mlmodel
    from heron.models.model import MODEL_KEY

    spec = mlmodel.read_model_dir(folder)
    files = {
        name: (folder / name).read_bytes()
        for name in _SMALL_FILES
        if (folder / name).is_file() and (folder / name).stat().st_size < 1 << 20
    }
    mlflow: dict[str, Any] = {"mlmodel": json.loads(json.dumps(spec, default=str))}
    mlflow[IMPORTED_FROM] = label
    if model is not None:
        mlflow.update(
            model_id=model.id,
            model_type=model.model_type,
            tags=model.tags,
            params=model.params,
        )
    metadata: dict[str, Any] = {
        "files": sum(1 for p in folder.rglob("*") if p.is_file()),
        mlmodel.MLFLOW_KEY: mlflow,
    }
    # a flavor Heron does not load is still stored (and downloadable), without model facts
    with contextlib.suppress(HeronError):
        metadata[MODEL_KEY] = mlmodel.model_facts(spec, files)
    return metadata


# --- logged models ---------------------------------------------------------------------------
def import_logged_models(ctx: ImportContext) -> None:
    models = ctx.logged_models = ctx.source.logged_models()
    ctx.progress.start("logged models", len(models))
    for model in models:
        try:
            _import_logged_model(ctx, model)
        except (HeronError, OSError) as e:
            reason = e.message if isinstance(e, HeronError) else f"{type(e).__name__}: {e}"
            ctx.summary.fail("logged models", f"logged model {model.id} ({model.name})", reason)
        ctx.progress.advance("logged models")


def _import_logged_model(ctx: ImportContext, model: SourceLoggedModel) -> None:
    if model.lifecycle == DELETED:
        ctx.summary.skip("logged models", "deleted in MLflow")
        return
    if model.status != "READY":
        ctx.summary.skip("logged models", f"status {model.status}: its upload never finished")
        return
    run_id = model.source_run_id
    if run_id and run_id not in ctx.present_runs and not ctx.store.run_states([run_id]):
        run_id = None
    found = _imported_model(ctx, model, run_id)
    if found is not None:
        ctx.model_artifacts[model.id] = found
        ctx.summary.skip("logged models", "already imported")
        return
    with ctx.source.model_artifacts(model) as folder:
        if folder is None or not (folder / "MLmodel").is_file():
            ctx.summary.fail(
                "logged models",
                f"logged model {model.id} ({model.name})",
                f"its files are not at {model.artifact_location} (nor under --artifacts); "
                "pass --artifacts with the folder that holds them",
            )
            return
        obj = ctx.blobs.put_dir(folder)
        metadata = model_metadata(folder, model, ctx.source.label)
    facts = metadata.get("model") or {}
    ctx.model_artifacts[model.id] = ctx.store.create_artifact_version(
        model.name,
        content_hash=obj.content_hash,
        type=str(facts.get("class") or "mlflow.model"),
        materializer="file",
        size=obj.size,
        uri=obj.uri,
        producer_run_id=run_id,
        metadata=metadata,
        link_name=model.name if run_id else None,
    )
    ctx.summary.done("logged models")


def _imported_model(
    ctx: ImportContext, model: SourceLoggedModel, run_id: str | None
) -> ArtifactVersion | None:
    """The artifact version an earlier import made of ``model``, if any."""
    if run_id:
        candidates = ctx.store.list_artifact_versions(run_id=run_id, max_results=50_000)
    else:
        candidates = ctx.store.list_artifact_versions(name=model.name, max_results=50_000)
    for artifact in candidates:
        if (artifact.metadata or {}).get("mlflow", {}).get("model_id") == model.id:
            return artifact
    return None


# --- the registry ----------------------------------------------------------------------------
def import_registry(ctx: ImportContext) -> None:
    models = ctx.source.registered_models()
    ctx.progress.start("registered models", len(models))
    locations = _logged_model_locations(ctx)
    for model in models:
        try:
            _import_registered_model(ctx, model, locations)
        except HeronError as e:
            ctx.summary.fail("registered models", f"registered model {model.name!r}", e.message)
        ctx.progress.advance("registered models")


def _logged_model_locations(ctx: ImportContext) -> dict[str, str]:
    """Where each imported logged model was stored in MLflow -> its model id."""
    found = {}
    for model in ctx.logged_models:
        if model.artifact_location:
            found[_normal(model.artifact_location)] = model.id
    return found


def _normal(location: str) -> str:
    path = local_path(location)
    if path is not None:
        return str(path).rstrip("/")
    inner = proxy_path(location)
    return inner if inner is not None else location.rstrip("/")


def _import_registered_model(
    ctx: ImportContext, model: SourceRegisteredModel, locations: dict[str, str]
) -> None:
    store = ctx.store
    try:
        store.get_registered_model(model.name)
        ctx.summary.skip("registered models", "a registered model with that name exists")
    except NotFound:
        tags = {**model.tags, IMPORTED_FROM: ctx.source.label}
        store.create_registered_model(model.name, description=model.description, tags=tags)
        ctx.summary.done("registered models")
    ctx.progress.start("model versions", len(model.versions))
    for version in model.versions:
        try:
            _import_version(ctx, model.name, version, locations)
        except HeronError as e:
            what = f"{model.name} version {version.version}"
            ctx.summary.fail("model versions", what, e.message)
    current = store.get_registered_model(model.name).aliases
    for alias, version in sorted(model.aliases.items()):
        if current.get(alias) == version:
            ctx.summary.skip("aliases", "already set")
            continue
        try:
            store.set_model_alias(model.name, alias, version)
            ctx.summary.done("aliases")
        except HeronError as e:
            ctx.summary.fail("aliases", f"{model.name}@{alias} -> version {version}", e.message)


def _import_version(
    ctx: ImportContext, name: str, version: SourceModelVersion, locations: dict[str, str]
) -> None:
    store = ctx.store
    try:
        store.get_model_version(name, version.version)
        ctx.summary.skip("model versions", "a version with that number exists")
        return
    except NotFound:
        pass
    artifact = _artifact_of(ctx, version, locations)
    if artifact is None:
        ctx.summary.fail(
            "model versions",
            f"{name} version {version.version}",
            f"its source {version.source!r} is not among the imported artifacts (a logged model "
            "or a run's artifact of this store); import the store that holds it first",
        )
        return
    tags = {**version.tags, IMPORTED_FROM: f"{ctx.source.label} {name} version {version.version}"}
    if version.stage and version.stage != "None":
        tags[STAGE_TAG] = version.stage
    while True:
        created = store.create_model_version(
            name, artifact.id, description=version.description, tags=tags, user=version.user
        )
        if created.version >= version.version:
            break
        # MLflow deleted this number: use it and delete it, so the numbers stay the same
        store.delete_model_version(name, created.version)
    if created.version != version.version:
        ctx.summary.notes.append(
            f"{name} version {version.version} was imported as version {created.version}: "
            "the Heron model had used that number already."
        )
    ctx.summary.done("model versions")


def _artifact_of(
    ctx: ImportContext, version: SourceModelVersion, locations: dict[str, str]
) -> ArtifactVersion | None:
    """The imported artifact version a model version's source names."""
    model_id = version.model_id
    source = version.source or ""
    if not model_id and source.startswith("models:/m-"):
        model_id = source[len("models:/") :].strip("/")
    if not model_id:
        for location in (version.storage_location, source):
            if location and _normal(location) in locations:
                model_id = locations[_normal(location)]
                break
    if model_id:
        return ctx.model_artifacts.get(model_id)
    run_id, path = version.run_id, None
    if source.startswith("runs:/"):
        run_id, _, path = source[len("runs:/") :].partition("/")
    else:
        match = _RUN_PATH.search(_normal(source)) if source else None
        if match:
            run_id, path = match.group(1), match.group(2)
    if not run_id or not path:
        return None
    path = path.strip("/")
    try:
        candidates = ctx.store.list_artifact_versions(run_id=run_id, max_results=50_000)
    except HeronError:
        return None
    named = [a for a in candidates if a.name == path and a.producer_run_id == run_id]
    return max(named, key=lambda a: a.version) if named else None
