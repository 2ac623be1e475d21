"""The step executor: runs one step, the same way whichever orchestrator calls it.

One lifecycle: resolve inputs, compute the cache key, reuse an earlier identical execution or
run the function (with retries, back-off and a timeout, its output captured and the step's run
active so ``heron.log_metric`` logs to it), store the outputs as artifact versions, link inputs
and outputs, and end the step's run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
import traceback
from types import TracebackType
from typing import Any

from heron.artifacts.store import ArtifactStore, open_artifact_store
from heron.core import status as run_status
from heron.core import validation
from heron.core.entities import INPUT, OUTPUT, ArtifactVersion, Run
from heron.core.errors import HeronError, InvalidArgument, NotFound
from heron.execution.cache_key import cache_key
from heron.execution.capture import captured_output
from heron.execution.plan import StepOutcome, StepPlan
from heron.store.active_run import ActiveRun, activate, run_stack
from heron.store.base import LOGS_TAG, Store
from heron.store.registry import get_store

log = logging.getLogger("heron.execution")

CACHED_FROM_TAG = "heron.cached_from"
ATTEMPTS_TAG = "heron.attempts"


class StepTimeout(HeronError):
    """A step ran longer than its ``timeout``."""

    code = "STEP_TIMEOUT"


class StepExited(HeronError):
    """A step function called ``sys.exit()`` (or raised ``SystemExit``): the step fails."""

    code = "STEP_EXITED"


def execute_step(
    plan: StepPlan,
    store: Store | None = None,
    values: dict[str, Any] | None = None,
    keep_values: bool = False,
) -> StepOutcome:
    """Run the step ``plan`` describes and record it; never raises for a failing step.

    ``values`` maps artifact version ids to objects already in memory (from upstream steps
    run in this process), which then need not be loaded. With ``keep_values`` the outcome
    carries the output objects for the same purpose.
    """
    store = store or get_store(plan.tracking_uri)
    if plan.project and store.project != plan.project:
        store = store.in_project(plan.project)
    blobs = open_artifact_store(plan.artifact_uri)
    key = cache_key(plan.definition_hash, plan.params, plan.inputs)
    input_links = _input_links(plan)

    if plan.cache:
        reused = _reuse(plan, store, blobs, key)
        if reused is not None:
            return reused

    run = _create_step_run(plan, store, key)
    active = activate(run, store)
    try:
        if plan.params:
            active.buffer.add_params(run.id, {k: param_text(v) for k, v in plan.params.items()})
        arguments = dict(plan.params)
        arguments.update(_load_inputs(plan, values or {}))
        result, logs = _call_with_retries(plan, arguments, active)
        outputs = _split_outputs(plan, result)
        stored = {
            name: _store_output(plan, store, blobs, run.id, name, value)
            for name, value in outputs.items()
        }
    except BaseException as e:
        interrupted = isinstance(e, KeyboardInterrupt)
        status = run_status.CANCELLED if interrupted else run_status.FAILED
        reason, trace = describe_step_error(plan, e)
        logs = getattr(e, "heron_logs", None) or ""
        if not interrupted:  # the logs read as a terminal would show them: output, traceback
            logs += ("\n" if logs and not logs.endswith("\n") else "") + trace
        _store_logs(blobs, active, logs)
        active.end(status, reason, input_links)
        if interrupted:
            raise
        return StepOutcome(run.id, plan.node_id, status, error=reason)
    _store_logs(blobs, active, logs)
    active.end(run_status.COMPLETED, None, input_links)
    return StepOutcome(
        run.id,
        plan.node_id,
        run_status.COMPLETED,
        outputs=stored,
        values=outputs if keep_values else None,
    )


_EXECUTION_DIR = os.path.dirname(os.path.abspath(__file__))


def describe_step_error(plan: StepPlan, error: BaseException) -> tuple[str, str]:
    """How a failed step run stores its error: the status reason (``Type: message`` and the
    traceback) and the traceback alone (appended to the step's logs).

    The traceback starts at the step function's frame (the executor's own frames above it
    are noise to the user), unless the error arose in the executor itself (then its frames
    say where).
    """
    original = error.__traceback__
    tb = original
    while tb is not None and _in_executor(tb):
        tb = tb.tb_next
    if tb is None:
        tb = original  # no user frame: an executor error, shown whole
    shown = error
    if isinstance(error, SystemExit):  # `sys.exit()` in a step is not a success
        shown = StepExited(
            f"The step called sys.exit({error.code!r}); a step that exits fails. Return the "
            "step's value, or raise an exception to fail it."
        )
        shown.__context__ = error.__context__
    try:
        shown.__traceback__ = tb
        report = traceback.TracebackException.from_exception(shown)
    finally:
        error.__traceback__ = original  # it may be re-raised (KeyboardInterrupt)
    if plan.source_file:
        _name_dynamic_code(report, plan.source_file)
    trace = "".join(report.format())
    return describe_error_text(shown, trace), trace


#: the file name cloudpickle gives the code of functions it sends by value
_DYNAMIC_CODE = "<dynamic-code>"


def _name_dynamic_code(report: traceback.TracebackException, source_file: str) -> None:
    """Frames of functions that reached this worker by value (the steps of a file ``heron
    run`` loaded) lost their file name: give them the step's file, and its source lines."""
    seen: set[int] = set()
    pending = [report]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        for frame in current.stack:
            if frame.filename == _DYNAMIC_CODE:
                frame.filename = source_file
                for cached in ("_line", "_lines", "_lines_dedented"):  # read again from the file
                    if hasattr(frame, cached):
                        setattr(frame, cached, None)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]
        pending += list(getattr(current, "exceptions", None) or [])


