"""Capturing what a step prints, while still showing it.

Several steps may run at once in one process (threads of a Dask worker, a local pool of
threads), so ``sys.stdout`` and ``sys.stderr`` are replaced once, for as long as any capture
is open, by a router that shows every write and keeps it for the captures of the thread that
wrote it. A write from a thread without a capture of its own (one a step started) goes to the
capture when exactly one is open, as it did when only one step ran at a time.
"""

from __future__ import annotations

import io
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

MAX_CAPTURED = 10 * 1024 * 1024  # characters kept per step; the rest is counted, not stored


class _Capture:
    __slots__ = ("budget", "sink")

    def __init__(self) -> None:
        self.sink: list[str] = []
        self.budget = MAX_CAPTURED

    def keep(self, text: str) -> None:
        if self.budget > 0:
            kept = text[: self.budget]
            self.sink.append(kept)
            self.budget -= len(kept)


_lock = threading.Lock()
_open: dict[int, list[_Capture]] = {}  # thread id -> its open captures, innermost last
_saved: tuple[TextIO, TextIO] | None = None  # the streams the routers replaced


class _Router(io.TextIOBase):
    def __init__(self, target: TextIO) -> None:
        self._target = target

    def write(self, text: str) -> int:
        self._target.write(text)
        captures = _open.get(threading.get_ident())
        if captures is None:
            everyone = list(_open.values())  # one step: the GIL keeps the copy whole
            captures = everyone[0] if len(everyone) == 1 else None
        for capture in captures or ():
            capture.keep(text)
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return False


@contextmanager
def captured_output() -> Iterator[list[str]]:
    """Tee ``sys.stdout`` and ``sys.stderr`` into a list of strings for the block: what this
    thread (and the threads it starts, while it is the only one capturing) writes."""
    global _saved
    capture = _Capture()
    me = threading.get_ident()
    with _lock:
        if _saved is None:
            _saved = (sys.stdout, sys.stderr)
            sys.stdout = _Router(sys.stdout)  # type: ignore[assignment]
            sys.stderr = _Router(sys.stderr)  # type: ignore[assignment]
        _open.setdefault(me, []).append(capture)
    try:
        yield capture.sink
    finally:
        with _lock:
            mine = _open[me]
            mine.remove(capture)
            if not mine:
                del _open[me]
            if not _open and _saved is not None:
                sys.stdout, sys.stderr = _saved
                _saved = None
