"""`SqlStore`: the metadata store on SQLAlchemy Core, for SQLite and PostgreSQL."""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from itertools import repeat
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, literal, or_, select, update

from heron.core import status as run_status
from heron.core import validation
from heron.core.entities import (
    ACTIVE,
    DELETED,
    RUN_KINDS,
    VIEWS,
    Metric,
    PagedList,
    Run,
)
from heron.core.errors import AlreadyExists, InvalidArgument, InvalidState, NotFound
from heron.core.ids import new_id, now_ms
from heron.store.base import MAX_RESULTS_LIMIT, Store
from heron.store.downsample import downsample_indices
from heron.store.sql import engine as sql_engine
from heron.store.sql import liveness
from heron.store.sql import schema as t
from heron.store.sql.artifacts import SqlArtifactsMixin, check_link
from heron.store.sql.chunks import pack_series, read_series
from heron.store.sql.experiments import SqlExperimentsMixin
from heron.store.sql.garbage import SqlGarbageMixin
from heron.store.sql.keys import SqlKeysMixin
from heron.store.sql.liveness import SqlLivenessMixin
from heron.store.sql.logged_models import SqlLoggedModelsMixin
from heron.store.sql.ownership import SqlOwnershipMixin
from heron.store.sql.page_tokens import decode_page_token, encode_page_token
from heron.store.sql.pipeline_versions import SqlPipelineVersionsMixin
from heron.store.sql.projects import PROJECT_BY_NAME
from heron.store.sql.raw import RawStatement, run_raw_write
from heron.store.sql.registry import SqlRegistryMixin
from heron.store.sql.run_tree import SqlRunTreeMixin
from heron.store.sql.schedules import SqlSchedulesMixin
from heron.store.sql.search import RunSearch
from heron.store.sql.stacks import SqlStacksMixin

_RUN_COLUMNS = (
    t.runs.c.id,
    t.runs.c.experiment_id,
    t.runs.c.name,
    t.runs.c.kind,
    t.runs.c.status,
    t.runs.c.start_time,
    t.runs.c.end_time,
    t.runs.c.user,
    t.runs.c.source,
    t.runs.c.git_commit,
    t.runs.c.python_version,
    t.runs.c.parent_id,
    t.runs.c.status_reason,
    t.runs.c.heartbeat_at,
    t.runs.c.lifecycle,
    t.runs.c.pipeline_version_id,
    t.runs.c.cache_key,
    t.runs.c.owner,
    t.runs.c.heartbeat_timeout,
)
_RUN_COLUMN_NAMES = tuple(c.key for c in _RUN_COLUMNS)
_CHUNK_COLUMNS = ("run_id", "key", "count", "min_step", "max_step", "steps", "timestamps", "values")
_LATEST_COLUMNS = ("run_id", "key", "value", "is_nan", "step", "timestamp")

# Statements built once: building a SQLAlchemy statement costs more than running it.
_p = bindparam
_EXPERIMENT_LIFECYCLE = select(t.experiments.c.lifecycle).where(
    t.experiments.c.id == _p("experiment_id")
)
_RUN_EXISTS = select(t.runs.c.id).where(t.runs.c.id == _p("run_id"))
_RUN_STATE = select(
    t.runs.c.status, t.runs.c.lifecycle, t.runs.c.status_reason, t.runs.c.owner
).where(t.runs.c.id == _p("run_id"))
_RUN_ROWS = select(*_RUN_COLUMNS).where(t.runs.c.id.in_(_p("ids", expanding=True)))
_PARAM_ROWS = select(t.params.c.run_id, t.params.c.key, t.params.c.value).where(
    t.params.c.run_id.in_(_p("ids", expanding=True))
)
_TAG_ROWS = select(t.tags.c.run_id, t.tags.c.key, t.tags.c.value).where(
    t.tags.c.run_id.in_(_p("ids", expanding=True))
)
_METRIC_ROWS = select(
    t.latest_metrics.c.run_id,
    t.latest_metrics.c.key,
    t.latest_metrics.c.value,
    t.latest_metrics.c.is_nan,
).where(t.latest_metrics.c.run_id.in_(_p("ids", expanding=True)))
_PARAMS_OF_RUN = select(t.params.c.key, t.params.c.value).where(t.params.c.run_id == _p("run_id"))
_UPDATE_RUN = t.runs.update().where(t.runs.c.id == _p("target_run_id"))
_OTHER_PROJECT = select(t.projects.c.name).where(t.projects.c.name != _p("project")).limit(1)
_CACHED_RUN = (
    select(t.runs.c.id)
    .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
    .where(
        t.runs.c.cache_key == _p("cache_key"),
        t.runs.c.status.in_((run_status.COMPLETED, run_status.CACHED)),
        t.runs.c.lifecycle == ACTIVE,
        t.experiments.c.project == _p("project"),
    )
    .order_by(t.runs.c.start_time.desc())
    .limit(1)
)


