"""What ``heron users``, ``tokens``, ``projects`` and ``audit`` share: the client, click types
for durations and moments, passwords read without echo, and JSON of the identity records."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from heron.governance.client import GovernanceClient


def open_governance(create: bool = False) -> GovernanceClient:
    """The governance client of the tracking URI in force. A SQLite database must exist
    unless ``create`` (the first admin may be made before the server ever started)."""
    from heron.core import config
    from heron.governance.client import GovernanceClient

    uri = config.get_tracking_uri()
    if not create:
        config.require_existing_store(uri)
    return GovernanceClient(uri)


def plain(record: Any) -> dict[str, Any]:
    """A User, ApiToken, Project or AuditEntry as JSON-ready data (a token with ``active``)."""
    data = asdict(record)
    if hasattr(record, "active"):
        data["active"] = record.active
    return data


class Duration(click.ParamType):
    """``30d``, ``12h``, ``90m``, ``3600s`` as seconds."""

    name = "duration"

    def convert(self, value: Any, param: Any, ctx: Any) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        from heron.core.errors import InvalidArgument
        from heron.governance.times import parse_duration

        try:
            return parse_duration(str(value))
        except InvalidArgument as e:
            self.fail(e.message, param, ctx)


class Moment(click.ParamType):
    """``1d``, ``2h`` (that long ago) or an ISO date/time, as epoch milliseconds."""

    name = "moment"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        from heron.core.errors import InvalidArgument
        from heron.core.ids import now_ms
        from heron.governance.times import parse_moment

        try:
            return parse_moment(str(value), now_ms())
        except InvalidArgument as e:
            self.fail(e.message, param, ctx)


def read_password(from_stdin: bool, prompt: str = "Password") -> str:
    """A new password: one line of stdin, or typed twice without echo."""
    if from_stdin:
        line = click.get_text_stream("stdin").readline().rstrip("\r\n")
        if not line:
            raise click.UsageError("--password-stdin read no password: pipe one line to it.")
        return line
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))
