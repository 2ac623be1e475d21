"""What an MLflow source yields: plain records, the same whichever store they came from."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from heron.core.entities import Metric

ACTIVE = "active"
DELETED = "deleted"

#: MLflow run status (name, and the number its file store writes) -> Heron run status
RUN_STATUSES = {
    "RUNNING": "running",
    "SCHEDULED": "pending",
    "FINISHED": "completed",
    "FAILED": "failed",
    "KILLED": "cancelled",
}
FILE_STORE_STATUSES = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
#: MLflow's LoggedModelStatus numbers
LOGGED_MODEL_STATUSES = {0: "UNSPECIFIED", 1: "PENDING", 2: "READY", 3: "FAILED"}

PARENT_TAG = "mlflow.parentRunId"
RUN_NAME_TAG = "mlflow.runName"
USER_TAG = "mlflow.user"
SOURCE_TAG = "mlflow.source.name"
GIT_COMMIT_TAG = "mlflow.source.git.commit"


class SourceError(Exception):
    """The source is not an MLflow store, cannot be reached, or cannot be read (the message
    says which and how to fix it). Raised before anything is written."""


@dataclass(slots=True)
class SourceExperiment:
    id: str
    name: str
    lifecycle: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RunHeader:
    """What ordering and skipping need, before a run's data is read."""

    id: str
    experiment_id: str
    status: str  # MLflow's name: FINISHED, RUNNING, ...
    lifecycle: str = ACTIVE
    parent_id: str | None = None
    start_time: int = 0


@dataclass(slots=True)
class SourceRun:
    id: str
    experiment_id: str
    name: str | None
    status: str
    start_time: int
    end_time: int | None
    user: str | None
    lifecycle: str
    artifact_uri: str | None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    metrics: list[Metric] = field(default_factory=list)  # every point, every step

    @property
    def parent_id(self) -> str | None:
        return self.tags.get(PARENT_TAG) or None

    @property
    def heron_status(self) -> str:
        return RUN_STATUSES.get(self.status, "failed")


@dataclass(slots=True)
class SourceLoggedModel:
    """An MLflow 3 logged model: a folder of files (MLmodel, the model's data)."""

    id: str
    experiment_id: str
    name: str
    source_run_id: str | None
    artifact_location: str | None
    status: str = "READY"
    lifecycle: str = ACTIVE
    model_type: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SourceModelVersion:
    version: int
    source: str | None
    run_id: str | None
    description: str | None = None
    user: str | None = None
    stage: str | None = None
    storage_location: str | None = None
    model_id: str | None = None
    status: str = "READY"
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class SourceRegisteredModel:
    name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    versions: list[SourceModelVersion] = field(default_factory=list)


class MlflowSource(ABC):
    """One MLflow store, read without importing mlflow.

    ``check`` runs first and raises :class:`SourceError` for anything that is not a readable
    MLflow store; the other methods read it.
    """

    #: how the source is named in ``heron.imported_from`` tags and messages (no password)
    label: str

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`SourceError` unless this is a readable MLflow store."""

    @abstractmethod
    def experiments(self) -> list[SourceExperiment]:
        """Every experiment, active and deleted."""

    @abstractmethod
    def run_headers(self) -> list[RunHeader]:
        """Every run (active and deleted) of every experiment, without its data."""

    @abstractmethod
    def load_runs(self, headers: Sequence[RunHeader]) -> list[SourceRun]:
        """The full runs of ``headers`` (params, tags, every metric point), in that order."""

    @abstractmethod
    def logged_models(self) -> list[SourceLoggedModel]:
        """Every MLflow 3 logged model."""

    @abstractmethod
    def registered_models(self) -> list[SourceRegisteredModel]:
        """Every registered model with its versions, tags and aliases."""

    @abstractmethod
    def run_artifacts(self, run: SourceRun) -> contextlib.AbstractContextManager[Path | None]:
        """A local folder holding the run's artifact tree while the context lasts (``None``
        when the run has none). :class:`SourceError` when they cannot be reached."""

    @abstractmethod
    def model_artifacts(
        self, model: SourceLoggedModel
    ) -> contextlib.AbstractContextManager[Path | None]:
        """A local folder holding a logged model's files while the context lasts."""

    @abstractmethod
    def close(self) -> None:
        """Release connections (a database, an HTTP client)."""


def ordered_for_creation(headers: Sequence[RunHeader]) -> list[RunHeader]:
    """``headers`` with every parent before its children (Heron checks that a run's parent
    exists), otherwise by start time; a parent that is not in the source does not hold its
    children back."""
    by_id = {h.id: h for h in headers}
    order: list[RunHeader] = []
    placed: set[str] = set()
    for header in sorted(headers, key=lambda h: (h.start_time, h.id)):
        chain: list[RunHeader] = []
        in_chain: set[str] = set()
        current: RunHeader | None = header
        while current is not None and current.id not in placed and current.id not in in_chain:
            chain.append(current)
            in_chain.add(current.id)
            current = by_id.get(current.parent_id) if current.parent_id else None
        for item in reversed(chain):
            placed.add(item.id)
            order.append(item)
    return order


@contextlib.contextmanager
def local_folder(path: Path | None) -> Iterator[Path | None]:
    """``path`` when it is an existing folder, else ``None`` (a run that logged no files)."""
    yield path if path is not None and path.is_dir() else None
