"""The quick path of the calls to a plain ``http://`` server: one keep-alive ``http.client``
connection per thread, for the small JSON calls and for artifact bytes.

Logging one point, creating a run or a heartbeat is one small request each; through httpx's
transport the client spends more time in its HTTP stack than the server takes to answer
(measured on 2 cores: 1,850 against 2,900 requests/s on ``/health``, 1,400 against 2,100
``log_batch`` calls/s). The standard library's client does only what these calls need.

Artifact bytes take it too. A download is read straight into the caller's buffers
(:class:`StreamedAnswer`), where httpx hands over a new 64 KiB chunk per read; a file is sent
with ``sendfile`` (:class:`FileBody`), without passing through Python. On 2 cores, with the
client's hash check and the server on the same machine, a 1 GiB download went from about 400
to 700-880 MB/s and an upload's client from 1.5 to 1.1 s of CPU.

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
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

_IDLE_SECONDS = 60.0
_SEGMENT = 4 * 1024 * 1024  # of a file body, between looks at its interrupt
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
            has_body = body is not None or method in ("POST", "PUT", "PATCH")
            self._begin(conn, method, path, headers, len(body or b"") if has_body else None)
            conn.endheaders(body)
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            raise QuickLost(e) from e
        return self._answer(conn)

    def send_file(self, method: str, path: str, headers: dict[str, str], body: FileBody) -> Answer:
        """Send a request whose body is a file, with ``sendfile`` (the bytes go from the page
        cache to the socket without passing through Python), and read the whole answer.
        Between segments of :data:`_SEGMENT` bytes the body's ``interrupt`` is looked at:
        once set, the connection is closed and ``UploadInterrupted`` raised. Raises as
        :meth:`request` does otherwise."""
        conn = self._connection()
        try:
            self._begin(conn, method, path, headers, body.size)
            conn.endheaders()
            assert conn.sock is not None
            with open(body.path, "rb") as f:
                sent = 0
                while sent < body.size:
                    if body.interrupt is not None and body.interrupt.is_set():
                        self._drop()
                        raise UploadInterrupted
                    n = conn.sock.sendfile(f, sent, min(_SEGMENT, body.size - sent))
                    if not n:
                        raise OSError(
                            f"{body.path} is shorter than the {body.size:,} bytes announced "
                            "(it changed while it was sent)"
                        )
                    sent += n
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            raise QuickLost(e) from e
        return self._answer(conn)

    def _begin(
        self,
        conn: http.client.HTTPConnection,
        method: str,
        path: str,
        headers: dict[str, str],
        length: int | None,
    ) -> None:
        """The request line and headers (sent with ``endheaders``)."""
        conn.putrequest(method, self.prefix + path, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        if length is not None:
            conn.putheader("content-length", str(length))

    def _answer(self, conn: http.client.HTTPConnection) -> Answer:
        """Read the whole answer to the request sent on ``conn``."""
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

    def stream(self, method: str, path: str, headers: dict[str, str]) -> StreamedAnswer:
        """Send a request without a body and answer once its headers are read; the body is
        read from the answer (:meth:`StreamedAnswer.readinto`). The connection is this
        thread's until the answer is closed, then kept for the next request if the body was
        read to its end. Raises as :meth:`request` does."""
        conn = self._connection()
        self._local.conn = None  # the answer holds it now
        try:
            self._begin(conn, method, path, headers, None)
            conn.endheaders()
            response = conn.getresponse()
        except (OSError, http.client.HTTPException) as e:
            conn.close()
            raise QuickLost(e) from e
        return StreamedAnswer(self, conn, response)

    def _give_back(self, conn: http.client.HTTPConnection) -> None:
        """Keep a connection whose answer was read to its end for this thread's next call."""
        local = self._local
        if getattr(local, "conn", None) is None:
            local.conn, local.pid, local.used = conn, os.getpid(), time.monotonic()
        else:
            conn.close()

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


class FileBody:
    """A request body that is a file, ``size`` bytes of it from the start: sent with
    ``sendfile`` on the quick path, in chunks of :data:`_SEGMENT` bytes through httpx (as an
    iterable). Setting ``interrupt`` stops the sending (``UploadInterrupted``)."""

    def __init__(
        self, path: str | os.PathLike[str], interrupt: threading.Event | None = None
    ) -> None:
        self.path = os.fspath(path)
        self.size = os.path.getsize(self.path)
        self.interrupt = interrupt

    def __iter__(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(_SEGMENT):
                if self.interrupt is not None and self.interrupt.is_set():
                    raise UploadInterrupted
                yield chunk


class UploadInterrupted(Exception):
    """A file body stopped being sent because its ``interrupt`` was set."""


class StreamedAnswer:
    """An answer whose body is read as it arrives, straight into the caller's buffers (no
    chunk objects in between, which is what makes a download through this path cheaper than
    through httpx: one ``recv_into`` per buffer)."""

    def __init__(
        self,
        owner: QuickConnections,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
    ) -> None:
        self._owner = owner
        self._conn: http.client.HTTPConnection | None = conn
        self._response = response
        self.status_code = response.status
        self.headers = response.headers
        self.content = b""

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def readinto(self, buffer: Any) -> int:
        """Read the next bytes of the body into ``buffer``; how many (0 at its end). Raises
        ``QuickLost`` if the connection breaks or the body ends short."""
        response = self._response
        try:
            n = response.readinto(buffer)
            if not n and len(buffer) and response.length:
                # http.client answers 0 when the connection ends before the length it said
                raise http.client.IncompleteRead(b"", response.length)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise QuickLost(e) from e
        return n

    def read(self) -> bytes:
        """The rest of the body (an error answer's), kept as :attr:`content`."""
        try:
            self.content = self._response.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise QuickLost(e) from e
        return self.content

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if self._response.isclosed() and not self._response.will_close:
            self._owner._give_back(conn)  # read to its end: reusable
        else:
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
