"""What the garbage collector asks of the SQL store (``SqlGarbageMixin``): the artifact
versions only deleted runs kept alive, and the content hashes still needed.

These are global, across projects: the artifact bytes are stored once per content hash,
whatever project's versions hold them.
"""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import and_, select, update

from heron.core.entities import ACTIVE, DELETED
from heron.store.base import LOGS_TAG
from heron.store.sql import schema as t


class SqlGarbageMixin:
    """The artifact retirement and live-hash reads of :class:`~heron.store.sql.store.SqlStore`."""

    _write: Any
    _read: Any

    def _orphan_artifacts(self) -> Any:
        """Active artifact versions that only deleted runs produced or used, and that no
        active model version points at."""
        av, ra, r, mv = t.artifact_versions, t.run_artifacts, t.runs, t.model_versions
        used_by_live_runs = (
            select(ra.c.artifact_id).join(r, r.c.id == ra.c.run_id).where(r.c.lifecycle == ACTIVE)
        )
        deleted_runs = select(r.c.id).where(r.c.lifecycle == DELETED)
        registered = select(mv.c.artifact_id).where(mv.c.lifecycle == ACTIVE)
        return and_(
            av.c.lifecycle == ACTIVE,
            av.c.producer_run_id.in_(deleted_runs),
            av.c.id.not_in(used_by_live_runs),
            av.c.id.not_in(registered),  # an active model version keeps its artifact
        )

    def retire_orphan_artifacts(self) -> int:
        orphans = self._orphan_artifacts()
        return self._write(
            lambda conn: (
                conn.execute(
                    update(t.artifact_versions).where(orphans).values(lifecycle=DELETED)
                ).rowcount
            )
        )

    def live_content_hashes(self) -> set[str]:
        av, tg, r = t.artifact_versions, t.tags, t.runs
        live = and_(av.c.lifecycle == ACTIVE, ~self._orphan_artifacts())
        with self._read() as conn:
            hashes = set(conn.execute(select(av.c.content_hash).where(live).distinct()).scalars())
            logs = conn.execute(
                select(tg.c.value)
                .join(r, r.c.id == tg.c.run_id)
                .where(tg.c.key == LOGS_TAG, r.c.lifecycle == ACTIVE)
            ).scalars()
            for uri in logs:
                parts = uri.replace(os.sep, "/").rstrip("/").split("/")
                if len(parts) >= 2:
                    hashes.add(parts[-2] + parts[-1])
            # the files of MLflow logged models not finalized yet (still uploading)
            staged = t.mlflow_logged_model_files.c.content_hash
            hashes.update(conn.execute(select(staged).distinct()).scalars())
        return hashes
