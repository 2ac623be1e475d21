"""MLflow 3's logged models on the SQL store (``SqlLoggedModelsMixin``).

Used by the MLflow face of ``heron server`` only (:mod:`heron.server.mlflow.logged_models`):
one row per logged model (tags, params and the runs it is an output of as JSON), the files
uploaded for it until it is finalized, and the removal of a run's output links (MLflow's
``delete_artifacts``). A finalized model is an ordinary artifact version (``artifact_id``).
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, insert, or_, select, update

from heron.core.entities import OUTPUT
from heron.core.errors import NotFound
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema as t

_lm = t.mlflow_logged_models
_files = t.mlflow_logged_model_files
_JSON_FIELDS = ("tags", "params", "output_runs")


def _row(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    for key in _JSON_FIELDS:
        values[key] = orjson.loads(values[key])
    return values


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "/%"


class SqlLoggedModelsMixin:
    """Logged-model rows and files on the store's SQL database."""

    engine: Any

    def create_logged_model(self, values: dict[str, Any]) -> dict[str, Any]:
        """Insert a logged model (``values`` has every column; JSON fields as Python)."""
        row = {k: (orjson.dumps(v).decode() if k in _JSON_FIELDS else v) for k, v in values.items()}
        sql_engine.run_write(self.engine, lambda conn: conn.execute(insert(_lm).values(**row)))
        return self.get_logged_model_row(values["id"])  # type: ignore[return-value]

    def get_logged_model_row(self, model_id: str) -> dict[str, Any] | None:
        """The row of a logged model, or ``None``."""
        with sql_engine.read(self.engine) as conn:
            row = conn.execute(select(_lm).where(_lm.c.id == model_id)).first()
        return None if row is None else _row(row)

    def logged_model_of_artifact(self, artifact_id: str) -> dict[str, Any] | None:
        """The row of the logged model that became artifact version ``artifact_id``."""
        with sql_engine.read(self.engine) as conn:
            row = conn.execute(select(_lm).where(_lm.c.artifact_id == artifact_id)).first()
        return None if row is None else _row(row)

    def update_logged_model(self, model_id: str, values: dict[str, Any]) -> dict[str, Any]:
        """Change some columns of a logged model; its new row."""
        row = {k: (orjson.dumps(v).decode() if k in _JSON_FIELDS else v) for k, v in values.items()}

        def body(conn: Connection) -> None:
            done = conn.execute(update(_lm).where(_lm.c.id == model_id).values(**row))
            if done.rowcount == 0:
                raise NotFound(f"No logged model with id {model_id!r}.")

        sql_engine.run_write(self.engine, body)
        return self.get_logged_model_row(model_id)  # type: ignore[return-value]

    def search_logged_model_rows(
        self, experiment_ids: list[str], include_deleted: bool = False
    ) -> list[dict[str, Any]]:
        """The logged models of some experiments, newest first."""
        query = select(_lm).where(_lm.c.experiment_id.in_(experiment_ids))
        if not include_deleted:
            query = query.where(_lm.c.lifecycle == "active")
        query = query.order_by(_lm.c.created_at.desc(), _lm.c.id)
        with sql_engine.read(self.engine) as conn:
            return [_row(r) for r in conn.execute(query)]

    # --- files uploaded before the model is finalized -----------------------------------
    def put_logged_model_file(self, model_id: str, path: str, content_hash: str, size: int) -> None:
        """Record (or replace) the file ``path`` of a logged model being uploaded."""

        def body(conn: Connection) -> None:
            conn.execute(delete(_files).where(_files.c.model_id == model_id, _files.c.path == path))
            conn.execute(
                insert(_files).values(
                    model_id=model_id, path=path, content_hash=content_hash, size=size
                )
            )

        sql_engine.run_write(self.engine, body)

    def logged_model_files(self, model_id: str) -> list[tuple[str, str, int]]:
        """``(path, content hash, size)`` of each file uploaded for a logged model, by path."""
        query = select(_files.c.path, _files.c.content_hash, _files.c.size).where(
            _files.c.model_id == model_id
        )
        with sql_engine.read(self.engine) as conn:
            return sorted((r.path, r.content_hash, int(r.size)) for r in conn.execute(query))

    def delete_logged_model_files(self, model_id: str, path: str = "") -> int:
        """Forget the files of a logged model at or under ``path`` (all for ``""``)."""
        where = _files.c.model_id == model_id
        if path:
            where = and_(
                where, or_(_files.c.path == path, _files.c.path.like(_like_prefix(path), "\\"))
            )
        return sql_engine.run_write(
            self.engine, lambda conn: conn.execute(delete(_files).where(where)).rowcount
        )

    # --- MLflow's delete_artifacts on a run ---------------------------------------------
    def delete_run_outputs(self, run_id: str, path: str = "") -> int:
        """Remove the run's output links named ``path`` or under ``path/`` (all for ``""``);
        the artifact versions stay (immutable, and lineage keeps their producer)."""
        links = t.run_artifacts
        where = and_(links.c.run_id == run_id, links.c.direction == OUTPUT)
        if path:
            where = and_(
                where, or_(links.c.name == path, links.c.name.like(_like_prefix(path), "\\"))
            )
        return sql_engine.run_write(
            self.engine, lambda conn: conn.execute(delete(links).where(where)).rowcount
        )
