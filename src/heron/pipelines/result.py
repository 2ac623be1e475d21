"""What a pipeline call returns: the pipeline run and its step runs, with their outputs."""

from __future__ import annotations

from collections.abc import Mapping

from heron.core.entities import ArtifactVersion, Run
from heron.core.errors import NotFound, PipelineRunFailed
from heron.store.base import Store


class MissingResult(NotFound, KeyError):
    """A step or an output that a pipeline run does not have: a failed or skipped step has no
    outputs, and a name may be misspelt. A :class:`KeyError` too, so ``except KeyError`` and
    ``dict.get`` habits keep working."""

    code = "MISSING_RESULT"

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


def first_line(text: str | None) -> str:
    """The first line of a stored error (``Type: message``), or a stand-in when none is."""
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else "no error was recorded"


class StepOutputs(dict[str, ArtifactVersion]):
    """A step's outputs by name; asking for one it does not have says why it has none."""

    def __init__(self, step: StepRun, outputs: Mapping[str, ArtifactVersion]) -> None:
        super().__init__(outputs)
        self._step = step

    def __missing__(self, name: str) -> ArtifactVersion:
        raise MissingResult(self._step.no_output_message(name))


class PipelineSteps(dict[str, "StepRun"]):
    """A pipeline run's steps by name; a name it does not have is an error naming those it has."""

    def __init__(self, steps: Mapping[str, StepRun], run_id: str, name: str) -> None:
        super().__init__(steps)
        self._run = (run_id, name)

    def __missing__(self, name: str) -> StepRun:
        run_id, pipeline = self._run
        raise MissingResult(
            f"Pipeline run {run_id} ({pipeline}) has no step {name!r}; its steps are: "
            f"{', '.join(self) or 'none'}."
        )


class StepRun:
    """One step execution of a pipeline run."""

    def __init__(
        self,
        name: str,
        run_id: str | None,
        status: str,
        outputs: Mapping[str, ArtifactVersion],
        error: str | None,
        store: Store,
    ) -> None:
        self.name = name
        self.id = run_id
        self.status = status
        self.outputs = StepOutputs(self, outputs)
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

    def no_output_message(self, name: str) -> str:
        """Why this step has no output ``name``."""
        logs = f" Its output and traceback: heron runs logs {self.id}." if self.id else ""
        if self.status == "failed":
            return f"Step {self.name!r} failed ({first_line(self.error)}); it has no outputs.{logs}"
        if self.status == "skipped":
            why = first_line(self.error).removeprefix("Skipped: ").rstrip(".")
            return f"Step {self.name!r} was skipped ({why}); it has no outputs."
        if self.status not in ("completed", "cached"):
            return f"Step {self.name!r} ended {self.status}; it has no outputs.{logs}"
        return (
            f"Step {self.name!r} has no output {name!r}; its outputs are: "
            f"{', '.join(self.outputs) or 'none'}."
        )

    def __repr__(self) -> str:
        return f"<StepRun {self.name} {self.status}>"


class PipelineRun:
    """The result of running a pipeline: ``status``, ``steps`` by name, the stored ``run``."""

    def __init__(
        self,
        run_id: str,
        name: str,
        status: str,
        steps: Mapping[str, StepRun],
        store: Store,
        error: str | None = None,
    ) -> None:
        self.id = run_id
        self.name = name
        self.status = status
        self.steps = PipelineSteps(steps, run_id, name)
        self.error = error
        self._store = store

    @property
    def run(self) -> Run:
        """The pipeline's run as stored now."""
        return self._store.get_run(self.id)

    @property
    def failed_steps(self) -> list[str]:
        return [name for name, s in self.steps.items() if s.status == "failed"]

    def failure(self) -> PipelineRunFailed:
        """The error a pipeline call raises for this run when it did not complete: it names
        each failed step and its error, and carries this run as ``.run``."""
        failed = self.failed_steps
        skipped = [name for name, s in self.steps.items() if s.status == "skipped"]
        lines = [f"Pipeline run {self.id} ({self.name}) {self.status}:"]
        lines += [f"  step {n!r} failed: {first_line(self.steps[n].error)}" for n in failed]
        if not failed:
            lines.append(f"  {first_line(self.error)}")
        if skipped:
            noun = "step" if len(skipped) == 1 else "steps"
            lines.append(
                f"  {len(skipped)} {noun} skipped (depending on a failure): {', '.join(skipped)}"
            )
        look = (
            f"`heron runs logs {self.steps[failed[0]].id}` shows the step's output and traceback"
            if failed
            else f"`heron runs show {self.id}` shows it"
        )
        lines.append(f"Stored: {look}; `heron runs resume {self.id}` retries it once fixed.")
        lines.append(
            "This error's .run is the PipelineRun; "
            ".with_options(raise_on_failure=False) returns it instead of raising."
        )
        return PipelineRunFailed("\n".join(lines), run=self)

    def __repr__(self) -> str:
        return f"<PipelineRun {self.name} {self.id[:8]} {self.status}>"