def describe_error_text(error: BaseException, trace: str) -> str:
    """The stored status reason of ``error`` (as :func:`describe_error` writes it) around an
    already formatted ``trace``."""
    return validation.storable_text(f"{type(error).__name__}: {error}\n\n{trace}") or ""


def _in_executor(tb: TracebackType) -> bool:
    filename = tb.tb_frame.f_code.co_filename
    return os.path.dirname(os.path.abspath(filename)) == _EXECUTION_DIR


def _input_links(plan: StepPlan) -> list[tuple[str, str, str]]:
    links = []
    for arg, value in plan.inputs.items():
        if isinstance(value, list):
            links += [(av.id, INPUT, f"{arg}[{i}]") for i, av in enumerate(value)]
        else:
            links.append((value.id, INPUT, arg))
    return links


def _create_step_run(plan: StepPlan, store: Store, cache_key: str | None, **fields: Any) -> Run:
    """The step's run, under the id the plan chose, as a child of the pipeline run."""
    return store.create_run(
        plan.experiment_id,
        run_id=plan.run_id,
        name=plan.node_id,
        kind="step",
        parent_id=plan.pipeline_run_id,
        cache_key=cache_key,
        **fields,
    )


def _reuse(
    plan: StepPlan,
    store: Store,
    blobs: ArtifactStore,
    key: str,
) -> StepOutcome | None:
    """Record a cached step run linked to an earlier identical execution's outputs."""
    earlier = store.find_cached_run(key)
    if earlier is None:
        return None
    outputs = _reusable_outputs(plan, store, blobs, earlier)
    if outputs is None:
        return None
    return record_reuse(
        plan,
        store,
        outputs,
        cache_key=key,
        tags={CACHED_FROM_TAG: earlier.tags.get(CACHED_FROM_TAG, earlier.id)},
    )


def record_reuse(
    plan: StepPlan,
    store: Store,
    outputs: dict[str, ArtifactVersion],
    cache_key: str | None = None,
    tags: dict[str, str] | None = None,
) -> StepOutcome:
    """Record ``plan``'s step as ``cached``: a step run linked to its inputs and to the
    existing ``outputs`` (from an identical earlier execution, or a resumed run)."""
    run = _create_step_run(plan, store, cache_key, status=run_status.PENDING, tags=tags)
    outputs = dict(outputs)
    links = _input_links(plan)
    for name, av in outputs.items():
        wanted = plan.artifact_name(name)
        if av.name == wanted:
            links.append((av.id, OUTPUT, name))
            continue
        # Reused from a step under another name (the same step called twice, or renamed):
        # the value is also recorded under this step's name, pointing at the same bytes.
        outputs[name] = store.create_artifact_version(
            wanted,
            content_hash=av.content_hash,
            type=av.type,
            materializer=av.materializer,
            materializer_version=av.materializer_version,
            size=av.size,
            uri=av.uri,
            producer_run_id=run.id,
            metadata=av.metadata,
            link_name=name,
        )
    store.log_batch(
        run.id,
        params={k: param_text(v) for k, v in plan.params.items()},
        status=run_status.CACHED,
        links=links,
    )
    return StepOutcome(run.id, plan.node_id, run_status.CACHED, outputs=outputs)


