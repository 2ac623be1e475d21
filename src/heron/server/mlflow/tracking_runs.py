"""MLflow's run routes (``/api/2.0/mlflow/runs/*``) on Heron's runs (the metric-history
routes are in :mod:`.tracking_metrics`).

Every write goes through ``Store.log_batch`` (or ``create_run`` / ``update_run``), so what an
MLflow client logs is ordinary Heron data. Runs MLflow clients create or resume belong to "an
MLflow client" (:func:`~heron.server.mlflow.tracking.as_mlflow_client`): MLflow sends no
heartbeats, so the reaper leaves them running until the client ends them.

The small, frequent routes (create, update, get, log-metric, log-parameter, set-tag,
log-batch) run inline on the event loop: each is one short store transaction.
"""

from __future__ import annotations

from typing import Any

from heron.core import status as run_status
from heron.core.entities import Metric
from heron.core.errors import InvalidState, NotFound
from heron.core.ids import now_ms
from heron.server.auth.permissions import editor, maintainer, on, viewer
from heron.server.mlflow import convert, errors, search
from heron.server.mlflow import tracking as fields
from heron.server.mlflow.face import Request

RUNS = "/api/2.0/mlflow/runs"

# MLflow's limits (mlflow.utils.validation, mlflow.server.handlers)
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_BATCH_LOG_REQUEST_SIZE = 1_000_000
MAX_SEARCH_RESULTS = 50_000
_SEE_DOCS = " See the API docs for more information about request parameters."


_run = on("run", "run_id")


def _parent_of(request: Request, arguments: dict[str, Any]) -> None:
    """The parent run a ``runs/create`` names in its ``mlflow.parentRunId`` tag."""
    tags = arguments.get("tags")
    if isinstance(tags, list):
        for tag in tags:
            value = tag.get("value") if isinstance(tag, dict) else None
            if tag.get("key") == convert.PARENT_TAG and isinstance(value, str) and value:
                arguments["parent_id"] = value


def register(face: Any) -> None:
    """Declare the run routes on the MLflow face."""
    create = editor(on("experiment", "experiment_id"), also=(("editor", on("run", "parent_id")),))
    face.json_route(
        "POST", f"{RUNS}/create", create_run, inline=True, permission=create, resolve=_parent_of
    )
    face.json_route("POST", f"{RUNS}/update", update_run, inline=True, permission=editor(_run))
    face.json_route("GET", f"{RUNS}/get", get_run, inline=True, permission=viewer(_run))
    face.json_route(
        "POST",
        f"{RUNS}/search",
        search_runs,
        permission=viewer(on("experiments", "experiment_ids")),
    )
    face.json_route("POST", f"{RUNS}/delete", delete_run, permission=maintainer(_run, detail="run"))
    face.json_route("POST", f"{RUNS}/restore", restore_run, permission=maintainer(_run))
    for name, handler in (
        ("log-metric", log_metric),
        ("log-parameter", log_param),
        ("set-tag", set_tag),
        ("log-batch", log_batch),
    ):
        face.json_route("POST", f"{RUNS}/{name}", handler, inline=True, permission=editor(_run))
    face.json_route("POST", f"{RUNS}/delete-tag", delete_tag, permission=editor(_run))
    face.json_route("POST", f"{RUNS}/log-inputs", log_inputs, permission=editor(_run))


# --- reading -------------------------------------------------------------------------------
def _run_id(args: dict[str, Any]) -> str:
    run_id = fields.string(args, "run_id", "run_uuid", needed=True)
    assert run_id is not None
    return run_id


def latest_points(store: Any, run_ids: list[str]) -> dict[str, dict[str, tuple[int, int]]]:
    """``{run id: {metric key: (timestamp, step)}}`` of the runs' latest metric values (read
    from the SQL store's ``latest_metrics`` table: ``Run.metrics`` holds the values only)."""
    if not run_ids:
        return {}
    from sqlalchemy import select

    from heron.store.sql import schema as t

    lm = t.latest_metrics
    found: dict[str, dict[str, tuple[int, int]]] = {}
    with store._read() as conn:
        for i in range(0, len(run_ids), 500):
            query = select(lm.c.run_id, lm.c.key, lm.c.timestamp, lm.c.step).where(
                lm.c.run_id.in_(run_ids[i : i + 500])
            )
            for run_id, key, timestamp, step in conn.execute(query):
                found.setdefault(run_id, {})[key] = (timestamp, step)
    return found


