"""The REST protocol of the tracking server, defined once for both sides.

Every :class:`~heron.store.base.Store` method is one route of :data:`ROUTES`: its HTTP method,
its path under ``/api/v1`` and the request model that :func:`request_model` builds from the
method's own signature (so the fields and their types are the Store's, and cannot drift).
Path fields come from the path, the others from the query string (``GET`` and ``DELETE``) or
from a JSON object body. The answer is ``{"result": ...}`` holding the method's return value,
typed by its return annotation. The server (:mod:`heron.server.api`) validates requests and
writes answers with these definitions, :class:`~heron.store.rest.store.RestStore` builds
requests and reads answers with them, and the OpenAPI document is generated from them.

On the wire, metric points are ``[key, value, step, timestamp]`` arrays, and values that JSON
cannot hold are the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"``. Errors are
``{"error": {"code", "message"}}`` with the status of the :class:`HeronError` raised.
"""

from __future__ import annotations

import functools
import inspect
import math
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Annotated, Any, Literal

from heron.core.entities import Metric, PagedList, Run
from heron.store.base import Store

API_PREFIX = "/api/v1"
PROTOCOL_VERSION = 1

#: the header carrying the client process's owner string (runs it creates belong to it)
OWNER_HEADER = "x-heron-owner"
#: the header carrying the client's heartbeat timeout in ms
TIMEOUT_HEADER = "x-heron-heartbeat-timeout"
#: the header carrying the project the client works in: the names of experiments, registered
#: models and artifacts in a request are that project's (``Store.project``)
PROJECT_HEADER = "x-heron-project"

NonFinite = Literal["NaN", "Infinity", "-Infinity"]
MetricRow = tuple[str, float | NonFinite, int, int]

# Store arguments whose annotation is not what travels: metric points are plain arrays, and
# param values of any JSON type are stored as text, as the Store does with any value
_WIRE_TYPES: dict[str, Any] = {
    "metrics": list[MetricRow],
    "links": list[tuple[str, str, str]],
    "params": dict[str, Any] | None,
}
# query fields a route takes beyond the Store method's arguments
_EXTRA_FIELDS: dict[str, dict[str, Any]] = {
    "get_metric_history": {
        "max_points": (int | None, None),
        # a step window (inclusive), applied before thinning: a zoomed chart's view
        "min_step": (int | None, None),
        "max_step": (int | None, None),
    },
}


@dataclass(frozen=True)
class Route:
    """One Store method as an HTTP route."""

    name: str  # the Store method
    method: str  # GET, POST, PATCH or DELETE
    path: str  # under API_PREFIX, with {field} segments
    idempotent: bool  # safe to send again after a lost answer
    summary: str = ""
    tag: str = ""
    path_fields: tuple[str, ...] = field(default=())

    @property
    def in_query(self) -> bool:
        return self.method in ("GET", "DELETE")

    @property
    def full_path(self) -> str:
        return API_PREFIX + self.path


def _route(name: str, method: str, path: str, tag: str, idempotent: bool | None = None) -> Route:
    doc = inspect.getdoc(getattr(Store, name)) or ""
    return Route(
        name=name,
        method=method,
        path=path,
        idempotent=method != "POST" if idempotent is None else idempotent,
        summary=doc.split("\n\n", 1)[0].replace("\n", " "),
        tag=tag,
        path_fields=tuple(re.findall(r"{(\w+)}", path)),
    )


_E, _R, _A, _M = "experiments", "runs", "artifacts and lineage", "model registry"
_S = "schedules"
_K = "stacks"

