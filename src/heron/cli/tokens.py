"""``heron tokens``: API tokens of the team server's users (see docs/security.md)."""

from __future__ import annotations

from typing import Any

import click

from heron.cli.governance import Duration, open_governance, plain
from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import echo, format_time, print_json, print_table


@click.group()
def tokens() -> None:
    """Create, list and revoke API tokens (what scripts and clients sign in with).

    A token's secret is printed once, when it is made; the server keeps only its hash.
    """


@tokens.command()
@click.option("--name", required=True, help="What the token is for (laptop, ci, scheduler).")
@click.option(
    "--user",
    metavar="USER",
    help="Whose token (default: yours; admins may name anyone). Required over a database URI.",
)
@click.option(
    "--expires-in",
    type=Duration(),
    metavar="DURATION",
    help="Lifetime: 30d, 12h, 3600s, … (default: until revoked).",
)
@tracking_uri_option
@json_option
def create(name: str, user: str | None, expires_in: float | None, as_json: bool) -> None:
    """Create an API token and print its secret, once.

    The secret alone goes to stdout (the notes to stderr), so that it can be captured:

    \b
      heron tokens create --name laptop
      heron tokens create --name ci --user ci-bot --expires-in 30d
      export HERON_TRACKING_TOKEN=$(heron tokens create --name laptop)
    """
    token, secret = open_governance().create_token(name, user=user, expires_in=expires_in)
    if as_json:
        print_json({"token": plain(token), "secret": secret})
        return
    expiry = f"expires {format_time(token.expires_at)}" if token.expires_at else "never expires"
    echo(f"Created token {token.name!r} of {token.user} (id {token.id}; {expiry}).", err=True)
    click.echo(secret)
    echo(
        "This secret cannot be shown again: store it now (HERON_TRACKING_TOKEN, or "
        "MLFLOW_TRACKING_TOKEN for MLflow clients).",
        fg="yellow",
        err=True,
    )


@tokens.command("list")
@click.option("--user", metavar="USER", help="This user's tokens (admins: anyone's).")
@click.option("--all", "all_users", is_flag=True, help="Every user's tokens (admins).")
@tracking_uri_option
@json_option
def list_(user: str | None, all_users: bool, as_json: bool) -> None:
    """List API tokens (never their secrets): yours by default.

    Over a database URI, where nobody is signed in, every user's unless --user is given.
    """
    if user and all_users:
        raise click.UsageError("--user and --all exclude each other.")
    found = open_governance().list_tokens(user, all_users=all_users)
    if as_json:
        print_json([plain(t) for t in found])
        return
    if not found:
        echo("No API tokens; `heron tokens create --name NAME` makes one.")
        return
    print_table(
        ["id", "name", "user", "status", "created", "last used", "expires"],
        (
            [
                t.id,
                t.name,
                t.user,
                _status(t),
                format_time(t.created_at),
                format_time(t.last_used_at),
                format_time(t.expires_at) or "never",
            ]
            for t in found
        ),
    )


def _status(token: Any) -> Any:
    from rich.text import Text

    if token.revoked_at is not None:
        return Text("revoked", style="dim")
    if not token.active:
        return Text("expired", style="yellow")
    return Text("active", style="green")


@tokens.command()
@click.argument("token", metavar="TOKEN")
@click.option(
    "--user",
    metavar="USER",
    help="Whose token TOKEN names (default: yours; lets TOKEN be a name, not only an id).",
)
@tracking_uri_option
def revoke(token: str, user: str | None) -> None:
    """Revoke TOKEN (its id, or its name among USER's tokens): a running server refuses it
    within a second."""
    revoked = open_governance().revoke_token(token, user=user)
    echo(f"Revoked token {revoked.name!r} of {revoked.user} (id {revoked.id}).")
