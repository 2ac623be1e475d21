"""The records of scheduling (DESIGN §1): a schedule, one of its ticks, a backfill.

Plain data like :mod:`heron.core.entities`: the store builds them, the scheduler and the CLI
read them. Times are milliseconds since the epoch (UTC).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

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
TICK_DONE = frozenset({SUCCEEDED, FAILED, SKIPPED, CANCELLED})

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
