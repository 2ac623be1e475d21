"""``heron projects``: projects (namespaces) and their members' roles (see docs/security.md)."""

from __future__ import annotations

import click

from heron.cli.governance import open_governance, plain
from heron.cli.options import json_option, tracking_uri_option
from heron.cli.output import echo, format_time, print_fields, print_json, print_table
from heron.core.identities import ROLES


@click.group()
def projects() -> None:
    """Create, list, show and delete projects; grant and revoke their roles.

    A project owns experiments, registered models and artifact versions. Roles, per project:
    viewer (read), editor (write runs, artifacts, models), maintainer (move aliases, delete,
    manage members). Work in one with HERON_PROJECT or `heron --project NAME`.
    """


@projects.command()
@click.argument("name")
@click.option("--description", metavar="TEXT", help="What the project is for.")
@tracking_uri_option
@json_option
def create(name: str, description: str | None, as_json: bool) -> None:
    """Create the empty project NAME (admins)."""
    project = open_governance().create_project(name, description)
    if as_json:
        print_json(plain(project))
        return
    echo(
        f"Created project {project.name!r}; give it members with "
        f"`heron projects grant {project.name} --user USER --role editor`."
    )


@projects.command("list")
@tracking_uri_option
@json_option
def list_(as_json: bool) -> None:
    """List the projects (on a server: those you may read)."""
    found = open_governance().list_projects()
    if as_json:
        print_json([plain(p) for p in found])
        return
    if not found:
        echo("No projects you may read.")
        return
    print_table(
        ["name", "members", "created", ("description", {"max_width": 60, "overflow": "ellipsis"})],
        ([p.name, len(p.members), format_time(p.created_at), p.description] for p in found),
    )


@projects.command()
@click.argument("name")
@tracking_uri_option
@json_option
def show(name: str, as_json: bool) -> None:
    """Show the project NAME and its members."""
    project = open_governance().get_project(name)
    if as_json:
        print_json(plain(project))
        return
    print_fields(
        [
            ("description", project.description),
            ("created", format_time(project.created_at)),
            ("members", len(project.members)),
        ],
        title=f"Project {project.name}",
    )
    if project.members:
        echo()
        print_table(["user", "role"], sorted(project.members.items()))


@projects.command()
@click.argument("name")
@tracking_uri_option
def delete(name: str) -> None:
    """Delete the project NAME (admins); only an empty one (no experiments, models or
    artifact versions)."""
    project = open_governance().delete_project(name)
    echo(f"Deleted project {project.name!r}.")


@projects.command()
@click.argument("name")
@click.option("--user", required=True, metavar="USER", help="Who gets the role.")
@click.option("--role", required=True, type=click.Choice(ROLES), help="The role in NAME.")
@tracking_uri_option
def grant(name: str, user: str, role: str) -> None:
    """Give USER a role in the project NAME (replacing the one they had)."""
    before, after = open_governance().grant(name, user, role)
    had = f"was {before}" if before else "had no role"
    echo(f"{user} is {after} in {name} ({had}).")


@projects.command()
@click.argument("name")
@click.option("--user", required=True, metavar="USER", help="Whose role to take away.")
@tracking_uri_option
def revoke(name: str, user: str) -> None:
    """Take USER's role in the project NAME away."""
    before = open_governance().revoke(name, user)
    echo(f"{user} is no longer {before} in {name}.")
