"""Governance of a team server: users, API tokens, projects and their members, the audit log.

:class:`~heron.governance.client.GovernanceClient` is what ``heron users|tokens|projects|audit``
use: over a database URI it changes the tables itself (an administrator on the server's
machine), over an ``http(s)://`` URI it calls the server's admin API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heron.governance.client import GovernanceClient, WhoAmI

__all__ = ["GovernanceClient", "WhoAmI"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from heron.governance import client

        return getattr(client, name)
    raise AttributeError(f"module 'heron.governance' has no attribute {name!r}")
