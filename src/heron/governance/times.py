"""The durations and moments people type: ``30d``, ``12h``, ``3600s``, ``2026-03-01``."""

from __future__ import annotations

import re
from datetime import datetime

from heron.core.errors import InvalidArgument

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")


def parse_duration(text: str) -> float:
    """Seconds in ``text``: a number with a unit (``s``, ``m``, ``h``, ``d``, ``w``), or
    several (``1h30m``).

    >>> [parse_duration(t) for t in ("3600s", "12h", "30d", "1h30m")]
    [3600.0, 43200.0, 2592000.0, 5400.0]
    """
    compact = text.strip().lower().replace(" ", "")
    if not _DURATION.fullmatch(compact):
        raise InvalidArgument(
            f"{text!r} is not a duration: write a number and a unit, s, m, h, d or w "
            "(3600s, 90m, 12h, 30d)."
        )
    seconds = sum(float(n) * UNITS[unit] for n, unit in _PART.findall(compact))
    if seconds <= 0:
        raise InvalidArgument(f"The duration {text!r} must be more than 0 seconds.")
    return seconds


def parse_moment(text: str, now_ms: int) -> int:
    """Epoch milliseconds of ``text``: a duration before ``now_ms`` (``1d``, ``2h``), or an
    ISO date or date-time (``2026-03-01``, ``2026-03-01T09:30``, with an offset or ``Z``;
    without one it is local time).

    >>> parse_moment("2h", 10_000_000)
    2800000
    """
    stripped = text.strip()
    if _DURATION.fullmatch(stripped.lower().replace(" ", "")):
        return now_ms - int(parse_duration(stripped) * 1000)
    iso = stripped[:-1] + "+00:00" if stripped.endswith(("Z", "z")) else stripped
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise InvalidArgument(
            f"{text!r} is neither a duration (1d, 2h, 30m) nor an ISO date or time "
            "(2026-03-01, 2026-03-01T09:30, 2026-03-01T09:30:00Z)."
        ) from None
    return int(moment.timestamp() * 1000)
