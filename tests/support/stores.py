"""Opening, emptying and closing throw-away stores in tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from heron.store.sql import engine as sql_engine
from heron.store.sql import schema
from heron.store.sql.store import SqlStore


def sqlite_uri(path: Path) -> str:
    return "sqlite:///" + str(path)


def close_store(store: SqlStore) -> None:
    """Close the store's pooled connections and drop the process-wide engine cache."""
    store.engine.dispose()
    sql_engine.dispose_engines()


@contextmanager
def open_sql_store(uri: str) -> Iterator[SqlStore]:
    """A `SqlStore` on ``uri``, closed when the block ends."""
    store = SqlStore(uri)
    try:
        yield store
    finally:
        close_store(store)


def empty_sql_store(uri: str) -> SqlStore:
    """A new `SqlStore` on ``uri`` with every Heron table emptied (the schema stays).

    Cheaper than a new database per test on PostgreSQL (CREATE DATABASE takes ~0.3 s).
    """
    store = SqlStore(uri)
    tables = [t.name for t in schema.metadata.sorted_tables if t.name != "alembic_version"]
    with store.engine.begin() as conn:
        if store.engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{name}"' for name in tables)))
        else:
            for name in reversed(tables):
                conn.execute(text(f'DELETE FROM "{name}"'))
    return store
