"""Creating, changing, choosing and reading stacks.

Stacks are kept in the *home* store: the one the tracking URI points at without any stack
(``--tracking-uri``, ``HERON_TRACKING_URI``, else the local workspace). Pointed at a team's
``heron server``, everyone sees the same stacks; otherwise they live in the workspace. The
stack in force is, first match wins: ``--stack`` / :func:`use_stack` in this process,
``HERON_STACK``, the workspace's active stack (``heron stack use``), else the built-in
``default`` (the embedded store, steps run locally). Within a stack, an explicit setting still
wins: ``--tracking-uri``/``HERON_TRACKING_URI`` over the stack's tracking URI,
``HERON_ARTIFACT_URI`` over its artifact URI, ``with_options(orchestrator=...)`` over its
orchestrator.
"""

from __future__ import annotations

import os
from typing import Any

from heron.core import config
from heron.core.errors import InvalidArgument
from heron.core.stacks import DEFAULT_STACK, Stack, check_stack_name, check_stack_values
from heron.store.base import Store


def home_store(home_uri: str | None = None) -> Store:
    """The store that keeps the stacks (see the module docstring)."""
    from heron.store.registry import get_store

    return get_store(home_uri or config.home_tracking_uri())


def default_stack() -> Stack:
    """The built-in stack in force when none is chosen."""
    return Stack(DEFAULT_STACK, description="the embedded store, steps run locally")


def create_stack(
    name: str,
    *,
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
    orchestrator: str = "local",
    orchestrator_options: dict[str, Any] | None = None,
    parallelism: int | None = None,
    description: str = "",
    check: bool = True,
    store: Store | None = None,
) -> Stack:
    """Create the stack ``name``; it is checked first (``check``: its orchestrator's package
    installed, its addresses reachable, its stores reachable by its workers), and nothing is
    stored if it fails.

    >>> create_stack("cluster", tracking_uri="http://heron:5151",
    ...     artifact_uri="s3://b/heron", orchestrator="ray",
    ...     orchestrator_options={"address": "ray://head:10001"})  # doctest: +SKIP
    """
    check_stack_name(name)
    if name == DEFAULT_STACK:
        raise InvalidArgument(
            f"{DEFAULT_STACK!r} is the built-in stack (the embedded store, steps run locally): "
            "give your stack another name."
        )
    values = check_stack_values(
        {
            "tracking_uri": tracking_uri,
            "artifact_uri": artifact_uri,
            "orchestrator": orchestrator,
            "orchestrator_options": dict(orchestrator_options or {}),
            "parallelism": parallelism,
            "description": description,
        }
    )
    if check:
        from heron.stacks.checks import check_stack

        check_stack(Stack(name, **values))
    return (store or home_store()).create_stack(name, values)


def update_stack(
    name: str, *, check: bool = True, store: Store | None = None, **changes: Any
) -> Stack:
    """Change some fields of the stack ``name`` (``tracking_uri``, ``artifact_uri``,
    ``orchestrator``, ``orchestrator_options``, ``parallelism``, ``description``); the
    changed stack is checked as :func:`create_stack` checks a new one."""
    store = store or home_store()
    values = check_stack_values(changes)
    current = store.get_stack(name)
    if check:
        from heron.stacks.checks import check_stack

        check_stack(Stack(name, **{**current.definition(), **values}))
    config.forget_stack_settings()
    return store.update_stack(name, values)


def get_stack(name: str, store: Store | None = None) -> Stack:
    """The stack ``name`` (``default`` is the built-in one)."""
    if name == DEFAULT_STACK:
        return default_stack()
    return (store or home_store()).get_stack(name)


def list_stacks(store: Store | None = None) -> list[Stack]:
    """The built-in ``default`` stack, then every stored stack by name."""
    return [default_stack(), *(store or home_store()).list_stacks()]


def delete_stack(name: str, store: Store | None = None) -> None:
    """Delete the stack ``name``; the runs that used it keep their record of it. The
    workspace's active stack cannot be deleted until another is made active."""
    if name == DEFAULT_STACK:
        raise InvalidArgument(f"The built-in stack {DEFAULT_STACK!r} cannot be deleted.")
    active = config.workspace_active_stack()
    if active == name:
        raise InvalidArgument(
            f"Stack {name!r} is the workspace's active stack ({config.active_stack_file()}): "
            f"`heron stack use {DEFAULT_STACK}` (or another) first."
        )
    (store or home_store()).delete_stack(name)


def use_stack(name: str | None, *, persist: bool = False, check: bool = True) -> Stack:
    """Make ``name`` the stack in force in this process (``None``: back to ``HERON_STACK`` or
    the workspace's active stack); with ``persist`` also the workspace's active stack, for
    later processes (what ``heron stack use`` does). The stack is checked first (``check``),
    reachability included; nothing changes if it fails."""
    stack = get_stack(name) if name is not None else None
    if stack is not None and check and stack.name != DEFAULT_STACK:
        from heron.stacks.checks import check_stack

        check_stack(stack)
    if persist:
        path = config.active_stack_file()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(f"{name or DEFAULT_STACK}\n", encoding="utf-8")
        os.replace(tmp, path)
    config.select_stack(name)
    return current_stack() if stack is None else stack


def current_stack() -> Stack:
    """The stack in force in this process (see the module docstring)."""
    settings = config.stack_settings()
    if settings is None:
        return default_stack()
    return Stack(**settings)


def selected_by() -> str:
    """How the stack in force was chosen, in words."""
    chosen = config.stack_chosen_by()
    if chosen == "process":
        return "--stack or heron.use_stack()"
    if chosen == "environment":
        return f"${config.STACK_ENV}"
    if chosen == "workspace":
        return f"`heron stack use` ({config.active_stack_file()})"
    return "nothing chose one"
