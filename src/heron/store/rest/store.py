"""`RestStore`: the :class:`Store` of an ``http(s)://`` tracking URI (a ``heron server``).

Each Store method is one request of :mod:`heron.store.rest.protocol`, so the arguments and
results are those of the server's ``SqlStore`` and so are the errors: the server's
``{"error": {"code", "message"}}`` is raised here as the same :class:`HeronError` subclass
with the same message. Requests go through one keep-alive session per server and process
(:mod:`heron.store.rest.http`), which retries what is safe to send again.

Writes are made safe to send again by ids chosen here: a run gets its id before it is
created (an answer lost after the run was made finds the run on the next try), and every
batch carries a request id the server applies once.

Every request names the store's project (``x-heron-project``): the server looks names up in
it. A view made with :meth:`~heron.store.base.Store.in_project` shares the session.
"""

from __future__ import annotations

import abc
import contextlib
import functools
import inspect
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from heron.core.entities import Metric, Run
from heron.core.errors import (
    AlreadyExists,
    ConfigError,
    PermissionDenied,
    RequestInvalid,
    StoreUnavailable,
    Unauthenticated,
)
from heron.core.ids import new_id
from heron.store.base import Store
from heron.store.rest import protocol
from heron.store.rest.http import HttpSession, session_for


class RestStore(Store):
    """A client of the Heron tracking server at ``uri`` (``http://host:5151``)."""

    def __init__(self, uri: str) -> None:
        if uri.split("://", 1)[0].lower() not in ("http", "https"):
            raise ConfigError(f"{uri!r} is not an http(s):// URI of a Heron server.")
        self.uri = uri.rstrip("/")
        self.session: HttpSession = session_for(self.uri)
        self._info: dict[str, Any] | None = None
        # one try, no retries: when the server is down now (or wants credentials this process
        # has not set yet), the first artifact read or write asks again (and the first call
        # waits for the server as every call does, or says who it must be)
        with contextlib.suppress(StoreUnavailable, Unauthenticated, PermissionDenied):
            self.route_artifacts(retry_seconds=0.0)

    def route_artifacts(self, retry_seconds: float | None = None) -> None:
        """Unless ``HERON_ARTIFACT_URI`` gives this process a store it reaches itself, read
        and write the objects under the server's artifact root through the server."""
        from heron.artifacts.store import serve_root_through
        from heron.core import config

        if config.artifact_uri_override() is None:
            serve_root_through(self.server_info(retry_seconds)["artifact_root"], self.uri)

    def __repr__(self) -> str:
        from heron.core import uris

        return f"RestStore({uris.redact(self.uri)!r})"

    # --- the server itself --------------------------------------------------------------
    def server_info(self, retry_seconds: float | None = None) -> dict[str, Any]:
        """The server's version, protocol and artifact root (asked once)."""
        if self._info is None:
            response = self.session.request(
                "GET", protocol.API_PREFIX + "/info", idempotent=True, retry_seconds=retry_seconds
            )
            info = orjson.loads(response.content)["result"]
            if info.get("protocol") != protocol.PROTOCOL_VERSION:
                raise ConfigError(
                    f"The Heron server at {self.uri} speaks protocol {info.get('protocol')} "
                    f"(Heron {info.get('version')}), this client protocol "
                    f"{protocol.PROTOCOL_VERSION}: install the server's Heron version here, "
                    "or upgrade the server."
                )
            self._info = info
        return self._info

    def collect_garbage(self, dry_run: bool = False, min_age: float = 3600.0) -> dict[str, Any]:
        """Run ``heron gc`` on the server (over its artifact store); the report as a dict."""
        response = self.session.request(
            "POST",
            protocol.API_PREFIX + "/gc",
            idempotent=True,
            json={"dry_run": dry_run, "min_age": min_age},
            headers=self._headers(),
        )
        return orjson.loads(response.content)["result"]  # type: ignore[no-any-return]

    def _headers(self) -> dict[str, str] | None:
        """The project header of a view (the session sends the process's project itself)."""
        if self._project is None:
            return None
        return {protocol.PROJECT_HEADER: self._project}

    # --- the generic call ---------------------------------------------------------------
    def _call(self, name: str, arguments: dict[str, Any]) -> Any:
        route = protocol.BY_NAME[name]
        path = route.full_path
        if route.path_fields:
            _check_path(route, arguments)
        for field in route.path_fields:
            path = path.replace("{" + field + "}", quote(str(arguments.pop(field)), safe=""))
        if route.in_query:
            _check_query(route, arguments)
            params = {k: _query_value(v) for k, v in arguments.items() if v is not None}
            response = self.session.request(
                route.method,
                path,
                idempotent=route.idempotent,
                params=params,
                headers=self._headers(),
            )
        else:
            response = self.session.request(
                route.method,
                path,
                idempotent=route.idempotent,
                json=arguments,
                headers=self._headers(),
            )
        return protocol.decode_result(name, orjson.loads(response.content)["result"])

    # --- the methods that do more than one request's worth -------------------------------
    def create_run(self, experiment_id: str, *, run_id: str | None = None, **kwargs: Any) -> Run:
        chosen = run_id is None
        run_id = run_id if run_id is not None else new_id()
        try:
            return self._call(  # type: ignore[no-any-return]
                "create_run", {"experiment_id": experiment_id, "run_id": run_id, **kwargs}
            )
        except AlreadyExists:
            if not chosen:
                raise
            # the id was new: the run exists because an earlier try made it (its answer lost)
            return self.get_run(run_id)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        *,
        status: str | None = None,
        status_reason: str | None = None,
        links: Sequence[tuple[str, str, str]] = (),
        request_id: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"request_id": request_id or new_id()}
        rows = protocol.encode_metrics(metrics)
        if rows:
            body["metrics"] = rows
        if params:
            body["params"] = params
        if tags:
            body["tags"] = tags
        if status is not None:
            body["status"] = status
        if status_reason is not None:
            body["status_reason"] = status_reason
        if links:
            body["links"] = [list(link) for link in links]
        path = f"{protocol.API_PREFIX}/runs/{quote(run_id, safe='')}/batch"
        self.session.request("POST", path, idempotent=True, json=body, headers=self._headers())

    def get_metric_history(
        self, run_id: str, key: str, max_points: int | None = None
    ) -> list[Metric]:
        """Every point of one metric (``max_points``: thinned on the server, keeping the
        first, last, minimum and maximum of each bucket)."""
        return self._call(  # type: ignore[no-any-return]
            "get_metric_history", {"run_id": run_id, "key": key, "max_points": max_points}
        )


