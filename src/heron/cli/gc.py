"""``heron gc``: free the storage of deleted runs (artifact bytes nothing live refers to)."""

from __future__ import annotations

import contextlib

import click

from heron.cli.options import json_option
from heron.cli.output import echo, format_size, print_json


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


@click.command()
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted; change nothing.")
@click.option(
    "--min-age",
    type=click.FloatRange(min=0),
    default=3600,
    show_default=True,
    metavar="SECONDS",
    help="Leave objects younger than this alone (a step may be writing them right now).",
)
@json_option
def gc(dry_run: bool, min_age: float, as_json: bool) -> None:
    """Delete stored artifact bytes that no live artifact version or run log refers to.

    First retires the artifact versions that only deleted runs made or read (`heron runs
    delete`), then deletes every stored object nothing live needs. Objects written less
    than --min-age seconds ago are kept. Deleted runs cannot be restored with their
    artifacts afterwards.
    """
    from heron.cli.output import console
    from heron.tracking.client import Client

    client = Client()
    show = not as_json and console().is_terminal
    spinner = (
        console().status("Looking for unreferenced objects…") if show else contextlib.nullcontext()
    )
    with spinner:
        report = client.gc(dry_run=dry_run, min_age=min_age)
    deleted = len(report.deleted_objects)
    if as_json:
        print_json(
            {
                "dry_run": report.dry_run,
                "retired_versions": report.retired_versions,
                "deleted_objects": report.deleted_objects,
                "deleted_count": deleted,
                "freed_bytes": report.freed_bytes,
                "kept_objects": report.kept_objects,
            }
        )
        return
    size = f"{format_size(report.freed_bytes)}"
    if dry_run:
        echo(
            f"Would delete {_plural(deleted, 'object')} ({size}); "
            f"{_plural(report.kept_objects, 'object')} would be kept."
        )
        if report.retired_versions:
            echo(f"Would retire {_plural(report.retired_versions, 'artifact version')}.")
        echo("Dry run: nothing was deleted. Run `heron gc` to delete them.", dim=True)
        return
    if report.retired_versions:
        echo(
            f"Retired {_plural(report.retired_versions, 'artifact version')} "
            "that only deleted runs used."
        )
    echo(
        f"Deleted {_plural(deleted, 'object')}, freeing {size}; "
        f"{_plural(report.kept_objects, 'object')} kept.",
        bold=bool(deleted),
    )
    if not deleted and min_age > 0:
        echo(
            f"Objects younger than {min_age:g}s are never deleted (--min-age).",
            dim=True,
        )
