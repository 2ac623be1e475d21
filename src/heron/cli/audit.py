"""``heron audit``: who changed what, when, and which requests were denied."""

from __future__ import annotations

from typing import Any

import click

from heron.cli.governance import Moment, open_governance, plain
from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import echo, format_time, print_json, print_table

DEFAULT_LIMIT = 100
#: how much of one value a detail cell shows
_VALUE_CHARS = 60


@click.command()
@click.option(
    "--since", type=Moment(), metavar="WHEN", help="From: 1d, 2h, 30m ago or an ISO date."
)
@click.option("--until", type=Moment(), metavar="WHEN", help="Before: 1d, 2h ago or an ISO date.")
@click.option("--user", metavar="USER", help="Only what USER did (local:NAME: on the database).")
@click.option("--project", metavar="PROJECT", help="Only entries of this project.")
@click.option("--object", "object_id", metavar="ID", help="Only entries about this object id.")
@click.option("--denied", is_flag=True, help="Only the requests that were refused.")
@click.option(
    "--limit",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_LIMIT,
    show_default=True,
    help="At most this many entries (the newest).",
)
@tracking_uri_option
@json_option
def audit(
    since: int | None,
    until: int | None,
    user: str | None,
    project: str | None,
    object_id: str | None,
    denied: bool,
    limit: int,
    as_json: bool,
) -> None:
    """Show the audit trail, newest first: every write of a team server (and of these
    commands on its database) and every request it denied, with the before and after of
    alias moves, deletes and permission changes.

    Admins see everything; a project's maintainers see that project's entries.

    \b
      heron audit --since 1d --user bob
      heron audit --project fraud --denied
      heron audit --since 2026-03-01 --until 2026-03-02 --json
    """
    entries = open_governance().search_audit(
        since=since,
        until=until,
        user=user,
        project=project,
        object_id=object_id,
        outcome="denied" if denied else None,
        max_results=limit,
    )
    if as_json:
        print_json([plain(e) for e in entries])
        return
    if not entries:
        echo("No audit entries match.")
        return
    print_table(
        [
            "time",
            "user",
            "action",
            "project",
            ("object", {"max_width": 40, "overflow": "ellipsis"}),
            "outcome",
            ("detail", {"no_wrap": False, "overflow": "fold"}),
        ],
        (
            [
                format_time(e.at),
                e.user or "anonymous",
                _action(e),
                e.project,
                f"{e.object_type}:{e.object_id}" if e.object_type else e.object_id,
                _outcome(e),
                describe(e.detail) or None,
            ]
            for e in entries
        ),
    )
    if len(entries) == limit:
        echo(f"(the newest {limit}; --limit shows more, --since and --until narrow it)", dim=True)


def _action(entry: Any) -> str:
    action = str(entry.action)
    if entry.route == "cli":  # written to the database by these commands
        return f"{action} (cli)"
    return action


def _outcome(entry: Any) -> Any:
    from rich.text import Text

    if entry.outcome == "ok":
        return Text("ok", style="green")
    return Text(f"{entry.outcome} {entry.status}", style="red")


def describe(detail: dict[str, Any] | None) -> str:
    """An entry's detail on one line: its fields as ``key=value``, then what changed as
    ``before → after`` (of two dicts, only the keys that differ).

    >>> describe({"user": "bob", "before": None, "after": "editor"})
    'user=bob; - → editor'
    >>> describe({"before": {"admin": True, "disabled": False},
    ...           "after": {"admin": True, "disabled": True}})
    'disabled: false → true'
    """
    if not detail:
        return ""
    parts = [
        f"{k}={_short(format_time(v) if k.endswith('_at') and isinstance(v, int) else v)}"
        for k, v in detail.items()
        if k not in ("before", "after")
    ]
    if "before" in detail or "after" in detail:
        before, after = detail.get("before"), detail.get("after")
        if isinstance(before, dict) and isinstance(after, dict):
            keys = [k for k in {**before, **after} if before.get(k) != after.get(k)]
            changed = [f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in keys]
            parts.append(", ".join(changed) or "no change")
        else:
            parts.append(f"{_short(before)} → {_short(after)}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    import orjson

    if value is None:
        return "-"
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text if len(text) <= _VALUE_CHARS else text[: _VALUE_CHARS - 1] + "…"
