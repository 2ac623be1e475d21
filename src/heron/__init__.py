"""Heron: one package for the machine-learning lifecycle.

>>> import heron
>>> heron.set_experiment("iris")  # doctest: +SKIP
>>> with heron.start_run(name="baseline"):  # doctest: +SKIP
...     heron.log_params({"lr": 0.1})
...     heron.log_metric("loss", 0.42, step=1)

Everything here loads on first use, so ``import heron`` stays fast.
"""

from __future__ import annotations

from heron._version import __version__ as __version__

# public name -> module that defines it (imported on first attribute access)
_LAZY = {
    "Client": "heron.tracking.client",
    "HeronError": "heron.core.errors",
    "PipelineRunFailed": "heron.core.errors",
    "active_run": "heron.tracking.fluent",
    "autolog": "heron.autologging",
    "context": "heron.scheduling.context",
    "delete_tag": "heron.tracking.fluent",
    "end_run": "heron.tracking.fluent",
    "get_project": "heron.core.config",
    "get_tracking_uri": "heron.tracking.fluent",
    "load_model": "heron.models.loading",
    "log_artifact": "heron.tracking.fluent",
    "log_dict": "heron.tracking.fluent",
    "log_metric": "heron.tracking.fluent",
    "log_metrics": "heron.tracking.fluent",
    "log_model": "heron.models.saving",
    "log_param": "heron.tracking.fluent",
    "log_params": "heron.tracking.fluent",
    "log_text": "heron.tracking.fluent",
    "logical_date": "heron.scheduling.context",
    "logical_time": "heron.scheduling.context",
    "pipeline": "heron.pipelines.pipeline",
    "schedule": "heron.scheduling.definitions",
    "set_experiment": "heron.tracking.fluent",
    "set_project": "heron.core.config",
    "use_stack": "heron.stacks.manage",
    "set_tag": "heron.tracking.fluent",
    "set_tags": "heron.tracking.fluent",
    "set_tracking_uri": "heron.tracking.fluent",
    "start_run": "heron.tracking.fluent",
    "step": "heron.pipelines.step",
}

__all__ = [
    "Client",
    "HeronError",
    "PipelineRunFailed",
    "active_run",
    "autolog",
    "context",
    "delete_tag",
    "end_run",
    "get_project",
    "get_tracking_uri",
    "load_model",
    "log_artifact",
    "log_dict",
    "log_metric",
    "log_metrics",
    "log_model",
    "log_param",
    "log_params",
    "log_text",
    "logical_date",
    "logical_time",
    "pipeline",
    "schedule",
    "set_experiment",
    "set_project",
    "set_tag",
    "set_tags",
    "set_tracking_uri",
    "start_run",
    "step",
    "use_stack",
]


# subpackages reached as attributes (``heron.monitoring.drift(...)``), imported on first use
_SUBPACKAGES = frozenset({"monitoring", "stacks"})


def __getattr__(name: str) -> object:
    module_name = _LAZY.get(name)
    if module_name is None and name not in _SUBPACKAGES:
        raise AttributeError(f"module 'heron' has no attribute {name!r}")
    import importlib

    if module_name is None:
        value: object = importlib.import_module(f"heron.{name}")
    else:
        value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


# `typing` alone costs more to import than all of `import heron`; type checkers treat a
# module-level TYPE_CHECKING constant like typing.TYPE_CHECKING.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from heron.autologging import autolog
    from heron.core.config import get_project, set_project
    from heron.core.errors import HeronError, PipelineRunFailed
    from heron.models.loading import load_model
    from heron.models.saving import log_model
    from heron.pipelines.pipeline import pipeline
    from heron.pipelines.step import step
    from heron.scheduling.context import context, logical_date, logical_time
    from heron.scheduling.definitions import schedule
    from heron.stacks.manage import use_stack
    from heron.tracking.client import Client
    from heron.tracking.fluent import (
        active_run,
        delete_tag,
        end_run,
        get_tracking_uri,
        log_artifact,
        log_dict,
        log_metric,
        log_metrics,
        log_param,
        log_params,
        log_text,
        set_experiment,
        set_tag,
        set_tags,
        set_tracking_uri,
        start_run,
    )
