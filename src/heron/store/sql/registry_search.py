"""The model-version search: the filter grammar (:mod:`heron.store.filters`, over
``filters.MODEL_VERSION_FIELDS``) compiled to one parameterized query of version ids."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select

from heron.core.entities import ACTIVE
from heron.store import filters
from heron.store.sql import schema as t
from heron.store.sql.search import check_storable, compare

_rm = t.registered_models
_mv = t.model_versions
_mvt = t.model_version_tags

_MODEL_VERSION_COLUMNS = {
    "name": _rm.c.name,
    "version": _mv.c.version,
    "run_id": _mv.c.run_id,
    "artifact_id": _mv.c.artifact_id,
    "user": _mv.c.user,
    "created_at": _mv.c.created_at,
}


def model_version_query(
    filter_string: str | None, order_by: Sequence[str] | str | None, project: str
) -> Any:
    """The ids of matching active model versions of the models of ``project``, in order
    (parameterized SQL only)."""
    vocabulary = filters.MODEL_VERSION_FIELDS
    comparisons = filters.parse_filter(filter_string, vocabulary)
    orders = filters.parse_order_by_list(order_by, vocabulary)
    source: Any = _mv.join(_rm, _rm.c.id == _mv.c.model_id)
    where: list[Any] = [_mv.c.lifecycle == ACTIVE, _rm.c.project == project]
    joined: dict[str, Any] = {}  # tag key -> alias of model_version_tags
    for c in comparisons:
        check_storable(c.key, c.value, holder="model version")
        if c.entity == filters.ENTITY_ATTRIBUTE:
            where.append(compare(_MODEL_VERSION_COLUMNS[c.key], c.op, c.value))
            continue
        tag = joined.get(c.key)
        if tag is None:
            tag = joined[c.key] = _mvt.alias(f"f{len(joined)}")
            source = source.join(tag, and_(tag.c.version_id == _mv.c.id, tag.c.key == c.key))
        where.append(compare(tag.c.value, c.op, c.value))
    clauses: list[Any] = []
    for i, o in enumerate(orders):
        check_storable(o.key, holder="model version")
        if o.entity == filters.ENTITY_ATTRIBUTE:
            column = _MODEL_VERSION_COLUMNS[o.key]
        else:
            tag = joined.get(o.key)
            if tag is None:
                tag = joined[o.key] = _mvt.alias(f"o{i}")
                source = source.outerjoin(
                    tag, and_(tag.c.version_id == _mv.c.id, tag.c.key == o.key)
                )
            column = tag.c.value
        # Versions lacking a tag sort last in either direction.
        clauses.append((column.asc() if o.ascending else column.desc()).nulls_last())
    clauses += [_mv.c.created_at.desc(), _mv.c.version.desc(), _mv.c.id]
    return select(_mv.c.id).select_from(source).where(*where).order_by(*clauses)
