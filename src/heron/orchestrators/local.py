"""The local orchestrator: steps in this process, or in worker processes of its own.

With ``parallelism=N`` each step runs in one of N long-lived worker processes, one step at a
time per worker. A worker that dies (killed, out of memory) fails only the step it was
running; it is replaced, and the steps running beside it carry on.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from concurrent.futures import Future
from typing import Any

from heron.core.errors import InvalidArgument
from heron.execution.executor import execute_step
from heron.execution.plan import StepOutcome, StepPlan
from heron.orchestrators.base import Orchestrator, WorkerLost


def _worker_main(connection: Any, parent_end: Any) -> None:
    """A worker's loop: receive a pickled plan, run it, send back the pickled outcome.
    An empty message (or the parent going away) ends it."""
    import cloudpickle

    parent_end.close()  # a forked child holds a copy; keeping it would hide the parent's exit
    while True:
        try:
            payload = connection.recv_bytes()
        except (EOFError, OSError):
            return
        if not payload:
            return
        try:
            outcome: Any = execute_step(cloudpickle.loads(payload))
        except BaseException as e:  # the executor records failures; this is a bug guard
            outcome = e
        connection.send_bytes(cloudpickle.dumps(outcome))


def _warm_imports() -> None:
    """Import what every step needs before forking, so each worker does not import it
    again (about 45 ms per worker)."""
    import cloudpickle  # noqa: F401

    from heron.artifacts import loading  # noqa: F401
    from heron.artifacts.materializers import list_materializers

    list_materializers()  # also reads the plugins' entry points


class _Worker:
    def __init__(self, context: Any) -> None:
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_worker_main, args=(child, self.connection), daemon=True
        )
        self.process.start()
        child.close()

    def run(self, payload: bytes) -> Any:
        import cloudpickle

        try:
            self.connection.send_bytes(payload)
            return cloudpickle.loads(self.connection.recv_bytes())
        except (EOFError, OSError, BrokenPipeError) as e:
            self.process.join(timeout=5)
            code = self.process.exitcode
            raise WorkerLost(
                f"worker process {self.process.pid} exited with code {code}"
                if code is not None
                else f"lost contact with worker process {self.process.pid} ({e})"
            ) from None

    def stop(self, kill: bool = False) -> None:
        if kill and self.process.is_alive():
            self.process.kill()
        with contextlib.suppress(OSError):
            if not kill:
                self.connection.send_bytes(b"")  # ask the worker to exit
            self.connection.close()
        self.process.join(timeout=5)


class LocalOrchestrator(Orchestrator):
    """``parallelism=1``: each step runs in this process when submitted (no overhead).
    ``parallelism=N``: independent steps run in N worker processes."""

    def __init__(self, parallelism: int = 1) -> None:
        if not isinstance(parallelism, int) or parallelism < 1:
            raise InvalidArgument(f"parallelism must be an integer ≥ 1, got {parallelism!r}.")
        self.parallelism = parallelism
        self.in_process = parallelism == 1
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        self._context = multiprocessing.get_context(method)
        self._idle: list[_Worker] = []
        self._busy: set[_Worker] = set()
        self._lock = threading.Lock()

    def submit(self, plan: StepPlan, values: dict[str, Any]) -> Future[StepOutcome]:
        future: Future[StepOutcome] = Future()
        if self.in_process:
            try:
                future.set_result(execute_step(plan, values=values, keep_values=True))
            except BaseException as e:
                future.set_exception(e)
            return future
        import cloudpickle

        payload = cloudpickle.dumps(plan)
        worker = self._checkout()
        thread = threading.Thread(
            target=self._drive,
            args=(worker, payload, future),
            daemon=True,
            name=f"heron-step-{plan.node_id}",
        )
        thread.start()
        return future

    def _checkout(self) -> _Worker:
        if not self._idle and not self._busy:
            _warm_imports()
        with self._lock:
            worker = self._idle.pop() if self._idle else _Worker(self._context)
            self._busy.add(worker)
            return worker

    def _drive(self, worker: _Worker, payload: bytes, future: Future[StepOutcome]) -> None:
        try:
            result = worker.run(payload)
        except WorkerLost as e:
            with self._lock:
                self._busy.discard(worker)
            worker.stop()
            future.set_exception(e)
            return
        with self._lock:
            self._busy.discard(worker)
            self._idle.append(worker)
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)

    def shutdown(self, cancel: bool = False) -> None:
        with self._lock:
            idle, busy = self._idle, self._busy
            self._idle, self._busy = [], set()
        for worker in idle:
            worker.stop()
        for worker in busy:  # still running a step: only when the run is cancelled
            worker.stop(kill=True)
