"""`Store`: the one interface for metadata (DESIGN §4).

`SqlStore` (SQLite, PostgreSQL) implements it, and so will `RestStore` (a client of the Heron
server) with the same semantics. Features are written against this class only. Every write of
params, metrics and tags goes through :meth:`Store.log_batch`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any

from heron.core.entities import (
    ArtifactLink,
    ArtifactVersion,
    Experiment,
    Metric,
    PagedList,
    PipelineVersion,
    Run,
)

DEFAULT_EXPERIMENT = "Default"
LOGS_TAG = "heron.logs"  # a step run's captured output: the URI of the stored text
MAX_RESULTS_LIMIT = 50_000


class Store(ABC):
    """Metadata of experiments, runs, metrics, params, tags, artifact versions and lineage."""

    uri: str

    # --- experiments ------------------------------------------------------------------
    @abstractmethod
    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        """Create an experiment; :class:`AlreadyExists` if the name is taken."""

    @abstractmethod
    def get_experiment(self, experiment_id: str) -> Experiment:
        """The experiment with that id; :class:`NotFound` otherwise."""

    @abstractmethod
    def get_experiment_by_name(self, name: str) -> Experiment | None:
        """The experiment with that name (active or deleted), or ``None``."""

    @abstractmethod
    def list_experiments(self, view: str = "active") -> list[Experiment]:
        """Experiments by name; ``view`` is ``active``, ``deleted`` or ``all``."""

    @abstractmethod
    def delete_experiment(self, experiment_id: str) -> None:
        """Soft-delete an experiment and hide its runs from default searches."""

    @abstractmethod
    def restore_experiment(self, experiment_id: str) -> None:
        """Undo :meth:`delete_experiment`."""

    @abstractmethod
    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        """Give an experiment another (unused) name."""

    # --- runs -------------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment_id: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        kind: str = "run",
        status: str = "running",
        parent_id: str | None = None,
        start_time: int | None = None,
        user: str | None = None,
        source: str | None = None,
        git_commit: str | None = None,
        python_version: str | None = None,
        tags: dict[str, str] | None = None,
        pipeline_version_id: str | None = None,
        cache_key: str | None = None,
    ) -> Run:
        """Record a new run (one transaction with its tags) and return it.

        Pipeline runs name their ``pipeline_version_id``; step runs carry the ``cache_key``
        that :meth:`find_cached_run` looks up.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> Run:
        """The run with its params, latest metrics and tags; :class:`NotFound` otherwise."""

    @abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        name: str | None = None,
        status_reason: str | None = None,
    ) -> Run:
        """Change a run's status (checked against the transition table), end time or name."""

    @abstractmethod
    def heartbeat(self, run_ids: Sequence[str], now: int | None = None) -> None:
        """Record that the processes running ``run_ids`` are alive."""

    @abstractmethod
    def fail_stale_runs(self, timeout_ms: int, now: int | None = None) -> int:
        """Mark ``failed`` every running run whose heartbeat is older than ``timeout_ms``."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Soft-delete a run (and its child runs)."""

    @abstractmethod
    def restore_run(self, run_id: str) -> None:
        """Undo :meth:`delete_run`."""

    @abstractmethod
    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "active",
    ) -> PagedList:
        """Runs matching the filter grammar of DESIGN §2, ordered, one page at a time."""

    @abstractmethod
    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        *,
        status: str | None = None,
        status_reason: str | None = None,
        links: Sequence[tuple[str, str, str]] = (),
    ) -> None:
        """The one write path of params, metrics and tags: all of it or nothing.

        Params are write-once: a different value for a logged key is :class:`Conflict`.
        With ``status`` the run also moves to that status in the same transaction (how a
        run is closed together with its last points). ``links`` are ``(artifact_id,
        direction, name)`` uses of artifact versions recorded in the same transaction.
        """

    @abstractmethod
    def find_cached_run(self, cache_key: str) -> Run | None:
        """The newest completed (or cached) active run with ``cache_key``, or ``None``."""

    @abstractmethod
    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a run's tag."""

    @abstractmethod
    def get_metric_history(self, run_id: str, key: str) -> list[Metric]:
        """Every point of one metric of one run, by step then timestamp."""

    # --- artifacts and lineage --------------------------------------------------------
    @abstractmethod
    def create_artifact_version(
        self,
        name: str,
        *,
        content_hash: str,
        type: str,
        materializer: str,
        size: int,
        uri: str,
        producer_run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
        materializer_version: str = "1",
        link_name: str | None = None,
    ) -> ArtifactVersion:
        """Record the next version of ``name``; link it as output ``link_name`` of the producer."""

    @abstractmethod
    def link_artifact(self, run_id: str, artifact_id: str, direction: str, name: str) -> None:
        """Record that ``run_id`` consumed (``input``) or produced (``output``) an artifact."""

    @abstractmethod
    def get_artifact_version(self, artifact_id: str) -> ArtifactVersion:
        """The artifact version with that id; :class:`NotFound` otherwise."""

    @abstractmethod
    def get_artifact_version_by_name(
        self, name: str, version: int | None = None
    ) -> ArtifactVersion:
        """Version ``version`` of ``name`` (default: the latest); :class:`NotFound` otherwise."""

    @abstractmethod
    def list_artifact_versions(
        self, name: str | None = None, run_id: str | None = None, max_results: int = 1000
    ) -> list[ArtifactVersion]:
        """Artifact versions by name, or those a run used or produced, newest first."""

    @abstractmethod
    def retire_orphan_artifacts(self) -> int:
        """Mark deleted the artifact versions that only deleted runs produced or used;
        returns how many. Their bytes become garbage for ``heron gc``."""

    @abstractmethod
    def live_content_hashes(self) -> set[str]:
        """Content hashes the store still needs: of active artifact versions (not counting
        those only deleted runs used), and of the captured logs of active runs."""

    @abstractmethod
    def create_pipeline_version(
        self, version_id: str, name: str, structure: dict[str, Any]
    ) -> bool:
        """Store a pipeline's DAG once under its hash; ``True`` if it was new."""

    @abstractmethod
    def get_pipeline_version(self, version_id: str) -> PipelineVersion:
        """The pipeline version with that id; :class:`NotFound` otherwise."""

    @abstractmethod
    def list_pipeline_versions(self, name: str | None = None) -> list[PipelineVersion]:
        """Pipeline versions (of one pipeline, or all), newest first."""

    @abstractmethod
    def list_artifact_links(
        self, run_id: str | None = None, artifact_id: str | None = None
    ) -> list[ArtifactLink]:
        """The input/output links of a run, or the runs linked to an artifact version."""
