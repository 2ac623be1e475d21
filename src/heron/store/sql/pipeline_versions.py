"""Pipeline versions on the SQL store (``SqlPipelineVersionsMixin``): each distinct DAG of a
pipeline stored once under its hash.

They are content-addressed and global: not owned by a project (the runs that ran them are).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, select
from sqlalchemy.exc import IntegrityError

from heron.core import validation
from heron.core.entities import PipelineVersion
from heron.core.errors import NotFound
from heron.core.ids import now_ms
from heron.store.sql import schema as t


class SqlPipelineVersionsMixin:
    """The pipeline-version methods of :class:`~heron.store.sql.store.SqlStore`."""

    _write: Any
    _read: Any

    def create_pipeline_version(
        self, version_id: str, name: str, structure: dict[str, Any]
    ) -> bool:
        validation.check_name(name, "Pipeline")
        pv = t.pipeline_versions
        payload = orjson.dumps(structure).decode()

        def body(conn: Connection) -> bool:
            if conn.execute(select(pv.c.id).where(pv.c.id == version_id)).first():
                return False
            conn.execute(
                pv.insert().values(id=version_id, name=name, structure=payload, created_at=now_ms())
            )
            return True

        try:
            return self._write(body)
        except IntegrityError:  # another process stored the same version just now
            return False

    def get_pipeline_version(self, version_id: str) -> PipelineVersion:
        pv = t.pipeline_versions
        with self._read() as conn:
            row = conn.execute(select(pv).where(pv.c.id == version_id)).first()
        if row is None:
            raise NotFound(f"No pipeline version {version_id!r}.")
        return PipelineVersion(row.id, row.name, orjson.loads(row.structure), row.created_at)

    def list_pipeline_versions(self, name: str | None = None) -> list[PipelineVersion]:
        pv = t.pipeline_versions
        query = select(pv).order_by(pv.c.created_at.desc())
        if name is not None:
            query = query.where(pv.c.name == name)
        with self._read() as conn:
            return [
                PipelineVersion(r.id, r.name, orjson.loads(r.structure), r.created_at)
                for r in conn.execute(query)
            ]
