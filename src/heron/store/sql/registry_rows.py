"""The read side of the SQL model registry: registry rows turned into entities, the model
lookup by (project, name), and the errors that say what is missing.

:mod:`heron.store.sql.registry` (the writes and their locking) and
:mod:`heron.store.sql.registry_search` use these; the tables are in
:mod:`heron.store.sql.schema`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, and_, func, select

from heron.core.entities import ACTIVE, AliasEvent, ModelVersion, RegisteredModel
from heron.core.errors import AlreadyExists, NotFound
from heron.store.sql import schema as t
from heron.store.sql.projects import where_phrase

T = TypeVar("T")

IN_BATCH = 500  # ids per IN (...) list: far below SQLite's limit of bound parameters

_rm = t.registered_models
_rmt = t.registered_model_tags
_mv = t.model_versions
_mvt = t.model_version_tags
_ma = t.model_aliases
_ae = t.alias_events


# --- errors ----------------------------------------------------------------------------------


def no_model(name: str, project: str = t.DEFAULT_PROJECT) -> NotFound:
    return NotFound(
        f"No registered model named {name!r}{where_phrase(project)} (names are case-sensitive). "
        f"Check the name, or register a first version with "
        f"heron.Client().register_model({name!r}, source)."
    )


def model_exists(
    name: str, renaming: str | None = None, project: str = t.DEFAULT_PROJECT
) -> AlreadyExists:
    where = where_phrase(project)
    if renaming is not None:
        return AlreadyExists(
            f"Cannot rename model {renaming!r} to {name!r}: a registered model named {name!r} "
            f"exists already{where}. Pick another name, or delete that model first."
        )
    return AlreadyExists(
        f"A registered model named {name!r} exists already{where}. Add versions to it "
        f"(register_model({name!r}, source)), or pick another name."
    )


def missing_version(conn: Connection, project: str, name: str, version: int) -> NotFound:
    """The NotFound for ``version`` of ``name``, saying whether the model or the version is
    missing, or the version was deleted."""
    found = model_id(conn, project, name)
    row = conn.execute(
        select(_mv.c.lifecycle).where(_mv.c.model_id == found, _mv.c.version == version)
    ).first()
    if row is not None:
        return NotFound(
            f"Version {version} of model {name!r} was deleted; deleted versions cannot be read "
            "or changed (their numbers are never reused). Use another version."
        )
    latest = conn.execute(select(func.max(_mv.c.version)).where(_mv.c.model_id == found)).scalar()
    known = f"its versions go from 1 to {latest}" if latest else "it has no versions yet"
    return NotFound(f"Model {name!r} has no version {version} ({known}).")


def no_alias(conn: Connection, model_id: str, name: str, alias: str) -> NotFound:
    aliases = list(
        conn.execute(
            select(_ma.c.alias).where(_ma.c.model_id == model_id).order_by(_ma.c.alias)
        ).scalars()
    )
    known = f"its aliases are {', '.join(aliases)}" if aliases else "it has no aliases"
    return NotFound(
        f"Model {name!r} has no alias {alias!r} ({known}). Set it with "
        f"set_model_alias({name!r}, {alias!r}, version)."
    )


# --- reading ---------------------------------------------------------------------------------


def model_id(conn: Connection, project: str, name: str) -> str:
    """The id of the model ``name`` of ``project``; :class:`NotFound` if there is none."""
    found = conn.execute(
        select(_rm.c.id).where(_rm.c.project == project, _rm.c.name == name)
    ).scalar()
    if found is None:
        raise no_model(name, project)
    return found


def alias_events(conn: Connection, model_id: str, name: str, alias: str | None) -> list[AliasEvent]:
    """The history of one alias of a model (of all its aliases if ``alias`` is None), oldest
    first."""
    query = select(_ae).where(_ae.c.model_id == model_id)
    if alias is not None:
        query = query.where(_ae.c.alias == alias)
    return [alias_event(name, r) for r in conn.execute(query.order_by(_ae.c.id))]


def alias_event(name: str, row: Any) -> AliasEvent:
    return AliasEvent(
        name=name,
        alias=row.alias,
        from_version=row.from_version,
        to_version=row.to_version,
        action=row.action,
        user=row.user,
        timestamp=row.timestamp,
    )


def event_row(
    model_id: str,
    alias: str,
    from_version: int | None,
    to_version: int | None,
    action: str,
    user: str | None,
    timestamp: int,
) -> dict[str, Any]:
    return {
        "model_id": model_id,
        "alias": alias,
        "from_version": from_version,
        "to_version": to_version,
        "action": action,
        "user": user,
        "timestamp": timestamp,
    }


def batches(ids: Sequence[T]) -> Iterator[list[T]]:
    for start in range(0, len(ids), IN_BATCH):
        yield list(ids[start : start + IN_BATCH])


def registered_models(
    conn: Connection, where: Any, limit: int | None = None
) -> list[RegisteredModel]:
    query = select(_rm).where(where).order_by(_rm.c.name)
    if limit is not None:
        query = query.limit(limit)
    models = {
        r.id: RegisteredModel(
            id=r.id,
            name=r.name,
            description=r.description,
            created_at=r.created_at,
            updated_at=r.updated_at,
            project=r.project,
        )
        for r in conn.execute(query)
    }
    for ids in batches(list(models)):
        for r in conn.execute(select(_rmt).where(_rmt.c.model_id.in_(ids))):
            models[r.model_id].tags[r.key] = r.value
        aliases = select(_ma.c.model_id, _ma.c.alias, _ma.c.version).where(_ma.c.model_id.in_(ids))
        for found, alias, version in conn.execute(aliases.order_by(_ma.c.alias)):
            models[found].aliases[alias] = version
        latest = (
            select(_mv.c.model_id, func.max(_mv.c.version))
            .where(_mv.c.model_id.in_(ids), _mv.c.lifecycle == ACTIVE)
            .group_by(_mv.c.model_id)
        )
        for found, version in conn.execute(latest):
            models[found].latest_version = version
    return list(models.values())


def model_versions(
    conn: Connection, where: list[Any], through_alias: bool = False
) -> list[ModelVersion]:
    """Model versions (any lifecycle) matching ``where``, with their tags and aliases.

    ``where`` may name ``registered_models`` columns (the versions are joined to their
    model); with ``through_alias`` they are also joined to the aliases pointing at them, so
    that ``where`` may name ``model_aliases`` columns."""
    source = _mv.join(_rm, _rm.c.id == _mv.c.model_id)
    if through_alias:
        source = source.join(
            _ma, and_(_ma.c.model_id == _mv.c.model_id, _ma.c.version == _mv.c.version)
        )
    query = select(_mv, _rm.c.name).select_from(source).where(*where)
    rows = conn.execute(query.order_by(_rm.c.name, _mv.c.version)).all()
    found: dict[str, ModelVersion] = {}
    by_number: dict[tuple[str, int], ModelVersion] = {}
    for r in rows:
        found[r.id] = by_number[(r.model_id, r.version)] = ModelVersion(
            id=r.id,
            name=r.name,
            version=r.version,
            artifact_id=r.artifact_id,
            run_id=r.run_id,
            pipeline_run_id=r.pipeline_run_id,
            description=r.description,
            user=r.user,
            created_at=r.created_at,
            updated_at=r.updated_at,
            lifecycle=r.lifecycle,
        )
    for ids in batches(list(found)):
        for r in conn.execute(select(_mvt).where(_mvt.c.version_id.in_(ids))):
            found[r.version_id].tags[r.key] = r.value
    model_ids = sorted({r.model_id for r in rows})
    for ids in batches(model_ids):
        aliases = select(_ma.c.model_id, _ma.c.alias, _ma.c.version).where(_ma.c.model_id.in_(ids))
        for owner, alias, version in conn.execute(aliases.order_by(_ma.c.alias)):
            mv = by_number.get((owner, version))
            if mv is not None:
                mv.aliases.append(alias)
    return list(found.values())
