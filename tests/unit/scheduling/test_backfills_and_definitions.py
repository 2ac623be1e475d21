"""Backfills (reprocess modes, never duplicating queued or running intervals, backwards,
dry runs, cancelling, progress) and bad definitions refused with nothing half-created."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import heron
from heron.core import schedules as s
from heron.core import status as run_status
from heron.core.errors import InvalidArgument
from heron.scheduling import backfill as backfills
from heron.scheduling import context
from heron.scheduling.scheduler import Scheduler

UTC = ZoneInfo("UTC")


def daily(pipelines_file, **options):
    return heron.schedule(
        f"{pipelines_file}:daily", cron="0 0 * * *", name="daily", catchup="none", **options
    )


def days(times):
    return [datetime.fromtimestamp(t / 1000, UTC).strftime("%m-%d") for t in times]


def drain(sc, launcher, *, fail=(), rounds=50):
    for _ in range(rounds):
        sc.step()
        for child in launcher.launched:
            if child.code is None:
                day = days([int(child.env[context.ENV_LOGICAL_TIME])])[0]
                child.end(run_status.FAILED if day in fail else run_status.COMPLETED)
        if not sc.store.list_ticks(statuses=[s.QUEUED, s.RUNNING]):
            break


def test_a_backfill_runs_its_intervals_within_its_own_concurrency(
    store, clock, launcher, pipelines_file
):
    sch = daily(pipelines_file, max_active_runs=1)
    bf = backfills.backfill("daily", "2026-01-01", "2026-01-10", max_active_runs=3)
    assert bf.intervals == 10 and bf.max_active_runs == 3 and bf.progress == {s.QUEUED: 10}
    sc = Scheduler(store, clock=clock, launcher=launcher, max_runs=10)
    sc.step()
    assert days(int(c.env[context.ENV_LOGICAL_TIME]) for c in launcher.launched) == [
        "01-01",
        "01-02",
        "01-03",
    ]
    assert launcher.launched[0].env[context.ENV_BACKFILL] == bf.id
    assert launcher.launched[0].spec["tags"][context.TAG_BACKFILL] == bf.id
    drain(sc, launcher, fail={"01-04"})
    done = store.get_backfill(bf.id)
    assert done.status == s.BACKFILL_DONE
    assert done.progress == {s.SUCCEEDED: 9, s.FAILED: 1}
    assert len(store.list_ticks(sch.id)) == 10


@pytest.mark.parametrize(
    ("reprocess", "again"),
    [("missing", ["01-05"]), ("failed", ["01-02", "01-05"]), ("all", None)],
)
def test_reprocess_chooses_the_intervals_and_never_duplicates_open_ones(
    store, clock, launcher, pipelines_file, reprocess, again
):
    daily(pipelines_file, max_active_runs=5)
    first = backfills.backfill("daily", "2026-01-01", "2026-01-04", max_active_runs=5)
    sc = Scheduler(store, clock=clock, launcher=launcher, max_runs=10)
    drain(sc, launcher, fail={"01-02"})
    assert store.get_backfill(first.id).progress == {s.SUCCEEDED: 3, s.FAILED: 1}
    launched_before = len(launcher.launched)
    dry = backfills.plan("daily", "2026-01-01", "2026-01-05", reprocess=reprocess)
    expected = again if again is not None else ["01-01", "01-02", "01-03", "01-04", "01-05"]
    assert days(dry.run) == expected
    assert len(launcher.launched) == launched_before  # a dry run runs nothing
    second = backfills.backfill("daily", "2026-01-01", "2026-01-05", reprocess=reprocess)
    assert second.intervals == len(expected)
    # while it is queued, a third backfill over the same days takes none of them
    third = backfills.backfill("daily", "2026-01-01", "2026-01-05", reprocess="all")
    assert third.intervals == 5 - len(expected)  # only the done ones
    drain(sc, launcher)
    rerun = launcher.launched[launched_before:]
    # every day once: the second backfill's, then the third's (never one of the second's)
    assert sorted(days(int(c.env[context.ENV_LOGICAL_TIME]) for c in rerun)) == [
        "01-01",
        "01-02",
        "01-03",
        "01-04",
        "01-05",
    ]
    assert [t.logical_time for t in store.list_ticks(backfill_id=second.id)][::-1] == dry.run
    assert len({c.run_id for c in launcher.launched}) == len(launcher.launched)


def test_a_backwards_backfill_runs_the_newest_first(store, clock, launcher, pipelines_file):
    daily(pipelines_file)
    backfills.backfill("daily", "2026-02-01", "2026-02-05", max_active_runs=1, backwards=True)
    sc = Scheduler(store, clock=clock, launcher=launcher)
    drain(sc, launcher)
    order = days(int(c.env[context.ENV_LOGICAL_TIME]) for c in launcher.launched)
    assert order == ["02-05", "02-04", "02-03", "02-02", "02-01"]


def test_cancelling_stops_launching_and_stops_running_runs(store, clock, launcher, pipelines_file):
    daily(pipelines_file)
    bf = backfills.backfill("daily", "2026-01-01", "2026-01-20", max_active_runs=2)
    sc = Scheduler(store, clock=clock, launcher=launcher, max_runs=10)
    sc.step()
    assert len(launcher.launched) == 2
    cancelled = backfills.cancel(bf.id)
    assert cancelled.status == s.BACKFILL_CANCELLED
    assert cancelled.progress == {s.CANCELLED: 18, s.RUNNING: 2}
    sc.step()
    assert all(c.terminated for c in launcher.launched) and len(launcher.launched) == 2
    assert store.get_backfill(bf.id).progress == {s.CANCELLED: 20}
    with pytest.raises(InvalidArgument, match="cancelled already"):
        backfills.cancel(bf.id)


def test_heron_backfill_loop_ends_when_its_backfill_is_done(store, clock, launcher, pipelines_file):
    import threading

    daily(pipelines_file)
    bf = backfills.backfill("daily", "2026-01-01", "2026-01-03")

    class Ending:
        def __init__(self, inner):
            self.inner = inner

        def launch(self, spec, env):
            child = self.inner.launch(spec, env)
            child.end()
            return child

    sc = Scheduler(store, clock=clock, launcher=Ending(launcher), backfill_id=bf.id, poll_seconds=0)
    sc.run(threading.Event(), until_done=True)
    assert store.get_backfill(bf.id).status == s.BACKFILL_DONE
    assert len(launcher.launched) == 3


def test_dates_are_whole_days_in_the_schedules_timezone(store, clock, pipelines_file):
    heron.schedule(
        f"{pipelines_file}:daily", cron="0 23 * * *", timezone="America/New_York", name="ny"
    )
    plan = backfills.plan("ny", "2026-01-01", "2026-01-02")
    assert [context.iso(t, "America/New_York") for t in plan.run] == [
        "2026-01-01T23:00:00-05:00",
        "2026-01-02T23:00:00-05:00",
    ]
    # an interval covers the time since the previous fire
    _logical, start, end = plan.intervals[0]
    assert end - start == 86_400_000


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-01", "2026-01-01", "is after its end"),
        ("yesterday", "2026-01-01", "Invalid start 'yesterday'"),
        ("2026-01-01", "2026-13-01", "Invalid end"),
    ],
)
def test_bad_backfill_ranges_are_refused(store, clock, pipelines_file, start, end, message):
    daily(pipelines_file)
    with pytest.raises(InvalidArgument, match=message):
        backfills.backfill("daily", start, end)
    assert store.list_backfills() == []


def test_a_backfill_over_100000_intervals_needs_yes(store, clock, pipelines_file):
    heron.schedule(f"{pipelines_file}:daily", cron="* * * * *", name="minutely")
    with pytest.raises(InvalidArgument, match=r"more than 100,000 intervals.*--yes"):
        backfills.plan("minutely", "2026-01-01", "2026-03-31")
    assert len(backfills.plan("minutely", "2026-01-01", "2026-03-31", yes=True).run) == 90 * 1440
    assert store.list_backfills() == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cron": "0 3 * * * *"}, "Invalid cron expression '0 3 \\* \\* \\* \\*'"),
        ({"cron": "0 3 * * *", "timezone": "Europe/Zurch"}, "Unknown timezone 'Europe/Zurch'"),
        ({}, "either cron= .* or on_artifacts"),
        ({"cron": "0 3 * * *", "on_artifacts": ["x"]}, "either cron="),
        ({"cron": "0 3 * * *", "params": {"epochs": 3}}, "takes no parameter\\(s\\) epochs"),
        ({"cron": "0 3 * * *", "params": {"n": object()}}, "not a JSON value"),
        ({"cron": "0 3 * * *", "catchup": "some"}, "Unknown catchup 'some'"),
        ({"cron": "0 3 * * *", "max_active_runs": 0}, "at least 1"),
        ({"cron": "0 3 * * *", "max_lateness": -5}, "max_lateness must be a positive"),
        ({"cron": "0 3 * * *", "name": "no spaces"}, "Invalid schedule name"),
        ({"on_artifacts": "raw"}, "list of artifact names"),
    ],
)
def test_bad_definitions_are_refused_and_nothing_is_stored(store, pipelines_file, options, message):
    options = {"name": "x", **options}
    with pytest.raises(InvalidArgument, match=message):
        heron.schedule(f"{pipelines_file}:daily", **options)
    assert store.list_schedules() == []


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("nowhere.py:daily", "Cannot schedule 'nowhere.py:daily'"),
        ("{file}:nightly", "has no attribute 'nightly'"),
        ("no_such_module_here:daily", "Cannot schedule 'no_such_module_here:daily'"),
    ],
)
def test_an_unknown_pipeline_reference_is_refused(store, pipelines_file, reference, message):
    with pytest.raises(InvalidArgument, match=message):
        heron.schedule(reference.format(file=pipelines_file), cron="0 3 * * *", name="x")
    assert store.list_schedules() == []


def test_schedule_again_updates_in_place(store, clock, pipelines_file):
    first = daily(pipelines_file)
    again = heron.schedule(
        f"{pipelines_file}:daily", cron="0 0 * * *", name="daily", params={"n": 5}
    )
    assert again.id == first.id and again.params == {"n": 5} and again.cursor == first.cursor
    assert [x.name for x in store.list_schedules()] == ["daily"]
