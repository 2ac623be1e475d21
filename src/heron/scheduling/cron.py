"""Cron expressions in a timezone: checked, and their fire instants between two times.

Parsing and iteration are cronsim's, which follows Debian cron on DST: a wall-clock time that
does not exist (spring forward) fires once, at the first valid instant after the gap; an
ambiguous one (fall back) fires once, at its first occurrence; schedules that fire every hour
(or more often) fire at every real hour. Times here are milliseconds since the epoch (UTC).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from heron.core.schedules import check_cron, check_timezone, cron_fields

__all__ = ["check_cron", "check_timezone"]


def _aware(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(zone)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def fires_after(expr: str, zone_name: str, after_ms: int) -> Iterator[int]:
    """The fire instants strictly after ``after_ms``, in order (an endless iterator)."""
    from cronsim import CronSim

    zone = check_timezone(zone_name)
    # cronsim works at second resolution and iterates strictly after its start
    start = _aware(after_ms - after_ms % 1000, zone)
    for moment in CronSim(cron_fields(expr), start):
        ms = _ms(moment)
        if ms > after_ms:
            yield ms


def fires_between(expr: str, zone_name: str, after_ms: int, until_ms: int, limit: int) -> list[int]:
    """At most ``limit`` fire instants in ``(after_ms, until_ms]``, oldest first."""
    out: list[int] = []
    for ms in fires_after(expr, zone_name, after_ms):
        if ms > until_ms or len(out) >= limit:
            break
        out.append(ms)
    return out


def next_fire(expr: str, zone_name: str, after_ms: int) -> int | None:
    """The first fire instant strictly after ``after_ms`` (``None`` if it never fires)."""
    return next(fires_after(expr, zone_name, after_ms), None)


def previous_fire(expr: str, zone_name: str, before_ms: int) -> int | None:
    """The last fire instant strictly before ``before_ms``: where an interval starts."""
    from cronsim import CronSim

    zone = check_timezone(zone_name)
    # strictly before: start at the next whole second, iterate backwards
    start = _aware(before_ms - before_ms % 1000 + 1000, zone)
    for moment in CronSim(cron_fields(expr), start, reverse=True):
        ms = _ms(moment)
        if ms < before_ms:
            return ms
    return None


def latest_fire(expr: str, zone_name: str, until_ms: int) -> int | None:
    """The last fire instant at or before ``until_ms``."""
    return previous_fire(expr, zone_name, until_ms + 1)
