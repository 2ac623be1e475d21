"""`MicroBatcher`: concurrent small requests scored by one ``predict`` call.

Requests hand their prepared input (a NumPy array or a DataFrame) to :meth:`MicroBatcher.predict`
and wait for their share of the predictions. The batcher runs one ``predict`` at a time:

- **adaptive**: a request arriving at an idle server is predicted at once, after the event
  loop has read whatever else arrived in the same instant; requests that arrive while a
  ``predict`` runs wait and form the next batch, so batches grow with the load and no request
  waits for a timer when there is none;
- ``timeout_s`` (``--batch-timeout-ms``) is the most a request may wait for a batch to fill,
  and only while requests keep arriving together (the last batch had several); 0: never wait;
- a batch holds at most ``max_rows`` rows of inputs that concatenate (arrays of one dtype and
  row shape, or data frames of the same columns and dtypes); anything else (other shapes,
  ``params``, more rows than ``max_rows``) is predicted alone, in arrival order;
- if the batched ``predict`` raises, each member is predicted alone, so that only the bad
  request gets the error; a model that does not give one prediction per row is predicted one
  request at a time from then on (and a warning says so);
- batches of at least ``thread_rows`` rows are predicted in a worker thread, so that the
  server keeps answering health checks and reading requests while a large ``predict`` runs;
  smaller ones run on the event loop, which is faster than handing them to a thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

logger = logging.getLogger("heron.serving")

#: batches of at least this many rows are predicted in a worker thread
THREAD_ROWS = 2_000


class _Item:
    __slots__ = ("future", "key", "params", "prepared", "rows")

    def __init__(
        self,
        prepared: Any,
        rows: int,
        key: Hashable | None,
        params: dict[str, Any] | None,
        future: asyncio.Future,
    ) -> None:
        self.prepared = prepared
        self.rows = rows
        self.key = key
        self.params = params
        self.future = future


class MicroBatcher:
    """Scores prepared inputs with ``predict(prepared, params)``, batching as the module doc
    says. ``max_rows <= 1`` turns batching off (requests are still predicted one at a time)."""

    def __init__(
        self,
        predict: Callable[[Any, dict[str, Any] | None], Any],
        *,
        max_rows: int = 64,
        timeout_s: float = 0.0,
        thread_rows: int = THREAD_ROWS,
    ) -> None:
        self._predict = predict
        self.max_rows = max(1, int(max_rows))
        self.timeout_s = max(0.0, float(timeout_s))
        self.thread_rows = thread_rows
        self.enabled = self.max_rows > 1
        self._queue: deque[_Item] = deque()
        self._queued_rows = 0
        self._scheduled: asyncio.Handle | asyncio.TimerHandle | None = None
        self._waiting = False  # the scheduled run is the timeout of a batch filling up
        self._in_thread = False  # a batch is being predicted in the worker thread
        self._last_size = 0  # members of the last batch (concurrency seen)
        self._executor: ThreadPoolExecutor | None = None
        self.calls = 0  # predict calls made (for /metadata and tests)
        self.batched_requests = 0  # requests that shared a call with others

    # --- the request side ---------------------------------------------------------------
    async def predict(self, prepared: Any, params: dict[str, Any] | None = None) -> Any:
        """The predictions for ``prepared`` (its share of a batch's, when batched)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        rows, key = _rows_and_key(prepared) if self.enabled and not params else (0, None)
        if rows > self.max_rows:
            key = None
        self._queue.append(_Item(prepared, rows, key, params, future))
        self._queued_rows += rows
        if self._waiting and self._queued_rows >= self.max_rows and self._scheduled:
            self._scheduled.cancel()  # the batch is full: stop waiting
            self._scheduled = None
            self._waiting = False
        if self._scheduled is None and not self._in_thread:
            self._scheduled = loop.call_soon(self._run, loop, False)
        return await future

    # --- the batch side ----------------------------------------------------------------
    def _run(self, loop: asyncio.AbstractEventLoop, waited: bool) -> None:
        self._scheduled = None
        self._waiting = False
        while self._queue:
            if (
                not waited
                and self.timeout_s > 0
                and self._last_size > 1
                and self._queue[0].key is not None
                and self._queued_rows < self.max_rows
            ):
                self._waiting = True
                self._scheduled = loop.call_later(self.timeout_s, self._run, loop, True)
                return
            waited = False
            batch = self._take()
            self._last_size = len(batch)
            if sum(item.rows for item in batch) >= self.thread_rows:
                self._in_thread = True
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(1, thread_name_prefix="heron-predict")
                done = loop.run_in_executor(self._executor, self._score, batch)
                done.add_done_callback(lambda f, b=batch: self._thread_done(loop, b, f))
                return
            _settle(batch, self._score(batch))

    def _thread_done(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Item], done: asyncio.Future
    ) -> None:
        self._in_thread = False
        error = done.exception()
        outcomes = [error] * len(batch) if error is not None else done.result()
        _settle(batch, outcomes)
        if self._queue and self._scheduled is None:
            self._scheduled = loop.call_soon(self._run, loop, False)

    def _take(self) -> list[_Item]:
        """The next batch: the first queued item and the items after it of the same key."""
        first = self._queue.popleft()
        self._queued_rows -= first.rows
        if first.key is None or not self._queue:
            return [first]
        batch, kept, rows = [first], deque(), first.rows
        while self._queue:
            item = self._queue.popleft()
            if item.key == first.key and rows + item.rows <= self.max_rows:
                batch.append(item)
                rows += item.rows
                self._queued_rows -= item.rows
            else:
                kept.append(item)
        self._queue = kept
        return batch

    def _score(self, batch: list[_Item]) -> list[Any]:
        """Each member's predictions, or the exception it gets."""
        if len(batch) == 1:
            return [self._call(batch[0].prepared, batch[0].params)]
        joined = self._call(_concat([item.prepared for item in batch]), None)
        if not isinstance(joined, BaseException):
            total = sum(item.rows for item in batch)
            if _length(joined) == total:
                self.batched_requests += len(batch)
                return _split(joined, [item.rows for item in batch])
            self.enabled = False
            logger.warning(
                "batching is off: the model gave %s predictions for %d rows, so its answers "
                "cannot be split between requests; requests are predicted one at a time",
                _length(joined),
                total,
            )
        return [self._call(item.prepared, item.params) for item in batch]

    def _call(self, prepared: Any, params: dict[str, Any] | None) -> Any:
        self.calls += 1
        try:
            return self._predict(prepared, params)
        except Exception as e:
            return e

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False)


