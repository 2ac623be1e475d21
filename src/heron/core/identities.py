"""The nouns of governance: users, their tokens, project members and audit entries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: the roles of a project, weakest first; each allows what the ones before it allow
ROLES = ("viewer", "editor", "maintainer")


@dataclass(slots=True)
class User:
    """A person or service account of the team server."""

    id: str
    name: str
    is_admin: bool = False
    disabled: bool = False
    created_at: int = 0
    updated_at: int = 0
    has_password: bool = False


@dataclass(slots=True)
class ApiToken:
    """An API token (or a dashboard session, ``kind="session"``); the secret is never kept."""

    id: str
    user: str
    name: str
    kind: str = "api"
    created_at: int = 0
    last_used_at: int | None = None
    expires_at: int | None = None
    revoked_at: int | None = None

    @property
    def active(self) -> bool:
        from heron.core.ids import now_ms

        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > now_ms()


@dataclass(slots=True)
class Project:
    """A namespace owning experiments, registered models and artifact versions."""

    name: str
    description: str | None = None
    created_at: int = 0
    members: dict[str, str] = field(default_factory=dict)  # user name -> role


@dataclass(slots=True)
class AuditEntry:
    """One write the server made, or one request it denied."""

    id: int
    at: int
    user: str | None
    address: str | None
    method: str
    route: str
    action: str
    project: str | None
    object_type: str | None
    object_id: str | None
    outcome: str  # "ok" or "denied"
    status: int
    detail: dict[str, Any] | None = None
