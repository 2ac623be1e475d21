"""The distinct metric, param or tag keys of an experiment's runs, on a ``SqlStore``: what a
column chooser lists, fast however many runs and keys there are.

A small experiment is read directly (the distinct keys of its runs' rows). A large one walks
the key index with a loose index scan (one probe per distinct key of the whole store, not
one per row) and keeps the keys one of the experiment's runs holds, found by the same index.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from heron.store.sql import schema as t

#: metric, param and tag keys: the table holding them
_TABLES = {"metric": t.latest_metrics, "param": t.params, "tag": t.tags}
#: up to this many runs an experiment's keys are read straight from its rows
DIRECT_RUNS = 2000


class SqlKeysMixin:
    """The key listing of :class:`~heron.store.sql.store.SqlStore` (see the module doc)."""

    _read: Any

    def experiment_keys(
        self, experiment_id: str, entity: str, contains: str = "", limit: int = 500
    ) -> tuple[list[str], int]:
        """The keys (sorted) of ``entity`` (``metric``, ``param`` or ``tag``) that the runs of
        ``experiment_id`` hold and that contain ``contains`` (case-insensitive), at most
        ``limit`` of them, and how many match in all.

        >>> store.experiment_keys(exp.id, "metric", contains="acc")
        (['acc', 'val_acc'], 2)
        """
        table = _TABLES[entity]
        runs = t.runs
        with self._read() as conn:
            count = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.experiment_id == experiment_id)
            ).scalar_one()
            if count <= DIRECT_RUNS:
                query = (
                    select(table.c.key)
                    .distinct()
                    .select_from(table.join(runs, runs.c.id == table.c.run_id))
                    .where(runs.c.experiment_id == experiment_id)
                )
                keys = list(conn.execute(query).scalars())
            else:
                keys = list(conn.execute(_loose_scan(table.name), {"e": experiment_id}).scalars())
        needle = contains.casefold()
        matching = sorted(k for k in keys if needle in k.casefold())
        return matching[:limit], len(matching)


def _loose_scan(table: str) -> Any:
    # ``table`` is one of the schema's own table names, never user text
    return text(
        f"""
        WITH RECURSIVE k(key) AS (
            SELECT MIN(key) FROM {table}
            UNION ALL
            SELECT (SELECT MIN(x.key) FROM {table} x WHERE x.key > k.key)
            FROM k WHERE k.key IS NOT NULL
        )
        SELECT k.key FROM k
        WHERE k.key IS NOT NULL AND EXISTS (
            SELECT 1 FROM {table} y JOIN runs r ON r.id = y.run_id
            WHERE y.key = k.key AND r.experiment_id = :e
        )
        """
    )