def _settle(batch: list[_Item], outcomes: list[Any]) -> None:
    for item, outcome in zip(batch, outcomes):
        if item.future.done():  # the request went away
            continue
        if isinstance(outcome, BaseException):
            item.future.set_exception(outcome)
        else:
            item.future.set_result(outcome)


def _rows_and_key(prepared: Any) -> tuple[int, Hashable | None]:
    """Rows of ``prepared`` and what another input needs to match to be concatenated with it."""
    shape = getattr(prepared, "shape", None)
    if not shape:
        return 0, None
    if hasattr(prepared, "columns") and hasattr(prepared, "dtypes"):  # a pandas DataFrame
        try:
            return shape[0], ("frame", tuple(prepared.columns), tuple(map(str, prepared.dtypes)))
        except TypeError:  # unhashable column labels
            return shape[0], None
    dtype = getattr(prepared, "dtype", None)
    if dtype is None or type(prepared).__name__ != "ndarray" or dtype.kind == "O":
        return shape[0], None
    return shape[0], ("array", dtype.str, shape[1:])


def _concat(parts: list[Any]) -> Any:
    if type(parts[0]).__name__ == "ndarray":
        import numpy as np

        return np.concatenate(parts)
    import pandas as pd

    return pd.concat(parts, ignore_index=True)


def _length(predictions: Any) -> int | None:
    shape = getattr(predictions, "shape", None)
    if shape is not None:
        return shape[0] if len(shape) else None
    try:
        return len(predictions)
    except TypeError:
        return None


def _split(predictions: Any, sizes: list[int]) -> list[Any]:
    rows = predictions.iloc if hasattr(predictions, "iloc") else predictions
    parts, start = [], 0
    for size in sizes:
        part = rows[start : start + size]
        if hasattr(part, "reset_index"):
            part = part.reset_index(drop=True)
        parts.append(part)
        start += size
    return parts
