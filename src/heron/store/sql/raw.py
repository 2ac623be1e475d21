"""The fast path of the hot writes: Core statements compiled once, run on a DBAPI cursor.

Creating runs and logging batches are the calls made thousands of times a second. Going
through SQLAlchemy's execution machinery costs more there than SQLite itself, so these
statements are compiled once per dialect and executed directly in a transaction that
:func:`run_raw_write` opens, commits, rolls back and retries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from sqlalchemy import Engine

from heron.store.sql import audit
from heron.store.sql.engine import (
    WRITE_RETRIES,
    backoff,
    is_locked,
    locked_error,
    raise_store_fault,
)

T = TypeVar("T")


class RawStatement:
    """One statement compiled for one dialect; parameters are given as dicts by name."""

    __slots__ = ("_keys", "_names", "sql")

    def __init__(
        self, statement: Any, engine: Engine, columns: tuple[str, ...] | None = None
    ) -> None:
        # ``columns`` limits an INSERT to those columns (leaving out an autoincrement id).
        compiled = statement.compile(
            dialect=engine.dialect, column_keys=list(columns) if columns else None
        )
        self.sql = str(compiled)
        self._names = tuple(compiled.positiontup) if compiled.positional else None
        self._keys = tuple(compiled.params)

    def args(self, params: Mapping[str, Any]) -> Any:
        """The driver's parameters: every name the statement binds, missing ones as NULL."""
        if self._names is None:
            return {key: params.get(key) for key in self._keys}
        return tuple(params.get(name) for name in self._names)

    def execute(self, cursor: Any, params: Mapping[str, Any]) -> Any:
        cursor.execute(self.sql, self.args(params))
        return cursor

    def executemany(self, cursor: Any, rows: Iterable[Mapping[str, Any]]) -> None:
        cursor.executemany(self.sql, [self.args(row) for row in rows])

    def executemany_rows(
        self, cursor: Any, rows: list[tuple[Any, ...]], columns: tuple[str, ...]
    ) -> None:
        """Like :meth:`executemany` for rows given as tuples in ``columns`` order; passes
        them through untouched when the compiled statement takes that order."""
        if self._names == columns:
            cursor.executemany(self.sql, rows)
        else:
            self.executemany(cursor, [dict(zip(columns, row)) for row in rows])


def run_raw_write(engine: Engine, body: Callable[[Any], T]) -> T:
    """Run ``body(cursor)`` in one write transaction on a pooled DBAPI connection.

    SQLite transactions start with ``BEGIN IMMEDIATE`` (the connections are in autocommit
    mode, see ``engine.py``) and are retried while the database is locked; PostgreSQL
    transactions begin implicitly. ``body`` must only touch the database.
    """
    sqlite = engine.dialect.name == "sqlite"
    attempt = 0
    while True:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            try:
                if sqlite:
                    cursor.execute("BEGIN IMMEDIATE")
                result = body(cursor)
                entry = audit.insert_pending_raw(engine, cursor)
                if sqlite:
                    cursor.execute("COMMIT")
                else:
                    connection.commit()
                if entry is not None:  # committed with the change it records
                    entry.written = True
                return result
            except BaseException as e:
                try:
                    if sqlite:
                        if connection.dbapi_connection.in_transaction:
                            cursor.execute("ROLLBACK")
                    else:
                        connection.rollback()
                except Exception:
                    connection.invalidate()
                retryable = sqlite and isinstance(e, engine.dialect.loaded_dbapi.OperationalError)
                if not retryable or not is_locked(e):
                    if isinstance(e, engine.dialect.loaded_dbapi.Error):
                        raise_store_fault(engine, e)  # damaged file, disk full, not writable
                    raise
                if attempt >= WRITE_RETRIES:
                    raise locked_error(attempt + 1, e) from e
            finally:
                cursor.close()
        finally:
            connection.close()
        attempt += 1
        backoff(attempt)
