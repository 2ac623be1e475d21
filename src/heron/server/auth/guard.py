"""The one check every request passes: who asks (:meth:`Guard.caller`), and whether the
route's declared :class:`~heron.server.auth.permissions.Permission` allows it on the projects
of the objects it names (:meth:`Guard.authorize`).

Each face's dispatcher calls :meth:`Guard.authorize` with the route's declaration and its
arguments before the route runs; no route checks anything by hand. The answer, a
:class:`Grant`, carries the store scoped to the request's project and the audit entry the
route's first write transaction will insert. Denials are audited too, and answered:

- 401 when nobody signed in (and the route is not public);
- 404 when the object named is in a project the caller cannot read (as if it did not exist:
  ids of other projects are not confirmed);
- 403 when the caller may read it but their role is not enough, or has no role at all in the
  request's project.

Without ``--auth`` every request is allowed, as before governance existed, in its project.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from heron.core import config
from heron.core.errors import NotFound, PermissionDenied, Unauthenticated
from heron.server.auth import details
from heron.server.auth.identity import _HOW, Authenticator, Identity
from heron.server.auth.permissions import Permission, allows
from heron.store.sql import audit
from heron.store.sql import schema as t
from heron.store.sql.governance import GovernanceStore
from heron.store.sql.ownership import projects_of

PROJECT_HEADER = b"x-heron-project"
ROLE_SECONDS = 1.0
_ADMINS_ONLY = (
    "Only the server's admins may do this; ask one (`heron users list` shows who) to do it or "
    "to make you an admin."
)
_MAX_OWNERS = 200_000


@dataclass(slots=True)
class Caller:
    """Who asks, from where, in which project."""

    identity: Identity | None
    address: str | None
    project: str

    @property
    def user(self) -> str | None:
        return self.identity.name if self.identity is not None else None


@dataclass(slots=True)
class Grant:
    """An allowed request: its store (scoped to the request's project), the audit entry its
    first write records, and the caller (for result filters)."""

    store: Any
    record: audit.AuditRecord | None
    caller: Caller
    permission: Permission
    guard: Guard

    def recording(self) -> AbstractContextManager[Any]:
        """Around the route's store calls: their first write transaction records the entry."""
        if self.record is None:
            return nullcontext()
        return audit.recording(self.record)

    def created(self, kind: str, object_id: str) -> None:
        """Remember the project of an object this request made (a run is in its experiment's
        project), so that the next request naming it needs no look-up."""
        if self.guard.enabled and self.record is not None and self.record.project:
            self.guard.remember(kind, object_id, self.record.project)

    def filter(self, result: Any) -> Any:
        """The answer without the items the caller may not read (routes declaring
        ``results``)."""
        if self.record is None and not self.guard.enabled:
            return result
        return self.guard.filter_results(self, result)


def request_project(scope: Mapping[str, Any]) -> str:
    """The request's project: a ``/projects/<name>`` URL prefix (the app strips it), else the
    ``X-Heron-Project`` header, else ``default``. A malformed name is a 400."""
    project = scope.get("heron.project")
    if project is None:
        for name, value in scope.get("headers", ()):
            if name == PROJECT_HEADER:
                project = value.decode("latin-1").strip()
                break
    if not project:
        return t.DEFAULT_PROJECT
    return config.check_project_name(project)


def client_address(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class Guard:
    """Authentication and authorization of one server process."""

    def __init__(self, store: Any, *, enabled: bool, default_role: str | None = None) -> None:
        self.store = store
        self.enabled = enabled
        self.default_role = default_role
        self.governance = GovernanceStore(store.engine)
        self.authenticator = Authenticator(self.governance)
        self._lock = threading.Lock()
        self._roles: dict[str, tuple[dict[str, str], float]] = {}
        # experiments never change project and runs never change experiment: remembered
        self._owners: dict[tuple[str, str], str] = {}

    # --- who asks ------------------------------------------------------------------------
    def caller_inline(self, scope: Mapping[str, Any]) -> Caller | None:
        """The caller, when it is known without hashing a password (``None``: ask
        :meth:`caller` in a worker thread)."""
        return self.caller(scope, inline=True)

    def caller(self, scope: Mapping[str, Any], inline: bool = False) -> Caller | None:
        """The caller (may hash a password: run it off the event loop unless ``inline``,
        which answers ``None`` rather than hash one)."""
        project = request_project(scope)
        address = client_address(scope)
        if not self.enabled:
            return Caller(None, address, project)
        credentials = self.authenticator.credentials(dict(scope["headers"]))
        if credentials is None:
            return Caller(None, address, project)
        if inline and not self.authenticator.is_cached(credentials):
            return None
        return Caller(self._identify(credentials, address), address, project)

    def _identify(self, credentials: tuple[str, Any], address: str | None) -> Identity | None:
        try:
            return self.authenticator.identify(credentials, address)
        except Unauthenticated:
            if credentials[0] != "session":
                raise
            # an ended or expired dashboard session signs nobody in: the dashboard then asks
            # to sign in again (and clears the cookie) instead of answering every page 401
            return None

    # --- may they ------------------------------------------------------------------------
    def authorize(
        self,
        caller: Caller,
        permission: Permission | None,
        arguments: Mapping[str, Any],
        *,
        method: str,
        route: str,
        action: str,
    ) -> Grant:
        """A :class:`Grant`, or the 401/403/404 the request gets (its denial audited)."""
        store = self.store.in_project(caller.project)
        if not self.enabled:
            return Grant(store, None, caller, permission or Permission("public"), self)
        record = audit.AuditRecord(
            user=caller.user,
            address=caller.address,
            method=method,
            route=route,
            action=action,
            project=caller.project,
        )
        try:
            if permission is None:
                raise PermissionDenied(
                    f"{method} {route} declares no permission, so it is refused while auth is "
                    "on (a bug: please report it)."
                )
            checked = self._check_all(caller, permission, arguments)
        except (Unauthenticated, PermissionDenied, NotFound) as e:
            self._audit_denial(record, e, permission, arguments)
            raise
        if not permission.audited:
            return Grant(store, None, caller, permission, self)
        # server-wide routes (users, schedules, stacks) belong to no project
        record.project = checked or (caller.project if permission.needs_project_role else None)
        record.object_type, record.object_id = _object_of(permission, arguments, action)
        if permission.detail is not None:
            record.detail = details.before(permission.detail, store, arguments)
        return Grant(store, record, caller, permission, self)

    def require_identity(
        self, caller: Caller, permission: Permission | None, *, method: str, route: str, action: str
    ) -> None:
        """The refusals that need no look at the request's body, given before it is read: 401
        when nobody signed in, 403 for an admins' route asked by someone else."""
        if not self.enabled or (permission is not None and permission.level == "public"):
            return
        error: Exception
        if caller.identity is None:
            error = Unauthenticated(f"This server needs you to sign in. {_HOW}")
        elif (
            permission is not None and permission.level == "admin" and not caller.identity.is_admin
        ):
            error = PermissionDenied(_ADMINS_ONLY)
        else:
            return
        record = audit.AuditRecord(
            user=caller.user,
            address=caller.address,
            method=method,
            route=route,
            action=action,
            project=caller.project,
        )
        self._audit_denial(record, error, permission, {})
        raise error

    def _audit_denial(
        self,
        record: audit.AuditRecord,
        error: Exception,
        permission: Permission | None,
        arguments: Mapping[str, Any],
    ) -> None:
        record.status = getattr(error, "http_status", 403)
        record.object_type, record.object_id = _object_of(permission, arguments, record.action)
        record.detail = {"reason": str(error)[:500]}
        audit.write_denied(self.store.engine, record)

    def _check_all(
        self, caller: Caller, permission: Permission, arguments: Mapping[str, Any]
    ) -> str | None:
        """Check the permission; returns the project of its first target (or the request's)."""
        level = permission.level
        identity = caller.identity
        if level == "public":
            return None
        if identity is None:
            raise Unauthenticated(f"This server needs you to sign in. {_HOW}")
        if level == "authenticated":
            return None
        if level == "admin":
            if not identity.is_admin:
                raise PermissionDenied(_ADMINS_ONLY)
            return None
        if permission.anywhere:
            if identity.is_admin or self._anywhere(identity, level):
                return None
            raise PermissionDenied(
                f"Uploading content needs the {level} role in at least one project; ask a "
                "project's maintainer: `heron projects grant PROJECT --user "
                f"{identity.name} --role {level}`."
            )
        first: str | None = None
        named = False
        for target in permission.targets:
            value = arguments.get(target.field)
            if value is None or value == [] or value == ():
                continue
            named = True
            project = self._check_target(caller, level, target.kind, value)
            first = first or project
        for extra_level, target in permission.also:
            value = arguments.get(target.field)
            if value is not None and value != []:
                self._check_target(caller, extra_level, target.kind, value)
        if not named:
            self._check_project(caller, level, caller.project)
            return caller.project
        return first

    def _check_target(self, caller: Caller, level: str, kind: str, value: Any) -> str | None:
        identity = caller.identity
        assert identity is not None
        if kind in ("experiments", "runs"):
            values = [v for v in (value if isinstance(value, (list, tuple)) else [value])]
            single = kind[:-1]
            owners = self._owners_of(single, [str(v) for v in values])
            first = None
            for v in values:
                project = owners.get(str(v))
                if project is None:
                    continue  # the store answers 404 for it
                self._check_object(caller, level, single, str(v), {project})
                first = first or project
            return first
        value = str(value)
        if kind == "project":
            if not self.governance.project_exists(value):
                raise NotFound(f"No project named {value!r}; `heron projects list` shows them.")
            self._check_object(caller, level, kind, value, {value})
            return value
        if kind in ("hash", "pipeline_version"):
            projects = projects_of(self.store.engine, kind, [value]).get(value, set())
            if not projects:
                if kind == "hash":  # content no project holds yet: its uploaders'
                    if identity.is_admin or self._anywhere(identity, "editor"):
                        return None
                    raise NotFound(f"No artifact object {value!r}.")
                self._check_project(caller, level, caller.project)
                return caller.project
            readable = [p for p in projects if allows(self._role(identity, p), level)]
            if not readable:
                if any(allows(self._role(identity, p), "viewer") for p in projects):
                    raise PermissionDenied(self._denied(identity, level, sorted(projects)[0]))
                raise NotFound(f"No {_NOUN[kind]} {value!r}.")
            return readable[0]
        owner = self._owners_of(kind, [value]).get(value)
        if owner is None:  # no such object: the request's project decides, the store says 404
            self._check_project(caller, level, caller.project)
            return None
        self._check_object(caller, level, kind, value, {owner})
        return owner

    def _check_object(
        self, caller: Caller, level: str, kind: str, value: str, projects: set[str]
    ) -> None:
        identity = caller.identity
        assert identity is not None
        for project in projects:
            role = self._role(identity, project)
            if allows(role, level):
                continue
            if not allows(role, "viewer"):
                raise NotFound(f"No {_NOUN[kind]} {value!r}.")
            raise PermissionDenied(self._denied(identity, level, project))

    def _check_project(self, caller: Caller, level: str, project: str) -> None:
        identity = caller.identity
        assert identity is not None
        if not allows(self._role(identity, project), level):
            raise PermissionDenied(self._denied(identity, level, project))

    def _denied(self, identity: Identity, level: str, project: str) -> str:
        role = self._role(identity, project)
        has = f"your role there is {role}" if role else "you have no role there"
        return (
            f"This needs the {level} role in project {project!r} and {has}. A maintainer of "
            f"the project can grant it: `heron projects grant {project} --user {identity.name} "
            f"--role {level}`."
        )

    # --- roles and owners, remembered briefly ---------------------------------------------
    def _roles_of(self, identity: Identity) -> dict[str, str]:
        now = time.monotonic()
        entry = self._roles.get(identity.user_id)
        if entry is not None and now < entry[1]:
            return entry[0]
        with audit.suspended():
            roles = self.governance.roles_of(identity.user_id)
        with self._lock:
            if len(self._roles) > 50_000:
                self._roles.clear()
            self._roles[identity.user_id] = (roles, now + ROLE_SECONDS)
        return roles

    def _role(self, identity: Identity, project: str) -> str | None:
        if identity.is_admin:
            return "admin"
        return self._roles_of(identity).get(project) or self.default_role

    def _anywhere(self, identity: Identity, level: str) -> bool:
        if self.default_role is not None and allows(self.default_role, level):
            return True
        return any(allows(role, level) for role in self._roles_of(identity).values())

    def readable_projects(self, identity: Identity | None) -> set[str] | None:
        """The projects the caller may read (``None``: all of them, an admin or no auth)."""
        if not self.enabled or (identity is not None and identity.is_admin):
            return None
        if identity is None:
            return set()
        if self.default_role is not None:
            return None
        return set(self._roles_of(identity))

    def forget_roles(self, user_id: str | None = None) -> None:
        """Drop remembered roles (after a grant or revoke made by this process)."""
        with self._lock:
            if user_id is None:
                self._roles.clear()
            else:
                self._roles.pop(user_id, None)

    def _owners_of(self, kind: str, ids: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        missing = []
        for i in ids:
            owner = self._owners.get((kind, i))
            if owner is None:
                missing.append(i)
            else:
                found[i] = owner
        if missing:
            for i, projects in projects_of(self.store.engine, kind, missing).items():
                owner = next(iter(projects))
                found[i] = owner
                self.remember(kind, i, owner)
        return found

    def remember(self, kind: str, object_id: str, project: str) -> None:
        with self._lock:
            if len(self._owners) > _MAX_OWNERS:
                self._owners.clear()
            self._owners[(kind, object_id)] = project

    def project_of(self, kind: str, object_id: str) -> str | None:
        """The project owning an experiment, run or artifact version (``None``: none)."""
        return self._owners_of(kind, [object_id]).get(object_id)

    # --- answers ----------------------------------------------------------------------------
    def may(self, caller: Caller, level: str, project: str) -> bool:
        """Whether the caller has ``level`` in ``project`` (for pages and result filters)."""
        if not self.enabled:
            return True
        if caller.identity is None:
            return level == "public"
        return allows(self._role(caller.identity, project), level)

    def filter_results(self, grant: Grant, result: Any) -> Any:
        kind = grant.permission.results
        if kind is None or not self.enabled:
            return result
        caller = grant.caller
        if caller.identity is not None and caller.identity.is_admin:
            return result
        if kind == "links":
            return [link for link in result if self._link_readable(caller, link)]
        if kind == "pipeline_versions":
            ids = [v.id for v in result]
            owners = projects_of(self.store.engine, "pipeline_version", ids)
            kept = []
            for version in result:
                projects = owners.get(version.id)
                if projects is None:
                    if self.may(caller, "viewer", caller.project):
                        kept.append(version)
                elif any(self.may(caller, "viewer", p) for p in projects):
                    kept.append(version)
            return kept
        raise ValueError(f"unknown result filter {kind!r}")

    def _link_readable(self, caller: Caller, link: Any) -> bool:
        for kind, value in (("run", link.run_id), ("artifact", link.artifact_id)):
            owner = self.project_of(kind, value)
            if owner is not None and not self.may(caller, "viewer", owner):
                return False
        return True

    def readable(self, caller: Caller, kind: str, ids: Iterable[str]) -> set[str]:
        """Which of ``ids`` (experiments, runs, artifact versions) the caller may read."""
        ids = list(ids)
        if not self.enabled or (caller.identity is not None and caller.identity.is_admin):
            return set(ids)
        owners = self._owners_of(kind, ids)
        return {i for i in ids if i in owners and self.may(caller, "viewer", owners[i])}


_NOUN = {
    "experiment": "experiment",
    "run": "run",
    "artifact": "artifact version",
    "hash": "artifact object",
    "pipeline_version": "pipeline version",
    "project": "project",
}


def _object_of(
    permission: Permission | None, arguments: Mapping[str, Any], action: str
) -> tuple[Any, Any]:
    """The (type, id) an audit entry names: the first target given, else a name argument."""
    if permission is not None:
        for target in permission.targets:
            value = arguments.get(target.field)
            if value is not None and value != []:
                kind = target.kind.rstrip("s") if target.kind in ("runs", "experiments") else None
                shown = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else value
                return kind or target.kind, str(shown)
    if action.startswith("admin."):  # users, tokens, projects and their members
        for field, kind in (("token", "token"), ("user", "user"), ("project", "project")):
            value = arguments.get(field)
            if isinstance(value, str):
                return kind, value
        if "user" in action and isinstance(arguments.get("name"), str):
            return "user", arguments["name"]
    named = "model" if "model" in action else "experiment" if "experiment" in action else "name"
    for field, kind in (("name", named), ("experiment_id", "experiment"), ("run_id", "run")):
        value = arguments.get(field)
        if isinstance(value, str):
            return kind, value
    return None, None
