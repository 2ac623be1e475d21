"""The write-behind buffer under every logging call.

``log_metric`` appends to memory; a background thread hands what piled up to
``Store.log_batch`` every ``HERON_FLUSH_INTERVAL`` seconds (default 1) or sooner when much is
pending, and sends the heartbeats of the runs this process has open. The buffer is flushed
at ``end_run``, before any read through the Client, and at interpreter exit, so a normal exit
never loses a point. A writer that outruns the database is slowed down rather than allowed to
grow memory without bound.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any

from heron.core.errors import HeronError, InvalidState
from heron.store.base import Store

log = logging.getLogger("heron.store.log_buffer")

_FLUSH_SOON = 20_000  # pending points that wake the flusher early
_MAX_PENDING = 400_000  # beyond this a logging call flushes itself (backpressure)


def _env_seconds(name: str, default: float) -> float:
    try:
        return max(0.01, float(os.environ.get(name, default)))
    except ValueError:
        return default


class LogBuffer:
    """Pending metrics, params and tags of one store, flushed in batches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.flush_interval = _env_seconds("HERON_FLUSH_INTERVAL", 1.0)
        # at least four heartbeats per timeout, so that a shortened timeout does not reap
        # this process's own live runs
        timeout = _env_seconds("HERON_HEARTBEAT_TIMEOUT", 120.0)
        self.heartbeat_interval = min(_env_seconds("HERON_HEARTBEAT_INTERVAL", 15.0), timeout / 4)
        self._lock = threading.Lock()  # guards the pending data
        self._flush_lock = threading.Lock()  # one flush at a time, in order
        self._metrics: list[tuple[str, str, float, int, int]] = []
        self._params: dict[str, dict[str, str]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._alive_runs: set[str] = set()
        self._errors: list[BaseException] = []
        self._wake = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        self._last_heartbeat = 0.0

    # --- adding -----------------------------------------------------------------------
    def add_metric(self, run_id: str, key: str, value: float, step: int, timestamp: int) -> None:
        with self._lock:
            self._metrics.append((run_id, key, value, step, timestamp))
            pending = len(self._metrics)
        if pending >= _FLUSH_SOON:
            if pending >= _MAX_PENDING:
                self.flush()
            else:
                self._ensure_thread()
                self._wake.set()
        elif self._thread is None:
            self._ensure_thread()

    def add_metrics(self, rows: list[tuple[str, str, float, int, int]]) -> None:
        with self._lock:
            self._metrics.extend(rows)
            pending = len(self._metrics)
        self._ensure_thread()
        if pending >= _MAX_PENDING:
            self.flush()
        elif pending >= _FLUSH_SOON:
            self._wake.set()

    def add_params(self, run_id: str, params: dict[str, str]) -> None:
        with self._lock:
            self._params.setdefault(run_id, {}).update(params)
        self._ensure_thread()

    def add_tags(self, run_id: str, tags: dict[str, str]) -> None:
        with self._lock:
            self._tags.setdefault(run_id, {}).update(tags)
        self._ensure_thread()

    # --- heartbeats -------------------------------------------------------------------
    def watch(self, run_id: str) -> None:
        """Send heartbeats for ``run_id`` until :meth:`unwatch`."""
        with self._lock:
            self._alive_runs.add(run_id)
        self._ensure_thread()

    def unwatch(self, run_id: str) -> None:
        with self._lock:
            self._alive_runs.discard(run_id)

    # --- flushing ---------------------------------------------------------------------
    def flush(self, raise_errors: bool = True) -> None:
        """Write everything pending now; re-raise an error a background flush met."""
        self._flush({}, raise_errors)

    def finish(
        self,
        run_id: str,
        status: str,
        reason: str | None = None,
        links: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """Write everything pending and end ``run_id`` with ``status`` (and its artifact
        ``links``), in one transaction for that run. If its data is refused (say, a param
        conflict), the run still ends and the error is raised."""
        self.unwatch(run_id)
        self._flush({run_id: (status, reason, tuple(links))}, raise_errors=True)

    def _flush(self, finals: dict[str, tuple[Any, ...]], raise_errors: bool) -> None:
        with self._flush_lock:
            with self._lock:
                metrics, self._metrics = self._metrics, []
                params, self._params = self._params, {}
                tags, self._tags = self._tags, {}
            if metrics or params or tags or finals:
                self._write(metrics, params, tags, finals)
        if raise_errors and self._errors:
            errors, self._errors = self._errors, []
            raise errors[0]

    def _write(
        self,
        metrics: list[tuple[str, str, float, int, int]],
        params: dict[str, dict[str, str]],
        tags: dict[str, dict[str, str]],
        finals: dict[str, tuple[Any, ...]],
    ) -> None:
        by_run: dict[str, list[tuple[str, float, int, int]]] = {}
        for run_id, key, value, step, timestamp in metrics:
            points = by_run.get(run_id)
            if points is None:
                points = by_run[run_id] = []
            points.append((key, value, step, timestamp))
        for run_id in by_run.keys() | params.keys() | tags.keys() | finals.keys():
            status, reason, links = finals.get(run_id, (None, None, ()))
            try:
                self.store.log_batch(
                    run_id,
                    by_run.get(run_id, ()),
                    params.get(run_id),
                    tags.get(run_id),
                    status=status,
                    status_reason=reason,
                    links=links,
                )
            except Exception as e:
                if isinstance(e, HeronError):
                    log.error("Could not log to run %s: %s", run_id, e)
                else:
                    log.exception("Could not log to run %s", run_id)
                self._errors.append(e)
                # The data was refused (a param conflict, say): the run still ends. A refused
                # status (InvalidState) was the only part not written: nothing to retry.
                if status is not None and not isinstance(e, InvalidState):
                    try:
                        self.store.update_run(run_id, status=status, status_reason=reason)
                    except Exception:
                        log.exception("Could not end run %s", run_id)

    def _ensure_thread(self) -> None:
        if self._thread is not None or self._stopped:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="heron-log-flusher", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        while not self._stopped:
            self._wake.wait(min(self.flush_interval, self.heartbeat_interval))
            self._wake.clear()
            if self._stopped:
                return
            try:
                self.flush(raise_errors=False)
                self._send_heartbeats()
            except Exception:  # never let the flusher die
                log.exception("Background flush failed")
                time.sleep(self.flush_interval)

    def _send_heartbeats(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = now
        with self._lock:
            alive = list(self._alive_runs)
        if alive:
            self.store.heartbeat(alive)

    def close(self) -> None:
        """Flush and stop the background thread."""
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush(raise_errors=False)

    def _reset_after_fork(self) -> None:
        # The child has no flusher thread and must not write the parent's pending data.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._metrics, self._params, self._tags = [], {}, {}
        self._alive_runs = set()
        self._errors = []
        self._wake = threading.Event()
        self._thread = None
        self._stopped = False


_buffers: dict[str, LogBuffer] = {}
_buffers_lock = threading.Lock()


def buffer_for(store: Store) -> LogBuffer:
    """The process-wide buffer of ``store``'s URI."""
    buf = _buffers.get(store.uri)
    if buf is None:
        with _buffers_lock:
            buf = _buffers.get(store.uri)
            if buf is None:
                buf = _buffers[store.uri] = LogBuffer(store)
    return buf


def flush_all(raise_errors: bool = True) -> None:
    """Flush every buffer of this process (done before reads and at exit)."""
    for buf in list(_buffers.values()):
        buf.flush(raise_errors=raise_errors)


def pending_buffer(uri: str) -> LogBuffer | None:
    return _buffers.get(uri)


def _close_all() -> None:
    for buf in list(_buffers.values()):
        try:
            buf.close()
        except Exception:
            log.exception("Flushing the log buffer at exit failed")


def _after_fork_in_child() -> None:
    for buf in list(_buffers.values()):
        buf._reset_after_fork()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["LogBuffer", "buffer_for", "flush_all", "pending_buffer"]
