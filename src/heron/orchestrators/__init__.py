"""Where and when steps run. Every orchestrator calls the same step executor."""

from __future__ import annotations

from heron.core.errors import InvalidArgument
from heron.orchestrators.base import Orchestrator


def make_orchestrator(name: str = "local", parallelism: int = 1, **options: object) -> Orchestrator:
    """The orchestrator called ``name`` (``local``), set up for ``parallelism`` steps at once."""
    if name == "local":
        from heron.orchestrators.local import LocalOrchestrator

        return LocalOrchestrator(parallelism=parallelism, **options)
    raise InvalidArgument(
        f"Unknown orchestrator {name!r}. This release has 'local' (steps in this process, or "
        "in a pool of worker processes with parallelism=N)."
    )


__all__ = ["Orchestrator", "make_orchestrator"]
