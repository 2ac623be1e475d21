"""Registry operations above the store: registering a source, alias history replays, rollback.

The store keeps the facts (versions, aliases, every alias move); this module answers the
questions users ask of them: which version did ``champion`` point at on a date, and where does
a rollback go.
"""

from __future__ import annotations

from typing import Any

from heron.core.entities import (
    ALIAS_DELETED,
    ALIAS_ROLLBACK,
    ALIAS_VERSION_DELETED,
    AliasEvent,
    ArtifactVersion,
    ModelVersion,
)
from heron.core.errors import InvalidArgument, InvalidState
from heron.models.model import check_model_artifact
from heron.store.base import Store


def resolve_source(store: Store, source: Any) -> ArtifactVersion:
    """The artifact version a registration ``source`` names: a ``ModelInfo`` (what
    ``log_model`` returned), an :class:`ArtifactVersion`, an artifact id, ``runs:/<run>/<name>``
    or ``models:/…`` (registering another model's version again)."""
    from heron.models.uris import resolve

    if isinstance(source, ArtifactVersion):
        return store.get_artifact_version(source.id)
    artifact_id = getattr(source, "artifact_id", None)
    if isinstance(artifact_id, str):
        return store.get_artifact_version(artifact_id)
    if not isinstance(source, str):
        raise InvalidArgument(
            f"Cannot register a {type(source).__name__}: the source is what log_model returned, "
            "an artifact id, runs:/<run_id>/<name> or models:/<name>/<version>."
        )
    return resolve(store, source).artifact


def register_artifact(
    store: Store,
    name: str,
    artifact: ArtifactVersion,
    *,
    description: str | None = None,
    tags: dict[str, str] | None = None,
    user: str | None = None,
) -> ModelVersion:
    """Make ``artifact`` the next version of model ``name``; the store links it to the run that
    produced the artifact and, for a step's output, to the pipeline run around it."""
    check_model_artifact(artifact)
    return store.create_model_version(
        name,
        artifact.id,
        description=description,
        tags=tags,
        user=user or acting_user(),
    )


def acting_user() -> str | None:
    """Who is acting: recorded on model versions and alias moves."""
    from heron.tracking.run_context import current_user

    return current_user()


def version_at(events: list[AliasEvent], timestamp: int) -> int | None:
    """The version an alias pointed at, at ``timestamp`` (ms), from its history (oldest
    first); ``None`` if it was not set then."""
    current = None
    for event in events:
        if event.timestamp > timestamp:
            break
        current = event.to_version
    return current


def rollback_target(events: list[AliasEvent], is_active: Any) -> int:
    """The version a rollback moves the alias to: the one it pointed at before the current
    version was set, skipping deleted versions; each rollback goes one step further back.
    When the alias was removed because its version was deleted, a rollback restores the
    version before that one.

    The history is replayed as a stack: a move pushes, a rollback pops, deleting the alias
    clears it, and a deleted version drops out of it.
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
    previous = [v for v in (stack[:-1] if is_set else stack) if is_active(v)]
    if not stack and not is_set:
        raise InvalidState("The alias is not set, so there is nothing to roll back.")
    if not previous:
        now = f"version {stack[-1]}" if is_set and stack else "its deleted version"
        raise InvalidState(
            f"The alias has pointed at no other (still existing) version before {now}: "
            "nothing to roll back to. Point it with set_model_alias instead."
        )
    return previous[-1]
