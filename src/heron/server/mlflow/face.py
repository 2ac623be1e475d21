"""The dispatcher of MLflow's routes, and the request its handlers get.

Two kinds of route:

- **JSON routes** (:meth:`MlflowFace.json_route`): ``handler(request) -> dict`` runs in the
  server's thread pool (or on the event loop for the small hot ones, ``inline=True``, as Heron's
  own hot routes do) and its dict is the JSON answer (``None``: ``{}``);
- **stream routes** (:meth:`MlflowFace.stream_route`): ``await handler(request, receive, send)
  -> status`` for artifact bytes; the path after the route's prefix is ``request.values["path"]``.

Every route declares its :class:`~heron.server.auth.permissions.Permission`; before the
handler runs, the dispatcher asks the server's guard once (``app.guard.authorize``) with the
request's fields as the arguments the permission's targets name. A route's ``resolve``
function adds the fields a target needs that the request names only indirectly (the
experiment of a logged model, the run of an artifact path), read by id: it runs only when
auth is on. The handler then works on ``request.store``, the grant's store in the request's
project, inside ``grant.recording()`` (its first write records the audit entry). A route
declared without a permission is refused while auth is on.

A handler raises :class:`~heron.server.mlflow.errors.MlflowError` (or lets a
:class:`~heron.core.errors.HeronError` through: it is translated) for an answer in MLflow's
error shape; anything else is a bug, answered 500 and logged by the app. Denials come back in
that shape too: 401 ``UNAUTHENTICATED``, 403 ``PERMISSION_DENIED``, 404
``RESOURCE_DOES_NOT_EXIST`` (an object of a project the caller cannot read).
"""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote

import orjson

