"""MLflow's experiment routes (``/api/2.0/mlflow/experiments/*``) on Heron's experiments.

MLflow's experiment ``"0"`` is Heron's default experiment (see
:mod:`heron.server.mlflow.convert`); it cannot be deleted or renamed, as its name is how Heron
finds it.
"""

from __future__ import annotations

from typing import Any

from heron.core.entities import ACTIVE
from heron.core.errors import InvalidState
from heron.server.auth.permissions import editor, maintainer, on, viewer
from heron.server.mlflow import convert, errors, search
from heron.server.mlflow import tracking as fields
from heron.server.mlflow.face import Request

BASE = "/api/2.0/mlflow/experiments"


_experiment = on("experiment", "experiment_id")


def register(face: Any) -> None:
    """Declare the experiment routes on the MLflow face (names are the request project's,
    ids are checked on their own project)."""
    face.json_route("POST", f"{BASE}/create", create_experiment, permission=editor())
    face.json_route(
        "GET", f"{BASE}/get", get_experiment, inline=True, permission=viewer(_experiment)
    )
    face.json_route(
        "GET", f"{BASE}/get-by-name", get_experiment_by_name, inline=True, permission=viewer()
    )
    face.json_route("POST", f"{BASE}/search", search_experiments, permission=viewer())
    face.json_route("GET", f"{BASE}/search", search_experiments, permission=viewer())
    face.json_route("POST", f"{BASE}/update", update_experiment, permission=maintainer(_experiment))
    face.json_route(
        "POST",
        f"{BASE}/delete",
        delete_experiment,
        permission=maintainer(_experiment, detail="experiment"),
    )
    face.json_route(
        "POST", f"{BASE}/restore", restore_experiment, permission=maintainer(_experiment)
    )
    face.json_route(
        "POST", f"{BASE}/set-experiment-tag", set_experiment_tag, permission=editor(_experiment)
    )
    face.json_route(
        "POST",
        f"{BASE}/delete-experiment-tag",
        delete_experiment_tag,
        permission=editor(_experiment),
    )


def _experiment_tag(key: Any, value: Any, path: str) -> tuple[str, str]:
    fields.check_name("Tag", key, f"{path}.key" if path else "key")
    if not isinstance(value, str):
        raise fields.bad_value(f"{path}.value" if path else "value", value, "it must be a string.")
    fields.check_length("key", key, fields.MAX_EXPERIMENT_TAG_KEY_LENGTH)
    fields.check_length("value", value, fields.MAX_EXPERIMENT_TAG_VAL_LENGTH)
    return key, value


def create_experiment(request: Request) -> dict[str, Any]:
    """``experiments/create``: ``{"experiment_id"}``."""
    args = request.args()
    name = fields.string(args, "name", needed=True)
    assert name is not None
    if not name.strip():
        raise errors.invalid(f"Invalid experiment name: '{name}'")
    fields.check_length("name", name, fields.MAX_EXPERIMENT_NAME_LENGTH)
    if args.get("artifact_location"):
        raise errors.invalid(
            "Heron does not support artifact_location: every run's artifacts go to the "
            "server's artifact store (--artifacts-uri) and are served through its artifact "
            "proxy (mlflow-artifacts:/...). Create the experiment without it."
        )
    raw_tags = convert.tags_list(args.get("tags"), "tags")
    tags = dict(_experiment_tag(k, v, f"tags[{i}]") for i, (k, v) in enumerate(raw_tags.items()))
    experiment = request.store.create_experiment(name, tags=tags)
    request.created("experiment", experiment.id)
    return {"experiment_id": convert.mlflow_experiment_id(request.store, experiment.id)}


def _lookup(request: Request, mlflow_id: str) -> Any:
    return request.store.get_experiment(convert.heron_experiment_id(request.store, mlflow_id))


def get_experiment(request: Request) -> dict[str, Any]:
    """``experiments/get``: ``{"experiment": Experiment}``."""
    mlflow_id = fields.string(request.args(), "experiment_id", needed=True)
    assert mlflow_id is not None
    experiment = _lookup(request, mlflow_id)
    shown = convert.mlflow_experiment_id(request.store, experiment.id)
    return {"experiment": convert.experiment_json(experiment, shown)}


