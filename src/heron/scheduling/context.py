"""The interval of the scheduled run this process belongs to: ``heron.context()``,
``heron.logical_time()``, ``heron.logical_date()``.

The scheduler hands the interval to the run's process in environment variables, so it reaches
pipeline parameter defaults (evaluated when the pipeline's module is imported) and steps on
any orchestrator (worker processes inherit the environment). Outside a scheduled run the
logical time is now and the interval is empty.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

ENV_LOGICAL_TIME = "HERON_LOGICAL_TIME"
ENV_INTERVAL_START = "HERON_INTERVAL_START"
ENV_INTERVAL_END = "HERON_INTERVAL_END"
ENV_TIMEZONE = "HERON_SCHEDULE_TIMEZONE"
ENV_SCHEDULE = "HERON_SCHEDULE"
ENV_BACKFILL = "HERON_BACKFILL_ID"

# the tags of a scheduled run
TAG_SCHEDULE = "heron.schedule"
TAG_LOGICAL_TIME = "heron.logical_time"
TAG_INTERVAL_START = "heron.interval_start"
TAG_INTERVAL_END = "heron.interval_end"
TAG_BACKFILL = "heron.backfill_id"
TAG_TICK = "heron.tick_id"


@dataclass(frozen=True)
class RunContext:
    """Where a run stands in its schedule; times are timezone-aware, in the schedule's zone."""

    schedule: str | None
    logical_time: datetime
    interval_start: datetime
    interval_end: datetime
    backfill_id: str | None

    @property
    def scheduled(self) -> bool:
        """Whether this run was started by a schedule (or a backfill)."""
        return self.schedule is not None


def iso(ms: int, zone: str = "UTC") -> str:
    """An instant as ISO 8601 text in ``zone``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc).astimezone(ZoneInfo(zone))
    return moment.isoformat()


def environment(
    schedule: str, zone: str, logical: int, start: int, end: int, backfill_id: str | None
) -> dict[str, str]:
    """The variables that give a run's process its interval."""
    env = {
        ENV_SCHEDULE: schedule,
        ENV_TIMEZONE: zone,
        ENV_LOGICAL_TIME: str(logical),
        ENV_INTERVAL_START: str(start),
        ENV_INTERVAL_END: str(end),
    }
    if backfill_id:
        env[ENV_BACKFILL] = backfill_id
    return env


def tags(
    schedule: str, zone: str, logical: int, start: int, end: int, backfill_id: str | None
) -> dict[str, str]:
    """The tags that record a scheduled run's interval."""
    out = {
        TAG_SCHEDULE: schedule,
        TAG_LOGICAL_TIME: iso(logical, zone),
        TAG_INTERVAL_START: iso(start, zone),
        TAG_INTERVAL_END: iso(end, zone),
    }
    if backfill_id:
        out[TAG_BACKFILL] = backfill_id
    return out


def _moment(variable: str, zone: ZoneInfo, default: datetime) -> datetime:
    text = os.environ.get(variable)
    if not text:
        return default
    return datetime.fromtimestamp(int(text) / 1000, tz=timezone.utc).astimezone(zone)


def context() -> RunContext:
    """The scheduled interval of this run (``scheduled`` is ``False`` outside one).

    >>> heron.context().interval_start  # doctest: +SKIP
    datetime.datetime(2026, 3, 1, 3, 0, tzinfo=zoneinfo.ZoneInfo(key='Europe/Zurich'))
    """
    zone = ZoneInfo(os.environ.get(ENV_TIMEZONE) or "UTC")
    now = datetime.now(tz=zone)
    logical = _moment(ENV_LOGICAL_TIME, zone, now)
    return RunContext(
        schedule=os.environ.get(ENV_SCHEDULE) or None,
        logical_time=logical,
        interval_start=_moment(ENV_INTERVAL_START, zone, logical),
        interval_end=_moment(ENV_INTERVAL_END, zone, logical),
        backfill_id=os.environ.get(ENV_BACKFILL) or None,
    )


def logical_time() -> datetime:
    """The logical time of this scheduled run (when its tick was due); now outside one."""
    return context().logical_time


def logical_date(fmt: str = "%Y-%m-%d") -> str:
    """The date of this run's logical time in its schedule's timezone, as text: a pipeline
    parameter default (``day: str = heron.logical_date()``) that backfills set per interval."""
    return context().logical_time.strftime(fmt)


def interval_start_date(fmt: str = "%Y-%m-%d") -> str:
    """The date the run's interval starts on (for a daily schedule: the day it covers)."""
    return context().interval_start.strftime(fmt)