def _run_answer(store: Any, run: Any) -> dict[str, Any]:
    points = latest_points(store, [run.id]).get(run.id) if run.metrics else None
    return convert.run_json(run, convert.mlflow_experiment_id(store, run.experiment_id), points)


def get_run(request: Request) -> dict[str, Any]:
    """``runs/get``: ``{"run": Run}``; 404 for an unknown run."""
    from heron.server.mlflow.logged_models import run_model_outputs

    run = request.store.get_run(_run_id(request.args()))
    answer = _run_answer(request.store, run)
    outputs = run_model_outputs(request.store, run.id, keep=request.readable)
    if outputs:
        answer["outputs"] = {"model_outputs": outputs}
    return {"run": answer}


def search_runs(request: Request) -> dict[str, Any]:
    """``runs/search``: MLflow's filter and order_by on Heron's search, one page at a time."""
    args = request.args()
    store = request.store
    known = [
        convert.known_experiment_id(store, e) for e in fields.string_list(args, "experiment_ids")
    ]
    experiment_ids = [e for e in known if e is not None]
    view = fields.view_type(args, "run_view_type")
    max_results = fields.integer(args, "max_results", 1000)
    assert max_results is not None
    if max_results > MAX_SEARCH_RESULTS:
        raise errors.invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be at "
            f"most {MAX_SEARCH_RESULTS}.{_SEE_DOCS}"
        )
    if max_results < 1:
        raise errors.invalid(
            f"Invalid value {max_results} for parameter 'max_results' supplied. It must be "
            "a positive integer"
        )
    translated = search.translate_run_search(
        fields.string(args, "filter"), fields.string_list(args, "order_by")
    )
    if translated is None or not experiment_ids:
        return {"runs": []}
    page = store.search_runs(
        experiment_ids,
        translated.filter_string,
        translated.order_by,
        max_results=max_results,
        page_token=fields.string(args, "page_token") or None,
        view=view,
    )
    points = latest_points(store, [r.id for r in page if r.metrics])
    runs = [
        convert.run_json(r, convert.mlflow_experiment_id(store, r.experiment_id), points.get(r.id))
        for r in page
    ]
    answer: dict[str, Any] = {"runs": runs}
    if page.token:
        answer["next_page_token"] = page.token
    return answer


# --- creating and updating -----------------------------------------------------------------
def _tag_pairs(raw: Any, what: str) -> dict[str, str]:
    tags = convert.tags_list(raw, what)
    for i, (key, value) in enumerate(tags.items()):
        fields.check_name("Tag", key, f"{what}[{i}].key")
        fields.check_length(f"{what}[{i}].value", value, fields.MAX_TAG_VAL_LENGTH)
    return tags


def create_run(request: Request) -> dict[str, Any]:
    """``runs/create``: a running run; MLflow's system tags fill Heron's run fields."""
    args = request.args()
    store = request.store
    mlflow_experiment = str(args.get("experiment_id") or convert.DEFAULT_MLFLOW_ID)
    experiment_id = convert.heron_experiment_id(store, mlflow_experiment)
    user_id = fields.string(args, "user_id")
    run_name = fields.string(args, "run_name")
    start_time = fields.integer(args, "start_time")
    tags = _tag_pairs(args.get("tags"), "tags")
    name_tag = tags.pop(convert.RUN_NAME_TAG, None)
    if run_name and name_tag and run_name != name_tag:
        raise errors.invalid(
            "Both 'run_name' argument and 'mlflow.runName' tag are specified, but with "
            f"different values (run_name='{run_name}', mlflow.runName='{name_tag}')."
        )
    if request.user is not None:
        # the signed-in user made the run, whatever the client says (as MLflow's server does)
        tags[convert.USER_TAG] = request.user
    facts = convert.run_fields_from_tags(tags)
    if request.user is not None:
        facts["user"] = request.user
    elif user_id:
        facts["user"] = user_id
    values = {
        "name": run_name or name_tag or None,
        "start_time": start_time if start_time else now_ms(),
        "tags": tags,
        **facts,
    }
    with fields.as_mlflow_client():
        try:
            run = store.create_run(experiment_id, **values)
        except NotFound as e:
            if "parent_id" not in values or "parent run" not in str(e):
                raise
            # a parentRunId Heron does not know: keep it as the tag only, as MLflow does
            values.pop("parent_id")
            run = store.create_run(experiment_id, **values)
    request.created("run", run.id)
    return {"run": convert.run_json(run, mlflow_experiment)}


