"""Stacks: named configurations of tracking URI, artifact URI and orchestrator (DESIGN §1).

>>> heron.stacks.create_stack("cluster", tracking_uri="http://heron:5151",
...     artifact_uri="s3://bucket/heron", orchestrator="ray",
...     orchestrator_options={"address": "ray://head:10001"})  # doctest: +SKIP
>>> heron.use_stack("cluster")  # doctest: +SKIP

Everything here loads on first use.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "Stack": "heron.core.stacks",
    "check_stack": "heron.stacks.checks",
    "create_stack": "heron.stacks.manage",
    "current_stack": "heron.stacks.manage",
    "delete_stack": "heron.stacks.manage",
    "get_stack": "heron.stacks.manage",
    "list_stacks": "heron.stacks.manage",
    "update_stack": "heron.stacks.manage",
    "use_stack": "heron.stacks.manage",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'heron.stacks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
