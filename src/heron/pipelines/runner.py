"""Running a traced pipeline: record the pipeline run, schedule ready steps on an
orchestrator, skip what depends on a failure, and end the run with its status."""

from __future__ import annotations

import heapq
import json
import logging
from concurrent.futures import FIRST_COMPLETED, Future, wait
from typing import Any

from heron.core import config
from heron.core import status as run_status
from heron.core.entities import ArtifactVersion
from heron.core.ids import new_id
from heron.execution.plan import StepOutcome, StepPlan
from heron.orchestrators import make_orchestrator
from heron.orchestrators.base import Orchestrator, WorkerLost
from heron.pipelines.result import PipelineRun, StepRun
from heron.pipelines.trace import Node, Trace
from heron.store.active_run import activate
from heron.store.base import Store

log = logging.getLogger("heron.pipelines")

PIPELINE_TAG = "heron.pipeline"
SOURCE_TAG = "heron.pipeline.source"
PARAMS_TAG = "heron.pipeline.params"
RESUMED_FROM_TAG = "heron.resumed_from"
#: ``heron.orchestrator.name``, ``.parallelism``, and what the engine adds (its address)
ORCHESTRATOR_TAG = "heron.orchestrator"


def run_trace(
    trace: Trace,
    *,
    store: Store,
    experiment_id: str,
    run_name: str | None,
    params: dict[str, Any],
    tags: dict[str, str],
    cache: bool,
    orchestrator: str | None,
    parallelism: int | None,
    on_event: Any = None,
    reuse: dict[str, dict[str, ArtifactVersion]] | None = None,
    run_id: str | None = None,
    inputs: dict[str, str] | None = None,
    orchestrator_options: dict[str, Any] | None = None,
) -> PipelineRun:
    """Execute ``trace`` and return the finished :class:`PipelineRun` (stored under
    ``run_id`` if given; ``inputs`` maps link names to the artifact version ids the run
    consumes as a whole, e.g. the versions that triggered a scheduled run)."""
    nodes = trace.order()
    engine = make_orchestrator(orchestrator or "local", parallelism, **(orchestrator_options or {}))
    try:
        for node in nodes:
            engine.check_resources(node.id, node.step.resources)
    except BaseException:
        engine.shutdown(cancel=True)
        raise
    tags = {**tags, **{f"{ORCHESTRATOR_TAG}.{k}": v for k, v in engine.describe().items()}}
    if orchestrator_options:  # what it was given, so that a resumed run runs where it ran
        tags[f"{ORCHESTRATOR_TAG}.options"] = json.dumps(orchestrator_options, sort_keys=True)
    version_id = trace.version_hash()
    store.create_pipeline_version(version_id, trace.pipeline_name, trace.structure())
    run = store.create_run(
        experiment_id,
        name=run_name,
        kind="pipeline",
        pipeline_version_id=version_id,
        tags={PIPELINE_TAG: trace.pipeline_name, **tags},
        run_id=run_id,
    )
    for link_name, artifact_id in (inputs or {}).items():
        store.link_artifact(run.id, artifact_id, "input", link_name)
    active = activate(run, store)
    if params:
        from heron.execution.executor import param_text

        active.buffer.add_params(run.id, {k: param_text(v) for k, v in params.items()})
    scheduler = _Scheduler(nodes, store, run.id, experiment_id, cache, on_event, reuse or {})
    try:
        scheduler.run(engine)
    except BaseException as e:
        engine.shutdown(cancel=True)
        scheduler.abandon("cancelled" if isinstance(e, KeyboardInterrupt) else "failed")
        active.end_with(e)
        raise
    engine.shutdown()
    failed = [n for n, s in scheduler.steps.items() if s.status == run_status.FAILED]
    if failed:
        reason = f"Step(s) failed: {', '.join(failed)}."
        first = scheduler.steps[failed[0]].error
        if first:
            reason += f"\n\n{failed[0]}: {first}"
        active.end(run_status.FAILED, reason)
        status = run_status.FAILED
    else:
        reason = None
        active.end(run_status.COMPLETED)
        status = run_status.COMPLETED
    return PipelineRun(run.id, trace.pipeline_name, status, scheduler.steps, store, reason)


def _source_file(function: Any) -> str:
    code = getattr(function, "__code__", None)
    return code.co_filename if code is not None else ""


