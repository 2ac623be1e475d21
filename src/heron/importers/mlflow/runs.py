"""Experiments, runs and the runs' files, written through Heron's ``Store``.

A run is written in an order that makes an interrupted import safe to run again: created
``pending`` (Heron's "not started" status, which no heartbeat reaper touches), then its files,
then every param, tag and metric point in one ``log_batch`` (atomic, and applied once thanks
to its request id) carrying the ``heron.imported_from`` tag, then its final status and end
time. A run found in Heron with its final status is complete; anything else is finished.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from heron.core import status as run_status
from heron.core.errors import HeronError
from heron.importers.mlflow.context import IMPORTED_FROM, ImportContext
from heron.importers.mlflow.records import (
    DELETED,
    GIT_COMMIT_TAG,
    RUN_NAME_TAG,
    RUN_STATUSES,
    SOURCE_TAG,
    USER_TAG,
    RunHeader,
    SourceRun,
    ordered_for_creation,
)

log = logging.getLogger("heron.importers.mlflow")

#: runs read from the source (params, tags, metric points) per query
CHUNK = 500
MLMODEL = "MLmodel"


def import_experiments(ctx: ImportContext) -> None:
    """Find or create the Heron experiment of each MLflow experiment (by name)."""
    store = ctx.store
    experiments = ctx.source.experiments()
    ctx.progress.start("experiments", len(experiments))
    for exp in experiments:
        try:
            found = store.get_experiment_by_name(exp.name)
            if found is None:
                tags = {**exp.tags, IMPORTED_FROM: f"{ctx.source.label} experiment {exp.id}"}
                found = store.create_experiment(exp.name, tags=tags)
                ctx.summary.done("experiments")
            else:
                ctx.summary.skip("experiments", "an experiment with that name exists")
                if found.deleted:  # runs can only be added to an active experiment
                    store.restore_experiment(found.id)
                    ctx.delete_experiments.add(found.id)
                for key, value in exp.tags.items():  # the tags it lacks; its own are kept
                    if key not in found.tags:
                        store.set_experiment_tag(found.id, key, value)
            if exp.lifecycle == DELETED:
                ctx.delete_experiments.add(found.id)
            ctx.experiment_ids[exp.id] = found.id
        except HeronError as e:
            ctx.summary.fail("experiments", f"experiment {exp.name!r} ({exp.id})", e.message)
        ctx.progress.advance("experiments")


def finish_experiments(ctx: ImportContext) -> None:
    """Delete again the experiments MLflow had deleted (or that were deleted here)."""
    for experiment_id in sorted(ctx.delete_experiments):
        ctx.store.delete_experiment(experiment_id)
    ctx.delete_experiments.clear()


def import_runs(ctx: ImportContext) -> None:
    """Every run of the source, parents first, a chunk at a time."""
    headers = ordered_for_creation(ctx.source.run_headers())
    ctx.progress.start("runs", len(headers))
    for chunk in _chunks(headers, CHUNK):
        todo = _runs_to_write(ctx, chunk)
        ctx.progress.advance("runs", len(chunk) - len(todo))
        if not todo:
            continue
        existing = {h.id: state for h, state in todo}
        for run in ctx.source.load_runs([h for h, _ in todo]):
            _write_run(ctx, run, existing.get(run.id))
            ctx.progress.advance("runs")


def _chunks(items: Sequence[RunHeader], size: int) -> Iterator[Sequence[RunHeader]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _runs_to_write(
    ctx: ImportContext, chunk: Sequence[RunHeader]
) -> list[tuple[RunHeader, list | None]]:
    """The runs of ``chunk`` that still need writing, with their Heron state when they exist."""
    states = ctx.store.run_states([h.id for h in chunk])
    todo = []
    for header in chunk:
        if header.experiment_id not in ctx.experiment_ids:
            ctx.summary.fail("runs", f"run {header.id}", "its experiment was not imported")
            continue
        state = states.get(header.id)
        if state is None:
            todo.append((header, None))
            continue
        ctx.present_runs.add(header.id)
        final = RUN_STATUSES.get(header.status, run_status.FAILED)
        if state[0] != final or final == run_status.PENDING:
            todo.append((header, state))
        elif header.lifecycle == DELETED and not ctx.store.get_run(header.id).deleted:
            ctx.store.delete_run(header.id)  # the last step of an interrupted import
            ctx.summary.done("runs")
        else:
            ctx.summary.skip("runs", "a run with that id exists")
    return todo


def _write_run(ctx: ImportContext, run: SourceRun, state: list | None) -> None:
    store = ctx.store
    try:
        data_written = False
        known: set[str] = set()
        current_status, deleted = run_status.PENDING, False
        if state is None:
            _create(ctx, run)
        else:
            current = store.get_run(run.id)
            current_status, deleted = current.status, current.deleted
            if IMPORTED_FROM in current.tags:  # its log_batch went in: only the end is left
                data_written = True
                if current.status != run_status.PENDING or run.heron_status == run_status.PENDING:
                    ctx.summary.skip("runs", "a run with that id exists")
                    return
            else:  # its files may be partly in: keep those
                known = {
                    a.name
                    for a in store.list_artifact_versions(run_id=run.id, max_results=50_000)
                    if a.producer_run_id == run.id
                }
        ctx.present_runs.add(run.id)
        if not data_written:
            _import_files(ctx, run, known)
            tags = {**run.tags, IMPORTED_FROM: ctx.source.label}
            store.log_batch(
                run.id,
                run.metrics,
                params=run.params,
                tags=tags,
                request_id=f"mlflow-import-{run.id}",
            )
        _finish(ctx, run, current_status, deleted)
        ctx.summary.done("runs")
    except HeronError as e:
        ctx.summary.fail("runs", f"run {run.id} ({run.name or 'no name'})", e.message)
        log.debug("run %s failed to import", run.id, exc_info=True)


def _create(ctx: ImportContext, run: SourceRun) -> None:
    tags = run.tags
    parent = run.parent_id
    if parent and parent not in ctx.present_runs and not ctx.store.run_states([parent]):
        parent = None  # the parent is not in the source: the tag still names it
    name = (run.name or tags.get(RUN_NAME_TAG) or "").strip() or None
    ctx.store.create_run(
        ctx.experiment_ids[run.experiment_id],
        run_id=run.id,
        name=name[:256] if name else None,
        status=run_status.PENDING,
        parent_id=parent,
        start_time=int(run.start_time) if run.start_time is not None else None,
        user=(run.user or tags.get(USER_TAG) or None),
        source=tags.get(SOURCE_TAG) or None,
        git_commit=(tags.get(GIT_COMMIT_TAG) or None),
    )


def _finish(ctx: ImportContext, run: SourceRun, current: str, deleted: bool) -> None:
    """Move the run from status ``current`` to its MLflow status with its end time, then
    delete it if MLflow had."""
    store = ctx.store
    final = run.heron_status
    if final != run_status.PENDING and current != final:
        end = run.end_time if run.end_time is not None else run.start_time
        if not run_status.may_move(current, final):
            store.update_run(run.id, status=run_status.RUNNING)
        store.update_run(
            run.id, status=final, end_time=int(end) if final in run_status.TERMINAL else None
        )
    if run.lifecycle == DELETED and not deleted:
        store.delete_run(run.id)


# --- files ---------------------------------------------------------------------------------
def _import_files(ctx: ImportContext, run: SourceRun, known: set[str]) -> None:
    """Each file of the run's artifact tree as an artifact version named by its path; a folder
    holding an ``MLmodel`` (a model MLflow 2 logged into the run) as one folder version."""
    with ctx.source.run_artifacts(run) as folder:
        if folder is None:
            return
        for name, path, is_model in _tree(folder):
            if name in known:
                ctx.summary.skip("artifacts", "already imported")
                continue
            try:
                _store_file(ctx, run.id, name, path, is_model)
                ctx.summary.done("artifacts")
            except (HeronError, OSError) as e:
                reason = e.message if isinstance(e, HeronError) else f"{type(e).__name__}: {e}"
                ctx.summary.fail("artifacts", f"{name} of run {run.id}", reason)


def _tree(root: Path) -> Iterator[tuple[str, Path, bool]]:
    """``(relative name, path, is a model folder)`` under ``root``, sorted by name."""
    found = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if here != root and MLMODEL in files:
            found.append((here.relative_to(root).as_posix(), here, True))
            dirs[:] = []
            continue
        dirs.sort()
        found += [((here / f).relative_to(root).as_posix(), here / f, False) for f in files]
    yield from sorted(found)


def _store_file(ctx: ImportContext, run_id: str, name: str, path: Path, is_model: bool) -> None:
    from heron.importers.mlflow.models import model_metadata
    from heron.tracking.run_artifacts import record_artifact

    if is_model:
        obj = ctx.blobs.put_dir(path)
        kind, materializer = "directory", "file"
        metadata = model_metadata(path, None, ctx.source.label)
    else:
        obj = ctx.blobs.put_file(path)
        kind, materializer = "file", "file"
        metadata = {"filename": path.name}
    record_artifact(ctx.store, run_id, name, obj, kind, materializer, metadata)
