"""Where and when steps run. Every orchestrator calls the same step executor."""

from __future__ import annotations

from typing import Any

from heron.core.errors import ConfigError, InvalidArgument
from heron.orchestrators.base import Orchestrator

#: orchestrator name -> (module, class, the extra that installs its engine, the engine's module)
ORCHESTRATORS = {
    "local": ("heron.orchestrators.local", "LocalOrchestrator", None, None),
    "dask": ("heron.orchestrators.dask", "DaskOrchestrator", "dask", "distributed"),
    "ray": ("heron.orchestrators.ray", "RayOrchestrator", "ray", "ray"),
}


def orchestrator_class(name: str) -> type[Orchestrator]:
    """The class of orchestrator ``name``; a clear error when it is unknown or its engine's
    package is not installed."""
    import importlib
    import importlib.util

    if name not in ORCHESTRATORS:
        raise InvalidArgument(
            f"Unknown orchestrator {name!r}: use one of {', '.join(ORCHESTRATORS)} ('local' "
            "runs steps in this process, or in a pool of worker processes with parallelism=N)."
        )
    module, cls, extra, engine = ORCHESTRATORS[name]
    if engine is not None and importlib.util.find_spec(engine) is None:
        raise ConfigError(
            f"The {name} orchestrator needs the {engine!r} package, which is not installed: "
            f"pip install 'heron-ml[{extra}]'."
        )
    return getattr(importlib.import_module(module), cls)


def make_orchestrator(
    name: str = "local", parallelism: int | None = None, **options: Any
) -> Orchestrator:
    """The orchestrator called ``name`` (``local``, ``dask``, ``ray``), set up for
    ``parallelism`` steps at once (``None``: the orchestrator's default) with its
    ``options`` (for Dask and Ray: ``address``, ...)."""
    cls = check_options(name, options)
    if parallelism is not None:
        options["parallelism"] = parallelism
    return cls(**options)


def check_options(name: str, options: dict[str, Any]) -> type[Orchestrator]:
    """The class of orchestrator ``name``, once ``options`` are known to be its options."""
    import inspect

    cls = orchestrator_class(name)
    accepted = [p for p in inspect.signature(cls).parameters if p not in ("self", "kwargs")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise InvalidArgument(
            f"The {name} orchestrator has no option {', '.join(map(repr, unknown))}; its "
            f"options are {', '.join(accepted)}."
        )
    return cls


__all__ = [
    "ORCHESTRATORS",
    "Orchestrator",
    "check_options",
    "make_orchestrator",
    "orchestrator_class",
]
