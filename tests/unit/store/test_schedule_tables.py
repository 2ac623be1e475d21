"""The scheduling tables (migration 0006): one tick per (schedule, logical time), by the store."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from heron.store.sql import schema as t
from heron.store.sql.store import SqlStore


def _schedule_row(schedule_id: str, name: str) -> dict:
    return dict(
        id=schedule_id,
        name=name,
        pipeline="examples/wine_pipeline.py:training",
        params="{}",
        cron="0 3 * * *",
        timezone="Europe/Zurich",
        on_artifacts=None,
        catchup="latest",
        max_active_runs=1,
        max_lateness=None,
        paused=False,
        cursor=0,
        next_due_at=1000,
        created_at=0,
        updated_at=0,
    )


def _tick_row(schedule_id: str, logical_time: int) -> dict:
    return dict(
        schedule_id=schedule_id,
        logical_time=logical_time,
        interval_start=logical_time - 86_400_000,
        interval_end=logical_time,
        status="queued",
        attempt=1,
        evaluated_at=logical_time,
    )


def test_a_second_tick_for_the_same_schedule_and_logical_time_is_refused(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/heron.db")
    with store.engine.begin() as conn:
        conn.execute(t.schedules.insert().values(**_schedule_row("s1", "nightly")))
        conn.execute(t.schedules.insert().values(**_schedule_row("s2", "hourly")))
        conn.execute(t.schedule_ticks.insert().values(**_tick_row("s1", 86_400_000)))
        # another logical time of the same schedule, and the same time of another: both fine
        conn.execute(t.schedule_ticks.insert().values(**_tick_row("s1", 2 * 86_400_000)))
        conn.execute(t.schedule_ticks.insert().values(**_tick_row("s2", 86_400_000)))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(t.schedule_ticks.insert().values(**_tick_row("s1", 86_400_000)))
    with store.engine.connect() as conn:
        assert conn.execute(t.schedule_ticks.select()).rowcount != 0
        rows = conn.execute(t.schedule_ticks.select()).all()
    assert sorted((r.schedule_id, r.logical_time) for r in rows) == [
        ("s1", 86_400_000),
        ("s1", 2 * 86_400_000),
        ("s2", 86_400_000),
    ]


def test_schedule_names_are_unique(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/heron.db")
    with store.engine.begin() as conn:
        conn.execute(t.schedules.insert().values(**_schedule_row("s1", "nightly")))
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(t.schedules.insert().values(**_schedule_row("s2", "nightly")))