def _check_path(route: protocol.Route, arguments: dict[str, Any]) -> None:
    """Refuse path values the Store refuses before they become text in a URL."""
    from pydantic import ValidationError

    values = {field: arguments[field] for field in route.path_fields}
    try:
        protocol.request_model(route.name, "path", strict=True).model_validate(values)
    except ValidationError as e:
        raise RequestInvalid(protocol.validation_message(route, e)) from None
    for field, value in values.items():
        if value == "":
            raise RequestInvalid(f"{field} must not be empty.")


def _check_query(route: protocol.Route, arguments: dict[str, Any]) -> None:
    """Refuse here what the Store refuses (a string for an integer) but a query string,
    all text, could not tell the server."""
    from pydantic import ValidationError

    try:
        protocol.request_model(route.name, "rest", strict=True).model_validate(arguments)
    except ValidationError as e:
        raise RequestInvalid(protocol.validation_message(route, e)) from None


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _method(name: str) -> Any:
    signature = inspect.signature(getattr(Store, name))

    @functools.wraps(getattr(Store, name))
    def call(self: RestStore, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        for key, value in arguments.items():
            if isinstance(value, tuple):
                arguments[key] = list(value)
        return self._call(name, arguments)

    call.__isabstractmethod__ = False  # type: ignore[attr-defined]
    return call


for _route in protocol.ROUTES:
    if _route.name not in RestStore.__dict__:
        setattr(RestStore, _route.name, _method(_route.name))
abc.update_abstractmethods(RestStore)
assert not RestStore.__abstractmethods__, RestStore.__abstractmethods__
