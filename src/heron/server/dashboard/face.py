"""The dashboard's dispatcher, its request, its templates and its static files.

A page is ``handler(request) -> Page``: it runs in the server's thread pool (it reads the
store) and returns the template to render with its context, or raw HTML/JSON/SVG bytes.
Pages raise :class:`PageError` (or let a :class:`~heron.core.errors.HeronError` through) for an
error page that says what happened, with the status that fits (404 an unknown id, 400 a bad
query); anything else is a bug, answered by a 500 page and logged with its traceback.

Every page declares the :class:`~heron.server.auth.permissions.Permission` it needs
(:meth:`DashboardFace.page`); the dispatcher asks the server's guard once per request, before
the handler, and the handler reads ``request.store``: the store of that grant, scoped to the
page's project. A page about one object (a run, an experiment, an artifact version) is checked
on the object's own project; the lists are those of the project chosen in the header
(``?project=``, remembered in a cookie). With auth on, a visitor who has not signed in is sent
to ``/login`` (303), and a page they may not see is a 403 or 404 error page. Every form that
changes something is a POST carrying the session's CSRF token.

Templates are autoescaped: every value a page shows (run names, tags, params, previews) is
escaped unless a template marks it safe, which only markup the dashboard builds itself may be.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib
import logging
import mimetypes
import pkgutil
import re
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from heron.core.errors import HeronError, NotFound, PermissionDenied, Unauthenticated
from heron.server.auth.identity import SESSION_COOKIE

log = logging.getLogger("heron.server.dashboard")

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

HERE = Path(__file__).resolve().parent
STATIC_PREFIX = "/static/"
STATIC_TEMPLATE = STATIC_PREFIX + "{path}"
_HTML = b"text/html; charset=utf-8"
DEFAULT_PROJECT = "default"
#: the project chosen in the header, remembered between pages
PROJECT_COOKIE = "heron_project"
LOGIN_PATH = "/login"
#: the largest form body a page accepts
MAX_FORM_BYTES = 64 * 1024
#: how long the list of projects the header offers is reused
PROJECTS_SECONDS = 2.0
_PROJECT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_YEAR = 365 * 24 * 3600
#: target kinds naming objects that belong to one project
_OWNED_KINDS = ("experiment", "experiments", "run", "runs", "artifact")


class PageError(Exception):
    """An error page: ``status`` (404, 400...), a title and what to do about it."""

    def __init__(self, status: int, title: str, detail: str = "") -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.detail = detail


class FormRefused(PermissionDenied):
    """A form POSTed without the session's CSRF token (403)."""


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


