"""Engines and transactions for SQLite and PostgreSQL.

SQLite runs in WAL mode with a busy timeout, and every write transaction starts with
``BEGIN IMMEDIATE`` so that two processes never deadlock upgrading a read lock; a write that
still meets a locked database is retried with backoff before the error reaches the user.

Faults of the file itself (not a database, damaged, disk full, not writable) become
:class:`~heron.core.errors.StoreError` subclasses that name the file and say what to do
(:func:`store_fault`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from sqlalchemy import Connection, Engine, create_engine, event, exc, select
from sqlalchemy.pool import StaticPool

from heron.core import uris, validation
from heron.core.errors import (
    ConfigError,
    HeronError,
    SchemaVersionError,
    StoreCorrupt,
    StoreError,
    StoreFull,
    StoreNotWritable,
    os_fault,
)
from heron.store.sql import schema

log = logging.getLogger("heron.store.sql")
T = TypeVar("T")

BUSY_TIMEOUT_MS = 60_000
WRITE_RETRIES = 8

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()


def get_engine(uri: str) -> Engine:
    """The process-wide engine of ``uri``, created (and its schema checked) on first use."""
    engine = _engines.get(uri)
    if engine is None:
        with _engines_lock:
            engine = _engines.get(uri)
            if engine is None:
                engine = create_engine_for(uri)
                ensure_schema(engine)
                _engines[uri] = engine
    return engine


def _forget_parent_connections() -> None:
    # A forked child must not use the connections its parent opened.
    for engine in list(_engines.values()):
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_forget_parent_connections)


def dispose_engines() -> None:
    """Close every pooled connection (after a fork, or in tests)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose(close=False)
        _engines.clear()


def create_engine_for(uri: str) -> Engine:
    """A new engine for ``uri`` (SQLite configured for concurrency), schema not checked."""
    kind = uris.tracking_uri_kind(uri)
    if kind == uris.SQLITE:
        path = uris.sqlite_path(uri)
        if path is None:
            engine = create_engine(
                "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
            )
        else:
            check_sqlite_file(path)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    _create_sqlite_file(path)
            except OSError as e:
                fault = os_fault(e, e.filename or path.parent, "the metadata database")
                raise fault or ConfigError(f"Cannot create the SQLite database {path}: {e}.") from e
            url = f"sqlite:///{path}"
            if _read_only_wal(path):
                # SQLite cannot open a WAL database it may not write (nor create its -shm
                # file beside): read it as immutable, as nobody can be writing it either.
                url = f"sqlite:///file:{quote(str(path))}?immutable=1&uri=true"
            engine = create_engine(
                url,
                connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                pool_size=8,
                max_overflow=16,
            )
        _configure_sqlite(engine)
        return engine
    if kind == uris.POSTGRESQL:
        try:
            import psycopg  # noqa: F401
        except ImportError:
            raise ConfigError(
                "A postgresql:// tracking URI needs psycopg 3: pip install 'heron-ml[postgres]'."
            ) from None
        return create_engine(uris.sqlalchemy_url(uri), pool_pre_ping=True, pool_size=8)
    raise ConfigError(
        f"{uris.redact(uri)} is not a database URI; SqlStore needs sqlite or postgresql."
    )


SQLITE_HEADER = b"SQLite format 3\x00"


def _read_only_wal(path: Path) -> bool:
    """A database whose folder this process cannot write and that no writer has open (no
    shared-memory file beside it)."""
    return (
        path.exists() and not os.access(path.parent, os.W_OK) and not os.path.exists(f"{path}-shm")
    )


