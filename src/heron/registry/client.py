"""The registry half of :class:`heron.Client`: models, versions, aliases and their history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from heron.core import validation
from heron.core.entities import AliasEvent, ModelVersion, RegisteredModel
from heron.core.errors import InvalidArgument, NotFound
from heron.registry import operations
from heron.store.base import Store


class RegistryMethods:
    """Model registry methods of :class:`heron.Client` (which provides ``self.store``)."""

    store: Store

    def _flush(self) -> None:
        """Write buffered logging first (the Client's own method replaces this one)."""

    # --- models -------------------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> RegisteredModel:
        """Register a model name (``register_model`` does it on first use)."""
        return self.store.create_registered_model(name, description, _tags(tags))

    def get_registered_model(self, name: str) -> RegisteredModel:
        """A registered model with its tags, aliases and latest version number."""
        return self.store.get_registered_model(name)

    def list_models(
        self, name_like: str | None = None, max_results: int = 1000
    ) -> list[RegisteredModel]:
        """Registered models by name; ``name_like`` is a LIKE pattern such as ``iris%``."""
        return self.store.list_registered_models(name_like, max_results)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        """Set (``None``: clear) a model's description."""
        return self.store.update_registered_model(name, description)

    def rename_model(self, name: str, new_name: str) -> RegisteredModel:
        """Rename a registered model; versions, aliases and alias history follow it."""
        return self.store.rename_registered_model(name, new_name)

    def delete_registered_model(self, name: str) -> None:
        """Remove a model with its versions, aliases and history (the artifacts stay)."""
        self.store.delete_registered_model(name)

    def set_registered_model_tag(self, name: str, key: str, value: Any) -> None:
        """Set a tag of a registered model."""
        self.store.set_registered_model_tag(name, key, validation.tag_value(key, value))

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        """Remove a tag of a registered model."""
        self.store.delete_registered_model_tag(name, key)

    # --- versions -----------------------------------------------------------------------
    def register_model(
        self,
        name: str,
        source: Any,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Make ``source`` the next version of model ``name`` (registered on first use).

        ``source`` is what ``heron.log_model`` returned, an artifact version or its id,
        ``runs:/<run_id>/<name>`` (a logged model or a step output such as
        ``runs:/<pipeline_run>/train.model``) or ``models:/<name>/<version>``.
        """
        self._flush()
        artifact = operations.resolve_source(self.store, source)
        return operations.register_artifact(
            self.store, name, artifact, description=description, tags=_tags(tags)
        )

    def get_model_version(self, name: str, version: int | str) -> ModelVersion:
        """Version ``version`` of model ``name``."""
        return self.store.get_model_version(name, _number(version))

    def get_latest_model_version(self, name: str) -> ModelVersion:
        """The newest active version of model ``name``."""
        from heron.models.uris import model_version_of

        return model_version_of(self.store, f"models:/{name}/latest")

    def search_model_versions(
        self,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
    ) -> list[ModelVersion]:
        """Model versions matching ``filter`` (``name = 'iris' and tags.stage = 'prod'``),
        newest first unless ``order_by`` says otherwise."""
        return self.store.search_model_versions(filter, order_by, max_results)

    def update_model_version(
        self, name: str, version: int | str, description: str | None
    ) -> ModelVersion:
        """Set (``None``: clear) a version's description."""
        return self.store.update_model_version(name, _number(version), description)

    def set_model_version_tag(self, name: str, version: int | str, key: str, value: Any) -> None:
        """Set a tag of a model version."""
        self.store.set_model_version_tag(
            name, _number(version), key, validation.tag_value(key, value)
        )

    def delete_model_version_tag(self, name: str, version: int | str, key: str) -> None:
        """Remove a tag of a model version."""
        self.store.delete_model_version_tag(name, _number(version), key)

    def delete_model_version(self, name: str, version: int | str) -> None:
        """Delete a version (its number is never reused); aliases on it are removed."""
        self.store.delete_model_version(name, _number(version), user=operations.acting_user())

    # --- aliases ------------------------------------------------------------------------
    def set_model_alias(self, name: str, alias: str, version: int | str) -> AliasEvent:
        """Point ``alias`` (``champion``) at a version; the move is recorded in the history."""
        return self.store.set_model_alias(
            name, alias, _number(version), user=operations.acting_user()
        )

    def delete_model_alias(self, name: str, alias: str) -> AliasEvent:
        """Remove an alias (recorded in the history)."""
        return self.store.delete_model_alias(name, alias, user=operations.acting_user())

    def get_model_version_by_alias(
        self, name: str, alias: str, at: datetime | int | None = None
    ) -> ModelVersion:
        """The version ``alias`` points at now, or at the time ``at`` (a datetime, or epoch
        ms), read from the alias history."""
        if at is None:
            return self.store.get_model_version_by_alias(name, alias)
        when = _epoch_ms(at)
        version = operations.version_at(self.store.get_alias_history(name, alias), when)
        if version is None:
            raise NotFound(f"Alias {alias!r} of model {name!r} was not set at that time.")
        return self._any_version(name, version)

    def alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        """Every move of ``alias`` (or of all aliases) of model ``name``, oldest first:
        who, when, from which version to which."""
        return self.store.get_alias_history(name, alias)

    def rollback_model_alias(self, name: str, alias: str) -> ModelVersion:
        """Point ``alias`` back at the version it pointed at before the current one (each
        call goes one step further back, skipping deleted versions); returns that version.

        The store reads the history and moves the alias in one transaction, so rollbacks from
        several processes at once are each applied (and recorded) one after the other."""
        event = self.store.rollback_model_alias(name, alias, user=operations.acting_user())
        assert event.to_version is not None
        return self._any_version(name, event.to_version)

    def _any_version(self, name: str, version: int) -> ModelVersion:
        try:
            return self.store.get_model_version(name, version)
        except NotFound:
            raise NotFound(
                f"Model {name!r} version {version} was deleted since; its number stays in the "
                "alias history."
            ) from None


def _number(version: int | str) -> int:
    if isinstance(version, bool) or not str(version).isdigit() or int(version) < 1:
        raise InvalidArgument(f"A model version is a number from 1 up; got {version!r}.")
    return int(version)


def _tags(tags: Mapping[str, Any] | None) -> dict[str, str] | None:
    if tags is None:
        return None
    return {str(k): validation.tag_value(str(k), v) for k, v in tags.items()}


def _epoch_ms(at: datetime | int) -> int:
    if isinstance(at, datetime):
        return int(at.timestamp() * 1000)
    if isinstance(at, int) and not isinstance(at, bool):
        return at
    raise InvalidArgument(f"at= takes a datetime or epoch milliseconds, not {type(at).__name__}.")