class SqlStore(
    SqlExperimentsMixin,
    SqlRegistryMixin,
    SqlArtifactsMixin,
    SqlPipelineVersionsMixin,
    SqlGarbageMixin,
    SqlOwnershipMixin,
    SqlLivenessMixin,
    SqlSchedulesMixin,
    SqlStacksMixin,
    SqlLoggedModelsMixin,
    SqlRunTreeMixin,
    SqlKeysMixin,
    Store,
):
    """Metadata in a SQL database (``sqlite:///…`` or ``postgresql://…``).

    Names are looked up in the store's :attr:`project` (``in_project`` makes a view in
    another one); ids reach every project.

    Experiments and their tags come from :class:`SqlExperimentsMixin` (``experiments.py``),
    the model-registry methods from :class:`SqlRegistryMixin` (``registry.py``), the
    artifact-version and lineage-link methods from :class:`SqlArtifactsMixin`
    (``artifacts.py``), pipeline versions from :class:`SqlPipelineVersionsMixin`
    (``pipeline_versions.py``), what ``heron gc`` asks from :class:`SqlGarbageMixin`
    (``garbage.py``), which project owns an object from :class:`SqlOwnershipMixin`
    (``ownership.py``), heartbeats and reaping from :class:`SqlLivenessMixin`
    (``liveness.py``), schedules, ticks and backfills from :class:`SqlSchedulesMixin`
    (``schedules.py``), stacks from :class:`SqlStacksMixin` (``stacks.py``), MLflow's logged
    models from :class:`SqlLoggedModelsMixin` (``logged_models.py``), the dashboard's reads of
    runs as parents and children and of an experiment's keys from :class:`SqlRunTreeMixin`
    (``run_tree.py``) and :class:`SqlKeysMixin` (``keys.py``).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.engine = sql_engine.get_engine(uri)
        self._dialect = self.engine.dialect.name
        self._sweep = [0]  # when dead runs were last reaped, shared by in_project views
        if self._dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as upsert_insert
        else:
            from sqlalchemy.dialects.postgresql import insert as upsert_insert
        self._insert = upsert_insert
        tags_upsert = upsert_insert(t.tags)
        lm = t.latest_metrics
        latest = upsert_insert(lm)
        ex = latest.excluded
        raw = functools.partial(RawStatement, engine=self.engine)
        self._raw_experiment_lifecycle = raw(_EXPERIMENT_LIFECYCLE)
        self._raw_run_exists = raw(_RUN_EXISTS)
        self._raw_run_state = raw(_RUN_STATE)
        self._raw_params_of_run = raw(_PARAMS_OF_RUN)
        self._raw_insert_run = raw(t.runs.insert())
        self._raw_insert_params = raw(
            upsert_insert(t.params).on_conflict_do_nothing(index_elements=["run_id", "key"])
        )
        self._raw_insert_tags = raw(t.tags.insert())
        self._raw_insert_chunks = raw(t.metric_chunks.insert(), columns=_CHUNK_COLUMNS)
        self._raw_upsert_tags = raw(
            tags_upsert.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": tags_upsert.excluded.value}
            )
        )
        self._raw_upsert_latest = raw(
            latest.on_conflict_do_update(
                index_elements=["run_id", "key"],
                set_={
                    "value": ex.value,
                    "is_nan": ex.is_nan,
                    "step": ex.step,
                    "timestamp": ex.timestamp,
                },
                # keep the point with the highest step, then the newest timestamp
                where=or_(
                    ex.step > lm.c.step, and_(ex.step == lm.c.step, ex.timestamp >= lm.c.timestamp)
                ),
            )
        )
        links_upsert = upsert_insert(t.run_artifacts)
        self._raw_upsert_links = raw(
            links_upsert.on_conflict_do_update(
                index_elements=["run_id", "direction", "name"],
                set_={"artifact_id": links_upsert.excluded.artifact_id},
            )
        )
        self._raw_claim_request = raw(
            upsert_insert(t.applied_requests).on_conflict_do_nothing(index_elements=["id"])
        )
        self._raw_latest_version = raw(
            select(func.max(t.artifact_versions.c.version)).where(
                t.artifact_versions.c.project == bindparam("project"),
                t.artifact_versions.c.name == bindparam("name"),
            )
        )
        self._raw_project_by_name = raw(PROJECT_BY_NAME)
        self._raw_insert_artifact = raw(t.artifact_versions.insert())
        self._raw_artifact_exists = raw(
            select(t.artifact_versions.c.id).where(t.artifact_versions.c.id == bindparam("id"))
        )
        self._raw_run_updates: dict[tuple[str, ...], RawStatement] = {}
        self._raw_run_row = raw(select(*_RUN_COLUMNS).where(t.runs.c.id == _p("run_id")))
        self._raw_run_parts = tuple(
            raw(select(*columns).where(table.c.run_id == _p("run_id")))
            for table, columns in (
                (t.params, (t.params.c.key, t.params.c.value)),
                (t.tags, (t.tags.c.key, t.tags.c.value)),
                (
                    t.latest_metrics,
                    (t.latest_metrics.c.key, t.latest_metrics.c.value, t.latest_metrics.c.is_nan),
                ),
            )
        )

    def _raw_load_run(self, cursor: Any, run_id: str) -> Run | None:
        """One run with its params, tags and latest metrics, in the caller's transaction."""
        row = self._raw_run_row.execute(cursor, {"run_id": run_id}).fetchone()
        if row is None:
            return None
        run = Run(**dict(zip(_RUN_COLUMN_NAMES, row)))
        params, tags, metrics = (
            part.execute(cursor, {"run_id": run_id}).fetchall() for part in self._raw_run_parts
        )
        run.params.update(params)
        run.tags.update(tags)
        for key, value, is_nan in metrics:
            run.metrics[key] = math.nan if is_nan else value
        return run

    def _raw_update_run(self, cursor: Any, run_id: str, values: dict[str, Any]) -> None:
        """UPDATE runs SET <values> WHERE id = run_id, compiled once per set of columns."""
        columns = tuple(sorted(values))
        statement = self._raw_run_updates.get(columns)
        if statement is None:
            statement = self._raw_run_updates[columns] = RawStatement(
                _UPDATE_RUN.values({c: bindparam(f"new_{c}") for c in columns}), self.engine
            )
        params = {f"new_{c}": v for c, v in values.items()}
        params["target_run_id"] = run_id
        statement.execute(cursor, params)

    @property
    def _last_sweep(self) -> int:
        return self._sweep[0]

    @_last_sweep.setter
    def _last_sweep(self, value: int) -> None:
        self._sweep[0] = value

    def in_project(self, name: str) -> SqlStore:
        """A view of this store in project ``name`` (see :meth:`Store.in_project`): it shares
        the engine, the compiled statements and when dead runs were last reaped, so that a
        server making one view per request pays neither again."""
        self._heartbeat_statements()  # compiled lazily: once here, not once per view
        return super().in_project(name)

    def ping(self) -> None:
        """Raise a :class:`StoreError` unless the database answers (``/health``)."""
        with self._read() as conn:
            conn.execute(select(literal(1))).scalar_one()

    def __repr__(self) -> str:
        from heron.core.uris import redact

        return f"SqlStore({redact(self.uri)!r})"

    def _write(self, body):  # type: ignore[no-untyped-def]
        return sql_engine.run_write(self.engine, body)

    def _read(self):  # type: ignore[no-untyped-def]
        return sql_engine.read(self.engine)

    # --- runs -------------------------------------------------------------------------
    def create_run(
        self,
        experiment_id: str,
        *,
        run_id: str | None = None,
        name: str | None = None,
        kind: str = "run",
        status: str = "running",
        parent_id: str | None = None,
        start_time: int | None = None,
        user: str | None = None,
        source: str | None = None,
        git_commit: str | None = None,
        python_version: str | None = None,
        tags: dict[str, str] | None = None,
        pipeline_version_id: str | None = None,
        cache_key: str | None = None,
    ) -> Run:
        if kind not in RUN_KINDS:
            raise InvalidArgument(f"Unknown run kind {kind!r}; use one of {', '.join(RUN_KINDS)}.")
        run_status.validate_status(status)
        run_id = validation.check_run_id(run_id) if run_id is not None else new_id()
        user = validation.optional_text(user, 256, "user")
        source = validation.optional_text(source, None, "source")
        git_commit = validation.optional_text(git_commit, 64, "git_commit")
        python_version = validation.optional_text(python_version, 32, "python_version")
        now = now_ms()
        start = (
            validation.check_timestamp(start_time, "start_time") if start_time is not None else now
        )
        name = validation.check_name(name, "Run") if name else _default_run_name(run_id)
        tags = validation.check_tags(tags)
        run = Run(
            id=run_id,
            experiment_id=experiment_id,
            name=name,
            kind=kind,
            status=status,
            start_time=start,
            user=user,
            source=source,
            git_commit=git_commit,
            python_version=python_version,
            parent_id=parent_id,
            tags=tags,
            pipeline_version_id=validation.optional_text(
                pipeline_version_id, 32, "pipeline_version_id"
            ),
            cache_key=validation.optional_text(cache_key, 64, "cache_key"),
            **liveness.owner_values(now),
        )

        row = {
            "id": run_id,
            "experiment_id": experiment_id,
            "name": name,
            "kind": kind,
            "status": status,
            "parent_id": parent_id,
            "user": user,
            "source": source,
            "git_commit": git_commit,
            "python_version": python_version,
            "start_time": start,
            "lifecycle": ACTIVE,
            "pipeline_version_id": run.pipeline_version_id,
            "cache_key": run.cache_key,
            **liveness.owner_values(now),
        }

        def body(cur: Any) -> None:
            found = self._raw_experiment_lifecycle.execute(
                cur, {"experiment_id": experiment_id}
            ).fetchone()
            if found is None:
                raise NotFound(f"No experiment with id {experiment_id!r}.")
            if found[0] != ACTIVE:
                raise InvalidState(
                    f"Experiment {experiment_id!r} is deleted; restore it before adding runs."
                )
            if (
                parent_id is not None
                and self._raw_run_exists.execute(cur, {"run_id": parent_id}).fetchone() is None
            ):
                raise NotFound(f"No parent run with id {parent_id!r}.")
            self._raw_insert_run.execute(cur, row)
            if tags:
                self._raw_insert_tags.executemany(
                    cur, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                )

        try:
            run_raw_write(self.engine, body)
        except self.engine.dialect.loaded_dbapi.IntegrityError as e:
            raise AlreadyExists(f"A run with id {run_id!r} exists already.") from e
        return run

    def get_run(self, run_id: str) -> Run:
        with self._read() as conn:
            runs = self._load_runs(conn, [run_id])
        if not runs:
            raise NotFound(f"No run with id {run_id!r}.")
        run = runs[0]
        if self._reap_if_dead(run):
            with self._read() as conn:
                run = self._load_runs(conn, [run_id])[0]
        return run

    def _load_runs(self, conn: Connection, run_ids: Sequence[str]) -> list[Run]:
        """Runs in the order of ``run_ids``, with params, latest metrics and tags."""
        if not run_ids:
            return []
        rows = conn.execute(_RUN_ROWS, {"ids": list(run_ids)}).all()
        by_id = {r.id: Run(**r._asdict()) for r in rows}
        if not by_id:
            return []
        ids = {"ids": list(by_id)}
        for run_id, key, value in conn.execute(_PARAM_ROWS, ids):
            by_id[run_id].params[key] = value
        for run_id, key, value in conn.execute(_TAG_ROWS, ids):
            by_id[run_id].tags[key] = value
        for run_id, key, value, is_nan in conn.execute(_METRIC_ROWS, ids):
            by_id[run_id].metrics[key] = math.nan if is_nan else value
        return [by_id[i] for i in run_ids if i in by_id]

    def update_run(
        self,
        run_id: str,
        *,
        status: str | None = None,
        end_time: int | None = None,
        name: str | None = None,
        status_reason: str | None = None,
    ) -> Run:
        values = _status_values(status, status_reason, end_time)
        if name is not None:
            values["name"] = validation.check_name(name, "Run")

        def body(cur: Any) -> Run | None:
            state = self._raw_run_state.execute(cur, {"run_id": run_id}).fetchone()
            if state is None:
                raise NotFound(f"No run with id {run_id!r}.")
            current_status, _lifecycle, current_reason, owner = state
            changes = values
            if status is not None and not run_status.may_move(current_status, status):
                if not liveness.may_revive(current_status, current_reason, owner):
                    raise run_status.transition_error(current_status, status, run_id)
                liveness.log.warning(
                    "Run %s was marked failed (%s); its process is back.", run_id, current_reason
                )
                now = now_ms()
                changes = liveness.revived_values(status, values["status_reason"], now)
                if "name" in values:
                    changes["name"] = values["name"]
                tag = liveness.interrupted_tag(current_reason, now)
                self._raw_upsert_tags.executemany(
                    cur, [{"run_id": run_id, "key": k, "value": v} for k, v in tag.items()]
                )
            if changes:
                self._raw_update_run(cur, run_id, changes)
            # a run given a status is read back here; a rename goes through get_run's reaping
            return self._raw_load_run(cur, run_id) if status is not None else None

        run = run_raw_write(self.engine, body)
        return run if run is not None else self.get_run(run_id)

    def _set_run_lifecycle(self, run_id: str, lifecycle: str) -> None:
        now = now_ms()

        def body(conn: Connection) -> None:
            if not conn.execute(select(t.runs.c.id).where(t.runs.c.id == run_id)).first():
                raise NotFound(f"No run with id {run_id!r}.")
            ids = [run_id]
            frontier = [run_id]
            while frontier:  # the run and all its descendants (a pipeline's step runs)
                frontier = list(
                    conn.execute(select(t.runs.c.id).where(t.runs.c.parent_id.in_(frontier)))
                    .scalars()
                    .all()
                )
                ids.extend(frontier)
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id.in_(ids))
                .values(lifecycle=lifecycle, deleted_at=now if lifecycle == DELETED else None)
            )

        self._write(body)

    def delete_run(self, run_id: str) -> None:
        self._set_run_lifecycle(run_id, DELETED)

    def restore_run(self, run_id: str) -> None:
        self._set_run_lifecycle(run_id, ACTIVE)

    def search_runs(
        self,
        experiment_ids: Sequence[str] | None = None,
        filter_string: str | None = None,
        order_by: Sequence[str] | None = None,
        max_results: int = 1000,
        page_token: str | None = None,
        view: str = "active",
    ) -> PagedList:
        if view not in VIEWS:
            raise InvalidArgument(f"Unknown view {view!r}; use one of {', '.join(VIEWS)}.")
        if not isinstance(max_results, int) or not 0 < max_results <= MAX_RESULTS_LIMIT:
            raise InvalidArgument(
                f"max_results must be an integer between 1 and {MAX_RESULTS_LIMIT}, "
                f"got {max_results!r}."
            )
        search = self._run_search(experiment_ids, filter_string, order_by, view)
        offset = decode_page_token(page_token, search.fingerprint)
        if now_ms() - self._last_sweep > liveness.SWEEP_INTERVAL_MS:
            self.reap_dead_runs()
        with self._read() as conn:
            ids = search.run_ids(conn, max_results + 1, offset)
            more = len(ids) > max_results
            runs = self._load_runs(conn, ids[:max_results])
        # between sweeps, a run on this page may have gone stale by its own timeout: read it
        # as it is (the sweep reads only once a second, a server keeps its store for days)
        now = now_ms()
        stale = [r for r in runs if r.status == run_status.RUNNING and liveness.stale(r, now)]
        if stale and any([self._reap_if_dead(run) for run in stale]):
            with self._read() as conn:
                fresh = {r.id: r for r in self._load_runs(conn, [r.id for r in stale])}
            runs = [fresh.get(r.id, r) for r in runs]
        token = encode_page_token(offset + max_results, search.fingerprint) if more else None
        return PagedList(runs, token)

    def _run_search(
        self,
        experiment_ids: Sequence[str] | None,
        filter_string: str | None,
        order_by: Sequence[str] | None,
        view: str,
    ) -> RunSearch:
        """The parsed search; without ``experiment_ids``, over the experiments of the store's
        project (a store that has no project but ``default`` searches every run, as it did
        before projects existed, with no clause added)."""
        project: str | None = None
        if experiment_ids is None:
            project = self.project
            if project == t.DEFAULT_PROJECT:
                with self._read() as conn:
                    if conn.execute(_OTHER_PROJECT, {"project": project}).first() is None:
                        project = None
        return RunSearch(experiment_ids, filter_string, order_by, view, project)

    def log_batch(
        self,
        run_id: str,
        metrics: Iterable[Metric] = (),
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        *,
        status: str | None = None,
        status_reason: str | None = None,
        links: Sequence[tuple[str, str, str]] = (),
        request_id: str | None = None,
    ) -> None:
        if request_id is not None:
            request_id = validation.check_request_id(request_id)
        for _artifact_id, direction, link_name in links:
            check_link(direction, link_name)
        params = {
            validation.check_key(k, "Param"): validation.param_value(k, v)
            for k, v in (params or {}).items()
        }
        tags = validation.check_tags(tags)
        chunks, latest = _metric_rows(run_id, metrics)
        values = _status_values(status, status_reason, None)

        def body(cur: Any) -> None:
            state = self._raw_run_state.execute(cur, {"run_id": run_id}).fetchone()
            if state is None:
                raise NotFound(f"No run with id {run_id!r}; nothing was logged.")
            refused.clear()
            if request_id is not None:
                claimed = self._raw_claim_request.execute(
                    cur, {"id": request_id, "run_id": run_id, "applied_at": now_ms()}
                )
                if claimed.rowcount == 0:
                    return  # this batch was applied already: its answer was lost, not its data
            current_status, lifecycle, current_reason, owner = state
            if lifecycle != ACTIVE:
                raise InvalidState(f"Run {run_id!r} is deleted; restore it before logging to it.")
            update = values
            if liveness.may_revive(current_status, current_reason, owner):
                update = liveness.revived_values(status, values.get("status_reason"), now_ms())
                tags.update(liveness.interrupted_tag(current_reason, now_ms()))
            elif status is not None and not run_status.may_move(current_status, status):
                # the data is kept; only the status change is refused (raised after commit)
                refused.append(run_status.transition_error(current_status, status, run_id))
                update = {}
            if params:
                self._insert_params(cur, run_id, params)
            if tags:
                self._raw_upsert_tags.executemany(
                    cur, [{"run_id": run_id, "key": k, "value": v} for k, v in tags.items()]
                )
            if chunks:
                self._raw_insert_chunks.executemany_rows(cur, chunks, _CHUNK_COLUMNS)
                self._raw_upsert_latest.executemany_rows(cur, latest, _LATEST_COLUMNS)
            if links:
                self._raw_upsert_links.executemany(
                    cur,
                    [
                        {"run_id": run_id, "artifact_id": a, "direction": d, "name": n}
                        for a, d, n in links
                    ],
                )
            if update:
                self._raw_update_run(cur, run_id, update)

        refused: list[InvalidState] = []
        try:
            run_raw_write(self.engine, body)
        except self.engine.dialect.loaded_dbapi.IntegrityError as e:
            raise NotFound(f"Run {run_id}: a linked artifact version does not exist ({e}).") from e
        if refused:
            raise refused[-1]

    def _insert_params(self, cur: Any, run_id: str, params: dict[str, str]) -> None:
        existing = dict(self._raw_params_of_run.execute(cur, {"run_id": run_id}).fetchall())
        self._check_params(run_id, params, existing)
        fresh = [
            {"run_id": run_id, "key": k, "value": v} for k, v in params.items() if k not in existing
        ]
        if fresh:
            # A concurrent writer (PostgreSQL) may insert the same keys meanwhile: keep its
            # rows, then check that they agree with ours.
            self._raw_insert_params.executemany(cur, fresh)
            if self._dialect != "sqlite":
                stored = dict(self._raw_params_of_run.execute(cur, {"run_id": run_id}).fetchall())
                self._check_params(run_id, params, stored)

    @staticmethod
    def _check_params(run_id: str, params: dict[str, str], stored: dict[str, str]) -> None:
        for key, value in params.items():
            old = stored.get(key)
            if old is not None and old != value:
                raise validation.param_conflict(run_id, key, old, value)

    def find_cached_run(self, cache_key: str) -> Run | None:
        # only runs of this project's experiments: a cache hit reuses the run's outputs, which
        # must never come from another project
        with self._read() as conn:
            run_id = conn.execute(
                _CACHED_RUN, {"cache_key": cache_key, "project": self.project}
            ).scalar()
            found = self._load_runs(conn, [run_id]) if run_id else []
        return found[0] if found else None

    def delete_tag(self, run_id: str, key: str) -> None:
        def body(conn: Connection) -> None:
            result = conn.execute(
                delete(t.tags).where(t.tags.c.run_id == run_id, t.tags.c.key == key)
            )
            if result.rowcount == 0:
                raise NotFound(f"Run {run_id!r} has no tag {key!r}.")

        self._write(body)

    def get_metric_history(
        self,
        run_id: str,
        key: str,
        *,
        max_points: int | None = None,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> list[Metric]:
        """Every point of one metric, by step then timestamp (points logged at the same step
        and timestamp in the order logged). ``min_step``/``max_step``: only the points whose
        step is in that window (inclusive); ``max_points``: thinned as
        :func:`heron.store.downsample.downsample` does, without building every point."""
        c = t.metric_chunks
        query = select(c.c.steps, c.c.timestamps, c.c["values"]).where(
            c.c.run_id == run_id, c.c.key == key
        )
        # chunks holding no step of the window are not read
        if min_step is not None:
            query = query.where(c.c.max_step >= min_step)
        if max_step is not None:
            query = query.where(c.c.min_step <= max_step)
        with self._read() as conn:
            if not conn.execute(_RUN_EXISTS, {"run_id": run_id}).first():
                raise NotFound(f"No run with id {run_id!r}.")
            rows = conn.execute(query.order_by(c.c.id)).all()
        if max_points is not None and max_points < 1:
            raise InvalidArgument(f"max_points must be at least 1, not {max_points}.")
        steps, timestamps, values = read_series(rows)
        if min_step is not None or max_step is not None:
            start = 0 if min_step is None else bisect_left(steps, min_step)
            end = len(steps) if max_step is None else bisect_right(steps, max_step)
            if (start, end) != (0, len(steps)):
                steps, timestamps, values = (
                    steps[start:end],
                    timestamps[start:end],
                    values[start:end],
                )
        if max_points is None or len(steps) <= max_points:
            return list(map(Metric, repeat(key), values, steps, timestamps))
        return [
            Metric(key, values[i], steps[i], timestamps[i])
            for i in downsample_indices(values, max_points)
        ]


def _metric_rows(
    run_id: str, metrics: Iterable[Metric]
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The chunk rows (one per metric key) and latest-value rows (``_LATEST_COLUMNS``) of a
    batch of points."""
    series: dict[str, tuple[list[int], list[int], list[float]]] = {}
    for key, value, step, timestamp in metrics:
        columns = series.get(key)
        if columns is None:
            validation.check_key(key, "Metric")
            columns = series[key] = ([], [], [])
        if type(value) is not float:
            value = validation.metric_value(key, value)
        if type(step) is not int:
            step = validation.metric_step(key, step)
        if type(timestamp) is not int:
            timestamp = validation.metric_step(key, timestamp)
        columns[0].append(step)
        columns[1].append(timestamp)
        columns[2].append(value)
    chunks = []
    latest = []
    for key, (steps, timestamps, values) in series.items():
        blobs = pack_series(key, steps, timestamps, values)
        chunks.append((run_id, key, len(steps), min(steps), max(steps), *blobs))
        # the newest point: highest step, then newest timestamp, then last logged
        step, timestamp, i = max(zip(steps, timestamps, range(len(steps))))
        value = values[i]
        is_nan = value != value
        latest.append((run_id, key, None if is_nan else value, is_nan, step, timestamp))
    return chunks, latest


def _status_values(
    status: str | None, status_reason: str | None, end_time: int | None
) -> dict[str, Any]:
    """The run columns a status change writes (end time set on a final status)."""
    values: dict[str, Any] = {}
    if status is not None:
        run_status.validate_status(status)
        values["status"] = status
        values["status_reason"] = run_status.bounded_reason(
            validation.optional_text(status_reason, None, "status_reason")
        )
        if status in run_status.TERMINAL:
            values["end_time"] = end_time if end_time is not None else now_ms()
        elif status == run_status.RUNNING:
            values["end_time"] = None
            values.update(liveness.owner_values(now_ms()))
    elif end_time is not None:
        values["end_time"] = end_time
    return values


def _default_run_name(run_id: str) -> str:
    return f"run-{run_id[:8]}"
