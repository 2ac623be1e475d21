"""Monitoring: drift of current data against a model's reference data.

``heron.monitoring.drift(reference, current)`` compares two data sets column by column
(:mod:`heron.monitoring.comparison`, statistics in :mod:`heron.monitoring.statistics`) and answers a
:class:`DriftReport`. NumPy, pandas and SciPy load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from heron.monitoring.comparison import ColumnDrift, DriftReport, drift

__all__ = ["ColumnDrift", "DriftReport", "drift"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from heron.monitoring import comparison as module

        return getattr(module, name)
    raise AttributeError(f"module 'heron.monitoring' has no attribute {name!r}")