ROUTES: tuple[Route, ...] = (
    _route("create_experiment", "POST", "/experiments", _E),
    _route("list_experiments", "GET", "/experiments", _E),
    _route("get_experiment_by_name", "GET", "/experiments/by-name", _E),
    _route("get_experiment", "GET", "/experiments/{experiment_id}", _E),
    _route("rename_experiment", "PATCH", "/experiments/{experiment_id}", _E),
    _route("delete_experiment", "DELETE", "/experiments/{experiment_id}", _E),
    _route("restore_experiment", "POST", "/experiments/{experiment_id}/restore", _E, True),
    _route("set_experiment_tag", "POST", "/experiments/{experiment_id}/tags", _E, True),
    _route("delete_experiment_tag", "DELETE", "/experiments/{experiment_id}/tags", _E),
    # runs (run ids are chosen by the client, so creating one can be sent again)
    _route("create_run", "POST", "/runs", _R, True),
    _route("heartbeat", "POST", "/runs/heartbeat", _R, True),
    _route("fail_stale_runs", "POST", "/runs/fail-stale", _R, True),
    _route("search_runs", "POST", "/runs/search", _R, True),
    _route("find_cached_run", "GET", "/runs/cached", _R),
    _route("get_run", "GET", "/runs/{run_id}", _R),
    _route("update_run", "PATCH", "/runs/{run_id}", _R),
    _route("delete_run", "DELETE", "/runs/{run_id}", _R),
    _route("restore_run", "POST", "/runs/{run_id}/restore", _R, True),
    # a batch carries a request id, applied once however often it is sent
    _route("log_batch", "POST", "/runs/{run_id}/batch", _R, True),
    _route("delete_tag", "DELETE", "/runs/{run_id}/tags", _R),
    _route("get_metric_history", "GET", "/runs/{run_id}/metrics/history", _R),
    _route("link_artifact", "POST", "/runs/{run_id}/artifact-links", _A, True),
    # artifacts, pipelines and lineage
    _route("create_artifact_version", "POST", "/artifact-versions", _A),
    _route("list_artifact_versions", "GET", "/artifact-versions", _A),
    _route("get_artifact_version_by_name", "GET", "/artifact-versions/by-name", _A),
    _route("retire_orphan_artifacts", "POST", "/artifact-versions/retire-orphans", _A, True),
    _route("live_content_hashes", "GET", "/artifact-versions/live-hashes", _A),
    _route("get_artifact_version", "GET", "/artifact-versions/{artifact_id}", _A),
    _route("list_artifact_links", "GET", "/artifact-links", _A),
    _route("create_pipeline_version", "POST", "/pipeline-versions", _A, True),
    _route("list_pipeline_versions", "GET", "/pipeline-versions", _A),
    _route("get_pipeline_version", "GET", "/pipeline-versions/{version_id}", _A),
    # the model registry
    _route("create_registered_model", "POST", "/models", _M),
    _route("list_registered_models", "GET", "/models", _M),
    _route("search_model_versions", "POST", "/model-versions/search", _M, True),
    _route("get_registered_model", "GET", "/models/{name}", _M),
    _route("update_registered_model", "PATCH", "/models/{name}", _M),
    _route("delete_registered_model", "DELETE", "/models/{name}", _M),
    _route("rename_registered_model", "POST", "/models/{name}/rename", _M),
    _route("set_registered_model_tag", "POST", "/models/{name}/tags", _M, True),
    _route("delete_registered_model_tag", "DELETE", "/models/{name}/tags", _M),
    _route("create_model_version", "POST", "/models/{name}/versions", _M),
    _route("get_model_version", "GET", "/models/{name}/versions/{version}", _M),
    _route("update_model_version", "PATCH", "/models/{name}/versions/{version}", _M),
    _route("delete_model_version", "DELETE", "/models/{name}/versions/{version}", _M),
    _route("set_model_version_tag", "POST", "/models/{name}/versions/{version}/tags", _M, True),
    _route("delete_model_version_tag", "DELETE", "/models/{name}/versions/{version}/tags", _M),
    _route("set_model_alias", "POST", "/models/{name}/aliases", _M, True),
    _route("get_model_version_by_alias", "GET", "/models/{name}/aliases/{alias}", _M),
    _route("delete_model_alias", "DELETE", "/models/{name}/aliases/{alias}", _M),
    _route("rollback_model_alias", "POST", "/models/{name}/aliases/{alias}/rollback", _M),
    _route("get_alias_history", "GET", "/models/{name}/alias-history", _M),
    # schedules, their ticks and backfills (what heron.scheduling runs on)
    _route("create_schedule", "POST", "/schedules", _S),
    _route("list_schedules", "GET", "/schedules", _S),
    _route("due_schedules", "GET", "/schedules/due", _S),
    _route("next_due_at", "GET", "/schedules/next-due", _S),
    _route("artifact_schedules", "GET", "/schedules/on-artifacts", _S),
    _route("newest_artifact_versions", "POST", "/schedules/newest-artifact-versions", _S, True),
    _route("get_schedule", "GET", "/schedules/{name_or_id}", _S),
    _route("update_schedule", "PATCH", "/schedules/{schedule_id}", _S),
    _route("delete_schedule", "DELETE", "/schedules/{schedule_id}", _S),
    # conditional on the cursor it read: sending it again changes nothing
    _route("advance_schedule", "POST", "/schedules/{schedule_id}/advance", _S, True),
    _route("list_ticks", "POST", "/ticks/search", _S, True),
    _route("queued_owners", "GET", "/ticks/queued-owners", _S),
    _route("next_queued", "GET", "/ticks/next-queued", _S),
    _route("running_counts", "GET", "/ticks/running-counts", _S),
    _route("run_states", "POST", "/ticks/run-states", _S, True),
    _route("claim_tick", "POST", "/ticks/{tick_id}/claim", _S, False),
    _route("reclaim_tick", "POST", "/ticks/{tick_id}/reclaim", _S, False),
    _route("finish_tick", "POST", "/ticks/{tick_id}/finish", _S, True),
    _route("create_backfill", "POST", "/backfills", _S),
    _route("backfill_plan", "POST", "/backfills/plan", _S, True),
    _route("list_backfills", "GET", "/backfills", _S),
    _route("active_backfills", "GET", "/backfills/active", _S),
    _route("cancelled_backfill_ids", "POST", "/backfills/cancelled", _S, True),
    _route("get_backfill", "GET", "/backfills/{backfill_id}", _S),
    _route("set_backfill_status", "POST", "/backfills/{backfill_id}/status", _S, True),
    _route("scheduler_heartbeat", "POST", "/schedulers/heartbeat", _S, True),
    _route("list_schedulers", "GET", "/schedulers", _S),
    # stacks (heron.stacks)
    _route("create_stack", "POST", "/stacks/{name}", _K),
    _route("list_stacks", "GET", "/stacks", _K),
    _route("get_stack", "GET", "/stacks/{name}", _K),
    _route("update_stack", "PATCH", "/stacks/{name}", _K),
    _route("delete_stack", "DELETE", "/stacks/{name}", _K),
)

