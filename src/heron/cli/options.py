"""Options shared by several sub-commands."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from heron.tracking.client import Client

F = TypeVar("F", bound=Callable[..., Any])


def open_client(create: bool = False) -> Client:
    """A Client of the tracking URI in force (the heavy imports happen here, on first use).
    Its database must exist unless ``create`` (a command whose write may be the first):
    reading a mistyped URI is an error, not a new empty store."""
    from heron.core import config
    from heron.tracking.client import Client

    if not create:
        config.require_existing_store(config.get_tracking_uri())
    return Client()


def in_project(project: str) -> str:
    """`` in project 'x'`` for a message about a project's names; nothing for ``default``."""
    return "" if project == "default" else f" in project {project!r}"


def _set_tracking_uri(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        from heron.core import config

        config.set_tracking_uri(value)


def tracking_uri_option(func: F) -> F:
    """``--tracking-uri URI`` on a sub-command (same meaning as the global option)."""
    return click.option(
        "--tracking-uri",
        metavar="URI",
        expose_value=False,
        callback=_set_tracking_uri,
        help="The tracking URI to use (overrides the global option and $HERON_TRACKING_URI).",
    )(func)


def json_option(func: F) -> F:
    """``--json``: print machine-readable JSON on stdout instead of tables."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print JSON for scripts, and nothing else, on stdout.",
    )(func)


def view_option(what: str) -> Callable[[F], F]:
    """``--view active|deleted|all`` for listing ``what``."""
    return click.option(
        "--view",
        type=click.Choice(["active", "deleted", "all"]),
        default="active",
        show_default=True,
        help=f"Which {what} to list: active ones, deleted ones, or all.",
    )
