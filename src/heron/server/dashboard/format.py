"""The Jinja2 filters of the dashboard: times, durations, numbers, ids and statuses."""

from __future__ import annotations

import datetime
import math
from typing import Any


def when(ms: Any) -> str:
    """Epoch milliseconds as ``2026-12-07 12:34:56`` (UTC); empty for none."""
    if not isinstance(ms, (int, float)) or ms <= 0:
        return ""
    moment = datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def iso(ms: Any) -> str:
    """Epoch milliseconds in ISO 8601 (for ``<time datetime=…>``)."""
    if not isinstance(ms, (int, float)) or ms <= 0:
        return ""
    return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc).isoformat()


def duration(start: Any, end: Any = None) -> str:
    """``1.2 s``, ``3 min 4 s``, ``2 h 5 min`` between two epoch-ms times (end: now)."""
    if not isinstance(start, (int, float)) or start <= 0:
        return ""
    if not isinstance(end, (int, float)) or end <= 0:
        end = datetime.datetime.now(tz=datetime.timezone.utc).timestamp() * 1000
    seconds = max(0.0, (end - start) / 1000)
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def number(value: Any) -> str:
    """A metric value, short: 4 significant digits, NaN and infinities spelt out."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
        return f"{value:.4g}"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def short_id(value: Any) -> str:
    """The first 8 characters of an id."""
    return str(value)[:8] if value else ""


def size(n: Any) -> str:
    """Bytes as ``12.3 MB``."""
    if not isinstance(n, (int, float)):
        return ""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


FILTERS = {
    "when": when,
    "iso": iso,
    "duration": duration,
    "number": number,
    "short_id": short_id,
    "size": size,
}
