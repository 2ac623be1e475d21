"""The scheduling methods of :class:`~heron.store.sql.store.SqlStore` (``SqlSchedulesMixin``):
schedules, their ticks and backfills.

Exactly once is the database's job, not a scheduler's: a tick is unique per (schedule,
logical time), a scheduler only inserts the ticks of a stretch of time when it moves the
schedule's cursor over that stretch (an update conditional on the cursor it read), and a tick
is claimed for launching by an update conditional on its status. Two schedulers, or one that
restarts, never start an interval twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, func, insert, or_, select, update

from heron.core import schedules as s
from heron.core import validation
from heron.core.errors import AlreadyExists, InvalidArgument, NotFound
from heron.core.ids import new_id, now_ms
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema as t

_sc, _tk, _bf = t.schedules, t.schedule_ticks, t.backfills

# the columns a caller may change with update_schedule (all but its name)
SCHEDULE_FIELDS = tuple(k for k in s.SCHEDULE_FIELD_TYPES if k != "name")


def _schedule(row: Any) -> s.Schedule:
    values = dict(row._mapping)
    values["params"] = orjson.loads(values["params"])
    values["on_artifacts"] = orjson.loads(values["on_artifacts"]) if row.on_artifacts else None
    values["paused"] = bool(values["paused"])
    return s.Schedule(**values)


def _tick(row: Any) -> s.Tick:
    values = dict(row._mapping)
    values["inputs"] = orjson.loads(values["inputs"]) if row.inputs else {}
    return s.Tick(**values)


def _backfill(row: Any, progress: dict[str, int]) -> s.Backfill:
    return s.Backfill(**{**row._mapping, "backwards": bool(row.backwards), "progress": progress})


def _columns(values: dict[str, Any]) -> dict[str, Any]:
    row = dict(values)
    if "params" in row:
        row["params"] = orjson.dumps(row["params"]).decode()
    if "on_artifacts" in row:
        row["on_artifacts"] = (
            orjson.dumps(row["on_artifacts"]).decode() if row["on_artifacts"] else None
        )
    return row


class SqlSchedulesMixin:
    """Schedules, ticks and backfills on the store's SQL database."""

    engine: Any
    _insert: Any
    project: str

    # --- schedules ----------------------------------------------------------------------
    def create_schedule(self, values: dict[str, Any]) -> s.Schedule:
        """Store a new schedule (``values`` are checked by :mod:`heron.scheduling.definitions`)."""
        now = now_ms()
        s.check_schedule_values({"cursor": now, **values})
        row = _columns(
            {"id": new_id(), "created_at": now, "updated_at": now, "cursor": now, **values}
        )

        def body(conn: Connection) -> None:
            if conn.execute(select(_sc.c.id).where(_sc.c.name == row["name"])).first():
                raise AlreadyExists(
                    f"A schedule named {row['name']!r} exists already: change it with "
                    f"`heron schedules update {row['name']}` (or heron.schedule(...), which "
                    "updates), or delete it first."
                )
            conn.execute(insert(_sc).values(**row))

        sql_engine.run_write(self.engine, body)
        return self.get_schedule(row["name"])

    def get_schedule(self, name_or_id: str) -> s.Schedule:
        with sql_engine.read(self.engine) as conn:
            row = conn.execute(
                select(_sc).where(or_(_sc.c.name == name_or_id, _sc.c.id == name_or_id))
            ).first()
        if row is None:
            raise NotFound(
                f"No schedule named {name_or_id!r}: `heron schedules list` shows the schedules."
            )
        return _schedule(row)

    def list_schedules(self) -> list[s.Schedule]:
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(select(_sc).order_by(_sc.c.name)).all()
        return [_schedule(r) for r in rows]

    def update_schedule(self, schedule_id: str, values: dict[str, Any]) -> s.Schedule:
        unknown = set(values) - set(SCHEDULE_FIELDS)
        if unknown:
            raise InvalidArgument(f"A schedule has no field(s) {sorted(unknown)}.")
        s.check_schedule_values(values, partial=True)
        row = _columns({**values, "updated_at": now_ms()})

        def body(conn: Connection) -> int:
            return conn.execute(update(_sc).where(_sc.c.id == schedule_id).values(**row)).rowcount

        if not sql_engine.run_write(self.engine, body):
            raise NotFound(f"No schedule with id {schedule_id!r}.")
        return self.get_schedule(schedule_id)

    def delete_schedule(self, schedule_id: str) -> None:
        """Delete a schedule with its ticks and backfills (its runs stay)."""

        def body(conn: Connection) -> int:
            conn.execute(delete(_tk).where(_tk.c.schedule_id == schedule_id))
            conn.execute(delete(_bf).where(_bf.c.schedule_id == schedule_id))
            return conn.execute(delete(_sc).where(_sc.c.id == schedule_id)).rowcount

        if not sql_engine.run_write(self.engine, body):
            raise NotFound(f"No schedule with id {schedule_id!r}.")

    def due_schedules(self, now: int, limit: int = 500) -> list[s.Schedule]:
        """Active cron schedules whose next fire is at or before ``now`` (an index range)."""
        s.check_count(limit, "limit")
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_sc)
                .where(_sc.c.paused.is_(False), _sc.c.next_due_at <= now)
                .order_by(_sc.c.next_due_at)
                .limit(limit)
            ).all()
        return [_schedule(r) for r in rows]

    def next_due_at(self) -> int | None:
        """When the earliest active cron schedule is next due."""
        with sql_engine.read(self.engine) as conn:
            return conn.execute(  # type: ignore[no-any-return]
                select(func.min(_sc.c.next_due_at)).where(_sc.c.paused.is_(False))
            ).scalar()

    def artifact_schedules(self) -> list[s.Schedule]:
        """Active schedules triggered by new artifact versions."""
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_sc).where(
                    _sc.c.paused.is_(False), _sc.c.on_artifacts.is_not(None), _sc.c.cron.is_(None)
                )
            ).all()
        return [_schedule(r) for r in rows]

    def newest_artifact_versions(self, names: Sequence[str]) -> dict[str, list[Any]]:
        """For each name (of the store's project), its newest version: ``(version id, version
        number, created_at)``."""
        if not names:
            return {}
        av = t.artifact_versions
        project = self.project  # the names are those of the store's project
        newest = (
            select(av.c.name, func.max(av.c.version).label("version"))
            .where(av.c.project == project, av.c.name.in_(list(names)))
            .group_by(av.c.name)
            .subquery()
        )
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(av.c.name, av.c.id, av.c.version, av.c.created_at)
                .join(newest, and_(av.c.name == newest.c.name, av.c.version == newest.c.version))
                .where(av.c.project == project)
            ).all()
        return {r.name: [r.id, r.version, r.created_at] for r in rows}

    def advance_schedule(
        self,
        schedule_id: str,
        seen_cursor: int,
        cursor: int,
        next_due_at: int | None,
        ticks: list[dict[str, Any]],
    ) -> bool:
        """Move a schedule's cursor from ``seen_cursor`` to ``cursor`` and record the ticks of
        that stretch, in one transaction; ``False`` (and nothing written) when another
        scheduler moved the cursor first."""
        now = now_ms()
        rows = [
            {"attempt": 1, "evaluated_at": now, "reason": None, **_checked_tick(tick)}
            for tick in ticks
        ]
        for row in rows:
            row["schedule_id"] = schedule_id
        for row in rows:
            row["inputs"] = orjson.dumps(row["inputs"]).decode() if row.get("inputs") else None

        def body(conn: Connection) -> bool:
            moved = conn.execute(
                update(_sc)
                .where(_sc.c.id == schedule_id, _sc.c.cursor == seen_cursor)
                .values(cursor=cursor, next_due_at=next_due_at)
            ).rowcount
            if not moved:
                return False
            if rows:
                conn.execute(
                    self._insert(_tk).on_conflict_do_nothing(
                        index_elements=["schedule_id", "logical_time"]
                    ),
                    rows,
                )
            return True

        return sql_engine.run_write(self.engine, body)

    # --- ticks --------------------------------------------------------------------------
    def list_ticks(
        self,
        schedule_id: str | None = None,
        *,
        statuses: Sequence[str] | None = None,
        backfill_id: str | None = None,
        limit: int = 100,
        newest_first: bool = True,
    ) -> list[s.Tick]:
        s.check_count(limit, "limit")
        query = select(_tk)
        if schedule_id is not None:
            query = query.where(_tk.c.schedule_id == schedule_id)
        if statuses is not None:
            query = query.where(_tk.c.status.in_(list(statuses)))
        if backfill_id is not None:
            query = query.where(_tk.c.backfill_id == backfill_id)
        order = _tk.c.logical_time.desc() if newest_first else _tk.c.logical_time
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(query.order_by(order).limit(limit)).all()
        return [_tick(r) for r in rows]

    def queued_owners(self) -> list[list[str | None]]:
        """The (schedule id, backfill id) pairs that have queued ticks."""
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_tk.c.schedule_id, _tk.c.backfill_id)
                .where(_tk.c.status == s.QUEUED)
                .group_by(_tk.c.schedule_id, _tk.c.backfill_id)
            ).all()
        return [[r.schedule_id, r.backfill_id] for r in rows]

    def next_queued(
        self, schedule_id: str, count: int, backfill_id: str | None = None, backwards: bool = False
    ) -> list[s.Tick]:
        """The ``count`` queued ticks of one schedule (or one of its backfills) to run next:
        the oldest first (the newest first for a backwards backfill)."""
        s.check_count(count, "count")
        owner = (
            _tk.c.backfill_id.is_(None) if backfill_id is None else _tk.c.backfill_id == backfill_id
        )
        order = _tk.c.logical_time.desc() if backwards else _tk.c.logical_time
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_tk)
                .where(_tk.c.schedule_id == schedule_id, owner, _tk.c.status == s.QUEUED)
                .order_by(order)
                .limit(count)
            ).all()
        return [_tick(r) for r in rows]

    def claim_tick(self, tick_id: int, attempt: int, run_id: str, claimer: str, now: int) -> bool:
        """Mark a queued tick running with ``run_id``; ``False`` if another scheduler did."""
        validation.check_run_id(run_id)
        _check_text(claimer, "claimer", 128)

        def body(conn: Connection) -> int:
            return conn.execute(
                update(_tk)
                .where(_tk.c.id == tick_id, _tk.c.status == s.QUEUED, _tk.c.attempt == attempt)
                .values(status=s.RUNNING, run_id=run_id, claimed_by=claimer, claimed_at=now)
            ).rowcount

        return bool(sql_engine.run_write(self.engine, body))

    def reclaim_tick(self, tick_id: int, claimed_at: int | None, claimer: str, now: int) -> bool:
        """Take over a running tick whose run never started (its launcher died)."""
        _check_text(claimer, "claimer", 128)

        def body(conn: Connection) -> int:
            return conn.execute(
                update(_tk)
                .where(
                    _tk.c.id == tick_id,
                    _tk.c.status == s.RUNNING,
                    _tk.c.claimed_at.is_not_distinct_from(claimed_at),
                )
                .values(claimed_by=claimer, claimed_at=now)
            ).rowcount

        return bool(sql_engine.run_write(self.engine, body))

    def finish_tick(
        self, tick_id: int, status: str, reason: str | None = None, *, only_from: str | None = None
    ) -> bool:
        """Set a tick's outcome (``only_from``: only if it still has that status)."""
        _check_status(status)
        if only_from is not None:
            _check_status(only_from)
        if reason is not None:
            reason = _check_text(reason, "reason", 100_000)[:4000]

        def body(conn: Connection) -> int:
            query = update(_tk).where(_tk.c.id == tick_id)
            if only_from is not None:
                query = query.where(_tk.c.status == only_from)
            return conn.execute(query.values(status=status, reason=reason)).rowcount

        return bool(sql_engine.run_write(self.engine, body))

    def running_counts(self) -> list[list[Any]]:
        """How many ticks run per schedule id and backfill id."""
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_tk.c.schedule_id, _tk.c.backfill_id, func.count())
                .where(_tk.c.status == s.RUNNING)
                .group_by(_tk.c.schedule_id, _tk.c.backfill_id)
            ).all()
        return [[r[0], r[1], r[2]] for r in rows]

    def run_states(self, run_ids: Sequence[str]) -> dict[str, list[Any]]:
        """``{run id: (status, start_time)}`` of the runs that exist."""
        if not run_ids:
            return {}
        r = t.runs
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(r.c.id, r.c.status, r.c.start_time).where(r.c.id.in_(list(run_ids)))
            ).all()
        return {row.id: [row.status, row.start_time] for row in rows}

    # --- backfills ----------------------------------------------------------------------
    def create_backfill(
        self,
        schedule_id: str,
        intervals: list[list[int]],
        *,
        start: int,
        end: int,
        reprocess: str,
        max_active_runs: int,
        backwards: bool,
    ) -> s.Backfill:
        """A backfill over ``intervals`` (logical time, start, end): intervals without a
        tick get one; done ones are queued again as ``reprocess`` says; queued and running
        ones are left alone (never duplicated)."""
        self.get_schedule(schedule_id)  # NotFound
        again = _reprocessed_statuses(reprocess)
        s.check_count(max_active_runs, "max_active_runs", 10_000)
        if len(intervals) > 10_000_000:
            raise InvalidArgument("A backfill covers at most 10,000,000 intervals.")
        backfill_id = new_id()
        now = now_ms()
        times = [logical for logical, _a, _b in intervals]

        def body(conn: Connection) -> int:
            conn.execute(
                insert(_bf).values(
                    id=backfill_id,
                    schedule_id=schedule_id,
                    start=start,
                    end=end,
                    reprocess=reprocess,
                    max_active_runs=max_active_runs,
                    backwards=backwards,
                    status=s.BACKFILL_ACTIVE,
                    intervals=0,
                    created_at=now,
                )
            )
            rows = [
                {
                    "schedule_id": schedule_id,
                    "logical_time": logical,
                    "interval_start": a,
                    "interval_end": b,
                    "status": s.QUEUED,
                    "attempt": 1,
                    "backfill_id": backfill_id,
                    "evaluated_at": now,
                }
                for logical, a, b in intervals
            ]
            for chunk in _chunks(rows, 500):
                conn.execute(
                    self._insert(_tk).on_conflict_do_nothing(
                        index_elements=["schedule_id", "logical_time"]
                    ),
                    chunk,
                )
            if again:
                for chunk in _chunks(times, 500):
                    conn.execute(
                        update(_tk)
                        .where(
                            _tk.c.schedule_id == schedule_id,
                            _tk.c.logical_time.in_(chunk),
                            _tk.c.status.in_(again),
                            or_(_tk.c.backfill_id.is_(None), _tk.c.backfill_id != backfill_id),
                        )
                        .values(
                            status=s.QUEUED,
                            attempt=_tk.c.attempt + 1,
                            backfill_id=backfill_id,
                            reason=None,
                            run_id=None,
                            evaluated_at=now,
                        )
                    )
            # counted, not summed from rowcounts (executemany reports -1 on PostgreSQL)
            taken = conn.execute(
                select(func.count()).where(_tk.c.backfill_id == backfill_id)
            ).scalar_one()
            conn.execute(update(_bf).where(_bf.c.id == backfill_id).values(intervals=taken))
            return taken

        sql_engine.run_write(self.engine, body)
        return self.get_backfill(backfill_id)

    def backfill_plan(self, schedule_id: str, times: list[int], reprocess: str) -> dict:
        """What a backfill over ``times`` would do, without doing it: ``run`` (the logical
        times it would queue) and ``keep`` (those it leaves as they are)."""
        again = set(_reprocessed_statuses(reprocess))
        status_of: dict[int, str] = {}
        with sql_engine.read(self.engine) as conn:
            for chunk in _chunks(list(times), 500):
                for row in conn.execute(
                    select(_tk.c.logical_time, _tk.c.status).where(
                        _tk.c.schedule_id == schedule_id, _tk.c.logical_time.in_(chunk)
                    )
                ):
                    status_of[row.logical_time] = row.status
        plan: dict[str, list[int]] = {"run": [], "keep": []}
        for logical in times:
            status = status_of.get(logical)
            plan["run" if status is None or status in again else "keep"].append(logical)
        return plan

    def _progress(self, conn: Connection, backfill_ids: Sequence[str]) -> dict[str, dict]:
        out: dict[str, dict[str, int]] = {b: {} for b in backfill_ids}
        if backfill_ids:
            rows = conn.execute(
                select(_tk.c.backfill_id, _tk.c.status, func.count())
                .where(_tk.c.backfill_id.in_(list(backfill_ids)))
                .group_by(_tk.c.backfill_id, _tk.c.status)
            ).all()
            for backfill_id, status, count in rows:
                out[backfill_id][status] = count
        return out

    def get_backfill(self, backfill_id: str) -> s.Backfill:
        with sql_engine.read(self.engine) as conn:
            row = conn.execute(select(_bf).where(_bf.c.id == backfill_id)).first()
            if row is None:
                raise NotFound(
                    f"No backfill with id {backfill_id!r}: `heron backfills list` shows them."
                )
            progress = self._progress(conn, [backfill_id])[backfill_id]
        return _backfill(row, progress)

    def list_backfills(self, schedule_id: str | None = None) -> list[s.Backfill]:
        query = select(_bf).order_by(_bf.c.created_at.desc())
        if schedule_id is not None:
            query = query.where(_bf.c.schedule_id == schedule_id)
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(query).all()
            progress = self._progress(conn, [r.id for r in rows])
        return [_backfill(r, progress[r.id]) for r in rows]

    def set_backfill_status(self, backfill_id: str, status: str) -> None:
        """Set a backfill's status; cancelling also cancels its queued ticks."""
        if status not in (s.BACKFILL_DONE, s.BACKFILL_CANCELLED):
            raise InvalidArgument(
                f"A backfill's status becomes {s.BACKFILL_DONE} or {s.BACKFILL_CANCELLED}, "
                f"not {status!r:.40}."
            )

        def body(conn: Connection) -> int:
            if status == s.BACKFILL_CANCELLED:
                conn.execute(
                    update(_tk)
                    .where(_tk.c.backfill_id == backfill_id, _tk.c.status == s.QUEUED)
                    .values(status=s.CANCELLED, reason="the backfill was cancelled")
                )
            return conn.execute(
                update(_bf)
                .where(_bf.c.id == backfill_id, _bf.c.status == s.BACKFILL_ACTIVE)
                .values(status=status)
            ).rowcount

        sql_engine.run_write(self.engine, body)

    def active_backfills(self) -> list[s.Backfill]:
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(select(_bf).where(_bf.c.status == s.BACKFILL_ACTIVE)).all()
            progress = self._progress(conn, [r.id for r in rows])
        return [_backfill(r, progress[r.id]) for r in rows]

    def cancelled_backfill_ids(self, backfill_ids: Sequence[str]) -> list[str]:
        if not backfill_ids:
            return []
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_bf.c.id).where(
                    _bf.c.id.in_(list(backfill_ids)), _bf.c.status == s.BACKFILL_CANCELLED
                )
            ).all()
        return [r.id for r in rows]

    # --- scheduler heartbeats -----------------------------------------------------------
    def scheduler_heartbeat(
        self, name: str, host: str, pid: int, started_at: int, running: int, stopped: bool = False
    ) -> None:
        _check_text(name, "Scheduler name", 128)
        _check_text(host, "host", 256)
        for value, what in ((pid, "pid"), (running, "running")):
            if not 0 <= value < 2**31:
                raise InvalidArgument(f"{what} must be between 0 and 2**31, not {value}.")
        now = now_ms()
        row = {
            "name": name,
            "host": host,
            "pid": pid,
            "started_at": started_at,
            "heartbeat_at": now,
            "stopped_at": now if stopped else None,
            "running": running,
        }
        statement = self._insert(t.schedulers).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=["name"],
            set_={k: statement.excluded[k] for k in ("heartbeat_at", "stopped_at", "running")},
        )
        sql_engine.run_write(self.engine, lambda conn: conn.execute(statement))

    def list_schedulers(self) -> list[s.SchedulerInfo]:
        sc = t.schedulers
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(select(sc).order_by(sc.c.heartbeat_at.desc()).limit(100)).all()
        return [s.SchedulerInfo(**row._mapping) for row in rows]


