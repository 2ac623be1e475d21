"""Defining schedules: ``heron.schedule(...)`` and what the CLI calls. Every value is checked
before anything is stored (the pipeline is imported and its parameters bound), so a bad
definition leaves nothing half-created.

Cursor rules (what makes "a change never re-runs the past" hold): a new schedule's cursor is
its creation time, so nothing runs for a time before it existed; changing its trigger moves the
cursor to now; pausing keeps the cursor, so on resuming the fires missed meanwhile follow the
schedule's ``catchup`` like any downtime.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from heron.core import schedules as s
from heron.core import validation
from heron.core.errors import ConfigError, InvalidArgument, NotFound
from heron.core.ids import now_ms
from heron.scheduling import cron as crons

_RESERVED = {"due", "next-due", "on-artifacts", "newest-artifact-versions"}


def schedule_store(store: Any = None) -> Any:
    """The active store (SQLite, PostgreSQL, or a `heron server`): where schedules live."""
    if store is None:
        from heron.store.registry import get_store

        store = get_store()
    if not hasattr(store, "create_schedule"):
        raise ConfigError(f"The store {store!r} cannot hold schedules.")
    return store


def _reference(pipeline: Any) -> str:
    from heron.pipelines.pipeline import Pipeline

    if isinstance(pipeline, Pipeline):
        return pipeline.source
    if not isinstance(pipeline, str) or not pipeline.strip():
        raise InvalidArgument(
            f"Schedule a pipeline reference (path/to/file.py:name or module:name) or a "
            f"@pipeline function, not {pipeline!r}."
        )
    return pipeline.strip()


def check_pipeline(reference: str, params: dict[str, Any]) -> str:
    """The complete reference of a pipeline that takes ``params``; imports it to be sure."""
    from heron.pipelines.loader import (
        absolute_reference,
        complete_reference,
        import_from_working_directory,
        load_pipeline,
    )

    if not isinstance(params, dict):
        raise InvalidArgument(f"Schedule params must be a dict of name: value, not {params!r}.")
    try:
        import_from_working_directory()
        full = absolute_reference(complete_reference(reference))
        pipeline = load_pipeline(full)
    except (NotFound, InvalidArgument) as e:
        raise InvalidArgument(f"Cannot schedule {reference!r}: {e}") from None
    except (ImportError, OSError, SyntaxError) as e:
        raise InvalidArgument(
            f"Cannot schedule {reference!r}: importing it failed ({type(e).__name__}: {e})."
        ) from None
    unknown = sorted(set(params) - set(pipeline.signature.parameters))
    if unknown:
        raise InvalidArgument(
            f"Pipeline {pipeline.name!r} takes no parameter(s) {', '.join(unknown)}: its "
            f"signature is {pipeline.name}{pipeline.signature}."
        )
    pipeline.bind(**params)  # JSON values, required parameters given
    return full


def _seconds(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise InvalidArgument(
            f"max_lateness must be a positive number of seconds (or a timedelta), not {value!r}."
        )
    return float(value)


def check_definition(
    *,
    name: str,
    pipeline: str,
    params: dict[str, Any],
    cron: str | None,
    timezone: str,
    on_artifacts: list[str] | None,
    catchup: str,
    max_active_runs: int,
    max_lateness: Any,
) -> dict[str, Any]:
    """The stored columns of a schedule definition, every value checked."""
    if name in _RESERVED:
        raise InvalidArgument(
            f"{name!r} is a word the server's schedule routes use: name the schedule otherwise."
        )
    if (cron is None) == (not on_artifacts):
        raise InvalidArgument(
            f"Schedule {name!r}: give either cron= (with timezone=) or on_artifacts=[...], "
            "one of the two."
        )
    artifacts = None
    if on_artifacts:
        if isinstance(on_artifacts, str) or not isinstance(on_artifacts, (list, tuple)):
            raise InvalidArgument(
                f"on_artifacts must be a list of artifact names, not {on_artifacts!r}."
            )
        artifacts = sorted({validation.check_artifact_name(a) for a in on_artifacts})
    values = {
        "name": name,
        "pipeline": pipeline,
        "params": params,
        "cron": cron.strip() if isinstance(cron, str) else cron,
        "timezone": timezone,
        "on_artifacts": artifacts,
        "catchup": catchup,
        "max_active_runs": max_active_runs,
        "max_lateness": _seconds(max_lateness),
    }
    s.check_schedule_values(values, partial=True)  # what the store checks too
    values["pipeline"] = check_pipeline(pipeline, params)
    values["params"] = dict(params)
    return values


def _next_due(values: dict[str, Any], after: int) -> int | None:
    if not values.get("cron"):
        return None
    return crons.next_fire(values["cron"], values["timezone"], after)


def schedule(
    pipeline: Any,
    *,
    cron: str | None = None,
    timezone: str = "UTC",
    on_artifacts: list[str] | None = None,
    params: dict[str, Any] | None = None,
    catchup: str = "latest",
    max_active_runs: int = 1,
    max_lateness: float | timedelta | None = None,
    name: str | None = None,
    paused: bool = False,
) -> s.Schedule:
    """Create a schedule, or update the one of that ``name`` (so a script that defines its
    schedules can run again). ``heron scheduler`` runs them.

    ``pipeline`` is a reference as ``heron run`` takes it (``file.py:name``, ``module:name``)
    or a ``@pipeline`` function. The trigger is ``cron`` (five fields, wall-clock time in the
    IANA ``timezone``) or ``on_artifacts`` (a run once a new version of every listed artifact
    appeared). ``catchup`` says what happens to intervals missed while no scheduler ran (or
    while paused): ``none``, ``latest`` or ``all``. A run that would start more than
    ``max_lateness`` seconds after its logical time is skipped instead.

    >>> heron.schedule("examples/wine_pipeline.py:training", cron="0 3 * * *",
    ...                timezone="Europe/Zurich", name="nightly")  # doctest: +SKIP
    """
    reference = _reference(pipeline)
    if name is None:
        name = reference.rpartition(":")[2] or reference
    values = check_definition(
        name=name,
        pipeline=reference,
        params=params or {},
        cron=cron,
        timezone=timezone,
        on_artifacts=on_artifacts,
        catchup=catchup,
        max_active_runs=max_active_runs,
        max_lateness=max_lateness,
    )
    store = schedule_store()
    try:
        current = store.get_schedule(name)
    except NotFound:
        return create(store, values, paused=paused)
    return change(store, current, {**values, "paused": paused})


def create(store: Any, values: dict[str, Any], *, paused: bool = False) -> s.Schedule:
    """Store a checked definition as a new schedule."""
    now = now_ms()
    row = {**values, "paused": paused, "cursor": now, "next_due_at": _next_due(values, now)}
    return store.create_schedule(row)  # type: ignore[no-any-return]


def change(store: Any, current: s.Schedule, values: dict[str, Any]) -> s.Schedule:
    """Apply changed fields to a schedule, keeping the cursor rules of this module."""
    values = {k: v for k, v in values.items() if k != "name"}
    merged = {**current.to_dict(), **values}
    trigger_changed = any(
        merged[k] != getattr(current, k) for k in ("cron", "timezone", "on_artifacts")
    )
    if trigger_changed:
        merged["cursor"] = values["cursor"] = max(current.cursor, now_ms())
    values["next_due_at"] = _next_due(merged, merged["cursor"])
    return store.update_schedule(current.id, values)  # type: ignore[no-any-return]


def set_paused(name: str, paused: bool, store: Any = None) -> s.Schedule:
    """Pause or resume a schedule; on resuming, the fires missed meanwhile follow its
    ``catchup``."""
    store = schedule_store(store)
    current = store.get_schedule(name)
    return change(store, current, {"paused": paused})
