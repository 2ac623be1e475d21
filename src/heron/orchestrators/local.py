"""The local orchestrator: steps in this process, or in worker processes of its own.

With ``parallelism=N`` each step runs in one of N long-lived worker processes, one step at a
time per worker. A worker that dies (killed, out of memory) fails only the step it was
running; it is replaced, and the steps running beside it carry on.

Workers are fresh interpreters (``python -c``), never forks of this process: a forked child
inherits SQLite's in-process lock and shared-memory state of every database the parent has
open, so its connections would not take the locks other processes rely on, and a process that
opened and closed the store after the parent died would throw the worker's commits away. Each
worker holds only its own end of its pipe, so it sees end-of-file when the parent dies; a
watcher thread also notices the parent going away during a step, interrupts the step (which
is then recorded as cancelled) and ends the worker.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from heron.core.errors import InvalidArgument
from heron.execution.executor import execute_step
from heron.execution.plan import FILE_MODULE_PREFIX, StepOutcome, StepPlan
from heron.orchestrators.base import Orchestrator, WorkerLost

log = logging.getLogger("heron.orchestrators")

#: how often a worker checks that its parent is alive, and how long an interrupted step may
#: take to record itself before the worker ends anyway (seconds)
PARENT_CHECK_INTERVAL = 0.2
INTERRUPT_GRACE = 5.0

#: process-wide settings a worker takes over from its parent before each step (a fresh
#: interpreter does not inherit them as a fork did): name -> a function of the parent that
#: returns a picklable callable applying the setting in the worker (see carry_to_workers)
_carried: dict[str, Callable[[], Callable[[], None]]] = {}

_PATH_ENV = "HERON_WORKER_SYS_PATH"
_BOOT = (
    "import json, os, sys; "
    f"sys.path[:0] = [p for p in json.loads(os.environ.pop({_PATH_ENV!r})) if p not in sys.path]; "
    "from heron.orchestrators.local import serve_worker; serve_worker(int(sys.argv[1]))"
)


def carry_to_workers(name: str, snapshot: Callable[[], Callable[[], None]]) -> None:
    """Have every step run in a worker process take over a setting of this process:
    ``snapshot()`` is called when a step is sent and returns a picklable callable that the
    worker calls before running it (``heron.autolog()`` uses this)."""
    _carried[name] = snapshot


def carried_settings() -> list[Callable[[], None]]:
    """The settings every worker takes over now (see :func:`carry_to_workers`), and the
    materializers registered in this process: a worker that does not import the pipeline's
    module (its steps are sent by value) would not know them otherwise."""
    settings = [snapshot() for snapshot in list(_carried.values())]
    from heron.artifacts.materializers.registry import default_registry

    registered = default_registry().registered_by_user()
    if registered:
        settings.append(functools.partial(_register_materializers, registered))
    return settings


def _register_materializers(materializers: list[Any]) -> None:
    from heron.artifacts.materializers.registry import register_materializer

    for materializer in materializers:
        register_materializer(materializer, override=True)


def take_over_process(path: list[str], environment: dict[str, str]) -> None:
    """Make this worker's ``sys.path`` start with the entries of ``path`` it lacks, and its
    environment exactly ``environment`` (only the variables that differ are written)."""
    sys.path[:0] = [p for p in path if p not in sys.path]
    for name in [n for n in os.environ if n not in environment]:
        del os.environ[name]
    for name, value in environment.items():
        if os.environ.get(name) != value:
            os.environ[name] = value


def take_over_settings(settings: list[Callable[[], None]]) -> None:
    """Apply settings of the parent (from :func:`carried_settings`) in this worker."""
    for apply in settings:
        try:
            apply()
        except Exception as e:  # a setting that cannot be applied must not fail the step
            log.warning("A worker could not take over a setting of its parent: %s", e)


def serve_worker(fd: int) -> None:
    """A worker's loop on the socket ``fd``: receive a pickled (sys.path, working directory,
    plan), run it, send back the pickled outcome. An empty message or the parent going away
    ends it."""
    from multiprocessing.connection import Connection

    import cloudpickle

    parent = os.getppid()
    connection = Connection(fd)
    signal.signal(signal.SIGTERM, _interrupt)  # also when SIGINT is ignored (``cmd &``)
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            payload = connection.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            return
        if not payload:
            return
        try:
            path, cwd, environment, settings, plan = cloudpickle.loads(payload)
            sys.path[:] = path
            if environment != os.environ:  # a spare worker now serves a later run
                os.environ.clear()
                os.environ.update(environment)
            with contextlib.suppress(OSError):
                os.chdir(cwd)
            take_over_settings(settings)
            outcome: Any = execute_step(plan)
        except BaseException as e:  # the executor records failures; this is a bug guard
            if _parent_gone(parent):
                return
            outcome = e
        try:
            connection.send_bytes(cloudpickle.dumps(outcome))
        except OSError:  # the parent died while the step ran: nobody to tell
            return


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt("the process that started this worker is gone")


def _parent_gone(parent: int) -> bool:
    return os.getppid() != parent


def _watch_parent(parent: int) -> None:
    """End this worker soon after its parent dies: interrupt the step it runs (so that the
    step is recorded as cancelled), and exit if that does not end it within the grace."""
    while not _parent_gone(parent):
        time.sleep(PARENT_CHECK_INTERVAL)
    with contextlib.suppress(OSError):
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(INTERRUPT_GRACE)
    os._exit(1)


class _Worker:
    """One worker process and this process's end of its socket."""

    def __init__(self) -> None:
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        env = dict(os.environ)
        env[_PATH_ENV] = json.dumps([p for p in sys.path if p])
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _BOOT, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self.connection = Connection(ours.detach())

    @property
    def pid(self) -> int:
        return self.process.pid

    def run(self, payload: bytes) -> Any:
        import cloudpickle

        try:
            self.connection.send_bytes(payload)
            return cloudpickle.loads(self.connection.recv_bytes())
        except (EOFError, OSError) as e:
            try:
                code = self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                code = None
            raise WorkerLost(
                f"worker process {self.pid} exited with code {code}"
                if code is not None
                else f"lost contact with worker process {self.pid} ({e})"
            ) from None

    def stop(self, kill: bool = False) -> None:
        if kill and self.process.poll() is None:
            self.process.kill()
        with contextlib.suppress(OSError):
            if not kill:
                self.connection.send_bytes(b"")  # ask the worker to exit
            self.connection.close()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: idle workers of finished runs, kept for the next run of this process (starting a fresh
#: interpreter costs about 0.1-0.3 s); they end with this process
MAX_SPARE_WORKERS = 8
_spare: list[_Worker] = []
_spare_lock = threading.Lock()


def _spare_worker() -> _Worker | None:
    with _spare_lock:
        while _spare:
            worker = _spare.pop()
            if worker.process.poll() is None:
                return worker
            worker.stop()
    return None


def _keep_spare(worker: _Worker) -> None:
    with _spare_lock:
        if len(_spare) < MAX_SPARE_WORKERS and worker.process.poll() is None:
            _spare.append(worker)
            return
    worker.stop()


def stop_spare_workers() -> None:
    """End the idle workers kept for later runs (at exit, and in tests)."""
    with _spare_lock:
        workers = list(_spare)
        _spare.clear()
    for worker in workers:
        worker.stop()


def _forget_spare_workers() -> None:
    # A forked child must not talk to its parent's workers.
    for worker in _spare:
        with contextlib.suppress(OSError):
            worker.connection.close()
    _spare.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_spare_workers)