BY_NAME: dict[str, Route] = {route.name: route for route in ROUTES}


@functools.cache
def _hints(name: str) -> dict[str, Any]:
    import heron.store.base as base_module

    return typing.get_type_hints(getattr(Store, name), vars(base_module))


def store_arguments(name: str) -> list[inspect.Parameter]:
    """The parameters of Store method ``name`` (without ``self``)."""
    return list(inspect.signature(getattr(Store, name)).parameters.values())[1:]


def _int64() -> Any:
    from pydantic import Field

    return Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


def _wire_type(annotation: Any) -> Any:
    if annotation is int:  # what the databases hold
        return _int64()
    origin = typing.get_origin(annotation)
    if origin in (Sequence, Iterable):  # arrays on the wire
        (item,) = typing.get_args(annotation)
        if item is str:  # a lone string is a sequence of strings to the Store
            return list[str] | str
        return list[item]  # type: ignore[valid-type]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return typing.Union[tuple(_wire_type(a) for a in args)]  # noqa: UP007
    return annotation


@functools.cache
def _fields(name: str) -> dict[str, tuple[Any, Any]]:
    hints = _hints(name)
    fields: dict[str, Any] = {}
    for param in store_arguments(name):
        annotation = _WIRE_TYPES.get(param.name) or _wire_type(hints[param.name])
        default = ... if param.default is inspect.Parameter.empty else param.default
        if isinstance(default, tuple):
            default = list(default)
        fields[param.name] = (annotation, default)
    fields.update(_EXTRA_FIELDS.get(name, {}))
    return fields


@functools.cache
def request_model(name: str, part: str = "all", strict: bool = False) -> Any:
    """The pydantic model of the request of Store method ``name``: one field per argument,
    with the argument's type and default; unknown fields are refused. ``part`` is ``all``,
    ``path`` (the path's fields) or ``rest`` (the query's or body's); ``strict`` refuses
    values of another JSON type ("10" for an integer), as the Store does."""
    from pydantic import ConfigDict, create_model

    route = BY_NAME[name]
    fields = _fields(name)
    if part == "path":
        fields = {k: v for k, v in fields.items() if k in route.path_fields}
    elif part == "rest":
        fields = {k: v for k, v in fields.items() if k not in route.path_fields}
    title = "".join(word.title() for word in name.split("_")) + "Request"
    config = ConfigDict(extra="forbid", strict=strict)
    return create_model(title, __config__=config, **fields)


def validation_message(route: Route, error: Any) -> str:
    """One line naming each invalid field of a pydantic ValidationError."""
    lines = []
    for item in error.errors()[:10]:
        where = ".".join(str(part) for part in item.get("loc", ())) or "body"
        lines.append(f"{where}: {item.get('msg', 'invalid')}")
    return (
        f"Invalid request to {route.method} {route.full_path}: "
        + "; ".join(lines)
        + ". See /docs for the fields this route takes."
    )


