"""What one ``heron server`` serves: its stores, address and limits.

The settings travel to uvicorn's worker processes through the environment (:meth:`to_env`),
as the scoring server's do.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV = "HERON_SERVER_SETTINGS"

#: largest JSON body a route accepts (artifact uploads stream and are not limited by it)
DEFAULT_MAX_BODY = 64 * 1024 * 1024


@dataclass(slots=True)
class ServerSettings:
    """The options of ``heron server``."""

    backend_store_uri: str
    artifacts_uri: str
    host: str = "127.0.0.1"
    port: int = 5151
    workers: int = 1
    max_body_bytes: int = DEFAULT_MAX_BODY
    reap_interval: float = 10.0  # seconds between sweeps for runs whose heartbeats stopped
    access_log: bool = True
    #: governance: users, tokens, project roles and the audit trail (``--auth``)
    auth: bool = False
    #: the role every signed-in user has in every project they are not a member of
    default_role: str | None = None

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> ServerSettings:
        return cls(**json.loads(os.environ[ENV]))
