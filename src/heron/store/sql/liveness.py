"""Run liveness: heartbeats, reaping runs whose process is gone, and reviving a run that was
reaped while its process was only paused.

A running run records its owner process (:mod:`heron.core.owner`) and the heartbeat timeout of
that writer. It reads as dead when its heartbeat is older than *its* timeout, or at once
when its owner ran on this machine and no longer exists. A run failed only for a lost
heartbeat comes back when its owner writes or heartbeats again: the owner's data is kept, its
status wins, and the interruption is recorded in the ``heron.interrupted`` tag.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Connection, bindparam, func, or_, select, update

from heron.core import owner as owners
from heron.core import status as run_status
from heron.core.entities import Run
from heron.core.errors import StoreError
from heron.core.ids import now_ms
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema as t
from heron.store.sql.raw import RawStatement, run_raw_write

log = logging.getLogger("heron.store.sql.liveness")

HEARTBEAT_LOST = run_status.HEARTBEAT_LOST
INTERRUPTED_TAG = "heron.interrupted"
SWEEP_INTERVAL_MS = 1000

_r = t.runs
_REAP = (
    update(_r)
    .where(
        _r.c.id == bindparam("reap_id"),
        _r.c.status == run_status.RUNNING,
        # unchanged since it was judged: a heartbeat or a new owner in between keeps it alive
        _r.c.heartbeat_at.is_not_distinct_from(bindparam("seen_heartbeat")),
        _r.c.owner.is_not_distinct_from(bindparam("seen_owner")),
    )
    .values(
        status=run_status.FAILED,
        status_reason=bindparam("reason"),
        end_time=func.coalesce(_r.c.heartbeat_at, bindparam("now")),
    )
)


heartbeat_timeout_ms = owners.heartbeat_timeout_ms


def owner_values(now: int) -> dict[str, Any]:
    """The columns a run gets when this process starts running it."""
    return {
        "owner": owners.current_owner(),
        "heartbeat_timeout": heartbeat_timeout_ms(),
        "heartbeat_at": now,
    }


def _stale(heartbeat_at: int | None, timeout: int | None, now: int) -> bool:
    limit = timeout if timeout is not None else heartbeat_timeout_ms()
    return heartbeat_at is not None and heartbeat_at < now - limit


def stale(run: Run, now: int) -> bool:
    """Whether a running run's heartbeat is older than its timeout."""
    return _stale(run.heartbeat_at, run.heartbeat_timeout, now)


def death_reason(owner: str | None, heartbeat_at: int | None, timeout: int | None, now: int):
    """Why a running run is dead, or ``None`` while it may be alive."""
    if owners.owner_is_gone(owner):
        return (
            f"{HEARTBEAT_LOST} the process running this run ({owners.describe(owner or '')}) "
            "is gone (it was killed or crashed)."
        )
    if _stale(heartbeat_at, timeout, now):
        limit = timeout if timeout is not None else heartbeat_timeout_ms()
        return (
            f"{HEARTBEAT_LOST} the process running this run sent no heartbeat for "
            f"{limit / 1000:g} s (it was killed, or its machine stopped or slept)."
        )
    return None


def may_revive(status: str, reason: str | None, owner: str | None) -> bool:
    """Whether this process may bring back a run in ``status``: only a run failed for a lost
    heartbeat, and only by the process that owned it."""
    return (
        status == run_status.FAILED
        and bool(reason)
        and reason.startswith(HEARTBEAT_LOST)  # type: ignore[union-attr]
        and (owner is None or owner == owners.current_owner())
    )


def revived_values(status: str | None, reason: str | None, now: int) -> dict[str, Any]:
    """The run columns of a revived run: running again, or at the owner's final ``status``."""
    values: dict[str, Any] = {"status_reason": None, **owner_values(now)}
    if status is None or status == run_status.RUNNING:
        values.update(status=run_status.RUNNING, end_time=None)
    else:
        values.update(status=status, status_reason=reason, end_time=now)
    return values


def interrupted_tag(old_reason: str | None, now: int) -> dict[str, str]:
    """The tag that records that a run was reaped and came back."""
    back = datetime.fromtimestamp(now / 1000, tz=timezone.utc).isoformat(timespec="seconds")
    text = (old_reason or HEARTBEAT_LOST)[: 7000 - 80]
    return {INTERRUPTED_TAG: f"{text} Its process came back at {back} and went on."}


