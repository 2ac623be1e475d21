"""The Ray orchestrator: steps run as tasks of a Ray cluster.

``RayOrchestrator(address="ray://head:10001")`` (or ``"head:6379"``, or ``"auto"``) sends
steps to an existing cluster; without an address it uses the Ray this process already
runs, else the cluster ``RAY_ADDRESS`` names, else it starts a local Ray bound to 127.0.0.1
(no dashboard). Starting Ray takes seconds, so it is done once per process: later runs
reuse it, and a Ray started here is shut down when the process exits.

Each step is one Ray task that calls the step executor on a worker, exactly as the local
worker processes do; the executor stores, hashes and records everything. Ray never runs a
step again (``max_retries=0``, which also rules out Ray recomputing a lost output by running
its step twice); the executor has its own retries. A step whose worker process or node died
fails with :class:`~heron.orchestrators.base.WorkerLost`.

The output objects of a step stay in Ray's object store (the orchestrator holds their
references until no later step reads them) and go to the steps that read them, so a large
array is not read back from the artifact store by the next step; only the outcome (ids and
hashes) comes back to the driver. The references travel inside the task's arguments and
are resolved by the task itself, once it has taken over this process's ``sys.path``: objects
of classes from modules only this process can import then load on the worker too.

**Resources.** ``@step(resources=...)`` maps to Ray's task resources: ``cpus`` to
``num_cpus`` (1 when not given), ``gpus`` (or ``GPU``) to ``num_gpus``, ``memory`` (bytes)
to ``memory``, and any other name to a custom resource (``ray start --resources``). A step
asking what no single node of the cluster offers is refused before the run starts: Ray would
wait for it forever. On an autoscaling cluster the check sees the nodes running when the
run starts.

On the driver's machine a worker takes over this process's environment variables (but for
Ray's own), working directory and ``sys.path`` for each step, as local worker processes do;
on other machines it tries the working directory and applies the settings registered with
:func:`heron.orchestrators.local.carry_to_workers`.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import re
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from typing import Any

from heron.core.errors import ConfigError, HeronError, InvalidArgument
from heron.core.resources import describe as describe_resources
from heron.execution.executor import recorded_outcome, recorded_run
from heron.execution.plan import StepOutcome, StepPlan
from heron.orchestrators.base import MAX_RESENDS, Orchestrator, WorkerLost, check_count
from heron.orchestrators.local import (
    _pickle_by_value_if_private,
    carried_settings,
    take_over_process,
    take_over_settings,
)

log = logging.getLogger("heron.orchestrators")

#: how long reaching a cluster's address may take (seconds): a TCP connection to it, then
#: (for a GCS address) a short-lived process checking that Ray answers there
CONNECT_TIMEOUT = 10.0
PROBE_TIMEOUT = 60.0

#: a step's resource -> the Ray resource it asks for
_RAY_NAMES = {"cpus": "CPU", "CPU": "CPU", "gpus": "GPU", "GPU": "GPU", "memory": "memory"}

#: environment variables a Ray worker keeps when it takes over the driver's: Ray's own, the
#: devices Ray assigned to the task (CUDA_VISIBLE_DEVICES, ...) and the thread limits it set
_WORKER_OWN = re.compile(
    r"^(RAY_|SPT_)|^PYTHONBREAKPOINT$|_NUM_THREADS$|_VISIBLE_|^ONEAPI_DEVICE_SELECTOR$"
)


# --- the Ray of this process: connected or started once, kept for later runs -------------

_ray_lock = threading.Lock()
#: the pid that started or connected Ray (a forked child cannot use its parent's), whether it
#: started it, and the address it connected to
_state: dict[str, Any] = {"pid": None, "started": False, "address": None}


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as e:
        raise ConfigError(
            f"The ray orchestrator needs the 'ray' package ({e}): pip install 'heron-ml[ray]'."
        ) from None
    return ray


def _connect(
    ray: Any, address: str | None, num_cpus: int | None, namespace: str | None, from_env: bool
) -> str | None:
    """Make sure this process is connected to Ray; the address it connected to (None for a
    local Ray). An address ``from_env`` (RAY_ADDRESS) does not count once Ray runs."""
    with _ray_lock:
        if ray.is_initialized():
            if from_env:
                address = None
            _check_reuse(ray, address, num_cpus, namespace)
            return _state["address"] if address is None else address
        if address is None:
            try:
                _start_local(ray, num_cpus, namespace)
            except Exception as e:
                raise ConfigError(
                    f"Could not start a local Ray: {type(e).__name__}: {e}. See Ray's logs "
                    "under /tmp/ray/session_latest/logs, or give the address of a running "
                    "cluster (`ray start --head`)."
                ) from e
            return None
        _check_reachable(address)
        try:
            ray.init(address=address, namespace=namespace)
        except (ConnectionError, ValueError, RuntimeError, TimeoutError) as e:
            raise ConfigError(
                f"Could not connect to the Ray cluster at {address!r}: {e}. Check that "
                "the cluster runs and that this machine reaches it (a client address "
                "'ray://head:10001' needs pip install 'ray[client]'), or leave the address "
                "out to run steps on a local Ray Heron starts."
            ) from None
        _state.update(pid=os.getpid(), started=False, address=address)
        return address


def _check_reuse(
    ray: Any, address: str | None, num_cpus: int | None, namespace: str | None
) -> None:
    if _state["pid"] not in (None, os.getpid()):
        raise ConfigError(
            "This process was forked from one connected to Ray, and cannot use that "
            "connection. Run pipelines on Ray from a process started afresh (not a fork), or "
            "call ray.shutdown() in it first."
        )
    context = ray.get_runtime_context()
    current = _state["address"] or _gcs_address(ray)
    if address not in (None, "auto", _state["address"], current):
        raise ConfigError(
            f"This process is already connected to the Ray cluster at {current}, so it "
            f"cannot connect to {address!r}: a process talks to one Ray cluster. Use that "
            "address, leave it out, or run the pipeline in another process."
        )
    if namespace is not None and namespace != context.namespace:
        raise ConfigError(
            f"This process is already connected to Ray in namespace {context.namespace!r}, "
            f"not {namespace!r}. Leave the namespace option out, or run the pipeline in "
            "another process."
        )
    if num_cpus is not None:
        cpus = ray.cluster_resources().get("CPU", 0)
        if cpus != num_cpus:
            raise ConfigError(
                f"This process already runs Ray with {cpus:g} CPUs, not num_cpus={num_cpus}: "
                "Ray is started once per process. Leave num_cpus out, or run the pipeline "
                "in another process."
            )


def _start_local(ray: Any, num_cpus: int | None, namespace: str | None) -> None:
    """Start a local Ray on 127.0.0.1 without a dashboard, shut down at exit."""
    try:
        import importlib

        constants: Any = importlib.import_module("ray._private.ray_constants")
    except ImportError:
        constants = None
    # Ray turns 127.0.0.1 into the machine's reachable address (and listens on every
    # interface) unless it thinks clusters are off: it is a private switch, so tolerate its
    # absence (Ray then picks the address itself).
    clusters = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if clusters is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            namespace=namespace,
            include_dashboard=False,
            log_to_driver=True,  # what steps print shows, as with local worker processes
            _node_ip_address="127.0.0.1",
        )
    finally:
        if clusters is not None:
            constants.ENABLE_RAY_CLUSTER = clusters
    _state.update(pid=os.getpid(), started=True, address=None)


def stop_local_ray() -> None:
    """Shut down the local Ray this process started (at exit, and in tests); a Ray started
    or connected by someone else is left alone."""
    with _ray_lock:
        if not _state["started"] or _state["pid"] != os.getpid():
            return
        _state.update(pid=None, started=False, address=None)
        ray = sys.modules.get("ray")
    if ray is not None:
        with contextlib.suppress(Exception):
            ray.shutdown()


atexit.register(stop_local_ray)


def _gcs_address(ray: Any) -> str:
    try:
        return str(ray.get_runtime_context().gcs_address)
    except Exception:  # a Ray client connection has no GCS address of its own
        return "(unknown)"


def _host_port(address: str) -> tuple[str, int] | None:
    """``host`` and ``port`` of ``host:port`` or ``ray://host:port`` (10001 by default)."""
    rest = address.split("://", 1)[1] if "://" in address else address
    rest = rest.split("/", 1)[0]
    host, sep, port = rest.rpartition(":")
    if not sep:
        return (rest, 10001) if address.startswith("ray://") else None
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        return None