def update_run(request: Request) -> dict[str, Any]:
    """``runs/update``: status, end_time and run_name."""
    args = request.args()
    run_id = _run_id(args)
    raw_status = args.get("status")
    status = convert.heron_status(raw_status) if raw_status not in (None, "") else None
    end_time = fields.integer(args, "end_time")
    run_name = fields.string(args, "run_name") or None
    store = request.store
    with fields.as_mlflow_client():
        try:
            run = store.update_run(run_id, status=status, end_time=end_time, name=run_name)
        except InvalidState:
            # MLflow lets a run go from any status to any other (set_terminated after a
            # finished run, KILLED after FAILED); Heron's table allows that through a
            # resume: finished -> running -> the new final status.
            current = store.get_run(run_id).status
            if status is None or not (
                run_status.may_move(current, run_status.RUNNING)
                and run_status.may_move(run_status.RUNNING, status)
            ):
                raise
            store.update_run(run_id, status=run_status.RUNNING)
            run = store.update_run(run_id, status=status, end_time=end_time, name=run_name)
    return {
        "run_info": convert.run_info_json(
            run, convert.mlflow_experiment_id(store, run.experiment_id)
        )
    }


def delete_run(request: Request) -> None:
    """``runs/delete`` (soft; Heron also deletes the run's child runs)."""
    request.store.delete_run(_run_id(request.args()))


def restore_run(request: Request) -> None:
    """``runs/restore``."""
    request.store.restore_run(_run_id(request.args()))


# --- logging -------------------------------------------------------------------------------
def log_metric(request: Request) -> None:
    """``runs/log-metric``: one point."""
    args = request.args()
    run_id = _run_id(args)
    key = fields.string(args, "key", needed=True)
    fields.check_name("Metric", key, "key")
    value = fields.double(args, "value")
    if args.get("timestamp") in (None, ""):
        raise errors.invalid(f"Missing value for required parameter 'timestamp'.{_SEE_DOCS}")
    timestamp = fields.integer(args, "timestamp")
    step = fields.integer(args, "step", 0)
    _check_timestamp(timestamp, key, value, "timestamp")
    with fields.as_mlflow_client():
        request.store.log_batch(run_id, [Metric(key, value, step, timestamp)])  # type: ignore[arg-type]


def _check_timestamp(timestamp: Any, key: Any, value: Any, path: str) -> None:
    if timestamp < 0:
        raise fields.bad_value(
            path,
            timestamp,
            f"metric '{key}' (value={value}). Timestamp must be a nonnegative long (64-bit "
            "integer) ",
        )


def _key_and_value(args: dict, kind: str, value_label: str, max_length: int) -> tuple[str, str]:
    """The checked ``key`` and string ``value`` of a log-parameter or set-tag request."""
    key = fields.string(args, "key", needed=True)
    fields.check_name(kind, key, "key")
    value = args.get("value", "")
    if not isinstance(value, str):
        raise fields.bad_value("value", value, f"it must be a string.{_SEE_DOCS}")
    fields.check_length(value_label, value, max_length)
    return key, value  # type: ignore[return-value]


def log_param(request: Request) -> None:
    """``runs/log-parameter``: params are written once (another value: 400)."""
    args = request.args()
    run_id = _run_id(args)
    key, value = _key_and_value(args, "Param", "Param value", fields.MAX_PARAM_VAL_LENGTH)
    with fields.as_mlflow_client():
        request.store.log_batch(run_id, params={key: value})  # type: ignore[dict-item]


def set_tag(request: Request) -> None:
    """``runs/set-tag`` (``mlflow.runName`` renames the run)."""
    args = request.args()
    run_id = _run_id(args)
    key, value = _key_and_value(args, "Tag", "value", fields.MAX_TAG_VAL_LENGTH)
    with fields.as_mlflow_client():
        if key == convert.RUN_NAME_TAG:
            request.store.update_run(run_id, name=value)
        else:
            request.store.log_batch(run_id, tags={key: value})  # type: ignore[dict-item]


