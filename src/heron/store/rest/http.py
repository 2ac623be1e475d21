"""The HTTP session of a tracking-server client: one keep-alive ``httpx.Client`` per server
and process, with timeouts, retries and the server's errors turned back into HeronErrors.

Retries, with exponential back-off for up to ``HERON_HTTP_RETRY_SECONDS`` (default 20):

- a connection that could not be made (nothing was sent) is retried for every request;
- a lost answer (the connection broke, a read timed out) and 502/503/504 are retried only for
  requests that are safe to send again (reads, and writes made idempotent by a client-chosen
  id: runs, batches, links);
- when the time is up, :class:`StoreUnavailable` says the server cannot be reached.

Every request carries this process's owner string and heartbeat timeout (the runs the server
creates for it belong to this process), the project it works in (``x-heron-project``; a
``RestStore`` view sends its own), ``User-Agent: heron/<version>`` and the credentials in force
(:func:`heron.core.config.tracking_credentials`: ``Authorization: Bearer <token>`` from
``HERON_TRACKING_TOKEN``, else HTTP Basic from ``HERON_TRACKING_USERNAME`` and
``HERON_TRACKING_PASSWORD``), read again for every request so that a change in the process
applies at once. Credentials are never logged. A 401 answer is raised as
:class:`Unauthenticated`, a 403 as :class:`PermissionDenied`, with the server's message.
"""

from __future__ import annotations

import base64
import logging
import os
import threading
import time
from typing import Any
from urllib.parse import urlencode

import orjson

from heron._version import __version__
from heron.core import config, uris
from heron.core import owner as owners
from heron.core.errors import (
    HeronError,
    InvalidArgument,
    PermissionDenied,
    StoreError,
    StoreUnavailable,
    Unauthenticated,
)
from heron.store.rest import protocol, quick

log = logging.getLogger("heron.store.rest")

RETRY_STATUSES = (502, 503, 504)
#: the statuses of a refused caller, raised as these errors whatever the body says
_REFUSED: dict[int, type[HeronError]] = {401: Unauthenticated, 403: PermissionDenied}
_DUMP = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS


def _retry_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get("HERON_HTTP_RETRY_SECONDS", "20")))
    except ValueError:
        return 20.0


def _timeout_seconds() -> float:
    try:
        return max(1.0, float(os.environ.get("HERON_HTTP_TIMEOUT", "120")))
    except ValueError:
        return 120.0


