"""Failed sign-ins, counted per user name and per address: past the limit, both are refused
(429) until the window has passed, so that passwords cannot be guessed at speed."""

from __future__ import annotations

import threading
import time
from collections import deque

from heron.core.errors import TooManyAttempts

MAX_FAILURES = 10
WINDOW_SECONDS = 300.0
_MAX_KEYS = 100_000


class FailedSignIns:
    """Failures in the last ``window`` seconds, by key (``user:<name>``, ``addr:<ip>``)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, *keys: str) -> None:
        """Raise :class:`TooManyAttempts` when any key is over the limit."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                times = self._failures.get(key)
                if times is None:
                    continue
                while times and times[0] <= now - self.window:
                    times.popleft()
                if len(times) >= self.limit:
                    wait = int(times[0] + self.window - now) + 1
                    raise TooManyAttempts(
                        f"Too many failed sign-ins ({len(times)} in {int(self.window)} s) for "
                        f"this user or address; try again in {wait} s."
                    )

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._failures) > _MAX_KEYS:  # bounded memory: forget the oldest keys
                for key in list(self._failures)[: _MAX_KEYS // 10]:
                    del self._failures[key]
            for key in keys:
                self._failures.setdefault(key, deque(maxlen=self.limit * 2)).append(now)

    def succeed(self, user_key: str) -> None:
        with self._lock:
            self._failures.pop(user_key, None)
