"""Backfills: reprocess a range of a schedule's intervals as a first-class record.

A backfill covers the fires of the schedule's cron between ``start`` and ``end`` (dates are
whole days in the schedule's timezone, both ends included). ``reprocess`` says which intervals
run: ``missing`` (never ran: no tick, or a skipped one), ``failed`` (also failed and
cancelled ones) or ``all`` (also succeeded ones). Queued and running intervals are never
touched, so nothing runs twice at once. The backfill's ticks launch through any running
scheduler (or ``heron backfill``'s own loop), within the backfill's own ``max_active_runs``,
oldest first or, with ``backwards``, newest first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from heron.core import schedules as s
from heron.core.errors import InvalidArgument
from heron.scheduling import cron as crons
from heron.scheduling.definitions import schedule_store

MAX_WITHOUT_YES = 100_000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class BackfillPlan:
    """What a backfill would do: the logical times it would run and those it leaves."""

    schedule: s.Schedule
    intervals: list[tuple[int, int, int]]
    run: list[int] = field(default_factory=list)
    keep: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        zone = self.schedule.timezone
        from heron.scheduling.context import iso

        return {
            "schedule": self.schedule.name,
            "intervals": len(self.intervals),
            "run": [iso(t, zone) for t in self.run],
            "keep": [iso(t, zone) for t in self.keep],
        }


def parse_moment(text: str, zone_name: str, *, end: bool) -> int:
    """``YYYY-MM-DD`` (the day's start; with ``end``, the day's end) or an ISO 8601 date
    and time (in the schedule's timezone unless it names its offset); milliseconds."""
    zone = crons.check_timezone(zone_name)
    value = text.strip() if isinstance(text, str) else text
    try:
        if isinstance(value, str) and _DATE.match(value):
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=zone)
            if end:
                moment = datetime.combine(day + timedelta(days=1), moment.time(), tzinfo=zone)
                return int(moment.timestamp() * 1000) - 1
            return int(moment.timestamp() * 1000)
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise InvalidArgument(
            f"Invalid {'end' if end else 'start'} {text!r}: write a date (2026-01-31) or a date "
            "and time (2026-01-31T03:00, or with its offset: 2026-01-31T03:00+01:00)."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return int(moment.timestamp() * 1000)


def intervals_of(sch: s.Schedule, start: int, end: int, limit: int) -> list[tuple[int, int, int]]:
    """The (logical time, interval start, interval end) of the fires in ``[start, end]``."""
    if not sch.cron:
        raise InvalidArgument(
            f"Schedule {sch.name!r} is triggered by artifacts, not by a cron: a backfill needs "
            "the intervals of a cron schedule."
        )
    fires = crons.fires_between(sch.cron, sch.timezone, start - 1, end, limit)
    if not fires:
        return []
    previous = crons.previous_fire(sch.cron, sch.timezone, fires[0])
    out = []
    for fire in fires:
        out.append((fire, previous if previous is not None else fire, fire))
        previous = fire
    return out


def plan(
    name: str,
    start: str,
    end: str,
    *,
    reprocess: str = "missing",
    yes: bool = False,
    store: Any = None,
) -> BackfillPlan:
    """What ``backfill`` would do with these arguments; checks them all."""
    store = schedule_store(store)
    sch = store.get_schedule(name)
    first = parse_moment(start, sch.timezone, end=False)
    last = parse_moment(end, sch.timezone, end=True)
    if first > last:
        raise InvalidArgument(
            f"The backfill's start {start!r} is after its end {end!r}: swap them (use "
            "--backwards to run the newest intervals first)."
        )
    if reprocess not in s.REPROCESS_MODES:
        raise InvalidArgument(
            f"Unknown --reprocess {reprocess!r}: use missing (intervals that never ran), "
            "failed (also failed and cancelled ones) or all (every interval)."
        )
    intervals = intervals_of(sch, first, last, MAX_WITHOUT_YES + 1)
    if len(intervals) > MAX_WITHOUT_YES and not yes:
        raise InvalidArgument(
            f"This backfill covers more than {MAX_WITHOUT_YES:,} intervals of {sch.name!r} "
            f"({sch.cron!r} from {start} to {end}): narrow the range, or pass --yes "
            "(yes=True) if you mean it."
        )
    if len(intervals) > MAX_WITHOUT_YES:
        intervals = intervals_of(sch, first, last, 10**7)
    if not intervals:
        raise InvalidArgument(
            f"Schedule {sch.name!r} ({sch.cron!r}, {sch.timezone}) has no fire between "
            f"{start} and {end}: widen the range."
        )
    decided = store.backfill_plan(sch.id, [i[0] for i in intervals], reprocess)
    return BackfillPlan(sch, intervals, decided["run"], decided["keep"])


def backfill(
    name: str,
    start: str,
    end: str,
    *,
    reprocess: str = "missing",
    max_active_runs: int | None = None,
    backwards: bool = False,
    yes: bool = False,
    store: Any = None,
) -> s.Backfill:
    """Create a backfill of schedule ``name`` over ``[start, end]``; its ticks are queued at
    once and run through a scheduler (``heron backfill`` runs one bound to it)."""
    store = schedule_store(store)
    if max_active_runs is not None and (
        isinstance(max_active_runs, bool) or not isinstance(max_active_runs, int)
    ):
        raise InvalidArgument(f"max_active_runs must be a whole number, not {max_active_runs!r}.")
    if max_active_runs is not None and max_active_runs < 1:
        raise InvalidArgument(f"max_active_runs must be at least 1, not {max_active_runs}.")
    chosen = plan(name, start, end, reprocess=reprocess, yes=yes, store=store)
    sch = chosen.schedule
    return store.create_backfill(  # type: ignore[no-any-return]
        sch.id,
        chosen.intervals,
        start=chosen.intervals[0][0],
        end=chosen.intervals[-1][0],
        reprocess=reprocess,
        max_active_runs=max_active_runs or sch.max_active_runs,
        backwards=backwards,
    )


def cancel(backfill_id: str, store: Any = None) -> s.Backfill:
    """Stop launching a backfill's intervals; schedulers stop its running runs."""
    store = schedule_store(store)
    current = store.get_backfill(backfill_id)
    if current.status != s.BACKFILL_ACTIVE:
        raise InvalidArgument(
            f"Backfill {backfill_id} is {current.status} already: there is nothing to cancel."
        )
    store.set_backfill_status(backfill_id, s.BACKFILL_CANCELLED)
    return store.get_backfill(backfill_id)  # type: ignore[no-any-return]
