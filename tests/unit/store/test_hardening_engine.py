"""Faulty and missing stores give clear errors (issue 8, items 6 and 16).

A garbage, emptied, truncated or damaged database file, a full disk and an unwritable file
or artifact folder each raise a :class:`HeronError` subclass that names the file and says
what to do; a SQLite URI that names no database is refused for reading instead of becoming
a new empty store, while writing still creates it.
"""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import exc

import heron
from heron.artifacts.store import ArtifactStore
from heron.core import config
from heron.core.errors import (
    HeronError,
    StoreCorrupt,
    StoreFull,
    StoreNotFound,
    StoreNotWritable,
)
from heron.store import registry
from heron.store.sql import engine as sql_engine
from heron.store.sql.raw import run_raw_write
from heron.store.sql.store import SqlStore
from tests.support.stores import close_store, open_sql_store, sqlite_uri


@pytest.fixture(autouse=True)
def _forget_stores(monkeypatch, tmp_path):
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HERON_TRACKING_URI", raising=False)
    yield
    config.set_tracking_uri(None)
    registry.forget_stores()


def _seed(path: Path, runs: int = 200) -> None:
    """A store with enough rows that its data spans many pages, checkpointed into the file."""
    with open_sql_store(sqlite_uri(path)) as store:
        exp = store.create_experiment("e", {})
        for i in range(runs):
            run = store.create_run(exp.id, name=f"r{i}")
            store.log_batch(run.id, params={f"p{j}": "x" * 60 for j in range(8)})
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()


# --- item 6: files that are not (or no longer) Heron stores ------------------------------
def test_a_garbage_file_is_refused_naming_it(tmp_path):
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n")
    with pytest.raises(StoreCorrupt) as caught:
        SqlStore(sqlite_uri(path))
    assert str(path) in caught.value.message
    assert "not a SQLite database" in caught.value.message
    assert path.read_text() == "these are my notes, not a database\n"  # left as it was


def test_an_empty_file_is_not_taken_as_a_new_store(tmp_path):
    path = tmp_path / "heron.db"
    path.write_bytes(b"")
    with pytest.raises(StoreCorrupt) as caught:
        SqlStore(sqlite_uri(path))
    assert str(path) in caught.value.message and "0-byte" in caught.value.message
    assert "backup" in caught.value.message
    assert path.stat().st_size == 0


def test_an_empty_file_in_a_heron_workspace_becomes_the_store(tmp_path):
    workspace = tmp_path / ".heron"
    workspace.mkdir()
    (workspace / "heron.db").write_bytes(b"")  # as an interrupted `heron init` leaves it
    with open_sql_store(sqlite_uri(workspace / "heron.db")) as store:
        exp = store.create_experiment("e", {})
        assert store.get_experiment(exp.id).name == "e"


def test_a_truncated_store_is_reported_as_damaged(tmp_path):
    path = tmp_path / "heron.db"
    _seed(path)
    with path.open("r+b") as f:
        f.truncate(path.stat().st_size // 2)
    with pytest.raises(StoreCorrupt) as caught:
        heron.Client(sqlite_uri(path)).search_runs(max_results=1000)
    assert str(path) in caught.value.message and "backup" in caught.value.message


def test_a_store_with_a_damaged_first_page_is_reported_as_damaged(tmp_path):
    path = tmp_path / "heron.db"
    _seed(path, runs=5)
    with path.open("r+b") as f:
        f.seek(100)  # after the header: the page that lists the tables
        f.write(b"\x13" * 3000)
    with pytest.raises(StoreCorrupt) as caught:
        SqlStore(sqlite_uri(path))
    assert str(path) in caught.value.message


@pytest.mark.parametrize(
    ("message", "error", "hint"),
    [
        ("database or disk is full", StoreFull, "Free some space"),
        ("attempt to write a readonly database", StoreNotWritable, "permissions"),
        ("disk I/O error", HeronError, "disk"),
    ],
)
def test_disk_and_permission_faults_on_writes_name_the_file(sqlite_store, message, error, hint):
    def body(_connection):  # type: ignore[no-untyped-def]
        # as SQLAlchemy raises it from a statement the driver refused
        raise exc.OperationalError("INSERT ...", {}, sqlite3.OperationalError(message))

    def raw_body(_cursor):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError(message)  # as the driver raises it

    path = str(sqlite_store.engine.url.database)
    with pytest.raises(error) as caught:
        sql_engine.run_write(sqlite_store.engine, body)
    assert path in caught.value.message and hint in caught.value.message
    with pytest.raises(error) as caught:
        run_raw_write(sqlite_store.engine, raw_body)
    assert path in caught.value.message and hint in caught.value.message


def test_constraint_errors_are_not_taken_for_faults(sqlite_store):
    def body(_connection):  # type: ignore[no-untyped-def]
        raise sqlite3.IntegrityError("UNIQUE constraint failed: experiments.name")

    with pytest.raises(sqlite3.IntegrityError):
        run_raw_write(sqlite_store.engine, body)


@pytest.mark.parametrize(
    ("code", "error", "hint"),
    [
        (errno.ENOSPC, StoreFull, "Free some space"),
        (errno.EROFS, StoreNotWritable, "permissions"),
        (errno.EACCES, StoreNotWritable, "permissions"),
    ],
)
def test_a_full_or_unwritable_artifact_folder_is_a_clear_error(
    tmp_path, monkeypatch, code, error, hint
):
    store = ArtifactStore(str(tmp_path / "artifacts"))

    def refuse(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(code, "simulated", str(path))

    monkeypatch.setattr(store.fs, "open", refuse)
    with pytest.raises(error) as caught:
        store.put_bytes(b"some bytes")
    assert str(tmp_path / "artifacts") in caught.value.message
    assert hint in caught.value.message


# --- item 16: a URI that names no database -----------------------------------------------
def test_client_refuses_a_sqlite_uri_without_a_database(tmp_path):
    missing = tmp_path / "nonexistent" / "dir" / "x.db"
    with pytest.raises(StoreNotFound) as caught:
        heron.Client(sqlite_uri(missing))
    assert str(missing) in caught.value.message and "heron init" in caught.value.message
    assert not (tmp_path / "nonexistent").exists()  # no folder made, no file made


def test_client_refuses_a_workspace_without_a_database_pointing_to_heron_init(tmp_path):
    (tmp_path / ".heron").mkdir()
    with pytest.raises(StoreNotFound) as caught:
        heron.Client(str(tmp_path / ".heron"))
    assert f"heron init {tmp_path}" in caught.value.message


def test_writing_still_creates_a_new_store(tmp_path):
    path = tmp_path / "new" / "heron.db"
    heron.set_tracking_uri(sqlite_uri(path))
    with heron.start_run(name="first") as run:
        heron.log_metric("m", 1.0)
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert heron.Client(sqlite_uri(path)).get_run(run.id).name == "first"


def test_a_new_store_is_never_seen_empty(tmp_path):
    """The file appears complete (a valid header) or not at all, so that a process opening
    it while another creates it does not take it for an emptied store."""
    path = tmp_path / "heron.db"
    sql_engine._create_sqlite_file(path)
    assert path.read_bytes()[:16] == sql_engine.SQLITE_HEADER
    sql_engine._create_sqlite_file(path)  # made meanwhile by another: kept
    assert sorted(p.name for p in tmp_path.iterdir()) == ["heron.db"]
    store = SqlStore(sqlite_uri(path))
    close_store(store)
