"""``heron experiments``: list, create, delete, restore and rename experiments."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from heron.cli.options import in_project, json_option, open_client, view_option
from heron.cli.output import echo, format_time, print_json, print_table

if TYPE_CHECKING:
    pass


@click.group()
def experiments() -> None:
    """List and manage experiments (named groups of runs)."""


@experiments.command("list")
@view_option("experiments")
@json_option
def list_(view: str, as_json: bool) -> None:
    """List the experiments of the project (--project, $HERON_PROJECT, else 'default') by
    name."""
    client = open_client()
    found = client.list_experiments(view)
    if as_json:
        print_json([e.to_dict() for e in found])
        return
    if not found:
        echo(f"No {'' if view == 'all' else view + ' '}experiments{in_project(client.project)}.")
        return
    print_table(
        ["id", "name", "lifecycle", "created"],
        ([e.id, e.name, e.lifecycle, format_time(e.created_at)] for e in found),
    )


def _parse_tags(pairs: tuple[str, ...]) -> dict[str, str]:
    tags = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE.", param_hint="--tag")
        tags[key] = value
    return tags


@experiments.command()
@click.argument("name")
@click.option(
    "--tag",
    "-t",
    "tags",
    multiple=True,
    metavar="KEY=VALUE",
    help="Tag the experiment (repeatable).",
)
@json_option
def create(name: str, tags: tuple[str, ...], as_json: bool) -> None:
    """Create an experiment called NAME."""
    exp = open_client(create=True).create_experiment(name, _parse_tags(tags))
    if as_json:
        print_json(exp.to_dict())
    else:
        echo(f"Created experiment {exp.name!r} (id {exp.id}).")


@experiments.command()
@click.argument("experiment", metavar="NAME_OR_ID")
def delete(experiment: str) -> None:
    """Delete an experiment.

    It and its runs are hidden until `heron experiments restore` brings them back.
    """
    client = open_client()
    exp = client.get_experiment(experiment)
    client.delete_experiment(exp.id)
    echo(
        f"Deleted experiment {exp.name!r} (id {exp.id}). "
        f"Undo with: heron experiments restore {exp.id}"
    )


@experiments.command()
@click.argument("experiment", metavar="NAME_OR_ID")
def restore(experiment: str) -> None:
    """Restore a deleted experiment."""
    client = open_client()
    exp = client.get_experiment(experiment)
    client.restore_experiment(exp.id)
    echo(f"Restored experiment {exp.name!r} (id {exp.id}).")


@experiments.command()
@click.argument("experiment", metavar="NAME_OR_ID")
@click.argument("new_name")
def rename(experiment: str, new_name: str) -> None:
    """Rename an experiment."""
    client = open_client()
    exp = client.get_experiment(experiment)
    client.rename_experiment(exp.id, new_name)
    echo(f"Renamed experiment {exp.name!r} to {new_name!r} (id {exp.id}).")
