"""The Dask orchestrator: steps run as tasks of a ``distributed`` cluster.

``DaskOrchestrator(address="tcp://scheduler:8786")`` sends steps to an existing cluster;
without an address it starts a ``LocalCluster`` on 127.0.0.1 (``n_workers`` processes of
``threads_per_worker`` threads, with worker ``resources``), kept for later runs of this
process with the same settings and closed when the process exits.

Each step is one task that calls the step executor on a worker, exactly as the local worker
processes do; the executor stores, hashes and records everything. Dask never retries a step
(``retries=0``; the executor has its own retries). A worker that dies fails the step it was
running (:class:`~heron.orchestrators.base.WorkerLost`); steps only queued on it are sent
again. A step is never run or recorded twice: a task that Dask starts again itself (on a
cluster allowing worker failures, or to recompute results a dead worker held) finds the
step's run recorded, and then reads the outcome of a step that ended back from the store, or
fails a step that was still running. The LocalCluster Heron starts allows no worker failures.

Cancelling a run (Ctrl-C) cancels its queued tasks and interrupts its running steps on their
workers (``KeyboardInterrupt`` in the step's thread, at its next Python instruction), which
then record themselves as cancelled.

The output objects of a step stay on the cluster (Dask futures held by the orchestrator)
and are handed to the steps that read them, so a large array is not read back from the
artifact store by the next step; only the outcome (ids and hashes) comes back to the driver.

**Resources.** ``@step(resources=...)`` maps to Dask worker resources, and is refused before
the run starts when no worker could satisfy it:

- a name some worker declares as a Dask resource (``dask worker --resources "GPU=1"``,
  ``LocalCluster(resources={"GPU": 1})``) is asked of Dask; ``gpus`` also matches a declared
  ``GPU``, ``cpus`` a declared ``CPU`` and ``memory`` a declared ``MEMORY``;
- ``cpus`` that no worker declares is checked against the workers' threads (a step may not
  ask for more cpus than the largest worker has threads) and not passed to Dask;
- ``memory`` that no worker declares is checked against the workers' memory limit and not
  passed to Dask;
- any other resource that no worker declares is refused.

Where the worker runs on this machine, it takes over this process's environment variables,
working directory and ``sys.path`` entries for each step, as local worker processes do; on
other machines only the settings registered with
:func:`heron.orchestrators.local.carry_to_workers` travel.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import math
import os
import socket
import sys
import threading
from concurrent.futures import Future
from typing import Any

from heron.core.errors import ConfigError, HeronError, InvalidArgument
from heron.core.resources import describe as describe_resources
from heron.execution.executor import recorded_end, recorded_outcome, recorded_run
from heron.execution.plan import StepOutcome, StepPlan
from heron.orchestrators.base import MAX_RESENDS, Orchestrator, WorkerLost, check_count
from heron.orchestrators.local import (
    _pickle_by_value_if_private,
    carried_settings,
    take_over_process,
    take_over_settings,
)

log = logging.getLogger("heron.orchestrators")

#: how long connecting to a cluster at an address may take (seconds)
CONNECT_TIMEOUT = 10.0

#: a step's resource -> the names of Dask worker resources that provide it
_ALIASES = {"cpus": ("cpus", "CPU"), "gpus": ("gpus", "GPU"), "memory": ("memory", "MEMORY")}


class StepLost(HeronError):
    """Dask started a step again after the worker running it died; it is not run twice."""

    code = "STEP_LOST"


class StepCancelled(HeronError):
    """The pipeline run was cancelled while this step ran on a Dask worker."""

    code = "STEP_CANCELLED"


# --- the LocalClusters this process starts, kept for its later runs -----------------------

_clusters: dict[tuple, Any] = {}
_users: dict[tuple, int] = {}
_clusters_lock = threading.Lock()


def _local_cluster(settings: tuple) -> Any:
    """The running LocalCluster with ``settings`` (n_workers, threads, processes, resources),
    started if there is none."""
    from distributed import LocalCluster
    from distributed.core import Status

    with _clusters_lock:
        cluster = _clusters.get(settings)
        if cluster is not None and cluster.status != Status.running:
            _clusters.pop(settings)
            with contextlib.suppress(Exception):
                cluster.close()
            cluster = None
        if cluster is None:
            n_workers, threads, processes, resources = settings
            cluster = LocalCluster(
                n_workers=n_workers,
                threads_per_worker=threads,
                processes=processes,
                resources=dict(resources) or None,
                dashboard_address=None,
                host="127.0.0.1",
                scheduler_kwargs={
                    # a killed worker fails its task at once, not run again by Dask elsewhere
                    "allowed_failures": 0,
                    # the scheduler's HTTP server (health, metrics) on a free port, not 8787
                    "dashboard_address": "127.0.0.1:0",
                },
            )
            _clusters[settings] = cluster
            _users[settings] = 0
        _users[settings] += 1
        return cluster


def _release_cluster(settings: tuple, close: bool) -> None:
    with _clusters_lock:
        _users[settings] = max(0, _users.get(settings, 1) - 1)
        if not close or _users[settings] > 0:
            return
        cluster = _clusters.pop(settings, None)
    if cluster is not None:
        with contextlib.suppress(Exception):
            cluster.close()


def close_local_clusters() -> None:
    """Close the LocalClusters kept for later runs (at exit, and in tests)."""
    with _clusters_lock:
        clusters = list(_clusters.values())
        _clusters.clear()
        _users.clear()
    for cluster in clusters:
        with contextlib.suppress(Exception):
            cluster.close()


def _forget_clusters() -> None:
    # A forked child must not close its parent's clusters.
    _clusters.clear()
    _users.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clusters)

atexit.register(close_local_clusters)


# --- on the worker ------------------------------------------------------------------------

#: variables of a worker's own environment that stay when it takes over the driver's: Dask's
#: settings and the thread limits the nanny sets (OMP_NUM_THREADS=1, ...)
_OWN_VARIABLES = ("DASK_", "MALLOC_")
_worker_environment = {
    k: v
    for k, v in os.environ.items()
    if k.startswith(_OWN_VARIABLES) or k.endswith("_NUM_THREADS")
}
_context_lock = threading.Lock()
#: Dask task key -> ident of the thread running that step (to interrupt it on cancel)
_step_threads: dict[str, int] = {}


def _context() -> bytes:
    """What a worker takes over from this process before each step (see :func:`_enter`)."""
    import cloudpickle

    try:
        cwd: str | None = os.getcwd()
    except OSError:
        cwd = None
    settings = carried_settings()
    where = (socket.gethostname(), os.getpid())
    return cloudpickle.dumps((where, list(sys.path), cwd, dict(os.environ), settings))


def _enter(context: bytes) -> None:
    """Take over the driver's settings, and on the driver's machine its environment (but
    for Dask's own variables), working directory and ``sys.path`` entries. Nothing changes
    in a worker that is a thread of the driver itself (``processes=False``)."""
    import cloudpickle

    (host, pid), path, cwd, environment, settings = cloudpickle.loads(context)
    if host == socket.gethostname() and pid == os.getpid():
        return
    if host == socket.gethostname():
        with _context_lock:
            take_over_process(path, {**environment, **_worker_environment})
            if cwd:
                with contextlib.suppress(OSError):
                    os.chdir(cwd)
    take_over_settings(settings)


def _run_step(
    key: str, context: bytes, payload: bytes, upstream: dict[str, tuple[StepOutcome, str]]
) -> StepOutcome:
    """The task of one step: run it with the executor, keeping its output objects.
    ``upstream`` maps an input's artifact id to the outcome of the step that made it (with
    its objects, held on the cluster) and the output's name."""
    values = {
        artifact_id: outcome.values[name]
        for artifact_id, (outcome, name) in upstream.items()
        if outcome.values is not None and name in outcome.values
    }
    try:
        with _interruptible(key):
            _enter(context)
            plan = _load_plan(key, payload)
            earlier = _earlier_attempt(plan)
            if earlier is not None:
                return earlier
            from heron.execution.executor import execute_step

            return execute_step(plan, values=values, keep_values=True)
    except KeyboardInterrupt:  # the run was cancelled (_interrupt_steps): the step recorded it
        raise StepCancelled(f"Step task {key} was cancelled with its pipeline run.") from None


