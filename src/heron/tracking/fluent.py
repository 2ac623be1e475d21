"""The module-level tracking API: ``heron.start_run``, ``heron.log_metric`` and friends.

Runs started here form a stack per thread (``nested=True`` pushes a child). Logging calls go
to the run on top of the stack through the store's :class:`LogBuffer`, so a call costs a few
microseconds and no transaction. A thread that started no run of its own logs to the main
thread's active run (see :mod:`heron.store.active_run`).
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
from collections.abc import Mapping
from typing import Any

from heron.core import config, validation
from heron.core import status as run_status
from heron.core.entities import Run
from heron.core.errors import InvalidState, NotFound
from heron.core.ids import now_ms
from heron.store.active_run import (
    ActiveRun,
    activate,
    all_active,
    current,
    inherited,
    own_current,
    run_stack,
)
from heron.store.base import DEFAULT_EXPERIMENT, Store
from heron.store.log_buffer import buffer_for
from heron.store.registry import get_store
from heron.tracking.run_context import run_facts

log = logging.getLogger("heron.tracking")

EXPERIMENT_ENV = "HERON_EXPERIMENT_NAME"


# --- process state -----------------------------------------------------------------------
_experiment_name: str | None = None


def set_tracking_uri(uri: str | os.PathLike[str] | None) -> None:
    """Send tracking data to ``uri``: ``sqlite:///path/heron.db``, ``postgresql://…``, or a
    folder path (a SQLite store in it). ``None`` restores the default (DESIGN §3).

    >>> heron.set_tracking_uri("sqlite:///tmp/demo/heron.db")  # doctest: +SKIP
    """
    config.set_tracking_uri(uri)


def get_tracking_uri() -> str:
    """The tracking URI in force (explicit, ``HERON_TRACKING_URI``, ``.heron/`` or ``~/.heron``)."""
    return config.get_tracking_uri()


def set_experiment(name: str) -> str:
    """Make ``name`` the experiment of the runs started after this, creating it if needed.

    Returns the experiment id.
    """
    global _experiment_name
    validation.check_name(name, "Experiment")
    experiment_id = experiment_id_for(get_store(), name)
    _experiment_name = name
    return experiment_id


_experiment_ids: dict[tuple[str, str, str], str] = {}  # (store uri, project, name) -> id


def experiment_id_for(store: Store, name: str, cached: bool = False) -> str:
    """The id of experiment ``name`` of the store's project, created if missing (remembered
    per process)."""
    key = (store.uri, store.project, name)
    if cached and key in _experiment_ids:
        return _experiment_ids[key]
    exp = store.get_experiment_by_name(name)
    if exp is None:
        from heron.core.errors import AlreadyExists

        try:
            exp = store.create_experiment(name)
        except AlreadyExists:  # another process created it just now
            exp = store.get_experiment_by_name(name)
            assert exp is not None
    if exp.deleted:
        raise InvalidState(
            f"Experiment {name!r} is deleted. Restore it (`heron experiments restore {name!r}`) "
            "or use another name."
        )
    _experiment_ids[key] = exp.id
    return exp.id


def start_run(
    name: str | None = None,
    *,
    run_id: str | None = None,
    experiment: str | None = None,
    nested: bool = False,
    tags: Mapping[str, Any] | None = None,
    kind: str = "run",
    parent_id: str | None = None,
) -> ActiveRun:
    """Start a run (or resume ``run_id``) and make it the active run of this thread.

    Use it as a context manager: the run ends ``completed`` (also on ``sys.exit(0)``), or
    ``failed`` with the error if the block raises. ``nested=True`` starts a child of the
    active run. In a thread other than the main one, a run started here is that thread's own
    (without ``nested=True`` it is not a child of the main thread's run).

    >>> with heron.start_run(name="baseline", tags={"team": "a"}) as run:  # doctest: +SKIP
    ...     heron.log_param("lr", 0.1)
    """
    stack = run_stack()
    store = get_store()
    if stack and not nested and parent_id is None:
        raise InvalidState(
            f"Run {stack[-1].id} is already active in this thread. End it first "
            "(heron.end_run()), or start a child run with start_run(nested=True)."
        )
    if parent_id is None and nested:
        parent = stack[-1] if stack else inherited()
        parent_id = parent.id if parent is not None else None
    if run_id is not None:
        run = _resume(store, run_id)
    else:
        exp_name = experiment or _experiment_name or os.environ.get(EXPERIMENT_ENV)
        exp_name = exp_name or DEFAULT_EXPERIMENT
        fields = {
            "name": name,
            "kind": kind,
            "parent_id": parent_id,
            "tags": {k: validation.tag_value(k, v) for k, v in (tags or {}).items()},
            **run_facts(),
        }
        try:
            run = store.create_run(experiment_id_for(store, exp_name, cached=True), **fields)
        except (NotFound, InvalidState):
            # the remembered experiment was deleted or renamed meanwhile: look it up again
            run = store.create_run(experiment_id_for(store, exp_name), **fields)
    active = activate(run, store)
    active.keep_full_error = _keep_full_error
    return active


def _keep_full_error(active: ActiveRun, text: str) -> None:
    """Store an error too long for the status reason as the run's logs (heron runs logs)."""
    from heron.store.base import LOGS_TAG
    from heron.tracking.run_artifacts import artifact_store_for

    try:
        stored = artifact_store_for(active.store).put_bytes(text.encode("utf-8", "replace"))
    except Exception as e:  # the run must still end with its (shortened) reason
        log.warning("Could not store the full error of run %s: %s", active.id, e)
        return
    active.buffer.add_tags(active.id, {LOGS_TAG: stored.uri})


def _resume(store: Store, run_id: str) -> Run:
    buffer = buffer_for(store)
    buffer.flush()
    run = store.get_run(run_id)
    if run.deleted:
        raise InvalidState(f"Run {run_id} is deleted; restore it before resuming it.")
    if run.status != run_status.RUNNING:
        run = store.update_run(run_id, status=run_status.RUNNING)
    return run


def active_run() -> ActiveRun | None:
    """The run this thread logs to, or ``None``: the innermost run it started, else (in a
    thread other than the main one) the main thread's active run."""
    return current()


def end_run(
    status: str = run_status.COMPLETED, *, run: ActiveRun | None = None, reason: str | None = None
) -> None:
    """End the active run (or ``run``) with ``status``; flushes everything it logged first.

    Without ``run``, a thread ends only a run it started itself: the main thread's run that
    it logs to is ended by the main thread."""
    run = run or own_current()
    if run is not None:
        run.end(status, reason)


def run_for_logging() -> ActiveRun:
    """The active run, or a new one: as in MLflow, logging without a run starts one."""
    return current() or start_run()


# --- logging ---------------------------------------------------------------------------
_checked_keys: set[str] = set()


def log_metric(
    key: str, value: float, step: int | None = None, timestamp: int | None = None
) -> None:
    """Log one metric point to the active run (buffered; a few microseconds a call).

    ``step`` defaults to 0 and ``timestamp`` (ms) to now. NaN and ±inf are stored as they are.
    """
    run = run_for_logging()
    if key not in _checked_keys:
        validation.check_key(key, "Metric")
        _checked_keys.add(key)
    if type(value) is not float:
        value = validation.metric_value(key, value)
    if step is None:
        step = 0
    elif type(step) is not int:
        step = validation.metric_step(key, step)
    run.buffer.add_metric(run.id, key, value, step, now_ms() if timestamp is None else timestamp)


def log_metrics(
    metrics: Mapping[str, float], step: int | None = None, timestamp: int | None = None
) -> None:
    """Log several metrics at the same ``step`` and ``timestamp`` to the active run."""
    run = run_for_logging()
    step = 0 if step is None else validation.metric_step("metrics", step)
    ts = now_ms() if timestamp is None else validation.metric_step("timestamp", timestamp)
    rows = []
    for key, value in metrics.items():
        if key not in _checked_keys:
            validation.check_key(key, "Metric")
            _checked_keys.add(key)
        if type(value) is not float:
            value = validation.metric_value(key, value)
        rows.append((run.id, key, value, step, ts))
    run.buffer.add_metrics(rows)


def log_param(key: str, value: Any) -> str:
    """Log a param (stored as ``str(value)``); a param is written once per run."""
    log_params({key: value})
    return validation.param_value(key, value)


def log_params(params: Mapping[str, Any]) -> None:
    """Log several params; logging a key again with another value raises :class:`Conflict`."""
    run = run_for_logging()
    checked = {
        validation.check_key(k, "Param"): validation.param_value(k, v) for k, v in params.items()
    }
    for key, value in checked.items():
        old = run.params.get(key)
        if old is not None and old != value:
            raise validation.param_conflict(run.id, key, old, value)
    run.params.update(checked)
    run.buffer.add_params(run.id, checked)


def set_tag(key: str, value: Any) -> None:
    """Set a tag of the active run (tags may change; the last value wins)."""
    set_tags({key: value})


def set_tags(tags: Mapping[str, Any]) -> None:
    """Set several tags of the active run."""
    run = run_for_logging()
    checked = {validation.check_key(k, "Tag"): validation.tag_value(k, v) for k, v in tags.items()}
    run.buffer.add_tags(run.id, checked)


def delete_tag(key: str) -> None:
    """Remove a tag of the active run."""
    run = run_for_logging()
    run.buffer.flush()
    run.store.delete_tag(run.id, key)


# --- artifacts -------------------------------------------------------------------------
def log_artifact(local_path: str | os.PathLike[str], artifact_path: str | None = None) -> Any:
    """Store a file or a folder as an artifact of the active run and return its version.

    The artifact is named ``artifact_path`` joined with the file or folder name
    (``heron.log_artifact("plot.png", "figures")`` -> ``figures/plot.png``).
    """
    from heron.tracking import run_artifacts

    run = run_for_logging()
    return run_artifacts.log_path(run.store, run.id, local_path, artifact_path)


def log_text(text: str, artifact_file: str) -> Any:
    """Store ``text`` as the artifact ``artifact_file`` of the active run."""
    from heron.tracking import run_artifacts

    run = run_for_logging()
    return run_artifacts.log_text(run.store, run.id, text, artifact_file)


def log_dict(dictionary: Mapping[str, Any], artifact_file: str) -> Any:
    """Store a dict as JSON (or YAML for ``.yaml``/``.yml``) as the artifact ``artifact_file``."""
    from heron.tracking import run_artifacts

    run = run_for_logging()
    return run_artifacts.log_dict(run.store, run.id, dictionary, artifact_file)


# --- exit --------------------------------------------------------------------------------
def _end_runs_at_exit() -> None:
    error = getattr(sys, "last_value", None)
    for run in reversed(all_active()):
        try:
            run.end_with(error)
        except Exception:
            log.exception("Could not end run %s at exit", run.id)


atexit.register(_end_runs_at_exit)

__all__ = [
    "ActiveRun",
    "active_run",
    "delete_tag",
    "end_run",
    "get_tracking_uri",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_param",
    "log_params",
    "log_text",
    "set_experiment",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
]