class SqlLivenessMixin:
    """Heartbeats and reaping for :class:`~heron.store.sql.store.SqlStore`."""

    engine: Any
    _insert: Any  # the dialect's INSERT (with ON CONFLICT)
    _last_sweep: int

    def heartbeat(self, run_ids: Sequence[str], now: int | None = None) -> None:
        if not run_ids:
            return
        now = now if now is not None else now_ms()
        ids = list(run_ids)
        beat, lost_state = self._heartbeat_statements()
        lost: list[str] = []

        def body(cursor: Any) -> None:  # the common case, on the raw fast path
            lost.clear()
            beat.executemany(
                cursor, [{"beat_id": i, "now": now, "running": run_status.RUNNING} for i in ids]
            )
            for run_id in ids:
                row = lost_state.execute(
                    cursor, {"beat_id": run_id, "failed": run_status.FAILED}
                ).fetchone()
                if row is not None and may_revive(run_status.FAILED, row[0], row[1]):
                    lost.append(run_id)

        run_raw_write(self.engine, body)
        if lost:
            self._revive_lost(lost, now)

    def _heartbeat_statements(self) -> tuple[Any, Any]:
        statements = self.__dict__.get("_raw_heartbeat")
        if statements is None:
            beat = (
                update(_r)
                .where(_r.c.id == bindparam("beat_id"), _r.c.status == bindparam("running"))
                .values(heartbeat_at=bindparam("now"))
            )
            state = select(_r.c.status_reason, _r.c.owner).where(
                _r.c.id == bindparam("beat_id"), _r.c.status == bindparam("failed")
            )
            statements = (RawStatement(beat, self.engine), RawStatement(state, self.engine))
            self.__dict__["_raw_heartbeat"] = statements
        return statements

    def _revive_lost(self, ids: list[str], now: int) -> None:
        """Bring back the runs of ``ids`` that were reaped while this process was paused."""

        def body(conn: Connection) -> None:
            reaped = conn.execute(
                select(_r.c.id, _r.c.status_reason, _r.c.owner).where(
                    _r.c.id.in_(ids),
                    _r.c.status == run_status.FAILED,
                    _r.c.status_reason.startswith(HEARTBEAT_LOST, autoescape=True),
                )
            ).all()
            for run_id, reason, owner in reaped:
                if may_revive(run_status.FAILED, reason, owner):
                    self.revive(conn, run_id, reason, None, None, now)

        sql_engine.run_write(self.engine, body)

    def revive(
        self,
        conn: Connection,
        run_id: str,
        old_reason: str | None,
        status: str | None,
        reason: str | None,
        now: int,
    ) -> None:
        """Bring back a run reaped while its process was paused."""
        log.warning("Run %s was marked failed (%s); its process is back.", run_id, old_reason)
        conn.execute(
            update(_r).where(_r.c.id == run_id).values(**revived_values(status, reason, now))
        )
        insert = self._insert(t.tags)
        tag = interrupted_tag(old_reason, now)
        conn.execute(
            insert.on_conflict_do_update(
                index_elements=["run_id", "key"], set_={"value": insert.excluded.value}
            ),
            [{"run_id": run_id, "key": k, "value": v} for k, v in tag.items()],
        )

    def fail_stale_runs(self, timeout_ms: int, now: int | None = None) -> int:
        """Fail every running run whose heartbeat is older than ``timeout_ms`` (whatever
        timeout the run recorded)."""
        now = now if now is not None else now_ms()
        cutoff = now - timeout_ms
        reason = (
            f"{HEARTBEAT_LOST} the process running this run sent no heartbeat for "
            f"{timeout_ms / 1000:g} s (it was killed, or its machine stopped or slept)."
        )
        return sql_engine.run_write(
            self.engine,
            lambda conn: (
                conn.execute(
                    update(_r)
                    .where(_r.c.status == run_status.RUNNING, _r.c.heartbeat_at < cutoff)
                    .values(
                        status=run_status.FAILED,
                        status_reason=reason,
                        end_time=_r.c.heartbeat_at,
                    )
                ).rowcount
            ),
        )

    def count_running_runs(self) -> int:
        """How many active runs are ``running`` now (the server's ``/metrics``)."""
        with sql_engine.read(self.engine) as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(_r)
                    .where(_r.c.status == run_status.RUNNING, _r.c.lifecycle == "active")
                ).scalar_one()
            )

    def reap_dead_runs(self, now: int | None = None) -> int:
        """Fail the running runs that are dead: stale by their own heartbeat timeout, or
        owned by a process of this machine that is gone. Reading first, it writes only when
        there is something to reap, and skips (logging at debug level) a store it cannot
        write, so that reading never needs write access. Returns how many it failed."""
        now = now if now is not None else now_ms()
        self._last_sweep = now
        default = heartbeat_timeout_ms()
        here = f"%@{owners.machine()}"
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(
                select(_r.c.id, _r.c.owner, _r.c.heartbeat_at, _r.c.heartbeat_timeout).where(
                    _r.c.status == run_status.RUNNING,
                    or_(
                        _r.c.heartbeat_at + func.coalesce(_r.c.heartbeat_timeout, default) < now,
                        _r.c.owner.like(here),
                    ),
                )
            ).all()
        return self._reap_rows(rows, now)

    def _reap_if_dead(self, run: Run) -> bool:
        """Reap ``run`` (already read) if it is dead; whether it was."""
        if run.status != run_status.RUNNING:
            return False
        row = (run.id, run.owner, run.heartbeat_at, run.heartbeat_timeout)
        return self._reap_rows([row], now_ms()) > 0

    def _reap_rows(self, rows: Sequence[Any], now: int) -> int:
        dead = []
        for run_id, owner, heartbeat_at, timeout in rows:
            reason = death_reason(owner, heartbeat_at, timeout, now)
            if reason is not None:
                dead.append(
                    {
                        "reap_id": run_id,
                        "seen_heartbeat": heartbeat_at,
                        "seen_owner": owner,
                        "reason": reason,
                        "now": now,
                    }
                )
        if not dead:
            return 0

        def body(conn: Connection) -> int:
            return sum(conn.execute(_REAP, row).rowcount for row in dead)

        try:
            return sql_engine.run_write(self.engine, body)
        except StoreError as e:
            log.debug("Not marking %d dead run(s) failed: %s", len(dead), e)
            return 0
