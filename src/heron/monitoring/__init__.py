"""Monitoring: drift of current data against a model's reference data.

``heron.monitoring.drift(reference, current)`` compares two data sets column by column
(:mod:`heron.monitoring.comparison`, statistics in :mod:`heron.monitoring.statistics`) and answers a
:class:`DriftReport`. NumPy, pandas and SciPy load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heron.monitoring.comparison import ColumnDrift, DriftReport, drift
    from heron.monitoring.evaluation import Evaluation, evaluate
    from heron.monitoring.inferences import log_inferences, read_inferences
    from heron.monitoring.monitors import (
        Monitor,
        create_monitor,
        delete_monitor,
        get_monitor,
        list_monitors,
    )
    from heron.monitoring.reference import find_reference

# public name -> module that defines it (imported on first attribute access)
_LAZY = {
    "ColumnDrift": "comparison",
    "DriftReport": "comparison",
    "drift": "comparison",
    "Evaluation": "evaluation",
    "evaluate": "evaluation",
    "log_inferences": "inferences",
    "read_inferences": "inferences",
    "Monitor": "monitors",
    "create_monitor": "monitors",
    "delete_monitor": "monitors",
    "get_monitor": "monitors",
    "list_monitors": "monitors",
    "find_reference": "reference",
}
__all__ = [
    "ColumnDrift",
    "DriftReport",
    "Evaluation",
    "Monitor",
    "create_monitor",
    "delete_monitor",
    "drift",
    "evaluate",
    "find_reference",
    "get_monitor",
    "list_monitors",
    "log_inferences",
    "read_inferences",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(f"heron.monitoring.{_LAZY[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'heron.monitoring' has no attribute {name!r}")
