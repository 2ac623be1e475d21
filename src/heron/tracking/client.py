"""`Client`: query and manage experiments, runs, metrics and artifacts of one tracking URI."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from heron.core import config, validation
from heron.core import status as run_status
from heron.core.entities import (
    ArtifactLink,
    ArtifactVersion,
    Experiment,
    Metric,
    PagedList,
    PipelineVersion,
    Run,
)
from heron.core.errors import InvalidArgument, NotFound
from heron.core.ids import now_ms
from heron.registry.client import RegistryMethods
from heron.store.base import LOGS_TAG, Store
from heron.store.log_buffer import pending_buffer
from heron.store.registry import get_store


class Client(RegistryMethods):
    """Read and manage tracking data and the model registry. ``Client()`` uses the active
    tracking URI (its store is created on first use, as a run would create it);
    ``Client(uri)`` refuses a SQLite URI whose database does not exist
    (:class:`~heron.core.errors.StoreNotFound`), so that a typo is not a new empty store.

    Experiments, registered models and artifacts are named within a project:
    ``Client(project="fraud")`` works in that one, ``Client()`` in the process's
    (``HERON_PROJECT``, :func:`heron.set_project`, else ``default``). Ids reach every project.

    >>> c = heron.Client()  # doctest: +SKIP
    >>> c.search_runs(experiment="iris", filter="metrics.acc > 0.8", order_by=["metrics.acc DESC"])
    """

    def __init__(
        self, tracking_uri: str | os.PathLike[str] | None = None, project: str | None = None
    ) -> None:
        uri = config.normalize_tracking_uri(os.fspath(tracking_uri)) if tracking_uri else None
        if uri is not None:  # a URI named here must name a store (a typo is no new store)
            config.require_existing_store(uri)
        self.tracking_uri = uri or config.get_tracking_uri()
        store = get_store(self.tracking_uri)
        self._project = project
        self.store: Store = store.in_project(project) if project is not None else store

    @property
    def project(self) -> str:
        """The project whose names this client reads and writes."""
        return self.store.project

    def __repr__(self) -> str:
        from heron.core.uris import redact

        if self._project is not None:
            return f"Client({redact(self.tracking_uri)!r}, project={self._project!r})"
        return f"Client({redact(self.tracking_uri)!r})"

    def _flush(self) -> None:
        """Write what this process buffered for the store, so reads see it."""
        buffer = pending_buffer(self.store.uri)
        if buffer is not None:
            buffer.flush()

    # --- experiments --------------------------------------------------------------------
    def create_experiment(self, name: str, tags: Mapping[str, Any] | None = None) -> Experiment:
        """Create an experiment named ``name``."""
        return self.store.create_experiment(name, dict(tags or {}))

    def get_experiment(self, experiment: str) -> Experiment:
        """An experiment by id or by name."""
        try:
            return self.store.get_experiment(experiment)
        except NotFound:
            exp = self.store.get_experiment_by_name(experiment)
            if exp is None:
                raise NotFound(
                    f"No experiment with id or name {experiment!r}. "
                    "List them with `heron experiments list`."
                ) from None
            return exp

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment named ``name``, or ``None``."""
        return self.store.get_experiment_by_name(name)

    def list_experiments(self, view: str = "active") -> list[Experiment]:
        """Experiments by name: ``view`` is ``active`` (default), ``deleted`` or ``all``."""
        return self.store.list_experiments(view)

    def delete_experiment(self, experiment: str) -> None:
        """Soft-delete an experiment (by id or name); :meth:`restore_experiment` undoes it."""
        self.store.delete_experiment(self.get_experiment(experiment).id)

    def restore_experiment(self, experiment: str) -> None:
        """Restore a deleted experiment (by id or name)."""
        self.store.restore_experiment(self.get_experiment(experiment).id)

    def rename_experiment(self, experiment: str, new_name: str) -> None:
        """Rename an experiment (by id or name)."""
        self.store.rename_experiment(self.get_experiment(experiment).id, new_name)

    def set_experiment_tag(self, experiment: str, key: str, value: Any) -> None:
        """Set a tag of an experiment (by id or name); the value is stored as text."""
        self.store.set_experiment_tag(self.get_experiment(experiment).id, key, str(value))

    def delete_experiment_tag(self, experiment: str, key: str) -> None:
        """Remove a tag of an experiment (by id or name)."""
        self.store.delete_experiment_tag(self.get_experiment(experiment).id, key)

    # --- runs ---------------------------------------------------------------------------
    def create_run(
        self,
        experiment: str,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
        parent_id: str | None = None,
        kind: str = "run",
    ) -> Run:
        """Record a running run in ``experiment`` (id or name) without making it active."""
        kwargs: dict[str, Any] = {
            "name": name,
            "tags": dict(tags or {}),
            "parent_id": parent_id,
            "kind": kind,
        }
        try:  # an id (the common case) needs no lookup first: one request through a server
            return self.store.create_run(experiment, **kwargs)
        except NotFound:
            exp = self.get_experiment(experiment)  # by name, or the NotFound that says so
            if exp.id == experiment:
                raise  # the experiment is there: it was the parent run that was not
        return self.store.create_run(exp.id, **kwargs)

    def get_run(self, run_id: str) -> Run:
        """A run with its params, latest metrics and tags."""
        self._flush()
        return self.store.get_run(run_id)

    def search_runs(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: str | Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "active",
        experiment_ids: Sequence[str] | None = None,
    ) -> PagedList:
        """Runs matching ``filter`` (DESIGN §2 grammar), ordered, at most ``max_results``.

        ``experiment`` is a name or id (or a list of them); ``None`` searches every experiment
        of the client's project.
        The result is a list with ``.token``: pass it as ``page_token`` for the next page.
        """
        self._flush()
        ids = list(experiment_ids or [])
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            ids += [self.get_experiment(e).id for e in names]
        elif experiment_ids is None:
            ids = None  # type: ignore[assignment]
        if isinstance(order_by, str):
            order_by = [order_by]
        return self.store.search_runs(ids, filter, order_by, max_results, page_token, view)

    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of metric ``key`` of a run, by step."""
        self._flush()
        return self.store.get_metric_history(run_id, key)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric | tuple[str, float, int, int]] = (),
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> None:
        """Write metrics, params and tags of a run now, in one transaction."""
        self._flush()
        self.store.log_batch(
            run_id,
            _as_metrics(metrics),
            {k: validation.param_value(k, v) for k, v in (params or {}).items()},
            {k: validation.tag_value(k, v) for k, v in (tags or {}).items()},
        )

    def log_metric(
        self, run_id: str, key: str, value: float, step: int = 0, timestamp: int | None = None
    ) -> None:
        """Write one metric point of a run now."""
        self.log_batch(
            run_id, [Metric(key, value, step, now_ms() if timestamp is None else timestamp)]
        )

    def log_param(self, run_id: str, key: str, value: Any) -> None:
        """Write one param of a run now (write-once)."""
        self.log_batch(run_id, params={key: value})

    def set_tag(self, run_id: str, key: str, value: Any) -> None:
        """Set a tag of a run now."""
        self.log_batch(run_id, tags={key: value})

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag of a run."""
        self._flush()
        self.store.delete_tag(run_id, key)

    def set_terminated(
        self, run_id: str, status: str = run_status.COMPLETED, end_time: int | None = None
    ) -> Run:
        """End a run with ``status`` (default ``completed``) at ``end_time`` (default now)."""
        if status not in run_status.TERMINAL:
            raise InvalidArgument(
                f"set_terminated needs a final status ({', '.join(sorted(run_status.TERMINAL))}), "
                f"got {status!r}."
            )
        self._flush()
        return self.store.update_run(run_id, status=status, end_time=end_time)

    def rename_run(self, run_id: str, name: str) -> Run:
        """Give a run another name."""
        return self.store.update_run(run_id, name=name)

    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run and its child runs; :meth:`restore_run` undoes it."""
        self._flush()
        self.store.delete_run(run_id)

    def restore_run(self, run_id: str) -> None:
        """Restore a deleted run and its child runs."""
        self.store.restore_run(run_id)

    # --- artifacts ----------------------------------------------------------------------
    def get_artifact(self, name_or_id: str, version: int | None = None) -> ArtifactVersion:
        """The latest version of artifact ``name`` (or ``version``), or the version with that id."""
        self._flush()
        if version is None:
            try:
                return self.store.get_artifact_version(name_or_id)
            except NotFound:
                pass
        return self.store.get_artifact_version_by_name(name_or_id, version)

    def list_artifacts(
        self, name: str | None = None, run_id: str | None = None, max_results: int = 1000
    ) -> list[ArtifactVersion]:
        """Artifact versions named ``name``, or used or produced by ``run_id``, newest first."""
        return self.store.list_artifact_versions(name=name, run_id=run_id, max_results=max_results)

    def list_run_artifacts(self, run_id: str) -> list[ArtifactLink]:
        """The artifacts a run consumed (``input``) and produced (``output``), by link name."""
        self.store.get_run(run_id)
        return self.store.list_artifact_links(run_id=run_id)

    def download_artifact(
        self, run_id: str, path: str, dst: str | os.PathLike[str] | None = None
    ) -> str:
        """Copy the artifact a run logged as ``path`` out of the store; returns where it went.

        - ``dst=None``: into a new temporary folder, as ``<tmp>/<path>``;
        - ``dst`` an existing folder: into it, as ``dst/<path>`` (the folders ``path``
          names are created, as with ``path='plots/loss.png'``);
        - any other ``dst``: the file (or, for a folder artifact, the folder) is written
          at ``dst`` itself; missing parent folders are created.

        ``path`` is an artifact name, a relative path inside the run's artifacts: a name
        that could leave the destination folder (``..``, a leading ``/``, a drive, a
        backslash) is refused with :class:`~heron.core.errors.InvalidArgument` before
        anything is written.
        """
        import tempfile

        from heron.artifacts.loading import store_holding
        from heron.artifacts.store import path_under

        into_folder = dst is None or os.path.isdir(dst)
        if into_folder:
            validation.check_artifact_name(path, "Artifact")  # it becomes a local path
        else:
            validation.check_name(path, "Artifact")  # checked as text: it is only looked up
        links = [link for link in self.list_run_artifacts(run_id) if link.name == path]
        if not links:
            raise NotFound(f"Run {run_id} has no artifact {path!r}.")
        artifact = self.store.get_artifact_version(links[0].artifact_id)
        blobs, content_hash = store_holding(artifact.uri)
        if dst is None:
            target = path_under(tempfile.mkdtemp(prefix="heron-"), path)
        elif into_folder:
            target = path_under(dst, path)
        else:
            target = os.fspath(dst)
        return str(blobs.download(content_hash, target))

    # --- lineage, pipelines, storage ------------------------------------------------------
    def lineage(
        self, artifact_or_run_id: str, direction: str = "upstream", depth: int | None = None
    ) -> Any:
        """The lineage graph around an artifact version or run id.

        ``upstream`` answers "which data and code made this?", ``downstream`` "what did this
        feed?". The result has ``runs``, ``artifacts`` (by id) and ``edges``
        ``(source, target, "produced" | "consumed")``.
        """
        from heron.tracking.lineage import walk

        self._flush()
        return walk(self.store, artifact_or_run_id, direction, depth)

    def get_logs(self, run_id: str) -> str:
        """What a step printed (stdout and stderr), as captured when it ran."""
        from heron.artifacts.loading import store_holding

        run = self.get_run(run_id)
        uri = run.tags.get(LOGS_TAG)
        if not uri:
            return ""
        blobs, content_hash = store_holding(uri)
        return blobs.read_bytes(content_hash).decode("utf-8", "replace")

    def list_pipeline_versions(self, name: str | None = None) -> list[PipelineVersion]:
        """Stored pipeline versions (each distinct DAG once), newest first."""
        return self.store.list_pipeline_versions(name)

    def get_pipeline_version(self, version_id: str) -> PipelineVersion:
        """One pipeline version: its name and DAG structure."""
        return self.store.get_pipeline_version(version_id)

    def resume_run(self, run_id: str, on_event: Any = None) -> Any:
        """Re-run a failed pipeline run, reusing every step that succeeded; returns the new
        pipeline run (tagged ``heron.resumed_from``)."""
        from heron.pipelines.resume import resume_pipeline_run

        self._flush()
        return resume_pipeline_run(self.store, run_id, on_event=on_event)

    def gc(self, dry_run: bool = False, min_age: float = 3600.0) -> Any:
        """Delete stored artifact bytes nothing live refers to; returns a report."""
        from heron.tracking.gc import GcReport, collect
        from heron.tracking.run_artifacts import artifact_store_for

        self._flush()
        on_server = getattr(self.store, "collect_garbage", None)
        if on_server is not None:  # a tracking server collects its own artifact store
            return GcReport(**on_server(dry_run=dry_run, min_age=min_age))
        return collect(self.store, artifact_store_for(self.store), dry_run=dry_run, min_age=min_age)


def _as_metrics(metrics: Iterable[Metric | tuple[str, float, int, int]]) -> list[Metric]:
    points = list(metrics)
    if set(map(type, points)) <= {Metric}:
        return points  # type: ignore[return-value]
    return [m if type(m) is Metric else Metric(*m) for m in points]