class _Scheduler:
    """Keeps the DAG moving: submits each step once all it waits for succeeded."""

    def __init__(
        self,
        nodes: list[Node],
        store: Store,
        pipeline_run_id: str,
        experiment_id: str,
        cache: bool,
        on_event: Any,
        reuse: dict[str, dict[str, ArtifactVersion]],
    ) -> None:
        self.reuse = reuse
        self.nodes = {n.id: n for n in nodes}
        self.order = [n.id for n in nodes]
        self.store = store
        self.pipeline_run_id = pipeline_run_id
        self.experiment_id = experiment_id
        self.cache = cache
        self.on_event = on_event or (lambda *_: None)
        self.tracking_uri = store.uri
        self.artifact_uri = config.get_artifact_uri(store.uri)
        self.project = store.project
        self.steps: dict[str, StepRun] = {}
        self.outcomes: dict[str, StepOutcome] = {}
        self.running: dict[Future[StepOutcome], StepPlan] = {}
        self.values: dict[str, Any] = {}  # artifact id -> object, for in-process hand-over
        self.consumers: dict[str, int] = {}  # node id -> steps still to read its outputs
        for node in nodes:
            for upstream in node.upstream:
                self.consumers[upstream] = self.consumers.get(upstream, 0) + 1

    def run(self, engine: Orchestrator) -> None:
        # Each node waits for a count of unfinished upstream nodes; a finished node releases
        # its dependants. Ready nodes start in pipeline order. Linear in the size of the DAG.
        position = {node_id: i for i, node_id in enumerate(self.order)}
        waiting_on = {n: len(self.nodes[n].upstream) for n in self.order}
        dependants: dict[str, list[str]] = {n: [] for n in self.order}
        for node_id in self.order:
            for upstream in self.nodes[node_id].upstream:
                dependants[upstream].append(node_id)
        ready = [(position[n], n) for n in self.order if waiting_on[n] == 0]
        heapq.heapify(ready)

        def release(node_id: str) -> None:
            for dependant in dependants[node_id]:
                waiting_on[dependant] -= 1
                if waiting_on[dependant] == 0:
                    heapq.heappush(ready, (position[dependant], dependant))

        while ready or self.running:
            while ready and len(self.running) < engine.parallelism:
                _, node_id = heapq.heappop(ready)
                if self._readiness(node_id) == "skip":
                    self._skip(node_id)
                    release(node_id)
                else:
                    self._submit(engine, node_id)
            if not self.running:
                continue
            done, _ = wait(list(self.running), return_when=FIRST_COMPLETED)
            for future in done:
                plan = self.running.pop(future)
                self._finish(future, plan, engine)
                release(plan.node_id)
        unfinished = [n for n in self.order if n not in self.steps]
        if unfinished:
            raise RuntimeError(f"Steps {unfinished} never became ready (a broken graph).")

    def _readiness(self, node_id: str) -> str:
        states = []
        for upstream in self.nodes[node_id].upstream:
            step = self.steps.get(upstream)
            if step is None:
                return "wait"
            states.append(step.status)
        if any(s in (run_status.FAILED, run_status.SKIPPED, run_status.CANCELLED) for s in states):
            return "skip"
        return "ready"

    def _submit(self, engine: Orchestrator, node_id: str) -> None:
        plan = self._plan(self.nodes[node_id])
        self.on_event("start", node_id, None)
        if node_id in self.reuse:
            future: Future[StepOutcome] = Future()
            future.set_result(self._reused(plan, self.reuse[node_id]))
        else:
            future = engine.submit(plan, self.values if engine.in_process else {})
        self.running[future] = plan

    def _reused(self, plan: StepPlan, outputs: dict[str, ArtifactVersion]) -> StepOutcome:
        """A step that succeeded in the run being resumed: recorded as cached, not run."""
        from heron.execution.executor import record_reuse

        return record_reuse(plan, self.store, outputs)

    def _plan(self, node: Node) -> StepPlan:
        inputs: dict[str, ArtifactVersion | list[ArtifactVersion]] = {}
        for arg, ref in node.inputs.items():
            if isinstance(ref, list):
                inputs[arg] = [self.outcomes[n].outputs[o] for n, o in ref]
            else:
                inputs[arg] = self.outcomes[ref[0]].outputs[ref[1]]
        step = node.step
        return StepPlan(
            run_id=new_id(),
            node_id=node.id,
            pipeline_run_id=self.pipeline_run_id,
            experiment_id=self.experiment_id,
            function=step.fn,
            outputs=step.outputs,
            definition_hash=step.definition_hash(),
            params=node.params,
            inputs=inputs,
            materializers=step.materializers,
            cache=self.cache and step.cache,
            retries=step.retries,
            retry_delay=step.retry_delay,
            backoff=step.backoff,
            timeout=step.timeout,
            resources=dict(step.resources),
            tracking_uri=self.tracking_uri,
            artifact_uri=self.artifact_uri,
            project=self.project,
            source_file=_source_file(step.fn),
        )

    def _finish(self, future: Future[StepOutcome], plan: StepPlan, engine: Orchestrator) -> None:
        try:
            outcome = future.result()
        except WorkerLost as e:
            outcome = self._record_lost(plan, e)
        self.outcomes[plan.node_id] = outcome
        self.steps[plan.node_id] = StepRun(
            plan.node_id, outcome.run_id, outcome.status, outcome.outputs, outcome.error, self.store
        )
        if outcome.values is not None:
            for name, value in outcome.values.items():
                self.values[outcome.outputs[name].id] = value
        if self.consumers.get(plan.node_id, 0) == 0 and outcome.outputs:
            unread = [av.id for av in outcome.outputs.values()]  # no later step reads them
            for artifact_id in unread:
                self.values.pop(artifact_id, None)
            engine.forget(unread)
        for upstream in self.nodes[plan.node_id].upstream:
            self.consumers[upstream] -= 1
            if self.consumers[upstream] == 0:  # nobody reads these objects any more
                done_with = [av.id for av in self.outcomes[upstream].outputs.values()]
                for artifact_id in done_with:
                    self.values.pop(artifact_id, None)
                engine.forget(done_with)
        self.on_event("end", plan.node_id, outcome)

    def _record_lost(self, plan: StepPlan, error: Exception) -> StepOutcome:
        reason = (
            f"The worker process running step {plan.node_id!r} died ({error}); it was killed "
            "or ran out of memory. Nothing it was writing was recorded as an artifact."
        )
        self._fail_run(plan, reason)
        return StepOutcome(plan.run_id, plan.node_id, run_status.FAILED, error=reason)

    def _fail_run(self, plan: StepPlan, reason: str, status: str = run_status.FAILED) -> None:
        from heron.core.errors import NotFound

        try:
            current = self.store.get_run(plan.run_id)
            reaped = (current.status_reason or "").startswith(run_status.HEARTBEAT_LOST)
            if current.status in (run_status.RUNNING, run_status.PENDING) or reaped:
                self.store.update_run(plan.run_id, status=status, status_reason=reason)
        except NotFound:
            self.store.create_run(
                self.experiment_id,
                run_id=plan.run_id,
                name=plan.node_id,
                kind="step",
                status=status,
                parent_id=self.pipeline_run_id,
            )
            self.store.update_run(plan.run_id, status=status, status_reason=reason)

    def _skip(self, node_id: str) -> None:
        blocked = [
            u
            for u in self.nodes[node_id].upstream
            if self.steps[u].status != run_status.COMPLETED
            and self.steps[u].status != run_status.CACHED
        ]
        reason = f"Skipped: it depends on {', '.join(blocked)}, which did not succeed."
        run = self.store.create_run(
            self.experiment_id,
            name=node_id,
            kind="step",
            status=run_status.PENDING,
            parent_id=self.pipeline_run_id,
        )
        self.store.update_run(run.id, status=run_status.SKIPPED, status_reason=reason)
        self.steps[node_id] = StepRun(node_id, run.id, run_status.SKIPPED, {}, reason, self.store)
        self.on_event("end", node_id, None)

    def abandon(self, status: str) -> None:
        """After an interruption: end the steps still running."""
        for plan in self.running.values():
            try:
                self._fail_run(
                    plan,
                    f"The pipeline run was {status} while this step ran.",
                    run_status.CANCELLED if status == "cancelled" else run_status.FAILED,
                )
            except Exception:
                log.exception("Could not end step run %s", plan.run_id)


__all__ = [
    "ORCHESTRATOR_TAG",
    "PARAMS_TAG",
    "PIPELINE_TAG",
    "RESUMED_FROM_TAG",
    "SOURCE_TAG",
    "run_trace",
]
