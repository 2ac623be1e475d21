"""The other stores a suite is run on: PostgreSQL directly, and a live `heron server` (on
SQLite). One per module; yields ``(tracking_uri, database_uri)``."""

from __future__ import annotations

from collections.abc import Iterator

from heron.store.sql.engine import dispose_engines
from tests.support.server import running_server
from tests.support.stores import sqlite_uri


def other_backend(request, tmp_path_factory, prefix: str) -> Iterator[tuple[str, str]]:
    """For a fixture parametrized with ``"postgresql"`` and ``"server"``."""
    folder = tmp_path_factory.mktemp(prefix)
    if request.param == "postgresql":
        postgres = request.getfixturevalue("postgres_server")
        uri = postgres.create_database()
        yield uri, uri
        dispose_engines()
        postgres.drop_database(uri)
        return
    uri = sqlite_uri(folder / "heron.db")
    with running_server(
        uri, str(folder / "artifacts"), folder / "server.log", extra_args=("--no-access-log",)
    ) as running:
        yield running.url, uri