_TICK_FIELDS = {
    "logical_time": int,
    "interval_start": int,
    "interval_end": int,
    "status": str,
    "reason": (str, type(None)),
    "inputs": (dict, type(None)),
    "attempt": int,
}


def _checked_tick(tick: Any) -> dict[str, Any]:
    """A tick row as a scheduler sends it, checked field by field."""
    if not isinstance(tick, dict):
        raise InvalidArgument("Each tick is an object of field: value.")
    unknown = sorted(set(tick) - set(_TICK_FIELDS))
    missing = [
        k for k in ("logical_time", "interval_start", "interval_end", "status") if k not in tick
    ]
    if unknown or missing:
        raise InvalidArgument(f"A tick needs {sorted(_TICK_FIELDS)}; got {sorted(tick)}.")
    for key, value in tick.items():
        if isinstance(value, bool) or not isinstance(value, _TICK_FIELDS[key]):
            raise InvalidArgument(f"Tick field {key!r} has the wrong type: {value!r:.80}.")
    _check_status(tick["status"])
    if not 1 <= tick.get("attempt", 1) < 2**31:
        raise InvalidArgument("A tick's attempt is between 1 and 2**31.")
    for key in ("logical_time", "interval_start", "interval_end"):
        if not 0 <= tick[key] < 2**62:
            raise InvalidArgument(f"Tick field {key!r} must be a time in ms since 1970.")
    inputs = tick.get("inputs") or {}
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
        raise InvalidArgument("A tick's inputs map artifact names to version ids.")
    if tick.get("reason") is not None:
        tick = {**tick, "reason": tick["reason"][:4000]}
    return dict(tick)


def _check_status(status: Any) -> None:
    if status not in s.TICK_STATUSES:
        raise InvalidArgument(
            f"Unknown tick status {status!r:.40}: use {', '.join(s.TICK_STATUSES)}."
        )


def _check_text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise InvalidArgument(f"{what} must be text of 1 to {limit} characters.")
    return validation.check_text(value, what)


def _reprocessed_statuses(reprocess: str) -> tuple[str, ...]:
    """The done tick statuses a backfill queues again (intervals without a tick always run)."""
    if reprocess not in s.REPROCESS_MODES:
        raise InvalidArgument(
            f"Unknown reprocess mode {reprocess!r}: use {', '.join(s.REPROCESS_MODES)}."
        )
    never_ran = (s.SKIPPED,)
    if reprocess == "missing":
        return never_ran
    if reprocess == "failed":
        return (*never_ran, s.FAILED, s.CANCELLED)
    return (*never_ran, s.FAILED, s.CANCELLED, s.SUCCEEDED)


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
