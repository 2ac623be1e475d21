"""The team set-up of the server issue, end to end: ``heron server --backend-store-uri
postgresql://… --artifacts-uri s3://bucket/heron`` (moto's standalone S3 on 127.0.0.1), with
clients that know only ``HERON_TRACKING_URI``. The bytes go through the server into the bucket
(checked with boto3, not through Heron), come back verified, pipelines cache on them, ranges
are served from the bucket, ``heron gc`` through the server deletes exactly the garbage, and a
client writing to the bucket directly (``HERON_ARTIFACT_URI``) reads the same as one that
goes through the server. One server and bucket per module; each test starts with empty tables
and an empty bucket."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest

import heron
from heron import pipeline, step
from heron.core import config
from heron.store import log_buffer, registry
from heron.store.sql.engine import dispose_engines
from heron.tracking import fluent
from heron.tracking.run_artifacts import artifact_store_for
from tests.support.s3 import Bucket, forget_s3_instances
from tests.support.server import running_server
from tests.support.stores import close_store, empty_sql_store

pytestmark = pytest.mark.integration

CLI_LIMIT_S = 120


@pytest.fixture(scope="module")
def bucket(s3_server):
    bucket = Bucket(s3_server, s3_server.create_bucket())
    yield bucket
    s3_server.delete_bucket(bucket.name)


@pytest.fixture(scope="module")
def server(postgres_server, s3_server, bucket, tmp_path_factory):
    uri = postgres_server.create_database()
    folder = tmp_path_factory.mktemp("server-s3")
    with running_server(
        uri,
        bucket.uri,
        folder / "server.log",
        env=s3_server.subprocess_env(),
        extra_args=("--no-access-log",),
    ) as running:
        yield running
    dispose_engines()
    postgres_server.drop_database(uri)


def _empty(bucket: Bucket) -> None:
    client = bucket.server.client()
    for key in bucket.keys(""):
        client.delete_object(Bucket=bucket.name, Key=key)


@pytest.fixture(autouse=True)
def workspace(server, bucket, tmp_path, monkeypatch):
    close_store(empty_sql_store(server.backend_store_uri))
    _empty(bucket)
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    for var in ("HERON_TRACKING_URI", "HERON_ARTIFACT_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    heron.set_tracking_uri(server.url)
    yield tmp_path
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    registry.forget_stores()
    forget_s3_instances()


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


@step
def frame_of(n: int) -> pd.DataFrame:
    return pd.DataFrame({"x": np.arange(n, dtype="float64"), "y": np.arange(n) % 3})


@step
def doubled(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy() * 2.0


@step
def summary(frame: pd.DataFrame, array: np.ndarray) -> dict:
    return {"rows": len(frame), "total": float(array.sum())}


@pipeline
def team_features(n: int = 40):
    frame = frame_of(n)
    summary(frame, doubled(frame))


def test_files_folders_and_pipeline_outputs_go_through_the_server_into_the_bucket(
    server, bucket, workspace
):
    client = heron.Client()
    assert type(client.store).__name__ == "RestStore"
    weights = workspace / "weights.bin"
    weights.write_bytes(os.urandom(3 * 1024 * 1024 + 17))  # several upload chunks' worth
    files = {"a.txt": b"a\n", "sub/b.bin": os.urandom(700), "sub/deeper/c.json": b"{}"}
    with heron.start_run(name="team") as run:
        file_av = heron.log_artifact(weights)
        folder_av = heron.log_artifact(_folder(workspace / "folder", files))
        heron.log_metric("loss", 0.25)
    for av in (file_av, folder_av):
        assert av.uri == f"{bucket.uri}/objects/{av.content_hash[:2]}/{av.content_hash[2:]}"
    assert bucket.read(_key(file_av.content_hash)) == weights.read_bytes()
    for rel, data in files.items():
        assert bucket.read(_key(folder_av.content_hash, rel)) == data
    assert bucket.objects() == {file_av.content_hash, folder_av.content_hash}
    assert bucket.keys("heron/tmp/") == [] and bucket.keys("heron/uploads/") == []

    back = client.download_artifact(run.id, "weights.bin", workspace / "back.bin")
    assert Path(back).read_bytes() == weights.read_bytes()
    assert _tree(client.get_artifact(folder_av.name).load()) == files

    first = team_features(n=40)
    assert first.status == "completed" and not any(s.cached for s in first.steps.values())
    outputs = {name: s.outputs["output"].content_hash for name, s in first.steps.items()}
    assert set(outputs.values()) <= bucket.objects()
    before = bucket.objects()
    second = team_features(n=40)
    assert all(s.cached for s in second.steps.values())
    assert {n: s.outputs["output"].content_hash for n, s in second.steps.items()} == outputs
    assert bucket.objects() == before  # nothing written again
    assert second.steps["summary"].outputs["output"].load() == {
        "rows": 40,
        "total": 2 * 780.0 + 2 * 39,
    }


def test_a_big_file_streamed_before_its_hash_is_known_lands_whole_in_the_bucket(
    server, bucket, workspace, monkeypatch
):
    from heron.artifacts import proxied

    monkeypatch.setattr(proxied, "STREAM_AT", 1024 * 1024)
    big = workspace / "big.bin"
    big.write_bytes(os.urandom(9 * 1024 * 1024 + 5))
    with heron.start_run(name="streamed"):
        version = heron.log_artifact(big)
    assert bucket.read(_key(version.content_hash)) == big.read_bytes()
    assert bucket.keys("heron/tmp/") == []


def test_ranges_and_hash_checks_are_served_from_the_bucket(server, bucket, workspace):
    data = os.urandom(100_000)
    with heron.start_run():
        av = heron.log_artifact(_folder(workspace / "one", {"blob.bin": data}) / "blob.bin")
    url = f"{server.url}/api/v1/artifacts/objects/{av.content_hash}"
    with httpx.Client() as http:
        head = http.head(url)
        assert head.status_code == 200 and int(head.headers["content-length"]) == len(data)
        part = http.get(url, headers={"range": "bytes=1000-1999"})
        assert part.status_code == 206 and part.content == data[1000:2000]
        assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
        # an upload whose bytes do not match its hash never becomes an object
        fake = hashlib.sha256(b"something else").hexdigest()
        refused = http.put(f"{server.url}/api/v1/artifacts/objects/{fake}", content=b"these bytes")
        assert refused.status_code == 400, refused.text
    assert fake not in bucket.objects() and bucket.keys("heron/tmp/") == []


def test_heron_gc_through_the_server_deletes_exactly_the_garbage_from_the_bucket(
    server, bucket, workspace
):
    shared = workspace / "shared.txt"
    shared.write_text("used by both runs\n")
    with heron.start_run(name="kept"):
        kept = [heron.log_artifact(shared), heron.log_text("kept", "kept.txt")]
    with heron.start_run(name="gone") as gone_run:
        gone = [
            heron.log_artifact(shared),
            heron.log_artifact(_folder(workspace / "gone", {"a.txt": b"a", "b/c.txt": b"c"})),
            heron.log_text("only the deleted run has this", "gone.txt"),
        ]
    garbage = {av.content_hash for av in gone} - {av.content_hash for av in kept}
    assert len(garbage) == 2
    before = bucket.objects()
    heron.Client().delete_run(gone_run.id)

    # the CLI knows only the server: no S3 credentials, the server deletes
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FSSPEC_"))}
    env.update(HERON_TRACKING_URI=server.url, HERON_HOME=str(workspace / "cli-home"))

    def gc(*args: str) -> dict:
        done = subprocess.run(
            [sys.executable, "-m", "heron", "gc", "--json", *args],
            env=env,
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=CLI_LIMIT_S,
        )
        assert done.returncode == 0, (done.stdout, done.stderr)
        return json.loads(done.stdout)

    assert gc()["deleted_objects"] == [] and bucket.objects() == before  # --min-age 3600
    dry = gc("--dry-run", "--min-age", "0")
    assert set(dry["deleted_objects"]) == garbage and bucket.objects() == before
    done = gc("--min-age", "0")
    assert set(done["deleted_objects"]) == garbage and done["freed_bytes"] > 0
    assert bucket.objects() == before - garbage
    for content_hash in garbage:
        assert bucket.keys(_key(content_hash)) == []  # a folder object: every file of it
    assert gc("--min-age", "0")["deleted_objects"] == []
    assert heron.Client().get_artifact("kept.txt").load() == "kept"


def test_a_client_writing_to_the_bucket_directly_reads_the_same_as_one_through_the_server(
    server, bucket, s3_server, workspace, monkeypatch
):
    files = {"model.json": b'{"w": [1, 2]}', "notes/readme.md": b"# direct\n"}
    s3_server.use_in_process(monkeypatch)
    monkeypatch.setenv("HERON_ARTIFACT_URI", bucket.uri)
    registry.forget_stores()
    forget_s3_instances()
    with heron.start_run(name="direct") as run:
        av = heron.log_artifact(_folder(workspace / "direct", files))
    assert av.uri.startswith(bucket.uri + "/objects/")
    assert bucket.objects() == {av.content_hash}

    # another client, through the server only
    monkeypatch.delenv("HERON_ARTIFACT_URI")
    monkeypatch.setenv("HERON_HOME", str(workspace / "other-home"))
    registry.forget_stores()
    forget_s3_instances()
    client = heron.Client()
    assert type(artifact_store_for(client.store)).__name__ == "ProxiedArtifactStore"
    assert _tree(client.download_artifact(run.id, "direct", workspace / "copy")) == files
    assert _tree(client.get_artifact(av.name).load()) == files
