"""Run statuses and the one table of allowed transitions that every writer goes through."""

from __future__ import annotations

from heron.core.errors import InvalidArgument, InvalidState

PENDING = "pending"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
SKIPPED = "skipped"
CACHED = "cached"

ALL = (PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, SKIPPED, CACHED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED, SKIPPED, CACHED})

# from-status -> statuses it may move to. A finished run may be resumed (-> running), as in
# MLflow's start_run(run_id=...); a skipped or cached run is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    PENDING: frozenset({RUNNING, COMPLETED, FAILED, CANCELLED, SKIPPED, CACHED}),
    RUNNING: frozenset({COMPLETED, FAILED, CANCELLED}),
    COMPLETED: frozenset({RUNNING}),
    FAILED: frozenset({RUNNING}),
    CANCELLED: frozenset({RUNNING}),
    SKIPPED: frozenset(),
    CACHED: frozenset(),
}


def validate_status(status: str) -> str:
    """Return ``status`` if it is a known run status, else raise :class:`InvalidArgument`."""
    if status not in TRANSITIONS:
        raise InvalidArgument(f"Unknown run status {status!r}. Use one of: {', '.join(ALL)}.")
    return status


def may_move(current: str, new: str) -> bool:
    """Whether a run may move from ``current`` to ``new`` (the same status always may)."""
    validate_status(new)
    return current == new or new in TRANSITIONS.get(current, frozenset())


def transition_error(current: str, new: str, run_id: str = "") -> InvalidState:
    """The error for a refused move from ``current`` to ``new``."""
    allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none (it is final)"
    return InvalidState(
        f"Run {run_id or ''} cannot move from status {current!r} to {new!r}; "
        f"allowed next statuses: {allowed}."
    )


def check_transition(current: str, new: str, run_id: str = "") -> None:
    """Raise :class:`InvalidState` unless a run may move from ``current`` to ``new``.

    Setting the status a run already has is always allowed (a no-op).
    """
    if not may_move(current, new):
        raise transition_error(current, new, run_id)


MAX_REASON_LENGTH = 4000
# The reason of a run failed because its process stopped sending heartbeats: the only failed
# runs that come back when their process writes again.
HEARTBEAT_LOST = "Heartbeat lost:"


def bounded_reason(reason: str | None) -> str | None:
    """``reason`` cut to :data:`MAX_REASON_LENGTH` characters, keeping its head and its tail
    (where a traceback names the error) and saying how much was cut."""
    if reason is None or len(reason) <= MAX_REASON_LENGTH:
        return reason
    keep = (MAX_REASON_LENGTH - 100) // 2
    cut = len(reason) - 2 * keep
    return (
        f"{reason[:keep]}\n[... {cut:,} characters cut; the run's logs have the full text ...]\n"
        f"{reason[-keep:]}"
    )
