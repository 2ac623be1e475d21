"""Resolving the selected stack for :mod:`heron.core.config` (its ``STACK_RESOLVER``)."""

from __future__ import annotations

from typing import Any

from heron.core.errors import NotFound


def settings_of(name: str, home_uri: str) -> dict[str, Any]:
    """The settings of stack ``name`` as kept in the store at ``home_uri``, checked to be
    usable from here (its orchestrator's package installed, its artifact store reachable by
    its workers)."""
    from heron.stacks.checks import check_stack
    from heron.stacks.manage import selected_by
    from heron.store.registry import open_store

    # A store of its own, not the cached one: this runs while a cached store is being
    # opened (its settings are what is being resolved), under the registry's lock.
    try:
        stack = open_store(home_uri).get_stack(name)
    except NotFound as e:
        raise NotFound(
            f"The selected stack {name!r} does not exist: {e.message} It was selected by "
            f"{selected_by()}."
        ) from None
    check_stack(stack, reach=False)
    return stack.to_dict()