def _reusable_outputs(
    plan: StepPlan, store: Store, blobs: ArtifactStore, earlier: Run
) -> dict[str, ArtifactVersion] | None:
    from heron.artifacts.materializers import get_materializer

    by_name = {
        link.name: link.artifact_id
        for link in store.list_artifact_links(run_id=earlier.id)
        if link.direction == OUTPUT
    }
    outputs = {}
    for name in plan.outputs:
        if name not in by_name:
            return None
        av = store.get_artifact_version(by_name[name])
        try:
            current = get_materializer(av.materializer).version
        except HeronError:
            return None
        # bytes deleted (gc) or written by an older materializer format: run again
        if current != av.materializer_version or not blobs.exists(av.content_hash):
            return None
        outputs[name] = av
    return outputs


def _load_inputs(plan: StepPlan, values: dict[str, Any]) -> dict[str, Any]:
    def load(av: ArtifactVersion) -> Any:
        if av.id in values:
            return values[av.id]
        return av.load()

    return {
        arg: [load(v) for v in value] if isinstance(value, list) else load(value)
        for arg, value in plan.inputs.items()
    }


def _call_with_retries(plan: StepPlan, arguments: dict[str, Any], active: Any) -> Any:
    delay = plan.retry_delay
    attempt = 0
    all_logs: list[str] = []
    while True:
        attempt += 1
        try:
            with captured_output() as logs:
                try:
                    result = _call(plan, arguments, active)
                finally:
                    all_logs.extend(logs)
            if attempt > 1:
                active.buffer.add_tags(active.id, {ATTEMPTS_TAG: str(attempt)})
            return result, "".join(all_logs)
        except BaseException as e:
            # KeyboardInterrupt, SystemExit (`sys.exit()` in the step): not retried
            if attempt > plan.retries or not isinstance(e, Exception):
                e.heron_logs = "".join(all_logs)  # type: ignore[attr-defined]
                active.buffer.add_tags(active.id, {ATTEMPTS_TAG: str(attempt)})
                raise
            all_logs.append(
                f"\n[heron] attempt {attempt} failed: {type(e).__name__}: {e}; "
                f"retrying in {delay:g} s\n"
            )
            log.warning("Step %s: attempt %d failed (%s); retrying", plan.node_id, attempt, e)
            time.sleep(delay)
            delay *= plan.backoff


def _call(plan: StepPlan, arguments: dict[str, Any], active: Any) -> Any:
    if plan.timeout is None:
        return plan.function(**arguments)
    # SIGALRM interrupts the step itself, but only in the main thread, and only when nobody
    # else (the caller, pytest-timeout) has an alarm set that ours would replace.
    if (
        hasattr(signal, "SIGALRM")
        and threading.current_thread() is threading.main_thread()
        and signal.getitimer(signal.ITIMER_REAL)[0] == 0
    ):
        return _call_with_alarm(plan, arguments)
    return _call_in_thread(plan, arguments, active)


def _timeout_error(plan: StepPlan) -> StepTimeout:
    return StepTimeout(
        f"Step {plan.node_id!r} ran longer than its timeout of {plan.timeout:g} s and was "
        "stopped. Raise the timeout (@step(timeout=...)) or make the step faster."
    )


