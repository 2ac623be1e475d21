"""Compiles the search grammar (:mod:`heron.store.filters`) to one parameterized SQL query.

Each metric, param or tag named in the filter becomes one join on its table, reused by the
order-by when it names the same key; values are always bound parameters, never SQL text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, and_, func, or_, select

from heron.core import validation
from heron.core.entities import ACTIVE, DELETED
from heron.core.errors import FilterError, InvalidArgument
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


def compare(column: Any, op: str, value: Any) -> Any:
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


def check_storable(*values: Any, holder: str = "run") -> None:
    """FilterError for text no ``holder`` (a run, a model version) can hold (NUL,
    unencodable): it could never match."""
    for value in values:
        for text in value if isinstance(value, tuple) else (value,):
            if not isinstance(text, str):
                continue
            try:
                validation.check_text(text, "Filter text")
            except InvalidArgument:
                raise FilterError(
                    f"The filter text {text[:40]!r} contains a character no {holder} can "
                    "hold (a NUL or a lone surrogate); remove it."
                ) from None


class _Search:
    """A parsed search: the filtered source of runs, then the ordering."""

    def __init__(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        view: str,
    ) -> None:
        runs = t.runs
        comparisons = filters.parse_filter(filter_string)
        if isinstance(order_by, str):
            order_by = [order_by]
        self.orders = [filters.parse_order_by(o) for o in order_by or ()]
        self.source: Any = runs
        self.where: list[Any] = []
        self.joined: dict[tuple[str, str], Any] = {}  # (entity, key) -> alias of the filter

        if experiment_ids is not None:
            self.where.append(runs.c.experiment_id.in_(list(experiment_ids)))
        # A deleted experiment hides its runs: in searches they count as deleted too.
        live = runs.c.experiment_id.in_(
            select(t.experiments.c.id).where(t.experiments.c.lifecycle == ACTIVE)
        )
        if view == "active":
            self.where += [runs.c.lifecycle == ACTIVE, live]
        elif view == "deleted":
            self.where.append(or_(runs.c.lifecycle == DELETED, ~live))

        for c in comparisons:
            check_storable(c.key, c.value)
            if c.entity == filters.ENTITY_ATTRIBUTE:
                self.where.append(compare(_ATTRIBUTE_COLUMNS[c.key], c.op, c.value))
                continue
            alias = self.joined.get((c.entity, c.key))
            if alias is None:
                alias = _ENTITY_TABLES[c.entity].alias(f"f{len(self.joined)}")
                self.source = self.source.join(
                    alias, and_(alias.c.run_id == runs.c.id, alias.c.key == c.key)
                )
                self.joined[(c.entity, c.key)] = alias
            self.where.append(compare(alias.c.value, c.op, c.value))
        for o in self.orders:
            check_storable(o.key)

    @property
    def split_key(self) -> filters.OrderBy | None:
        """The first order key when it is a metric, param or tag the filter does not join:
        runs having it are then read in its index order, and those lacking it after them."""
        if not self.orders:
            return None
        first = self.orders[0]
        if first.entity == filters.ENTITY_ATTRIBUTE or (first.entity, first.key) in self.joined:
            return None
        return first

    def query(self, presence: str = "any") -> Select[Any]:
        """Ids of matching runs in order. ``presence`` restricts to runs that have the first
        order key (``"present"``: inner join, read in index order) or lack it (``"missing"``)."""
        runs = t.runs
        source = self.source
        where = list(self.where)
        joined = dict(self.joined)
        clauses: list[Any] = []
        for i, o in enumerate(self.orders):
            if o.entity == filters.ENTITY_ATTRIBUTE:
                column = _ATTRIBUTE_COLUMNS[o.key]
            else:
                table = _ENTITY_TABLES[o.entity]
                alias = joined.get((o.entity, o.key))
                on = None
                if alias is None:
                    alias = table.alias(f"o{i}")
                    on = and_(alias.c.run_id == runs.c.id, alias.c.key == o.key)
                    joined[(o.entity, o.key)] = alias
                if i == 0 and presence == "missing":
                    where.append(
                        ~select(table.c.run_id)
                        .where(
                            table.c.run_id == runs.c.id,
                            table.c.key == o.key,
                            table.c.value.is_not(None),
                        )
                        .exists()
                    )
                    continue
                if on is not None:
                    if i == 0 and presence == "present":
                        source = source.join(alias, on)
                        where.append(alias.c.value.is_not(None))
                    else:
                        source = source.outerjoin(alias, on)
                column = alias.c.value
            ordered = column.asc() if o.ascending else column.desc()
            if i == 0 and presence == "present":
                clauses.append(ordered)  # no NULLs here: plain order can follow the index
            else:
                # Runs missing the key (or with a NaN metric) sort last in either direction.
                clauses.append(ordered.nulls_last())
        clauses += [runs.c.start_time.desc(), runs.c.id]
        return select(runs.c.id).select_from(source).where(*where).order_by(*clauses)


def search_run_ids(
    conn: Connection,
    experiment_ids: Sequence[str] | None,
    filter_string: str | None,
    order_by: Sequence[str] | None,
    view: str,
    limit: int,
    offset: int,
) -> list[str]:
    """The ids of one page of matching runs (``limit`` from ``offset``), in order."""
    search = _Search(experiment_ids, filter_string, order_by, view)
    if search.split_key is None:
        return list(conn.execute(search.query().limit(limit).offset(offset)).scalars())
    # Sorting on a key the filter does not join: an outer join would sort every run. Read
    # the runs having the key in index order, and only then those lacking it.
    present = search.query("present")
    ids = list(conn.execute(present.limit(limit).offset(offset)).scalars())
    if len(ids) == limit:
        return ids
    if ids:
        n_present = offset + len(ids)
    else:
        n_present = conn.execute(select(func.count()).select_from(present.subquery())).scalar()
    missing = search.query("missing").limit(limit - len(ids)).offset(max(0, offset - n_present))
    return ids + list(conn.execute(missing).scalars())
