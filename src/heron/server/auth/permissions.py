"""What a route needs: a level, and the objects whose projects must grant it.

Every route of every face (Heron's API, MLflow's API, artifact bytes, the dashboard, the admin
API) declares one :class:`Permission`; the guard checks it before the route runs. A route
without one is refused when auth is on, and the permission-matrix test fails on it.

Levels, weakest first: ``public`` (anyone, signed in or not), ``authenticated`` (any signed-in
user), the project roles ``viewer`` < ``editor`` < ``maintainer``, and ``admin`` (server
admins only). A role level is checked on the project of each target; with no target, on the
request's project (the ``X-Heron-Project`` header or a ``/projects/<name>`` URL prefix, else
``default``).
"""

from __future__ import annotations

from dataclasses import dataclass

from heron.core.identities import ROLES

LEVELS = ("public", "authenticated", *ROLES, "admin")
#: kinds of object a target names, and what resolves each to its project
TARGET_KINDS = (
    "experiment",  # an experiment id
    "experiments",  # a list of experiment ids (all must allow the level)
    "run",  # a run id
    "runs",  # a list of run ids
    "artifact",  # an artifact version id
    "hash",  # a content hash: any project holding the content
    "pipeline_version",  # a pipeline version id: any project whose runs ran it
    "project",  # a project's name (the admin API's project routes)
)


@dataclass(frozen=True, slots=True)
class Target:
    """The object of a route: ``kind`` (one of :data:`TARGET_KINDS`) named by the request
    argument ``field``."""

    kind: str
    field: str

    def __post_init__(self) -> None:
        if self.kind not in TARGET_KINDS:
            raise ValueError(f"unknown target kind {self.kind!r}")


@dataclass(frozen=True, slots=True)
class Permission:
    """What a route needs. ``targets``: the objects checked (none: the request's project);
    ``also``: further (level, target) checks (linking a run to an artifact needs ``editor`` on
    the run and ``viewer`` on the artifact); ``writes``: whether the route changes data (it is
    audited); ``detail``: what before/after the audit entry records (see :mod:`.details`);
    ``results``: the filter that keeps only the answer's items the caller may read."""

    level: str
    targets: tuple[Target, ...] = ()
    also: tuple[tuple[str, Target], ...] = ()
    writes: bool | None = None
    detail: str | None = None
    results: str | None = None  # a filter of the answer's items (see :mod:`.guard`)
    anywhere: bool = False  # the level in any one project is enough (content uploads)

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"unknown level {self.level!r}")

    @property
    def audited(self) -> bool:
        if self.writes is not None:
            return self.writes
        return self.level in ("editor", "maintainer")

    @property
    def needs_project_role(self) -> bool:
        return self.level in ROLES


def allows(role: str | None, level: str) -> bool:
    """Whether ``role`` (a project role, ``"admin"`` or ``None``) is enough for ``level``."""
    if level == "public":
        return True
    if role == "admin":
        return True
    if level in ("admin",) or role is None:
        return False
    if level == "authenticated":
        return True
    return ROLES.index(role) >= ROLES.index(level)


def on(kind: str, field: str) -> Target:
    return Target(kind, field)


PUBLIC = Permission("public")
AUTHENTICATED = Permission("authenticated")
ADMIN_READ = Permission("admin", writes=False)
ADMIN_WRITE = Permission("admin", writes=True)


def viewer(*targets: Target) -> Permission:
    return Permission("viewer", targets)


def editor(*targets: Target, also: tuple[tuple[str, Target], ...] = ()) -> Permission:
    return Permission("editor", targets, also)


def maintainer(*targets: Target, detail: str | None = None) -> Permission:
    return Permission("maintainer", targets, detail=detail)
