"""The local orchestrator: steps in this process, or in a pool of worker processes."""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from heron.core.errors import InvalidArgument
from heron.execution.executor import execute_step
from heron.execution.plan import StepOutcome, StepPlan
from heron.orchestrators.base import Orchestrator, WorkerLost


def _run_pickled(payload: bytes) -> StepOutcome:
    import cloudpickle

    plan = cloudpickle.loads(payload)
    return execute_step(plan)


class LocalOrchestrator(Orchestrator):
    """``parallelism=1``: each step runs in this process when submitted (no overhead).
    ``parallelism=N``: independent steps run in N worker processes."""

    def __init__(self, parallelism: int = 1) -> None:
        if not isinstance(parallelism, int) or parallelism < 1:
            raise InvalidArgument(f"parallelism must be an integer ≥ 1, got {parallelism!r}.")
        self.parallelism = parallelism
        self.in_process = parallelism == 1
        self._pool: ProcessPoolExecutor | None = None

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
        try:
            inner = self._workers().submit(_run_pickled, payload)
        except BrokenProcessPool:
            self._pool = None  # a worker died earlier: start a fresh pool
            inner = self._workers().submit(_run_pickled, payload)
        inner.add_done_callback(lambda f: _relay(f, future))
        return future

    def _workers(self) -> ProcessPoolExecutor:
        if self._pool is None:
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            self._pool = ProcessPoolExecutor(
                max_workers=self.parallelism, mp_context=multiprocessing.get_context(method)
            )
        return self._pool

    def shutdown(self, cancel: bool = False) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if cancel:
            for process in list(getattr(pool, "_processes", {}).values()):
                if process.is_alive():
                    os.kill(process.pid, 9)
        pool.shutdown(wait=not cancel, cancel_futures=True)


def _relay(inner: Future[StepOutcome], outer: Future[StepOutcome]) -> None:
    try:
        outer.set_result(inner.result())
    except BrokenProcessPool as e:
        outer.set_exception(WorkerLost(str(e) or "a worker process died"))
    except BaseException as e:
        outer.set_exception(e)
