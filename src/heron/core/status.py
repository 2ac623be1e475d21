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


def check_transition(current: str, new: str, run_id: str = "") -> None:
    """Raise :class:`InvalidState` unless a run may move from ``current`` to ``new``.

    Setting the status a run already has is always allowed (a no-op).
    """
    validate_status(new)
    if current == new or new in TRANSITIONS.get(current, frozenset()):
        return
    allowed = ", ".join(sorted(TRANSITIONS.get(current, ()))) or "none (it is final)"
    raise InvalidState(
        f"Run {run_id or ''} cannot move from status {current!r} to {new!r}; "
        f"allowed next statuses: {allowed}."
    )
