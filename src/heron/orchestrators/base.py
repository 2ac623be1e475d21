"""The orchestrator seam: "run this ready step; tell me when it finishes"."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import Any

from heron.core.errors import InvalidArgument
from heron.execution.plan import StepOutcome, StepPlan

#: how many times an engine sends again a step whose worker died before the step started
MAX_RESENDS = 3


def check_count(owner: str, name: str, value: Any, optional: bool = True) -> None:
    """Refuse an option that must be an integer ≥ 1 (``None``, when ``optional``, is left
    to the default)."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgument(f"{owner}: {name} must be an integer ≥ 1, got {value!r}.")


class WorkerLost(Exception):
    """The process running a step died before reporting (killed, out of memory)."""


class Orchestrator(ABC):
    """Runs ready steps. ``parallelism`` is how many it runs at once."""

    #: the name ``make_orchestrator`` knows it by
    name: str = "local"
    parallelism: int = 1
    #: True when steps run in this process, so output objects can be handed on in memory.
    in_process: bool = True

    def describe(self) -> dict[str, str]:
        """What a pipeline run records of where its steps ran (tags ``heron.orchestrator.*``):
        at least the name; engines add their address."""
        return {"name": self.name, "parallelism": str(self.parallelism)}

    def check_resources(self, node_id: str, resources: dict[str, float]) -> None:  # noqa: B027
        """Refuse, before the run starts, resources no worker could satisfy
        (:class:`~heron.core.errors.InvalidArgument`); the default accepts any."""

    def forget(self, artifact_ids: list[str]) -> None:  # noqa: B027
        """No step of the run reads these outputs any more: drop what is held of them."""

    @abstractmethod
    def submit(self, plan: StepPlan, values: dict[str, Any]) -> Future[StepOutcome]:
        """Start a step; the future resolves to its outcome, or raises :class:`WorkerLost`."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> None:
        """Release workers; with ``cancel``, stop what is still running."""
