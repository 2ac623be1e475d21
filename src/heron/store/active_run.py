"""Runs being written by this process: the per-thread stack of active runs.

The tracking API pushes the runs users start; the step executor pushes each step's run, so
``heron.log_metric`` inside a step logs to that step. Ending a run writes what it buffered and
its final status in one transaction.

A thread that has started no run of its own logs to the innermost run of the main thread (as
in MLflow, where background threads log to the run that is active): a worker thread of a
training loop, or a thread a step starts, logs to that run or step. A thread that starts a run
itself (``heron.start_run()``) logs to that run instead, and a ``nested=True`` run started there
is a child of the run it would otherwise log to.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from heron.core import status as run_status
from heron.core import validation
from heron.core.entities import Run
from heron.store.base import Store
from heron.store.log_buffer import LogBuffer, buffer_for

_local = threading.local()
_main_stack: list[ActiveRun] = []  # the main thread's stack: what other threads inherit
_registry: dict[str, ActiveRun] = {}
_registry_lock = threading.Lock()


class ActiveRun:
    """A run this process writes to; use it as a context manager to end it.

    ``id``, ``name``, ``experiment_id``, ``parent_id`` and ``kind`` are fixed; :attr:`info` reads
    the run's current state (params, metrics, tags, status) from the store.
    """

    def __init__(self, run: Run, store: Store) -> None:
        self.id = run.id
        self.name = run.name
        self.experiment_id = run.experiment_id
        self.parent_id = run.parent_id
        self.kind = run.kind
        self.store = store
        self.buffer: LogBuffer = buffer_for(store)
        self.params: dict[str, str] = dict(run.params)  # write-once check without a query
        self.ended = False
        self._stack: list[ActiveRun] | None = None  # the stack of the thread that started it
        # Called with an error's full text when it is longer than a status reason keeps
        # (the tracking layer stores it as the run's logs).
        self.keep_full_error: Callable[[ActiveRun, str], None] | None = None

    @property
    def info(self) -> Run:
        """The run as stored now (pending logs are flushed first)."""
        self.buffer.flush()
        return self.store.get_run(self.id)

    def end(
        self,
        status: str = run_status.COMPLETED,
        reason: str | None = None,
        links: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Write what the run buffered (and its artifact ``links``) and end it with
        ``status``, once; later calls do nothing."""
        if self.ended:
            return
        run_status.validate_status(status)
        self.ended = True
        for stack in (run_stack(), self._stack):  # ended here, or by another thread
            if stack is not None and self in stack:
                stack.remove(self)
        with _registry_lock:
            _registry.pop(self.id, None)
        self.buffer.finish(self.id, status, reason, links)

    def end_with(self, exc: BaseException | None) -> None:
        """End ``completed``, ``cancelled`` (Ctrl-C) or ``failed`` with the error, by ``exc``.

        ``sys.exit(0)`` or ``sys.exit()`` is a success, as it is for the process: the run ends
        ``completed``; another exit code fails it."""
        if exc is None or is_clean_exit(exc):
            self.end(run_status.COMPLETED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(run_status.CANCELLED, "Interrupted (KeyboardInterrupt).")
        else:
            reason = describe_error(exc)
            if len(reason) > run_status.MAX_REASON_LENGTH and self.keep_full_error is not None:
                self.keep_full_error(self, reason)
            self.end(run_status.FAILED, reason)

    def __enter__(self) -> ActiveRun:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
        self.end_with(exc)

    def __repr__(self) -> str:
        return f"<ActiveRun id={self.id} name={self.name!r}>"


def is_clean_exit(exc: BaseException) -> bool:
    """Whether ``exc`` is a :class:`SystemExit` whose code means success (``None`` or 0)."""
    if not isinstance(exc, SystemExit):
        return False
    code = exc.code
    return code is None or (isinstance(code, int) and code == 0)


def describe_error(exc: BaseException) -> str:
    """``Type: message`` followed by the traceback, as stored in a failed run's status reason."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return validation.storable_text(f"{type(exc).__name__}: {exc}\n\n{text}") or ""


def run_stack() -> list[ActiveRun]:
    """This thread's own stack of active runs (innermost last)."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        main = threading.current_thread() is threading.main_thread()
        stack = _local.stack = _main_stack if main else []
    return stack


def activate(run: Run, store: Store) -> ActiveRun:
    """Make ``run`` this thread's active run and send its heartbeats until it ends."""
    active = ActiveRun(run, store)
    stack = run_stack()
    stack.append(active)
    active._stack = stack
    with _registry_lock:
        _registry[active.id] = active
    active.buffer.watch(active.id)
    return active


def current() -> ActiveRun | None:
    """The run this thread logs to: the innermost run it started, else (in a thread other
    than the main one) the innermost active run of the main thread."""
    return own_current() or inherited()


def own_current() -> ActiveRun | None:
    """The innermost run this thread started itself (``None`` when it only inherits one)."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def inherited() -> ActiveRun | None:
    """The run a thread with no run of its own logs to: the main thread's innermost run."""
    if threading.current_thread() is threading.main_thread():
        return None
    try:
        return _main_stack[-1]
    except IndexError:  # empty, or emptied by the main thread just now
        return None


def all_active() -> list[ActiveRun]:
    """Every run of this process not ended yet, oldest first."""
    with _registry_lock:
        return list(_registry.values())


def _forget_after_fork() -> None:
    # A forked worker starts with no active runs: its parent's belong to the parent. The
    # forking thread is the child's main thread, whose stack the child's threads inherit.
    global _local, _main_stack
    _local = threading.local()
    _main_stack = []
    _registry.clear()


os.register_at_fork(after_in_child=_forget_after_fork)
