"""MLflow's ``model-versions/...`` routes on Heron's registry: create (from a ``source`` that
:mod:`.sources` turns into a Heron artifact version), get, update, delete, search, tags,
``get-download-uri`` (a URI the client downloads through the artifact proxy) and
``transition-stage`` (stages kept as the tag :data:`~.registry.STAGE_TAG`)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from heron.core.errors import NotFound
from heron.server.auth.permissions import editor, maintainer, on, viewer
from heron.server.mlflow import errors, paths, sources
from heron.server.mlflow import registry as r
from heron.server.mlflow.face import MlflowFace, Request

PREFIX = "/api/2.0/mlflow/model-versions"
SEARCH_DEFAULT = 10_000
SEARCH_LIMIT = 200_000


def _sources_of(request: Request, arguments: dict[str, Any]) -> None:
    """What a new version's ``source`` (and ``model_id``) name outside the request's
    project's registry: the run, logged model or artifact version it is made from, so that
    a version never points at what the caller may not read (``models:/<name>/...`` names a
    version of the request's project itself)."""
    from heron.server.mlflow.logged_models import owner_fields

    store = request.face.store
    model_id = arguments.get("model_id")
    if isinstance(model_id, str) and model_id:
        arguments.update(owner_fields(store, model_id))
    source = arguments.get("source")
    if not isinstance(source, str):
        return
    if source.startswith("models:/"):
        rest = source[len("models:/") :].strip("/")
        if rest and "/" not in rest and "@" not in rest:
            arguments.update(owner_fields(store, rest))
    elif source.startswith("runs:/"):
        run_id = source[len("runs:/") :].partition("/")[0]
        if run_id:
            arguments["source_run_id"] = run_id
    elif source.startswith(paths.SCHEME):
        try:
            where = paths.parse_artifact_path(unquote(urlsplit(source).path))
        except errors.MlflowError:
            return
        if where.owner == "run":
            arguments["source_run_id"] = where.owner_id
        else:
            arguments.update(owner_fields(store, where.owner_id))
    elif sources.is_artifact_id(source):
        arguments["source_artifact_id"] = source


_CREATE = editor(
    also=(
        ("viewer", on("run", "run_id")),
        ("viewer", on("run", "source_run_id")),
        ("viewer", on("experiment", "model_experiment_id")),
        ("viewer", on("artifact", "model_artifact_id")),
        ("viewer", on("artifact", "source_artifact_id")),
    )
)


def register(face: MlflowFace) -> None:
    """Declare the routes: versions are named by their model's name in the request's
    project, so each is checked there (a new version also on what its source names)."""
    face.json_route("POST", f"{PREFIX}/create", create, permission=_CREATE, resolve=_sources_of)
    for method, path, handler, permission, inline in (
        ("GET", "get", get, viewer(), True),
        ("PATCH", "update", update, editor(), False),
        ("DELETE", "delete", delete, maintainer(detail="model_version"), False),
        ("GET", "search", search, viewer(), False),
        ("POST", "set-tag", set_tag, editor(), False),
        ("DELETE", "delete-tag", delete_tag, editor(), False),
        ("GET", "get-download-uri", download_uri, viewer(), True),
        # a stage is what an alias is now: moved by maintainers
        ("POST", "transition-stage", transition_stage, maintainer(), False),
    ):
        face.json_route(method, f"{PREFIX}/{path}", handler, inline=inline, permission=permission)


def _name(args: dict[str, Any], field: str = "name") -> str:
    value = r.text(args, field, required=True)
    assert value is not None
    return value


def _answer(store: Any, name: str, version: int) -> dict[str, Any]:
    return {"model_version": r.model_version_json(store, store.get_model_version(name, version))}


def create(request: Request) -> dict[str, Any]:
    """``POST model-versions/create``: the next version of a registered model (which must
    exist, as in MLflow) pointing at the artifact ``source`` names."""
    args = request.args()
    name = _name(args)
    source = _name(args, "source")
    run_id = r.text(args, "run_id")
    model_id = r.text(args, "model_id")
    tags = r.tag_pairs(args)
    description = r.text(args, "description")
    r.text(args, "run_link")  # accepted (a string) and not kept: Heron links runs itself
    store = request.store
    store.get_registered_model(name)  # 404 RESOURCE_DOES_NOT_EXIST, as MLflow answers
    artifact = sources.artifact_for_source(store, source, run_id=run_id, model_id=model_id)
    # The version's run is the one that produced the artifact; the request's run_id only
    # stands in for an artifact that has none.
    run_id = None if artifact.producer_run_id else run_id
    run = _run_of(store, source, run_id or artifact.producer_run_id)
    version = store.create_model_version(
        name,
        artifact.id,
        run_id=run_id,
        description=description,
        tags=tags or None,
        user=r.acting_user(request) or (run.user if run is not None else None),
    )
    return {"model_version": r.model_version_json(store, version)}


def _run_of(store: Any, source: str, run_id: str | None) -> Any:
    if run_id is None:
        return None
    try:
        return store.get_run(run_id)
    except NotFound:
        raise errors.invalid(
            f"Invalid model version source: {source!r}. The run_id request parameter ({run_id}) "
            "names no run of this server: pass the run that logged the model."
        ) from None


def get(request: Request) -> dict[str, Any]:
    """``GET model-versions/get``: name, version."""
    args = request.args()
    return _answer(request.store, _name(args), r.version_number(args))


def update(request: Request) -> dict[str, Any]:
    """``PATCH model-versions/update``: the description (absent or empty clears it)."""
    args = request.args()
    name, version = _name(args), r.version_number(args)
    request.store.update_model_version(name, version, r.text(args, "description"))
    return _answer(request.store, name, version)


def delete(request: Request) -> None:
    """``DELETE model-versions/delete``: its number is never given again; aliases on it go
    (recorded in the alias history)."""
    args = request.args()
    request.store.delete_model_version(
        _name(args), r.version_number(args), user=r.acting_user(request)
    )


def search(request: Request) -> dict[str, Any]:
    """``GET model-versions/search``: filter, order_by, max_results (≤ 200000), page_token."""
    from heron.server.mlflow.registry_search import matching_versions

    args = request.args()
    size = r.max_results(args, SEARCH_DEFAULT, SEARCH_LIMIT)
    offset = r.page_offset(args)
    cache: dict = {}
    store = request.store

    def source_of(version: Any) -> str:
        return sources.lineage_of(store, version, cache=cache).source

    found = matching_versions(
        store, r.text(args, "filter"), r.text_list(args, "order_by"), source_of
    )
    page, token = r.paged(found, offset, size)
    answer: dict[str, Any] = {
        "model_versions": [r.model_version_json(store, v, cache=cache) for v in page]
    }
    if token:
        answer["next_page_token"] = token
    return answer


def set_tag(request: Request) -> None:
    """``POST model-versions/set-tag``: name, version, key, value."""
    args = request.args()
    key = _name(args, "key")
    r.refuse_stage_tag(key)
    request.store.set_model_version_tag(
        _name(args), r.version_number(args), key, r.text(args, "value") or ""
    )


def delete_tag(request: Request) -> None:
    """``DELETE model-versions/delete-tag``: removing a tag the version lacks changes nothing
    (as in MLflow); an unknown version is 404."""
    args = request.args()
    name, version, key = _name(args), r.version_number(args), _name(args, "key")
    r.refuse_stage_tag(key)
    if key in request.store.get_model_version(name, version).tags:
        request.store.delete_model_version_tag(name, version, key)


def download_uri(request: Request) -> dict[str, Any]:
    """``GET model-versions/get-download-uri``: where the client downloads the version
    through the artifact proxy (the logged model's ``artifact_location``, or the run's
    ``mlflow-artifacts:`` URI of the artifact)."""
    args = request.args()
    version = request.store.get_model_version(_name(args), r.version_number(args))
    return {"artifact_uri": sources.lineage_of(request.store, version).download_uri}


def transition_stage(request: Request) -> dict[str, Any]:
    """``POST model-versions/transition-stage``: set the stage tag (``None`` removes it);
    with ``archive_existing_versions`` (Staging and Production only) the other versions in
    that stage move to ``Archived``."""
    args = request.args()
    name, number = _name(args), r.version_number(args)
    stage = r.canonical_stage(_name(args, "stage"))
    archive = args.get("archive_existing_versions", False)
    if not isinstance(archive, bool):
        if archive in ("true", "false"):  # from a query string
            archive = archive == "true"
        else:
            raise errors.invalid(
                f"Invalid value {archive!r} for parameter 'archive_existing_versions': it must "
                "be a boolean."
            )
    if archive and stage not in r.ACTIVE_STAGES:
        raise errors.invalid(
            "Model version transition cannot archive existing model versions because "
            f"'{stage}' is not an Active stage. Valid stages are {list(r.ACTIVE_STAGES)}"
        )
    store = request.store
    version = store.get_model_version(name, number)
    _set_stage(store, version, stage)
    if archive:
        for other in r.versions_of(store, [name])[name]:
            if other.version != number and r.stage_of(other) == stage:
                _set_stage(store, other, "Archived")
    return _answer(store, name, number)


def _set_stage(store: Any, version: Any, stage: str) -> None:
    if stage == r.STAGE_NONE:
        if r.STAGE_TAG in version.tags:
            store.delete_model_version_tag(version.name, version.version, r.STAGE_TAG)
    else:
        store.set_model_version_tag(version.name, version.version, r.STAGE_TAG, stage)
