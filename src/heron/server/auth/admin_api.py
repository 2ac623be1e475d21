"""The admin API (``/api/v1/admin/...``): users, tokens, projects and their members, the
audit log. What ``heron users|tokens|projects|audit`` call against an ``http(s)://`` tracking
URI; every route declares its permission in :data:`ROUTES`, checked by the guard.

- ``GET whoami``: the caller, their admin flag and roles;
- ``GET|POST users``, ``PATCH users/{name}`` (admins);
- ``POST password``: change one's own password;
- ``GET|POST tokens``, ``DELETE tokens/{token}``: one's own tokens (admins: anyone's);
- ``GET|POST projects``, ``GET|DELETE projects/{project}``;
- ``POST projects/{project}/members``, ``DELETE projects/{project}/members/{user}``
  (the project's maintainers);
- ``GET audit``: admins see everything; a maintainer sees their projects' entries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

import orjson

from heron.core.errors import InvalidArgument, PermissionDenied, RequestInvalid
from heron.core.ids import now_ms
from heron.server.auth.guard import Caller, Grant
from heron.server.auth.permissions import (
    ADMIN_READ,
    ADMIN_WRITE,
    AUTHENTICATED,
    Permission,
    on,
    viewer,
)
from heron.server.routing import Router
from heron.store.rest import protocol

PREFIX = protocol.API_PREFIX + "/admin"
_SELF_WRITE = Permission("authenticated", writes=True)

Handler = Callable[["AdminApi", Grant, dict[str, Any]], Any]


class AdminApi:
    """The admin routes of one :class:`~heron.server.app.TrackingApp`."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.guard = app.guard
        self.governance = app.guard.governance
        self.router: Router[tuple[str, Permission, Handler]] = Router()
        for (method, template), (permission, handler) in ROUTES.items():
            self.router.add(method, PREFIX + template, (PREFIX + template, permission, handler))

    async def dispatch(
        self, scope: dict[str, Any], receive: Any, send: Any, method: str, raw: str
    ) -> tuple[str, int]:
        from heron.server.app import NoRoute, WrongMethod, _send

        match = self.router.match(method, raw)
        if match is None:
            raise NoRoute(f"No admin route {method} {scope['path']}; see docs/security.md.")
        if match is False:
            raise WrongMethod(f"{method} is not allowed on {scope['path']}.")
        (template, permission, handler), values = match
        body = await self.app._read_body(scope, receive)
        arguments: dict[str, Any] = dict(parse_qsl(scope.get("query_string", b"").decode()))
        stripped = body.strip()
        if stripped:
            try:
                parsed = orjson.loads(stripped)
            except orjson.JSONDecodeError as e:
                raise RequestInvalid(f"The body is not valid JSON: {e}.") from None
            if not isinstance(parsed, dict):
                raise RequestInvalid("The body must be a JSON object.")
            arguments.update(parsed)
        arguments.update(values)
        caller: Caller = scope["heron.caller"]
        if not self.guard.enabled:
            raise PermissionDenied(
                "Users, tokens and roles exist only on a server started with --auth; "
                "restart it with `heron server --auth`."
            )

        def run() -> Any:
            grant = self.guard.authorize(
                caller,
                permission,
                arguments,
                method=method,
                route=template,
                action="admin." + handler.__name__.lstrip("_"),
            )
            with grant.recording():
                return handler(self, grant, arguments)

        result = await asyncio.get_running_loop().run_in_executor(self.app.pool, run)
        status = 201 if method == "POST" and template.endswith(("users", "tokens")) else 200
        await _send(send, status, orjson.dumps({"result": result}, default=_plain))
        return template, status


def _plain(value: Any) -> Any:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    if isinstance(value, set):
        return sorted(value)
    raise TypeError


def _text(arguments: dict[str, Any], key: str, required: bool = True) -> Any:
    value = arguments.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidArgument(f"{key!r} must be a non-empty string.")
    return value


def _flag(arguments: dict[str, Any], key: str) -> bool | None:
    value = arguments.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise InvalidArgument(f"{key!r} must be true or false.")


def _me(grant: Grant) -> Any:
    identity = grant.caller.identity
    assert identity is not None
    return identity


