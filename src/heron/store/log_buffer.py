"""The write-behind buffer under every logging call.

``log_metric`` appends to memory; a background thread hands what piled up to
``Store.log_batch`` every ``HERON_FLUSH_INTERVAL`` seconds (default 1) or sooner when much is
pending, and sends the heartbeats of the runs this process has open. The buffer is flushed
at ``end_run``, before any read through the Client, and at interpreter exit, so a normal exit
never loses a point. A writer that outruns the database is slowed down rather than allowed to
grow memory without bound.

Every batch gets its request id once, so sending it again never doubles a point. When the
server is away (:class:`StoreUnavailable`), batches wait in order in a retry queue and are sent
again every few seconds, before anything newer; logging calls do not wait for the server then.
Past ``HERON_PENDING_LIMIT`` points (default 1,000,000) the oldest go to a local folder
(:mod:`heron.store.pending`). At run end and at exit the buffer waits at most
``HERON_OUTAGE_WAIT`` seconds (default 60) for the server, then keeps what is left on disk,
says so (:class:`~heron.store.pending.PendingDataWarning`) and ``heron sync`` sends it later.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import warnings
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heron.core.errors import HeronError, InvalidState, StoreUnavailable
from heron.core.ids import new_id
from heron.store.base import Store

log = logging.getLogger("heron.store.log_buffer")

_FLUSH_SOON = 20_000  # pending points that wake the flusher early
_MAX_PENDING = 400_000  # beyond this a logging call flushes itself (backpressure)


_RETRY_MAX = 5.0  # seconds between two tries of the retry queue while the server is away


def _env_seconds(name: str, default: float, minimum: float = 0.01) -> float:
    try:
        return max(minimum, float(os.environ.get(name, default)))
    except ValueError:
        return default


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(float(os.environ.get(name, default))))
    except ValueError:
        return default


class _Batch:
    """One ``log_batch`` call: its request id is chosen once, so a resend is applied once."""

    __slots__ = (
        "links",
        "metrics",
        "params",
        "reason",
        "request_id",
        "run_id",
        "sent",
        "spilled",
        "status",
        "tags",
    )

    def __init__(
        self,
        run_id: str,
        metrics: list[tuple[str, float, int, int]],
        params: dict[str, str] | None,
        tags: dict[str, str] | None,
        status: str | None,
        reason: str | None,
        links: tuple[Any, ...],
    ) -> None:
        self.run_id = run_id
        self.metrics = metrics
        self.params = params
        self.tags = tags
        self.status = status
        self.reason = reason
        self.links = links
        self.request_id = new_id()
        self.sent = False  # tried once: frozen from then on (its request id names this data)
        self.spilled = False  # a copy is on disk too


class _Spilled:
    __slots__ = ("path", "points", "run_id", "status")

    def __init__(self, path: Path, run_id: str, points: int, status: str | None) -> None:
        self.path, self.run_id, self.points, self.status = path, run_id, points, status


class LogBuffer:
    """Pending metrics, params and tags of one store, flushed in batches."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.flush_interval = _env_seconds("HERON_FLUSH_INTERVAL", 1.0)
        # at least four heartbeats per timeout, so that a shortened timeout does not reap
        # this process's own live runs
        timeout = _env_seconds("HERON_HEARTBEAT_TIMEOUT", 120.0)
        self.heartbeat_interval = min(_env_seconds("HERON_HEARTBEAT_INTERVAL", 15.0), timeout / 4)
        self.pending_limit = _env_int("HERON_PENDING_LIMIT", 1_000_000)
        self.outage_wait = _env_seconds("HERON_OUTAGE_WAIT", 60.0, minimum=0.0)
        # a local SQL store never raises StoreUnavailable: no request ids to record there
        self._send_ids = not type(store).__module__.startswith("heron.store.sql")
        self._lock = threading.Lock()  # guards the pending data and the retry queue
        self._flush_lock = threading.Lock()  # one sender at a time, in order
        self._metrics: list[tuple[str, str, float, int, int]] = []
        self._params: dict[str, dict[str, str]] = {}
        self._tags: dict[str, dict[str, str]] = {}
        self._queue: deque[_Batch] = deque()  # built batches not sent yet, oldest first
        self._queued_points = 0
        self._in_flight: _Batch | None = None  # the batch being sent now
        self._spilled: deque[_Spilled] = deque()  # batches this buffer put on disk, in order
        self._outage: str | None = None  # why the server is away, while it is
        self._next_retry = 0.0
        self._backoff = 1.0
        self._warned = 0  # spilled batches already told about
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
        """Write everything pending now; re-raise an error a background flush met. While
        the server is known to be away, what is pending joins the retry queue instead (the
        background thread sends it when the server is back)."""
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
        conflict), the run still ends and the error is raised. If the server is away, wait
        for it at most ``HERON_OUTAGE_WAIT`` seconds, then keep the rest on disk and warn."""
        self.unwatch(run_id)
        deadline = time.monotonic() + self.outage_wait
        self._flush({run_id: (status, reason, tuple(links))}, raise_errors=False)
        if self._queue or self._spilled:
            self._wait_then_spill(deadline)
        self._raise_errors()

    def pending_points(self) -> int:
        """Points waiting for the server (in memory and on disk), not counting new ones."""
        with self._lock:
            return self._queued_points + sum(s.points for s in self._spilled)

    def _flush(
        self, finals: dict[str, tuple[Any, ...]], raise_errors: bool, retry: bool = False
    ) -> None:
        with self._lock:
            self._enqueue(finals)
            busy = bool(self._queue or self._spilled)
            outage = self._outage is not None
        if busy:
            if outage and not (retry and time.monotonic() >= self._next_retry):
                # the server is away: no network from here, keep memory bounded
                with self._lock:
                    self._bound_memory()
            else:
                with self._flush_lock:
                    self._drain()
        if raise_errors:
            self._raise_errors()

    def _raise_errors(self) -> None:
        if self._errors:
            errors, self._errors = self._errors, []
            raise errors[0]

    def _enqueue(self, finals: dict[str, tuple[Any, ...]]) -> None:
        """Turn what is pending into batches at the end of the queue (under ``_lock``)."""
        metrics, self._metrics = self._metrics, []
        params, self._params = self._params, {}
        tags, self._tags = self._tags, {}
        if not (metrics or params or tags or finals):
            return
        by_run: dict[str, list[tuple[str, float, int, int]]] = {}
        for run_id, key, value, step, timestamp in metrics:
            points = by_run.get(run_id)
            if points is None:
                points = by_run[run_id] = []
            points.append((key, value, step, timestamp))
        for run_id in by_run.keys() | params.keys() | tags.keys() | finals.keys():
            status, reason, links = finals.get(run_id, (None, None, ()))
            points = by_run.get(run_id, [])
            tail = self._mergeable_tail(run_id, params.get(run_id))
            if tail is not None:
                tail.metrics.extend(points)
                if params.get(run_id):
                    tail.params = {**(tail.params or {}), **params[run_id]}
                if tags.get(run_id):
                    tail.tags = {**(tail.tags or {}), **tags[run_id]}
                tail.status, tail.reason, tail.links = status, reason, links
            else:
                self._queue.append(
                    _Batch(
                        run_id, points, params.get(run_id), tags.get(run_id), status, reason, links
                    )
                )
            self._queued_points += len(points)

    def _mergeable_tail(self, run_id: str, params: dict[str, str] | None) -> _Batch | None:
        """The run's last queued batch, if new data may join it (never tried, no end yet,
        not too big, no param it already has): fewer, bigger batches during an outage."""
        if self._outage is None or not self._queue:
            return None
        for batch in reversed(self._queue):
            if batch.run_id != run_id:
                continue
            if (
                batch.sent
                or batch.spilled
                or batch.status is not None
                or len(batch.metrics) > 100_000
                or (params and batch.params and params.keys() & batch.params.keys())
            ):
                return None
            return batch
        return None

    def _drain(self) -> None:
        """Send the spilled batches, then the queue, oldest first (under ``_flush_lock``)."""
        sent_after_outage = 0
        while True:
            with self._lock:
                if self._spilled:
                    spilled: _Spilled | None = self._spilled[0]
                    batch = None
                elif self._queue:
                    spilled, batch = None, self._queue[0]
                    batch.sent = True
                    self._in_flight = batch
                else:
                    break
            try:
                if spilled is not None:
                    points = self._send_spilled(spilled)
                else:
                    assert batch is not None
                    self._send(batch)
                    points = len(batch.metrics)
            except StoreUnavailable as e:
                with self._lock:
                    self._in_flight = None
                    if batch is not None and batch.spilled:  # its copy on disk goes first
                        self._pop_head(batch)
                    self._server_away(e)
                    self._bound_memory()
                return
            except Exception as e:
                if batch is not None:
                    self._refused(batch.run_id, batch.status, batch.reason, e)
                points = 0
            with self._lock:
                self._in_flight = None
                if spilled is not None:
                    if self._spilled and self._spilled[0] is spilled:
                        self._spilled.popleft()
                else:
                    assert batch is not None
                    self._pop_head(batch)
                    if batch.spilled:  # its copy on disk is sent too: delete it
                        for s in self._spilled:
                            if s.run_id == batch.run_id and batch.request_id in s.path.name:
                                self._spilled.remove(s)
                                _unlink(s.path)
                                break
            sent_after_outage += points
        if self._outage is not None:
            log.warning(
                "The Heron server at %s is back: the points kept meanwhile were sent "
                "(%s since the last try).",
                _redact(self.store),
                f"{sent_after_outage:,}",
            )
            self._outage = None
            self._backoff = 1.0

    def _pop_head(self, batch: _Batch) -> None:
        if self._queue and self._queue[0] is batch:
            self._queue.popleft()
            self._queued_points -= len(batch.metrics)

    def _send(self, batch: _Batch) -> None:
        self.store.log_batch(
            batch.run_id,
            batch.metrics,
            batch.params,
            batch.tags,
            status=batch.status,
            status_reason=batch.reason,
            links=batch.links,
            **({"request_id": batch.request_id} if self._send_ids else {}),
        )

    def _send_spilled(self, spilled: _Spilled) -> int:
        from heron.store import pending

        try:
            batch = pending.read_batch(spilled.path)
        except FileNotFoundError:
            return 0  # `heron sync` sent it meanwhile
        except pending.CorruptBatch as e:
            log.error("%s", e)
            pending.reject(spilled.path, str(e))
            return 0
        try:
            pending.send(self.store, batch)
        except StoreUnavailable:
            raise
        except Exception as e:
            pending.reject(spilled.path, f"{type(e).__name__}: {e}")
            self._refused(batch.run_id, batch.status, batch.status_reason, e)
            return 0
        _unlink(spilled.path)
        return batch.points

    def _refused(
        self, run_id: str, status: str | None, reason: str | None, e: BaseException
    ) -> None:
        if isinstance(e, HeronError):
            log.error("Could not log to run %s: %s", run_id, e)
        else:
            log.exception("Could not log to run %s", run_id, exc_info=e)
        self._errors.append(e)
        # The data was refused (a param conflict, say): the run still ends. A refused
        # status (InvalidState) was the only part not written: nothing to retry.
        if status is not None and not isinstance(e, InvalidState):
            try:
                self.store.update_run(run_id, status=status, status_reason=reason)
            except Exception:
                log.exception("Could not end run %s", run_id)

    def _server_away(self, error: BaseException) -> None:
        """Note that the server is away (under ``_lock``); try again in a few seconds."""
        if self._outage is None:
            self._outage = str(error)
            points = self._queued_points + sum(s.points for s in self._spilled)
            log.warning(
                "%s Keeping what is logged (%s points so far) and sending it when the server "
                "is back.",
                error,
                f"{points:,}",
            )
        else:
            self._backoff = min(self._backoff * 2, _RETRY_MAX)
        self._next_retry = time.monotonic() + self._backoff

    def _bound_memory(self, everything: bool = False) -> None:
        """While the server is away, put the oldest batches on disk past the limit (all of
        them with ``everything``), under ``_lock``."""
        if self._outage is None and not everything:
            return
        if not everything and self._queued_points <= self.pending_limit:
            return
        from heron.store import pending

        keep = 0 if everything else self.pending_limit // 2
        index = 0
        while (
            self._queue and index < len(self._queue) and (everything or self._queued_points > keep)
        ):
            batch = self._queue[index]
            if batch.spilled:
                index += 1
                continue
            path = pending.write_batch(
                self.store.uri,
                batch.run_id,
                batch.request_id,
                batch.metrics,
                batch.params,
                batch.tags,
                batch.status,
                batch.reason,
                batch.links,
            )
            self._spilled.append(_Spilled(path, batch.run_id, len(batch.metrics), batch.status))
            if batch is self._in_flight:
                # being sent right now: the sender drops it (or its copy) when it is done
                batch.spilled = True
                index += 1
                continue
            del self._queue[index]
            self._queued_points -= len(batch.metrics)

    def _wait_then_spill(self, deadline: float) -> None:
        """Retry until nothing is pending or ``deadline``; then keep the rest on disk and
        tell the user once."""
        while True:
            remaining = deadline - time.monotonic()
            if not self._flush_lock.acquire(timeout=max(0.0, remaining)):
                break
            try:
                self._drain()
            finally:
                self._flush_lock.release()
            if not (self._queue or self._spilled):
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(min(max(0.0, deadline - time.monotonic()), 0.5))
        with self._flush_lock, self._lock:
            self._enqueue({})
            self._bound_memory(everything=True)
            self._warn_spilled()

    def _warn_spilled(self) -> None:
        if len(self._spilled) <= self._warned and not self._queue:
            return
        self._warned = len(self._spilled)
        if not self._spilled:
            return
        from heron.store import pending

        runs: dict[str, list[Any]] = {}
        for s in self._spilled:
            entry = runs.setdefault(s.run_id, [0, None])
            entry[0] += s.points
            if s.status is not None:
                entry[1] = s.status
        total = sum(e[0] for e in runs.values())
        parts = []
        for run_id, (points, status) in runs.items():
            end = f" and its end ({status})" if status else ""
            parts.append(f"run {run_id}: {points:,} point{'s' if points != 1 else ''}{end}")
        folder = self._spilled[0].path.parent
        server = _redact(self.store)
        message = (
            f"The Heron server at {server} could not be reached ({self._outage or 'no answer'}"
            f"). Nothing is lost: {total:,} point{'s' if total != 1 else ''} pending "
            f"({'; '.join(parts)}) are kept in {folder}. When the server is back, send them "
            f"with `heron sync` (HERON_TRACKING_URI={server}), or `heron sync --all`."
        )
        log.warning("%s", message)
        warnings.warn(message, pending.PendingDataWarning, stacklevel=2)

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
                self._flush({}, raise_errors=False, retry=True)
                if self._outage is None:
                    self._send_heartbeats()
            except StoreUnavailable as e:
                with self._lock:
                    self._server_away(e)
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
        """Flush and stop the background thread (waiting for an absent server at most
        ``HERON_OUTAGE_WAIT`` seconds, then keeping the rest on disk)."""
        deadline = time.monotonic() + self.outage_wait
        self._stopped = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self._flush({}, raise_errors=False)
        if self._queue or self._spilled:
            self._wait_then_spill(deadline)

    def _reset_after_fork(self) -> None:
        # The child has no flusher thread and must not write the parent's pending data.
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._metrics, self._params, self._tags = [], {}, {}
        self._queue, self._queued_points, self._spilled = deque(), 0, deque()
        self._in_flight = None
        self._outage = None
        self._alive_runs = set()
        self._errors = []
        self._wake = threading.Event()
        self._thread = None
        self._stopped = False


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _redact(store: Store) -> str:
    from heron.core import uris

    return uris.redact(str(getattr(store, "uri", store)))


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


def close_all() -> None:
    """Flush and stop every buffer of this process, its flusher thread included (a process
    about to fork children must have no thread running); later writes start new ones."""
    _close_all()
    with _buffers_lock:
        _buffers.clear()


def _after_fork_in_child() -> None:
    for buf in list(_buffers.values()):
        buf._reset_after_fork()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["LogBuffer", "buffer_for", "close_all", "flush_all", "pending_buffer"]
