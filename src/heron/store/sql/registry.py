"""The model registry of `SqlStore`: registered models, their versions, tags and aliases.

:class:`SqlRegistryMixin` holds the registry methods of :class:`~heron.store.sql.store.SqlStore`
(which inherits it); the tables are in :mod:`heron.store.sql.schema`, the reading of rows into
entities and the errors in :mod:`heron.store.sql.registry_rows`.

Rules kept here:

* A model name means a model of the store's ``project``: names are unique per project, every
  method taking a name looks it up there, and registering a first version makes the model in
  that project (which must exist).

* Version numbers grow by one per model and are never reused: a deleted version is only marked
  ``deleted`` and keeps its number, the next one is the highest ever plus one.
* Every write that numbers a version, moves an alias or deletes a version first takes the
  model's lock: on PostgreSQL ``SELECT … FOR UPDATE`` of its ``registered_models`` row, on
  SQLite the ``BEGIN IMMEDIATE`` every write transaction starts with (one writer at a time).
  So two writers never get the same number, and an alias never points at a deleted version:
  :meth:`~SqlRegistryMixin.set_model_alias` checks the version under the lock that
  :meth:`~SqlRegistryMixin.delete_model_version` holds while it removes that version's aliases.
* Every move of an alias is one ``alias_events`` row written in the same transaction as the
  move, with ``from_version`` the version the alias pointed at before; the rows are kept by
  model id (a rename keeps the history) and read in the order they were written.
* A rollback reads the alias's history and moves the alias in one transaction, under the
  model's lock taken before the read, so concurrent rollbacks each go one step further back
  and every one is recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Connection, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from heron.core import validation
from heron.core.entities import (
    ACTIVE,
    ALIAS_DELETED,
    ALIAS_ROLLBACK,
    ALIAS_SET,
    ALIAS_VERSION_DELETED,
    DELETED,
    KIND_PIPELINE,
    KIND_STEP,
    AliasEvent,
    ModelVersion,
    RegisteredModel,
)
from heron.core.errors import Conflict, InvalidArgument, InvalidState, NotFound
from heron.core.ids import new_id, now_ms
from heron.store.alias_history import rollback_target
from heron.store.sql import registry_rows as rows
from heron.store.sql import schema as t
from heron.store.sql.projects import require_project
from heron.store.sql.registry_checks import (
    alias_text,
    check_alias,
    check_max_results,
    check_new_model_name,
    check_version,
    checked_tags,
    description_text,
)
from heron.store.sql.registry_search import model_version_query

if TYPE_CHECKING:
    from sqlalchemy import Engine

T = TypeVar("T")

_SET_ACTIONS = (ALIAS_SET, ALIAS_ROLLBACK)
_NUMBERING_ATTEMPTS = 5

_rm = t.registered_models
_rmt = t.registered_model_tags
_mv = t.model_versions
_mvt = t.model_version_tags
_ma = t.model_aliases
_ae = t.alias_events


class SqlRegistryMixin:
    """The registry half of `SqlStore` (see the module docstring for its locking rules)."""

    if TYPE_CHECKING:
        engine: Engine
        _dialect: str
        _insert: Any
        project: str

        def _write(self, body: Callable[[Connection], T]) -> T: ...

        def _read(self) -> AbstractContextManager[Connection]: ...

    # --- registered models ------------------------------------------------------------
    def create_registered_model(
        self,
        name: str,
        description: str | None = None,
        tags: dict[str, str] | None = None,
    ) -> RegisteredModel:
        check_new_model_name(name)
        description = description_text(description)
        tags = checked_tags(tags)
        project = self.project
        now = now_ms()
        model = RegisteredModel(
            id=new_id(),
            name=name,
            description=description,
            created_at=now,
            updated_at=now,
            tags=tags,
            project=project,
        )

        def body(conn: Connection) -> None:
            if conn.execute(
                select(_rm.c.id).where(_rm.c.project == project, _rm.c.name == name)
            ).first():
                raise rows.model_exists(name, project=project)
            require_project(conn, project)
            conn.execute(
                _rm.insert().values(
                    id=model.id,
                    name=name,
                    description=description,
                    created_at=now,
                    updated_at=now,
                    project=project,
                )
            )
            if tags:
                conn.execute(
                    _rmt.insert(),
                    [{"model_id": model.id, "key": k, "value": v} for k, v in tags.items()],
                )

        try:
            self._write(body)
        except IntegrityError as e:  # another writer registered the name just now
            raise rows.model_exists(name, project=project) from e
        return model

    def get_registered_model(self, name: str) -> RegisteredModel:
        validation.check_name(name, "Model")
        project = self.project
        with self._read() as conn:
            found = rows.registered_models(conn, and_(_rm.c.project == project, _rm.c.name == name))
        if not found:
            raise rows.no_model(name, project)
        return found[0]

    def list_registered_models(
        self, name_like: str | None = None, max_results: int = 1000
    ) -> list[RegisteredModel]:
        check_max_results(max_results)
        where: Any = _rm.c.project == self.project
        if name_like is not None:
            if not isinstance(name_like, str):
                raise InvalidArgument(
                    f"name_like must be a string (a LIKE pattern such as 'iris%'), got "
                    f"{type(name_like).__name__}."
                )
            # A backslash escapes % and _ on every back-end (PostgreSQL's default).
            pattern = validation.check_text(name_like, "name_like")
            where = and_(where, _rm.c.name.like(pattern, escape="\\"))
        with self._read() as conn:
            return rows.registered_models(conn, where, max_results)

    def update_registered_model(self, name: str, description: str | None) -> RegisteredModel:
        validation.check_name(name, "Model")
        description = description_text(description)

        def body(conn: Connection) -> RegisteredModel:
            model_id = _lock_model(conn, self.project, name)
            conn.execute(
                update(_rm)
                .where(_rm.c.id == model_id)
                .values(description=description, updated_at=now_ms())
            )
            return rows.registered_models(conn, _rm.c.id == model_id)[0]

        return self._write(body)

    def rename_registered_model(self, name: str, new_name: str) -> RegisteredModel:
        validation.check_name(name, "Model")
        check_new_model_name(new_name)
        project = self.project

        def body(conn: Connection) -> RegisteredModel:
            model_id = _lock_model(conn, project, name)
            if new_name != name:
                taken = select(_rm.c.id).where(_rm.c.project == project, _rm.c.name == new_name)
                if conn.execute(taken).first():
                    raise rows.model_exists(new_name, renaming=name, project=project)
                conn.execute(
                    update(_rm)
                    .where(_rm.c.id == model_id)
                    .values(name=new_name, updated_at=now_ms())
                )
            return rows.registered_models(conn, _rm.c.id == model_id)[0]

        try:
            return self._write(body)
        except IntegrityError as e:  # another writer took the new name just now
            raise rows.model_exists(new_name, renaming=name, project=project) from e

    def delete_registered_model(self, name: str) -> None:
        validation.check_name(name, "Model")

        def body(conn: Connection) -> None:
            model_id = _lock_model(conn, self.project, name)
            versions = select(_mv.c.id).where(_mv.c.model_id == model_id)
            conn.execute(delete(_mvt).where(_mvt.c.version_id.in_(versions)))
            conn.execute(delete(_ma).where(_ma.c.model_id == model_id))
            conn.execute(delete(_ae).where(_ae.c.model_id == model_id))
            conn.execute(delete(_mv).where(_mv.c.model_id == model_id))
            conn.execute(delete(_rmt).where(_rmt.c.model_id == model_id))
            conn.execute(delete(_rm).where(_rm.c.id == model_id))

        self._write(body)

    def set_registered_model_tag(self, name: str, key: str, value: str) -> None:
        validation.check_name(name, "Model")
        validation.check_key(key, "Tag")
        value = validation.tag_value(key, value)

        def body(conn: Connection) -> None:
            model_id = _lock_model(conn, self.project, name)
            upsert = self._insert(_rmt).values(model_id=model_id, key=key, value=value)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["model_id", "key"], set_={"value": upsert.excluded.value}
                )
            )
            conn.execute(update(_rm).where(_rm.c.id == model_id).values(updated_at=now_ms()))

        self._write(body)

    def delete_registered_model_tag(self, name: str, key: str) -> None:
        validation.check_name(name, "Model")
        validation.check_key(key, "Tag")

        def body(conn: Connection) -> None:
            model_id = _lock_model(conn, self.project, name)
            result = conn.execute(
                delete(_rmt).where(_rmt.c.model_id == model_id, _rmt.c.key == key)
            )
            if result.rowcount == 0:
                raise NotFound(f"Registered model {name!r} has no tag {key!r}.")
            conn.execute(update(_rm).where(_rm.c.id == model_id).values(updated_at=now_ms()))

        self._write(body)

    # --- model versions ---------------------------------------------------------------
    def create_model_version(
        self,
        name: str,
        artifact_id: str,
        *,
        run_id: str | None = None,
        pipeline_run_id: str | None = None,
        description: str | None = None,
        tags: dict[str, str] | None = None,
        user: str | None = None,
    ) -> ModelVersion:
        check_new_model_name(name)
        if not isinstance(artifact_id, str) or not artifact_id:
            raise InvalidArgument(
                f"artifact_id must be the id of an artifact version, got {artifact_id!r}."
            )
        run_id = validation.optional_text(run_id, 32, "run_id")
        pipeline_run_id = validation.optional_text(pipeline_run_id, 32, "pipeline_run_id")
        description = description_text(description)
        tags = checked_tags(tags)
        user = validation.optional_text(user, 256, "user")

        def body(conn: Connection) -> ModelVersion:
            av = t.artifact_versions
            art = conn.execute(
                select(av.c.name, av.c.version, av.c.lifecycle, av.c.producer_run_id).where(
                    av.c.id == artifact_id
                )
            ).first()
            if art is None:
                raise NotFound(
                    f"No artifact version with id {artifact_id!r} to register as a version of "
                    f"model {name!r}. Pass the id of a stored artifact version (the `id` of what "
                    "heron.Client().get_artifact(name) returns)."
                )
            if art.lifecycle != ACTIVE:
                raise InvalidState(
                    f"Artifact {art.name!r} version {art.version} ({artifact_id}) is deleted "
                    "(only deleted runs used it; its bytes may be gone), so it cannot become a "
                    "model version. Register an active artifact version (log the model again)."
                )
            producer, pipeline_run = _lineage(conn, art.producer_run_id, run_id, pipeline_run_id)
            now = now_ms()
            model_id = _lock_model(conn, self.project, name, create_at=now)
            latest = conn.execute(
                select(func.max(_mv.c.version)).where(_mv.c.model_id == model_id)
            ).scalar()
            mv = ModelVersion(
                id=new_id(),
                name=name,
                version=(latest or 0) + 1,
                artifact_id=artifact_id,
                run_id=producer,
                pipeline_run_id=pipeline_run,
                description=description,
                user=user,
                created_at=now,
                updated_at=now,
                lifecycle=ACTIVE,
                tags=dict(tags),
            )
            conn.execute(
                _mv.insert().values(
                    id=mv.id,
                    model_id=model_id,
                    version=mv.version,
                    artifact_id=artifact_id,
                    run_id=producer,
                    pipeline_run_id=pipeline_run,
                    description=description,
                    user=user,
                    created_at=now,
                    updated_at=now,
                    lifecycle=ACTIVE,
                )
            )
            if tags:
                conn.execute(
                    _mvt.insert(),
                    [{"version_id": mv.id, "key": k, "value": v} for k, v in tags.items()],
                )
            conn.execute(update(_rm).where(_rm.c.id == model_id).values(updated_at=now))
            return mv

        # The model lock makes numbers distinct; the unique (model_id, version) constraint is
        # the safety net should two writers still meet (a retry takes the next number).
        for attempt in range(_NUMBERING_ATTEMPTS):
            try:
                return self._write(body)
            except IntegrityError as e:
                if attempt == _NUMBERING_ATTEMPTS - 1:
                    raise Conflict(
                        f"Could not number a new version of model {name!r}: concurrent writers "
                        f"took every number tried ({e.orig}). Retry the registration."
                    ) from e
        raise AssertionError("unreachable")

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        validation.check_name(name, "Model")
        version = check_version(version)
        with self._read() as conn:
            project = self.project
            found = rows.model_versions(
                conn, [_rm.c.project == project, _rm.c.name == name, _mv.c.version == version]
            )
            if found and found[0].lifecycle == ACTIVE:
                return found[0]
            raise rows.missing_version(conn, project, name, version)

    def search_model_versions(
        self,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
    ) -> list[ModelVersion]:
        check_max_results(max_results)
        query = model_version_query(filter_string, order_by, self.project).limit(max_results)
        with self._read() as conn:
            ids = list(conn.execute(query).scalars())
            by_id = {
                mv.id: mv
                for batch in rows.batches(ids)
                for mv in rows.model_versions(conn, [_mv.c.id.in_(batch)])
            }
        return [by_id[i] for i in ids if i in by_id]

    def update_model_version(
        self, name: str, version: int, description: str | None
    ) -> ModelVersion:
        validation.check_name(name, "Model")
        version = check_version(version)
        description = description_text(description)

        def body(conn: Connection) -> ModelVersion:
            version_id = _locked_version(conn, self.project, name, version)
            conn.execute(
                update(_mv)
                .where(_mv.c.id == version_id)
                .values(description=description, updated_at=now_ms())
            )
            return rows.model_versions(conn, [_mv.c.id == version_id])[0]

        return self._write(body)

    def set_model_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        validation.check_name(name, "Model")
        version = check_version(version)
        validation.check_key(key, "Tag")
        value = validation.tag_value(key, value)

        def body(conn: Connection) -> None:
            version_id = _locked_version(conn, self.project, name, version)
            upsert = self._insert(_mvt).values(version_id=version_id, key=key, value=value)
            conn.execute(
                upsert.on_conflict_do_update(
                    index_elements=["version_id", "key"], set_={"value": upsert.excluded.value}
                )
            )
            conn.execute(update(_mv).where(_mv.c.id == version_id).values(updated_at=now_ms()))

        self._write(body)

    def delete_model_version_tag(self, name: str, version: int, key: str) -> None:
        validation.check_name(name, "Model")
        version = check_version(version)
        validation.check_key(key, "Tag")

        def body(conn: Connection) -> None:
            version_id = _locked_version(conn, self.project, name, version)
            result = conn.execute(
                delete(_mvt).where(_mvt.c.version_id == version_id, _mvt.c.key == key)
            )
            if result.rowcount == 0:
                raise NotFound(f"Version {version} of model {name!r} has no tag {key!r}.")
            conn.execute(update(_mv).where(_mv.c.id == version_id).values(updated_at=now_ms()))

        self._write(body)

    def delete_model_version(self, name: str, version: int, user: str | None = None) -> None:
        validation.check_name(name, "Model")
        version = check_version(version)
        user = validation.optional_text(user, 256, "user")

        def body(conn: Connection) -> None:
            model_id = _lock_model(conn, self.project, name)
            version_id = _active_version_id(conn, model_id, self.project, name, version)
            now = _event_time(conn, model_id)
            conn.execute(
                update(_mv).where(_mv.c.id == version_id).values(lifecycle=DELETED, updated_at=now)
            )
            aliases = list(
                conn.execute(
                    select(_ma.c.alias)
                    .where(_ma.c.model_id == model_id, _ma.c.version == version)
                    .order_by(_ma.c.alias)
                ).scalars()
            )
            if aliases:
                conn.execute(
                    delete(_ma).where(_ma.c.model_id == model_id, _ma.c.version == version)
                )
                conn.execute(
                    _ae.insert(),
                    [
                        rows.event_row(model_id, a, version, None, ALIAS_VERSION_DELETED, user, now)
                        for a in aliases
                    ],
                )

        self._write(body)

    # --- aliases ----------------------------------------------------------------------
    def set_model_alias(
        self,
        name: str,
        alias: str,
        version: int,
        user: str | None = None,
        action: str = ALIAS_SET,
    ) -> AliasEvent:
        validation.check_name(name, "Model")
        alias = check_alias(alias)
        version = check_version(version)
        user = validation.optional_text(user, 256, "user")
        if action not in _SET_ACTIONS:
            raise InvalidArgument(
                f"Unknown alias action {action!r}; set_model_alias records "
                f"{' or '.join(map(repr, _SET_ACTIONS))}."
            )

        def body(conn: Connection) -> AliasEvent:
            model_id = _lock_model(conn, self.project, name)
            _active_version_id(conn, model_id, self.project, name, version)
            return _move_alias(conn, model_id, name, alias, version, action, user)

        return self._write(body)

    def rollback_model_alias(self, name: str, alias: str, user: str | None = None) -> AliasEvent:
        validation.check_name(name, "Model")
        alias = alias_text(alias)
        user = validation.optional_text(user, 256, "user")

        # One transaction reads the history and extends it: the model's lock (BEGIN IMMEDIATE
        # on SQLite, the row lock on PostgreSQL) is taken before the history is read, so two
        # rollbacks never both start from the same history (each goes one step further back).
        def body(conn: Connection) -> AliasEvent:
            model_id = _lock_model(conn, self.project, name)
            events = rows.alias_events(conn, model_id, name, alias)
            mentioned = {v for e in events for v in (e.from_version, e.to_version) if v is not None}
            active: set[int] = set()
            for batch in rows.batches(sorted(mentioned)):
                active.update(
                    conn.execute(
                        select(_mv.c.version).where(
                            _mv.c.model_id == model_id,
                            _mv.c.version.in_(batch),
                            _mv.c.lifecycle == ACTIVE,
                        )
                    ).scalars()
                )
            what = f"Alias {alias!r} of model {name!r}"
            point = f"set_model_alias({name!r}, {alias!r}, version)"
            target = rollback_target(events, active.__contains__, what, point)
            return _move_alias(conn, model_id, name, alias, target, ALIAS_ROLLBACK, user)

        return self._write(body)

    def delete_model_alias(self, name: str, alias: str, user: str | None = None) -> AliasEvent:
        validation.check_name(name, "Model")
        alias = alias_text(alias)
        user = validation.optional_text(user, 256, "user")

        def body(conn: Connection) -> AliasEvent:
            model_id = _lock_model(conn, self.project, name)
            current = conn.execute(
                select(_ma.c.version).where(_ma.c.model_id == model_id, _ma.c.alias == alias)
            ).scalar()
            if current is None:
                raise rows.no_alias(conn, model_id, name, alias)
            now = _event_time(conn, model_id)
            conn.execute(delete(_ma).where(_ma.c.model_id == model_id, _ma.c.alias == alias))
            conn.execute(
                _ae.insert().values(
                    rows.event_row(model_id, alias, current, None, ALIAS_DELETED, user, now)
                )
            )
            return AliasEvent(name, alias, current, None, ALIAS_DELETED, user, now)

        return self._write(body)

    def get_model_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        validation.check_name(name, "Model")
        alias = alias_text(alias)
        with self._read() as conn:
            model_id = rows.model_id(conn, self.project, name)
            # One statement reads the alias and the version it points at, so that even
            # under READ COMMITTED (PostgreSQL) both come from the same snapshot.
            found = rows.model_versions(
                conn, [_mv.c.model_id == model_id, _ma.c.alias == alias], through_alias=True
            )
            if not found:
                raise rows.no_alias(conn, model_id, name, alias)
        return found[0]

    def get_alias_history(self, name: str, alias: str | None = None) -> list[AliasEvent]:
        validation.check_name(name, "Model")
        alias = None if alias is None else alias_text(alias)
        with self._read() as conn:
            return rows.alias_events(conn, rows.model_id(conn, self.project, name), name, alias)


# --- locking and moving -------------------------------------------------------------------


def _lock_model(conn: Connection, project: str, name: str, create_at: int | None = None) -> str:
    """The id of model ``name`` of ``project``, its row locked until the transaction ends
    (PostgreSQL; the SQLite write transaction holds the database lock already). With
    ``create_at`` a missing model is registered first (with that time; the project must
    exist), else it is :class:`NotFound`."""
    lock = select(_rm.c.id).where(_rm.c.project == project, _rm.c.name == name).with_for_update()
    for _ in range(3):
        model_id = conn.execute(lock).scalar()
        if model_id is not None:
            return model_id
        if create_at is None:
            break
        require_project(conn, project)
        # ON CONFLICT DO NOTHING: a concurrent first registration of the name wins, and
        # this transaction waits for it, then locks the row it made.
        conn.execute(
            _dialect_insert(conn, _rm)
            .values(
                id=new_id(),
                name=name,
                created_at=create_at,
                updated_at=create_at,
                project=project,
            )
            .on_conflict_do_nothing(index_elements=["project", "name"])
        )
    raise rows.no_model(name, project)


def _dialect_insert(conn: Connection, table: Any) -> Any:
    """The INSERT of the connection's dialect (it has ON CONFLICT clauses)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