def result_type(name: str) -> Any:
    """The return annotation of Store method ``name`` as it travels."""
    annotation = _hints(name)["return"]
    if annotation is PagedList:
        return PagedList
    if typing.get_origin(annotation) is set:
        return list[typing.get_args(annotation)]  # type: ignore[misc]
    return annotation


@functools.cache
def result_adapter(name: str) -> Any:
    """The pydantic TypeAdapter that reads (and documents) the result of ``name``."""
    from pydantic import TypeAdapter

    annotation = result_type(name)
    if annotation is PagedList:
        return TypeAdapter(dict[str, Any])  # read by decode_result
    return TypeAdapter(annotation)


# --- values JSON cannot hold ------------------------------------------------------------
_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def wire_float(value: float) -> float | str:
    """``value``, or its name when JSON cannot hold it."""
    if value != value:
        return "NaN"
    if value in (math.inf, -math.inf):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def read_float(value: Any) -> float:
    """A float written by :func:`wire_float`."""
    if isinstance(value, str):
        return _NON_FINITE[value]
    return float(value)


def encode_metrics(metrics: Iterable[Metric | tuple[Any, ...]]) -> list[Any]:
    """Metric points as ``[key, value, step, timestamp]`` arrays."""
    points = [tuple(m) for m in metrics]  # orjson writes plain tuples, not named ones
    if points and set(map(len, points)) == {4}:
        try:  # a sum is finite only if every value is: then the points go as they are
            if math.isfinite(sum(map(itemgetter(1), points))):
                return points
        except TypeError:
            pass  # a value that is not a number: the loop below sends it as it is
    rows = []
    for m in metrics:
        key, value = m[0], m[1]
        step = m[2] if len(m) > 2 else 0
        timestamp = m[3] if len(m) > 3 else 0
        if isinstance(value, float) and not math.isfinite(value):
            value = wire_float(value)
        rows.append([key, value, step, timestamp])
    return rows


def finite_rows(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Metric rows read from the wire with their named values turned back into floats."""
    if not any(isinstance(row[1], str) for row in rows):
        return rows
    return [(k, read_float(v), s, t) if isinstance(v, str) else (k, v, s, t) for k, v, s, t in rows]


def decode_metrics(rows: list[list[Any]]) -> list[Metric]:
    return [Metric(k, read_float(v), s, t) for k, v, s, t in rows]


def _wire_run(run: Run) -> Any:
    if all(isinstance(v, float) and math.isfinite(v) for v in run.metrics.values()):
        return run
    data = run.to_dict()
    data["metrics"] = {k: wire_float(v) for k, v in run.metrics.items()}
    return data


def encode_result(name: str, value: Any) -> Any:
    """The JSON-ready result of Store method ``name`` (orjson writes dataclasses itself)."""
    if isinstance(value, Run):
        return _wire_run(value)
    if isinstance(value, PagedList):
        return {"items": [_wire_run(run) for run in value], "token": value.token}
    if isinstance(value, set):
        return sorted(value)
    if name == "get_metric_history":
        return encode_metrics(value)
    if isinstance(value, list) and value and isinstance(value[0], Run):
        return [_wire_run(run) for run in value]
    return value


def decode_result(name: str, data: Any) -> Any:
    """The Python value of a result read back from JSON."""
    if name == "get_metric_history":
        return decode_metrics(data)
    if name == "live_content_hashes":
        return set(data)
    if result_type(name) is PagedList:
        return PagedList(decode_runs(data["items"]), data.get("token"))
    return result_adapter(name).validate_python(data)


@functools.cache
def _run_list_adapter() -> Any:
    from pydantic import TypeAdapter

    return TypeAdapter(list[Run])


def decode_runs(items: list[dict[str, Any]]) -> list[Run]:
    return _run_list_adapter().validate_python(items)


# --- error codes ------------------------------------------------------------------------
def error_classes() -> dict[str, type]:
    """Every :class:`HeronError` subclass by its ``code``: the most derived wins, except that
    a class elsewhere never takes a code from one of :mod:`heron.core.errors` (the server's
    ``NoRoute`` answers ``NOT_FOUND``, and is :class:`NotFound` to a client, whatever modules
    the client's process happens to have imported)."""
    from heron.core import errors

    found: dict[str, type] = {}

    def claim(cls: type) -> None:
        code = cls.code  # type: ignore[attr-defined]
        held = found.get(code)
        if held is None or held.__module__ != errors.__name__ or cls.__module__ == errors.__name__:
            found[code] = cls

    def walk(cls: type) -> None:  # parents before their subclasses
        claim(cls)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(errors.HeronError)
    return found
