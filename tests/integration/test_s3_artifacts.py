"""The artifact store on object storage: an S3 bucket of moto's standalone server on 127.0.0.1,
used through s3fs, with ``HERON_ARTIFACT_URI=s3://<bucket>/heron`` and a SQLite tracking store.

What is in the bucket is checked with boto3, not only through Heron: objects, logged files and
folders, pipeline outputs (cached on a second run), ``heron gc`` as a subprocess, and names
that would escape the root (refused before any byte is written)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import heron
from heron import pipeline, step
from heron.artifacts.store import ArtifactStore
from heron.core import config
from heron.core.errors import InvalidArgument
from heron.store import log_buffer, registry
from heron.tracking import fluent

pytestmark = pytest.mark.integration

#: a CLI call that takes longer has hung
CLI_LIMIT_S = 120


@pytest.fixture
def workspace(s3_bucket, tmp_path, monkeypatch):
    """A SQLite tracking store in tmp_path and the artifact root ``s3://<bucket>/heron``."""
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    for var in ("HERON_TRACKING_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HERON_ARTIFACT_URI", s3_bucket.uri)
    monkeypatch.chdir(tmp_path)
    uri = "sqlite:///" + str(tmp_path / "heron.db")
    heron.set_tracking_uri(uri)
    yield uri
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    registry.forget_stores()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _key(content_hash: str, member: str | None = None) -> str:
    key = f"heron/objects/{content_hash[:2]}/{content_hash[2:]}"
    return key if member is None else f"{key}/{member}"


def _folder(root: Path, files: dict[str, bytes]) -> Path:
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root


def _tree(root: str | Path) -> dict[str, bytes]:
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


# --- the store itself ------------------------------------------------------------------------


def test_store_round_trips_bytes_files_and_folders_through_the_bucket(s3_bucket, tmp_path):
    store = ArtifactStore(s3_bucket.uri)
    assert not store.local

    data = b"hello object storage\n" * 100
    stored = store.put_bytes(data)
    assert stored.content_hash == _sha(data) and stored.size == len(data) and not stored.is_dir
    assert stored.uri == f"s3://{s3_bucket.name}/{_key(stored.content_hash)}"
    assert s3_bucket.read(_key(stored.content_hash)) == data
    assert store.put_bytes(data).content_hash == stored.content_hash  # stored once

    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3000))
    file_obj = store.put_file(source)
    assert file_obj.content_hash == _sha(source.read_bytes())
    assert s3_bucket.read(_key(file_obj.content_hash)) == source.read_bytes()

    files = {"a.txt": b"a\n", "sub/b.bin": os.urandom(500), "sub/deeper/c.json": b"{}"}
    folder = store.put_dir(_folder(tmp_path / "folder", files))
    assert folder.is_dir and folder.size == sum(map(len, files.values()))
    for rel, content in files.items():
        assert s3_bucket.read(_key(folder.content_hash, rel)) == content
    assert store.put_dir(tmp_path / "folder").content_hash == folder.content_hash

    # nothing is left behind under tmp/: every write was moved into objects/
    assert s3_bucket.keys("heron/tmp/") == []
    assert s3_bucket.objects() == {stored.content_hash, file_obj.content_hash, folder.content_hash}

    with store.open(stored.content_hash) as f:
        assert f.read() == data
    assert store.read_bytes(file_obj.content_hash) == source.read_bytes()
    with store.open(folder.content_hash, "sub/b.bin") as f:
        assert f.read() == files["sub/b.bin"]
    assert Path(store.local_path(stored.content_hash)).read_bytes() == data
    assert _tree(store.local_path(folder.content_hash)) == files
    assert store.download(folder.content_hash, tmp_path / "out" / "copy").is_dir()
    assert _tree(tmp_path / "out" / "copy") == files
    assert store.download(file_obj.content_hash, tmp_path / "out" / "w.bin").read_bytes() == (
        source.read_bytes()
    )

    assert store.exists(folder.content_hash) and store.exists(stored.content_hash)
    store.delete(folder.content_hash)
    store.delete(stored.content_hash)
    assert not store.exists(folder.content_hash) and not store.exists(stored.content_hash)
    assert s3_bucket.objects() == {file_obj.content_hash}