@contextlib.contextmanager
def _interruptible(key: str) -> Any:
    with _context_lock:
        _step_threads[key] = threading.get_ident()
    try:
        yield
    finally:
        with _context_lock:
            _step_threads.pop(key, None)


def _interrupt_steps(keys: list[str]) -> int:
    """Raise KeyboardInterrupt in the threads of this worker running the steps ``keys``
    (which record themselves as cancelled); how many there were."""
    import ctypes

    interrupted = 0
    with _context_lock:
        for key in keys:
            ident = _step_threads.get(key)
            if ident is not None:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
                )
                interrupted += 1
    return interrupted


def _load_plan(key: str, payload: bytes) -> StepPlan:
    import cloudpickle

    try:
        return cloudpickle.loads(payload)
    except Exception as e:
        raise ConfigError(
            f"A Dask worker ({socket.gethostname()}) could not load step task {key}: "
            f"{type(e).__name__}: {e}. Workers need heron-ml (the driver's version) and the "
            "modules the step's code imports; install them on the workers, or define the "
            "pipeline in a file run with `heron run` (its code is sent by value)."
        ) from e


def _earlier_attempt(plan: StepPlan) -> StepOutcome | None:
    """``None`` when the step has not started before. Dask starts a task again when the
    worker running it died (on clusters allowing worker failures), or when the worker holding
    its result died and a later step needs it: the outcome of a step that ended is then read
    back from the store (its outputs from the artifact store), and a step that was still
    running fails: it is never run twice."""
    run = recorded_run(plan)
    if run is None:
        return None
    if not recorded_end(run):
        raise StepLost(
            f"the Dask worker running step {plan.node_id!r} died and Dask started the step "
            f"again on {socket.gethostname()}; Heron does not run a step twice"
        )
    outcome = recorded_outcome(plan, run)
    outcome.values = {name: av.load() for name, av in outcome.outputs.items()}
    return outcome


