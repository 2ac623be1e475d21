"""`GovernanceClient`: users, tokens, projects, roles and the audit log, locally or remotely.

Over a database URI (``sqlite:///…``, ``postgresql://…``) it reads and writes the governance
tables itself, as an administrator on the server's machine would: whoever can open the
database may do everything, and its writes are audited as user ``local:<os user>`` with route
``cli``, in the transaction of the change. Over an ``http(s)://`` URI it calls the server's
admin API (``/api/v1/admin/...``) with the credentials of the environment
(``HERON_TRACKING_TOKEN``, or ``HERON_TRACKING_USERNAME`` and ``HERON_TRACKING_PASSWORD``), and
the server checks what the caller may do. Both ways have the same methods, which return the
dataclasses of :mod:`heron.core.identities`.

>>> admin = GovernanceClient("sqlite:///srv/heron/heron.db")  # doctest: +SKIP
>>> admin.create_user("ana", "a long passphrase", admin=True)  # doctest: +SKIP
>>> token, secret = admin.create_token("laptop", user="ana")  # doctest: +SKIP
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar
from urllib.parse import quote

from heron.core import config, uris
from heron.core.errors import InvalidArgument
from heron.core.identities import ApiToken, AuditEntry, Project, User
from heron.core.ids import now_ms

#: where the admin API lives on a server
ADMIN_PREFIX = "/api/v1/admin"
#: the route audit entries of writes made straight to the database carry
LOCAL_ROUTE = "cli"
#: a tracking URI's ``/projects/<name>`` suffix: the admin API is server-wide
_PROJECT_SUFFIX = re.compile(r"/projects/[^/]+/?$")

T = TypeVar("T")


@dataclass(slots=True)
class WhoAmI:
    """Who the client acts as: ``via`` is ``token``, ``password`` or ``session`` on a server,
    ``database`` for an administrator who opened the database itself (always an admin)."""

    user: str
    admin: bool
    via: str
    roles: dict[str, str] = field(default_factory=dict)  # project -> role
    default_role: str | None = None


def local_user() -> str:
    """The audit trail's name of whoever writes to the database directly: ``local:<os user>``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        name = "unknown"
    return f"local:{name}"


def admin_base_url(uri: str) -> str:
    """The server's base URL for the admin API: ``uri`` without a ``/projects/<name>`` end."""
    return _PROJECT_SUFFIX.sub("", uri.rstrip("/"))


