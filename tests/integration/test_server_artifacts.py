"""Artifacts through `heron server`: proxied uploads and downloads (a generated 1 GB file
with constant memory on both sides, measured as peak RSS), uploads skipped when the server
holds the content, folders, direct access with HERON_ARTIFACT_URI, and `heron gc` run on
the server's store. One server per module (SQLite)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

import heron
from heron.core import config
from heron.store import log_buffer, registry
from heron.tracking import fluent
from tests.support.server import running_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

MB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server-artifacts")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--no-access-log",),
    ) as running:
        yield running


@pytest.fixture
def client(server, tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HERON_ARTIFACT_URI", raising=False)
    heron.set_tracking_uri(server.url)
    yield heron.Client()
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    registry.forget_stores()


def uploaded_bytes(server) -> float:
    text = httpx.get(server.url + "/metrics").text
    for line in text.splitlines():
        if line.startswith('heron_server_artifact_bytes_total{direction="upload"}'):
            return float(line.split()[-1])
    return 0.0


def server_objects(server) -> set[str]:
    root = Path(server.artifacts_uri) / "objects"
    return {p.parent.name + p.name for p in root.glob("*/*")} if root.exists() else set()


def test_a_logged_file_goes_through_the_server_and_comes_back(client, server, tmp_path):
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(3 * MB + 17))
    with heron.start_run() as run:
        version = heron.log_artifact(source)
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert version.content_hash == digest
    assert digest in server_objects(server)
    assert version.uri.startswith(server.artifacts_uri)  # the server's own URI
    out = client.download_artifact(run.id, "weights.bin", tmp_path / "back.bin")
    assert Path(out).read_bytes() == source.read_bytes()


def test_content_the_server_holds_is_not_uploaded_again(client, server, tmp_path):
    source = tmp_path / "same.bin"
    source.write_bytes(os.urandom(2 * MB))
    with heron.start_run():
        heron.log_artifact(source)
    before = uploaded_bytes(server)
    with heron.start_run():
        again = heron.log_artifact(source)
    assert uploaded_bytes(server) == before
    assert again.version == 2


def test_a_big_file_uploads_while_it_is_hashed_and_stops_if_the_server_has_it(
    client, server, tmp_path, monkeypatch
):
    from heron.artifacts import proxied

    monkeypatch.setattr(proxied, "STREAM_AT", 8 * MB)
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(40 * MB))
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    before = uploaded_bytes(server)
    with heron.start_run():
        first = heron.log_artifact(source)
    assert first.content_hash == digest and digest in server_objects(server)
    assert uploaded_bytes(server) - before == 40 * MB
    # the second time the file goes slowly (1 MB a tenth of a second): the hash is known
    # (and the server asked) long before the upload would end, so it stops there
    from heron.store.rest import quick

    sendfile = socket.socket.sendfile

    def slow_sendfile(self, file, offset=0, count=None):
        time.sleep(0.1)
        return sendfile(self, file, offset, count)

    monkeypatch.setattr(quick, "_SEGMENT", MB)
    monkeypatch.setattr(socket.socket, "sendfile", slow_sendfile)
    before = uploaded_bytes(server)
    with heron.start_run():
        again = heron.log_artifact(source)
    assert again.content_hash == digest and again.version == 2
    assert uploaded_bytes(server) - before < 40 * MB
    tmp = Path(server.artifacts_uri) / "tmp"
    deadline = time.monotonic() + 10
    while list(tmp.glob("upload-*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(tmp.glob("upload-*"))


def test_folders_and_values_round_trip(client, server, tmp_path):
    folder = tmp_path / "model"
    (folder / "nested").mkdir(parents=True)
    (folder / "config.json").write_text('{"depth": 3}')
    (folder / "nested" / "w.npy").write_bytes(b"\x93NUMPY fake")
    with heron.start_run() as run:
        heron.log_artifact(folder)
        heron.log_dict({"accuracy": 0.93}, "metrics.json")
        heron.log_text("hello", "notes/readme.txt")
    got = client.download_artifact(run.id, "model", tmp_path / "model-back")
    assert (Path(got) / "nested" / "w.npy").read_bytes() == b"\x93NUMPY fake"
    assert client.get_artifact("metrics.json").load() == {"accuracy": 0.93}
    assert client.get_artifact("notes/readme.txt").load() == "hello"


def test_a_download_cut_short_says_so_and_leaves_nothing(client, server, tmp_path, monkeypatch):
    from heron.artifacts.proxied import open_proxied_store
    from heron.core.errors import StoreUnavailable
    from heron.store.rest import quick

    source = tmp_path / "cut.bin"
    source.write_bytes(os.urandom(20 * MB))
    with heron.start_run() as run:
        heron.log_artifact(source)
    session = open_proxied_store(server.url).session
    request = session.request

    def cut_after_two_reads(method, path, **kwargs):
        response = request(method, path, **kwargs)
        if kwargs.get("stream"):
            readinto, reads = response.readinto, []

            def failing(buffer):
                reads.append(1)
                if len(reads) > 2:
                    raise quick.QuickLost(ConnectionResetError("Connection reset by peer"))
                return readinto(buffer)

            response.readinto = failing
        return response

    monkeypatch.setattr(session, "request", cut_after_two_reads)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(StoreUnavailable, match=r"stopped sending artifact object .*Try again"):
        client.download_artifact(run.id, "cut.bin", out / "cut.bin")
    assert list(out.iterdir()) == []  # neither the file nor a partial one
    monkeypatch.setattr(session, "request", request)
    got = client.download_artifact(run.id, "cut.bin", out / "cut.bin")
    assert Path(got).read_bytes() == source.read_bytes()


def _run_client(
    code: str, server, tmp_path, source, back, timeout: float, **env: str
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` with the arguments ``source back`` as a client process of ``server``."""
    environ = {
        **os.environ,
        "HERON_TRACKING_URI": server.url,
        "HERON_HOME": str(tmp_path / "home"),
        **env,
    }
    environ.pop("HERON_ARTIFACT_URI", None)
    done = subprocess.run(
        [sys.executable, "-c", code, str(source), str(back)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done


_HTTPX_PATH_CLIENT = textwrap.dedent(
    """
    import hashlib, sys
    import heron
    from heron.artifacts.proxied import open_proxied_store

    source, back = sys.argv[1], sys.argv[2]
    assert open_proxied_store(heron.get_tracking_uri()).session._quick is None
    with heron.start_run() as run:
        version = heron.log_artifact(source)
    heron.Client().download_artifact(run.id, "big.bin", back)
    print(version.content_hash)
    """
)


def test_big_files_go_both_ways_through_httpx_too(server, tmp_path):
    """``HERON_HTTP_QUICK=0`` (as for a server behind a proxy): uploads and downloads take
    httpx, with the same streaming and checks."""
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(70 * MB))
    back = tmp_path / "back.bin"
    done = _run_client(
        _HTTPX_PATH_CLIENT, server, tmp_path, source, back, 300, HERON_HTTP_QUICK="0"
    )
    digest = hashlib.sha256(source.read_bytes()).hexdigest()
    assert done.stdout.split() == [digest]
    assert digest in server_objects(server)
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest


def test_direct_access_writes_bytes_itself_and_the_server_records_metadata(
    client, server, tmp_path, monkeypatch
):
    monkeypatch.setenv("HERON_ARTIFACT_URI", server.artifacts_uri)
    registry.forget_stores()
    before = uploaded_bytes(server)
    source = tmp_path / "direct.bin"
    source.write_bytes(os.urandom(MB))
    with heron.start_run() as run:
        version = heron.log_artifact(source)
    assert uploaded_bytes(server) == before
    assert version.content_hash in server_objects(server)
    assert heron.Client().get_run(run.id).status == "completed"


def test_heron_gc_through_the_server_deletes_objects_nothing_live_uses(client, server, tmp_path):
    source = tmp_path / "garbage.bin"
    source.write_bytes(os.urandom(MB))
    with heron.start_run() as run:
        version = heron.log_artifact(source)
    assert version.content_hash in server_objects(server)
    client.delete_run(run.id)
    env = {**os.environ, "HERON_TRACKING_URI": server.url, "HERON_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-m", "heron", "gc", "--min-age", "0", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert version.content_hash in done.stdout
    assert version.content_hash not in server_objects(server)


_GIGABYTE_CLIENT = textwrap.dedent(
    """
    import hashlib, os, sys, time, tracemalloc
    import heron

    path, back = sys.argv[1], sys.argv[2]
    tracemalloc.start()
    with heron.start_run() as run:
        started = time.perf_counter()
        heron.log_artifact(path)
        up = time.perf_counter() - started
    started = time.perf_counter()
    heron.Client().download_artifact(run.id, os.path.basename(path), back)
    down = time.perf_counter() - started
    # VmHWM, not ru_maxrss: ru_maxrss survives exec, so it can report the RSS of the (large)
    # test process this one was started from
    status = open("/proc/self/status").read().split("VmHWM:")[1]
    peak_mb = int(status.split()[0]) / 1024
    held_mb = tracemalloc.get_traced_memory()[1] / 2**20
    print(f"{peak_mb:.0f} {held_mb:.1f} {up:.2f} {down:.2f}")
    """
)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def test_a_1_gb_file_streams_both_ways_in_constant_memory(server, tmp_path):
    size = 1024 * MB
    source = tmp_path / "big.bin"
    block = os.urandom(MB)
    digest = hashlib.sha256()
    with open(source, "wb") as f:
        for i in range(size // MB):
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            f.write(chunk)
    server_before = _peak_rss_mb(server.process.pid)
    back = tmp_path / "back.bin"
    done = _run_client(_GIGABYTE_CLIENT, server, tmp_path, source, back, 600)
    client_peak, client_held, up, down = (float(v) for v in done.stdout.split())
    server_peak = _peak_rss_mb(server.process.pid)
    print(
        f"1 GB: up {size / MB / up:.0f} MB/s, down {size / MB / down:.0f} MB/s; peak RSS "
        f"client {client_peak:.0f} MB (Python objects {client_held:.0f} MB), "
        f"server {server_before:.0f} -> {server_peak:.0f} MB"
    )
    assert back.stat().st_size == size
    h = hashlib.sha256()
    with open(back, "rb") as f:
        while chunk := f.read(8 * MB):
            h.update(chunk)
    assert h.hexdigest() == digest.hexdigest()
    # the file is 1024 MB: never held in memory. The strict bound is on what Python holds at
    # once (tracemalloc); the resident size also counts the allocator's reuse of freed chunks,
    # which varies with the machine's load, so it gets a looser one.
    assert client_held < 64, client_held
    assert client_peak < 800, client_peak
    assert server_peak - server_before < 150, (server_before, server_peak)
