"""The tracking server's ASGI app: the REST API over one ``SqlStore`` and artifact store.

- ``/api/v1/...``: every Store method (:mod:`heron.store.rest.protocol`, answered by
  :mod:`heron.server.api`), the artifact bytes (:mod:`heron.server.artifact_routes`),
  ``GET /api/v1/info`` (version, artifact root) and ``POST /api/v1/gc``;
- ``GET /health``: 200 ``{"status": "ok"}`` when the database answers, else 503;
- ``GET /metrics``: Prometheus text (:mod:`heron.server.observability`);
- ``GET /docs`` and ``GET /openapi.json``: the OpenAPI description (:mod:`heron.server.openapi`);
- MLflow's REST API (``/api/2.0/mlflow…``, :mod:`heron.server.mlflow`);
- the dashboard (``/`` and its pages, ``/static/…``: :mod:`heron.server.dashboard`).

Like the scoring server, :class:`TrackingApp` is a plain ASGI callable: the hot routes (log a
batch, create a run, heartbeat) go from uvicorn to pydantic-core, the store and orjson with
no framework between, on the event loop when their body is small (:data:`INLINE_ROUTES`);
other store calls run in a thread pool. FastAPI is loaded only to
render ``/docs``. Bodies are limited to ``max_body_bytes`` (413); unknown paths are 404,
wrong methods 405; a 500 is a bug and is logged with its traceback.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import orjson

from heron._version import __version__
from heron.core.errors import HeronError
from heron.server import api
from heron.server.artifact_routes import ArtifactRoutes
from heron.server.auth import heron_routes
from heron.server.auth.guard import Caller, Guard
from heron.server.observability import ServerMetrics, log_access
from heron.server.routing import Router
from heron.server.settings import ServerSettings
from heron.store.rest import protocol

log = logging.getLogger("heron.server")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]

# The hot routes with small bodies are answered on the event loop itself: a hop to a worker
# thread and back costs more than the store call (2.5x fewer requests/s measured on 2 cores),
# and these calls are one short transaction each. Everything else, and large batches, runs
# in the thread pool so that the loop keeps answering while it works.
INLINE_ROUTES = frozenset(
    {"create_run", "log_batch", "heartbeat", "update_run", "get_run", "get_experiment"}
)
INLINE_BYTES = 64 * 1024
_ARTIFACTS = protocol.API_PREFIX + "/artifacts/"
_MLFLOW = ("/api/2.0/mlflow/", "/api/2.0/mlflow-artifacts/", "/api/3.0/mlflow/")
_ADMIN = protocol.API_PREFIX + "/admin/"
#: ``/projects/<name>/api/...``: the API in that project (an MLflow client's tracking URI
#: ``http://host:5151/projects/fraud`` works in project ``fraud``)
_PROJECTS = "/projects/"


#: the artifact byte routes (answered by :class:`ArtifactRoutes`)
ARTIFACT_ROUTES = (
    ("HEAD", protocol.API_PREFIX + "/artifacts/objects/{hash}"),
    ("GET", protocol.API_PREFIX + "/artifacts/objects/{hash}"),
    ("PUT", protocol.API_PREFIX + "/artifacts/objects/{hash}"),
    ("PUT", protocol.API_PREFIX + "/artifacts/uploads/{upload_id}"),
    ("POST", protocol.API_PREFIX + "/artifacts/uploads/{upload_id}/commit"),
)
_ARTIFACT_ROUTER: Router[str] = Router()
for _method, _template in ARTIFACT_ROUTES:
    _ARTIFACT_ROUTER.add(_method, _template, _template)


class BodyTooLarge(HeronError):
    code = "BODY_TOO_LARGE"
    http_status = 413


class NoRoute(HeronError):
    code = "NOT_FOUND"
    http_status = 404


class WrongMethod(HeronError):
    code = "METHOD_NOT_ALLOWED"
    http_status = 405


class ContextPool(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitting task's context, so that the request's
    caller and pending audit entry travel with its store calls."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        context = contextvars.copy_context()
        return super().submit(context.run, fn, *args, **kwargs)


class TrackingApp:
    """``heron server``'s app; build it with :func:`create_app`."""

    def __init__(self, settings: ServerSettings, store: Any, blobs: Any) -> None:
        self.settings = settings
        self.store = store
        self.blobs = blobs
        self.pool = ContextPool(max_workers=16, thread_name_prefix="heron-server")
        self.guard = Guard(store, enabled=settings.auth, default_role=settings.default_role)
        self.metrics = ServerMetrics(self._active_runs)
        self.router: Router[protocol.Route] = Router()
        for route in protocol.ROUTES:
            self.router.add(route.method, route.full_path, route)
        self.artifacts = ArtifactRoutes(blobs, self.pool, self._count_bytes)
        self.artifact_root = blobs.uri_of("0" * 64).rsplit("/objects/", 1)[0]
        self._reaper: threading.Thread | None = None
        self._stopping = threading.Event()
        self._docs_app: Any = None
        self._mlflow: Any = None
        self._pages: Any = None
        self._admin_api: Any = None

    # --- the ASGI entry point -----------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(receive, send)
            return
        if kind != "http":
            return
        started = time.perf_counter()
        method = scope["method"]
        path = scope["path"]
        label = path
        status = 500
        size = 0
        sender = _Counting(send)
        try:
            if path.startswith(_PROJECTS):
                scope, path = _in_project(scope, path)
            caller = self.guard.caller_inline(scope)
            if caller is None:  # a password to hash: off the event loop
                caller = await asyncio.get_running_loop().run_in_executor(
                    self.pool, self.guard.caller, scope
                )
            scope["heron.caller"] = caller
            label, status = await self._dispatch(scope, receive, sender, method, path)
        except HeronError as e:
            status = e.http_status
            if path.startswith(_MLFLOW):  # a wrong token or password: MLflow's client reads
                from heron.server.mlflow.errors import from_heron  # its own error shape

                translated = from_heron(e)
                status = translated.status
                await _send(sender, status, orjson.dumps(translated.body()))
            else:
                await _send(sender, status, orjson.dumps(e.to_dict()))
        except Exception:
            log.exception(
                "Unexpected error answering %s %s (a bug: please report it)", method, path
            )
            status = 500
            if not sender.started:
                body = {
                    "error": {
                        "code": "INTERNAL_ERROR",
                        "message": "The server met an unexpected error (a bug; its log has the "
                        "traceback). Nothing of this request was recorded unless it said so.",
                    }
                }
                await _send(sender, 500, orjson.dumps(body))
        finally:
            status = sender.status or status
            size = sender.size
            self.metrics.observe(label, method, status, time.perf_counter() - started)
            if self.settings.access_log:
                log_access(method, path, status, started, size, scope.get("client"))

    async def _dispatch(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> tuple[str, int]:
        raw_path = scope.get("raw_path") or path.encode()
        raw = raw_path.decode("latin-1").split("?", 1)[0]
        if path.startswith(_ARTIFACTS):
            return await self._artifacts(scope, receive, send, method, raw)
        if path.startswith(_ADMIN):
            return await self._admin().dispatch(scope, receive, send, method, raw)
        if path.startswith(_MLFLOW):
            return await self._mlflow_face().dispatch(scope, receive, send, method, raw)
        match = self.router.match(method, raw)
        if match is None:
            if not path.startswith(("/api/", "/docs", "/openapi", "/health", "/metrics")) and (
                self._dashboard().owns(method, raw) or _wants_html(scope)
            ):
                return await self._dashboard().dispatch(scope, receive, send, method, raw)
            return await self._other(scope, receive, send, method, path)
        if match is False:
            raise WrongMethod(f"{method} is not allowed on {path}; see /docs for the routes.")
        route, values = match
        caller: Caller = scope["heron.caller"]
        permission = heron_routes.STORE_ROUTES.get(route.name)
        if self.guard.enabled and (
            caller.identity is None or (permission is not None and permission.level == "admin")
        ):
            await asyncio.get_running_loop().run_in_executor(
                self.pool,
                lambda: self.guard.require_identity(
                    caller, permission, method=method, route=route.full_path, action=route.name
                ),
            )
        body = await self._read_body(scope, receive)
        headers = dict(scope["headers"])

        def authorize(arguments: dict[str, Any]) -> Any:
            return self.guard.authorize(
                caller,
                permission,
                arguments,
                method=method,
                route=route.full_path,
                action=route.name,
            )

        arguments = (
            authorize,
            route,
            values,
            scope.get("query_string", b""),
            body,
            headers,
            self._store_timing,
        )
        if route.name in INLINE_ROUTES and len(body) <= INLINE_BYTES:
            status, payload = api.handle(*arguments)
        else:
            status, payload = await asyncio.get_running_loop().run_in_executor(
                self.pool, api.handle, *arguments
            )
        await _send(send, status, payload)
        return route.full_path, status

    async def _other(
        self, scope: Scope, receive: Receive, send: Send, method: str, path: str
    ) -> tuple[str, int]:
        answer = self._special_routes().get((method, path))
        if answer is None:
            if any(p == path for _m, p in self._special_routes()):
                raise WrongMethod(f"{method} is not allowed on {path}.")
            raise NoRoute(
                f"No route {method} {path}. The REST API is under {protocol.API_PREFIX} "
                "(see /docs); the server also answers /health and /metrics."
            )
        permission = heron_routes.OTHER_ROUTES.get((method, path))
        grant = await self._authorize(scope, permission, {}, method, path, path)
        with grant.recording():
            status = await answer(scope, receive, send)
        return path, status

    def _special_routes(self) -> dict[tuple[str, str], Callable[[Scope, Receive, Send], Any]]:
        """The server's own paths beside the Store routes, by (method, path)."""
        return {
            ("GET", "/health"): self._answer_health,
            ("HEAD", "/health"): self._answer_health,
            ("GET", "/metrics"): self._answer_metrics,
            ("GET", protocol.API_PREFIX + "/info"): self._answer_info,
            ("POST", protocol.API_PREFIX + "/gc"): self._answer_gc,
            ("GET", "/docs"): self._answer_docs,
            ("GET", "/docs/oauth2-redirect"): self._answer_docs,
            ("GET", "/openapi.json"): self._answer_docs,
        }

    async def _answer_health(self, scope: Scope, receive: Receive, send: Send) -> int:
        ok, detail = await asyncio.get_running_loop().run_in_executor(self.pool, self._health)
        body = {"status": "ok" if ok else "unavailable", "version": __version__}
        if not ok:
            body["detail"] = detail
        await _send(send, 200 if ok else 503, orjson.dumps(body))
        return 200 if ok else 503

    async def _answer_metrics(self, scope: Scope, receive: Receive, send: Send) -> int:
        text, content_type = await asyncio.get_running_loop().run_in_executor(
            self.pool, self.metrics.render
        )
        await _send(send, 200, text, [(b"content-type", content_type.encode())])
        return 200

    async def _answer_info(self, scope: Scope, receive: Receive, send: Send) -> int:
        await _send(send, 200, orjson.dumps({"result": self.info()}))
        return 200

    async def _answer_gc(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = await self._read_body(scope, receive)
        result = await asyncio.get_running_loop().run_in_executor(self.pool, self._gc, body)
        await _send(send, 200, orjson.dumps({"result": result}))
        return 200

    async def _answer_docs(self, scope: Scope, receive: Receive, send: Send) -> int:
        await self._docs(scope, receive, send)
        return 200

    def route_permissions(self) -> list[tuple[str, str, str, Any]]:
        """Every route this app answers, as (face, method, path template, its declared
        Permission or ``None``): Heron's Store routes, the server's own paths, artifact bytes,
        the admin API, MLflow's API and the dashboard's pages. The permission-matrix test
        walks this list, so a route added anywhere is checked."""
        routes: list[tuple[str, str, str, Any]] = []
        for route in protocol.ROUTES:
            permission = heron_routes.STORE_ROUTES.get(route.name)
            routes.append(("heron", route.method, route.full_path, permission))
        for method, path in self._special_routes():
            routes.append(("server", method, path, heron_routes.OTHER_ROUTES.get((method, path))))
        for method, template in ARTIFACT_ROUTES:
            permission = heron_routes.OTHER_ROUTES.get((method, template))
            routes.append(("artifacts", method, template, permission))
        from heron.server.auth.admin_api import PREFIX, ROUTES

        for (method, template), (permission, _handler) in ROUTES.items():
            routes.append(("admin", method, PREFIX + template, permission))
        for method, template, permission in self._mlflow_face().permissions():
            routes.append(("mlflow", method, template, permission))
        for method, template, permission in self._dashboard().permissions():
            routes.append(("dashboard", method, template, permission))
        return routes

    async def _artifacts(
        self, scope: Scope, receive: Receive, send: Send, method: str, raw: str
    ) -> tuple[str, int]:
        from urllib.parse import unquote

        rest = raw[len(_ARTIFACTS) :].strip("/").split("/")
        query = scope.get("query_string", b"")
        headers = dict(scope["headers"])
        match = _ARTIFACT_ROUTER.match(method, raw)
        if match:
            template, values = match
            permission = heron_routes.OTHER_ROUTES.get((method, template))
            action = "artifact." + template.rsplit("/", 1)[-1].strip("{}")
            await self._authorize(scope, permission, values, method, template, action)
        elif match is False:
            raise WrongMethod(f"{method} is not allowed on {scope['path']}.")
        if len(rest) == 2 and rest[0] == "objects":
            content_hash = unquote(rest[1])
            label = protocol.API_PREFIX + "/artifacts/objects/{hash}"
            if method == "HEAD":
                await self.artifacts.head(content_hash, send)
            elif method == "GET":
                await self.artifacts.get(content_hash, query, headers, send)
            elif method == "PUT":
                await self.artifacts.put_object(content_hash, receive, send)
            else:
                raise WrongMethod(f"{method} is not allowed on artifact objects.")
            return label, 200
        if len(rest) in (2, 3) and rest[0] == "uploads":
            upload_id = unquote(rest[1])
            if len(rest) == 2 and method == "PUT":
                await self.artifacts.put_member(upload_id, query, receive, send)
                return protocol.API_PREFIX + "/artifacts/uploads/{upload_id}", 201
            if len(rest) == 3 and rest[2] == "commit" and method == "POST":
                body = await self._read_body(scope, receive)
                await self.artifacts.commit_upload(upload_id, body, send)
                return protocol.API_PREFIX + "/artifacts/uploads/{upload_id}/commit", 201
            raise WrongMethod(f"{method} is not allowed on {scope['path']}.")
        raise NoRoute(f"No artifact route {scope['path']}; see /docs.")

    # --- pieces -------------------------------------------------------------------------
    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.settings.max_body_bytes
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    raise BodyTooLarge(
                        f"The request body ({declared:,} bytes) is larger than the server "
                        f"accepts ({limit:,}). Send fewer points per batch."
                    )
        chunks = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return b""
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyTooLarge(
                    f"The request body is larger than the server accepts ({limit:,} bytes)."
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)

    def info(self) -> dict[str, Any]:
        return {
            "version": __version__,
            "protocol": protocol.PROTOCOL_VERSION,
            "artifact_root": self.artifact_root,
            "max_body_bytes": self.settings.max_body_bytes,
        }

    def _health(self) -> tuple[bool, str]:
        try:
            self.store.ping()
        except Exception as e:
            return False, f"the metadata database does not answer: {e}"
        return True, ""

    def _active_runs(self) -> int:
        return self.store.count_running_runs()

    def _gc(self, body: bytes) -> dict[str, Any]:
        from dataclasses import asdict

        from heron.tracking.gc import collect

        try:
            options = orjson.loads(body) if body.strip() else {}
        except orjson.JSONDecodeError:
            options = None
        if not isinstance(options, dict) or set(options) - {"dry_run", "min_age"}:
            raise api.RequestInvalid('Send {"dry_run": bool, "min_age": seconds}.')
        dry_run = options.get("dry_run", False)
        min_age = options.get("min_age", 3600.0)
        if not isinstance(dry_run, bool) or not isinstance(min_age, (int, float)) or min_age < 0:
            raise api.RequestInvalid("dry_run must be true or false and min_age seconds >= 0.")
        return asdict(collect(self.store, self.blobs, dry_run=dry_run, min_age=float(min_age)))

    async def _authorize(
        self,
        scope: Scope,
        permission: Any,
        arguments: dict[str, Any],
        method: str,
        route: str,
        action: str,
    ) -> Any:
        """The guard's grant for a route answered here (its checks may read the database)."""
        caller = scope["heron.caller"]
        if not self.guard.enabled:
            return self.guard.authorize(
                caller, permission, arguments, method=method, route=route, action=action
            )
        return await asyncio.get_running_loop().run_in_executor(
            self.pool,
            lambda: self.guard.authorize(
                caller, permission, arguments, method=method, route=route, action=action
            ),
        )

    def _admin(self) -> Any:
        """The admin API of users, tokens, projects and the audit log (loaded on first use)."""
        if self._admin_api is None:
            from heron.server.auth.admin_api import AdminApi

            self._admin_api = AdminApi(self)
        return self._admin_api

    def _mlflow_face(self) -> Any:
        """MLflow's REST API on this server's data (loaded on its first request)."""
        if self._mlflow is None:
            from heron.server.mlflow.face import MlflowFace

            self._mlflow = MlflowFace(self)
        return self._mlflow

    def _dashboard(self) -> Any:
        """The dashboard's pages (loaded on first use)."""
        if self._pages is None:
            from heron.server.dashboard.face import DashboardFace

            self._pages = DashboardFace(self)
        return self._pages

    def _store_timing(self, operation: str, seconds: float) -> None:
        self.metrics.store_time.labels(operation).observe(seconds)

    def _count_bytes(self, direction: str, size: int) -> None:
        self.metrics.artifact_bytes.labels(direction).inc(size)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._docs_app is None:
            from heron.server.openapi import docs_app

            self._docs_app = docs_app(self)
        await self._docs_app(scope, receive, send)

    # --- lifespan: the reaper of runs whose heartbeats stopped ---------------------------
    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_reaper()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._stopping.set()
                self.pool.shutdown(wait=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start_reaper(self) -> None:
        if self._reaper is not None or self.settings.reap_interval <= 0:
            return
        self._reaper = threading.Thread(target=self._reap_loop, name="heron-reaper", daemon=True)
        self._reaper.start()

    def _reap_loop(self) -> None:
        while not self._stopping.wait(self.settings.reap_interval):
            try:
                reaped = self.store.reap_dead_runs()
                if reaped:
                    log.info("Marked %d run(s) failed: their heartbeats stopped.", reaped)
            except Exception as e:  # the database may be down for a while: try again later
                log.warning("Could not look for dead runs: %s", e)


def _in_project(scope: Scope, path: str) -> tuple[Scope, str]:
    """``/projects/<name>/api/...`` as ``/api/...`` in project ``name``."""
    from urllib.parse import unquote

    raw = (scope.get("raw_path") or path.encode()).decode("latin-1")
    parts = raw.split("/", 3)  # "", "projects", name, rest
    if len(parts) < 4 or not parts[3].startswith("api/"):
        return scope, path
    rest = "/" + parts[3]
    scope = dict(scope)
    scope["heron.project"] = unquote(parts[2])
    scope["raw_path"] = rest.encode("latin-1")
    scope["path"] = unquote(rest.split("?", 1)[0])
    return scope, scope["path"]


def _wants_html(scope: Scope) -> bool:
    """A browser's request (it accepts HTML): an unknown path gets the dashboard's 404 page."""
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value
    return False


class _Counting:
    """Wraps ``send`` to remember the status and body size sent."""

    __slots__ = ("_send", "size", "started", "status")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status = 0
        self.size = 0
        self.started = False

    async def __call__(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
        elif message["type"] == "http.response.body":
            self.size += len(message.get("body", b""))
        await self._send(message)


async def _send(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    response_headers = list(headers if headers is not None else _JSON)
    response_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})


def create_app(settings: ServerSettings) -> TrackingApp:
    """The app over the settings' stores (the database is migrated already)."""
    from heron.artifacts.store import ArtifactStore
    from heron.store.sql.store import SqlStore

    return TrackingApp(
        settings, SqlStore(settings.backend_store_uri), ArtifactStore(settings.artifacts_uri)
    )


def app_from_env() -> TrackingApp:
    """The app of a uvicorn worker process (settings from the environment)."""
    settings = ServerSettings.from_env()
    logging_setup(settings)
    buffer_request_bodies()
    return create_app(settings)


# How much of a request body uvicorn reads ahead of the app before it stops reading the
# socket (its own default is 64 KiB).
BODY_READ_AHEAD = 4 * 1024 * 1024


def buffer_request_bodies() -> None:
    """Let uvicorn read up to :data:`BODY_READ_AHEAD` bytes of a request body before it
    pauses the connection. At its default, an artifact upload reaches the app in 256 KiB
    messages, each one a pause and resume of the socket and a wake-up of the app: receiving a
    gigabyte cost the event loop 0.9 s of CPU, against 0.6 s with 4 MiB. Memory stays bounded
    (4 MiB per connection while the app is busy). uvicorn reads the limit from a module
    constant of its HTTP protocol modules; one without it is left alone."""
    import importlib

    for name in ("httptools_impl", "h11_impl"):
        try:
            module = importlib.import_module(f"uvicorn.protocols.http.{name}")
        except ImportError:  # httptools is not installed
            continue
        if isinstance(getattr(module, "HIGH_WATER_LIMIT", None), int):
            module.HIGH_WATER_LIMIT = BODY_READ_AHEAD  # type: ignore[attr-defined]


def logging_setup(settings: ServerSettings) -> None:
    """Access log lines (JSON) and server messages on stderr."""
    root = logging.getLogger("heron.server")
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    logging.getLogger("heron.server.access").setLevel(
        logging.INFO if settings.access_log else logging.WARNING
    )
