"""The records of scheduling (DESIGN §1): a schedule, one of its ticks, a backfill.

Plain data like :mod:`heron.core.entities`: the store builds them, the scheduler and the CLI
read them. Times are milliseconds since the epoch (UTC).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from heron.core.errors import InvalidArgument

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

CATCHUP_POLICIES = ("none", "latest", "all")
REPROCESS_MODES = ("missing", "failed", "all")

# tick statuses
QUEUED = "queued"  # decided, waiting for a free slot
RUNNING = "running"  # its run was launched
SUCCEEDED = "succeeded"
FAILED = "failed"  # the run failed, or it could not be launched
SKIPPED = "skipped"  # decided not to run (catch-up policy, lateness, paused): see reason
CANCELLED = "cancelled"
TICK_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, SKIPPED, CANCELLED)

# backfill statuses
BACKFILL_ACTIVE = "active"
BACKFILL_DONE = "completed"
BACKFILL_CANCELLED = "cancelled"


@dataclass
class Schedule:
    """A pipeline reference with params and a trigger (cron + timezone, or artifact names)."""

    id: str
    name: str
    pipeline: str
    params: dict[str, Any]
    cron: str | None
    timezone: str
    on_artifacts: list[str] | None
    catchup: str
    max_active_runs: int
    max_lateness: float | None
    paused: bool
    cursor: int
    next_due_at: int | None
    created_at: int
    updated_at: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def trigger(self) -> str:
        if self.cron:
            return f"cron {self.cron!r} ({self.timezone})"
        return "on new versions of " + ", ".join(self.on_artifacts or [])


@dataclass
class Tick:
    """One evaluation of a schedule at a logical time: the run it started, or why none."""

    id: int
    schedule_id: str
    logical_time: int
    interval_start: int
    interval_end: int
    status: str
    reason: str | None
    run_id: str | None
    attempt: int
    backfill_id: str | None
    evaluated_at: int
    inputs: dict[str, str] = field(default_factory=dict)
    claimed_by: str | None = None  # the scheduler that launched (or is launching) its run
    claimed_at: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Backfill:
    """Reprocessing of a range of a schedule's logical times, with its own concurrency."""

    id: str
    schedule_id: str
    start: int
    end: int
    reprocess: str
    max_active_runs: int
    backwards: bool
    status: str
    intervals: int
    created_at: int
    progress: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SchedulerInfo:
    """A scheduler process as its heartbeats describe it."""

    name: str
    host: str
    pid: int
    started_at: int
    heartbeat_at: int
    stopped_at: int | None
    running: int  # the runs it had in flight at its last heartbeat

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- checks of stored values (the store's own: a server takes them from any client) ----------
# the nicknames cron users write; cronsim takes the five fields only (see cron_fields)
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_fields(expr: str) -> str:
    """The five fields of a cron expression (a nickname such as ``@daily`` spelt out)."""
    return _NICKNAMES.get(expr.strip().lower(), expr.strip())


def check_cron(expr: str) -> str:
    """``expr`` if it is a valid five-field cron expression (or @daily and the like)."""
    from cronsim import CronSim, CronSimError

    if not isinstance(expr, str) or not expr.strip() or len(expr) > 256:
        raise InvalidArgument(
            "A cron schedule needs an expression such as '0 3 * * *' (03:00 every day)."
        )
    fields = cron_fields(expr)
    try:
        if len(fields.split()) != 5:  # cronsim would read a sixth field as seconds
            raise CronSimError(f"{len(fields.split())} fields")
        CronSim(fields, datetime(2026, 1, 1, tzinfo=timezone.utc))
    except CronSimError as e:
        raise InvalidArgument(
            f"Invalid cron expression {expr!r}: {e}. Write five fields, minute hour "
            "day-of-month month day-of-week (e.g. '0 3 * * *' or '*/15 * * * 1-5'), or one of "
            f"{', '.join(sorted(_NICKNAMES))}."
        ) from None
    return expr.strip()


def check_timezone(name: str) -> ZoneInfo:
    """The IANA timezone ``name`` (``Europe/Zurich``, ``UTC``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(name, str) or not name or len(name) > 64:
        raise InvalidArgument("Give the schedule's timezone as an IANA name such as 'UTC'.")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidArgument(
            f"Unknown timezone {name!r}: use an IANA name such as 'UTC', 'Europe/Zurich' or "
            "'America/New_York'."
        ) from None


NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
SCHEDULE_FIELD_TYPES: dict[str, Any] = {
    "name": str,
    "pipeline": str,
    "params": dict,
    "cron": (str, type(None)),
    "timezone": str,
    "on_artifacts": (list, type(None)),
    "catchup": str,
    "max_active_runs": int,
    "max_lateness": (int, float, type(None)),
    "paused": bool,
    "cursor": int,
    "next_due_at": (int, type(None)),
}
REQUIRED = ("name", "pipeline", "params", "timezone", "catchup", "max_active_runs", "cursor")


def check_schedule_values(values: Any, *, partial: bool = False) -> dict[str, Any]:
    """The columns of a schedule, each of the right type and meaning (``partial``: only
    those given, for an update). What needs the pipeline itself (that it imports, that it
    takes the params) is :mod:`heron.scheduling.definitions`' to check."""
    if not isinstance(values, dict):
        raise InvalidArgument("Schedule values must be an object of field: value.")
    unknown = sorted(set(values) - set(SCHEDULE_FIELD_TYPES))
    if unknown:
        raise InvalidArgument(
            f"A schedule has no field(s) {unknown}; use {sorted(SCHEDULE_FIELD_TYPES)}."
        )
    missing = [] if partial else [k for k in REQUIRED if k not in values]
    if missing:
        raise InvalidArgument(f"A schedule needs {', '.join(missing)}.")
    for key, value in values.items():
        wanted = SCHEDULE_FIELD_TYPES[key]
        if (isinstance(value, bool) and key != "paused") or not isinstance(value, wanted):
            raise InvalidArgument(f"Schedule field {key!r} has the wrong type: {value!r:.80}.")
    if "name" in values and not NAME_PATTERN.match(values["name"]):
        raise InvalidArgument(
            f"Invalid schedule name {values['name']!r:.80}: use up to 128 letters, digits, "
            "'.', '-' or '_', starting with a letter or digit."
        )
    if "pipeline" in values and not 0 < len(values["pipeline"]) <= 4096:
        raise InvalidArgument("A schedule's pipeline is a reference of 1 to 4096 characters.")
    if values.get("cron") is not None:
        check_cron(values["cron"])
    if "timezone" in values:
        check_timezone(values["timezone"])
    artifacts = values.get("on_artifacts")
    if artifacts is not None and not (
        artifacts and all(isinstance(a, str) and 0 < len(a) <= 1024 for a in artifacts)
    ):
        raise InvalidArgument("on_artifacts must be a non-empty list of artifact names.")
    if not partial and (values.get("cron") is None) == (not artifacts):
        raise InvalidArgument("A schedule has either a cron or on_artifacts, one of the two.")
    if "catchup" in values and values["catchup"] not in CATCHUP_POLICIES:
        raise InvalidArgument(
            f"Unknown catchup {values['catchup']!r:.40}: use none (skip missed intervals), "
            "latest (run the most recent) or all (run every missed interval, oldest first)."
        )
    if "max_active_runs" in values and not 1 <= values["max_active_runs"] <= 10_000:
        raise InvalidArgument(
            "max_active_runs must be at least 1: a whole number between 1 and 10,000, not "
            f"{values['max_active_runs']}."
        )
    lateness = values.get("max_lateness")
    if lateness is not None and not 0 < lateness < 10**12:
        raise InvalidArgument("max_lateness must be a positive number of seconds.")
    for key in ("cursor", "next_due_at"):
        if values.get(key) is not None and not 0 <= values[key] < 2**62:
            raise InvalidArgument(f"Schedule field {key!r} must be a time in ms since 1970.")
    return values


def check_count(value: int, what: str, limit: int = 100_000) -> int:
    """A positive count of at most ``limit``."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidArgument(f"{what} must be between 1 and {limit:,}, not {value!r:.40}.")
    return value
