"""Resuming a failed pipeline run: a new run that reuses every step that succeeded."""

from __future__ import annotations

import json
from typing import Any

from heron.artifacts.loading import store_holding
from heron.core import status as run_status
from heron.core.entities import OUTPUT, ArtifactVersion
from heron.core.errors import InvalidArgument, InvalidState
from heron.pipelines.loader import load_pipeline
from heron.pipelines.pipeline import Pipeline
from heron.pipelines.result import PipelineRun
from heron.pipelines.runner import ORCHESTRATOR_TAG, PARAMS_TAG, RESUMED_FROM_TAG, SOURCE_TAG
from heron.store.base import Store


def resume_pipeline_run(store: Store, run_id: str, on_event: Any = None) -> PipelineRun:
    """Run the pipeline of ``run_id`` again with the same parameters, reusing the outputs of
    the steps that completed (or were cached) instead of running them."""
    run = store.get_run(run_id)
    if run.kind != "pipeline":
        raise InvalidArgument(f"Run {run_id} is a {run.kind} run; resume takes a pipeline run.")
    if run.status not in (run_status.FAILED, run_status.CANCELLED):
        raise InvalidState(
            f"Pipeline run {run_id} is {run.status}; only failed or cancelled runs are resumed. "
            "Run the pipeline again instead (its cache reuses unchanged steps)."
        )
    source = run.tags.get(SOURCE_TAG)
    if not source or source.startswith("__main__:"):
        raise InvalidState(
            f"Pipeline run {run_id} does not say where its code lives (it was defined "
            "interactively). Resume works for pipelines in a module or a .py file."
        )
    params = json.loads(run.tags.get(PARAMS_TAG, "{}"))
    reuse: dict[str, dict[str, ArtifactVersion]] = {}
    # step runs are in their pipeline run's experiment, whatever project that is in
    children = store.search_runs(
        [run.experiment_id], f"attributes.parent_id = '{run_id}'", max_results=50_000
    )
    for child in children:
        if child.status not in (run_status.COMPLETED, run_status.CACHED):
            continue
        outputs = {
            link.name: store.get_artifact_version(link.artifact_id)
            for link in store.list_artifact_links(run_id=child.id)
            if link.direction == OUTPUT
        }
        if all(store_holding(av.uri)[0].exists(av.content_hash) for av in outputs.values()):
            reuse[child.name] = outputs
    pipeline = _where_it_ran(load_pipeline(source), run.tags)
    return pipeline.run(
        params, reuse=reuse, extra_tags={RESUMED_FROM_TAG: run_id}, on_event=on_event
    )


def _where_it_ran(pipeline: Pipeline, tags: dict[str, str]) -> Pipeline:
    """The pipeline set to run on the orchestrator (its options and parallelism) the run
    being resumed ran on, unless its own definition names one."""
    name = tags.get(f"{ORCHESTRATOR_TAG}.name")
    if pipeline.orchestrator is not None or not name:
        return pipeline
    options: dict[str, Any] = {"orchestrator": name}
    given = tags.get(f"{ORCHESTRATOR_TAG}.options")
    if given:
        options["orchestrator_options"] = json.loads(given)
    parallelism = tags.get(f"{ORCHESTRATOR_TAG}.parallelism", "")
    if name == "local" and parallelism.isdigit():
        options["parallelism"] = int(parallelism)
    return pipeline.with_options(**options)