def get_experiment_by_name(request: Request) -> dict[str, Any]:
    """``experiments/get-by-name``; 404 when no experiment has that name."""
    name = fields.string(request.args(), "experiment_name", needed=True)
    experiment = request.store.get_experiment_by_name(name)
    if experiment is None:
        raise errors.missing(f"Could not find experiment with name '{name}'")
    shown = convert.mlflow_experiment_id(request.store, experiment.id)
    return {"experiment": convert.experiment_json(experiment, shown)}


def search_experiments(request: Request) -> dict[str, Any]:
    """``experiments/search`` (POST and GET): filter, order_by, view_type, pages."""
    args = request.args()
    view = fields.view_type(args, "view_type")
    max_results = fields.integer(args, "max_results", 1000)
    assert max_results is not None
    filter_string = fields.string(args, "filter")
    order_by = fields.string_list(args, "order_by")
    page_token = fields.string(args, "page_token")
    store = request.store
    convert.default_experiment_id(store)  # MLflow always has experiment "0"
    everything = [
        convert.experiment_json(e, convert.mlflow_experiment_id(store, e.id))
        for e in store.list_experiments(view=view)
    ]
    page, token = search.search_experiments(
        everything, filter_string, order_by, max_results, page_token
    )
    answer: dict[str, Any] = {"experiments": page}
    if token:
        answer["next_page_token"] = token
    return answer


def _not_default(mlflow_id: str, action: str) -> None:
    if mlflow_id == convert.DEFAULT_MLFLOW_ID:
        raise errors.invalid(
            f"Cannot {action} the default experiment '0'. This is a reserved experiment for "
            "runs logged without an experiment (Heron's experiment named 'Default')."
        )


def update_experiment(request: Request) -> None:
    """``experiments/update``: rename."""
    args = request.args()
    mlflow_id = fields.string(args, "experiment_id", needed=True)
    new_name = fields.string(args, "new_name", needed=True)
    assert mlflow_id is not None and new_name is not None
    fields.check_length("name", new_name, fields.MAX_EXPERIMENT_NAME_LENGTH)
    _not_default(mlflow_id, "rename")
    experiment = _lookup(request, mlflow_id)
    if experiment.lifecycle != ACTIVE:
        raise InvalidState(
            f"Cannot rename a non-active experiment ({mlflow_id}); restore it first."
        )
    request.store.rename_experiment(experiment.id, new_name)


def delete_experiment(request: Request) -> None:
    """``experiments/delete``: soft delete (its runs are hidden from searches)."""
    mlflow_id = fields.string(request.args(), "experiment_id", needed=True)
    assert mlflow_id is not None
    _not_default(mlflow_id, "delete")
    experiment = _lookup(request, mlflow_id)
    if experiment.lifecycle != ACTIVE:
        raise errors.invalid(
            f"The experiment {mlflow_id} must be in the 'active' state. Current state is "
            f"{experiment.lifecycle}."
        )
    request.store.delete_experiment(experiment.id)


def restore_experiment(request: Request) -> None:
    """``experiments/restore``."""
    mlflow_id = fields.string(request.args(), "experiment_id", needed=True)
    assert mlflow_id is not None
    experiment = _lookup(request, mlflow_id)
    if experiment.lifecycle == ACTIVE:
        raise errors.invalid(
            f"Cannot restore an active experiment. The experiment {mlflow_id} must be in the "
            "'deleted' state."
        )
    request.store.restore_experiment(experiment.id)


def set_experiment_tag(request: Request) -> None:
    """``experiments/set-experiment-tag``."""
    args = request.args()
    mlflow_id = fields.string(args, "experiment_id", needed=True)
    key = fields.string(args, "key", needed=True)
    value = args.get("value", "")
    _experiment_tag(key, value, "")
    experiment = _lookup(request, mlflow_id)  # type: ignore[arg-type]
    request.store.set_experiment_tag(experiment.id, key, value)  # type: ignore[arg-type]


def delete_experiment_tag(request: Request) -> None:
    """``experiments/delete-experiment-tag``; 404 when the tag is not set."""
    args = request.args()
    mlflow_id = fields.string(args, "experiment_id", needed=True)
    key = fields.string(args, "key", needed=True)
    experiment = _lookup(request, mlflow_id)  # type: ignore[arg-type]
    if key not in experiment.tags:
        raise errors.missing(f"No tag with name: {key} in experiment with id {mlflow_id}")
    request.store.delete_experiment_tag(experiment.id, key)  # type: ignore[arg-type]
