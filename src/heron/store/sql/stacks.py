"""The stack methods of :class:`~heron.store.sql.store.SqlStore` (``SqlStacksMixin``): one
row per stack, its definition as JSON."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Connection, delete, insert, select, update

from heron.core import stacks as st
from heron.core.errors import AlreadyExists, NotFound
from heron.core.ids import now_ms
from heron.store.sql import engine as sql_engine
from heron.store.sql import schema as t

_st = t.stacks


def _stack(row: Any) -> st.Stack:
    definition = orjson.loads(row.definition)
    known = {k: v for k, v in definition.items() if k in st.STACK_FIELDS}
    return st.Stack(name=row.name, created_at=row.created_at, updated_at=row.updated_at, **known)


def _missing(name: str) -> NotFound:
    return NotFound(
        f"No stack named {name!r}: `heron stack list` shows the stacks; create one with "
        f"`heron stack create {name}`."
    )


class SqlStacksMixin:
    """Stacks on the store's SQL database."""

    engine: Any

    def create_stack(self, name: str, values: dict[str, Any]) -> st.Stack:
        st.check_stack_name(name)
        definition = st.Stack(name, **st.check_stack_values(values)).definition()
        now = now_ms()

        def body(conn: Connection) -> None:
            if conn.execute(select(_st.c.name).where(_st.c.name == name)).first():
                raise AlreadyExists(
                    f"A stack named {name!r} exists already: change it with `heron stack "
                    f"update {name}`, or delete it first."
                )
            conn.execute(
                insert(_st).values(
                    name=name,
                    definition=orjson.dumps(definition).decode(),
                    created_at=now,
                    updated_at=now,
                )
            )

        sql_engine.run_write(self.engine, body)
        return self.get_stack(name)

    def update_stack(self, name: str, values: dict[str, Any]) -> st.Stack:
        changes = st.check_stack_values(values)

        def body(conn: Connection) -> None:
            row = conn.execute(select(_st).where(_st.c.name == name)).first()
            if row is None:
                raise _missing(name)
            definition = {**_stack(row).definition(), **changes}
            conn.execute(
                update(_st)
                .where(_st.c.name == name)
                .values(definition=orjson.dumps(definition).decode(), updated_at=now_ms())
            )

        sql_engine.run_write(self.engine, body)
        return self.get_stack(name)

    def get_stack(self, name: str) -> st.Stack:
        with sql_engine.read(self.engine) as conn:
            row = conn.execute(select(_st).where(_st.c.name == name)).first()
        if row is None:
            raise _missing(name)
        return _stack(row)

    def list_stacks(self) -> list[st.Stack]:
        with sql_engine.read(self.engine) as conn:
            rows = conn.execute(select(_st).order_by(_st.c.name)).all()
        return [_stack(r) for r in rows]

    def delete_stack(self, name: str) -> None:
        def body(conn: Connection) -> int:
            return conn.execute(delete(_st).where(_st.c.name == name)).rowcount

        if not sql_engine.run_write(self.engine, body):
            raise _missing(name)
