"""`heron server` lets uvicorn read request bodies ahead in large pieces, so an upload
reaches the app in few messages (each message costs the event loop a pause and a resume of
the socket and a wake-up of the app)."""

from __future__ import annotations

import asyncio
import http.client
import socket
import threading
import time

import pytest
import uvicorn
import uvicorn.protocols.http.h11_impl as h11_impl

from heron.server import app as server_app

MB = 1024 * 1024


def _receive_sizes(http_impl: str, body_size: int) -> list[int]:
    """Send ``body_size`` bytes to a uvicorn server with ``http_impl``; the sizes of the body
    messages its app received. The app is busy for a moment after each message, as the
    artifact routes are while a piece is hashed and written."""
    sizes: list[int] = []

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            sizes.append(len(message.get("body", b"")))
            await asyncio.sleep(0.005)
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, http=http_impl, loop="asyncio", log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.01)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("PUT", "/", body=b"x" * body_size)
        assert conn.getresponse().status == 204
        conn.close()
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    return sizes


@pytest.mark.parametrize("http_impl", ["httptools", "h11"])
def test_an_upload_reaches_the_app_in_messages_of_megabytes(monkeypatch, http_impl):
    import uvicorn.protocols.http.httptools_impl as httptools_impl

    for module in (httptools_impl, h11_impl):  # put back after the test
        monkeypatch.setattr(module, "HIGH_WATER_LIMIT", module.HIGH_WATER_LIMIT)
    body = 32 * MB
    before = _receive_sizes(http_impl, body)
    server_app.buffer_request_bodies()
    after = _receive_sizes(http_impl, body)
    assert sum(before) == sum(after) == body
    assert max(after) > MB  # pieces far beyond uvicorn's own 64 KiB read-ahead
    assert max(after) <= server_app.BODY_READ_AHEAD + MB  # and still bounded
    assert len(after) < len(before)