def test_write_object_moves_a_written_folder_into_place_once(s3_bucket):
    store = ArtifactStore(s3_bucket.uri)

    def writer(fs, folder):
        with fs.open(f"{folder}/values.bin", "wb") as f:
            f.write(b"\x00\x01" * 1000)
        fs.makedirs(f"{folder}/nested", exist_ok=True)  # a no-op on S3: files make folders
        with fs.open(f"{folder}/nested/meta.json", "wb") as f:
            f.write(b'{"k": 1}')
        return "written"

    first, result = store.write_object(writer)
    second, _ = store.write_object(writer)
    assert result == "written" and second.content_hash == first.content_hash
    assert first.is_dir and first.size == 2000 + 8
    assert s3_bucket.keys() == [
        _key(first.content_hash, "nested/meta.json"),
        _key(first.content_hash, "values.bin"),
    ]

    def failing(fs, folder):
        with fs.open(f"{folder}/partial.bin", "wb") as f:
            f.write(b"half")
        raise RuntimeError("the materializer broke")

    with pytest.raises(RuntimeError, match="broke"):
        store.write_object(failing)
    assert s3_bucket.keys("heron/tmp/") == []  # the failed write is cleaned up


def test_a_folder_object_left_incomplete_is_completed_by_the_next_writer(s3_bucket, tmp_path):
    """On S3 a folder is copied into place file by file: one that a crashed (or still
    copying) writer left half there must not pass for the whole object."""
    store = ArtifactStore(s3_bucket.uri)
    files = {"one.txt": b"1", "two.txt": b"22", "three/four.txt": b"4444"}
    folder = store.put_dir(_folder(tmp_path / "folder", files))
    s3_bucket.server.client().delete_object(
        Bucket=s3_bucket.name, Key=_key(folder.content_hash, "two.txt")
    )
    again = store.put_dir(tmp_path / "folder")
    assert again.content_hash == folder.content_hash
    assert _tree(store.local_path(folder.content_hash)) == files


def test_the_store_sees_what_other_processes_wrote_and_deleted(s3_bucket):
    """s3fs caches listings (forever, by default) and answers `exists` from them: a
    long-lived process such as the server must still find objects others wrote."""
    store = ArtifactStore(s3_bucket.uri)
    early = store.put_bytes(b"early")
    prefix = f"{store.root}/objects/{early.content_hash[:2]}"
    store.fs.ls(prefix)  # a listing, as gc makes
    later = b"written by another process"
    content_hash = _sha(later)
    s3_bucket.server.client().put_object(Bucket=s3_bucket.name, Key=_key(content_hash), Body=later)
    assert store.exists(content_hash)
    assert store.read_bytes(content_hash) == later
    store.fs.ls(f"{store.root}/objects/{content_hash[:2]}")
    s3_bucket.server.client().delete_object(Bucket=s3_bucket.name, Key=_key(content_hash))
    assert not store.exists(content_hash)


# --- tracking: logged files and folders ------------------------------------------------------


def test_logged_file_and_folder_live_in_the_bucket_and_load_back(workspace, s3_bucket, tmp_path):
    report = tmp_path / "report.txt"
    report.write_text("accuracy 0.93\n")
    files = {"model.bin": os.urandom(2048), "conf/params.json": b'{"depth": 3}'}
    folder = _folder(tmp_path / "model", files)
    with heron.start_run(name="s3") as run:
        file_av = heron.log_artifact(report)
        folder_av = heron.log_artifact(folder, artifact_path="outputs")
        text_av = heron.log_text("some notes", "notes.txt")
        dict_av = heron.log_dict({"lr": 0.1}, "config.json")

    for av in (file_av, folder_av, text_av, dict_av):
        assert av.uri.startswith(f"s3://{s3_bucket.name}/heron/objects/"), av.uri
    assert s3_bucket.read(_key(file_av.content_hash)) == report.read_bytes()
    for rel, data in files.items():
        assert s3_bucket.read(_key(folder_av.content_hash, rel)) == data
    assert s3_bucket.objects() == {av.content_hash for av in (file_av, folder_av, text_av, dict_av)}

    c = heron.Client()
    assert {link.name for link in c.list_run_artifacts(run.id)} == {
        "report.txt",
        "outputs/model",
        "notes.txt",
        "config.json",
    }
    assert Path(c.get_artifact("report.txt").load()).read_text() == "accuracy 0.93\n"
    assert _tree(c.get_artifact("outputs/model").load()) == files
    assert c.get_artifact("notes.txt").load() == "some notes"
    assert c.get_artifact("config.json").load() == {"lr": 0.1}
    target = c.download_artifact(run.id, "outputs/model", tmp_path / "downloaded")
    assert _tree(target) == files


