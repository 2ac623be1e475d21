"""What a pipeline call returns: the pipeline run and its step runs, with their outputs."""

from __future__ import annotations

from heron.core.entities import ArtifactVersion, Run
from heron.store.base import Store


class StepRun:
    """One step execution of a pipeline run."""

    def __init__(
        self,
        name: str,
        run_id: str | None,
        status: str,
        outputs: dict[str, ArtifactVersion],
        error: str | None,
        store: Store,
    ) -> None:
        self.name = name
        self.id = run_id
        self.status = status
        self.outputs = outputs
        self.error = error
        self._store = store

    @property
    def cached(self) -> bool:
        """True when an identical earlier execution was reused instead of running the step."""
        return self.status == "cached"

    @property
    def run(self) -> Run | None:
        """The step's run as stored now (params, metrics, tags)."""
        return self._store.get_run(self.id) if self.id else None

    def __repr__(self) -> str:
        return f"<StepRun {self.name} {self.status}>"


class PipelineRun:
    """The result of running a pipeline: ``status``, ``steps`` by name, the stored ``run``."""

    def __init__(
        self,
        run_id: str,
        name: str,
        status: str,
        steps: dict[str, StepRun],
        store: Store,
        error: str | None = None,
    ) -> None:
        self.id = run_id
        self.name = name
        self.status = status
        self.steps = steps
        self.error = error
        self._store = store

    @property
    def run(self) -> Run:
        """The pipeline's run as stored now."""
        return self._store.get_run(self.id)

    @property
    def failed_steps(self) -> list[str]:
        return [name for name, s in self.steps.items() if s.status == "failed"]

    def __repr__(self) -> str:
        return f"<PipelineRun {self.name} {self.id[:8]} {self.status}>"