def delete_tag(request: Request) -> None:
    """``runs/delete-tag``; 404 when the run has no such tag."""
    args = request.args()
    run_id = _run_id(args)
    key = fields.string(args, "key", needed=True)
    if key == convert.RUN_NAME_TAG:
        raise errors.invalid(
            "Heron keeps mlflow.runName as the run's name, which every run has: rename the run "
            "(set the tag to another value) instead of deleting it."
        )
    request.store.get_run(run_id)  # 404 for an unknown run before the tag's 404
    try:
        request.store.delete_tag(run_id, key)
    except NotFound:
        raise errors.missing(f"No tag with name: {key} in run with id {run_id}") from None


def _entries(args: dict[str, Any], name: str) -> list[Any]:
    value = args.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise fields.bad_value(name, value, f"it must be a list.{_SEE_DOCS}")
    return value


def _batch_limit(what: str, limit: int, length: int) -> None:
    if length > limit:
        raise errors.invalid(
            f"A batch logging request can contain at most {limit} {what}. Got {length} {what}."
            f" Please split up {what} across multiple requests and try again."
        )


def log_batch(request: Request) -> None:
    """``runs/log-batch`` with MLflow's limits: at most 1000 metrics, 100 params, 100 tags
    and 1000 entities in all, 1 MB of JSON; all of it is written or nothing."""
    if len(request.body) > MAX_BATCH_LOG_REQUEST_SIZE:
        raise errors.invalid(
            f"Batched logging API requests must be at most {MAX_BATCH_LOG_REQUEST_SIZE} bytes, "
            f"got a request of size {len(request.body)}."
        )
    args = request.args()
    run_id = fields.string(args, "run_id", needed=True)
    raw_metrics = _entries(args, "metrics")
    raw_params = _entries(args, "params")
    raw_tags = _entries(args, "tags")
    _batch_limit("metrics", MAX_METRICS_PER_BATCH, len(raw_metrics))
    _batch_limit("params", MAX_PARAMS_TAGS_PER_BATCH, len(raw_params))
    _batch_limit("tags", MAX_PARAMS_TAGS_PER_BATCH, len(raw_tags))
    _batch_limit(
        "metrics, params, and tags",
        MAX_ENTITIES_PER_BATCH,
        len(raw_metrics) + len(raw_params) + len(raw_tags),
    )
    metrics = _batch_metrics(raw_metrics)
    params = _batch_params(raw_params)
    tags = _batch_tags(raw_tags)
    new_name = tags.pop(convert.RUN_NAME_TAG, None)
    if not (metrics or params or tags or new_name is not None):
        request.store.get_run(run_id)  # an empty batch still needs an existing run
        return
    with fields.as_mlflow_client():
        if metrics or params or tags:
            request.store.log_batch(run_id, metrics, params, tags)  # type: ignore[arg-type]
        if new_name is not None:
            request.store.update_run(run_id, name=new_name)  # type: ignore[arg-type]


def _required(entry: Any, index: str, field: str) -> Any:
    value = entry.get(field) if isinstance(entry, dict) else None
    if value is None or value == "":
        raise errors.invalid(f"Missing value for required parameter '{index}.{field}'.{_SEE_DOCS}")
    return value


#: metric keys that passed ``check_name`` (most batches repeat the keys of the last ones)
_CHECKED_KEYS: dict[str, None] = {}
_CHECKED_KEYS_LIMIT = 100_000
_INT64 = 2**63


def _batch_metrics(raw: list[Any]) -> list[Metric]:
    """The batch's metrics; the common case (known keys, numbers, in-range integers) is one
    tight loop, and anything else goes through the checks that name the field at fault."""
    metrics = []
    append = metrics.append
    for entry in raw:
        if type(entry) is not dict:
            break
        key = entry.get("key")
        value = entry.get("value")
        timestamp = entry.get("timestamp")
        step = entry.get("step", 0)
        if (
            type(key) is not str
            or key not in _CHECKED_KEYS
            or type(value) not in (float, int)
            or type(timestamp) is not int
            or type(step) is not int
            or not 0 <= timestamp < _INT64
            or not -_INT64 <= step < _INT64
        ):
            break
        append(Metric(key, float(value), step, timestamp))
    else:
        return metrics
    return _checked_batch_metrics(raw)


