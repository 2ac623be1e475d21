"""Users, API tokens, projects, their members and the audit log, in the metadata database.

What ``heron users|tokens|projects|audit`` and the team server's ``--auth`` read and write.
It is not part of :class:`~heron.store.base.Store`: it is never reached by a tracking client,
only by the server (which answers the admin routes with it) and by an administrator with the
database's URI.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from heron.core import secrets
from heron.core.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from heron.core.identities import ROLES, ApiToken, AuditEntry, Project, User
from heron.core.ids import new_id, now_ms
from heron.store.sql import audit
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema as t

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}")
#: how long a token's ``last_used_at`` may lag: at most one write per token per minute
TOUCH_EVERY_MS = 60_000
MAX_AUDIT_RESULTS = 10_000


def check_user_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidArgument(
            f"{name!r} is not a user name: use 1-128 letters, digits and . _ @ -, starting "
            "with a letter or digit."
        )
    return name


def check_project_name(name: str) -> str:
    from heron.core import config

    return config.check_project_name(name)


def check_role(role: str) -> str:
    if role not in ROLES:
        raise InvalidArgument(f"{role!r} is not a role; choose one of {', '.join(ROLES)}.")
    return role


class GovernanceStore:
    """The governance tables of one metadata database (``sqlite:///…`` or ``postgresql://…``)."""

    def __init__(self, uri_or_engine: Any) -> None:
        if isinstance(uri_or_engine, str):
            self.engine = sql_engine.get_engine(uri_or_engine)
        else:
            self.engine = uri_or_engine

    def _write(self, body: Any) -> Any:
        return sql_engine.run_write(self.engine, body)

    def _read(self) -> Any:
        return sql_engine.read(self.engine)

    def _insert_new(self, table: Any, name_column: Any, row: dict[str, Any], what: str) -> None:
        """Insert ``row`` unless its name is taken (``AlreadyExists``, also when another
        writer took it just now)."""

        def body(conn: Connection) -> None:
            taken = conn.execute(select(name_column).where(name_column == row["name"])).first()
            if taken:
                raise AlreadyExists(f"{what} exists already.")
            conn.execute(table.insert().values(**row))

        try:
            self._write(body)
        except IntegrityError:
            raise AlreadyExists(f"{what} exists already.") from None

    # --- users ----------------------------------------------------------------------------
    def create_user(self, name: str, password: str | None, *, admin: bool = False) -> User:
        """A new user; ``password`` may be ``None`` for a service account that signs in with
        tokens only."""
        check_user_name(name)
        password_hash = secrets.hash_password(password) if password is not None else None
        now = now_ms()
        row = {
            "id": new_id(),
            "name": name,
            "password_hash": password_hash,
            "is_admin": bool(admin),
            "disabled": False,
            "created_at": now,
            "updated_at": now,
        }

        self._insert_new(t.users, t.users.c.name, row, f"A user named {name!r}")
        return _user(row)

    def get_user(self, name: str) -> User:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        if row is None:
            raise NotFound(f"No user named {name!r}; `heron users list` shows them.")
        return _user(row._mapping)

    def user_row_by_name(self, name: str) -> dict[str, Any] | None:
        with self._read() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        return dict(row._mapping) if row is not None else None

    def list_users(self) -> list[User]:
        with self._read() as conn:
            rows = conn.execute(select(t.users).order_by(t.users.c.name)).all()
        return [_user(r._mapping) for r in rows]

    def count_admins(self) -> int:
        with self._read() as conn:
            query = select(func.count()).where(t.users.c.is_admin, ~t.users.c.disabled)
            return int(conn.execute(query).scalar_one())

    def update_user(
        self,
        name: str,
        *,
        password: str | None = None,
        admin: bool | None = None,
        disabled: bool | None = None,
    ) -> tuple[User, User]:
        """Change a user; returns (before, after). The last enabled admin cannot be disabled
        or lose the admin flag (nobody could manage the server after)."""
        values: dict[str, Any] = {"updated_at": now_ms()}
        if password is not None:
            values["password_hash"] = secrets.hash_password(password)
        if admin is not None:
            values["is_admin"] = bool(admin)
        if disabled is not None:
            values["disabled"] = bool(disabled)

        def body(conn: Connection) -> tuple[User, User]:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
            if row is None:
                raise NotFound(f"No user named {name!r}; `heron users list` shows them.")
            before = _user(row._mapping)
            losing = (
                before.is_admin
                and not before.disabled
                and (values.get("is_admin") is False or values.get("disabled") is True)
            )
            if losing:
                others = conn.execute(
                    select(func.count()).where(
                        t.users.c.is_admin, ~t.users.c.disabled, t.users.c.id != row.id
                    )
                ).scalar_one()
                if not others:
                    raise InvalidState(
                        f"{name!r} is the last enabled admin: make another admin first "
                        "(`heron users create NAME --admin`)."
                    )
            conn.execute(update(t.users).where(t.users.c.id == row.id).values(**values))
            if disabled:  # a disabled user's sessions end now
                conn.execute(
                    update(t.api_tokens)
                    .where(
                        t.api_tokens.c.user_id == row.id,
                        t.api_tokens.c.kind == "session",
                        t.api_tokens.c.revoked_at.is_(None),
                    )
                    .values(revoked_at=values["updated_at"])
                )
            after = _user({**row._mapping, **values})
            audit.annotate(before=_user_state(before), after=_user_state(after))
            return before, after

        return self._write(body)  # type: ignore[no-any-return]

    # --- tokens ---------------------------------------------------------------------------
    def create_token(
        self, user: str, name: str, *, kind: str = "api", expires_at: int | None = None
    ) -> tuple[ApiToken, str]:
        """A new token of ``user``: (its record, the secret). The secret is returned once
        and only its hash is kept."""
        if kind not in ("api", "session"):
            raise InvalidArgument(f"A token's kind is 'api' or 'session', not {kind!r}.")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            raise InvalidArgument("A token's name needs 1-128 characters.")
        now = now_ms()
        if expires_at is not None and expires_at <= now:
            raise InvalidArgument("A token's expiry must be in the future.")
        secret = secrets.new_token_secret()

        def body(conn: Connection) -> ApiToken:
            user_id = conn.execute(select(t.users.c.id).where(t.users.c.name == user)).scalar()
            if user_id is None:
                raise NotFound(f"No user named {user!r}; `heron users list` shows them.")
            row = {
                "id": new_id(),
                "user_id": user_id,
                "name": name,
                "kind": kind,
                "secret_hash": secrets.secret_hash(secret),
                "created_at": now,
                "last_used_at": None,
                "expires_at": expires_at,
                "revoked_at": None,
            }
            conn.execute(t.api_tokens.insert().values(**row))
            return _token(row, user)

        return self._write(body), secret

    def token_row(self, secret: str) -> dict[str, Any] | None:
        """The token (joined with its user) a secret signs in as, active or not."""
        tk, us = t.api_tokens, t.users
        query = (
            select(
                tk.c.id,
                tk.c.kind,
                tk.c.expires_at,
                tk.c.revoked_at,
                tk.c.last_used_at,
                tk.c.user_id,
                us.c.name.label("user_name"),
                us.c.is_admin,
                us.c.disabled,
            )
            .join(us, us.c.id == tk.c.user_id)
            .where(tk.c.secret_hash == secrets.secret_hash(secret))
        )
        with self._read() as conn:
            row = conn.execute(query).first()
        return dict(row._mapping) if row is not None else None

    def touch_token(self, token_id: str, now: int) -> None:
        """Record a use of a token (at most once a minute per token)."""

        def body(conn: Connection) -> None:
            conn.execute(
                update(t.api_tokens)
                .where(
                    t.api_tokens.c.id == token_id,
                    (t.api_tokens.c.last_used_at.is_(None))
                    | (t.api_tokens.c.last_used_at < now - TOUCH_EVERY_MS),
                )
                .values(last_used_at=now)
            )

        self._write(body)

    def list_tokens(self, user: str | None = None, *, kind: str = "api") -> list[ApiToken]:
        tk, us = t.api_tokens, t.users
        query = (
            select(tk, us.c.name.label("user_name"))
            .join(us, us.c.id == tk.c.user_id)
            .where(tk.c.kind == kind)
            .order_by(tk.c.created_at)
        )
        if user is not None:
            query = query.where(us.c.name == user)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_token(r._mapping, r.user_name) for r in rows]

    def revoke_token(self, user: str | None, token: str) -> ApiToken:
        """Revoke a token by id or name (of ``user``; ``None``: any user's, by id)."""
        tk, us = t.api_tokens, t.users
        now = now_ms()

        def body(conn: Connection) -> ApiToken:
            query = select(tk, us.c.name.label("user_name")).join(us, us.c.id == tk.c.user_id)
            if user is not None:
                query = query.where(us.c.name == user, (tk.c.id == token) | (tk.c.name == token))
            else:
                query = query.where(tk.c.id == token)
            rows = conn.execute(query.where(tk.c.revoked_at.is_(None))).all()
            if not rows:
                raise NotFound(
                    f"No active token {token!r}" + (f" of {user!r}" if user else "") + "; "
                    "`heron tokens list` shows them."
                )
            if len(rows) > 1:
                raise InvalidArgument(
                    f"{len(rows)} tokens are named {token!r}; revoke one by its id."
                )
            row = rows[0]
            conn.execute(update(tk).where(tk.c.id == row.id).values(revoked_at=now))
            audit.annotate(token=row.id, name=row.name, user=row.user_name)
            return _token({**row._mapping, "revoked_at": now}, row.user_name)

        return self._write(body)  # type: ignore[no-any-return]

    def revoke_session(self, secret: str) -> None:
        """End a dashboard session (sign out)."""
        now = now_ms()

        def body(conn: Connection) -> None:
            conn.execute(
                update(t.api_tokens)
                .where(
                    t.api_tokens.c.secret_hash == secrets.secret_hash(secret),
                    t.api_tokens.c.kind == "session",
                    t.api_tokens.c.revoked_at.is_(None),
                )
                .values(revoked_at=now)
            )

        self._write(body)

    # --- projects and members --------------------------------------------------------------
    def create_project(self, name: str, description: str | None = None) -> Project:
        check_project_name(name)
        row = {"name": name, "description": description, "created_at": now_ms()}

        self._insert_new(t.projects, t.projects.c.name, row, f"A project named {name!r}")
        return Project(**row)

    def get_project(self, name: str) -> Project:
        with self._read() as conn:
            row = conn.execute(select(t.projects).where(t.projects.c.name == name)).first()
            if row is None:
                raise NotFound(
                    f"No project named {name!r}; `heron projects list` shows them and "
                    f"`heron projects create {name}` makes it."
                )
            members = self._members(conn, name)
        return Project(row.name, row.description, row.created_at, members)

    def list_projects(self, names: Sequence[str] | None = None) -> list[Project]:
        """Every project (or those of ``names``), with their members."""
        query = select(t.projects).order_by(t.projects.c.name)
        if names is not None:
            query = query.where(t.projects.c.name.in_(list(names)))
        with self._read() as conn:
            rows = conn.execute(query).all()
            members = conn.execute(
                select(t.project_members.c.project, t.users.c.name, t.project_members.c.role)
                .join(t.users, t.users.c.id == t.project_members.c.user_id)
                .order_by(t.users.c.name)
            ).all()
        by_project: dict[str, dict[str, str]] = {}
        for project, user, role in members:
            by_project.setdefault(project, {})[user] = role
        return [
            Project(r.name, r.description, r.created_at, by_project.get(r.name, {})) for r in rows
        ]

    def project_exists(self, name: str) -> bool:
        with self._read() as conn:
            query = select(t.projects.c.name).where(t.projects.c.name == name)
            return conn.execute(query).first() is not None

    def delete_project(self, name: str) -> Project:
        """Delete an empty project (no experiments, models or artifact versions)."""
        if name == t.DEFAULT_PROJECT:
            raise InvalidArgument("The default project cannot be deleted.")

        def body(conn: Connection) -> Project:
            row = conn.execute(select(t.projects).where(t.projects.c.name == name)).first()
            if row is None:
                raise NotFound(f"No project named {name!r}; `heron projects list` shows them.")
            for table, what in (
                (t.experiments, "experiments"),
                (t.registered_models, "registered models"),
                (t.artifact_versions, "artifact versions"),
            ):
                if conn.execute(select(table.c.id).where(table.c.project == name)).first():
                    raise InvalidState(
                        f"Project {name!r} still holds {what}: delete them first (a project is "
                        "deleted only when it is empty)."
                    )
            members = self._members(conn, name)
            conn.execute(delete(t.project_members).where(t.project_members.c.project == name))
            conn.execute(delete(t.projects).where(t.projects.c.name == name))
            audit.annotate(before={"members": members}, after=None)
            return Project(row.name, row.description, row.created_at, members)

        return self._write(body)  # type: ignore[no-any-return]

    def grant(self, project: str, user: str, role: str) -> tuple[str | None, str]:
        """Give ``user`` ``role`` in ``project``; returns (the role before, the role now)."""
        check_role(role)

        def body(conn: Connection) -> tuple[str | None, str]:
            user_id = self._project_and_user(conn, project, user)
            pm = t.project_members
            before = conn.execute(
                select(pm.c.role).where(pm.c.project == project, pm.c.user_id == user_id)
            ).scalar()
            if before is None:
                conn.execute(pm.insert().values(project=project, user_id=user_id, role=role))
            else:
                conn.execute(
                    update(pm)
                    .where(pm.c.project == project, pm.c.user_id == user_id)
                    .values(role=role)
                )
            audit.annotate(user=user, before=before, after=role)
            return before, role

        return self._write(body)  # type: ignore[no-any-return]

    def revoke(self, project: str, user: str) -> str:
        """Take ``user``'s role in ``project`` away; returns the role they had."""

        def body(conn: Connection) -> str:
            user_id = self._project_and_user(conn, project, user)
            pm = t.project_members
            before = conn.execute(
                select(pm.c.role).where(pm.c.project == project, pm.c.user_id == user_id)
            ).scalar()
            if before is None:
                raise NotFound(f"{user!r} has no role in project {project!r}.")
            conn.execute(delete(pm).where(pm.c.project == project, pm.c.user_id == user_id))
            audit.annotate(user=user, before=before, after=None)
            return str(before)

        return self._write(body)  # type: ignore[no-any-return]

    def roles_of(self, user_id: str) -> dict[str, str]:
        """The user's role in each project they are a member of."""
        pm = t.project_members
        with self._read() as conn:
            rows = conn.execute(select(pm.c.project, pm.c.role).where(pm.c.user_id == user_id))
            return {project: role for project, role in rows}

    def _members(self, conn: Connection, project: str) -> dict[str, str]:
        rows = conn.execute(
            select(t.users.c.name, t.project_members.c.role)
            .join(t.users, t.users.c.id == t.project_members.c.user_id)
            .where(t.project_members.c.project == project)
            .order_by(t.users.c.name)
        )
        return {name: role for name, role in rows}

    def _project_and_user(self, conn: Connection, project: str, user: str) -> str:
        if not conn.execute(select(t.projects.c.name).where(t.projects.c.name == project)).first():
            raise NotFound(f"No project named {project!r}; `heron projects list` shows them.")
        user_id = conn.execute(select(t.users.c.id).where(t.users.c.name == user)).scalar()
        if user_id is None:
            raise NotFound(f"No user named {user!r}; `heron users list` shows them.")
        return str(user_id)

    # --- the audit log ----------------------------------------------------------------------
    def search_audit(
        self,
        *,
        since: int | None = None,
        until: int | None = None,
        user: str | None = None,
        project: str | None = None,
        object_id: str | None = None,
        outcome: str | None = None,
        projects: Sequence[str] | None = None,
        max_results: int = 1000,
    ) -> list[AuditEntry]:
        """Audit entries, newest first. ``projects`` limits them to those projects' entries
        (what a project's maintainer may see)."""
        if not 1 <= max_results <= MAX_AUDIT_RESULTS:
            raise InvalidArgument(f"max_results must be between 1 and {MAX_AUDIT_RESULTS:,}.")
        a = t.audit_log
        query = select(a).order_by(a.c.at.desc(), a.c.id.desc()).limit(max_results)
        if since is not None:
            query = query.where(a.c.at >= since)
        if until is not None:
            query = query.where(a.c.at < until)
        if user is not None:
            query = query.where(a.c.user == user)
        if project is not None:
            query = query.where(a.c.project == project)
        if projects is not None:
            query = query.where(a.c.project.in_(list(projects)))
        if object_id is not None:
            query = query.where(a.c.object_id == object_id)
        if outcome is not None:
            query = query.where(a.c.outcome == outcome)
        with self._read() as conn:
            rows = conn.execute(query).all()
        return [_audit(r._mapping) for r in rows]


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        is_admin=bool(row["is_admin"]),
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        has_password=row["password_hash"] is not None,
    )


def _user_state(user: User) -> dict[str, Any]:
    return {"admin": user.is_admin, "disabled": user.disabled}


def _token(row: Any, user: str) -> ApiToken:
    return ApiToken(
        id=row["id"],
        user=user,
        name=row["name"],
        kind=row["kind"],
        created_at=row["created_at"],
        last_used_at=row["last_used_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


def _audit(row: Any) -> AuditEntry:
    detail = orjson.loads(row["detail"]) if row["detail"] else None
    return AuditEntry(
        id=row["id"],
        at=row["at"],
        user=row["user"],
        address=row["address"],
        method=row["method"],
        route=row["route"],
        action=row["action"],
        project=row["project"],
        object_type=row["object_type"],
        object_id=row["object_id"],
        outcome=row["outcome"],
        status=row["status"],
        detail=detail,
    )
