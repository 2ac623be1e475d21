"""A database made at revision 0009 (before projects), upgraded to the head: what it held stays,
in project ``default``, and the same names can then be made in another project. Run on SQLite
(tests/unit/store/test_project_migration.py) and PostgreSQL (test_postgres_migrations.py)."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text

from heron.core.errors import AlreadyExists
from heron.store.sql import engine as sql_engine
from heron.store.sql import migrate, schema
from heron.store.sql.engine import create_engine_for
from heron.store.sql.store import SqlStore

HASH = "f" * 64


def build_0009(uri: str) -> None:
    """The schema of revision 0009 with an experiment, a run, an artifact version and a
    registered model with one version, written as that revision's code wrote them."""
    engine = create_engine_for(uri)
    try:
        with engine.begin() as conn:
            command.upgrade(migrate._alembic_config(conn), "0009")
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO experiments (id, name, lifecycle, created_at, updated_at) "
                    "VALUES ('e1', 'iris', 'active', 1, 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO runs (id, experiment_id, name, kind, status, start_time, "
                    "lifecycle) VALUES ('r1', 'e1', 'old', 'run', 'completed', 1, 'active')"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO artifact_versions (id, name, version, content_hash, type, "
                    "materializer, materializer_version, size, uri, metadata, producer_run_id, "
                    "created_at, lifecycle) VALUES ('a1', 'model', 1, :hash, 't', 'json', '1', "
                    "1, 'u', '{}', 'r1', 1, 'active')"
                ),
                {"hash": HASH},
            )
            conn.execute(
                text(
                    "INSERT INTO registered_models (id, name, created_at, updated_at) "
                    "VALUES ('m1', 'iris', 1, 1)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO model_versions (id, model_id, version, artifact_id, created_at, "
                    "updated_at, lifecycle) VALUES ('v1', 'm1', 1, 'a1', 1, 1, 'active')"
                )
            )
    finally:
        engine.dispose()


def check_upgrade_from_0009(uri: str) -> None:
    build_0009(uri)
    assert migrate.current_revision(uri) == "0009"
    assert migrate.upgrade_database(uri) == ("0009", schema.SCHEMA_REVISION)
    store = SqlStore(uri)
    try:
        old = store.get_experiment_by_name("iris")
        assert old is not None and (old.id, old.project) == ("e1", "default")
        assert store.get_registered_model("iris").project == "default"
        assert store.get_model_version("iris", 1).artifact_id == "a1"
        art = store.get_artifact_version_by_name("model")
        assert (art.id, art.project) == ("a1", "default")
        assert store.project_of_run("r1") == "default"
        assert [r.id for r in store.search_runs()] == ["r1"]
        with store.engine.connect() as conn:
            projects = conn.execute(text("SELECT name FROM projects")).scalars().all()
        assert projects == ["default"]
        # the old unique constraints are gone: the same names in another project
        with store.engine.begin() as conn:
            conn.execute(
                schema.projects.insert().values(name="other", description=None, created_at=0)
            )
        other = store.in_project("other")
        assert other.create_experiment("iris").id != "e1"
        art2 = other.create_artifact_version(
            "model", content_hash=HASH, type="t", materializer="json", size=1, uri="u"
        )
        assert art2.version == 1
        assert other.create_model_version("iris", art2.id).version == 1
        assert store.projects_of_content_hash(HASH) == {"default", "other"}
        # and still unique within one
        try:
            store.create_experiment("iris")
        except AlreadyExists:
            pass
        else:
            raise AssertionError("a second 'iris' in default was accepted")
        assert (
            store.create_artifact_version(
                "model", content_hash=HASH, type="t", materializer="json", size=1, uri="u"
            ).version
            == 2
        )
    finally:
        store.engine.dispose()
        sql_engine.dispose_engines()
