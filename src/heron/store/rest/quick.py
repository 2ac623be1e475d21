"""The quick path of the small JSON calls to a plain ``http://`` server: one keep-alive
``http.client`` connection per thread.

Logging one point, creating a run or a heartbeat is one small request each; through httpx's
transport the client spends more time in its HTTP stack than the server takes to answer
(measured on 2 cores: 1,850 against 2,900 requests/s on ``/health``, 1,400 against 2,100
``log_batch`` calls/s). The standard library's client does only what these calls need. Streams,
``https://`` and servers reached through a proxy stay on httpx (``heron.store.rest.http``),
which also turns the errors here into its own (the same retries apply to both paths).

A connection idle for longer than the httpx pool keeps one (60 s, below the server's 75 s
keep-alive) is not reused, and one the server has closed meanwhile is noticed before the
request is sent, so a request is never written into a connection the server is closing.
"""

from __future__ import annotations

import http.client
import os
import select
import socket
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

_IDLE_SECONDS = 60.0
_CONNECT_SECONDS = 10.0


class Answer:
    """What the calls read of a response (the attributes of an ``httpx.Response`` they use)."""

    __slots__ = ("content", "headers", "status_code")

    def __init__(self, status_code: int, headers: Any, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers  # an http.client.HTTPMessage: .get() ignores case
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def close(self) -> None:
        pass


def usable(base_url: str) -> bool:
    """Whether requests to ``base_url`` may take the quick path: plain HTTP, no proxy."""
    if os.environ.get("HERON_HTTP_QUICK", "1") == "0":
        return False
    parts = urlsplit(base_url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.username or parts.password:
        return False  # credentials in the URL: httpx turns them into basic auth
    proxies = urllib.request.getproxies()
    return not (proxies.get("http") or proxies.get("all")) or bool(
        urllib.request.proxy_bypass(parts.hostname)
    )


class QuickConnections:
    """One keep-alive connection per thread (and process) to one server."""

    def __init__(self, base_url: str, read_timeout: float) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.prefix = parts.path.rstrip("/")
        self.read_timeout = read_timeout
        self._local = threading.local()

    def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes | None
    ) -> Answer:
        """Send one request and read the whole answer. Raises ``ConnectionError`` subclasses
        (``ConnectionRefusedError`` and the like) before anything was sent, ``QuickLost``
        once the request may have reached the server."""
        conn = self._connection()
        try:
            conn.putrequest(method, self.prefix + path, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            if body is not None or method in ("POST", "PUT", "PATCH"):
                conn.putheader("content-length", str(len(body or b"")))
            conn.endheaders(body)
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            raise QuickLost(e) from e
        try:
            response = conn.getresponse()
            content = response.read()
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            raise QuickLost(e) from e
        if response.will_close:
            self._drop()
        else:
            self._local.used = time.monotonic()
        return Answer(response.status, response.headers, content)

    def _connection(self) -> http.client.HTTPConnection:
        local = self._local
        conn: http.client.HTTPConnection | None = getattr(local, "conn", None)
        if conn is not None and (
            local.pid != os.getpid()
            or time.monotonic() - local.used > _IDLE_SECONDS
            or _closed_by_peer(conn)
        ):
            self._drop()
            conn = None
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=_CONNECT_SECONDS)
            try:
                conn.connect()
            except TimeoutError as e:
                conn.close()
                raise QuickConnectTimeout(e) from e
            except OSError:
                conn.close()
                raise
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.sock.settimeout(self.read_timeout)
            local.conn, local.pid, local.used = conn, os.getpid(), time.monotonic()
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()


def _closed_by_peer(conn: http.client.HTTPConnection) -> bool:
    """An idle keep-alive connection that is readable has been closed (or broken) by the
    server: there is no answer it could be reading."""
    sock = conn.sock
    if sock is None:
        return True
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class QuickLost(Exception):
    """The connection broke or timed out after the request may have been sent."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error).strip() or type(error).__name__)
        self.error = error
        self.timed_out = isinstance(error, TimeoutError)


class QuickConnectTimeout(Exception):
    """The connection could not be made in time (nothing was sent)."""