def _call_with_alarm(plan: StepPlan, arguments: dict[str, Any]) -> Any:
    def on_alarm(_signum: int, _frame: Any) -> None:
        raise _timeout_error(plan)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, plan.timeout)
    try:
        return plan.function(**arguments)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _call_in_thread(plan: StepPlan, arguments: dict[str, Any], active: Any) -> Any:
    box: dict[str, Any] = {}

    def target() -> None:
        stack = run_stack()
        stack.append(active)  # heron.log_metric in the step logs to the step's run
        try:
            box["result"] = plan.function(**arguments)
        except BaseException as e:
            box["error"] = e
        finally:
            if active in stack:
                stack.remove(active)

    worker = threading.Thread(target=target, name=f"heron-step-{plan.node_id}", daemon=True)
    worker.start()
    worker.join(plan.timeout)
    if worker.is_alive():
        log.warning("Step %s timed out; its thread cannot be stopped and is left", plan.node_id)
        raise _timeout_error(plan)
    if "error" in box:
        raise box["error"]
    return box["result"]


def _split_outputs(plan: StepPlan, result: Any) -> dict[str, Any]:
    if len(plan.outputs) == 1:
        return {plan.outputs[0]: result}
    if not isinstance(result, (tuple, list)) or len(result) != len(plan.outputs):
        got = f"{len(result)} values" if isinstance(result, (tuple, list)) else "one value"
        raise InvalidArgument(
            f"Step {plan.node_id!r} declares {len(plan.outputs)} outputs {list(plan.outputs)} "
            f"but returned {got}; return a tuple with one value per output."
        )
    return dict(zip(plan.outputs, result))


def _store_output(
    plan: StepPlan, store: Store, blobs: ArtifactStore, run_id: str, name: str, value: Any
) -> ArtifactVersion:
    from heron.artifacts.materializers import get_materializer, materializer_for

    artifact_name = validation.check_artifact_name(plan.artifact_name(name))  # before bytes
    chosen = plan.materializers.get(name)
    materializer = get_materializer(chosen) if chosen else materializer_for(value)
    stored, metadata = blobs.write_object(lambda fs, path: materializer.save(value, fs, path))
    return store.create_artifact_version(
        artifact_name,
        content_hash=stored.content_hash,
        type=materializer.type_name(value),
        materializer=materializer.name,
        materializer_version=materializer.version,
        size=stored.size,
        uri=stored.uri,
        producer_run_id=run_id,
        metadata=metadata or {},
        link_name=name,
    )


def _store_logs(blobs: ArtifactStore, active: ActiveRun, logs: str | None) -> None:
    """Store what the step printed and point the run's logs tag at it."""
    if logs:
        uri = blobs.put_bytes(logs.encode("utf-8", "backslashreplace")).uri
        active.buffer.add_tags(active.id, {LOGS_TAG: uri})


def param_text(value: Any) -> str:
    """A step parameter as the run param stored: strings as they are, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, allow_nan=True)


def recorded_run(plan: StepPlan) -> Any:
    """The step's run as recorded in its store; ``None`` when it never started. An engine
    that lost a step's worker asks this before sending the step again (never run twice)."""
    try:
        return get_store(plan.tracking_uri).get_run(plan.run_id)
    except NotFound:
        return None


def recorded_end(run: Any) -> bool:
    """Whether the step's run recorded its end (not failed by the store for a lost
    heartbeat, which says nothing of how the step itself ended)."""
    ended = (run_status.COMPLETED, run_status.CACHED, run_status.FAILED, run_status.CANCELLED)
    return run.status in ended and not (run.status_reason or "").startswith(
        run_status.HEARTBEAT_LOST
    )


def recorded_outcome(plan: StepPlan, run: Any) -> StepOutcome | None:
    """The outcome of a step whose run recorded its end, read back from the store (without
    objects); ``None`` if it did not record one."""
    if not recorded_end(run):
        return None
    store = get_store(plan.tracking_uri)
    outputs = {}
    if run.status in (run_status.COMPLETED, run_status.CACHED):
        outputs = {
            link.name: store.get_artifact_version(link.artifact_id)
            for link in store.list_artifact_links(run_id=run.id)
            if link.direction == OUTPUT
        }
    error = run.status_reason if run.status in (run_status.FAILED, run_status.CANCELLED) else None
    return StepOutcome(run.id, plan.node_id, run.status, outputs=outputs, error=error)
