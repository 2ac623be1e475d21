"""``heron stack``: named configurations of where pipelines run and where data is kept."""

from __future__ import annotations

from typing import Any

import click

from heron.cli.options import json_option
from heron.cli.output import echo, format_time, print_fields, print_json, print_table


def _definition_options(function: Any) -> Any:
    options = [
        click.option(
            "--tracking-uri",
            metavar="URI",
            help="The stack's metadata store: http(s)://host:5151 (a heron server), "
            "postgresql://… or sqlite:///…",
        ),
        click.option(
            "--artifact-uri",
            metavar="URI",
            help="The stack's artifact store: any fsspec URL (s3://bucket/heron, gs://…, file://…).",
        ),
        click.option(
            "--orchestrator",
            type=click.Choice(["local", "dask", "ray"]),
            help="Where steps run (default for a new stack: local).",
        ),
        click.option(
            "-o",
            "--option",
            "options",
            multiple=True,
            metavar="KEY=VALUE",
            help="An orchestrator option, e.g. address=ray://head:10001 (repeatable; VALUE is "
            "read as JSON when it parses).",
        ),
        click.option(
            "--parallelism",
            type=click.IntRange(min=1),
            metavar="N",
            help="How many steps run at once by default.",
        ),
        click.option("--description", metavar="TEXT", help="What the stack is for."),
        click.option(
            "--no-check",
            is_flag=True,
            help="Store it without checking the orchestrator's package and the addresses.",
        ),
        json_option,
    ]
    for option in reversed(options):
        function = option(function)
    return function


@click.group()
def stack() -> None:
    """Named configurations: tracking URI, artifact URI, orchestrator and its options.

    \b
    heron stack create cluster --tracking-uri http://heron:5151 \\
          --artifact-uri s3://bucket/heron --orchestrator ray -o address=ray://head:10001
    heron stack use cluster        # this workspace's runs now go there
    heron run flows.py:training --stack laptop
    HERON_STACK=cluster python train.py

    Stacks are kept in the store --tracking-uri / HERON_TRACKING_URI points at (a team's
    heron server: everyone sees them), else in the local workspace.
    """


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    from heron.cli.run import parse_params

    return parse_params(pairs, "-o/--option")


def _show(found: Any, as_json: bool, message: str) -> None:
    if as_json:
        print_json(found.to_dict())
        return
    echo(message)


@stack.command()
@click.argument("name")
@_definition_options
def create(
    name: str,
    tracking_uri: str | None,
    artifact_uri: str | None,
    orchestrator: str | None,
    options: tuple[str, ...],
    parallelism: int | None,
    description: str | None,
    no_check: bool,
    as_json: bool,
) -> None:
    """Create stack NAME (checked first: the orchestrator's package, its address and the
    tracking server must answer, and a remote cluster's workers must reach the stores)."""
    from heron.stacks.manage import create_stack

    found = create_stack(
        name,
        tracking_uri=tracking_uri,
        artifact_uri=artifact_uri,
        orchestrator=orchestrator or "local",
        orchestrator_options=_options(options),
        parallelism=parallelism,
        description=description or "",
        check=not no_check,
    )
    _show(
        found,
        as_json,
        f"Created stack {name!r}: {_summary(found)}. Use it with `heron stack use {name}`.",
    )


@stack.command()
@click.argument("name")
@_definition_options
@click.option("--clear-option", "cleared", multiple=True, metavar="KEY", help="Remove an option.")
def update(
    name: str,
    tracking_uri: str | None,
    artifact_uri: str | None,
    orchestrator: str | None,
    options: tuple[str, ...],
    parallelism: int | None,
    description: str | None,
    no_check: bool,
    as_json: bool,
    cleared: tuple[str, ...],
) -> None:
    """Change stack NAME: only what is given changes (-o adds or replaces options)."""
    from heron.stacks.manage import get_stack, update_stack

    changes: dict[str, Any] = {}
    for key, value in (
        ("tracking_uri", tracking_uri),
        ("artifact_uri", artifact_uri),
        ("orchestrator", orchestrator),
        ("parallelism", parallelism),
        ("description", description),
    ):
        if value is not None:
            changes[key] = value
    if options or cleared:
        merged = {**get_stack(name).orchestrator_options, **_options(options)}
        for key in cleared:
            merged.pop(key, None)
        changes["orchestrator_options"] = merged
    if not changes:
        raise click.UsageError("Nothing to change: give at least one option (see --help).")
    found = update_stack(name, check=not no_check, **changes)
    _show(found, as_json, f"Updated stack {name!r}: {_summary(found)}.")


@stack.command()
@click.argument("name")
@click.option("--no-check", is_flag=True, help="Do not check that its addresses answer.")
def use(name: str, no_check: bool) -> None:
    """Make NAME this workspace's active stack (`default` goes back to the built-in one)."""
    from heron.core import config
    from heron.stacks.manage import use_stack

    found = use_stack(name, persist=True, check=not no_check)
    echo(f"Active stack: {found.name} ({_summary(found)}); kept in {config.active_stack_file()}.")


@stack.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List the stacks; the one in force is marked with *."""
    from heron.stacks.manage import current_stack, list_stacks

    found = list_stacks()
    current = current_stack().name
    if as_json:
        print_json([{**s.to_dict(), "active": s.name == current} for s in found])
        return
    print_table(
        ["", "name", "orchestrator", "tracking URI", "artifact URI", "parallelism"],
        [
            [
                "*" if s.name == current else "",
                s.name,
                _orchestrator(s),
                s.tracking_uri or "(as without a stack)",
                s.artifact_uri or "(as without a stack)",
                s.parallelism,
            ]
            for s in found
        ],
    )


@stack.command()
@click.argument("name", required=False)
@json_option
def show(name: str | None, as_json: bool) -> None:
    """Show stack NAME (default: the one in force, and what chose it)."""
    from heron.core import config, uris
    from heron.stacks.manage import current_stack, get_stack, selected_by

    found = get_stack(name) if name else current_stack()
    if as_json:
        print_json(found.to_dict())
        return
    fields: list[tuple[str, Any]] = [
        ("orchestrator", _orchestrator(found)),
        ("tracking URI", found.tracking_uri or "(as without a stack)"),
        ("artifact URI", found.artifact_uri or "(as without a stack)"),
        ("parallelism", found.parallelism or "the orchestrator's default"),
        ("description", found.description or None),
    ]
    if found.created_at:
        fields.append(("created", format_time(found.created_at)))
    if not name:
        fields.append(("chosen by", selected_by()))
        fields.append(("in force", f"tracking {uris.redact(config.get_tracking_uri())}"))
    print_fields(fields, title=found.name)


@stack.command()
@click.argument("name")
@click.confirmation_option(prompt="Delete the stack (runs that used it keep their record)?")
def delete(name: str) -> None:
    """Delete stack NAME; runs that used it keep their record of it."""
    from heron.stacks.manage import delete_stack

    delete_stack(name)
    echo(f"Deleted stack {name!r}.")


def _orchestrator(found: Any) -> str:
    options = ", ".join(f"{k}={v}" for k, v in found.orchestrator_options.items())
    return f"{found.orchestrator} ({options})" if options else found.orchestrator


def _summary(found: Any) -> str:
    parts = [f"orchestrator {_orchestrator(found)}"]
    if found.tracking_uri:
        parts.append(f"tracking {found.tracking_uri}")
    if found.artifact_uri:
        parts.append(f"artifacts {found.artifact_uri}")
    return ", ".join(parts)