class HttpSession:
    """Requests to one tracking server."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._lock = threading.Lock()
        self._client: Any = None
        self._pid = -1
        self._error_classes: dict[str, type] | None = None
        self._transport: Any = None
        self._timeout: dict[str, Any] = {}
        self._agent = f"heron/{__version__}"
        # the credentials last turned into a header, and that header (kept, never logged)
        self._credentials: tuple[str | None, str | None, str | None] = (None, None, None)
        self._authorization: str | None = None
        self._quick: Any = None
        if quick.usable(self.base_url):
            self._quick = quick.QuickConnections(self.base_url, _timeout_seconds())

    @property
    def client(self) -> Any:
        """The httpx client of this process (a forked child opens its own connections)."""
        client = self._client
        if client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    import httpx

                    timeout = httpx.Timeout(_timeout_seconds(), connect=10.0)
                    self._transport = httpx.HTTPTransport(
                        limits=httpx.Limits(
                            max_connections=32, max_keepalive_connections=16, keepalive_expiry=60
                        )
                    )
                    self._timeout = {"timeout": timeout.as_dict()}
                    self._client = httpx.Client(
                        base_url=self.base_url,
                        timeout=timeout,
                        transport=self._transport,
                        headers={"user-agent": self._agent},
                        follow_redirects=False,
                    )
                    self._pid = os.getpid()
                client = self._client
        return client

    def _quick_request(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        body: Any,
        stream: bool = False,
    ) -> Any:
        """A request on the quick path, its failures told as httpx's (the same retries)."""
        import httpx

        assert self._quick is not None
        try:
            if stream:
                return self._quick.stream(method, path, headers)
            if isinstance(body, quick.FileBody):
                return self._quick.send_file(method, path, headers, body)
            return self._quick.request(method, path, headers, body)
        except quick.QuickConnectTimeout as e:
            raise httpx.ConnectTimeout(str(e)) from e
        except quick.QuickLost as e:
            if e.timed_out:
                raise httpx.ReadTimeout(str(e)) from e
            raise httpx.RemoteProtocolError(str(e)) from e
        except OSError as e:  # nothing was sent: the connection could not be made
            raise httpx.ConnectError(_reason(e)) from e

    def close(self) -> None:
        with self._lock:
            if self._client is not None and self._pid == os.getpid():
                self._client.close()
            self._client = None

    def headers(self) -> dict[str, str]:
        """The headers of every request: agent, owner, heartbeat timeout, the process's
        project and the credentials in force."""
        headers = {
            "user-agent": self._agent,
            protocol.OWNER_HEADER: owners.current_owner(),
            protocol.TIMEOUT_HEADER: str(owners.heartbeat_timeout_ms()),
            protocol.PROJECT_HEADER: config.get_project(),
        }
        authorization = self._authorization_header()
        if authorization is not None:
            headers["authorization"] = authorization
        return headers

    def _authorization_header(self) -> str | None:
        """``Bearer <token>`` or ``Basic <user:password>`` of the credentials in force."""
        credentials = config.tracking_credentials()
        if credentials != self._credentials:
            token, username, password = credentials
            if token:
                header: str | None = f"Bearer {token.strip()}"
            elif username and password is not None:
                pair = f"{username}:{password}".encode()
                header = "Basic " + base64.b64encode(pair).decode("ascii")
            else:
                header = None
            self._credentials, self._authorization = credentials, header
        return self._authorization

    def request(
        self,
        method: str,
        path: str,
        *,
        idempotent: bool,
        json: Any = None,
        params: dict[str, Any] | None = None,
        content: Any = None,  # bytes, or a function giving a fresh iterator of chunks
        headers: dict[str, str] | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (),
        retry_seconds: float | None = None,
    ) -> Any:
        """Send one request (retried as the module says, for ``retry_seconds`` if given); the
        response of a 2xx status (or one in ``ok``), else the HeronError the server answered
        is raised."""
        import httpx

        try:
            body = orjson.dumps(json, option=_DUMP) if json is not None else None
        except TypeError as e:
            raise InvalidArgument(
                f"Cannot send {method} {path} to the server: {e}. Use text (valid Unicode), "
                "numbers (64-bit integers), booleans, lists and dicts."
            ) from None
        all_headers = self.headers()
        if body is not None:
            all_headers["content-type"] = "application/json"
        if headers:
            all_headers.update(headers)
        window = _retry_seconds() if retry_seconds is None else retry_seconds
        deadline = time.monotonic() + window
        delay = 0.05
        attempt = 0
        while True:
            attempt += 1
            failure: str
            try:
                payload = body if body is not None else content
                if callable(payload):
                    payload = payload()
                client = self.client
                quick_path = self._quick is not None and (
                    payload is None
                    or (isinstance(payload, bytes) and not stream)
                    or isinstance(payload, quick.FileBody)
                )
                if quick_path:
                    # the small JSON calls, the downloads and the file uploads of a plain
                    # http:// server, on heron.store.rest.quick (a download reads into the
                    # caller's buffers, a file is sent with sendfile)
                    target = path + "?" + urlencode(params) if params else path
                    response = self._quick_request(method, target, all_headers, payload, stream)
                elif stream or not (payload is None or isinstance(payload, bytes)):
                    sent_headers = all_headers
                    if isinstance(payload, quick.FileBody):  # its length, not chunked
                        sent_headers = {**all_headers, "content-length": str(payload.size)}
                    request = client.build_request(
                        method, path, content=payload, params=params, headers=sent_headers
                    )
                    response = client.send(request, stream=stream)
                else:
                    # the small JSON calls (most of them): straight to the pooled transport,
                    # past the client's redirect, auth and cookie handling (a third faster)
                    url = self.base_url + path
                    if params:
                        url += "?" + urlencode(params)
                    response = self._transport.handle_request(
                        httpx.Request(
                            method,
                            url,
                            headers=all_headers,
                            content=payload,
                            extensions=self._timeout,
                        )
                    )
                    response.read()
            except httpx.ConnectError as e:
                failure = f"cannot connect ({_reason(e)})"
            except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as e:
                if isinstance(e, httpx.ConnectTimeout):
                    failure = "the connection timed out"
                elif not idempotent:
                    raise StoreUnavailable(
                        f"The Heron server at {uris.redact(self.base_url)} did not answer "
                        f"{method} {path} ({_reason(e)}); the request may or may not have been "
                        "applied. Check the server, then look before doing it again."
                    ) from e
                else:
                    failure = f"no answer ({_reason(e)})"
            else:
                status = response.status_code
                if 200 <= status < 300 or status in ok:
                    if stream and not quick_path:
                        return HttpxBody(response)
                    return response
                if status in RETRY_STATUSES and idempotent:
                    failure = f"it answered {status}"
                    if stream:
                        response.close()
                else:
                    if stream:
                        response.read()
                    raise self._error(response, method, path)
            if time.monotonic() + delay > deadline:
                raise StoreUnavailable(
                    f"The Heron server at {uris.redact(self.base_url)} cannot be reached: "
                    f"{failure} (tried {attempt} time{'s' if attempt > 1 else ''} over "
                    f"{window:g} s). Check that `heron server` is running there and "
                    "that HERON_TRACKING_URI names it."
                )
            log.debug("%s %s: %s; retrying in %.2f s", method, path, failure, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _error(self, response: Any, method: str, path: str) -> HeronError:
        """The HeronError a server's error answer stands for."""
        status = response.status_code
        try:
            error = orjson.loads(response.content)["error"]
            code, message = str(error["code"]), str(error["message"])
        except Exception:
            text = response.text[:200].strip()
            if status in _REFUSED:
                return _REFUSED[status](_refusal(status, self.base_url, text))
            if status in RETRY_STATUSES:
                return StoreUnavailable(
                    f"The Heron server at {uris.redact(self.base_url)} is unavailable "
                    f"({status}{': ' + text if text else ''})."
                )
            return StoreError(
                f"{method} {path} answered {status} without a Heron error body"
                f"{': ' + text if text else ''}. Is {uris.redact(self.base_url)} a Heron server?"
            )
        if self._error_classes is None:
            self._error_classes = protocol.error_classes()
        cls = self._error_classes.get(code)
        if status in _REFUSED and not (isinstance(cls, type) and issubclass(cls, _REFUSED[status])):
            cls = _REFUSED[status]  # a refusal is one whatever code a proxy or server gave it
        if cls is None:
            error_cls: type[HeronError] = StoreUnavailable if status >= 500 else HeronError
            made = error_cls(message)
            made.code = code
            made.http_status = status
            return made
        try:
            return cls(message)  # type: ignore[no-any-return]
        except TypeError:
            return HeronError(message)


class HttpxBody:
    """A streamed httpx response read as :class:`heron.store.rest.quick.StreamedAnswer` is:
    ``readinto`` a buffer (the chunks httpx hands over are copied into it)."""

    def __init__(self, response: Any) -> None:
        self._response = response
        self._chunks = response.iter_raw()
        self._left = memoryview(b"")
        self.status_code = response.status_code
        self.headers = response.headers

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` with the next bytes of the body; how many (0 at its end). Raises
        ``QuickLost`` if the connection breaks or the body ends short."""
        import httpx

        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view):
            if not self._left:
                try:
                    chunk = next(self._chunks, None)
                except httpx.HTTPError as e:  # told as the quick path tells it
                    raise quick.QuickLost(e) from e
                if chunk is None:
                    break
                self._left = memoryview(chunk)
            n = min(len(self._left), len(view) - filled)
            view[filled : filled + n] = self._left[:n]
            self._left = self._left[n:]
            filled += n
        return filled

    def close(self) -> None:
        self._response.close()


def _refusal(status: int, base_url: str, text: str) -> str:
    """The message of a 401 or 403 answer that has no Heron error body (a proxy's)."""
    said = f": {text}" if text else ""
    server = uris.redact(base_url)
    if status == 401:
        return (
            f"The Heron server at {server} needs to know who you are (401{said}). Set "
            f"{config.TOKEN_ENV} to an API token, or {config.USERNAME_ENV} and "
            f"{config.PASSWORD_ENV}."
        )
    return (
        f"The Heron server at {server} refused this request (403{said}): your role in the "
        "project does not allow it. Ask a maintainer of the project for access."
    )


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text or type(error).__name__


_sessions: dict[str, HttpSession] = {}
_sessions_lock = threading.Lock()


def session_for(base_url: str) -> HttpSession:
    """The process-wide session of the server at ``base_url``."""
    base_url = base_url.rstrip("/")
    session = _sessions.get(base_url)
    if session is None:
        with _sessions_lock:
            session = _sessions.setdefault(base_url, HttpSession(base_url))
    return session