def _check_reachable(address: str) -> None:
    """A ConfigError, within a bounded time, when nothing answers at ``address``: Ray itself
    waits for minutes, then ends this process, when its GCS cannot be reached."""
    target = address
    if address == "auto":
        target = _auto_address()
    where = _host_port(target)
    if where is None:
        raise ConfigError(
            f"The Ray address {address!r} is not of the form 'host:port' (the head's GCS, "
            "port 6379 by default), 'ray://host:10001' (Ray client) or 'auto'."
        )
    try:
        with socket.create_connection(where, timeout=CONNECT_TIMEOUT):
            pass
    except OSError as e:
        raise ConfigError(
            f"The Ray cluster at {address!r} could not be reached ({where[0]}:{where[1]}: "
            f"{e}). Check that its head node runs (`ray start --head`) and that this machine "
            "can reach that address and port, or leave the address out to run steps on a "
            "local Ray Heron starts."
        ) from None
    if not target.startswith("ray://"):
        _probe(address, target)


def _auto_address() -> str:
    """The GCS address ``auto`` stands for (RAY_ADDRESS, or the cluster started on this
    machine)."""
    try:
        from ray._private.services import canonicalize_bootstrap_address

        found = canonicalize_bootstrap_address("auto")
    except Exception:  # a private helper: let ray.init resolve it
        found = None
    if not found:
        raise ConfigError(
            "address='auto' found no running Ray cluster: none was started on this machine "
            "(`ray start --head`) and RAY_ADDRESS is not set. Give the cluster's address, "
            "or leave it out to run steps on a local Ray Heron starts."
        )
    return str(found)


