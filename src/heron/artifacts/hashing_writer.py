"""Writing a file and hashing its bytes at the same time, on two cores.

A large artifact is otherwise written, then read back to be hashed. Here each chunk is
hashed in a helper thread while it is being written (both release the GIL), and the digest
is handed to the artifact store so that it does not read the file again.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, BinaryIO

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _hasher() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="heron-hash")
        return _pool


class HashingWriter:
    """A write-only binary file object that sha256-hashes what it writes, concurrently."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._digest = hashlib.sha256()
        self._pending: Future[Any] | None = None
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._pending is not None:
            self._pending.result()  # chunks are hashed in order
        self._pending = _hasher().submit(self._digest.update, view)
        written = self._raw.write(view)
        self.size += len(view)
        return len(view) if written is None else written

    def flush(self) -> None:
        self._raw.flush()

    def hexdigest(self) -> str:
        """The sha256 of everything written (waits for the last chunk)."""
        if self._pending is not None:
            self._pending.result()
            self._pending = None
        return self._digest.hexdigest()
