"""The dashboard's dispatcher, its request, its templates and its static files.

A page is ``handler(request) -> Page``: it runs in the server's thread pool (it reads the
store) and returns the template to render with its context, or raw HTML/JSON/SVG bytes.
Pages raise :class:`PageError` (or let a :class:`~heron.core.errors.HeronError` through) for an
error page that says what happened, with the status that fits (404 an unknown id, 400 a bad
query); anything else is a bug, answered by a 500 page and logged with its traceback.

Templates are autoescaped: every value a page shows (run names, tags, params, previews) is
escaped unless a template marks it safe, which only markup the dashboard builds itself may be.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import mimetypes
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

from heron.core.errors import HeronError, NotFound
from heron.server.routing import Router

log = logging.getLogger("heron.server.dashboard")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HERE = Path(__file__).resolve().parent
STATIC_PREFIX = "/static/"
_HTML = b"text/html; charset=utf-8"


class PageError(Exception):
    """An error page: ``status`` (404, 400...), a title and what to do about it."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail


@dataclass
class Page:
    """What a page answers: a ``template`` with its ``context``, or ``body`` bytes of
    ``content_type``; ``status`` 200 unless told."""

    template: str | None = None
    context: dict[str, Any] = field(default_factory=dict)
    body: bytes | None = None
    content_type: bytes = _HTML
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)


