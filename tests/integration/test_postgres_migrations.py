"""On PostgreSQL too, Alembic builds the schema the code creates."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from heron.core import uris
from heron.store.sql import engine as sql_engine
from heron.store.sql import migrate, schema
from heron.store.sql.store import SqlStore
from tests.support.project_migration import check_upgrade_from_0009

pytestmark = pytest.mark.integration


def _describe(uri: str) -> dict:
    eng = create_engine(uris.sqlalchemy_url(uri))
    insp = inspect(eng)
    out = {
        table: {
            "columns": sorted(
                (c["name"], str(c["type"]), c["nullable"]) for c in insp.get_columns(table)
            ),
            "pk": sorted(insp.get_pk_constraint(table)["constrained_columns"]),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in insp.get_indexes(table)
            ),
            "unique": sorted(tuple(u["column_names"]) for u in insp.get_unique_constraints(table)),
        }
        for table in sorted(insp.get_table_names())
    }
    eng.dispose()
    return out


def test_migrated_and_created_schemas_match(postgres_server):
    direct = postgres_server.create_database()
    migrated = postgres_server.create_database()
    try:
        SqlStore(direct)
        assert migrate.upgrade_database(migrated) == (None, schema.SCHEMA_REVISION)
        assert _describe(direct) == _describe(migrated)
        assert SqlStore(migrated).create_experiment("after").name == "after"
    finally:
        sql_engine.dispose_engines()
        postgres_server.drop_database(direct)
        postgres_server.drop_database(migrated)


def test_upgrade_from_0009_keeps_rows_in_default_and_frees_names(postgres_server):
    uri = postgres_server.create_database()
    try:
        check_upgrade_from_0009(uri)
    finally:
        sql_engine.dispose_engines()
        postgres_server.drop_database(uri)