atexit.register(stop_spare_workers)


def _pickle_by_value_if_private(function: Any) -> None:
    """Steps of a file ``heron run`` loaded live in a module no other interpreter can import
    by name: send their code by value."""
    import cloudpickle

    name = getattr(function, "__module__", None) or ""
    module = sys.modules.get(name)
    if module is not None and name.startswith(FILE_MODULE_PREFIX):
        cloudpickle.register_pickle_by_value(module)


class LocalOrchestrator(Orchestrator):
    """``parallelism=1``: each step runs in this process when submitted (no overhead).
    ``parallelism=N``: independent steps run in N worker processes."""

    def __init__(self, parallelism: int = 1) -> None:
        if not isinstance(parallelism, int) or parallelism < 1:
            raise InvalidArgument(f"parallelism must be an integer ≥ 1, got {parallelism!r}.")
        self.parallelism = parallelism
        self.in_process = parallelism == 1
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

        _pickle_by_value_if_private(plan.function)
        settings = carried_settings()
        payload = cloudpickle.dumps((list(sys.path), os.getcwd(), dict(os.environ), settings, plan))
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
        with self._lock:
            worker = self._idle.pop() if self._idle else _spare_worker() or _Worker()
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
            _keep_spare(worker)
        for worker in busy:  # still running a step: only when the run is cancelled
            worker.stop(kill=True)
