"""``heron init``: make a folder a Heron workspace (``.heron/`` with the database and artifacts).

Runs started in that folder or any folder below it are tracked there, because the default
tracking URI is the nearest ``.heron/`` found upward from the working directory (DESIGN §3).
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from heron.cli.output import echo


@click.command()
@click.argument(
    "path", required=False, type=click.Path(file_okay=False, path_type=Path), metavar="[PATH]"
)
def init(path: Path | None) -> None:
    """Create a Heron workspace, PATH/.heron/ (default: the current folder).

    It holds the metadata database (heron.db) and the artifacts/ folder. Runs started in
    PATH or any folder below it are tracked there. Running it again changes nothing.
    """
    from heron.core import config, uris
    from heron.store.registry import get_store

    root = (path or Path.cwd()).expanduser().resolve()
    workspace = root / config.WORKSPACE_DIR
    database = workspace / config.DB_FILE
    artifacts = workspace / config.ARTIFACTS_DIR
    existed = database.exists()
    artifacts.mkdir(parents=True, exist_ok=True)
    ignore = workspace / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Heron's local data: not for version control.\n*\n")
    get_store(uris.sqlite_uri(database))  # creates the schema, or checks an existing one

    if existed:
        echo(f"A Heron workspace already exists in {workspace}; nothing to do.")
    else:
        echo(f"Initialized a Heron workspace in {workspace}", bold=True)
    echo(f"  metadata   {database}")
    echo(f"  artifacts  {artifacts}")
    echo(f"Runs started in {root} or any folder below it are tracked here.")
    override = os.environ.get(config.TRACKING_URI_ENV)
    if override:
        echo(
            f"Note: {config.TRACKING_URI_ENV} is set ({uris.redact(override)}) and takes "
            "precedence over this workspace; unset it to use the workspace.",
            fg="yellow",
        )