def _send_promptly(client: Any) -> None:
    """Have the client send its messages to the scheduler within 1 ms instead of batching
    them for 10 ms: a step is a few messages, and a pipeline's steps wait on each other, so
    the batching interval is most of each step's overhead. (A private attribute of
    ``distributed``: without it, steps are only slower.)"""
    comm = getattr(client, "scheduler_comm", None)
    if comm is not None and hasattr(comm, "interval"):
        comm.interval = min(comm.interval, 0.001)


def _scheduler_sends_promptly(dask_scheduler: Any) -> None:
    for comm in dask_scheduler.stream_comms.values():
        comm.interval = min(comm.interval, 0.001)


def _worker_sends_promptly(dask_worker: Any) -> None:
    comm = getattr(dask_worker, "batched_stream", None)
    if comm is not None:
        comm.interval = min(comm.interval, 0.001)


def _cluster_sends_promptly(client: Any) -> None:
    """The same for the scheduler's messages to the workers (5 ms batches) and theirs to it
    (2 ms), on a LocalCluster Heron started: a step waits on both. A cluster given by its
    address is left as its owner set it up."""
    with contextlib.suppress(Exception):
        client.run_on_scheduler(_scheduler_sends_promptly)
        client.run(_worker_sends_promptly)


def _outcome_of(outcome: StepOutcome) -> tuple[StepOutcome, bool]:
    """What the driver receives: the outcome without its objects, and whether there are any."""
    return dataclasses.replace(outcome, values=None), outcome.values is not None


# --- on the driver ------------------------------------------------------------------------


def _workers_of(client: Any) -> list[dict[str, Any]]:
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:  # distributed before 2025: every worker, always
        info = client.scheduler_info()
    return list(info.get("workers", {}).values())


