"""What the dashboard's table of parent and child runs reads, as ``SqlStore`` methods (from
:class:`SqlRunTreeMixin`): one page of a search restricted to top-level runs (those without a
parent), the first child runs of a page's runs with how many each has, and the run count and
newest start of each experiment.

The filter grammar has no "has no parent" test, so the restriction is one more clause on the
store's own compiled search (:class:`~heron.store.sql.search.RunSearch`): filtering, ordering
(NaN and missing keys included), the project searched without experiment ids, and loading stay
exactly those of ``SqlStore.search_runs``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from heron.core import status as run_status
from heron.core.entities import ACTIVE, Run
from heron.core.ids import now_ms
from heron.store.sql import liveness
from heron.store.sql import schema as t


class SqlRunTreeMixin:
    """The run-tree reads of :class:`~heron.store.sql.store.SqlStore` (see the module doc)."""

    _read: Any
    _load_runs: Any
    _last_sweep: int
    _reap_if_dead: Any
    reap_dead_runs: Any
    _run_search: Any

    def search_runs_page(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        *,
        limit: int,
        offset: int = 0,
        top_level: bool = False,
        view: str = "active",
    ) -> tuple[list[Run], bool]:
        """``limit`` runs of a search from ``offset`` (only runs without a parent when
        ``top_level``), and whether more follow. Raises ``FilterError`` as ``search_runs`` does.

        >>> runs, more = store.search_runs_page(
        ...     [exp.id], "metrics.acc > 0.9", ["metrics.acc DESC"], limit=25, top_level=True
        ... )
        """
        search = self._run_search(experiment_ids, filter_string, order_by, view)
        if top_level:
            # unindexed: "no parent" holds for most runs, and SQLite (without statistics)
            # would otherwise read every run through the parent index instead of the index
            # the search chose (``NULL || ''`` is NULL, so the rows are the same)
            search.where.append(t.runs.c.parent_id.concat("").is_(None))
        if now_ms() - self._last_sweep > liveness.SWEEP_INTERVAL_MS:
            self.reap_dead_runs()
        with self._read() as conn:
            ids = search.run_ids(conn, limit + 1, offset)
            runs = self._load_runs(conn, ids[:limit])
        return self._fresh(runs), len(ids) > limit

    def child_runs(
        self, parent_ids: Sequence[str], per_parent: int = 20, view: str = "active"
    ) -> dict[str, tuple[list[Run], int]]:
        """The first ``per_parent`` child runs of each of ``parent_ids`` by start time, and how
        many children each has: ``{parent_id: (children, count)}`` for parents having any."""
        if not parent_ids:
            return {}
        r = t.runs
        where = [r.c.parent_id.in_(list(parent_ids))]
        if view == "active":
            where.append(r.c.lifecycle == ACTIVE)
        position = func.row_number().over(
            partition_by=r.c.parent_id, order_by=(r.c.start_time, r.c.id)
        )
        count = func.count().over(partition_by=r.c.parent_id)
        ranked = (
            select(r.c.id, r.c.parent_id, position.label("position"), count.label("total"))
            .where(*where)
            .subquery()
        )
        query = (
            select(ranked.c.id, ranked.c.parent_id, ranked.c.total)
            .where(ranked.c.position <= per_parent)
            .order_by(ranked.c.parent_id, ranked.c.position)
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
            runs = {run.id: run for run in self._load_runs(conn, [row.id for row in rows])}
        fresh = {run.id: run for run in self._fresh(list(runs.values()))}
        tree: dict[str, tuple[list[Run], int]] = {}
        for row in rows:
            children, _ = tree.get(row.parent_id, ([], 0))
            if row.id in fresh:
                children.append(fresh[row.id])
            tree[row.parent_id] = (children, row.total)
        return tree

    def experiment_run_stats(
        self, experiment_ids: Sequence[str] | None = None
    ) -> dict[str, tuple[int, int | None]]:
        """``{experiment_id: (active runs, newest start time)}`` for the experiments (all, or
        ``experiment_ids``) having runs: one grouped read of the runs' experiment index."""
        r = t.runs
        where = [r.c.lifecycle == ACTIVE]
        if experiment_ids is not None:
            where.append(r.c.experiment_id.in_(list(experiment_ids)))
        query = (
            select(r.c.experiment_id, func.count(), func.max(r.c.start_time))
            .where(*where)
            .group_by(r.c.experiment_id)
        )
        with self._read() as conn:
            return {row[0]: (row[1], row[2]) for row in conn.execute(query)}

    def _fresh(self, runs: list[Run]) -> list[Run]:
        """``runs`` with those that went stale since the last sweep read as reaped (as
        ``search_runs`` answers them)."""
        now = now_ms()
        stale = [r for r in runs if r.status == run_status.RUNNING and liveness.stale(r, now)]
        if stale and any([self._reap_if_dead(run) for run in stale]):
            with self._read() as conn:
                again = {r.id: r for r in self._load_runs(conn, [r.id for r in stale])}
            runs = [again.get(r.id, r) for r in runs]
        return runs
