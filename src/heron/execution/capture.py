"""Capturing what a step prints, while still showing it."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

MAX_CAPTURED = 10 * 1024 * 1024  # characters kept per step; the rest is counted, not stored


class _Tee(io.TextIOBase):
    def __init__(self, target: TextIO, sink: list[str], budget: list[int]) -> None:
        self._target = target
        self._sink = sink
        self._budget = budget

    def write(self, text: str) -> int:
        self._target.write(text)
        if self._budget[0] > 0:
            kept = text[: self._budget[0]]
            self._sink.append(kept)
            self._budget[0] -= len(kept)
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return False


@contextmanager
def captured_output() -> Iterator[list[str]]:
    """Tee ``sys.stdout`` and ``sys.stderr`` into a list of strings for the block."""
    sink: list[str] = []
    budget = [MAX_CAPTURED]
    out, err = sys.stdout, sys.stderr
    sys.stdout = _Tee(out, sink, budget)  # type: ignore[assignment]
    sys.stderr = _Tee(err, sink, budget)  # type: ignore[assignment]
    try:
        yield sink
    finally:
        sys.stdout, sys.stderr = out, err
