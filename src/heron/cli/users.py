"""``heron users``: the team server's users (see docs/security.md)."""

from __future__ import annotations

from typing import Any

import click

from heron.cli.governance import open_governance, plain, read_password
from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import echo, format_time, print_json, print_table


@click.group()
def users() -> None:
    """Create, list, disable and enable the users of a team server (`heron server --auth`).

    Against the server's database (sqlite:///…, postgresql://…) this works on the server's
    machine with no sign-in; against http(s)://… it signs in with HERON_TRACKING_TOKEN (or
    HERON_TRACKING_USERNAME and HERON_TRACKING_PASSWORD) and needs an admin.
    """


@users.command()
@click.argument("name")
@click.option("--admin", is_flag=True, help="A server admin: may do everything.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of stdin (scripts)."
)
@click.option(
    "--no-password",
    is_flag=True,
    help="A service account without a password: it signs in with API tokens only.",
)
@tracking_uri_option
@json_option
def create(name: str, admin: bool, password_stdin: bool, no_password: bool, as_json: bool) -> None:
    """Create the user NAME; asks for the password twice (hidden).

    \b
      heron users create ana --admin
      printf '%s\\n' "$PASSWORD" | heron users create bob --password-stdin
      heron users create scheduler --admin --no-password
    """
    if password_stdin and no_password:
        raise click.UsageError("--password-stdin and --no-password exclude each other.")
    governance = open_governance(create=True)  # a bad URI fails before the prompt
    password = None if no_password else read_password(password_stdin)
    user = governance.create_user(name, password, admin=admin)
    if as_json:
        print_json(plain(user))
        return
    kind = "admin" if user.is_admin else "user"
    echo(f"Created {kind} {user.name!r}.", fg="green")
    if no_password:
        echo(
            f"It has no password and signs in with API tokens: "
            f"heron tokens create --user {user.name} --name NAME"
        )


@users.command("list")
@tracking_uri_option
@json_option
def list_(as_json: bool) -> None:
    """List the users by name."""
    found = open_governance().list_users()
    if as_json:
        print_json([plain(u) for u in found])
        return
    if not found:
        echo("No users yet; create the first admin with `heron users create NAME --admin`.")
        return
    print_table(
        ["name", "admin", "status", "signs in with", "created", "updated"],
        (
            [
                u.name,
                "yes" if u.is_admin else "no",
                _status(u),
                "password, tokens" if u.has_password else "tokens",
                format_time(u.created_at),
                format_time(u.updated_at),
            ]
            for u in found
        ),
    )


def _status(user: Any) -> Any:
    from rich.text import Text

    return Text("disabled", style="yellow") if user.disabled else Text("enabled", style="green")


@users.command()
@click.argument("name")
@tracking_uri_option
def disable(name: str) -> None:
    """Disable the user NAME: their tokens, password and sessions stop working (within a
    second on a running server). The last enabled admin cannot be disabled."""
    open_governance().update_user(name, disabled=True)
    echo(f"Disabled user {name!r}; `heron users enable {name}` undoes it.")


@users.command()
@click.argument("name")
@tracking_uri_option
def enable(name: str) -> None:
    """Enable the user NAME again (their unrevoked API tokens work again)."""
    open_governance().update_user(name, disabled=False)
    echo(f"Enabled user {name!r}.")


@users.command("set-password")
@click.argument("name")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from one line of stdin (scripts)."
)
@tracking_uri_option
def set_password(name: str, password_stdin: bool) -> None:
    """Set the password of the user NAME; asks for it twice (hidden)."""
    governance = open_governance()
    password = read_password(password_stdin, "New password")
    governance.update_user(name, password=password)
    echo(f"Changed the password of {name!r}.")


@users.command()
@click.argument("name")
@click.option(
    "--admin/--no-admin",
    default=None,
    help="Make NAME a server admin, or take the admin flag away.",
)
@tracking_uri_option
@json_option
def update(name: str, admin: bool | None, as_json: bool) -> None:
    """Change the user NAME (its admin flag). The last enabled admin keeps the flag.

    \b
      heron users update bob --admin
      heron users update bob --no-admin
    """
    if admin is None:
        raise click.UsageError("Say what to change: --admin or --no-admin.")
    user = open_governance().update_user(name, admin=admin)
    if as_json:
        print_json(plain(user))
        return
    echo(f"{name!r} is {'now' if user.is_admin else 'no longer'} an admin.")