class GovernanceClient:
    """Users, API tokens, projects and roles, and the audit log of one store.

    ``tracking_uri`` (default: the tracking URI in force) names a database, whose tables are
    changed directly, or a Heron server, whose admin API is called.
    """

    def __init__(self, tracking_uri: str | None = None) -> None:
        uri = config.normalize_tracking_uri(tracking_uri or config.get_tracking_uri())
        self.uri = uri
        self.remote = uris.tracking_uri_kind(uri) == uris.HTTP
        self._store: Any = None
        self._session: Any = None
        if self.remote:
            from heron.store.rest.http import session_for

            self._session = session_for(admin_base_url(uri))
        else:
            from heron.store.sql.governance import GovernanceStore

            self._store = GovernanceStore(uri)

    def __repr__(self) -> str:
        return f"GovernanceClient({uris.redact(self.uri)!r})"

    # --- who ------------------------------------------------------------------------------
    def whoami(self) -> WhoAmI:
        """The user this client acts as, their admin flag and roles."""
        if not self.remote:
            return WhoAmI(local_user(), True, "database")
        return _build(WhoAmI, self._get("/whoami"))

    # --- users ----------------------------------------------------------------------------
    def list_users(self) -> list[User]:
        """Every user, by name (admins only, on a server)."""
        if not self.remote:
            return self._store.list_users()  # type: ignore[no-any-return]
        return [_build(User, u) for u in self._get("/users")]

    def create_user(self, name: str, password: str | None = None, *, admin: bool = False) -> User:
        """A new user. ``password=None`` makes a service account that signs in with API
        tokens only. Passwords are kept as argon2id hashes."""
        if not self.remote:
            with self._recording("POST", "create_user", "user", name, detail={"admin": admin}):
                return self._store.create_user(name, password, admin=admin)  # type: ignore[no-any-return]
        body: dict[str, Any] = {"name": name, "admin": admin}
        if password is not None:
            body["password"] = password
        return _build(User, self._send("POST", "/users", body, idempotent=False))

    def update_user(
        self,
        name: str,
        *,
        password: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change a user's password, admin flag or disabled flag (``None``: unchanged); the
        user as it is now. The last enabled admin cannot be disabled or lose the flag."""
        if not self.remote:
            detail = {"password": "changed"} if password is not None else None
            with self._recording("PATCH", "update_user", "user", name, detail=detail):
                _before, after = self._store.update_user(
                    name, password=password, admin=admin, disabled=disabled
                )
            return after  # type: ignore[no-any-return]
        body: dict[str, Any] = {}
        for key, value in (("password", password), ("admin", admin), ("disabled", disabled)):
            if value is not None:
                body[key] = value
        return _build(User, self._send("PATCH", f"/users/{_part(name)}", body, idempotent=True))

    # --- tokens ---------------------------------------------------------------------------
    def list_tokens(self, user: str | None = None, *, all_users: bool = False) -> list[ApiToken]:
        """API tokens (never their secrets): ``user``'s, everyone's with ``all_users``, else
        the caller's own (over a database, where nobody is signed in: everyone's)."""
        if not self.remote:
            return self._store.list_tokens(None if all_users else user)  # type: ignore[no-any-return]
        params = {"user": "*"} if all_users else {"user": user} if user else None
        return [_build(ApiToken, t) for t in self._get("/tokens", params)]

    def create_token(
        self, name: str, *, user: str | None = None, expires_in: float | None = None
    ) -> tuple[ApiToken, str]:
        """A new API token named ``name`` of ``user`` (default: the caller; required over a
        database), valid for ``expires_in`` seconds (``None``: until revoked). Returns the
        token and its secret: the secret is shown this once, only its hash is kept."""
        if expires_in is not None and not expires_in > 0:
            raise InvalidArgument("A token's lifetime must be more than 0 seconds.")
        if not self.remote:
            if not user:
                raise InvalidArgument(
                    "Over a database URI nobody is signed in: name the user the token signs in "
                    "as (`heron tokens create --user NAME`)."
                )
            expires_at = None if expires_in is None else now_ms() + int(expires_in * 1000)
            detail = {"token_name": name, "expires_at": expires_at}
            with self._recording("POST", "create_token", "user", user, detail=detail):
                return self._store.create_token(user, name, expires_at=expires_at)  # type: ignore[no-any-return]
        body: dict[str, Any] = {"name": name}
        if user:
            body["user"] = user
        if expires_in is not None:
            body["expires_in"] = expires_in
        made = self._send("POST", "/tokens", body, idempotent=False)
        return _build(ApiToken, made["token"]), str(made["secret"])

    def revoke_token(self, token: str, *, user: str | None = None) -> ApiToken:
        """Revoke a token by id, or by name among ``user``'s tokens (default: the caller's;
        over a database, by id unless ``user`` is given). A server stops accepting it within
        a second."""
        if not self.remote:
            with self._recording("DELETE", "revoke_token", "token", token):
                return self._store.revoke_token(user, token)  # type: ignore[no-any-return]
        params = {"user": user} if user else None
        path = f"/tokens/{_part(token)}"
        return _build(ApiToken, self._send("DELETE", path, params=params, idempotent=False))

    # --- projects and roles ---------------------------------------------------------------
    def list_projects(self) -> list[Project]:
        """The projects (on a server: those the caller may read), with their members."""
        if not self.remote:
            return self._store.list_projects()  # type: ignore[no-any-return]
        return [_build(Project, p) for p in self._get("/projects")]

    def create_project(self, name: str, description: str | None = None) -> Project:
        """A new, empty project (admins only, on a server)."""
        if not self.remote:
            with self._recording("POST", "create_project", "project", name, project=name):
                return self._store.create_project(name, description)  # type: ignore[no-any-return]
        body: dict[str, Any] = {"project": name}
        if description is not None:
            body["description"] = description
        return _build(Project, self._send("POST", "/projects", body, idempotent=False))

    def get_project(self, name: str) -> Project:
        """One project and its members (user name -> role)."""
        if not self.remote:
            return self._store.get_project(name)  # type: ignore[no-any-return]
        return _build(Project, self._get(f"/projects/{_part(name)}"))

    def delete_project(self, name: str) -> Project:
        """Delete an empty project (no experiments, models or artifact versions); the project
        as it was."""
        if not self.remote:
            with self._recording("DELETE", "delete_project", "project", name, project=name):
                return self._store.delete_project(name)  # type: ignore[no-any-return]
        path = f"/projects/{_part(name)}"
        return _build(Project, self._send("DELETE", path, idempotent=False))

    def grant(self, project: str, user: str, role: str) -> tuple[str | None, str]:
        """Give ``user`` the ``role`` (viewer, editor or maintainer) in ``project``; returns
        (the role before, or ``None``, the role now)."""
        if not self.remote:
            with self._recording("POST", "grant_role", "project", project, project=project):
                return self._store.grant(project, user, role)  # type: ignore[no-any-return]
        path = f"/projects/{_part(project)}/members"
        done = self._send("POST", path, {"user": user, "role": role}, idempotent=True)
        return done["before"], str(done["role"])

    def revoke(self, project: str, user: str) -> str:
        """Take ``user``'s role in ``project`` away; returns the role they had."""
        if not self.remote:
            with self._recording("DELETE", "revoke_role", "project", project, project=project):
                return self._store.revoke(project, user)  # type: ignore[no-any-return]
        path = f"/projects/{_part(project)}/members/{_part(user)}"
        return str(self._send("DELETE", path, idempotent=False)["before"])

    # --- the audit log --------------------------------------------------------------------
    def search_audit(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        user: str | None = None,
        project: str | None = None,
        object_id: str | None = None,
        outcome: str | None = None,
        max_results: int = 1000,
    ) -> list[AuditEntry]:
        """Audit entries, newest first: ``since`` (inclusive) and ``until`` (exclusive) are
        epoch milliseconds, ``outcome`` is ``ok`` or ``denied``. On a server, admins see every
        entry and a maintainer those of their projects."""
        if not self.remote:
            return self._store.search_audit(  # type: ignore[no-any-return]
                since=since,
                until=until,
                user=user,
                project=project,
                object_id=object_id,
                outcome=outcome,
                max_results=max_results,
            )
        wanted = {
            "since": since,
            "until": until,
            "user": user,
            "project": project,
            "object_id": object_id,
            "outcome": outcome,
            "max_results": max_results,
        }
        params = {k: str(v) for k, v in wanted.items() if v is not None}
        return [_build(AuditEntry, e) for e in self._get("/audit", params)]

    # --- plumbing -------------------------------------------------------------------------
    @contextmanager
    def _recording(
        self,
        method: str,
        action: str,
        object_type: str,
        object_id: str,
        *,
        project: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> Iterator[None]:
        """The audit entry of a direct write, committed with it (none if the write fails).
        Actions are named as the admin API names them, so both kinds of entry read alike."""
        from heron.store.sql import audit

        record = audit.AuditRecord(
            user=local_user(),
            address=None,
            method=method,
            route=LOCAL_ROUTE,
            action="admin." + action,
            project=project,
            object_type=object_type,
            object_id=object_id,
            detail=detail,
        )
        with audit.recording(record):
            yield

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._send("GET", path, params=params, idempotent=True)

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        params: dict[str, Any] | None = None,
        idempotent: bool,
    ) -> Any:
        import orjson

        response = self._session.request(
            method, ADMIN_PREFIX + path, idempotent=idempotent, json=body, params=params
        )
        return orjson.loads(response.content)["result"]


def _part(value: str) -> str:
    """``value`` as one path segment."""
    return quote(value, safe="")


def _build(cls: type[T], data: dict[str, Any]) -> T:
    """A dataclass from a server's JSON (fields a newer server adds are left out)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
