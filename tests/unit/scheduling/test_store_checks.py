"""The store checks what it is given itself: through `heron server` any client can call the
schedule methods, so bad values are InvalidArgument (a 400), never a database error."""

from __future__ import annotations

import pytest

import heron
from heron.core.errors import InvalidArgument, NotFound


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({}, "needs name"),
        ({"name": "x", "nope": 1}, "no field"),
        (
            {"name": "x", "pipeline": "a:b", "params": {}, "timezone": "UTC", "catchup": "all"}
            | {"max_active_runs": 1, "cron": "0 0 * * *", "on_artifacts": ["a"]},
            "one of the two",
        ),
        (
            {"name": "x y", "pipeline": "a:b", "params": {}, "timezone": "UTC", "catchup": "all"}
            | {"max_active_runs": 1, "cron": "0 0 * * *"},
            "Invalid schedule name",
        ),
        (
            {"name": "x", "pipeline": "a:b", "params": {}, "timezone": "UTC", "catchup": "all"}
            | {"max_active_runs": 2**40, "cron": "0 0 * * *"},
            "between 1 and 10,000",
        ),
        (
            {"name": "x", "pipeline": "a:b", "params": [], "timezone": "UTC", "catchup": "all"}
            | {"max_active_runs": 1, "cron": "0 0 * * *"},
            "wrong type",
        ),
    ],
)
def test_bad_schedule_values_are_refused_by_the_store(store, values, message):
    with pytest.raises(InvalidArgument, match=message):
        store.create_schedule(values)
    assert store.list_schedules() == []


def test_bad_ticks_statuses_and_counts_are_refused(store, clock, pipelines_file):
    sch = heron.schedule(f"{pipelines_file}:daily", cron="0 0 * * *", name="d")
    for tick in (
        {},
        {"logical_time": "x", "interval_start": 0, "interval_end": 0, "status": "queued"},
        {"logical_time": 1, "interval_start": 0, "interval_end": 0, "status": "done"},
    ):
        with pytest.raises(InvalidArgument):
            store.advance_schedule(sch.id, sch.cursor, sch.cursor + 1, None, [tick])
    assert store.get_schedule("d").cursor == sch.cursor  # nothing moved
    with pytest.raises(InvalidArgument, match="Unknown tick status"):
        store.finish_tick(1, "finished")
    with pytest.raises(InvalidArgument, match="limit must be between"):
        store.list_ticks(limit=0)
    with pytest.raises(InvalidArgument, match="count must be between"):
        store.next_queued(sch.id, -1)
    with pytest.raises(InvalidArgument):
        store.claim_tick(1, 1, "not-a-run-id!", "me", 0)
    with pytest.raises(NotFound):
        store.create_backfill(
            "0" * 32,
            [[1, 0, 1]],
            start=1,
            end=1,
            reprocess="all",
            max_active_runs=1,
            backwards=False,
        )
    with pytest.raises(InvalidArgument, match="completed or cancelled"):
        store.set_backfill_status("0" * 32, "paused")
    with pytest.raises(InvalidArgument):
        store.scheduler_heartbeat("x" * 500, "host", 1, 0, 0)