@dataclass
class Request:
    """One request to a dashboard page."""

    method: str
    path: str
    #: the values of the route template's ``{field}`` segments
    values: dict[str, str]
    query: dict[str, list[str]]
    headers: dict[bytes, bytes]
    face: DashboardFace

    @property
    def store(self) -> Any:
        """The server's ``SqlStore``."""
        return self.face.store

    @property
    def blobs(self) -> Any:
        """The server's ``ArtifactStore``."""
        return self.face.blobs

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query-string value (the last one given)."""
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """Every value of a repeated query-string key."""
        return list(self.query.get(name, []))

    def int_arg(self, name: str, default: int, low: int = 0, high: int = 10**9) -> int:
        """An integer query value in ``[low, high]``; 400 page when it is not one."""
        raw = self.arg(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise PageError(400, f"{name} must be a whole number, not {raw!r}.") from None
        if not low <= value <= high:
            raise PageError(400, f"{name} must be between {low} and {high}, not {value}.")
        return value

    def url(self, **changes: Any) -> str:
        """This page's URL with some query values changed (``None`` removes one): the links
        of sorting, paging and filtering keep the rest of the query."""
        query = {k: list(v) for k, v in self.query.items()}
        for key, value in changes.items():
            if value is None:
                query.pop(key, None)
            elif isinstance(value, (list, tuple)):
                query[key] = [str(v) for v in value]
            else:
                query[key] = [str(value)]
        encoded = urlencode([(k, v) for k, vs in sorted(query.items()) for v in vs])
        return self.path + ("?" + encoded if encoded else "")


PageHandler = Callable[[Request], Page]


class DashboardFace:
    """The dashboard of one :class:`~heron.server.app.TrackingApp`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.store = app.store
        self.blobs = app.blobs
        self._router: Router[tuple[str, PageHandler]] = Router()
        self._loaded = False
        self._env: Any = None
        #: what every template may use: the nav, filters and helpers (see :meth:`template_global`)
        self._globals: dict[str, Any] = {}

    # --- declaring pages -----------------------------------------------------------------
    def page(self, method: str, template: str, handler: PageHandler) -> None:
        """Answer ``method template`` (``{field}`` segments allowed) with ``handler``."""
        self._router.add(method, template, (template, handler))

    def template_global(self, name: str, value: Any) -> None:
        """Make ``value`` available to every template as ``name`` (a helper or a filter)."""
        self._globals[name] = value

    def templates(self) -> list[str]:
        """Every path template the dashboard answers (for the permission listing)."""
        self._load()
        return [*self._router.templates(), STATIC_PREFIX + "{path}"]

    def owns(self, method: str, raw_path: str) -> bool:
        """Whether ``raw_path`` is a dashboard page or static file."""
        self._load()
        if raw_path.startswith(STATIC_PREFIX):
            return True
        return self._router.match(method, raw_path) is not None

    def _load(self) -> None:
        if self._loaded:
            return
        package = importlib.import_module(__package__ + ".pages")
        for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            register = getattr(module, "register", None)
            if register is not None:
                register(self)
        self._loaded = True

    # --- rendering -----------------------------------------------------------------------
    def environment(self) -> Any:
        """The Jinja2 environment (autoescaped, undefined names are errors)."""
        if self._env is None:
            import jinja2

            from heron._version import __version__

            env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(str(HERE / "templates")),
                autoescape=True,
                undefined=jinja2.StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
            )
            from heron.server.dashboard import format as fmt

            env.filters.update(fmt.FILTERS)
            env.globals.update({"heron_version": __version__, "static": STATIC_PREFIX})
            env.globals.update(self._globals)
            self._env = env
        return self._env

    def render(self, template: str, context: Mapping[str, Any]) -> bytes:
        return self.environment().get_template(template).render(**context).encode()

    # --- answering -----------------------------------------------------------------------
    async def dispatch(
        self, scope: dict[str, Any], receive: Receive, send: Send, method: str, raw: str
    ) -> tuple[str, int]:
        """Answer one request; ``(route label, status)`` for the server's metrics."""
        self._load()
        if raw.startswith(STATIC_PREFIX):
            return await self._static(raw[len(STATIC_PREFIX) :], method, send)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        match = self._router.match(method, raw)
        if match is None or match is False:
            status = 404 if match is None else 405
            page = self._error_page(
                status,
                "No such page" if status == 404 else f"{method} is not allowed here",
                f"{scope['path']} is not a page of the dashboard. Start from the experiments.",
            )
            await _send(send, page.status, page.body or b"", page.content_type)
            return scope["path"], status
        (label, handler), values = match
        request = Request(method, scope["path"], values, query, dict(scope["headers"]), self)
        page = await asyncio.get_running_loop().run_in_executor(
            self.app.pool, self._answer, handler, request
        )
        await _send(send, page.status, page.body or b"", page.content_type, page.headers)
        return label, page.status

    def _answer(self, handler: PageHandler, request: Request) -> Page:
        try:
            page = handler(request)
            if page.template is not None:
                context = {"request": request, **page.context}
                page.body = self.render(page.template, context)
            return page
        except PageError as e:
            return self._error_page(e.status, e.title, e.detail)
        except NotFound as e:
            return self._error_page(404, "Not found", str(e))
        except HeronError as e:
            return self._error_page(e.http_status, "That request cannot be answered", str(e))
        except Exception:
            log.exception("Unexpected error rendering %s (a bug: please report it)", request.path)
            return self._error_page(
                500,
                "The dashboard met an unexpected error",
                "This is a bug; the server's log has the traceback.",
            )

    def _error_page(self, status: int, title: str, detail: str) -> Page:
        context = {"status": status, "title": title, "detail": detail, "request": None}
        try:
            body = self.render("error.html", context)
        except Exception:  # the error page itself failed: plain text still says what happened
            log.exception("Could not render the error page")
            body = f"{status} {title}\n{detail}\n".encode()
        return Page(body=body, status=status)

    async def _static(self, name: str, method: str, send: Send) -> tuple[str, int]:
        label = STATIC_PREFIX + "{path}"
        root = HERE / "static"
        path = (root / name).resolve()
        if method not in ("GET", "HEAD") or root not in path.parents or not path.is_file():
            await _send(send, 404, b"Not found", b"text/plain; charset=utf-8")
            return label, 404
        content_type = (mimetypes.guess_type(path.name)[0] or "application/octet-stream").encode()
        if content_type.startswith(b"text/") or content_type.endswith(b"javascript"):
            content_type += b"; charset=utf-8"
        body = path.read_bytes()
        await _send(send, 200, body, content_type, [(b"cache-control", b"max-age=300")])
        return label, 200


async def _send(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    response_headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"same-origin"),
        *(headers or []),
    ]
    if content_type == _HTML:
        # no inline script runs: every script is a file of static/ (defence in depth against a
        # value that escaped escaping); previews of HTML reports are sandboxed frames
        response_headers.append(
            (
                b"content-security-policy",
                b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                b"frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'",
            )
        )
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
