"""The quick path of small JSON calls (heron.store.rest.quick) against a tiny local server:
keep-alive reuse, a connection the server closed, one connection per thread, the failures
told as the session's retries expect them; streamed answers and file bodies, on the quick path
and on httpx (``HERON_HTTP_QUICK=0``) alike."""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import threading
import time

import pytest

from heron.core.errors import StoreUnavailable
from heron.store.rest import quick
from heron.store.rest.http import HttpSession


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep the test output quiet
        pass

    def _answer(self) -> None:
        server = self.server
        if self.path.startswith("/blob/"):
            self._blob(int(self.path.rsplit("/", 1)[1]))
            return
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.command == "PUT":  # a file body: say what came
            body = json.dumps(
                {
                    "sha256": hashlib.sha256(body).hexdigest(),
                    "length": self.headers.get("content-length"),
                    "chunked": self.headers.get("transfer-encoding"),
                }
            ).encode()
        with server.lock:
            server.requests.append((self.command, self.path, body, self.client_address[1]))
            mode = server.mode
        if mode == "drop":  # read the request, then hang up without an answer
            self.close_connection = True
            return
        payload = json.dumps(
            {"result": {"path": self.path, "body": body.decode(), "port": self.client_address[1]}}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)
        if mode == "close-after":  # close the kept-alive connection without saying so
            self.close_connection = True

    def _blob(self, size: int) -> None:
        """``size`` bytes of :func:`_blob_bytes`; in mode "short", half of them, then the
        connection is closed."""
        data = _blob_bytes(size)
        with self.server.lock:
            self.server.requests.append(("GET", self.path, b"", self.client_address[1]))
            mode = self.server.mode
        self.send_response(200)
        self.send_header("content-length", str(size))
        self.end_headers()
        if mode == "short":
            self.wfile.write(data[: size // 2])
            self.close_connection = True
            return
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = _answer


def _blob_bytes(size: int) -> bytes:
    block = hashlib.sha256(b"blob").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.lock = threading.Lock()
    httpd.requests = []
    httpd.mode = "ok"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _url(server) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}"


def _ports(server) -> list[int]:
    with server.lock:
        return [port for *_, port in server.requests]


def test_calls_of_one_thread_share_one_kept_alive_connection(server):
    conns = quick.QuickConnections(_url(server), read_timeout=5)
    answers = [conns.request("POST", f"/x/{i}", {}, b'{"i": %d}' % i) for i in range(5)]
    assert [a.status_code for a in answers] == [200] * 5
    assert json.loads(answers[3].content)["result"] == {
        "path": "/x/3",
        "body": '{"i": 3}',
        "port": _ports(server)[3],
    }
    assert len(set(_ports(server))) == 1


def test_a_connection_the_server_closed_is_replaced_before_sending(server):
    server.mode = "close-after"
    session = HttpSession(_url(server))
    for i in range(4):  # not idempotent: it must not be sent into a closed connection
        time.sleep(0.05)  # the server's close arrives while the connection is idle
        response = session.request("POST", f"/n/{i}", idempotent=False, json={"i": i})
        assert orjson_result(response)["path"] == f"/n/{i}"
    with server.lock:
        assert [r[1] for r in server.requests] == [f"/n/{i}" for i in range(4)]
    assert len(set(_ports(server))) == 4


def orjson_result(response):
    return json.loads(response.content)["result"]


def test_each_thread_has_its_own_connection(server):
    session = HttpSession(_url(server))
    got: dict[int, list[str]] = {}

    def work(k: int) -> None:
        got[k] = [
            orjson_result(session.request("POST", f"/t{k}/{i}", idempotent=True, json={}))["path"]
            for i in range(20)
        ]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert got == {k: [f"/t{k}/{i}" for i in range(20)] for k in range(4)}
    assert len(set(_ports(server))) == 4


def test_query_parameters_and_the_prefix_of_the_url_are_kept(server):
    session = HttpSession(_url(server) + "/base/")
    response = session.request("GET", "/runs", idempotent=True, params={"a": "1 2", "b": "é"})
    assert orjson_result(response)["path"] == "/base/runs?a=1+2&b=%C3%A9"


def test_a_server_that_is_not_there_is_unavailable_after_the_retries(monkeypatch):
    monkeypatch.setenv("HERON_HTTP_RETRY_SECONDS", "0.3")
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    session = HttpSession(f"http://127.0.0.1:{port}")
    with pytest.raises(StoreUnavailable, match="cannot be reached: cannot connect"):
        session.request("POST", "/x", idempotent=False, json={})


def test_a_lost_answer_is_retried_only_when_the_call_is_idempotent(server, monkeypatch):
    monkeypatch.setenv("HERON_HTTP_RETRY_SECONDS", "0.5")
    server.mode = "drop"
    session = HttpSession(_url(server))
    with pytest.raises(StoreUnavailable, match="may or may not have been applied"):
        session.request("POST", "/once", idempotent=False, json={})
    assert len(server.requests) == 1
    with pytest.raises(StoreUnavailable, match="cannot be reached: no answer"):
        session.request("POST", "/again", idempotent=True, json={})
    assert len(server.requests) > 2
    server.mode = "ok"
    assert orjson_result(session.request("GET", "/back", idempotent=True))["path"] == "/back"


@pytest.mark.parametrize(
    ("url", "env", "expected"),
    [
        ("http://127.0.0.1:5151", {}, True),
        ("https://heron.example:443", {}, False),
        ("http://user:secret@heron:5151", {}, False),
        ("http://heron:5151", {"HERON_HTTP_QUICK": "0"}, False),
        ("http://heron:5151", {"http_proxy": "http://proxy:3128"}, False),
        ("http://heron:5151", {"http_proxy": "http://proxy:3128", "no_proxy": "heron"}, True),
    ],
)
def test_the_quick_path_is_for_plain_http_without_a_proxy(monkeypatch, url, env, expected):
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "all_proxy",
        "ALL_PROXY",
        "no_proxy",
        "NO_PROXY",
        "HERON_HTTP_QUICK",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert quick.usable(url) is expected
    assert (HttpSession(url)._quick is not None) is expected


def test_a_store_made_while_the_server_is_away_tries_once_and_waits_for_nothing(monkeypatch):
    import socket

    from heron.store.rest.store import RestStore

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    tries = []
    real = quick.QuickConnections.request

    def counting(self, *args, **kwargs):
        tries.append(args[1])
        return real(self, *args, **kwargs)

    monkeypatch.setattr(quick.QuickConnections, "request", counting)
    monkeypatch.setenv("HERON_HTTP_RETRY_SECONDS", "30")
    store = RestStore(f"http://127.0.0.1:{port}")
    assert tries == ["/api/v1/info"]  # one try; the artifact routing is asked again later
    assert store._info is None


@pytest.fixture(params=["quick", "httpx"])
def path_of(request, monkeypatch):
    """Which path streams and file bodies take: the quick one or httpx."""
    if request.param == "httpx":
        monkeypatch.setenv("HERON_HTTP_QUICK", "0")
    return request.param


def _read_all(body, buffer_size: int) -> bytes:
    buffer = bytearray(buffer_size)
    out = bytearray()
    while n := body.readinto(buffer):
        out += buffer[:n]
    return bytes(out)


@pytest.mark.parametrize("buffer_size", [1000, 1 << 20])
def test_a_streamed_answer_is_read_into_buffers_of_any_size(server, path_of, buffer_size):
    session = HttpSession(_url(server))
    assert (session._quick is not None) == (path_of == "quick")
    size = 3 * 65536 + 123
    response = session.request("GET", f"/blob/{size}", idempotent=True, stream=True)
    try:
        assert response.status_code == 200
        assert _read_all(response, buffer_size) == _blob_bytes(size)
    finally:
        response.close()


def test_a_streamed_answer_read_to_its_end_gives_its_connection_back(server):
    session = HttpSession(_url(server))
    for _ in range(3):
        response = session.request("GET", "/blob/70000", idempotent=True, stream=True)
        assert len(_read_all(response, 8192)) == 70000
        response.close()
    session.request("POST", "/after", idempotent=True, json={})
    assert len(set(_ports(server))) == 1
    # one closed before its end cannot be reused: the next call has a new connection
    response = session.request("GET", "/blob/700000", idempotent=True, stream=True)
    response.readinto(bytearray(1000))
    response.close()
    session.request("POST", "/later", idempotent=True, json={})
    assert len(set(_ports(server))) == 2


def test_a_body_that_ends_short_is_a_lost_connection(server, path_of):
    server.mode = "short"
    session = HttpSession(_url(server))
    response = session.request("GET", "/blob/200000", idempotent=True, stream=True)
    with pytest.raises(quick.QuickLost):
        _read_all(response, 65536)
    response.close()


@pytest.mark.parametrize("size", [0, 5, 9 * 1024 * 1024 + 7])
def test_a_file_body_arrives_whole_with_its_length(server, path_of, tmp_path, size):
    source = tmp_path / "f.bin"
    data = os.urandom(size)
    source.write_bytes(data)
    session = HttpSession(_url(server))
    response = session.request(
        "PUT", "/up", idempotent=True, content=lambda: quick.FileBody(source)
    )
    said = json.loads(orjson_result(response)["body"])
    assert said == {
        "sha256": hashlib.sha256(data).hexdigest(),
        "length": str(size),
        "chunked": None,
    }


def test_a_file_body_stops_once_interrupted(server, path_of, tmp_path):
    source = tmp_path / "f.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024))
    interrupt = threading.Event()
    interrupt.set()
    session = HttpSession(_url(server))
    with pytest.raises(quick.UploadInterrupted):
        session.request(
            "PUT", "/up", idempotent=True, content=lambda: quick.FileBody(source, interrupt)
        )
    interrupt.clear()
    response = session.request(  # the session goes on working
        "PUT", "/up", idempotent=True, content=lambda: quick.FileBody(source, interrupt)
    )
    assert json.loads(orjson_result(response)["body"])["length"] == str(3 * 1024 * 1024)
