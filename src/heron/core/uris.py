"""Parsing of tracking and artifact URIs."""

from __future__ import annotations

import os
from pathlib import Path

from heron.core.errors import ConfigError

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
HTTP = "http"

_SCHEMES = {
    "sqlite": SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,
    "postgresql+psycopg": POSTGRESQL,
    "http": HTTP,
    "https": HTTP,
}


def tracking_uri_kind(uri: str) -> str:
    """``"sqlite"``, ``"postgresql"`` or ``"http"`` for a tracking URI, else :class:`ConfigError`.

    >>> tracking_uri_kind("sqlite:///runs/heron.db")
    'sqlite'
    """
    scheme, sep, _ = uri.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ConfigError(
            f"Unsupported tracking URI {uri!r}. Use sqlite:///path/heron.db, "
            "postgresql://user:password@host:port/db or http(s)://host:port."
        )
    return _SCHEMES[scheme.lower()]


def sqlite_uri(path: str | os.PathLike[str]) -> str:
    """The SQLAlchemy URI of a SQLite file (absolute)."""
    return "sqlite:///" + str(Path(path).expanduser().resolve())


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for an in-memory database).

    ``sqlite:///relative.db`` is relative to the working directory and
    ``sqlite:////abs/path.db`` absolute, as in SQLAlchemy.
    """
    rest = uri.split("://", 1)[1]
    if not rest.startswith("/"):
        raise ConfigError(f"Malformed SQLite URI {uri!r}: write sqlite:///path/to/heron.db.")
    path = rest[1:].split("?", 1)[0]
    if path in ("", ":memory:"):
        return None
    return Path(path).expanduser()


def sqlalchemy_url(uri: str) -> str:
    """The URL SQLAlchemy needs: PostgreSQL goes through psycopg 3."""
    kind = tracking_uri_kind(uri)
    if kind == POSTGRESQL:
        return "postgresql+psycopg://" + uri.split("://", 1)[1]
    return uri


def local_path_of(uri: str) -> Path | None:
    """The local path of a ``file://`` URI or a plain path, else ``None`` (remote)."""
    if "://" not in uri:
        return Path(uri).expanduser()
    scheme, rest = uri.split("://", 1)
    if scheme == "file":
        return Path(rest).expanduser() if rest else None
    return None


def redact(uri: str) -> str:
    """The URI with any password replaced by ``***``, safe to print or log."""
    scheme, sep, rest = uri.partition("://")
    if not sep or "@" not in rest:
        return uri
    creds, _, host = rest.rpartition("@")
    if ":" in creds:
        creds = creds.split(":", 1)[0] + ":***"
    return f"{scheme}://{creds}@{host}"
