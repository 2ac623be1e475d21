"""`heron server` over raw HTTP: health, metrics, docs, bad input (4xx, never 500), artifact
bytes (hash checks, ranges, paths that try to escape), downsampling, the reaper, and
shutdown. One server per module (SQLite), plus short-lived ones where a test stops them."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import threading
import time

import httpx
import pytest

from heron.core.entities import Metric
from heron.core.errors import Conflict, InvalidArgument, NotFound, RequestInvalid
from heron.store.rest.store import RestStore
from tests.support.server import running_server, start_server
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

API = "/api/v1"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("server-api")
    with running_server(
        sqlite_uri(folder / "heron.db"),
        str(folder / "artifacts"),
        folder / "server.log",
        extra_args=("--max-body-mb", "1"),
    ) as running:
        yield running


@pytest.fixture(scope="module")
def http(server):
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield client


@pytest.fixture
def store(server):
    return RestStore(server.url)


@pytest.fixture
def run(store):
    experiment = store.get_experiment_by_name("api") or store.create_experiment("api")
    return store.create_run(experiment.id)


def error_of(response) -> tuple[str, str]:
    body = response.json()
    return body["error"]["code"], body["error"]["message"]


# --- operations ------------------------------------------------------------------------------


def test_health_says_ok_with_the_version(http):
    response = http.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_metrics_are_prometheus_text_by_route_template(http, run):
    http.get(f"{API}/runs/{run.id}")
    text = http.get("/metrics").text
    assert (
        'heron_server_requests_total{method="GET",route="/api/v1/runs/{run_id}",status="200"}'
        in text
    )
    assert "heron_server_request_duration_seconds_bucket" in text
    assert 'heron_server_store_duration_seconds_count{operation="get_run"}' in text
    active = [line for line in text.splitlines() if line.startswith("heron_server_active_runs ")]
    assert active and float(active[0].split()[1]) >= 1
    assert run.id not in text  # ids never become label values


def test_access_log_has_one_json_line_per_request(http, server, run):
    http.get(f"{API}/runs/{run.id}", headers={"x-test": "access"})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in server.log().splitlines() if f"/runs/{run.id}" in line]
        if lines:
            break
        time.sleep(0.05)
    record = json.loads(lines[-1])
    assert (record["method"], record["status"]) == ("GET", 200)
    assert record["path"] == f"{API}/runs/{run.id}" and record["ms"] >= 0


def test_openapi_document_covers_every_store_route(http):
    from heron.store.rest.protocol import ROUTES

    document = http.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    for route in ROUTES:
        assert route.method.lower() in document["paths"][route.full_path], route.name
    batch = document["paths"][f"{API}/runs/{{run_id}}/batch"]["post"]
    assert "metrics" in batch["requestBody"]["content"]["application/json"]["schema"]["properties"]
    page = http.get("/docs")
    assert page.status_code == 200 and "swagger" in page.text.lower()


# --- bad input: 4xx with the field named, never 500 --------------------------------------------


def test_unknown_ids_are_404(http):
    response = http.get(f"{API}/runs/{'0' * 32}")
    assert response.status_code == 404
    assert error_of(response)[0] == "NOT_FOUND"
    assert http.get(f"{API}/models/nope/versions/3").status_code == 404


def test_a_field_of_the_wrong_type_is_422_naming_it(http, run):
    response = http.post(f"{API}/runs/search", json={"max_results": "ten"})
    assert response.status_code == 422
    code, message = error_of(response)
    assert code == "INVALID_REQUEST" and "max_results" in message
    response = http.post(f"{API}/runs/{run.id}/batch", json={"metrics": [["loss", "high", 0, 0]]})
    assert response.status_code == 422 and "metrics.0.1" in error_of(response)[1]
    response = http.post(f"{API}/experiments", json={"name": "x", "colour": "red"})
    assert response.status_code == 422 and "colour" in error_of(response)[1]


def test_bodies_that_are_not_json_objects_are_422(http):
    for body in (b"{not json", b"[1, 2]", b'"text"'):
        response = http.post(
            f"{API}/experiments", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, body


def test_changing_a_param_is_409(http, run):
    assert http.post(f"{API}/runs/{run.id}/batch", json={"params": {"lr": "0.1"}}).is_success
    response = http.post(f"{API}/runs/{run.id}/batch", json={"params": {"lr": "0.2"}})
    assert response.status_code == 409 and error_of(response)[0] == "CONFLICT"


def test_a_duplicate_experiment_name_is_409(http):
    assert http.post(f"{API}/experiments", json={"name": "twice"}).is_success
    assert http.post(f"{API}/experiments", json={"name": "twice"}).status_code == 409


def test_a_too_large_body_is_413(http, run):
    points = [["loss", 0.5, i, 0] for i in range(60_000)]  # > 1 MB, the limit of this server
    response = http.post(f"{API}/runs/{run.id}/batch", json={"metrics": points})
    assert response.status_code == 413
    assert "larger than the server accepts" in error_of(response)[1]


def test_unknown_paths_are_404_and_wrong_methods_405(http):
    assert http.get(f"{API}/nothing-here").status_code == 404
    assert http.put(f"{API}/runs/search").status_code == 405
    assert http.post("/health").status_code == 405


def test_errors_keep_their_class_and_message_across_the_wire(store, run, tmp_path):
    from tests.support.stores import open_sql_store

    with pytest.raises(NotFound) as remote:
        store.get_run("f" * 32)
    with (
        open_sql_store(sqlite_uri(tmp_path / "local.db")) as local,
        pytest.raises(NotFound) as here,
    ):
        local.get_run("f" * 32)
    assert str(remote.value) == str(here.value)
    store.log_batch(run.id, params={"depth": "3"})
    with pytest.raises(Conflict, match="depth"):
        store.log_batch(run.id, params={"depth": "4"})
    with pytest.raises(RequestInvalid) as invalid:
        store.search_runs(max_results="10")
    assert isinstance(invalid.value, InvalidArgument)


# --- metric history ----------------------------------------------------------------------------


def test_long_histories_are_downsampled_keeping_first_last_and_extremes(store, run, http):
    points = [Metric("loss", 1.0 / (i + 1), i, i) for i in range(10_000)]
    points[5_000] = Metric("loss", 50.0, 5_000, 5_000)  # a spike
    points[7_000] = Metric("loss", -3.0, 7_000, 7_000)  # a dip
    store.log_batch(run.id, points)

    thin = store.get_metric_history(run.id, "loss", max_points=200)

    assert len(thin) <= 200
    steps = [p.step for p in thin]
    assert steps == sorted(steps) and steps[0] == 0 and steps[-1] == 9_999
    assert {5_000, 7_000} <= set(steps)
    assert len(store.get_metric_history(run.id, "loss")) == 10_000
    response = http.get(
        f"{API}/runs/{run.id}/metrics/history", params={"key": "loss", "max_points": 0}
    )
    assert response.status_code == 400


def test_non_finite_values_travel(store, run):
    store.log_batch(run.id, [Metric("x", float("nan"), 0, 1), Metric("y", float("-inf"), 0, 1)])
    got = store.get_run(run.id)
    assert got.metrics["x"] != got.metrics["x"] and got.metrics["y"] == float("-inf")
    assert store.get_metric_history(run.id, "y")[0].value == float("-inf")


# --- artifact bytes ----------------------------------------------------------------------------


def test_an_upload_whose_bytes_do_not_match_its_hash_is_refused(http, server):
    data = b"some bytes"
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    response = http.put(f"{API}/artifacts/objects/{wrong}", content=data)
    assert response.status_code == 400 and error_of(response)[0] == "UPLOAD_REJECTED"
    assert http.head(f"{API}/artifacts/objects/{wrong}").status_code == 404


def test_upload_then_ranged_download(http):
    data = bytes(range(256)) * 4096  # 1 MiB
    digest = hashlib.sha256(data).hexdigest()
    assert http.put(f"{API}/artifacts/objects/{digest}", content=data).status_code == 201
    again = http.put(f"{API}/artifacts/objects/{digest}", content=data)
    assert again.status_code == 200 and again.json()["stored"] is False
    head = http.head(f"{API}/artifacts/objects/{digest}")
    assert head.headers["x-heron-object"] == "file" and head.headers["x-heron-size"] == str(
        len(data)
    )
    whole = http.get(f"{API}/artifacts/objects/{digest}")
    assert whole.content == data and whole.headers["accept-ranges"] == "bytes"
    part = http.get(f"{API}/artifacts/objects/{digest}", headers={"range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == data[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    tail = http.get(f"{API}/artifacts/objects/{digest}", headers={"range": "bytes=-10"})
    assert tail.content == data[-10:]
    bad = http.get(f"{API}/artifacts/objects/{digest}", headers={"range": f"bytes={len(data)}-"})
    assert bad.status_code == 416


@pytest.mark.parametrize(
    "member",
    ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "..\\escape.txt", "C:/x", "a/\0b"],
)
def test_member_paths_cannot_escape_their_object(http, member):
    response = http.put(
        f"{API}/artifacts/uploads/upload-0001", params={"member": member}, content=b"x"
    )
    assert response.status_code == 400, member
    folder_hash = "ab" * 32
    response = http.get(f"{API}/artifacts/objects/{folder_hash}", params={"member": member})
    assert response.status_code in (400, 404), member


def test_percent_encoded_escapes_are_refused(http):
    raw = f"{API}/artifacts/uploads/upload-0002?member=..%2F..%2Fescape.txt"
    assert http.put(raw, content=b"x").status_code == 400
    assert http.get(f"{API}/artifacts/objects/..%2F..%2Fetc").status_code == 400


def test_a_folder_is_uploaded_file_by_file_and_committed_by_its_manifest(http, tmp_path):
    from heron.core import hashing

    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("alpha")
    (folder / "sub" / "b.bin").write_bytes(b"\x00\x01")
    content_hash = hashing.hash_manifest(hashing.directory_manifest(folder))
    for rel in ("a.txt", "sub/b.bin"):
        response = http.put(
            f"{API}/artifacts/uploads/upload-0003",
            params={"member": rel},
            content=(folder / rel).read_bytes(),
        )
        assert response.status_code == 201
    wrong = http.post(
        f"{API}/artifacts/uploads/upload-0003/commit", json={"content_hash": "0" * 64}
    )
    assert wrong.status_code == 400  # and the upload is dropped
    for rel in ("a.txt", "sub/b.bin"):
        http.put(
            f"{API}/artifacts/uploads/upload-0004",
            params={"member": rel},
            content=(folder / rel).read_bytes(),
        )
    done = http.post(
        f"{API}/artifacts/uploads/upload-0004/commit", json={"content_hash": content_hash}
    )
    assert done.status_code == 201
    listing = http.get(f"{API}/artifacts/objects/{content_hash}").json()
    assert listing == {"files": [["a.txt", 5], ["sub/b.bin", 2]]}
    member = http.get(f"{API}/artifacts/objects/{content_hash}", params={"member": "sub/b.bin"})
    assert member.content == b"\x00\x01"


def test_a_file_sent_before_its_hash_is_known_is_committed_by_the_hash(http, server):
    from pathlib import Path

    data = bytes(range(256)) * 8192  # 2 MiB
    digest = hashlib.sha256(data).hexdigest()
    tmp = Path(server.artifacts_uri) / "tmp"
    sent = http.put(f"{API}/artifacts/uploads/upload-0005", content=data)
    assert sent.status_code == 201 and sent.json()["sha256"] == digest
    wrong = http.post(
        f"{API}/artifacts/uploads/upload-0005/commit", json={"content_hash": "1" * 64}
    )
    assert wrong.status_code == 400 and error_of(wrong)[0] == "UPLOAD_REJECTED"
    assert http.head(f"{API}/artifacts/objects/{'1' * 64}").status_code == 404
    assert not list(tmp.glob("upload-0005*"))  # the bytes and their digest are gone
    again = http.post(f"{API}/artifacts/uploads/upload-0005/commit", json={"content_hash": digest})
    assert again.status_code == 404  # nothing left to commit under that upload
    http.put(f"{API}/artifacts/uploads/upload-0006", content=data)
    done = http.post(f"{API}/artifacts/uploads/upload-0006/commit", json={"content_hash": digest})
    assert done.status_code == 201 and done.json()["stored"] is True
    assert http.get(f"{API}/artifacts/objects/{digest}").content == data
    retried = http.post(
        f"{API}/artifacts/uploads/upload-0006/commit", json={"content_hash": digest}
    )
    assert retried.status_code == 200 and retried.json()["stored"] is False
    assert not list(tmp.glob("upload-0006*"))


def test_a_file_upload_cut_off_midway_leaves_nothing_behind(server):
    import socket
    from pathlib import Path

    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"PUT /api/v1/artifacts/uploads/upload-0007 HTTP/1.1\r\nhost: x\r\n"
            b"content-type: application/octet-stream\r\ncontent-length: 10000000\r\n\r\n"
            + b"x"
            * 3_000_000
        )
        time.sleep(0.3)
    tmp = Path(server.artifacts_uri) / "tmp"
    deadline = time.monotonic() + 10
    while list(tmp.glob("upload-0007*")) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not list(tmp.glob("upload-0007*"))
    commit = httpx.post(
        f"{server.url}{API}/artifacts/uploads/upload-0007/commit", json={"content_hash": "2" * 64}
    )
    assert commit.status_code == 404


# --- liveness and shutdown (servers of their own) ----------------------------------------------


def test_the_server_fails_runs_whose_heartbeats_stopped(tmp_path, monkeypatch):
    db = tmp_path / "heron.db"
    with running_server(
        sqlite_uri(db),
        str(tmp_path / "artifacts"),
        tmp_path / "log",
        extra_args=("--reap-interval", "0.2"),
    ) as server:
        monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "0.5")
        remote = RestStore(server.url)
        run = remote.create_run(remote.create_experiment("reaped").id)
        assert run.heartbeat_timeout == 500
        deadline = time.monotonic() + 15
        status = reason = None
        while time.monotonic() < deadline:  # read the file itself: a Heron read would reap too
            with sqlite3.connect(db) as conn:
                status, reason = conn.execute(
                    "SELECT status, status_reason FROM runs WHERE id = ?", (run.id,)
                ).fetchone()
            if status == "failed":
                break
            time.sleep(0.1)
    assert status == "failed"
    assert "no heartbeat" in reason


def test_sigterm_finishes_the_request_in_flight_and_exits_0(tmp_path):
    server = start_server(sqlite_uri(tmp_path / "heron.db"), str(tmp_path / "a"), tmp_path / "log")
    size = 200 * 1024 * 1024
    block = b"\x07" * (1024 * 1024)
    digest = hashlib.sha256()
    for _ in range(size // len(block)):
        digest.update(block)
    content_hash = digest.hexdigest()
    answer: dict[str, object] = {}

    def slowly():
        for i in range(size // len(block)):
            if i == 20:
                answer["sent_some"] = True
            time.sleep(0.002)
            yield block

    def upload():
        try:
            answer["status"] = httpx.put(
                f"{server.url}{API}/artifacts/objects/{content_hash}",
                content=slowly(),
                headers={"content-length": str(size)},
                timeout=120,
            ).status_code
        except httpx.HTTPError as e:
            answer["status"] = repr(e)

    thread = threading.Thread(target=upload)
    thread.start()
    deadline = time.monotonic() + 30
    while "sent_some" not in answer and time.monotonic() < deadline:
        time.sleep(0.01)
    code = server.stop(signal.SIGTERM, timeout=60)
    thread.join(60)
    assert answer.get("status") == 201, server.log()
    assert code == 0, server.log()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/health", timeout=2)


def test_several_workers_share_the_port_and_the_metrics(tmp_path):
    with running_server(
        sqlite_uri(tmp_path / "heron.db"), str(tmp_path / "a"), tmp_path / "log", workers=2
    ) as server:
        remote = RestStore(server.url)
        experiment = remote.create_experiment("workers")
        for _ in range(20):
            remote.create_run(experiment.id)
        text = httpx.get(server.url + "/metrics").text
        line = next(
            line
            for line in text.splitlines()
            if line.startswith("heron_server_requests_total")
            and 'route="/api/v1/runs"' in line
            and 'method="POST"' in line
        )
        assert float(line.split()[-1]) == 20
        assert len(remote.search_runs([experiment.id])) == 20
        code = server.stop()
    assert code == 0