# --- handlers ------------------------------------------------------------------------------
def _whoami(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    me = _me(grant)
    return {
        "user": me.name,
        "admin": me.is_admin,
        "via": me.via,
        "roles": api.governance.roles_of(me.user_id),
        "default_role": api.guard.default_role,
    }


def _list_users(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    return api.governance.list_users()


def _create_user(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    name = _text(args, "name")
    password = _text(args, "password", required=False)
    return api.governance.create_user(name, password, admin=bool(_flag(args, "admin")))


def _update_user(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    _before, after = api.governance.update_user(
        _text(args, "name"),
        password=_text(args, "password", required=False),
        admin=_flag(args, "admin"),
        disabled=_flag(args, "disabled"),
    )
    api.guard.forget_roles(after.id)
    return after


def _change_password(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    me = _me(grant)
    current = _text(args, "current_password")
    api.guard.authenticator.sign_in(me.name, current, grant.caller.address)
    _before, after = api.governance.update_user(me.name, password=_text(args, "password"))
    return after


def _list_tokens(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    me = _me(grant)
    user = args.get("user") or me.name
    if user != me.name and not me.is_admin:
        raise PermissionDenied("Only admins may list other users' tokens.")
    return api.governance.list_tokens(None if user == "*" and me.is_admin else user)


def _create_token(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    me = _me(grant)
    user = args.get("user") or me.name
    if user != me.name and not me.is_admin:
        raise PermissionDenied("Only admins may make tokens for other users.")
    expires_in = args.get("expires_in")
    expires_at = None
    if expires_in is not None:
        if isinstance(expires_in, bool) or not isinstance(expires_in, (int, float)):
            raise InvalidArgument("expires_in is a number of seconds.")
        if expires_in <= 0:
            raise InvalidArgument("expires_in must be more than 0 seconds.")
        expires_at = now_ms() + int(expires_in * 1000)
    token, secret = api.governance.create_token(user, _text(args, "name"), expires_at=expires_at)
    return {"token": token, "secret": secret}


def _revoke_token(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    me = _me(grant)
    user = args.get("user") or me.name
    if user != me.name and not me.is_admin:
        raise PermissionDenied("Only admins may revoke other users' tokens.")
    return api.governance.revoke_token(user, _text(args, "token"))


def _list_projects(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    readable = api.guard.readable_projects(grant.caller.identity)
    return api.governance.list_projects(None if readable is None else sorted(readable))


def _create_project(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    return api.governance.create_project(
        _text(args, "project"), _text(args, "description", required=False)
    )


def _get_project(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    return api.governance.get_project(_text(args, "project"))


def _delete_project(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    return api.governance.delete_project(_text(args, "project"))


def _grant_role(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    project, user, role = _text(args, "project"), _text(args, "user"), _text(args, "role")
    before, after = api.governance.grant(project, user, role)
    api.guard.forget_roles()
    return {"project": project, "user": user, "before": before, "role": after}


def _revoke_role(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    project, user = _text(args, "project"), _text(args, "user")
    before = api.governance.revoke(project, user)
    api.guard.forget_roles()
    return {"project": project, "user": user, "before": before, "role": None}


def _audit(api: AdminApi, grant: Grant, args: dict[str, Any]) -> Any:
    me = _me(grant)
    projects = None
    if not me.is_admin:
        roles = api.governance.roles_of(me.user_id)
        projects = [p for p, role in roles.items() if role == "maintainer"]
        if not projects:
            raise PermissionDenied(
                "The audit log is shown to admins, and to maintainers for their projects."
            )

    def number(key: str) -> int | None:
        value = args.get(key)
        if value is None:
            return None
        try:
            return int(value)
        except (TypeError, ValueError):
            raise InvalidArgument(f"{key!r} must be an integer.") from None

    return api.governance.search_audit(
        since=number("since"),
        until=number("until"),
        user=args.get("user"),
        project=args.get("project"),
        object_id=args.get("object_id"),
        outcome=args.get("outcome"),
        projects=projects,
        max_results=number("max_results") or 1000,
    )


_project = on("project", "project")

#: every admin route: (method, template under /api/v1/admin) -> (permission, handler)
ROUTES: dict[tuple[str, str], tuple[Permission, Handler]] = {
    ("GET", "/whoami"): (AUTHENTICATED, _whoami),
    ("GET", "/users"): (ADMIN_READ, _list_users),
    ("POST", "/users"): (ADMIN_WRITE, _create_user),
    ("PATCH", "/users/{name}"): (ADMIN_WRITE, _update_user),
    ("POST", "/password"): (_SELF_WRITE, _change_password),
    ("GET", "/tokens"): (AUTHENTICATED, _list_tokens),
    ("POST", "/tokens"): (_SELF_WRITE, _create_token),
    ("DELETE", "/tokens/{token}"): (_SELF_WRITE, _revoke_token),
    ("GET", "/projects"): (AUTHENTICATED, _list_projects),
    ("POST", "/projects"): (ADMIN_WRITE, _create_project),
    ("GET", "/projects/{project}"): (viewer(_project), _get_project),
    ("DELETE", "/projects/{project}"): (ADMIN_WRITE, _delete_project),
    ("POST", "/projects/{project}/members"): (
        Permission("maintainer", (_project,), writes=True),
        _grant_role,
    ),
    ("DELETE", "/projects/{project}/members/{user}"): (
        Permission("maintainer", (_project,), writes=True),
        _revoke_role,
    ),
    ("GET", "/audit"): (AUTHENTICATED, _audit),
}
