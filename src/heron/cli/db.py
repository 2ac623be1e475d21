"""``heron db``: the schema revision of the metadata database, and migrating it."""

from __future__ import annotations

import click

from heron.cli.options import tracking_uri_option
from heron.cli.output import echo


def _database_uri() -> tuple[str, str]:
    """The active tracking URI and its printable (password-free) form; databases only."""
    from heron.core import config, uris
    from heron.core.errors import ConfigError

    uri = config.get_tracking_uri()
    if uris.tracking_uri_kind(uri) == uris.HTTP:
        raise ConfigError(
            f"{uris.redact(uri)} is a Heron server; run `heron db` against its database URI "
            "(sqlite:///… or postgresql://…) on the server side."
        )
    return uri, uris.redact(uri)


def _missing_sqlite_file(uri: str) -> bool:
    from heron.core import uris

    if uris.tracking_uri_kind(uri) != uris.SQLITE:
        return False
    path = uris.sqlite_path(uri)
    return path is not None and not path.exists()


@click.group()
def db() -> None:
    """Show or upgrade the schema of the metadata database."""


@db.command()
@tracking_uri_option
def current(**_: object) -> None:
    """Print the schema revision of the database."""
    from heron.store.sql import migrate

    uri, shown = _database_uri()
    if _missing_sqlite_file(uri):
        echo(f"No database at {shown} yet; it is created on first use.")
        return
    revision = migrate.current_revision(uri)
    head = migrate.head_revision()
    if revision is None:
        echo(f"Database at {shown} has no Heron schema yet; it is created on first use.")
    elif revision == head:
        echo(f"Database at {shown} is at revision {revision} (up to date).")
    else:
        echo(
            f"Database at {shown} is at revision {revision}; this Heron needs {head}. "
            "Run `heron db upgrade` (back up the database first)."
        )


@db.command()
@tracking_uri_option
def upgrade(**_: object) -> None:
    """Migrate the database to the schema this Heron needs.

    Back the database up first. A database that is already up to date is left alone.
    """
    from heron.store.sql import migrate

    uri, shown = _database_uri()
    before, after = migrate.upgrade_database(uri)
    if before == after:
        echo(f"Database at {shown} is already at revision {after}.")
    elif before is None:
        echo(f"Database at {shown} created at revision {after}.")
    else:
        echo(f"Database at {shown} upgraded from revision {before} to {after}.")
