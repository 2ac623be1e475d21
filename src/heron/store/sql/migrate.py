"""Schema migrations with Alembic: what ``heron db upgrade`` and ``heron db current`` run.

A new, empty database never needs this: opening it creates the current schema directly.
"""

from __future__ import annotations

from pathlib import Path

from heron.store.sql.engine import create_engine_for

MIGRATIONS = Path(__file__).with_name("migrations")


def _alembic_config(connection):  # type: ignore[no-untyped-def]
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head_revision() -> str:
    """The newest revision among the migration scripts."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None
    return head


def current_revision(uri: str) -> str | None:
    """The revision a database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    engine = create_engine_for(uri)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def upgrade_database(uri: str) -> tuple[str | None, str]:
    """Migrate the database at ``uri`` to the newest schema; returns (before, after)."""
    from alembic import command

    before = current_revision(uri)
    engine = create_engine_for(uri)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "head")
    finally:
        engine.dispose()
    return before, current_revision(uri) or head_revision()
