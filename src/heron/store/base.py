"""`Store`: the one interface for metadata (DESIGN §4).

`SqlStore` (SQLite, PostgreSQL) implements it, and so will `RestStore` (a client of the Heron
server) with the same semantics. Features are written against this class only. Every write of
params, metrics and tags goes through :meth:`Store.log_batch`.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from heron.core import config
from heron.core.entities import (
    AliasEvent,
    ArtifactLink,
    ArtifactVersion,
    Experiment,
    Metric,
    ModelVersion,
    PagedList,
    PipelineVersion,
    RegisteredModel,
    Run,
)
from heron.core.schedules import Backfill, Schedule, SchedulerInfo, Tick
from heron.core.stacks import Stack

DEFAULT_EXPERIMENT = "Default"
LOGS_TAG = "heron.logs"  # a step run's captured output: the URI of the stored text
MAX_RESULTS_LIMIT = 50_000

S = TypeVar("S", bound="Store")


class Store(ABC):
    """Metadata of experiments, runs, metrics, params, tags, artifact versions and lineage.

    Experiments, registered models and artifact versions belong to a project (DESIGN §1):
    every lookup or listing *by name* is within :attr:`project`, while lookups by id reach
    every project (ids are global). :meth:`in_project` gives a view in another project.
    """

    uri: str
    #: the project of a view made by :meth:`in_project`; ``None``: the process's project
    _project: str | None = None

    @property
    def project(self) -> str:
        """The project this store reads and writes names in: the view's own (see
        :meth:`in_project`), else the process's (``heron.core.config.get_project``)."""
        if self._project is not None:
            return self._project
        return config.get_project()

    def in_project(self: S, name: str) -> S:
        """A view of this store whose names are those of project ``name``: a shallow copy
        sharing the connections (the database engine, the HTTP session), cheap to make.

        >>> fraud = store.in_project("fraud")  # doctest: +SKIP
        >>> fraud.get_experiment_by_name("scoring")  # doctest: +SKIP
        """
        view = copy.copy(self)
        view._project = config.check_project_name(name)
        return view

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

    @abstractmethod
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        """Set (or replace) a tag of an active experiment; :class:`InvalidState` when it is
        deleted."""

    @abstractmethod
    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        """Remove a tag of an active experiment; :class:`NotFound` when it has no such tag."""

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
        request_id: str | None = None,
    ) -> None:
        """The one write path of params, metrics and tags: all of it or nothing.

        Params are write-once: a different value for a logged key is :class:`Conflict`.
        With ``status`` the run also moves to that status in the same transaction (how a
        run is closed together with its last points). ``links`` are ``(artifact_id,
        direction, name)`` uses of artifact versions recorded in the same transaction.
        A batch with a ``request_id`` (1 to 64 characters, unique per batch) is applied once:
        the same id sent again is accepted and changes nothing, so a client that lost the
        answer can safely send the batch again.
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

    # --- model registry ---------------------------------------------------------------
    @abstractmethod
    def create_registered_model(
        self,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        """Register a model name; :class:`AlreadyExists` if it is taken."""

    @abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """The registered model with its tags and aliases; :class:`NotFound` otherwise."""

    @abstractmethod
    def list_registered_models(
        self, name_like: str | None = None, max_results: int = 1000
    ) -> list[RegisteredModel]:
        """Registered models by name; ``name_like`` is a SQL LIKE pattern (``iris%``,
        case-sensitive; a backslash escapes ``%`` and ``_``)."""

    @abstractmethod
    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set (or clear, with ``None``) a registered model's description."""

    @abstractmethod
    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        """Give a registered model an unused name; its versions, aliases and history follow."""

    @abstractmethod
    def delete_registered_model(self, name: str) -> None:
        """Remove a registered model, its versions, aliases and history (not the artifacts)."""

    @abstractmethod
    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        """Set a tag of a registered model."""

    @abstractmethod
    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag of a registered model."""

    @abstractmethod
    def create_model_version(
        self,
        name: str,
        artifact_id: str,
        *,
        run_id: str | None = None,
        pipeline_run_id: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        user: str | None = None,
    ) -> ModelVersion:
        """The next version of ``name`` (registered on first use) pointing at ``artifact_id``.

        Version numbers grow by one per name and are never reused, also under concurrent
        writers and after deletions. The artifact version must exist and be active
        (:class:`NotFound`, :class:`InvalidState`), and so must ``run_id`` and
        ``pipeline_run_id`` when given. Left out, ``run_id`` is the artifact's producer run
        and ``pipeline_run_id`` the pipeline run around it (its parent when it is a step run).
        """

    @abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """An active model version with its tags and aliases; :class:`NotFound` otherwise."""

    @abstractmethod
    def search_model_versions(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
    ) -> list[ModelVersion]:
        """Active model versions matching a filter, newest first by default (``created_at``
        then ``version``, descending; also the tie-break after ``order_by``).

        The filter grammar is the runs' one over ``name``, ``version``, ``run_id``,
        ``artifact_id``, ``user``, ``created_at`` and ``tags.<key>``
        (``name = 'iris' and tags.stage = 'prod'``); ``order_by`` takes the same fields.
        """

    @abstractmethod
    def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        """Set (or clear) a model version's description."""

    @abstractmethod
    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        """Set a tag of a model version."""

    @abstractmethod
    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        """Remove a tag of a model version."""

    @abstractmethod
    def delete_model_version(self, name: str, version: int, user: str | None = None) -> None:
        """Delete a version; the aliases on it are removed in the same transaction (each
        removal recorded as a ``version_deleted`` alias event)."""

    @abstractmethod
    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int,
        user: str | None = None,
        action: str = "set",
    ) -> AliasEvent:
        """Point ``alias`` at an active version and record the move (``action``: ``set`` or
        ``rollback``), atomically with respect to :meth:`delete_model_version`.

        An alias is 1 to 250 ASCII letters, digits, ``_``, ``-`` or ``.`` (not starting with
        ``-`` or ``.``); all-digit aliases and ``latest`` are refused so that
        ``models:/name/3`` and ``models:/name@alias`` never read alike (:class:`InvalidArgument`).
        Setting an alias to the version it already points at records nothing and returns an
        event with ``from_version == to_version``.
        """

    @abstractmethod
    def rollback_model_alias(self, name: str, alias: str, user: str | None = None) -> AliasEvent:
        """Point ``alias`` back at the version it pointed at before its current one (skipping
        deleted versions; each call goes one step further back) and record it as a
        ``rollback`` event. Reading the history and moving the alias are one transaction, so
        concurrent rollbacks are each applied and recorded. :class:`InvalidState` if there is
        nothing to roll back to, :class:`NotFound` if the model does not exist."""

    @abstractmethod
    def delete_model_alias(self, name: str, alias: str, user: str | None = None) -> AliasEvent:
        """Remove an alias and record it; :class:`NotFound` if the alias is not set."""

    @abstractmethod
    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version ``alias`` points at now; :class:`NotFound` if it is not set."""

    @abstractmethod
    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every recorded move of one alias (or of all aliases) of a model, oldest first."""

    # --- schedules (heron.scheduling) ---------------------------------------------------
    # Exactly once is the store's job: ticks are unique per (schedule, logical time), they
    # are written only by advance_schedule's move of the cursor it read, and claimed for
    # launching only from "queued". The scheduler calls these; users call heron.schedule.
    @abstractmethod
    def create_schedule(self, values: dict[str, Any]) -> Schedule:
        """Store a checked schedule definition; :class:`AlreadyExists` if the name is taken."""

    @abstractmethod
    def get_schedule(self, name_or_id: str) -> Schedule:
        """A schedule by name or id; :class:`NotFound` if there is none."""

    @abstractmethod
    def list_schedules(self) -> list[Schedule]:
        """Every schedule, by name."""

    @abstractmethod
    def update_schedule(self, schedule_id: str, values: dict[str, Any]) -> Schedule:
        """Change fields of a schedule (its definition, ``paused``, ``cursor``,
        ``next_due_at``)."""

    @abstractmethod
    def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule with its ticks and backfills (its runs stay)."""

    @abstractmethod
    def due_schedules(self, now: int, limit: int = 500) -> list[Schedule]:
        """Active cron schedules whose next fire is at or before ``now``."""

    @abstractmethod
    def next_due_at(self) -> int | None:
        """When the earliest active cron schedule is next due."""

    @abstractmethod
    def artifact_schedules(self) -> list[Schedule]:
        """Active schedules triggered by new artifact versions."""

    @abstractmethod
    def newest_artifact_versions(self, names: Sequence[str]) -> dict[str, list[Any]]:
        """For each name, its newest version: ``(version id, version number, created_at)``."""

    @abstractmethod
    def advance_schedule(
        self,
        schedule_id: str,
        seen_cursor: int,
        cursor: int,
        next_due_at: int | None,
        ticks: list[dict[str, Any]],
    ) -> bool:
        """Move a schedule's cursor from ``seen_cursor`` to ``cursor`` and record the ticks
        of that stretch in one transaction; ``False`` (nothing written) if another scheduler
        moved it first."""

    @abstractmethod
    def list_ticks(
        self,
        schedule_id: str | None = None,
        *,
        statuses: Sequence[str] | None = None,
        backfill_id: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[Tick]:
        """Ticks of a schedule (or of all), by logical time."""

    @abstractmethod
    def queued_owners(self) -> list[list[str | None]]:
        """The (schedule id, backfill id) pairs that have queued ticks."""

    @abstractmethod
    def next_queued(
        self, schedule_id: str, count: int, backfill_id: str | None = None, backwards: bool = False
    ) -> list[Tick]:
        """The queued ticks of one schedule (or backfill) to run next, oldest first."""

    @abstractmethod
    def claim_tick(self, tick_id: int, attempt: int, run_id: str, claimer: str, now: int) -> bool:
        """Mark a queued tick running with ``run_id``; ``False`` if another scheduler did."""

    @abstractmethod
    def reclaim_tick(self, tick_id: int, claimed_at: int | None, claimer: str, now: int) -> bool:
        """Take over a running tick whose run never started (its launcher died)."""

    @abstractmethod
    def finish_tick(
        self, tick_id: int, status: str, reason: str | None = None, *, only_from: str | None = None
    ) -> bool:
        """Set a tick's outcome (``only_from``: only if it still has that status)."""

    @abstractmethod
    def running_counts(self) -> list[list[Any]]:
        """How many ticks run per schedule id and backfill id."""

    @abstractmethod
    def run_states(self, run_ids: Sequence[str]) -> dict[str, list[Any]]:
        """``{run id: (status, start_time)}`` of the runs that exist."""

    @abstractmethod
    def create_backfill(
        self,
        schedule_id: str,
        intervals: list[list[int]],
        *,
        start: int,
        end: int,
        reprocess: str,
        max_active_runs: int,
        backwards: bool,
    ) -> Backfill:
        """A backfill over ``intervals`` (logical time, start, end); queued and running
        intervals are never duplicated."""

    @abstractmethod
    def backfill_plan(self, schedule_id: str, times: list[int], reprocess: str) -> dict:
        """What a backfill over ``times`` would do: ``{"run": [...], "keep": [...]}``."""

    @abstractmethod
    def get_backfill(self, backfill_id: str) -> Backfill:
        """A backfill with its progress; :class:`NotFound` if there is none."""

    @abstractmethod
    def list_backfills(self, schedule_id: str | None = None) -> list[Backfill]:
        """Backfills, newest first, with their progress."""

    @abstractmethod
    def set_backfill_status(self, backfill_id: str, status: str) -> None:
        """Complete or cancel an active backfill (cancelling cancels its queued ticks)."""

    @abstractmethod
    def active_backfills(self) -> list[Backfill]:
        """The backfills still active."""

    @abstractmethod
    def cancelled_backfill_ids(self, backfill_ids: Sequence[str]) -> list[str]:
        """Which of ``backfill_ids`` are cancelled."""

    @abstractmethod
    def scheduler_heartbeat(
        self, name: str, host: str, pid: int, started_at: int, running: int, stopped: bool = False
    ) -> None:
        """Record that scheduler ``name`` is alive (or, with ``stopped``, that it stopped)."""

    @abstractmethod
    def list_schedulers(self) -> list[SchedulerInfo]:
        """The schedulers that sent a heartbeat, newest first."""

    # --- stacks (heron.stacks) ------------------------------------------------------------
    @abstractmethod
    def create_stack(self, name: str, values: dict[str, Any]) -> Stack:
        """Store the stack ``name`` (``values``: its checked fields); :class:`AlreadyExists`
        if the name is taken."""

    @abstractmethod
    def update_stack(self, name: str, values: dict[str, Any]) -> Stack:
        """Change fields of the stack ``name``; :class:`NotFound` if there is none."""

    @abstractmethod
    def get_stack(self, name: str) -> Stack:
        """The stack ``name``; :class:`NotFound` if there is none."""

    @abstractmethod
    def list_stacks(self) -> list[Stack]:
        """Every stored stack, by name."""

    @abstractmethod
    def delete_stack(self, name: str) -> None:
        """Delete the stack ``name`` (runs that used it keep their record of it)."""
