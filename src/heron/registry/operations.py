"""Registry operations above the store: registering a source, alias history replays, rollback.

The store keeps the facts (versions, aliases, every alias move); this module answers the
questions users ask of them: which version did ``champion`` point at on a date. Where a
rollback goes is decided by the store, inside the transaction that moves the alias
(:func:`heron.store.alias_history.rollback_target`).
"""

from __future__ import annotations

from typing import Any

from heron.core.entities import AliasEvent, ArtifactVersion, ModelVersion
from heron.core.errors import InvalidArgument
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
