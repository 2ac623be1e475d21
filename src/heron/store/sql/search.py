"""Compiles the search grammar (:mod:`heron.store.filters`) to one parameterized SQL query.

Each metric, param or tag named in the filter becomes one join on its table, reused by the
order-by when it names the same key; values are always bound parameters, never SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, or_, select

from heron.core.entities import ACTIVE, DELETED
from heron.core.errors import FilterError
from heron.store import filters
from heron.store.sql import schema as t

_ENTITY_TABLES = {
    filters.ENTITY_METRIC: t.latest_metrics,
    filters.ENTITY_PARAM: t.params,
    filters.ENTITY_TAG: t.tags,
}
_ATTRIBUTE_COLUMNS = {
    "run_id": t.runs.c.id,
    "name": t.runs.c.name,
    "status": t.runs.c.status,
    "kind": t.runs.c.kind,
    "user": t.runs.c.user,
    "experiment_id": t.runs.c.experiment_id,
    "parent_id": t.runs.c.parent_id,
    "source": t.runs.c.source,
    "git_commit": t.runs.c.git_commit,
    "start_time": t.runs.c.start_time,
    "end_time": t.runs.c.end_time,
}


def _compare(column: Any, op: str, value: Any) -> Any:
    if op == "=":
        return column == value
    if op == "!=":
        return column != value
    if op == "<":
        return column < value
    if op == "<=":
        return column <= value
    if op == ">":
        return column > value
    if op == ">=":
        return column >= value
    # A backslash escapes % and _ on every back-end (PostgreSQL's default, made explicit).
    if op == "LIKE":
        return column.like(value, escape="\\")
    if op == "ILIKE":
        return column.ilike(value, escape="\\")
    if op == "IN":
        return column.in_(list(value))
    if op == "NOT IN":
        return column.not_in(list(value))
    raise FilterError(f"Unsupported operator {op!r}.")


def _check_storable(*values: Any) -> None:
    """FilterError for text no run can hold (NUL, unencodable): it could never match."""
    for value in values:
        for text in value if isinstance(value, tuple) else (value,):
            if not isinstance(text, str):
                continue
            try:
                text.encode("utf-8")
                ok = "\0" not in text
            except UnicodeEncodeError:
                ok = False
            if not ok:
                raise FilterError(
                    f"The filter text {text[:40]!r} contains a character no run can hold "
                    "(a NUL or a lone surrogate); remove it."
                )


def build_search_query(
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    view: str,
    limit: int,
    offset: int,
) -> Select[Any]:
    """The query selecting the ids of matching runs, ordered, one page (``limit``, ``offset``)."""
    runs = t.runs
    comparisons = filters.parse_filter(filter_string)
    if isinstance(order_by, str):
        order_by = [order_by]
    orders = [filters.parse_order_by(o) for o in order_by or ()]

    source: Any = runs
    where: list[Any] = []
    joined: dict[tuple[str, str], Any] = {}  # (entity, key) -> alias inner-joined by the filter

    if experiment_ids is not None:
        where.append(runs.c.experiment_id.in_(list(experiment_ids)))
    # A deleted experiment hides its runs: in searches they count as deleted too.
    live = runs.c.experiment_id.in_(
        select(t.experiments.c.id).where(t.experiments.c.lifecycle == ACTIVE)
    )
    if view == "active":
        where += [runs.c.lifecycle == ACTIVE, live]
    elif view == "deleted":
        where.append(or_(runs.c.lifecycle == DELETED, ~live))

    for c in comparisons:
        _check_storable(c.key, c.value)
        if c.entity == filters.ENTITY_ATTRIBUTE:
            where.append(_compare(_ATTRIBUTE_COLUMNS[c.key], c.op, c.value))
            continue
        alias = joined.get((c.entity, c.key))
        if alias is None:
            alias = _ENTITY_TABLES[c.entity].alias(f"f{len(joined)}")
            source = source.join(alias, and_(alias.c.run_id == runs.c.id, alias.c.key == c.key))
            joined[(c.entity, c.key)] = alias
        where.append(_compare(alias.c.value, c.op, c.value))

    order_clauses: list[Any] = []
    for i, o in enumerate(orders):
        _check_storable(o.key)
        if o.entity == filters.ENTITY_ATTRIBUTE:
            column = _ATTRIBUTE_COLUMNS[o.key]
        else:
            alias = joined.get((o.entity, o.key))
            if alias is None:
                alias = _ENTITY_TABLES[o.entity].alias(f"o{i}")
                source = source.outerjoin(
                    alias, and_(alias.c.run_id == runs.c.id, alias.c.key == o.key)
                )
                joined[(o.entity, o.key)] = alias
            column = alias.c.value
        # Runs missing the key (or with a NaN metric) sort last in either direction.
        order_clauses.append((column.asc() if o.ascending else column.desc()).nulls_last())
    order_clauses += [runs.c.start_time.desc(), runs.c.id]

    query = select(runs.c.id).select_from(source).where(*where).order_by(*order_clauses)
    return query.limit(limit).offset(offset)