def _checked_batch_metrics(raw: list[Any]) -> list[Metric]:
    metrics = []
    checked: set[str] = set()
    for i, entry in enumerate(raw):
        index = f"metrics[{i}]"
        key = _required(entry, index, "key")
        value = _required(entry, index, "value")
        raw_timestamp = _required(entry, index, "timestamp")
        if not isinstance(key, str) or key not in checked:
            fields.check_name("Metric", key, f"{index}.key")
            checked.add(key)
            if len(_CHECKED_KEYS) < _CHECKED_KEYS_LIMIT:
                _CHECKED_KEYS[key] = None
        number = fields.metric_value(value, f"{index}.value")
        timestamp = fields.integer({"t": raw_timestamp}, "t")
        step = fields.integer(entry, "step", 0)
        _check_timestamp(timestamp, key, number, f"{index}.timestamp")
        metrics.append(Metric(key, number, step, timestamp))  # type: ignore[arg-type]
    return metrics


def _batch_params(raw: list[Any]) -> dict[str, str]:
    params: dict[str, str] = {}
    duplicates = []
    for i, entry in enumerate(raw):
        index = f"params[{i}]"
        key = _required(entry, index, "key")
        fields.check_name("Param", key, f"{index}.key")
        value = entry.get("value", "")
        if not isinstance(value, str):
            raise fields.bad_value(f"{index}.value", value, "it must be a string.")
        fields.check_length("Param value", value, fields.MAX_PARAM_VAL_LENGTH)
        if key in params:
            duplicates.append(key)
        params[key] = value
    if duplicates:
        raise errors.invalid(
            f"Duplicate parameter keys have been submitted: {duplicates}. Please ensure the "
            "request contains only one param value per param key."
        )
    return params


def _batch_tags(raw: list[Any]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for i, entry in enumerate(raw):
        index = f"tags[{i}]"
        key = _required(entry, index, "key")
        fields.check_name("Tag", key, f"{index}.key")
        value = entry.get("value", "")
        if not isinstance(value, str):
            raise fields.bad_value(f"{index}.value", value, "it must be a string.")
        fields.check_length(f"{index}.value", value, fields.MAX_TAG_VAL_LENGTH)
        tags[key] = value
    return tags


# MLflow's limits of dataset inputs (mlflow.utils.validation)
_DATASET_LIMITS = {
    "name": 500,
    "digest": 36,
    "source_type": 65535,
    "source": 65535,
    "schema": 1048575,
    "profile": 16777215,
}


def log_inputs(request: Request) -> None:
    """``runs/log-inputs``: datasets (and logged models) the run used, kept as Heron run tags
    (see :func:`heron.server.mlflow.convert.dataset_input_tags`) and answered in
    ``run.inputs``."""
    args = request.args()
    run_id = fields.string(args, "run_id", needed=True)
    tags: dict[str, str] = {}
    for i, entry in enumerate(_entries(args, "datasets")):
        index = f"datasets[{i}]"
        dataset = entry.get("dataset") if isinstance(entry, dict) else None
        if not isinstance(dataset, dict):
            raise errors.invalid(f"Missing value for required parameter '{index}.dataset'.")
        for field, limit in _DATASET_LIMITS.items():
            value = dataset.get(field)
            if value is None and field in ("name", "digest", "source_type", "source"):
                raise errors.invalid(
                    f"Missing value for required parameter '{index}.dataset.{field}'."
                )
            if value is not None and not isinstance(value, str):
                raise fields.bad_value(f"{index}.dataset.{field}", value, "it must be a string.")
            if value is not None and len(value) > limit:
                raise errors.invalid(
                    f"Dataset {field} exceeds the maximum length of {limit} characters"
                )
        input_tags = convert.tags_list(entry.get("tags"), f"{index}.tags")
        for key, value in input_tags.items():
            fields.check_length("Dataset input tag key", key, 255)
            fields.check_length("Dataset input tag value", value, 500)
        tags.update(convert.dataset_input_tags(entry))
    for i, entry in enumerate(_entries(args, "models")):
        model_id = entry.get("model_id") if isinstance(entry, dict) else None
        if not isinstance(model_id, str) or not model_id:
            raise errors.invalid(f"Missing value for required parameter 'models[{i}].model_id'.")
        tags[convert.MODEL_INPUT_TAG_PREFIX + model_id] = ""
    if not tags:
        request.store.get_run(run_id)
        return
    with fields.as_mlflow_client():
        request.store.log_batch(run_id, tags=tags)  # type: ignore[arg-type]