def _locked_version(conn: Connection, project: str, name: str, version: int) -> str:
    """The row id of an active version of model ``name`` of ``project``, the model locked."""
    return _active_version_id(conn, _lock_model(conn, project, name), project, name, version)


def _active_version_id(
    conn: Connection, model_id: str, project: str, name: str, version: int
) -> str:
    """The row id of an active version of the model ``model_id`` (named ``name``, which
    writers locked first with :func:`_lock_model`); NotFound saying what is missing
    otherwise."""
    row = conn.execute(
        select(_mv.c.id, _mv.c.lifecycle).where(
            _mv.c.model_id == model_id, _mv.c.version == version
        )
    ).first()
    if row is None or row.lifecycle != ACTIVE:
        raise rows.missing_version(conn, project, name, version)
    return row.id


def _lineage(
    conn: Connection, producer: str | None, run_id: str | None, pipeline_run_id: str | None
) -> tuple[str | None, str | None]:
    """The (run, pipeline run) of a new model version: those given (which must exist), else
    the run that produced the artifact and, for a step run, the pipeline run around it."""
    r = t.runs
    for what, given in (("run", run_id), ("pipeline run", pipeline_run_id)):
        if (
            given is not None
            and conn.execute(select(r.c.id).where(r.c.id == given)).first() is None
        ):
            raise NotFound(f"No {what} with id {given!r} to record on the model version.")
    run = run_id if run_id is not None else producer
    if pipeline_run_id is None and run is not None:
        found = conn.execute(select(r.c.kind, r.c.parent_id).where(r.c.id == run)).first()
        if found is not None and found.kind == KIND_STEP:
            pipeline_run_id = found.parent_id
        elif found is not None and found.kind == KIND_PIPELINE:
            pipeline_run_id = run
    return run, pipeline_run_id


