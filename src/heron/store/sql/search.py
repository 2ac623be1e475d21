"""Compiles the search grammar (:mod:`heron.store.filters`) to one parameterized SQL query.

Each metric, param or tag named in the filter becomes one join on its table, reused by the
order-by when it names the same key; values are always bound parameters, never SQL text. A
search names at most ``MAX_KEYS`` distinct keys (SQLite joins at most 64 tables).

A NaN metric is a value (its latest row has ``is_nan`` set and a NULL ``value``): it is unequal
to every number (it matches ``!=`` only) and sorts after the numbers and before the runs lacking
the metric, in both directions, as in MLflow.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Select, and_, func, or_, select, true

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
#: The most distinct metric, param and tag keys a filter and its order_by may name together.
MAX_KEYS = 60

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


class RunSearch:
    """A parsed run search: the filtered source of runs, then the ordering.

    Building one checks everything (syntax, limits, storable text) without touching the
    database; :meth:`run_ids` reads one page.
    """

    def __init__(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: str | Sequence[str] | None,
        view: str,
        project: str | None = None,
    ) -> None:
        """``project``: with no ``experiment_ids``, only the runs of that project's
        experiments (``None``: of every experiment)."""
        runs = t.runs
        comparisons = filters.parse_filter(filter_string)
        self.orders = list(filters.parse_order_by_list(order_by))
        keys = {(c.entity, c.key) for c in comparisons if c.entity != filters.ENTITY_ATTRIBUTE}
        keys |= {(o.entity, o.key) for o in self.orders if o.entity != filters.ENTITY_ATTRIBUTE}
        if len(keys) > MAX_KEYS:
            raise FilterError(
                f"This search names {len(keys)} distinct metric, param and tag keys in its "
                f"filter and order_by; at most {MAX_KEYS} are supported. Filter on fewer keys "
                "(and narrow the results in Python), or search in steps."
            )
        experiments = None if experiment_ids is None else sorted(map(str, experiment_ids))
        if experiment_ids is not None:
            project = None  # ids reach every project
        scope = [experiments, repr(comparisons), repr(self.orders), view]
        if project is not None:
            scope.append(project)
        self.fingerprint = hashlib.sha256(orjson.dumps(scope)).hexdigest()[:16]
        self.source: Any = runs
        self.where: list[Any] = []
        self.joined: dict[tuple[str, str], Any] = {}  # (entity, key) -> alias of the filter
        self.nan_free: set[tuple[str, str]] = set()  # metrics the filter compares to a number
        # an equality on a metric, param or tag: most likely a few runs, best read by its index
        self.pinpoints = any(
            c.entity != filters.ENTITY_ATTRIBUTE and c.op in ("=", "IN") for c in comparisons
        )

        # where-clause positions and their forms that no index serves (see :meth:`_hints`)
        self.unindexed: dict[int, Any] = {}
        self.runs_terms: list[int] = []
        self.key_terms: list[tuple[int, Any, str, str, Any]] = []  # position, alias, key, op, value
        self.experiment_ids = None if experiment_ids is None else list(experiment_ids)
        plain_experiment = runs.c.experiment_id.concat("")
        if experiment_ids is not None:
            self._runs_term(
                runs.c.experiment_id.in_(list(experiment_ids)),
                plain_experiment.in_(list(experiment_ids)),
            )
        elif project is not None:
            of_project = select(t.experiments.c.id).where(t.experiments.c.project == project)
            self._runs_term(runs.c.experiment_id.in_(of_project), plain_experiment.in_(of_project))
        # A deleted experiment hides its runs: in searches they count as deleted too.
        active_experiments = select(t.experiments.c.id).where(t.experiments.c.lifecycle == ACTIVE)
        live = runs.c.experiment_id.in_(active_experiments)
        if view == "active":
            self._runs_term(runs.c.lifecycle == ACTIVE, runs.c.lifecycle.concat("") == ACTIVE)
            self._runs_term(live, plain_experiment.in_(active_experiments))
        elif view == "deleted":
            self.where.append(or_(runs.c.lifecycle == DELETED, ~live))

        for c in comparisons:
            check_storable(c.key, c.value)
            if c.entity == filters.ENTITY_ATTRIBUTE:
                self.where.append(compare(_ATTRIBUTE_COLUMNS[c.key], c.op, c.value))
                continue
            if c.op == "IS NULL":
                self.where.append(~_has_key(c.entity, c.key))
                continue
            alias = self.joined.get((c.entity, c.key))
            if alias is None:
                alias = _ENTITY_TABLES[c.entity].alias(f"f{len(self.joined)}")
                self.source = self.source.join(
                    alias, and_(alias.c.run_id == runs.c.id, alias.c.key == c.key)
                )
                self.joined[(c.entity, c.key)] = alias
            if c.op == "IS NOT NULL":
                continue  # the inner join keeps the runs having the key
            if c.entity == filters.ENTITY_METRIC and c.op == "!=":
                # NaN is unequal to every number (its value column is NULL)
                self.where.append(or_(alias.c.value != c.value, alias.c.is_nan == true()))
            else:
                if c.op in _INDEXED_OPS:
                    plain = (
                        alias.c.value + 0
                        if c.entity == filters.ENTITY_METRIC
                        else (alias.c.value.concat(""))
                    )
                    self.unindexed[len(self.where)] = compare(plain, c.op, c.value)
                    self.key_terms.append((len(self.where), alias, c.key, c.op, c.value))
                self.where.append(compare(alias.c.value, c.op, c.value))
                self.nan_free.add((c.entity, c.key))
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

    def phases(self) -> tuple[str, ...]:
        """The parts a page is read from, in order (see :meth:`query`)."""
        split = self.split_key
        if split is None:
            return ("any",)
        if split.entity == filters.ENTITY_METRIC:
            return ("present", "nan", "missing")
        return ("present", "missing")

    def _runs_term(self, indexed: Any, unindexed: Any) -> None:
        self.unindexed[len(self.where)] = unindexed
        self.runs_terms.append(len(self.where))
        self.where.append(indexed)

    def query(self, presence: str = "any", plain: frozenset[int] = frozenset()) -> Select[Any]:
        """Ids of matching runs in order. ``presence`` restricts to runs whose first order key
        holds a value (``"present"``: inner join, read in index order), a NaN (``"nan"``) or
        that lack it (``"missing"``). The where-clauses at the positions in ``plain`` take
        their form that no index serves (the same rows; see :meth:`_hints`)."""
        runs = t.runs
        source = self.source
        where = [self.unindexed[i] if i in plain else w for i, w in enumerate(self.where)]
        joined = dict(self.joined)
        clauses: list[Any] = []
        for i, o in enumerate(self.orders):
            if o.entity == filters.ENTITY_ATTRIBUTE:
                column = _ATTRIBUTE_COLUMNS[o.key]
                clauses.append((column.asc() if o.ascending else column.desc()).nulls_last())
                continue
            table = _ENTITY_TABLES[o.entity]
            alias = joined.get((o.entity, o.key))
            on = None
            if alias is None:
                alias = table.alias(f"o{i}")
                on = and_(alias.c.run_id == runs.c.id, alias.c.key == o.key)
                joined[(o.entity, o.key)] = alias
            if i == 0 and presence == "missing":
                where.append(~_has_key(o.entity, o.key))
                continue
            if i == 0 and presence in ("present", "nan"):
                if on is not None:
                    source = source.join(alias, on)
                if presence == "nan":
                    where.append(alias.c.is_nan == true())
                    continue  # every NaN is alike: the next keys decide
                if o.entity == filters.ENTITY_METRIC or self.pinpoints:
                    where.append(alias.c.value.is_not(None))
                else:
                    # Param and tag values are NOT NULL, so SQLite drops an IS NOT NULL on
                    # them and then sorts every run instead of reading the (key, value)
                    # index in order; every text is >= '', and this range makes the index
                    # the cheaper plan, as a metric's IS NOT NULL does. (Not when the
                    # filter pinpoints a few runs: reading those first and sorting them is.)
                    where.append(alias.c.value >= "")
                # no NULLs here: plain order can follow the index, unless a narrow filter
                # drives the search (then its few runs are sorted, not the index walked)
                value = alias.c.value
                if ORDER_UNINDEXED in plain:
                    value = value + 0 if o.entity == filters.ENTITY_METRIC else value.concat("")
                clauses.append(value.asc() if o.ascending else value.desc())
                continue
            if on is not None:
                source = source.outerjoin(alias, on)
            if o.entity == filters.ENTITY_METRIC and (o.entity, o.key) not in self.nan_free:
                # numbers (is_nan false), then NaN (true), then missing (no row: NULL)
                clauses.append(alias.c.is_nan.asc().nulls_last())
            ordered = alias.c.value.asc() if o.ascending else alias.c.value.desc()
            # Runs missing the key sort last in either direction.
            clauses.append(ordered.nulls_last())
        clauses += [runs.c.start_time.desc(), runs.c.id]
        return select(runs.c.id).select_from(source).where(*where).order_by(*clauses)

    def run_ids(self, conn: Connection, limit: int, offset: int) -> list[str]:
        """The ids of one page of matching runs (``limit`` from ``offset``), in order."""
        # Sorting on a key the filter does not join: an outer join would sort every run. Read
        # the runs having a value in index order, then (metrics) those holding NaN, and only
        # then those lacking the key.
        plain = self._hints(conn) if conn.dialect.name == "sqlite" else frozenset()
        ids: list[str] = []
        for phase in self.phases():
            part = self.query(phase, plain)
            got = list(conn.execute(part.limit(limit - len(ids)).offset(offset)).scalars())
            ids += got
            if len(ids) == limit:
                break
            if got:
                offset = 0
            elif offset:
                count = conn.execute(select(func.count()).select_from(part.subquery())).scalar()
                offset = max(0, offset - (count or 0))
        return ids

    def _hints(self, conn: Connection) -> frozenset[int]:
        """Where-clauses SQLite should not read through an index, so that it reads the runs
        from the one that finds them fastest: SQLite keeps no statistics unless told to, and
        then takes the runs' experiment index, or any filter's index, for a narrow one.

        Each indexable filter on a metric, param or tag is counted in its index, at most
        :data:`FEW` rows (a fraction of a millisecond). The narrowest that matches fewer than
        ``FEW`` drives the search: every other clause is read unindexed. With none that narrow,
        a first order key read in index order drives it (the filters unindexed, and the runs'
        experiment and lifecycle too when the experiments searched hold :data:`MANY` runs or
        more). An experiment with fewer than ``FEW`` runs is itself the narrowest: no hints.
        The rows found are the same either way; only the plan changes."""
        if not self.key_terms:
            return frozenset()
        runs = t.runs
        in_experiments = MANY
        if self.experiment_ids is not None:
            of_experiments = select(runs.c.id).where(runs.c.experiment_id.in_(self.experiment_ids))
            in_experiments = _bounded_count(conn, of_experiments, MANY)
            if in_experiments < FEW:
                return frozenset()
        narrowest: tuple[int, int] | None = None
        for position, alias, key, op, value in self.key_terms:
            table = alias.element
            probe = select(table.c.run_id).where(
                table.c.key == key, compare(table.c.value, op, value)
            )
            found = _bounded_count(conn, probe)
            if found < FEW and (narrowest is None or found < narrowest[1]):
                narrowest = (position, found)
        if narrowest is not None:
            keep = narrowest[0]
            others = {p for p, *_ in self.key_terms if p != keep}
            return frozenset(others | set(self.runs_terms) | {ORDER_UNINDEXED})
        if self.split_key is not None:
            unindexed = {p for p, *_ in self.key_terms}
            if in_experiments >= MANY:  # walking the order key's index beats sorting them all
                unindexed |= set(self.runs_terms)
            return frozenset(unindexed)
        return frozenset()


#: the row count below which a filter (or an experiment) is narrow enough to drive a search
FEW = 2000
#: the runs from which the experiments searched are better read in an order key's index
#: order than sorted
MANY = 20_000
#: in a set of unindexed positions: the first order key is not read in its index's order
ORDER_UNINDEXED = -1
_INDEXED_OPS = frozenset({"=", "IN", "<", "<=", ">", ">="})


def _bounded_count(conn: Connection, query: Select[Any], bound: int | None = None) -> int:
    """How many rows ``query`` has, counting no further than ``bound`` (:data:`FEW`)."""
    limited = query.limit(FEW if bound is None else bound).subquery()
    return conn.execute(select(func.count()).select_from(limited)).scalar_one()


def _has_key(entity: str, key: str) -> Any:
    """EXISTS: the run holds ``key`` (a NaN metric counts as held)."""
    table = _ENTITY_TABLES[entity]
    return select(table.c.run_id).where(table.c.run_id == t.runs.c.id, table.c.key == key).exists()
