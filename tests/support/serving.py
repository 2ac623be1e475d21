"""A ``heron serve`` subprocess driven over keep-alive HTTP, for the tests that serve."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

#: how long a server may take to start before the test gives up (a hang, not a measurement)
START_LIMIT_S = 120


class Server:
    """A ``heron serve`` subprocess and keep-alive HTTP to it."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "heron", "serve", *args, "--port", "0"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = self._banner()
        found = re.search(r"on http://127\.0\.0\.1:(\d+)", self.banner)
        assert found, self.banner
        self.port = int(found.group(1))
        self._connection: http.client.HTTPConnection | None = None
        self._wait_until_healthy()

    def _banner(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(START_LIMIT_S)
            raise AssertionError(f"heron serve exited: {self.process.stderr.read()}")
        return line

    def _wait_until_healthy(self) -> None:
        for _ in range(START_LIMIT_S * 20):
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                self._connection = None
            if self.process.poll() is not None:
                raise AssertionError(f"heron serve exited: {self.process.stderr.read()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(0.05)
        raise AssertionError("heron serve never answered /health")

    def request(
        self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes]:
        headers = {"Content-Type": content_type} if content_type else {}
        for attempt in (1, 2):
            if self._connection is None:
                self._connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self._connection.request(method, path, body, headers)
                response = self._connection.getresponse()
                data = response.read()
                if response.will_close:
                    self._connection.close()
                    self._connection = None
                return response.status, data
            except (ConnectionError, http.client.HTTPException):
                self._connection.close()
                self._connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def get(self, path: str) -> tuple[int, bytes]:
        return self.request("GET", path)

    def post(self, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        status, answer = self.request("POST", "/invocations", data, content_type)
        return status, json.loads(answer)

    def predictions(self, body: Any, content_type: str = "application/json") -> list:
        status, answer = self.post(body, content_type)
        assert status == 200, answer
        return answer["predictions"]

    def stop(self) -> str:
        if self._connection is not None:
            self._connection.close()
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.process.stderr.read()
