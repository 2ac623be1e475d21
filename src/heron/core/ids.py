"""Identifiers and clocks shared by every layer."""

from __future__ import annotations

import time
import uuid


def new_id() -> str:
    """A new random id: 32 lower-case hex characters (a UUID4 without dashes)."""
    return uuid.uuid4().hex


def now_ms() -> int:
    """Milliseconds since the Unix epoch, the unit of every timestamp Heron stores."""
    return time.time_ns() // 1_000_000