_PROBE = (
    "import sys, ray; ray.init(address=sys.argv[1], log_to_driver=False); "
    "print('heron-ray-ok', flush=True); ray.shutdown()"
)


def _probe(address: str, target: str) -> None:
    """Check in a short-lived process that a Ray GCS answers at ``target`` (Ray ends the
    process that cannot reach its GCS)."""
    env = dict(os.environ)
    env.setdefault("RAY_gcs_rpc_server_connect_timeout_s", "3")
    env.setdefault("RAY_gcs_rpc_server_reconnect_timeout_s", "3")
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, target],
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        answered, detail = False, f"no answer within {PROBE_TIMEOUT:g} s"
    else:
        answered = "heron-ray-ok" in done.stdout
        detail = _probe_failure(done.stderr or "") or f"exit code {done.returncode}"
    if not answered:
        raise ConfigError(
            f"The Ray cluster at {address!r} could not be reached: something listens at "
            f"{target}, but connecting to Ray there failed ({detail[:400]}). Give the head "
            "node's GCS address (port 6379 by default; not the dashboard's 8265), or "
            "'ray://head:10001' for Ray client; a cluster with token authentication needs "
            "its token here (RAY_AUTH_MODE=token and ~/.ray/auth_token or RAY_AUTH_TOKEN)."
        )


