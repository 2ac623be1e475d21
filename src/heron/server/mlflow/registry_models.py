"""MLflow's ``registered-models/...`` routes on Heron's registry: create, get, rename,
update, delete, search, tags, aliases (moves recorded in Heron's alias history with the acting
user) and ``get-latest-versions`` (answered from the stage tag, see :mod:`.registry`)."""

from __future__ import annotations

from typing import Any

from heron.server.auth.permissions import editor, maintainer, viewer
from heron.server.mlflow import registry as r
from heron.server.mlflow.face import MlflowFace, Request

PREFIX = "/api/2.0/mlflow/registered-models"
SEARCH_DEFAULT = 100
SEARCH_LIMIT = 1000


def register(face: MlflowFace) -> None:
    """Declare the routes: a registered model is named in the request's project, so each is
    checked there."""
    for method, path, handler, permission, inline in (
        ("POST", "create", create, editor(), False),
        ("GET", "get", get, viewer(), True),
        ("POST", "rename", rename, maintainer(), False),
        ("PATCH", "update", update, editor(), False),
        ("DELETE", "delete", delete, maintainer(detail="model"), False),
        ("GET", "search", search, viewer(), False),
        ("POST", "set-tag", set_tag, editor(), False),
        ("DELETE", "delete-tag", delete_tag, editor(), False),
        ("POST", "alias", set_alias, maintainer(detail="alias"), False),
        ("DELETE", "alias", delete_alias, maintainer(detail="alias"), False),
        ("GET", "alias", get_by_alias, viewer(), True),
        ("POST", "get-latest-versions", latest_versions, viewer(), False),
        ("GET", "get-latest-versions", latest_versions, viewer(), False),
    ):
        face.json_route(method, f"{PREFIX}/{path}", handler, inline=inline, permission=permission)


def _name(args: dict[str, Any], field: str = "name") -> str:
    name = r.text(args, field, required=True)
    assert name is not None
    return name


def _answer(store: Any, name: str) -> dict[str, Any]:
    model = store.get_registered_model(name)
    versions = r.versions_of(store, [model.name])[model.name]
    return {"registered_model": r.registered_model_json(store, model, versions, cache={})}


def create(request: Request) -> dict[str, Any]:
    """``POST registered-models/create``: name, tags, description."""
    args = request.args()
    name = _name(args)
    tags = r.tag_pairs(args)
    description = r.text(args, "description")
    model = request.store.create_registered_model(name, description, tags or None)
    return {"registered_model": r.registered_model_json(request.store, model, [])}


def get(request: Request) -> dict[str, Any]:
    """``GET registered-models/get``: the model with its latest versions, tags and aliases."""
    return _answer(request.store, _name(request.args()))


def rename(request: Request) -> dict[str, Any]:
    """``POST registered-models/rename``: versions, aliases and alias history follow."""
    args = request.args()
    model = request.store.rename_registered_model(_name(args), _name(args, "new_name"))
    return _answer(request.store, model.name)


def update(request: Request) -> dict[str, Any]:
    """``PATCH registered-models/update``: the description (absent or empty clears it)."""
    args = request.args()
    name = _name(args)
    request.store.update_registered_model(name, r.text(args, "description"))
    return _answer(request.store, name)


def delete(request: Request) -> None:
    """``DELETE registered-models/delete``: the model, its versions, aliases and history."""
    request.store.delete_registered_model(_name(request.args()))


def search(request: Request) -> dict[str, Any]:
    """``GET registered-models/search``: filter, order_by, max_results (≤ 1000), page_token."""
    from heron.server.mlflow.registry_search import matching_models

    args = request.args()
    size = r.max_results(args, SEARCH_DEFAULT, SEARCH_LIMIT)
    offset = r.page_offset(args)
    found = matching_models(request.store, r.text(args, "filter"), r.text_list(args, "order_by"))
    page, token = r.paged(found, offset, size)
    versions = r.versions_of(request.store, [m.name for m in page])
    cache: dict = {}
    answer: dict[str, Any] = {
        "registered_models": [
            r.registered_model_json(request.store, m, versions.get(m.name, []), cache=cache)
            for m in page
        ]
    }
    if token:
        answer["next_page_token"] = token
    return answer


def set_tag(request: Request) -> None:
    """``POST registered-models/set-tag``: name, key, value."""
    args = request.args()
    key = _name(args, "key")
    request.store.set_registered_model_tag(_name(args), key, r.text(args, "value") or "")


def delete_tag(request: Request) -> None:
    """``DELETE registered-models/delete-tag``: removing a tag the model lacks changes nothing
    (as in MLflow); an unknown model is 404."""
    args = request.args()
    name, key = _name(args), _name(args, "key")
    if key in request.store.get_registered_model(name).tags:
        request.store.delete_registered_model_tag(name, key)


def set_alias(request: Request) -> None:
    """``POST registered-models/alias``: point the alias at a version (recorded in Heron's
    alias history, with the acting user)."""
    args = request.args()
    name, alias = _name(args), _name(args, "alias")
    version = r.version_number(args)
    request.store.set_model_alias(name, alias, version, user=r.acting_user(request))


def delete_alias(request: Request) -> None:
    """``DELETE registered-models/alias``: remove the alias (recorded); an alias that is not
    set changes nothing (as in MLflow); an unknown model is 404."""
    args = request.args()
    name, alias = _name(args), _name(args, "alias")
    if alias in request.store.get_registered_model(name).aliases:
        request.store.delete_model_alias(name, alias, user=r.acting_user(request))


def get_by_alias(request: Request) -> dict[str, Any]:
    """``GET registered-models/alias``: the version the alias points at."""
    args = request.args()
    version = request.store.get_model_version_by_alias(_name(args), _name(args, "alias"))
    return {"model_version": r.model_version_json(request.store, version)}


def latest_versions(request: Request) -> dict[str, Any]:
    """``registered-models/get-latest-versions``: the newest version in each of ``stages``
    (every stage when none is named), read from the stage tag."""
    args = request.args()
    name = _name(args)
    wanted = {r.canonical_stage(s) for s in r.text_list(args, "stages")} or set(r.ALL_STAGES)
    request.store.get_registered_model(name)  # 404 naming the model when it is unknown
    versions = r.versions_of(request.store, [name])[name]
    cache: dict = {}
    return {
        "model_versions": [
            r.model_version_json(request.store, v, cache=cache)
            for v in r.latest_per_stage(versions)
            if r.stage_of(v) in wanted
        ]
    }
