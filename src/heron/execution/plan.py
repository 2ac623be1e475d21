"""What the step executor needs to run one step, in a form that travels to other processes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from heron.core.entities import ArtifactVersion

#: Prefix of the module names under which pipeline files loaded by path (``heron run
#: file.py``) are imported: no other interpreter can import such a module by name, so the
#: steps defined there travel to worker processes by value.
FILE_MODULE_PREFIX = "heron_user_"


@dataclass
class StepPlan:
    """One step execution, fully resolved: its function, parameters and input artifacts.

    ``inputs`` maps an argument to an artifact version, or to a list of them (the argument
    then receives a list of values). ``run_id`` is chosen by the caller, so it can record the
    step's fate even if the process running it dies.
    """

    run_id: str
    node_id: str
    pipeline_run_id: str
    experiment_id: str
    function: Callable[..., Any]
    outputs: tuple[str, ...]
    definition_hash: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, ArtifactVersion | list[ArtifactVersion]] = field(default_factory=dict)
    materializers: dict[str, str] = field(default_factory=dict)
    artifact_names: dict[str, str] = field(default_factory=dict)
    cache: bool = True
    retries: int = 0
    retry_delay: float = 1.0
    backoff: float = 2.0
    timeout: float | None = None
    #: what the step asks of its worker (:mod:`heron.core.resources`); memory in bytes
    resources: dict[str, float] = field(default_factory=dict)
    tracking_uri: str = ""
    artifact_uri: str = ""
    #: the project of the pipeline run (a worker's process may be in another one): the
    #: step's cache hits and artifact versions are that project's
    project: str = ""
    #: the file defining ``function``: a function sent to a worker by value has lost it, and
    #: the tracebacks of its failures name it again
    source_file: str = ""

    def input_artifact_ids(self) -> list[str]:
        """The ids of the artifact versions the step reads, in argument order."""
        ids: list[str] = []
        for value in self.inputs.values():
            ids += [av.id for av in value] if isinstance(value, list) else [value.id]
        return ids

    def artifact_name(self, output: str) -> str:
        """The artifact name of an output: ``<step>.<output>`` unless overridden."""
        return self.artifact_names.get(output) or f"{self.node_id}.{output}"


@dataclass
class StepOutcome:
    """How a step execution ended: ``completed``, ``cached`` or ``failed``."""

    run_id: str
    node_id: str
    status: str
    outputs: dict[str, ArtifactVersion] = field(default_factory=dict)
    error: str | None = None
    values: dict[str, Any] | None = None  # the output objects, when run in this process

    @property
    def succeeded(self) -> bool:
        return self.status in ("completed", "cached")
