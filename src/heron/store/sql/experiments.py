"""Experiments on the SQL store (``SqlExperimentsMixin``): create, read, list, rename,
soft-delete and restore, and their tags. Names are unique within a project (the store's
``project``); ids reach every project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from heron.core import validation
from heron.core.entities import ACTIVE, DELETED, VIEWS, Experiment
from heron.core.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from heron.core.ids import new_id, now_ms
from heron.store.sql import schema as t
from heron.store.sql.projects import require_project, where_phrase


class SqlExperimentsMixin:
    """The experiment methods of :class:`~heron.store.sql.store.SqlStore`."""

    _write: Any
    _read: Any
    project: str

    def create_experiment(self, name: str, tags: dict[str, str] | None = None) -> Experiment:
        validation.check_name(name, "Experiment")
        tags = validation.check_tags(tags)
        project = self.project
        now = now_ms()
        exp = Experiment(
            id=new_id(), name=name, created_at=now, updated_at=now, tags=tags, project=project
        )
        e = t.experiments

        def body(conn: Connection) -> None:
            if conn.execute(select(e.c.id).where(e.c.project == project, e.c.name == name)).first():
                raise AlreadyExists(
                    f"An experiment named {name!r} exists already{where_phrase(project)} (maybe "
                    "deleted: restore it with `heron experiments restore`, or pick another name)."
                )
            require_project(conn, project)
            conn.execute(
                e.insert().values(
                    id=exp.id,
                    name=name,
                    lifecycle=ACTIVE,
                    created_at=now,
                    updated_at=now,
                    project=project,
                )
            )
            if tags:
                conn.execute(
                    t.experiment_tags.insert(),
                    [{"experiment_id": exp.id, "key": k, "value": v} for k, v in tags.items()],
                )

        try:
            self._write(body)
        except IntegrityError as error:  # another writer created the name just now
            raise AlreadyExists(
                f"An experiment named {name!r} exists already{where_phrase(project)}."
            ) from error
        return exp

    def get_experiment(self, experiment_id: str) -> Experiment:
        with self._read() as conn:
            exps = self._experiments(conn, t.experiments.c.id == experiment_id)
        if not exps:
            raise NotFound(f"No experiment with id {experiment_id!r}.")
        return exps[0]

    def get_experiment_by_name(self, name: str) -> Experiment | None:
        e = t.experiments
        with self._read() as conn:
            exps = self._experiments(conn, and_(e.c.project == self.project, e.c.name == name))
        return exps[0] if exps else None

    def list_experiments(self, view: str = "active") -> list[Experiment]:
        e = t.experiments
        where = and_(e.c.project == self.project, lifecycle_clause(e, view))
        with self._read() as conn:
            return self._experiments(conn, where)

    def _experiments(self, conn: Connection, where: Any) -> list[Experiment]:
        e = t.experiments
        rows = conn.execute(select(e).where(where).order_by(e.c.name)).all()
        exps = {
            r.id: Experiment(
                id=r.id,
                name=r.name,
                lifecycle=r.lifecycle,
                created_at=r.created_at,
                updated_at=r.updated_at,
                project=r.project,
            )
            for r in rows
        }
        if exps:
            et = t.experiment_tags
            for r in conn.execute(select(et).where(et.c.experiment_id.in_(list(exps)))):
                exps[r.experiment_id].tags[r.key] = r.value
        return list(exps.values())

    def _set_experiment_lifecycle(self, experiment_id: str, lifecycle: str) -> None:
        def body(conn: Connection) -> None:
            result = conn.execute(
                update(t.experiments)
                .where(t.experiments.c.id == experiment_id)
                .values(lifecycle=lifecycle, updated_at=now_ms())
            )
            if result.rowcount == 0:
                raise NotFound(f"No experiment with id {experiment_id!r}.")

        self._write(body)

    def delete_experiment(self, experiment_id: str) -> None:
        self._set_experiment_lifecycle(experiment_id, DELETED)

    def restore_experiment(self, experiment_id: str) -> None:
        self._set_experiment_lifecycle(experiment_id, ACTIVE)

    def rename_experiment(self, experiment_id: str, new_name: str) -> None:
        validation.check_name(new_name, "Experiment")

        def body(conn: Connection) -> None:
            e = t.experiments
            # the name must be free in the experiment's own project (its id reaches any)
            project = conn.execute(select(e.c.project).where(e.c.id == experiment_id)).scalar()
            if project is None:
                raise NotFound(f"No experiment with id {experiment_id!r}.")
            taken = conn.execute(
                select(e.c.id).where(e.c.project == project, e.c.name == new_name)
            ).scalar()
            if taken and taken != experiment_id:
                raise AlreadyExists(
                    f"An experiment named {new_name!r} exists already{where_phrase(project)}."
                )
            conn.execute(
                update(e).where(e.c.id == experiment_id).values(name=new_name, updated_at=now_ms())
            )

        try:
            self._write(body)
        except IntegrityError as error:  # another writer took the name just now
            raise AlreadyExists(f"An experiment named {new_name!r} exists already.") from error

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        validation.check_key(key, "Tag")
        value = validation.tag_value(key, value)
        et = t.experiment_tags

        def change(conn: Connection) -> None:
            _lock_active_experiment(conn, experiment_id)
            conn.execute(delete(et).where(et.c.experiment_id == experiment_id, et.c.key == key))
            conn.execute(et.insert().values(experiment_id=experiment_id, key=key, value=value))

        self._write(change)

    def delete_experiment_tag(self, experiment_id: str, key: str) -> None:
        validation.check_key(key, "Tag")
        et = t.experiment_tags

        def change(conn: Connection) -> None:
            _lock_active_experiment(conn, experiment_id)
            gone = conn.execute(
                delete(et).where(et.c.experiment_id == experiment_id, et.c.key == key)
            )
            if gone.rowcount == 0:
                raise NotFound(f"Experiment {experiment_id!r} has no tag {key!r}.")

        self._write(change)


def _lock_active_experiment(conn: Connection, experiment_id: str) -> None:
    """Touch the experiment (its ``updated_at``) so that concurrent tag writes serialize;
    :class:`NotFound` when there is none, :class:`InvalidState` when it is deleted."""
    e = t.experiments
    lifecycle = conn.execute(select(e.c.lifecycle).where(e.c.id == experiment_id)).scalar()
    if lifecycle is None:
        raise NotFound(f"No experiment with id {experiment_id!r}.")
    if lifecycle != ACTIVE:
        raise InvalidState(
            f"Experiment {experiment_id!r} is deleted: restore it (`heron experiments restore`) "
            "before changing its tags."
        )
    conn.execute(update(e).where(e.c.id == experiment_id).values(updated_at=now_ms()))


def lifecycle_clause(table: Any, view: str) -> Any:
    """The rows of a view: ``active``, ``deleted`` or ``all``."""
    if view not in VIEWS:
        raise InvalidArgument(f"Unknown view {view!r}; use one of {', '.join(VIEWS)}.")
    if view == "all":
        return table.c.lifecycle.in_((ACTIVE, DELETED))
    return table.c.lifecycle == view
