"""The schema: created directly for new databases, by Alembic for old ones, the same either way."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from heron.core.errors import SchemaVersionError
from heron.store.sql import engine as sql_engine
from heron.store.sql import migrate, schema
from heron.store.sql.store import SqlStore


def _describe(uri: str) -> dict:
    eng = create_engine(uri)
    insp = inspect(eng)
    out = {}
    for table in sorted(insp.get_table_names()):
        out[table] = {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            ),
            "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
    eng.dispose()
    return out


def test_migrations_build_the_schema_the_code_creates(tmp_path):
    direct = "sqlite:///" + str(tmp_path / "direct.db")
    migrated = "sqlite:///" + str(tmp_path / "migrated.db")
    SqlStore(direct)
    before, after = migrate.upgrade_database(migrated)
    assert before is None
    assert after == schema.SCHEMA_REVISION == migrate.head_revision()
    assert _describe(direct) == _describe(migrated)
    assert migrate.current_revision(direct) == schema.SCHEMA_REVISION


def test_upgrade_is_idempotent_and_store_opens_after_it(tmp_path):
    uri = "sqlite:///" + str(tmp_path / "m.db")
    migrate.upgrade_database(uri)
    assert migrate.upgrade_database(uri) == (schema.SCHEMA_REVISION, schema.SCHEMA_REVISION)
    store = SqlStore(uri)
    assert store.create_experiment("after-migration").name == "after-migration"


def test_database_at_another_revision_is_refused_with_the_fix(tmp_path):
    uri = "sqlite:///" + str(tmp_path / "old.db")
    SqlStore(uri)
    sql_engine.dispose_engines()
    eng = create_engine(uri)
    with eng.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    eng.dispose()
    with pytest.raises(SchemaVersionError, match="heron db upgrade"):
        SqlStore(uri)
    sql_engine.dispose_engines()


def test_foreign_database_is_refused(tmp_path):
    uri = "sqlite:///" + str(tmp_path / "foreign.db")
    eng = create_engine(uri)
    with eng.begin() as conn:
        conn.execute(text("CREATE TABLE customers (id INTEGER)"))
    eng.dispose()
    with pytest.raises(SchemaVersionError, match="not a Heron"):
        SqlStore(uri)
    sql_engine.dispose_engines()


def test_sqlite_runs_in_wal_mode(tmp_path):
    store = SqlStore("sqlite:///" + str(tmp_path / "wal.db"))
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


def test_key_value_tables_are_clustered_on_their_primary_key(tmp_path):
    """params, tags and latest_metrics are WITHOUT ROWID: a look-up by (run, key) is one seek."""
    direct = "sqlite:///" + str(tmp_path / "direct.db")
    migrated = "sqlite:///" + str(tmp_path / "migrated.db")
    SqlStore(direct)
    migrate.upgrade_database(migrated)
    for uri in (direct, migrated):
        eng = create_engine(uri)
        with eng.connect() as conn:
            for table in ("params", "tags", "latest_metrics"):
                ddl = conn.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = :n"), {"n": table}
                ).scalar()
                assert "WITHOUT ROWID" in ddl, (uri, table)
        eng.dispose()
