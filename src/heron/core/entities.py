"""The small typed objects every layer passes around (DESIGN §1).

They are plain data: stores build them, the API returns them, the server serializes them with
:meth:`to_dict`. None of them holds a database connection.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, NamedTuple

KIND_RUN = "run"
KIND_PIPELINE = "pipeline"
KIND_STEP = "step"
KIND_MONITOR = "monitor"  # one evaluation of a monitor (heron.monitoring)
RUN_KINDS = (KIND_RUN, KIND_PIPELINE, KIND_STEP, KIND_MONITOR)

ACTIVE = "active"
DELETED = "deleted"
VIEWS = ("active", "deleted", "all")

INPUT = "input"
OUTPUT = "output"

#: the project of everything made without one (``heron.core.config.DEFAULT_PROJECT``)
DEFAULT_PROJECT = "default"


class Metric(NamedTuple):
    """One point of a metric: ``value`` at ``step``, logged at ``timestamp`` (ms).

    A named tuple, so that a plain ``(key, value, step, timestamp)`` tuple is one too.
    """

    key: str
    value: float
    step: int = 0
    timestamp: int = 0

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


@dataclass(slots=True)
class Experiment:
    """A named group of runs."""

    id: str
    name: str
    lifecycle: str = ACTIVE
    created_at: int = 0
    updated_at: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    project: str = DEFAULT_PROJECT  # the namespace owning it (names are unique per project)

    @property
    def deleted(self) -> bool:
        return self.lifecycle == DELETED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Run:
    """One unit of tracked work: a tracked script, a pipeline execution or a step execution.

    ``metrics`` holds the latest value of each metric (highest step, then newest timestamp);
    :meth:`heron.Client.get_metric_history` has every point.
    """

    id: str
    experiment_id: str
    name: str
    kind: str = KIND_RUN
    status: str = "running"
    start_time: int = 0
    end_time: int | None = None
    user: str | None = None
    source: str | None = None
    git_commit: str | None = None
    python_version: str | None = None
    parent_id: str | None = None
    status_reason: str | None = None
    heartbeat_at: int | None = None
    lifecycle: str = ACTIVE
    pipeline_version_id: str | None = None
    cache_key: str | None = None
    owner: str | None = None  # "pid:start@machine" of the process running it (heron.core.owner)
    heartbeat_timeout: int | None = None  # ms without a heartbeat after which it reads as dead
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        return self.lifecycle == DELETED

    @property
    def duration_ms(self) -> int | None:
        """Wall time in ms, ``None`` while the run has not ended."""
        return None if self.end_time is None else self.end_time - self.start_time

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ArtifactVersion:
    """An immutable stored value: ``name`` version ``version``, identified by ``content_hash``.

    ``uri`` is where the bytes live (a file or a folder under the artifact root).
    """

    id: str
    name: str
    version: int
    content_hash: str
    type: str
    materializer: str
    size: int
    uri: str
    producer_run_id: str | None = None
    created_at: int = 0
    materializer_version: str = "1"
    metadata: dict[str, Any] = field(default_factory=dict)
    lifecycle: str = ACTIVE
    project: str = DEFAULT_PROJECT  # versions are numbered per (project, name)

    def load(self) -> Any:
        """The stored value, read back by the materializer that wrote it.

        Files and folders logged with ``heron.log_artifact`` load as a local path.
        """
        loader = _artifact_loader
        if loader is None:
            import importlib

            importlib.import_module("heron.artifacts.loading")  # registers the loader
            loader = _artifact_loader
        assert loader is not None
        return loader(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_artifact_loader: Callable[[ArtifactVersion], Any] | None = None


def set_artifact_loader(loader: Callable[[ArtifactVersion], Any]) -> None:
    """Install the function behind :meth:`ArtifactVersion.load` (the artifacts layer does)."""
    global _artifact_loader
    _artifact_loader = loader


@dataclass(slots=True)
class ArtifactLink:
    """A run's use of an artifact version: ``direction`` is ``input`` or ``output``."""

    run_id: str
    artifact_id: str
    direction: str
    name: str


@dataclass(slots=True)
class PipelineVersion:
    """One distinct DAG of a pipeline: its structure (steps, their code hashes, the wiring)."""

    id: str
    name: str
    structure: dict[str, Any]
    created_at: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class RegisteredModel:
    """A registered model name: its versions carry the models, its aliases point at versions.

    ``aliases`` maps each alias (``champion``) to a version number; ``latest_version`` is the
    highest version number not deleted (``None`` when there is none); deleted versions keep
    their numbers, which are never given again.
    """

    id: str
    name: str
    description: str | None = None
    created_at: int = 0
    updated_at: int = 0
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, int] = field(default_factory=dict)
    latest_version: int | None = None
    project: str = DEFAULT_PROJECT  # the namespace owning it (names are unique per project)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class ModelVersion:
    """Version ``version`` of a registered model: one artifact version (the model itself).

    ``run_id`` is the run that produced the artifact and ``pipeline_run_id`` the pipeline run
    around it, when a step produced it; lineage goes on from the artifact.
    """

    id: str
    name: str
    version: int
    artifact_id: str
    run_id: str | None = None
    pipeline_run_id: str | None = None
    description: str | None = None
    user: str | None = None
    created_at: int = 0
    updated_at: int = 0
    lifecycle: str = ACTIVE
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)

    @property
    def deleted(self) -> bool:
        return self.lifecycle == DELETED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ALIAS_SET = "set"
ALIAS_DELETED = "delete"
ALIAS_ROLLBACK = "rollback"
ALIAS_VERSION_DELETED = "version_deleted"
ALIAS_ACTIONS = (ALIAS_SET, ALIAS_DELETED, ALIAS_ROLLBACK, ALIAS_VERSION_DELETED)


@dataclass(slots=True)
class AliasEvent:
    """One move of an alias: ``from_version`` -> ``to_version`` (``None``: unset), by whom, when.

    ``action`` is ``set``, ``delete``, ``rollback`` or ``version_deleted`` (the version it
    pointed at was deleted, which removes the alias).
    """

    name: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str
    user: str | None = None
    timestamp: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class PagedList(list):
    """A list of results plus ``token``, to pass as ``page_token`` for the next page (or None)."""

    def __init__(self, items: Any = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token