#: steps handed to Dask at once per worker thread, by default: more than it can run, so that
#: its scheduler spreads ready steps over the workers (work stealing) instead of every step
#: of a fan-out waiting beside the one input they share
QUEUED_PER_THREAD = 16


@dataclasses.dataclass
class _Task:
    """A step sent to the cluster, and the future of its outcome."""

    plan: StepPlan
    context: bytes
    payload: bytes
    result: Future[StepOutcome]
    attempt: int = 0


class DaskOrchestrator(Orchestrator):
    """Runs steps on a Dask cluster: the one at ``address``, or a ``LocalCluster`` of
    ``n_workers`` processes (``processes=False``: threads of this process) with
    ``threads_per_worker`` threads and the worker ``resources`` given (``{"GPU": 1}``).
    ``parallelism`` (how many ready steps are handed to Dask at once) defaults to
    :data:`QUEUED_PER_THREAD` times the cluster's threads; Dask runs as many as it has threads."""

    name = "dask"
    in_process = False

    def __init__(
        self,
        address: str | None = None,
        parallelism: int | None = None,
        n_workers: int = 2,
        threads_per_worker: int = 1,
        processes: bool = True,
        resources: dict[str, float] | None = None,
    ) -> None:
        from distributed import Client

        check_count("Dask orchestrator", "n_workers", n_workers, optional=False)
        check_count("Dask orchestrator", "threads_per_worker", threads_per_worker, optional=False)
        if parallelism is not None:
            check_count("Dask orchestrator", "parallelism", parallelism)
        if not isinstance(processes, bool):
            raise InvalidArgument(
                f"Dask orchestrator: processes is true or false, not {processes!r}."
            )
        worker_resources = self._worker_resources(resources)
        self._settings: tuple | None = None
        self._lock = threading.Lock()
        self._held: dict[str, Any] = {}  # artifact id -> Dask future of the object
        self._running: dict[str, tuple[Any, Any]] = {}  # step key -> (step, outcome) futures
        self._dask_resources: dict[tuple, dict[str, float]] = {}
        self._closed = False
        if address is not None:
            if (n_workers, threads_per_worker, processes) != (2, 1, True) or resources:
                raise InvalidArgument(
                    "Dask orchestrator: n_workers, threads_per_worker, processes and resources "
                    "set up the LocalCluster Heron starts without an address; the cluster at "
                    f"{address!r} has its own workers. Drop those options, or the address."
                )
            self.client = self._connect(Client, address)
        else:
            self._settings = (
                n_workers,
                threads_per_worker,
                processes,
                tuple(sorted(worker_resources.items())),
            )
            cluster = _local_cluster(self._settings)
            try:
                self.client = Client(cluster, set_as_default=False)
            except BaseException:
                _release_cluster(self._settings, close=False)
                raise
        self.address = self.client.scheduler.address
        _send_promptly(self.client)
        if self._settings is not None:  # a cluster of our own: its messages go promptly too
            _cluster_sends_promptly(self.client)
        try:
            if self._settings is not None:
                with contextlib.suppress(Exception):  # a worker restarting after it was killed
                    self.client.wait_for_workers(n_workers, timeout=30)
            self.workers = _workers_of(self.client)
        except BaseException:
            self.shutdown()
            raise
        if self._settings is not None:
            threads = n_workers * threads_per_worker
        else:
            threads = sum(int(w.get("nthreads", 0)) for w in self.workers)
        self.parallelism = parallelism or max(1, threads) * QUEUED_PER_THREAD

    @staticmethod
    def _worker_resources(resources: Any) -> dict[str, float]:
        if resources is None:
            return {}
        if not isinstance(resources, dict) or not all(
            isinstance(k, str)
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
            and v >= 0
            for k, v in resources.items()
        ):
            raise InvalidArgument(
                "Dask orchestrator: resources (of the LocalCluster's workers) maps names to "
                f"amounts ≥ 0, such as {{'GPU': 1}}; got {resources!r}."
            )
        return {k: float(v) for k, v in resources.items()}

    @staticmethod
    def _connect(client_class: Any, address: Any) -> Any:
        """A client of the scheduler at ``address``; a :class:`ConfigError` within
        ``CONNECT_TIMEOUT`` when it does not answer. The address is checked, and its port
        awaited, before a ``Client`` is made: a client that failed to connect would hold up
        the interpreter's exit."""
        import time

        from distributed.comm import get_address_host_port, parse_address

        def unreachable(reason: Any) -> ConfigError:
            return ConfigError(
                f"The Dask scheduler at {address!r} could not be reached within "
                f"{CONNECT_TIMEOUT:g} s ({reason}). Check that the scheduler runs and that "
                "this machine can reach its address (tcp://host:8786), or leave the address "
                "out to run steps on a LocalCluster Heron starts."
            )

        try:
            if not isinstance(address, str):
                raise ValueError(f"an address is text, not {type(address).__name__}")
            scheme, _ = parse_address(address)
            host, port = (None, 0) if scheme == "inproc" else get_address_host_port(address)
        except ValueError as e:
            raise ConfigError(
                f"{address!r} is not the address of a Dask scheduler ({e}); give it as "
                "tcp://host:8786, or leave the address out to run steps on a LocalCluster "
                "Heron starts."
            ) from None
        deadline = time.monotonic() + CONNECT_TIMEOUT
        while host is not None:
            try:
                remaining = max(0.1, deadline - time.monotonic())
                with socket.create_connection((host, port), timeout=min(remaining, 2.0)):
                    break
            except OSError as e:
                if time.monotonic() + 0.2 >= deadline:
                    raise unreachable(e.strerror or e) from None
                time.sleep(0.2)
        try:
            timeout = max(1.0, deadline - time.monotonic())
            return client_class(address, timeout=timeout, set_as_default=False)
        except OSError as e:
            raise unreachable(e) from None
        except Exception as e:  # something answered, but not as a Dask scheduler does
            raise ConfigError(
                f"Something answered at {address!r}, but not as a Dask scheduler does "
                f"({type(e).__name__}: {e}). Check the address and its port (a scheduler "
                "listens on tcp://host:8786 unless told otherwise)."
            ) from None

    def describe(self) -> dict[str, str]:
        """Name, parallelism and the scheduler's address."""
        return {**super().describe(), "address": str(self.address)}

    # --- resources ------------------------------------------------------------------------

    def check_resources(self, node_id: str, resources: dict[str, float]) -> None:
        """Refuse (:class:`InvalidArgument`) what no worker of the cluster could satisfy;
        see the module's documentation for how each resource maps to Dask."""
        self._resources_for(node_id, resources)

    def _resources_for(self, node_id: str, resources: dict[str, float]) -> dict[str, float]:
        """The Dask resources a step asks for (checked once per distinct request)."""
        wanted = {k: v for k, v in resources.items() if v > 0}
        cache_key = tuple(sorted(wanted.items()))
        if cache_key in self._dask_resources:
            return self._dask_resources[cache_key]
        workers = self.workers
        if not workers and wanted:
            log.warning(
                "The Dask cluster at %s has no workers yet: step %r's resources (%s) cannot "
                "be checked.",
                self.address,
                node_id,
                describe_resources(wanted),
            )
            # nothing to check against: ask Dask for GPUs and custom resources by name
            return {
                ("GPU" if k == "gpus" else k): v
                for k, v in wanted.items()
                if k not in ("cpus", "memory")
            }
        declared_anywhere = {name for w in workers for name in (w.get("resources") or {})}
        dask_resources: dict[str, float] = {}
        for name, amount in wanted.items():
            declared = next(
                (a for a in _ALIASES.get(name, (name,)) if a in declared_anywhere), None
            )
            if declared is not None:
                best = max(float((w.get("resources") or {}).get(declared, 0)) for w in workers)
                if amount > best:
                    self._refuse(
                        node_id,
                        wanted,
                        f"{name}={amount:g}, more than the {best:g} {declared} "
                        "the largest worker declares",
                    )
                dask_resources[declared] = amount
            elif name == "cpus":
                best = max(int(w.get("nthreads", 0)) for w in workers)
                if amount > best:
                    self._refuse(
                        node_id,
                        wanted,
                        f"cpus={amount:g}, more than the {best} thread(s) of the largest worker",
                        "give workers more threads (`dask worker --nthreads N`, the option "
                        "threads_per_worker=N) or declare a cpus resource on them",
                    )
            elif name == "memory":
                best_limit = max(float(w.get("memory_limit") or math.inf) for w in workers)
                if amount > best_limit:
                    self._refuse(
                        node_id,
                        wanted,
                        f"memory={amount / 1e9:.1f}GB, more than the largest worker's memory "
                        f"limit of {best_limit / 1e9:.1f}GB",
                        "start workers with more memory (`dask worker --memory-limit 16GB`)",
                    )
            else:
                self._refuse(node_id, wanted, f"{name}={amount:g}, which no worker declares")
        if dask_resources and not any(
            all(float((w.get("resources") or {}).get(k, 0)) >= v for k, v in dask_resources.items())
            for w in workers
        ):
            self._refuse(node_id, wanted, "all of them together, which no single worker offers")
        self._dask_resources[cache_key] = dask_resources
        return dask_resources

    def _refuse(self, node_id: str, wanted: dict[str, float], what: str, fix: str = "") -> None:
        fix = fix or (
            'start workers that declare it (`dask worker --resources "GPU=1"`, or the '
            "option resources={'GPU': 1} of the LocalCluster Heron starts)"
        )
        raise InvalidArgument(
            f"Step {node_id!r} asks for {describe_resources(wanted)}: {what}, so it could "
            f"never run on the Dask cluster at {self.address} (its workers offer "
            f"{self._offer()}). To fix: {fix}, or change the step's @step(resources=...)."
        )

    def _offer(self) -> str:
        if not self.workers:
            return "nothing: no workers"
        threads = max(int(w.get("nthreads", 0)) for w in self.workers)
        limits = [w.get("memory_limit") for w in self.workers]
        memory = max((float(m) for m in limits if m), default=0.0)
        declared: dict[str, float] = {}
        for w in self.workers:
            for name, amount in (w.get("resources") or {}).items():
                declared[name] = max(declared.get(name, 0.0), float(amount))
        text = ", ".join(f"{k}={v:g}" for k, v in sorted(declared.items())) or "none"
        return (
            f"{len(self.workers)} worker(s) of up to {threads} thread(s), "
            + (f"memory limit {memory / 1e9:.1f}GB, " if memory else "no memory limit, ")
            + f"resources: {text}"
        )

    # --- running steps ----------------------------------------------------------------------

    def submit(self, plan: StepPlan, values: dict[str, Any]) -> Future[StepOutcome]:
        """Send the step to the cluster. ``values`` is not used (the runner hands objects
        over in memory only to in-process orchestrators): the objects of the step's inputs
        held on the cluster go with it, the others are loaded from the artifact store."""
        import cloudpickle

        _pickle_by_value_if_private(plan.function)
        task = _Task(plan, _context(), cloudpickle.dumps(plan), Future())
        self._send(task)
        return task.result

    def _send(self, task: _Task) -> None:
        plan = task.plan
        suffix = f"-{task.attempt}" if task.attempt else ""
        key = f"heron-step-{plan.node_id}-{plan.run_id}{suffix}"
        resources = self._resources_for(plan.node_id, plan.resources)
        with self._lock:
            if self._closed:
                task.result.cancel()
                return
            upstream = {}
            for artifact_id in plan.input_artifact_ids():
                held = self._held.get(artifact_id)
                if held is not None and held[0].status in ("error", "cancelled"):  # worker died
                    del self._held[artifact_id]  # the step reads it from the artifact store
                elif held is not None:
                    upstream[artifact_id] = held  # Dask hands the task the outcome itself
            step = self.client.submit(
                _run_step,
                key,
                task.context,
                task.payload,
                upstream,
                key=key,
                pure=False,
                retries=0,
                resources=resources or None,
            )
            outcome = self.client.submit(
                _outcome_of,
                step,
                key=f"heron-outcome-{plan.node_id}-{plan.run_id}{suffix}",
                pure=False,
            )
            self._running[key] = (step, outcome)
        outcome.add_done_callback(lambda done: self._settle(task, key, step, done))

    def _settle(self, task: _Task, key: str, step: Any, done: Any) -> None:
        """On Dask's callback thread: resolve the task's result from the finished ``done``,
        keeping futures of the step's output objects for the steps that read them."""
        try:
            outcome, kept = done.result()
        except BaseException as e:
            with self._lock:
                self._running.pop(key, None)
            self._fail(task, e)
            return
        with self._lock:
            self._running.pop(key, None)
            if kept and not self._closed:
                for name, av in outcome.outputs.items():
                    # the step's own future: a reading step gets its outcome, objects and all,
                    # without a task of its own in between (each costs a scheduler round trip)
                    self._held[av.id] = (step, name)
        if not task.result.done():
            task.result.set_result(outcome)

    def _fail(self, task: _Task, error: BaseException) -> None:
        from concurrent.futures import CancelledError

        from distributed import KilledWorker
        from distributed.comm import CommClosedError

        result = task.result
        if result.done():
            return
        if isinstance(error, (KilledWorker, CommClosedError)) and not self._closed:
            # Tasks queued on a worker that died fail with it: a step that never started is
            # sent again, and one that ended (its outcome was lost) is read back from the store.
            try:
                run = recorded_run(task.plan)
            except Exception as e:  # cannot tell: do not risk running it twice
                log.warning("Step %s: could not read its run back (%s)", task.plan.node_id, e)
                run = False
            if run is None and task.attempt < MAX_RESENDS:
                task.attempt += 1
                log.info(
                    "Step %s: its Dask worker died before it started; sending it again",
                    task.plan.node_id,
                )
                self._send(task)
                return
            if run and recorded_end(run):
                with contextlib.suppress(Exception):
                    result.set_result(recorded_outcome(task.plan, run))
                    return
        if isinstance(error, StepLost):
            result.set_exception(WorkerLost(str(error)))
        elif isinstance(error, KilledWorker):
            worker = getattr(getattr(error, "last_worker", None), "address", None)
            result.set_exception(
                WorkerLost(f"Dask worker {worker or '(unknown)'} died while running it")
            )
        elif isinstance(error, CommClosedError):
            result.set_exception(WorkerLost(f"lost contact with the Dask worker ({error})"))
        elif isinstance(error, CancelledError):
            if self._closed:
                result.cancel()
            else:
                result.set_exception(
                    WorkerLost(f"the Dask scheduler at {self.address} dropped the task ({error})")
                )
        else:
            result.set_exception(error)

    def forget(self, artifact_ids: list[str]) -> None:
        """Release the objects of these outputs held on the cluster."""
        with self._lock:
            futures = [self._held.pop(i)[0] for i in artifact_ids if i in self._held]
        for future in futures:
            with contextlib.suppress(Exception):
                future.release()

    def shutdown(self, cancel: bool = False) -> None:
        """Release what is held on the cluster and close the client; with ``cancel``, stop
        the run's tasks (those running are interrupted and record themselves cancelled).
        A LocalCluster started here is kept for later runs, unless steps were still running
        when the run was cancelled."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = list(self._running.values())
            held = [future for future, _ in self._held.values()]
            self._running.clear()
            self._held.clear()
        if cancel and running:
            keys = [step.key for step, _ in running]
            with contextlib.suppress(Exception):
                self.client.run(_interrupt_steps, keys, on_error="ignore")
            with contextlib.suppress(Exception):
                self.client.cancel([f for pair in running for f in pair], force=True)
        for future in held:
            with contextlib.suppress(Exception):
                future.release()
        with contextlib.suppress(Exception):
            self.client.close()
        if self._settings is not None:
            _release_cluster(self._settings, close=cancel and bool(running))


__all__ = [
    "CONNECT_TIMEOUT",
    "DaskOrchestrator",
    "StepCancelled",
    "StepLost",
    "close_local_clusters",
]