# --- pipelines -------------------------------------------------------------------------------


@step
def make_frame(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype="int64"), "y": np.linspace(0.0, 1.0, n)})


@step
def to_array(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(dtype="float64") * 2.0


@step
def summarize(frame: pd.DataFrame, values: np.ndarray) -> dict:
    return {"rows": len(frame), "total": float(values.sum()), "columns": list(frame.columns)}


@pipeline
def s3_features(n: int = 50):
    frame = make_frame(n)
    summarize(frame, to_array(frame))


def test_pipeline_outputs_are_stored_in_the_bucket_cached_and_loaded_back(workspace, s3_bucket):
    first = s3_features(n=50)
    assert first.status == "completed"
    assert not any(s.cached for s in first.steps.values())
    outputs = {name: s.outputs["output"] for name, s in first.steps.items()}
    members = {"make_frame": "table.parquet", "to_array": "array.npy", "summarize": "data.json"}
    for name, av in outputs.items():
        assert av.uri.startswith(f"s3://{s3_bucket.name}/heron/objects/"), av.uri
        assert s3_bucket.keys(_key(av.content_hash) + "/") == [_key(av.content_hash, members[name])]
    stored = json.loads(s3_bucket.read(_key(outputs["summarize"].content_hash, "data.json")))
    frame = make_frame.__wrapped__(50) if hasattr(make_frame, "__wrapped__") else make_frame(50)
    expected = {"rows": 50, "total": float((frame.to_numpy() * 2.0).sum()), "columns": ["x", "y"]}
    assert stored == expected
    objects = s3_bucket.objects()
    assert {av.content_hash for av in outputs.values()} <= objects

    second = s3_features(n=50)
    assert all(s.cached for s in second.steps.values())
    assert {n: s.outputs["output"].content_hash for n, s in second.steps.items()} == {
        n: av.content_hash for n, av in outputs.items()
    }
    assert s3_bucket.objects() == objects  # nothing new was written
    pd.testing.assert_frame_equal(second.steps["make_frame"].outputs["output"].load(), frame)
    np.testing.assert_array_equal(
        second.steps["to_array"].outputs["output"].load(), frame.to_numpy() * 2.0
    )
    assert heron.Client().get_artifact("summarize.output").load() == expected
    assert s3_bucket.keys("heron/tmp/") == []


# --- heron gc --------------------------------------------------------------------------------


def _heron(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "heron", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=CLI_LIMIT_S,
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    return done


def test_heron_gc_deletes_exactly_the_unreferenced_objects_from_the_bucket(
    workspace, s3_bucket, tmp_path
):
    shared = tmp_path / "shared.txt"
    shared.write_text("used by both runs\n")
    kept_folder = _folder(tmp_path / "kept", {"a.txt": b"kept a", "b/c.txt": b"kept c"})
    gone_folder = _folder(tmp_path / "gone", {"a.txt": b"gone a", "b/c.txt": b"gone c"})
    with heron.start_run(name="kept"):
        kept = [heron.log_artifact(shared), heron.log_artifact(kept_folder)]
    kept_run = s3_features(n=7)
    kept += [s.outputs["output"] for s in kept_run.steps.values()]
    with heron.start_run(name="gone") as gone_run:
        gone = [
            heron.log_artifact(shared),
            heron.log_artifact(gone_folder),
            heron.log_text("only the deleted run has this", "gone.txt"),
        ]
    gone_pipeline = s3_features.with_options(cache=False)(n=11)
    gone += [s.outputs["output"] for s in gone_pipeline.steps.values()]

    kept_hashes = {av.content_hash for av in kept}
    garbage = {av.content_hash for av in gone} - kept_hashes
    assert gone[1].content_hash in garbage and gone[2].content_hash in garbage
    assert len(garbage) == 2 + len(gone_pipeline.steps)
    before = s3_bucket.objects()
    assert kept_hashes | garbage <= before

    c = heron.Client()
    c.delete_run(gone_run.id)
    c.delete_run(gone_pipeline.id)

    env = s3_bucket.server.subprocess_env(
        HERON_TRACKING_URI=workspace,
        HERON_ARTIFACT_URI=s3_bucket.uri,
        HERON_HOME=str(tmp_path / "home"),
    )
    young = json.loads(_heron(env, tmp_path, "gc", "--json").stdout)  # default --min-age 3600
    assert young["deleted_objects"] == [] and s3_bucket.objects() == before
    assert young["retired_versions"] > 0  # the deleted runs' versions, retired at once
    dry = json.loads(_heron(env, tmp_path, "gc", "--dry-run", "--min-age", "0", "--json").stdout)
    assert set(dry["deleted_objects"]) == garbage and s3_bucket.objects() == before

    done = json.loads(_heron(env, tmp_path, "gc", "--min-age", "0", "--json").stdout)
    assert set(done["deleted_objects"]) == garbage
    assert done["freed_bytes"] > 0
    assert s3_bucket.objects() == before - garbage
    for content_hash in garbage:
        assert s3_bucket.keys(_key(content_hash)) == []  # folder objects: every file
    assert (
        json.loads(_heron(env, tmp_path, "gc", "--min-age", "0", "--json").stdout)[
            "deleted_objects"
        ]
        == []
    )

    # what live runs use still loads
    kept_tree = _tree(heron.Client().get_artifact("kept").load())
    assert kept_tree == {"a.txt": b"kept a", "b/c.txt": b"kept c"}
    assert kept_run.steps["summarize"].outputs["output"].load()["rows"] == 7


def test_gc_leaves_young_folder_objects_alone(workspace, s3_bucket, tmp_path):
    """A folder object on S3 is a key prefix with no time of its own: its age is its newest
    file's, so --min-age protects it like a file."""
    with heron.start_run(name="gone") as run:
        folder = heron.log_artifact(_folder(tmp_path / "fresh", {"x.txt": b"x", "y/z.txt": b"z"}))
        text = heron.log_text("fresh", "fresh.txt")
    heron.Client().delete_run(run.id)
    report = heron.Client().gc(min_age=600)
    assert report.deleted_objects == []
    assert s3_bucket.objects() == {folder.content_hash, text.content_hash}


# --- names that would leave the root ---------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["../escape", "../../etc/passwd", "/absolute", "a/../../b", "back\\slash"]
)
def test_escaping_names_are_refused_before_any_bytes_reach_the_bucket(
    workspace, s3_bucket, tmp_path, bad
):
    source = tmp_path / "file.txt"
    source.write_text("secret")
    with heron.start_run(name="traversal") as run:
        with pytest.raises(InvalidArgument):
            heron.log_artifact(source, artifact_path=bad)
        with pytest.raises(InvalidArgument):
            heron.log_text("x", bad)
        with pytest.raises(InvalidArgument):
            heron.log_dict({"a": 1}, bad)
    assert s3_bucket.keys() == []

    store = ArtifactStore(s3_bucket.uri)
    folder = store.put_dir(_folder(tmp_path / "folder", {"inside.txt": b"in"}))
    with pytest.raises(InvalidArgument):
        store.open(folder.content_hash, bad)
    with pytest.raises(InvalidArgument):
        heron.Client().download_artifact(run.id, bad, tmp_path)
    assert s3_bucket.keys() == [_key(folder.content_hash, "inside.txt")]
