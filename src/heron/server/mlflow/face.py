"""The dispatcher of MLflow's routes, and the request its handlers get.

Two kinds of route:

- **JSON routes** (:meth:`MlflowFace.json_route`): ``handler(request) -> dict`` runs in the
  server's thread pool (or on the event loop for the small hot ones, ``inline=True``, as Heron's
  own hot routes do) and its dict is the JSON answer (``None``: ``{}``);
- **stream routes** (:meth:`MlflowFace.stream_route`): ``await handler(request, receive, send)
  -> status`` for artifact bytes; the path after the route's prefix is ``request.values["path"]``.

A handler raises :class:`~heron.server.mlflow.errors.MlflowError` (or lets a
:class:`~heron.core.errors.HeronError` through: it is translated) for an answer in MLflow's
error shape; anything else is a bug, answered 500 and logged by the app.
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import orjson

from heron.core.errors import HeronError
from heron.server.mlflow import errors
from heron.server.routing import Router

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_NOT_ROUTES = frozenset({"face", "errors", "paths"})
_JSON = [(b"content-type", b"application/json")]
INLINE_BYTES = 64 * 1024


@dataclass
class Request:
    """One request to an MLflow route."""

    method: str
    path: str
    #: the values of the route template's ``{field}`` segments (``path`` for stream routes)
    values: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    headers: dict[bytes, bytes]
    face: MlflowFace
    _json: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def store(self) -> Any:
        """The server's ``SqlStore``."""
        return self.face.store

    @property
    def blobs(self) -> Any:
        """The server's ``ArtifactStore``."""
        return self.face.blobs

    def json(self) -> dict[str, Any]:
        """The body as a JSON object (``{}`` when empty); 400 when it is not one."""
        if self._json is None:
            stripped = self.body.strip()
            if not stripped:
                self._json = {}
            else:
                try:
                    parsed = orjson.loads(stripped)
                except orjson.JSONDecodeError as e:
                    raise errors.MlflowError(
                        errors.MALFORMED_REQUEST, f"The request body is not valid JSON: {e}."
                    ) from None
                if not isinstance(parsed, dict):
                    raise errors.MlflowError(
                        errors.MALFORMED_REQUEST, "The request body must be a JSON object."
                    )
                self._json = parsed
        return self._json

    def args(self) -> dict[str, Any]:
        """The request's fields: the query string's for GET and DELETE (a key given several
        times is a list, as MLflow's client sends ``run_ids``), else the JSON body's, with
        the query string's fields it lacks."""
        values: dict[str, Any] = {k: (v[0] if len(v) == 1 else v) for k, v in self.query.items()}
        if self.method in ("GET", "DELETE") and not self.body.strip():
            return values
        return {**values, **self.json()}

    def header(self, name: str) -> str | None:
        value = self.headers.get(name.lower().encode("latin-1"))
        return value.decode("latin-1") if value is not None else None


JsonHandler = Callable[[Request], "dict[str, Any] | None"]
StreamHandler = Callable[[Request, Receive, Send], Awaitable[int]]


@dataclass
class _JsonRoute:
    template: str
    handler: JsonHandler
    inline: bool


class MlflowFace:
    """MLflow's routes of one :class:`~heron.server.app.TrackingApp`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.store = app.store
        self.blobs = app.blobs
        self._router: Router[_JsonRoute] = Router()
        self._streams: list[tuple[str, str, StreamHandler]] = []
        self._loaded = False

    # --- declaring routes ---------------------------------------------------------------
    def json_route(
        self, method: str, template: str, handler: JsonHandler, *, inline: bool = False
    ) -> None:
        """Answer ``method template`` (``{field}`` segments allowed) with ``handler``."""
        self._router.add(method, template, _JsonRoute(template, handler, inline))

    def stream_route(self, method: str, prefix: str, handler: StreamHandler) -> None:
        """Answer ``method`` on ``prefix`` and every path under it with ``handler``."""
        self._streams.append((method, prefix.rstrip("/"), handler))
        self._streams.sort(key=lambda s: -len(s[1]))

    def templates(self) -> list[str]:
        """Every path template the face answers (for the permission and docs listings)."""
        self._load()
        return sorted({*self._router.templates(), *(p + "/{path}" for _m, p, _h in self._streams)})

    def _load(self) -> None:
        if self._loaded:
            return
        package = importlib.import_module(__package__)
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            if info.name in _NOT_ROUTES:
                continue
            module = importlib.import_module(f"{__package__}.{info.name}")
            register = getattr(module, "register", None)
            if register is not None:
                register(self)
        self._loaded = True

    # --- answering ----------------------------------------------------------------------
    async def dispatch(
        self, scope: dict[str, Any], receive: Receive, send: Send, method: str, raw: str
    ) -> tuple[str, int]:
        """Answer one request; ``(route label, status)`` for the server's metrics."""
        self._load()
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = dict(scope["headers"])
        try:
            stream = self._stream_for(method, raw)
            if stream is not None:
                prefix, handler, rest = stream
                request = Request(method, scope["path"], {"path": rest}, query, b"", headers, self)
                status = await handler(request, receive, send)
                return prefix + "/{path}", status
            match = self._router.match(method, raw)
            if match is None:
                raise errors.MlflowError(
                    errors.ENDPOINT_NOT_FOUND,
                    f"No MLflow route {method} {scope['path']} on this Heron server. Heron "
                    "answers the routes of MLflow's tracking, registry, logged-model and "
                    "artifact APIs (see docs/mlflow.md).",
                )
            if match is False:
                raise errors.MlflowError(
                    errors.BAD_REQUEST, f"{method} is not allowed on {scope['path']}.", 405
                )
            route, values = match
            body = await self.app._read_body(scope, receive)
            request = Request(method, scope["path"], values, query, body, headers, self)
            if route.inline and len(body) <= INLINE_BYTES:
                result = _answer(route.handler, request)
            else:
                result = await asyncio.get_running_loop().run_in_executor(
                    self.app.pool, _answer, route.handler, request
                )
            status, payload = result
            await _send(send, status, payload)
            return route.template, status
        except errors.MlflowError as e:
            await _send(send, e.status, orjson.dumps(e.body()))
            return scope["path"], e.status
        except HeronError as e:
            translated = errors.from_heron(e)
            await _send(send, translated.status, orjson.dumps(translated.body()))
            return scope["path"], translated.status

    def _stream_for(self, method: str, raw: str) -> tuple[str, StreamHandler, str] | None:
        from urllib.parse import unquote

        path = raw.rstrip("/")
        wrong_method = False
        for route_method, prefix, handler in self._streams:
            if path == prefix or path.startswith(prefix + "/"):
                if route_method != method:
                    wrong_method = True
                    continue
                return prefix, handler, unquote(path[len(prefix) + 1 :])
        if wrong_method and self._router.match(method, raw) is None:
            raise errors.MlflowError(errors.BAD_REQUEST, f"{method} is not allowed on {raw}.", 405)
        return None


def _answer(handler: JsonHandler, request: Request) -> tuple[int, bytes]:
    try:
        result = handler(request)
    except errors.MlflowError as e:
        return e.status, orjson.dumps(e.body())
    except HeronError as e:
        translated = errors.from_heron(e)
        return translated.status, orjson.dumps(translated.body())
    answer = result if result is not None else {}
    return 200, orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