def redirect(location: str, status: int = 303) -> Page:
    """A redirect to ``location`` (a path of this site)."""
    return Page(body=b"", status=status, headers=[(b"location", location.encode("latin-1"))])


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
    #: the fields of a POSTed form (``application/x-www-form-urlencoded``)
    form: dict[str, list[str]] = field(default_factory=dict)
    #: who asks (:class:`heron.server.auth.guard.Caller`; ``None`` outside a server)
    caller: Any = None
    #: the guard's answer for this page (its ``store`` is the page's)
    grant: Any = None
    #: the project the page shows (the object's own for a page about one object)
    project: str = DEFAULT_PROJECT
    #: whether the browser reached us over https (directly or through a proxy)
    secure: bool = False
    #: ``Set-Cookie`` values the answer carries
    set_cookies: list[str] = field(default_factory=list)
    #: the project a link without ``?project=`` will show next (the cookie's)
    implied_project: str = DEFAULT_PROJECT
    _chrome: dict[str, Any] | None = field(default=None, repr=False)

    @property
    def store(self) -> Any:
        """The server's ``SqlStore``, scoped to the page's project when the guard granted it."""
        if self.grant is not None:
            return self.grant.store
        return self.face.store

    @property
    def blobs(self) -> Any:
        """The server's ``ArtifactStore``."""
        return self.face.blobs

    @property
    def guard(self) -> Any:
        """The server's guard (``None`` outside a server)."""
        return self.face.guard

    @property
    def identity(self) -> Any:
        """Who signed in (``None``: nobody, or auth is off)."""
        return self.caller.identity if self.caller is not None else None

    @property
    def auth(self) -> bool:
        """Whether the server runs with ``--auth``."""
        return bool(self.guard is not None and self.guard.enabled)

    def arg(self, name: str, default: str | None = None) -> str | None:
        """A query-string value (the last one given)."""
        values = self.query.get(name)
        return values[-1] if values else default

    def args(self, name: str) -> list[str]:
        """Every value of a repeated query-string key."""
        return list(self.query.get(name, []))

    def field_value(self, name: str) -> str:
        """A form field's value (the last one given; empty when absent)."""
        values = self.form.get(name)
        return values[-1] if values else ""

    def cookie(self, name: str) -> str | None:
        """A cookie's value, or ``None``."""
        return cookie_value(self.headers.get(b"cookie", b""), name)

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

    def in_project(self, href: str) -> str:
        """``href`` (a list page) showing this page's project: with ``?project=`` when a link
        without it would show another one."""
        if self.project == self.implied_project:
            return href
        return href + ("&" if "?" in href else "?") + "project=" + quote(self.project, safe="")

    def readable(self, kind: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` (``run``, ``experiment`` or ``artifact`` ids) the caller may read
        (all of them with auth off)."""
        ids = [i for i in ids if i]
        if self.guard is None or self.caller is None:
            return set(ids)
        return set(self.guard.readable(self.caller, kind, ids))

    def may(self, level: str, project: str | None = None) -> bool:
        """Whether the caller has ``level`` in ``project`` (the page's by default)."""
        if self.guard is None or self.caller is None:
            return True
        return bool(self.guard.may(self.caller, level, project or self.project))

    def csrf(self) -> str:
        """The CSRF token the page's POST forms carry (empty without a session)."""
        from heron.server.auth.identity import csrf_token

        secret = self.cookie(SESSION_COOKIE)
        if not secret or self.identity is None or self.identity.via != "session":
            return ""
        return csrf_token(secret)

    def chrome(self) -> dict[str, Any]:
        """What the header shows: who signed in, the projects to switch between, the links."""
        if self._chrome is None:
            self._chrome = self.face.chrome(self)
        return self._chrome


PageHandler = Callable[[Request], Page]


@dataclass(frozen=True)
class Route:
    """One page: ``method template``, its handler and the permission it needs."""

    method: str
    template: str
    handler: PageHandler
    permission: Any
    #: what a caller the permission refuses (403) is told, when the guard's words do not fit
    denied: str | None = None


class DashboardFace:
    """The dashboard of one :class:`~heron.server.app.TrackingApp`."""

    def __init__(self, app: Any) -> None:
        from heron.server.routing import Router

        self.app = app
        self.store = app.store
        self.blobs = app.blobs
        self.guard = getattr(app, "guard", None)
        self._router: Router[Route] = Router()
        self._routes: list[Route] = []
        self._loaded = False
        self._env: Any = None
        #: what every template may use: the nav, filters and helpers (see :meth:`template_global`)
        self._globals: dict[str, Any] = {}
        self._projects: tuple[float, list[str]] | None = None
        self._lock = threading.Lock()

    # --- declaring pages -----------------------------------------------------------------
    def page(
        self,
        method: str,
        template: str,
        handler: PageHandler,
        permission: Any = None,
        *,
        denied: str | None = None,
    ) -> None:
        """Answer ``method template`` (``{field}`` segments allowed) with ``handler``, for
        callers the guard grants ``permission`` (a page without one is refused with auth
        on, and fails the permission-matrix test); ``denied``: what a refused caller reads."""
        route = Route(method, template, handler, permission, denied)
        self._router.add(method, template, route)
        self._routes.append(route)

    def template_global(self, name: str, value: Any) -> None:
        """Make ``value`` available to every template as ``name`` (a helper or a filter)."""
        self._globals[name] = value

    def templates(self) -> list[str]:
        """Every path template the dashboard answers (for the permission listing)."""
        self._load()
        return [*self._router.templates(), STATIC_TEMPLATE]

    def permissions(self) -> list[tuple[str, str, Any]]:
        """Every route of the dashboard as ``(method, path template, Permission or None)``,
        the static files included (for the permission-matrix test)."""
        from heron.server.auth.permissions import PUBLIC

        self._load()
        listed = [(r.method, r.template, r.permission) for r in self._routes]
        listed += [("GET", STATIC_TEMPLATE, PUBLIC), ("HEAD", STATIC_TEMPLATE, PUBLIC)]
        return listed

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

    def chrome(self, request: Request) -> dict[str, Any]:
        """The header of ``request``'s page: the signed-in user, the CSRF token of the
        sign-out form, the projects of the switcher and whether the audit page is linked."""
        identity = request.identity
        projects = self.switchable_projects(request)
        audit = False
        if request.auth and identity is not None:
            audit = identity.is_admin or any(request.may("maintainer", p) for p in projects)
        list_page = request.path in ("/experiments", "/models", "/artifacts", "/pipelines")
        return {
            "user": identity.name if identity is not None else None,
            "admin": bool(identity is not None and identity.is_admin),
            "session": bool(identity is not None and identity.via == "session"),
            "csrf": request.csrf(),
            "auth": request.auth,
            "projects": projects,
            "project": request.project,
            "switcher": len(projects) > 1 or request.project != DEFAULT_PROJECT,
            "switch_action": request.path if list_page else "/experiments",
            "audit": audit,
        }

    def switchable_projects(self, request: Request) -> list[str]:
        """The projects the caller may read (every project with auth off or for admins),
        the page's own first among them if it is missing."""
        guard = self.guard
        if guard is None:
            return [request.project]
        readable = guard.readable_projects(request.identity) if guard.enabled else None
        names = self._all_projects() if readable is None else sorted(readable)
        if request.project not in names and (not guard.enabled or request.may("viewer")):
            names = sorted([*names, request.project])
        return names

    def _all_projects(self) -> list[str]:
        now = time.monotonic()
        cached = self._projects
        if cached is not None and now < cached[0]:
            return cached[1]
        names = [p.name for p in self.guard.governance.list_projects()]
        with self._lock:
            self._projects = (now + PROJECTS_SECONDS, names)
        return names

    # --- answering -----------------------------------------------------------------------
    async def dispatch(
        self, scope: dict[str, Any], receive: Receive, send: Send, method: str, raw: str
    ) -> tuple[str, int]:
        """Answer one request; ``(route label, status)`` for the server's metrics."""
        self._load()
        caller = scope.get("heron.caller")
        if raw.startswith(STATIC_PREFIX):
            if self.guard is not None and caller is not None:
                from heron.server.auth.permissions import PUBLIC

                # public and unaudited: answered without the database, on the loop
                self.guard.authorize(
                    caller, PUBLIC, {}, method=method, route=STATIC_TEMPLATE, action="static"
                )
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
        route, values = match
        form: dict[str, list[str]] = {}
        if method == "POST":
            try:
                form = await _read_form(scope, receive)
            except PageError as e:
                page = self._error_page(e.status, e.title, e.detail)
                await _send(send, page.status, page.body or b"", page.content_type)
                return route.template, e.status
        request = Request(
            method,
            scope["path"],
            values,
            query,
            dict(scope["headers"]),
            self,
            form=form,
            caller=caller,
            secure=_secure(scope),
        )
        pool = getattr(self.app, "pool", None)
        page = await asyncio.get_running_loop().run_in_executor(pool, self._serve, route, request)
        headers = [*page.headers, *((b"set-cookie", c.encode()) for c in request.set_cookies)]
        if self.guard is not None and self.guard.enabled and page.content_type == _HTML:
            # pages hold what only this user may see: no copy stays behind after signing out
            headers.append((b"cache-control", b"no-store"))
        await _send(send, page.status, page.body or b"", page.content_type, headers)
        return route.template, page.status

    def _serve(self, route: Route, request: Request) -> Page:
        """Authorize the request (the guard, then the CSRF token of a form), then answer it."""
        try:
            self._authorize(route, request)
        except Unauthenticated:
            return self._to_sign_in(request)
        except (PermissionDenied, NotFound, PageError, HeronError) as e:
            # the header shows the lists' project, never the one of an object refused; a
            # project refused is not remembered
            request.project = request.implied_project
            request.grant = None
            refused = f"{PROJECT_COOKIE}={request.arg('project')};"
            request.set_cookies = [c for c in request.set_cookies if not c.startswith(refused)]
            if isinstance(e, PageError):
                return self._error_page(e.status, e.title, e.detail, request)
            title = {404: "Not found", 403: "You may not see this"}.get(
                e.http_status, "That request cannot be answered"
            )
            detail = str(e)
            if isinstance(e, PermissionDenied) and route.denied and not isinstance(e, FormRefused):
                detail = route.denied
            return self._error_page(e.http_status, title, detail, request)
        except Exception:
            log.exception("Unexpected error authorizing %s (a bug: please report it)", request.path)
            return self._error_page(
                500,
                "The dashboard met an unexpected error",
                "This is a bug; the server's log has the traceback.",
            )
        if request.grant is None:
            return self._answer(route.handler, request)
        with request.grant.recording():
            return self._answer(route.handler, request)

    def _authorize(self, route: Route, request: Request) -> None:
        """Choose the page's project and ask the guard; raises what the guard raises, a
        :class:`PageError` for a bad ``?project=``, or 403 for a form without its token."""
        guard = self.guard
        caller = request.caller
        if guard is None or caller is None:
            return
        from heron.server.auth.guard import Caller

        self._choose_project(route, request)
        arguments = _arguments(route.permission, request)
        object_project = self._object_project(route.permission, arguments)
        if object_project is not None:
            request.project = object_project
        request.caller = Caller(caller.identity, caller.address, request.project)
        request.grant = guard.authorize(
            request.caller,
            route.permission,
            arguments,
            method=request.method,
            route=route.template,
            action="dashboard." + route.handler.__name__,
        )
        if request.method == "POST" and route.template != LOGIN_PATH:
            self._check_csrf(route, request)

    def _choose_project(self, route: Route, request: Request) -> None:
        """The project of the lists: ``?project=`` (then remembered in a cookie), else the
        ``X-Heron-Project`` header's, else the cookie's, else ``default`` (or the first the
        caller may read when they may not read ``default``)."""
        guard = self.guard
        explicit = request.arg("project")
        remembered = request.cookie(PROJECT_COOKIE)
        if not explicit and b"x-heron-project" in request.headers:
            # a client that names its project in the API's header gets that project's pages
            request.project = request.implied_project = request.caller.project
            return
        if explicit:
            if not _PROJECT_NAME.fullmatch(explicit):
                raise PageError(
                    400,
                    f"{explicit[:140]!r} is not a project name.",
                    "A project name is 1-128 letters, digits and . _ -, starting with a letter "
                    "or digit; the header lists the projects you may open.",
                )
            request.project = explicit
            if explicit != remembered:
                request.set_cookies.append(self._project_cookie(request, explicit))
            request.implied_project = explicit
            return
        if remembered and _PROJECT_NAME.fullmatch(remembered):
            signed_out = request.identity is None  # kept for after signing in
            if not guard.enabled or signed_out or request.may("viewer", remembered):
                request.project = request.implied_project = remembered
                return
            # a project the caller may no longer read: forget it rather than deny every list
            request.set_cookies.append(self._project_cookie(request, None))
        request.project = request.implied_project = self._first_project(request)

    def _first_project(self, request: Request) -> str:
        guard = self.guard
        if not guard.enabled or request.identity is None or request.may("viewer", DEFAULT_PROJECT):
            return DEFAULT_PROJECT
        readable = guard.readable_projects(request.identity)
        return sorted(readable)[0] if readable else DEFAULT_PROJECT

    def _project_cookie(self, request: Request, project: str | None) -> str:
        secure = "; Secure" if request.secure else ""
        if project is None:
            return f"{PROJECT_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax{secure}"
        return (
            f"{PROJECT_COOKIE}={project}; Path=/; Max-Age={_YEAR}; HttpOnly; SameSite=Lax{secure}"
        )

    def _object_project(self, permission: Any, arguments: Mapping[str, Any]) -> str | None:
        """The project of the object a page is about (its first target's), if it exists."""
        if permission is None:
            return None
        for target in permission.targets:
            value = arguments.get(target.field)
            if isinstance(value, (list, tuple)):
                value = value[0] if value else None
            if not value or target.kind not in _OWNED_KINDS:
                continue
            kind = target.kind.rstrip("s")
            return self.guard.project_of(kind, str(value))
        return None

    def _check_csrf(self, route: Route, request: Request) -> None:
        """A form POSTed with the session cookie carries the session's CSRF token (a page of
        another site cannot read it, so it cannot forge the form)."""
        identity = request.identity
        if not self.guard.enabled or identity is None or identity.via != "session":
            return  # a token or password in a header: a browser never adds those itself
        expected = request.csrf()
        given = request.field_value("csrf")
        if expected and given and hmac.compare_digest(expected, given):
            return
        from heron.store.sql import audit

        reason = "The form carried no valid CSRF token."
        record = audit.AuditRecord(
            user=identity.name,
            address=request.caller.address,
            method=request.method,
            route=route.template,
            action="dashboard." + route.handler.__name__,
            project=request.project,
            outcome="denied",
            status=403,
            detail={"reason": reason},
        )
        audit.write_denied(self.guard.store.engine, record)
        raise FormRefused(
            f"{reason} It was not sent by a page of this dashboard, or the page is older than "
            "your session: reload the page and try again."
        )

    def _to_sign_in(self, request: Request) -> Page:
        """303 to the sign-in page, which comes back here (GET) once signed in."""
        target = LOGIN_PATH
        if request.method == "GET" and request.path != LOGIN_PATH:
            here = request.url()
            target += "?" + urlencode({"next": here})
        page = redirect(target)
        if request.cookie(SESSION_COOKIE):  # an ended session: stop sending it
            request.set_cookies.append(session_cookie(request, None))
        return page

    def _answer(self, handler: PageHandler, request: Request) -> Page:
        try:
            page = handler(request)
            if page.template is not None:
                context = {"request": request, **page.context}
                page.body = self.render(page.template, context)
            return page
        except PageError as e:
            return self._error_page(e.status, e.title, e.detail, request)
        except NotFound as e:
            return self._error_page(404, "Not found", str(e), request)
        except PermissionDenied as e:
            return self._error_page(403, "You may not see this", str(e), request)
        except HeronError as e:
            return self._error_page(
                e.http_status, "That request cannot be answered", str(e), request
            )
        except Exception:
            log.exception("Unexpected error rendering %s (a bug: please report it)", request.path)
            return self._error_page(
                500,
                "The dashboard met an unexpected error",
                "This is a bug; the server's log has the traceback.",
            )

    def _error_page(
        self, status: int, title: str, detail: str, request: Request | None = None
    ) -> Page:
        context = {"status": status, "title": title, "detail": detail, "request": request}
        try:
            body = self.render("error.html", context)
        except Exception:  # the error page itself failed: plain text still says what happened
            log.exception("Could not render the error page")
            body = f"{status} {title}\n{detail}\n".encode()
        return Page(body=body, status=status)

    async def _static(self, name: str, method: str, send: Send) -> tuple[str, int]:
        label = STATIC_TEMPLATE
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


def _arguments(permission: Any, request: Request) -> dict[str, Any]:
    """What the guard checks the permission's targets against: the path's values, the
    query's (the last of each), and lists for the targets naming several objects
    (``?runs=a&runs=b`` or ``?runs=a,b``)."""
    arguments: dict[str, Any] = {k: v[-1] for k, v in request.query.items() if v}
    arguments.update(request.values)
    if permission is not None:
        for target in (*permission.targets, *(t for _, t in permission.also)):
            if target.kind in ("runs", "experiments"):
                ids = []
                for value in request.args(target.field):
                    ids += [part.strip() for part in value.split(",") if part.strip()]
                arguments[target.field] = list(dict.fromkeys(ids))
    return arguments


def cookie_value(header: bytes, name: str) -> str | None:
    """The value of cookie ``name`` in a ``Cookie`` header, or ``None``."""
    for part in header.decode("latin-1").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def session_cookie(request: Request, secret: str | None) -> str:
    """The ``Set-Cookie`` value of the dashboard session (``None``: clear it)."""
    secure = "; Secure" if request.secure else ""
    if secret is None:
        return f"{SESSION_COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0{secure}"
    return f"{SESSION_COOKIE}={secret}; HttpOnly; SameSite=Lax; Path=/{secure}"


def safe_next(value: str | None) -> str:
    """Where to go after signing in: ``value`` when it is a path of this site (``/runs/x``),
    else ``/`` (so that a link cannot send a user who signs in to another site)."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(c) < 32 or c == "\\" for c in value) or len(value) > 2000:
        return "/"
    return value


def _secure(scope: Mapping[str, Any]) -> bool:
    if scope.get("scheme") == "https":
        return True
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-proto":
            return value.decode("latin-1").split(",")[0].strip().lower() == "https"
    return False


async def _read_form(scope: Mapping[str, Any], receive: Receive) -> dict[str, list[str]]:
    """The fields of a form body (at most :data:`MAX_FORM_BYTES`)."""
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise PageError(413, "That form is too large", "Send at most 64 KiB of fields.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    content_type = b""
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            content_type = value.split(b";")[0].strip().lower()
    body = b"".join(chunks)
    if not body or content_type != b"application/x-www-form-urlencoded":
        return {}
    text = body.decode("latin-1")
    return parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="replace")


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
                b"frame-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'self'; "
                b"form-action 'self'",
            )
        )
    await send({"type": "http.response.start", "status": status, "headers": response_headers})
    await send({"type": "http.response.body", "body": body})
