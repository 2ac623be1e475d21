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
RUN_KINDS = (KIND_RUN, KIND_PIPELINE, KIND_STEP)

ACTIVE = "active"
DELETED = "deleted"
VIEWS = ("active", "deleted", "all")

INPUT = "input"
OUTPUT = "output"


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


class PagedList(list):
    """A list of results plus ``token``, to pass as ``page_token`` for the next page (or None)."""

    def __init__(self, items: Any = (), token: str | None = None) -> None:
        super().__init__(items)
        self.token = token
