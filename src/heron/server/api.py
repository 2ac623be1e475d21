"""The Store routes of the REST API: one request -> one call of the server's ``SqlStore``.

Requests are read and validated with the models of :mod:`heron.store.rest.protocol` (a
field that does not validate is a 422 naming it), the Store method runs on behalf of the
client's process (the runs it creates and heartbeats belong to the client, with the client's
heartbeat timeout), and its result is written back as ``{"result": ...}``. A
:class:`HeronError` becomes its status and ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from heron.core import owner as owners
from heron.core.errors import HeronError, InvalidArgument, RequestInvalid
from heron.store.base import Store
from heron.store.rest import protocol

DUMP = orjson.OPT_SERIALIZE_NUMPY
#: routes that make an object the guard will be asked about next: its kind
_CREATES = {"create_run": "run", "create_experiment": "experiment"}


def parse_request(
    route: protocol.Route, path_values: dict[str, str], query: bytes, body: bytes
) -> dict[str, Any]:
    """The Store method's keyword arguments from the path, query string and body.

    Bodies are validated strictly (a JSON string is not an integer, as in the Store), query
    strings leniently (every value in them is text)."""
    from pydantic import ValidationError

    try:
        arguments = {}
        if path_values:
            parsed = protocol.request_model(route.name, "path").model_validate(path_values)
            arguments.update(parsed.__dict__)
        if route.in_query:
            values: dict[str, Any] = {}
            for key, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
                if key in values or key in path_values:
                    raise RequestInvalid(
                        f"Invalid request to {route.method} {route.full_path}: {key!r} is "
                        "given twice (in the path and the query string, or twice in the query)."
                    )
                values[key] = value
            parsed = protocol.request_model(route.name, "rest").model_validate(values)
        else:
            model = protocol.request_model(route.name, "rest", strict=True)
            stripped = body.strip()
            if stripped and not stripped.startswith(b"{"):
                raise RequestInvalid(
                    f"The body of {route.method} {route.full_path} must be a JSON object of the "
                    "route's fields (see /docs)."
                )
            parsed = model.model_validate_json(stripped or b"{}")
        arguments.update(parsed.__dict__)
    except ValidationError as e:
        raise RequestInvalid(protocol.validation_message(route, e)) from None
    return arguments


def call_store(
    store: Store,
    route: protocol.Route,
    arguments: dict[str, Any],
    timings: Callable[[str, float], None] | None = None,
    keep: Callable[[Any], Any] | None = None,
) -> Any:
    """Run the route's Store method; returns the JSON-ready result (``keep``: what of the
    result the caller may see)."""
    if route.name == "get_metric_history":
        max_points = arguments.pop("max_points", None)
        window = arguments.pop("min_step", None), arguments.pop("max_step", None)
        from heron.store.sql.store import SqlStore

        started = time.perf_counter()
        if isinstance(store, SqlStore):  # it windows and thins on packed arrays, not objects
            points = store.get_metric_history(
                **arguments, max_points=max_points, min_step=window[0], max_step=window[1]
            )
        else:
            points = store.get_metric_history(**arguments)
            if window != (None, None):
                points = step_window(points, *window)
            if max_points is not None:
                from heron.store.downsample import downsample

                if max_points < 1:
                    raise InvalidArgument(f"max_points must be at least 1, not {max_points}.")
                points = downsample(points, max_points)
    else:
        if route.name == "log_batch" and arguments["metrics"]:
            arguments["metrics"] = protocol.finite_rows(arguments["metrics"])
        started = time.perf_counter()
        points = getattr(store, route.name)(**arguments)
    if timings is not None:
        timings(route.name, time.perf_counter() - started)
    if keep is not None:
        points = keep(points)
    return protocol.encode_result(route.name, points)


def step_window(points: list[Any], low: int | None, high: int | None) -> list[Any]:
    """The points (ordered by step) whose step is in ``[low, high]`` (``None``: open)."""
    from bisect import bisect_left, bisect_right
    from operator import attrgetter

    step = attrgetter("step")
    start = 0 if low is None else bisect_left(points, low, key=step)
    end = len(points) if high is None else bisect_right(points, high, key=step)
    return points[start:end]


def handle(
    authorize: Callable[[dict[str, Any]], Any],
    route: protocol.Route,
    path_values: dict[str, str],
    query: bytes,
    body: bytes,
    headers: dict[bytes, bytes],
    timings: Callable[[str, float], None] | None = None,
) -> tuple[int, bytes]:
    """Answer one Store route: ``(status, JSON body)``. ``authorize(arguments)`` is the
    server's guard: it raises the 401/403/404 of a request it refuses, else returns the grant
    (the store in the request's project, and the audit entry its write records)."""
    try:
        arguments = parse_request(route, path_values, query, body)
        grant = authorize(arguments)
        identity = grant.caller.identity
        if identity is not None and "user" in protocol.request_model(route.name).model_fields:
            arguments["user"] = identity.name  # who signed in, not who the client says it is
        owner, timeout = client_owner(headers)
        keep = grant.filter if grant.permission.results else None
        with owners.acting_for(owner, timeout), grant.recording():
            result = call_store(grant.store, route, arguments, timings, keep)
        if route.name in _CREATES:
            created = result["id"] if isinstance(result, dict) else result.id
            grant.created(_CREATES[route.name], created)
        return 200, orjson.dumps({"result": result}, option=DUMP)
    except HeronError as e:
        return e.http_status, orjson.dumps(e.to_dict())


def client_owner(headers: dict[bytes, bytes]) -> tuple[str | None, int | None]:
    """The client process's owner string and heartbeat timeout, from its headers."""
    owner = headers.get(protocol.OWNER_HEADER.encode())
    if not owner:
        return None, None
    text = owner.decode("utf-8", "replace")[:512]
    raw_timeout = headers.get(protocol.TIMEOUT_HEADER.encode())
    try:
        timeout = int(raw_timeout) if raw_timeout else None
    except ValueError:
        timeout = None
    if timeout is not None and not 0 < timeout < 2**62:
        timeout = None
    return text, timeout