from heron.core.errors import HeronError
from heron.server.auth.permissions import Permission
from heron.server.mlflow import convert, errors
from heron.server.routing import Router

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_NOT_ROUTES = frozenset({"face", "errors", "paths"})
_JSON = [(b"content-type", b"application/json")]
#: a 401 says how to sign in (RFC 9110), as MLflow's own auth answers
_CHALLENGE = [(b"www-authenticate", b'Basic realm="heron", Bearer realm="heron"')]
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
    #: who asks (:class:`~heron.server.auth.guard.Caller`; ``None`` outside a server)
    caller: Any = None
    #: the guard's grant of this request (set before the handler runs)
    grant: Any = None
    #: ``/projects/<name>`` when the request came under that prefix (for URLs it answers)
    prefix: str = ""

    @property
    def store(self) -> Any:
        """The server's ``SqlStore`` in the request's project (the grant's)."""
        if self.grant is not None:
            return self.grant.store
        return self.face.store

    @property
    def blobs(self) -> Any:
        """The server's ``ArtifactStore``."""
        return self.face.blobs

    @property
    def user(self) -> str | None:
        """The signed-in user's name (``None`` without auth or credentials)."""
        identity = getattr(self.caller, "identity", None)
        return identity.name if identity is not None else None

    def readable(self, kind: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` (``experiment``, ``run`` or ``artifact`` ids) the caller may read:
        for answers that list objects reached through others (a run's artifacts)."""
        ids = list(ids)
        guard = self.face.app.guard
        if not guard.enabled or self.caller is None:
            return set(ids)
        return guard.readable(self.caller, kind, ids)

    def created(self, kind: str, object_id: str) -> None:
        """Tell the guard the project of an object this request made (``run``,
        ``experiment``), so that the requests naming it next need no look-up."""
        remember = getattr(self.grant, "created", None)
        if remember is not None:
            remember(kind, object_id)

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
#: ``resolve(request, arguments)``: add to ``arguments`` the fields the permission's targets
#: name that the request gives only indirectly (read by id from ``request.face.store``)
Resolver = Callable[[Request, dict[str, Any]], None]


@dataclass
class _Route:
    method: str
    template: str
    handler: Any
    permission: Permission | None
    resolve: Resolver | None
    inline: bool = False

    @property
    def action(self) -> str:
        """The audit log's name of the route: ``mlflow.<module>.<handler>``."""
        module = getattr(self.handler, "__module__", "") or ""
        return f"mlflow.{module.rsplit('.', 1)[-1]}.{getattr(self.handler, '__name__', '?')}"


class MlflowFace:
    """MLflow's routes of one :class:`~heron.server.app.TrackingApp`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.store = app.store
        self.blobs = app.blobs
        self._router: Router[_Route] = Router()
        self._streams: list[tuple[str, str, _Route]] = []
        self._declared: list[_Route] = []
        self._loaded = False

    # --- declaring routes ---------------------------------------------------------------
    def json_route(
        self,
        method: str,
        template: str,
        handler: JsonHandler,
        *,
        inline: bool = False,
        permission: Permission | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        """Answer ``method template`` (``{field}`` segments allowed) with ``handler``, for
        callers ``permission`` allows (``resolve``: see :data:`Resolver`)."""
        route = _Route(method, template, handler, permission, resolve, inline)
        self._router.add(method, template, route)
        self._declared.append(route)

    def stream_route(
        self,
        method: str,
        prefix: str,
        handler: StreamHandler,
        *,
        permission: Permission | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        """Answer ``method`` on ``prefix`` and every path under it with ``handler``, for
        callers ``permission`` allows."""
        prefix = prefix.rstrip("/")
        route = _Route(method, prefix + "/{path}", handler, permission, resolve)
        self._streams.append((method, prefix, route))
        self._streams.sort(key=lambda s: -len(s[1]))
        self._declared.append(route)

    def templates(self) -> list[str]:
        """Every path template the face answers (for the permission and docs listings)."""
        self._load()
        return sorted({*self._router.templates(), *(p + "/{path}" for _m, p, _r in self._streams)})

    def permissions(self) -> list[tuple[str, str, Permission | None]]:
        """``(method, path template, permission)`` of every route (``None``: undeclared, so
        refused while auth is on), for the permission-matrix test and the docs."""
        self._load()
        return sorted(
            ((r.method, r.template, r.permission) for r in self._declared),
            key=lambda item: (item[1], item[0]),
        )

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
        caller = scope.get("heron.caller")
        project = scope.get("heron.project")
        prefix = f"/projects/{quote(project, safe='')}" if project else ""
        try:
            stream = self._stream_for(method, raw)
            if stream is not None:
                route, rest = stream
                request = Request(method, scope["path"], {"path": rest}, query, b"", headers, self)
                request.caller, request.prefix = caller, prefix
                return route.template, await self._stream(route, request, receive, send)
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
            request.caller, request.prefix = caller, prefix
            if route.inline and len(body) <= INLINE_BYTES:
                status, payload = self._answer(route, request)
            else:
                status, payload = await asyncio.get_running_loop().run_in_executor(
                    self.app.pool, self._answer, route, request
                )
            await _send(send, status, payload)
            return route.template, status
        except errors.MlflowError as e:
            await _send(send, e.status, orjson.dumps(e.body()))
            return scope["path"], e.status
        except HeronError as e:
            translated = errors.from_heron(e)
            await _send(send, translated.status, orjson.dumps(translated.body()))
            return scope["path"], translated.status

    def _answer(self, route: _Route, request: Request) -> tuple[int, bytes]:
        """Authorize, then run a JSON route's handler: ``(status, JSON body)``."""
        try:
            request.grant = self.authorize(route, request)
            with request.grant.recording():
                result = route.handler(request)
        except errors.MlflowError as e:
            return e.status, orjson.dumps(e.body())
        except HeronError as e:
            translated = errors.from_heron(e)
            return translated.status, orjson.dumps(translated.body())
        answer = result if result is not None else {}
        return 200, orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)

    async def _stream(self, route: _Route, request: Request, receive: Receive, send: Send) -> int:
        guard = self.app.guard
        try:
            if guard.enabled:  # the checks may read the database: off the event loop
                request.grant = await asyncio.get_running_loop().run_in_executor(
                    self.app.pool, self.authorize, route, request
                )
            else:
                request.grant = self.authorize(route, request)
        except BaseException:
            await drain(receive)  # the client is sending a body: read it, then answer
            raise
        with request.grant.recording():
            return int(await route.handler(request, receive, send))

    def authorize(self, route: _Route, request: Request) -> Any:
        """The guard's grant for ``request`` on ``route`` (raises its 401, 403 or 404). A
        request whose fields cannot be read is checked on its project, then answered 400."""
        guard = self.app.guard
        caller = request.caller
        if caller is None:  # a face not behind the app (tests): the app's own caller
            from heron.server.auth.guard import Caller

            caller = request.caller = Caller(None, None, self.store.project)
        if not guard.enabled:  # everything is allowed: the handler reads the fields itself
            return guard.authorize(
                caller,
                route.permission,
                {},
                method=request.method,
                route=route.template,
                action=route.action,
            )
        problem: Exception | None = None
        arguments: dict[str, Any] = {}
        try:
            arguments = dict(request.args())
        except errors.MlflowError as e:
            problem = e
        if problem is None:
            try:
                self._resolve(route, request, arguments)
            except (errors.MlflowError, HeronError) as e:
                problem = e
        grant = guard.authorize(
            caller,
            route.permission,
            arguments,
            method=request.method,
            route=route.template,
            action=route.action,
        )
        if problem is not None:
            raise problem
        return grant

    def _resolve(self, route: _Route, request: Request, arguments: dict[str, Any]) -> None:
        """The arguments as the permission's targets read them: ``run_id`` also from
        ``run_uuid``, the path's values, MLflow's experiment ``"0"`` as the Heron id of the
        request project's default experiment, and the route's own ``resolve``."""
        run_uuid = arguments.get("run_uuid")
        if not arguments.get("run_id") and isinstance(run_uuid, str):
            arguments["run_id"] = run_uuid
        for key, value in request.values.items():
            arguments.setdefault(key, value)
        if "experiment_id" in arguments or "experiment_ids" in arguments:
            _default_experiment(self.store.in_project(request.caller.project), arguments)
        if route.resolve is not None:
            route.resolve(request, arguments)

    def _stream_for(self, method: str, raw: str) -> tuple[_Route, str] | None:
        from urllib.parse import unquote

        path = raw.rstrip("/")
        wrong_method = False
        for route_method, prefix, route in self._streams:
            if path == prefix or path.startswith(prefix + "/"):
                if route_method != method:
                    wrong_method = True
                    continue
                return route, unquote(path[len(prefix) + 1 :])
        if wrong_method and self._router.match(method, raw) is None:
            raise errors.MlflowError(errors.BAD_REQUEST, f"{method} is not allowed on {raw}.", 405)
        return None


def _default_experiment(store: Any, arguments: dict[str, Any]) -> None:
    """MLflow's experiment ``"0"`` in the arguments as the id of the project's default
    experiment, so that the guard checks that experiment's project; left out when the
    experiment does not exist yet (the guard then checks the request's project)."""
    zero = convert.DEFAULT_MLFLOW_ID
    single = arguments.get("experiment_id")
    if single is not None and str(single) == zero:
        found = convert.existing_default_experiment_id(store)
        if found is None:
            del arguments["experiment_id"]
        else:
            arguments["experiment_id"] = found
    listed = arguments.get("experiment_ids")
    if isinstance(listed, (str, int)):
        listed = [listed]
    if isinstance(listed, list) and any(str(e) == zero for e in listed):
        found = convert.existing_default_experiment_id(store)
        kept = [found if str(e) == zero else e for e in listed]
        kept = [e for e in kept if e is not None]
        if kept:
            arguments["experiment_ids"] = kept
        else:
            del arguments["experiment_ids"]


async def drain(receive: Receive) -> None:
    """Read the rest of a request's body (before answering an error to an upload)."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _send(send: Send, status: int, body: bytes) -> None:
    headers = [*_JSON, (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers += _CHALLENGE
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
