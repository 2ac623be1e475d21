"""Replaying a model alias's history: where a rollback goes.

The history is the list of :class:`~heron.core.entities.AliasEvent` rows the store keeps for
an alias, oldest first. Stores call :func:`rollback_target` inside the transaction that moves
the alias, so that the history they read is the one they extend.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from heron.core.entities import (
    ALIAS_DELETED,
    ALIAS_ROLLBACK,
    ALIAS_VERSION_DELETED,
    AliasEvent,
)
from heron.core.errors import InvalidState


def rollback_target(
    events: Sequence[AliasEvent],
    is_active: Callable[[int], bool],
    what: str = "The alias",
    set_call: str = "set_model_alias",
) -> int:
    """The version a rollback moves the alias to: the one it pointed at before the current
    version was set, skipping deleted versions; each rollback goes one step further back.
    When the alias was removed because its version was deleted, a rollback restores the
    version before that one.

    The history is replayed as a stack: a move pushes, a rollback pops, deleting the alias
    clears it, and a deleted version drops out of it. ``what`` names the alias in errors
    (``Alias 'champion' of model 'iris'``), ``set_call`` the call that points it instead.
    """
    stack: list[int] = []
    is_set = False
    for event in events:
        if event.action == ALIAS_ROLLBACK:
            if is_set and stack:
                stack.pop()  # undo the current version (an unset alias has none to undo)
            while stack and stack[-1] != event.to_version:
                stack.pop()  # versions skipped over because they were deleted
            if not stack:
                stack.append(event.to_version)  # type: ignore[arg-type]
            is_set = True
        elif event.action == ALIAS_DELETED:
            stack.clear()
            is_set = False
        elif event.action == ALIAS_VERSION_DELETED:
            stack = [v for v in stack if v != event.from_version]
            is_set = False
        elif event.to_version is not None:
            if not stack or stack[-1] != event.to_version:
                stack.append(event.to_version)
            is_set = True
    if not stack and not is_set:
        raise InvalidState(f"{what} is not set, so there is nothing to roll back.")
    previous = [v for v in (stack[:-1] if is_set else stack) if is_active(v)]
    if not previous:
        now = f"version {stack[-1]}" if is_set and stack else "its deleted version"
        raise InvalidState(
            f"{what} has pointed at no other (still existing) version before {now}: "
            f"nothing to roll back to. Point it with {set_call} instead."
        )
    return previous[-1]
