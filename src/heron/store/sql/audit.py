"""The audit trail's writes, in the transaction of the change they record.

The server states what a request is about to change (:func:`recording`) before it calls the
store; the first write transaction the request makes (:func:`heron.store.sql.engine.run_write`
or :func:`heron.store.sql.raw.run_raw_write`) inserts the entry before it commits, so an entry
exists exactly when its change does. A request that changes nothing (it failed, or found
nothing to do) leaves no entry. Denied requests are written on their own
(:func:`write_denied`): there is no change to go with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson

from heron.core.ids import now_ms
from heron.store.sql import schema as t


@dataclass(slots=True)
class AuditRecord:
    """What one request is about to change, and who asks."""

    user: str | None
    address: str | None
    method: str
    route: str
    action: str
    project: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    outcome: str = "ok"
    status: int = 200
    detail: dict[str, Any] | None = None
    written: bool = field(default=False)

    def row(self) -> dict[str, Any]:
        return {
            "at": now_ms(),
            "user": self.user,
            "address": (self.address or "")[:64] or None,
            "method": self.method[:8],
            "route": self.route[:256],
            "action": self.action[:128],
            "project": self.project,
            "object_type": self.object_type,
            "object_id": (self.object_id or "")[:512] or None,
            "outcome": self.outcome,
            "status": self.status,
            "detail": orjson.dumps(self.detail, default=str).decode() if self.detail else None,
        }


_pending: ContextVar[AuditRecord | None] = ContextVar("heron_audit_pending", default=None)


@contextmanager
def recording(record: AuditRecord) -> Iterator[AuditRecord]:
    """Write ``record`` with the first write transaction made inside this block."""
    token = _pending.set(record)
    try:
        yield record
    finally:
        _pending.reset(token)


@contextmanager
def suspended() -> Iterator[None]:
    """Writes inside this block are not the change being recorded (a token's last use)."""
    token = _pending.set(None)
    try:
        yield
    finally:
        _pending.reset(token)


def annotate(**detail: Any) -> None:
    """Add to the pending entry's detail (the before and after a write found, inside its own
    transaction); nothing when no entry is pending."""
    record = pending()
    if record is not None:
        record.detail = {**(record.detail or {}), **detail}


def pending() -> AuditRecord | None:
    """The entry the next write transaction must insert (``None``: none)."""
    record = _pending.get()
    if record is None or record.written:
        return None
    return record


def insert_pending(conn: Any) -> AuditRecord | None:
    """Insert the pending entry on a SQLAlchemy connection, in its open transaction."""
    record = pending()
    if record is not None:
        conn.execute(t.audit_log.insert().values(**record.row()))
    return record


_RAW_INSERTS: dict[int, Any] = {}


def insert_pending_raw(engine: Any, cursor: Any) -> AuditRecord | None:
    """Insert the pending entry on a DBAPI cursor, in its open transaction."""
    record = pending()
    if record is None:
        return None
    statement = _RAW_INSERTS.get(id(engine))
    if statement is None:
        from heron.store.sql.raw import RawStatement

        columns = tuple(c.key for c in t.audit_log.c if c.key != "id")
        statement = _RAW_INSERTS[id(engine)] = RawStatement(
            t.audit_log.insert(), engine, columns=columns
        )
    statement.execute(cursor, record.row())
    return record


def write_denied(engine: Any, record: AuditRecord) -> None:
    """Write the entry of a denied request, on its own."""
    from heron.store.sql.engine import run_write

    record.outcome = "denied"

    def body(conn: Any) -> None:
        conn.execute(t.audit_log.insert().values(**record.row()))

    token = _pending.set(None)
    try:
        run_write(engine, body)
    finally:
        _pending.reset(token)