def check_sqlite_file(path: os.PathLike[str] | str) -> None:
    """Refuse a file that is there but is not a SQLite database (garbage, or emptied).

    A missing file becomes a new store. An empty (0-byte) file is only taken as a new store
    inside a ``.heron/`` workspace folder (``heron init`` or the home workspace); anywhere
    else it is more likely a database that lost its content than one never written.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise ConfigError(
                f"The tracking URI names {path}, which is a folder; name the database file in "
                f"it (for example {path / 'heron.db'}) or pass the folder without sqlite://."
            )
        if not path.exists():
            return
        with path.open("rb") as f:
            header = f.read(len(SQLITE_HEADER))
    except PermissionError as e:
        raise StoreNotWritable(
            f"Cannot read the metadata database {path}: {e.strerror}. Fix the permissions of "
            "the file and its folder (chmod/chown), or use a copy you may read."
        ) from e
    if not header:
        if path.parent.name == ".heron":
            return
        raise StoreCorrupt(
            f"The metadata database {path} is an empty (0-byte) file, not a Heron store: it "
            "may have been truncated. Restore it from a backup; to start a new store there, "
            "delete the file first (or run `heron init` in another folder)."
        )
    if header != SQLITE_HEADER:
        raise StoreCorrupt(
            f"{path} is not a SQLite database (its first bytes are {header[:16]!r}), so it is "
            "not a Heron store. Check the tracking URI; if it was a Heron database, it was "
            "overwritten: restore it from a backup."
        )


def _create_sqlite_file(path: Path) -> None:
    """Make a new, valid (WAL-mode, empty) SQLite file at ``path``, atomically: it is built
    under another name and linked into place, so no process ever sees it empty (an empty
    file is refused, see :func:`check_sqlite_file`). If another process made it first, its
    file stays."""
    import sqlite3

    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    try:
        connection = sqlite3.connect(tmp)
        try:
            connection.execute("PRAGMA journal_mode = WAL")  # writes the header
        finally:
            connection.close()
        try:
            os.link(tmp, path)  # fails if the file exists meanwhile
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            if not path.exists():
                os.replace(tmp, path)
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


_CORRUPT = ("file is not a database", "malformed", "not a database", "file is encrypted")
_FULL = ("database or disk is full", "no space left")
_NOT_WRITABLE = ("readonly database", "read-only", "permission denied")


def store_fault(engine: Engine, error: BaseException) -> HeronError | None:
    """The HeronError for a database error caused by the file or the disk (``None`` for the
    others: constraint violations, locks, bugs)."""
    original = getattr(error, "orig", None) or error
    text = str(original)
    lower = text.lower()
    where = _where(engine)
    if any(s in lower for s in _CORRUPT):
        return StoreCorrupt(
            f"The metadata database {where} is damaged or is not a SQLite database ({text}). "
            "Restore it from a backup (copy heron.db and its -wal file while no process uses "
            "it), or point the tracking URI at another store."
        )
    if any(s in lower for s in _FULL):
        return StoreFull(
            f"The disk holding the metadata database {where} is full ({text}); the write was "
            "not stored. Free some space and retry."
        )
    if any(s in lower for s in _NOT_WRITABLE):
        return StoreNotWritable(
            f"The metadata database {where} cannot be written ({text}). Fix the permissions "
            "of the file and of its folder (SQLite writes heron.db-wal and heron.db-shm "
            "beside it), or mount the file system read-write."
        )
    if "unable to open database file" in lower:
        return StoreNotWritable(
            f"Cannot open the metadata database {where} ({text}). Check that its folder exists "
            "and that you may read and write both the folder and the file."
        )
    if "disk i/o error" in lower:
        return StoreError(
            f"Reading or writing the metadata database {where} failed ({text}): the disk may "
            "be full, failing or gone (a network drive). Free space or check the disk, then "
            "retry."
        )
    return None


def raise_store_fault(engine: Engine, error: BaseException) -> None:
    """Raise the :func:`store_fault` of ``error``, if it has one (else return)."""
    fault = store_fault(engine, error)
    if fault is not None:
        raise fault from error


def _where(engine: Engine) -> str:
    if engine.dialect.name == "sqlite":
        return str(engine.url.database or ":memory:")
    return uris.redact(engine.url.render_as_string(hide_password=True))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event below decide how transactions start.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA case_sensitive_like = ON")
        cursor.execute("PRAGMA cache_size = -32000")
        # Checkpoint the WAL every ~32 MB instead of every 4 MB: each checkpoint syncs to
        # disk, and many small runs otherwise pay one every few hundred commits.
        cursor.execute("PRAGMA wal_autocheckpoint = 8000")
        cursor.execute("PRAGMA journal_size_limit = 67108864")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("heron_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _not_utf8(error: UnicodeEncodeError) -> HeronError:
    # The driver could not encode a bound parameter: a lone surrogate such as "\ud800" in
    # a name or id the caller passed (never stored, so the lookup can only fail).
    return validation.not_utf8(error, "A name or id passed to the store")


def is_locked(error: BaseException) -> bool:
    """Whether a database error means SQLite was locked by another writer (worth a retry)."""
    text = str(getattr(error, "orig", None) or error).lower()
    return "locked" in text or "busy" in text


def locked_error(attempts: int, error: BaseException) -> StoreError:
    """The error for a database still locked after ``attempts`` tries."""
    return StoreError(
        f"The metadata database stayed locked after {attempts} attempts "
        f"({getattr(error, 'orig', None) or error}). Another process holds a long write "
        "transaction; retry."
    )


def backoff(attempt: int) -> None:
    """Sleep before retry ``attempt`` (exponential, jittered, at most about 2 s)."""
    time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.5))


def run_write(engine: Engine, body: Callable[[Connection], T]) -> T:
    """Run ``body(conn)`` in one write transaction: committed on success, rolled back on error.

    When SQLite reports a locked database the transaction is retried with backoff, so ``body``
    must only touch the database (no side effects outside it).
    """
    from heron.store.sql import audit

    attempt = 0
    while True:
        try:
            with engine.connect() as conn:
                conn.execution_options(heron_write=True)
                with conn.begin():
                    result = body(conn)
                    entry = audit.insert_pending(conn)
                if entry is not None:  # committed with the change it records
                    entry.written = True
                return result
        except UnicodeEncodeError as e:  # a lone surrogate bound as a parameter
            raise _not_utf8(e) from e
        except exc.DBAPIError as e:
            if not isinstance(e, exc.OperationalError) or not is_locked(e):
                raise_store_fault(engine, e)
                raise
            if attempt >= WRITE_RETRIES:
                raise locked_error(attempt + 1, e) from e
            attempt += 1
            backoff(attempt)


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """One read transaction (a consistent snapshot; never blocks writers in WAL mode)."""
    try:
        with engine.connect() as conn, conn.begin():
            yield conn
    except UnicodeEncodeError as e:  # a lone surrogate bound as a parameter
        raise _not_utf8(e) from e
    except exc.DBAPIError as e:
        raise_store_fault(engine, e)
        raise


def ensure_schema(engine: Engine) -> None:
    """Create the schema in an empty database; refuse one at another revision."""
    try:
        revision = _schema_revision(engine)
    except StoreNotWritable:
        with read(engine) as conn:  # a store this process may only read
            revision = conn.execute(select(schema.alembic_version.c.version_num)).scalar()
    if revision != schema.SCHEMA_REVISION:
        raise SchemaVersionError(
            f"The metadata database is at schema revision {revision!r} and this Heron needs "
            f"{schema.SCHEMA_REVISION!r}. Run `heron db upgrade` (back up the database first), "
            "or install the Heron version that wrote it."
        )


def _schema_revision(engine: Engine) -> str | None:
    """The schema revision, after creating the schema in an empty database."""
    try:
        with write_once(engine) as conn:
            if not engine.dialect.has_table(conn, "alembic_version"):
                if _has_other_tables(engine, conn):
                    raise SchemaVersionError(
                        "The database has tables but no Heron schema revision; it is not a Heron "
                        "store. Point the tracking URI at an empty or a Heron database."
                    )
                schema.metadata.create_all(conn)
                conn.execute(
                    schema.alembic_version.insert().values(version_num=schema.SCHEMA_REVISION)
                )
                conn.execute(schema.projects.insert().values(**schema.default_project_row()))
                return schema.SCHEMA_REVISION
            return conn.execute(select(schema.alembic_version.c.version_num)).scalar()
    except exc.DBAPIError as e:
        raise_store_fault(engine, e)
        if not isinstance(e, exc.OperationalError):
            raise
        raise StoreError(f"Cannot open the metadata database {_where(engine)}: {e.orig}.") from e


def _has_other_tables(engine: Engine, conn: Connection) -> bool:
    from sqlalchemy import inspect

    return bool(inspect(conn).get_table_names())


@contextmanager
def write_once(engine: Engine) -> Iterator[Connection]:
    """A write transaction that is not retried (schema creation), serialized across processes."""
    with engine.connect() as conn:
        conn.execution_options(heron_write=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727361)")
            yield conn