def _event_time(conn: Connection, model_id: str) -> int:
    """Now, but never before the model's last alias event: the history reads in order even
    when writers' clocks disagree."""
    last = conn.execute(
        select(func.max(_ae.c.timestamp)).where(_ae.c.model_id == model_id)
    ).scalar()
    now = now_ms()
    return now if last is None or now >= last else last


def _move_alias(
    conn: Connection,
    model_id: str,
    name: str,
    alias: str,
    version: int,
    action: str,
    user: str | None,
) -> AliasEvent:
    """Point ``alias`` at ``version`` (an active version the caller checked under the model's
    lock) and record the move; nothing moves or is recorded if it points there already."""
    current = conn.execute(
        select(_ma.c.version).where(_ma.c.model_id == model_id, _ma.c.alias == alias)
    ).scalar()
    now = _event_time(conn, model_id)
    if current == version:  # already there: nothing moves, nothing is recorded
        return AliasEvent(name, alias, version, version, action, user, now)
    if current is None:
        conn.execute(
            _ma.insert().values(model_id=model_id, alias=alias, version=version, updated_at=now)
        )
    else:
        conn.execute(
            update(_ma)
            .where(_ma.c.model_id == model_id, _ma.c.alias == alias)
            .values(version=version, updated_at=now)
        )
    conn.execute(
        _ae.insert().values(rows.event_row(model_id, alias, current, version, action, user, now))
    )
    return AliasEvent(name, alias, current, version, action, user, now)