def _probe_failure(stderr: str) -> str:
    """The telling line of a failed probe: Ray's own error (an invalid auth token), else the
    error Ray logged before ending the process, else the last error or line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    ray_errors = [line for line in lines if line.startswith("ray.exceptions.")]
    logged = [re.sub(r"^\[[^]]* E [^]]*\] ", "", line) for line in lines if " E " in line[:40]]
    errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)]
    found = ray_errors[:1] or logged[-1:] or errors[-1:] or lines[-1:]
    return found[0] if found else ""


# --- on the worker ------------------------------------------------------------------------


def _context(keep: tuple[str, ...], chdir: bool) -> bytes:
    """What a worker takes over from this process before each step (see :func:`_enter`);
    ``keep`` names the variables the task's runtime_env sets, which win, and ``chdir`` is
    false when its working_dir is where steps run."""
    import cloudpickle

    try:
        cwd: str | None = os.getcwd() if chdir else None
    except OSError:
        cwd = None
    # the settings apart: unpickling them may import modules only found on our sys.path
    settings = cloudpickle.dumps(carried_settings())
    return cloudpickle.dumps(
        (socket.gethostname(), list(sys.path), cwd, dict(os.environ), keep, settings)
    )


def _enter(context: bytes) -> None:
    """Take over the driver's settings, its working directory where it exists, and on the
    driver's machine its environment (but for Ray's variables) and ``sys.path`` entries."""
    import cloudpickle

    host, path, cwd, environment, keep, settings = cloudpickle.loads(context)
    if host == socket.gethostname():
        own = {k: v for k, v in os.environ.items() if _WORKER_OWN.search(k) or k in keep}
        wanted = {k: v for k, v in environment.items() if not _WORKER_OWN.search(k)}
        take_over_process(path, {**wanted, **own})
    if cwd:
        with contextlib.suppress(OSError):
            os.chdir(cwd)
    try:
        applied = cloudpickle.loads(settings)
    except Exception as e:  # a setting that cannot be taken over must not fail the step
        log.warning("A Ray worker could not take over the settings of its driver: %s", e)
        return
    take_over_settings(applied)


def _run_step(context: bytes, payload: bytes, ids: list[str], refs: list[Any]) -> Any:
    """The task of one step: run it with the executor on the objects of its inputs held in
    the object store (``refs``, of artifact versions ``ids``). Returns the outcome without
    its objects and whether they were kept, then the object of each output."""
    _enter(context)
    plan = _load_plan(payload)
    from heron.execution.executor import execute_step

    outcome = execute_step(plan, values=_fetch(ids, refs), keep_values=True)
    kept = outcome.values
    head = (dataclasses.replace(outcome, values=None), kept is not None)
    if not plan.outputs:
        return head
    return (head, *[(kept or {}).get(name) for name in plan.outputs])


def _fetch(ids: list[str], refs: list[Any]) -> dict[str, Any]:
    """The objects of ``refs``; one that cannot be had (its node died) is left out, and the
    executor then reads it from the artifact store."""
    if not refs:
        return {}
    import ray

    try:
        return dict(zip(ids, ray.get(refs)))
    except Exception:
        values = {}
        for artifact_id, ref in zip(ids, refs):
            try:
                values[artifact_id] = ray.get(ref)
            except Exception as e:
                log.warning("Output %s is read from storage: Ray lost its object (%s)", ref, e)
        return values


def _load_plan(payload: bytes) -> StepPlan:
    import cloudpickle

    try:
        return cloudpickle.loads(payload)
    except Exception as e:
        raise ConfigError(
            f"A Ray worker ({socket.gethostname()}) could not load a step: "
            f"{type(e).__name__}: {e}. Workers need heron-ml (the driver's version) and the "
            "modules the step's code imports: install them on the nodes (or give the "
            "orchestrator a runtime_env, such as {'pip': [...], 'working_dir': '.'}), or "
            "define the pipeline in a file run with `heron run` (its code is sent by value)."
        ) from e


# --- on the driver ------------------------------------------------------------------------

_remote_lock = threading.Lock()
_remote: list[Any] = []


def _remote_function(ray: Any) -> Any:
    with _remote_lock:
        if not _remote:
            # No Ray retries, ever: the executor retries a failing step, and a step whose
            # worker died must fail, not run (and be recorded) a second time.
            _remote.append(ray.remote(max_retries=0, retry_exceptions=False)(_run_step))
        return _remote[0]


@dataclasses.dataclass
class _Task:
    """A step sent to Ray: what it is sent with, the references it returned, its future."""

    plan: StepPlan
    options: dict[str, Any]
    args: tuple[Any, ...]  # context, plan, input artifact ids, their objects' references
    result: Future[StepOutcome]
    refs: list[Any] = dataclasses.field(default_factory=list)
    attempt: int = 0


class RayOrchestrator(Orchestrator):
    """Runs steps as Ray tasks: on the cluster at ``address`` (``"ray://head:10001"``,
    ``"head:6379"``, ``"auto"``), or on a local Ray of ``num_cpus`` CPUs started once per
    process. ``parallelism`` (how many steps run at once) defaults to the cluster's CPUs;
    ``namespace`` is Ray's, and ``runtime_env`` (``{"pip": [...], "env_vars": {...}}``)
    applies to every step's task."""

    name = "ray"
    in_process = False

    def __init__(
        self,
        address: str | None = None,
        parallelism: int | None = None,
        num_cpus: int | None = None,
        namespace: str | None = None,
        runtime_env: dict[str, Any] | None = None,
    ) -> None:
        check_count("Ray orchestrator", "parallelism", parallelism)
        check_count("Ray orchestrator", "num_cpus", num_cpus)
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise InvalidArgument(
                f"Ray orchestrator: address is text such as 'ray://head:10001', 'head:6379' "
                f"or 'auto', not {address!r}."
            )
        if namespace is not None and not isinstance(namespace, str):
            raise InvalidArgument(f"Ray orchestrator: namespace is text, not {namespace!r}.")
        if runtime_env is not None and not isinstance(runtime_env, dict):
            raise InvalidArgument(
                "Ray orchestrator: runtime_env is a mapping such as {'env_vars': {...}, "
                f"'pip': [...]}}, not {type(runtime_env).__name__}."
            )
        from_env = False
        if address in (None, "local"):
            from_env = address is None and bool(os.environ.get("RAY_ADDRESS"))
            address = os.environ.get("RAY_ADDRESS") if from_env else None
        if address is not None and num_cpus is not None:
            raise InvalidArgument(
                "Ray orchestrator: num_cpus sets up the local Ray Heron starts without an "
                f"address; the cluster at {address!r} has its own nodes. Drop num_cpus, or "
                "the address."
            )
        self._ray = ray = _import_ray()
        self.address = _connect(ray, address, num_cpus, namespace, from_env)
        self.runtime_env = dict(runtime_env) if runtime_env else None
        self._keep = tuple(((runtime_env or {}).get("env_vars") or {}).keys())
        self._lock = threading.Lock()
        self._held: dict[str, Any] = {}  # artifact id -> ObjectRef of that output's object
        self._running: dict[str, _Task] = {}  # step run id -> its task
        self._options: dict[tuple, dict[str, Any]] = {}
        self._nodes: list[dict[str, float]] | None = None
        self._closed = False
        cpus = int(ray.cluster_resources().get("CPU", 0))
        self.parallelism = parallelism or max(1, cpus)

    def describe(self) -> dict[str, str]:
        """Name, parallelism, and the address of the cluster (for a local Ray, its GCS on
        127.0.0.1)."""
        return {
            **super().describe(),
            "address": self.address or _gcs_address(self._ray),
            "nodes": str(len(self._alive_nodes())),
        }

    # --- resources ------------------------------------------------------------------------

    def _alive_nodes(self) -> list[dict[str, float]]:
        if self._nodes is None:
            self._nodes = [
                dict(node.get("Resources") or {})
                for node in self._ray.nodes()
                if node.get("Alive", node.get("alive"))
            ]
        return self._nodes

    def check_resources(self, node_id: str, resources: dict[str, float]) -> None:
        """Refuse (:class:`InvalidArgument`) what no single node of the cluster offers, or
        what Ray would not accept as a task's resources."""
        self._task_options(node_id, resources)

    def _task_options(self, node_id: str, resources: dict[str, float]) -> dict[str, Any]:
        """The ``.options()`` of a step's task (checked once per distinct request)."""
        key = tuple(sorted(resources.items()))
        if key in self._options:
            return self._options[key]
        demand: dict[str, float] = {"CPU": 1.0}
        seen: dict[str, str] = {}
        for name, amount in resources.items():
            ray_name = _RAY_NAMES.get(name, name)
            if ray_name in seen:
                raise InvalidArgument(
                    f"Step {node_id!r} asks for {ray_name} twice ({seen[ray_name]!r} and "
                    f"{name!r}); keep one of them in @step(resources=...)."
                )
            seen[ray_name] = name
            demand[ray_name] = amount
        options: dict[str, Any] = {"num_cpus": demand["CPU"]}
        if "GPU" in demand:
            options["num_gpus"] = demand["GPU"]
        if "memory" in demand:
            options["memory"] = int(demand["memory"])
        custom = {k: v for k, v in demand.items() if k not in ("CPU", "GPU", "memory")}
        if custom:
            options["resources"] = custom
        try:
            _remote_function(self._ray).options(**options)
        except (ValueError, TypeError) as e:
            raise InvalidArgument(
                f"Step {node_id!r} asks for {describe_resources(resources)}, which Ray does "
                f"not accept: {e}. Change the step's @step(resources=...)."
            ) from None
        self._check_feasible(node_id, resources, {k: v for k, v in demand.items() if v > 0})
        self._options[key] = options
        return options

    def _check_feasible(
        self, node_id: str, resources: dict[str, float], demand: dict[str, float]
    ) -> None:
        nodes = self._alive_nodes()
        if not nodes:
            log.warning("The Ray cluster reports no live node: step %r is not checked.", node_id)
            return
        if any(all(node.get(k, 0.0) >= v for k, v in demand.items()) for node in nodes):
            return
        best = {k: max(node.get(k, 0.0) for node in nodes) for k in demand}
        short = [k for k, v in demand.items() if v > best[k]]
        if short:
            what = ", ".join(
                f"{_shown(k, demand[k])} but the largest node offers {_shown(k, best[k])}"
                for k in short
            )
        else:
            what = "each of them, but no single node offers all of them together"
        if any(k in ("CPU", "memory") for k in short):
            fix = "start larger nodes (`ray start --num-cpus=N --memory=BYTES`)"
        else:
            fix = (
                "add nodes that have it (`ray start --num-gpus=1`, or `ray start "
                "--resources='{\"NAME\": 1}'` for a custom resource)"
            )
        raise InvalidArgument(
            f"Step {node_id!r} asks for {describe_resources(resources)} (Ray: "
            f"{', '.join(_shown(k, v) for k, v in demand.items())}): {what}, so it could "
            f"never run on the Ray cluster at {self.describe()['address']} ({len(nodes)} "
            f"node(s); the largest offer {self._offer()}). To fix: {fix}, or change the "
            "step's @step(resources=...)."
        )

    def _offer(self) -> str:
        largest: dict[str, float] = {}
        for node in self._alive_nodes():
            for name, amount in node.items():
                if name.startswith("node:") or name == "object_store_memory":
                    continue
                largest[name] = max(largest.get(name, 0.0), float(amount))
        return ", ".join(_shown(k, v) for k, v in sorted(largest.items())) or "nothing"

    # --- running steps ----------------------------------------------------------------------

    def submit(self, plan: StepPlan, values: dict[str, Any]) -> Future[StepOutcome]:
        """Start the step's task; the objects of its inputs held in the object store go
        with it (``values`` is not used: the driver holds no objects)."""
        import cloudpickle

        options = dict(self._task_options(plan.node_id, plan.resources))
        options.update(num_returns=1 + len(plan.outputs), name=f"heron.step:{plan.node_id}")
        if self.runtime_env:
            options["runtime_env"] = self.runtime_env
        _pickle_by_value_if_private(plan.function)
        payload = cloudpickle.dumps(plan)
        with self._lock:
            ids = [i for i in dict.fromkeys(plan.input_artifact_ids()) if i in self._held]
            refs = [self._held[i] for i in ids]
        chdir = "working_dir" not in (self.runtime_env or {})
        args = (_context(self._keep, chdir), payload, ids, refs)
        task = _Task(plan, options, args, Future())
        self._send(task)
        return task.result

    def _send(self, task: _Task) -> None:
        with self._lock:
            if self._closed:
                task.result.cancel()
                return
            returned = _remote_function(self._ray).options(**task.options).remote(*task.args)
            task.refs = list(returned) if isinstance(returned, (list, tuple)) else [returned]
            self._running[task.plan.run_id] = task
        task.refs[0].future().add_done_callback(lambda done: self._settle(task, done))

    def _settle(self, task: _Task, done: Future[Any]) -> None:
        """On Ray's callback thread: resolve the step's future from its finished task,
        keeping the references of its output objects for the steps that read them."""
        try:
            outcome, kept = done.result()
        except BaseException as e:
            self._fail(task, e)
            return
        with self._lock:
            self._running.pop(task.plan.run_id, None)
            if kept and not self._closed:
                for name, ref in zip(task.plan.outputs, task.refs[1:]):
                    if name in outcome.outputs:
                        self._held[outcome.outputs[name].id] = ref
        task.refs, task.args = [], ()
        if not task.result.done():
            task.result.set_result(outcome)

    def _fail(self, task: _Task, error: BaseException) -> None:
        from ray import exceptions as rx

        for ref in task.refs[1:]:  # read each output's error too: Ray logs errors nobody
            with contextlib.suppress(Exception):  # read as unhandled
                ref.future().add_done_callback(_read_error)
        task.refs, args, task.args = [], task.args, ()
        with self._lock:
            self._running.pop(task.plan.run_id, None)
            closed = self._closed
        result = task.result
        if result.done():
            return
        if closed:  # the run was cancelled: nobody waits for this step any more
            result.cancel()
            return
        # Whatever went wrong, a step that recorded its end did end (its worker died, or
        # the node holding its outcome, or Ray could not store its objects): its outcome is
        # read back from the store. A step that never started is sent again if its worker
        # died; one that started and did not end failed with its worker.
        try:
            run = recorded_run(task.plan)
            recorded = recorded_outcome(task.plan, run) if run is not None else None
        except Exception as e:  # cannot tell: do not risk running it twice
            log.warning("Step %s: could not read its run back (%s)", task.plan.node_id, e)
            run, recorded = False, None
        if recorded is not None:
            log.warning(
                "Step %s ended, but Ray lost its result (%s: %s); read back from the store",
                task.plan.node_id,
                type(error).__name__,
                (str(error).strip().splitlines() or [""])[0][:300],
            )
            result.set_result(recorded)
            return
        lost = (
            rx.WorkerCrashedError,
            rx.NodeDiedError,
            rx.LocalRayletDiedError,
            rx.ObjectLostError,  # OwnerDiedError, ObjectReconstructionFailedError, ...
            rx.OutOfMemoryError,
        )
        if isinstance(error, lost):
            if run is None and task.attempt < MAX_RESENDS:
                task.attempt, task.args = task.attempt + 1, args
                log.info(
                    "Step %s: its Ray worker died before it started; sending it again",
                    task.plan.node_id,
                )
                self._send(task)
                return
            reason = (str(error).strip().splitlines() or [""])[0]
            result.set_exception(WorkerLost(f"{type(error).__name__} from Ray: {reason}"[:1000]))
        elif isinstance(error, rx.TaskCancelledError):
            result.set_exception(WorkerLost(f"Ray cancelled the step's task ({error})"))
        elif isinstance(error, rx.RuntimeEnvSetupError):
            result.set_exception(
                ConfigError(
                    f"Ray could not set up the runtime_env of step {task.plan.node_id!r}: "
                    f"{error}. Fix the orchestrator's runtime_env option."
                )
            )
        elif isinstance(error, rx.RayTaskError) and isinstance(error.cause, HeronError):
            result.set_exception(error.cause)  # ours, raised in the task: shown as it is
        else:
            result.set_exception(error)

    def forget(self, artifact_ids: list[str]) -> None:
        """Release the objects of these outputs held in the object store."""
        with self._lock:
            for artifact_id in artifact_ids:
                self._held.pop(artifact_id, None)

    def shutdown(self, cancel: bool = False) -> None:
        """Release the objects held in the object store; with ``cancel``, stop the run's
        tasks on the cluster (their worker processes are ended). Ray itself stays up for
        later runs of this process."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = list(self._running.values())
            self._running.clear()
            self._held.clear()
        for task in running:
            if cancel and task.refs:
                with contextlib.suppress(Exception):
                    self._ray.cancel(task.refs[0], force=True)
            task.result.cancel()


def _read_error(done: Future[Any]) -> None:
    done.exception()


def _shown(name: str, amount: float) -> str:
    if name == "memory":
        return f"memory={amount / 1e9:.1f}GB"
    return f"{name}={amount:g}"


__all__ = ["CONNECT_TIMEOUT", "MAX_RESENDS", "PROBE_TIMEOUT", "RayOrchestrator", "stop_local_ray"]
