"""The orchestrator seam: "run this ready step; tell me when it finishes"."""

from __future__ import annotations

from abc import ABC, abstractmethod
from concurrent.futures import Future
from typing import Any

from heron.execution.plan import StepOutcome, StepPlan


class WorkerLost(Exception):
    """The process running a step died before reporting (killed, out of memory)."""


class Orchestrator(ABC):
    """Runs ready steps. ``parallelism`` is how many it runs at once."""

    parallelism: int = 1
    #: True when steps run in this process, so output objects can be handed on in memory.
    in_process: bool = True

    @abstractmethod
    def submit(self, plan: StepPlan, values: dict[str, Any]) -> Future[StepOutcome]:
        """Start a step; the future resolves to its outcome, or raises :class:`WorkerLost`."""

    @abstractmethod
    def shutdown(self, cancel: bool = False) -> None:
        """Release workers; with ``cancel``, stop what is still running."""
