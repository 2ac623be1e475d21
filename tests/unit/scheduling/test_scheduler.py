"""The scheduler against the store, with a hand-moved clock and no child processes: exactly
once (restarts, crashes, two schedulers), catch-up, changes, pausing, concurrency, lateness,
artifact triggers and failures to launch."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

import heron
from heron.core import schedules as s
from heron.core import status as run_status
from heron.scheduling import context
from heron.scheduling.definitions import set_paused
from heron.scheduling.scheduler import Scheduler, run_id_for
from tests.unit.scheduling.conftest import FakeLauncher

UTC = ZoneInfo("UTC")
HOUR = 3600.0


def scheduler(store, clock, launcher, **options) -> Scheduler:
    return Scheduler(store, clock=clock, launcher=launcher, **options)


def hourly(pipelines_file, **options):
    return heron.schedule(f"{pipelines_file}:daily", cron="0 * * * *", name="hourly", **options)


def ticks(store, sch, *statuses):
    found = store.list_ticks(sch.id, statuses=list(statuses) or None, newest_first=False)
    return found


def hours_utc(times):
    return [datetime.fromtimestamp(t / 1000, UTC).strftime("%H:%M") for t in times]


def test_a_due_tick_starts_one_run_carrying_its_interval(store, clock, launcher, pipelines_file):
    sch = heron.schedule(
        f"{pipelines_file}:daily", cron="0 3 * * *", timezone="Europe/Zurich", name="nightly"
    )
    sc = scheduler(store, clock, launcher)
    clock.at(datetime(2026, 6, 1, 0, 59, tzinfo=UTC))  # 02:59 in Zurich (CEST)
    sc.step()
    assert launcher.launched == []
    clock.advance(60.2)
    sc.step()
    sc.step()
    assert len(launcher.launched) == 1
    child = launcher.launched[0]
    due = datetime(2026, 6, 1, 3, tzinfo=ZoneInfo("Europe/Zurich"))
    assert child.env[context.ENV_LOGICAL_TIME] == str(int(due.timestamp() * 1000))
    assert child.env[context.ENV_INTERVAL_START] == str(
        int((due - timedelta(days=1)).timestamp() * 1000)
    )
    assert child.spec["tags"][context.TAG_LOGICAL_TIME] == "2026-06-01T03:00:00+02:00"
    assert child.spec["tags"][context.TAG_SCHEDULE] == "nightly"
    assert child.env["HERON_TRACKING_URI"] == store.uri
    [tick] = ticks(store, sch)
    assert tick.status == s.RUNNING and tick.run_id == child.run_id == run_id_for(tick)
    child.end()
    sc.step()
    assert ticks(store, sch)[0].status == s.SUCCEEDED
    assert store.get_schedule("nightly").next_due_at == int(
        (due + timedelta(days=1)).timestamp() * 1000
    )


def test_nothing_runs_for_a_time_before_the_schedule_existed(
    store, clock, launcher, pipelines_file
):
    clock.at(datetime(2026, 6, 1, 5, 30, tzinfo=UTC))
    sch = hourly(pipelines_file, catchup="all")
    clock.advance(10)
    sc = scheduler(store, clock, launcher)
    sc.step()
    assert ticks(store, sch) == [] and launcher.launched == []
    clock.at(datetime(2026, 6, 1, 6, 0, 1, tzinfo=UTC))
    sc.step()
    assert hours_utc(t.logical_time for t in ticks(store, sch)) == ["06:00"]


@pytest.mark.parametrize(
    ("catchup", "queued", "skipped"),
    [
        ("none", [], ["01:00", "02:00", "03:00", "04:00", "05:00"]),
        ("latest", ["05:00"], ["01:00", "02:00", "03:00", "04:00"]),
        ("all", ["01:00", "02:00", "03:00", "04:00", "05:00"], []),
    ],
)
def test_intervals_missed_while_down_follow_catchup(
    store, clock, launcher, pipelines_file, catchup, queued, skipped
):
    sch = hourly(pipelines_file, catchup=catchup, max_active_runs=2)
    clock.at(datetime(2026, 6, 1, 5, 30, tzinfo=UTC))  # the scheduler comes back after 5.5 h
    sc = scheduler(store, clock, launcher)
    sc.step()
    found = ticks(store, sch)
    assert hours_utc(t.logical_time for t in found if t.status != s.SKIPPED) == queued
    assert hours_utc(t.logical_time for t in found if t.status == s.SKIPPED) == skipped
    assert all("missed" in (t.reason or "") for t in found if t.status == s.SKIPPED)
    # oldest first, at most max_active_runs at once
    started = [c.env[context.ENV_LOGICAL_TIME] for c in launcher.launched]
    assert hours_utc(int(t) for t in started) == queued[:2]
    if catchup == "all":
        launcher.end_all()
        sc.step()
        sc.step()
        started = [int(c.env[context.ENV_LOGICAL_TIME]) for c in launcher.launched]
        assert hours_utc(started) == queued[:4]


def test_a_restart_or_a_second_scheduler_never_starts_an_interval_twice(
    store, clock, launcher, pipelines_file
):
    sch = heron.schedule(f"{pipelines_file}:daily", cron="* * * * *", name="minutely")
    launchers = [launcher, FakeLauncher(store)]
    schedulers = [scheduler(store, clock, la, max_runs=100) for la in launchers]
    for minute in range(30):
        clock.advance(60)
        for sc in schedulers if minute % 2 else reversed(schedulers):
            sc.step()
        if minute == 10:  # a restart: a fresh scheduler knows nothing of the old one
            schedulers[0] = scheduler(store, clock, launchers[0], max_runs=100)
        for la in launchers:
            la.end_all()
    run_ids = [c.run_id for la in launchers for c in la.launched]
    assert len(run_ids) == len(set(run_ids)) == 30
    assert all(la.launched for la in launchers) or len(run_ids) == 30
    assert len(ticks(store, sch)) == 30


def test_two_schedulers_in_threads_start_each_interval_once(store, clock, launcher, pipelines_file):
    options = {"catchup": "all", "max_active_runs": 50}
    heron.schedule(f"{pipelines_file}:daily", cron="* * * * *", name="minutely", **options)
    for i in range(3):
        heron.schedule(f"{pipelines_file}:daily", cron="*/2 * * * *", name=f"other-{i}", **options)
    launchers = [launcher, FakeLauncher(store)]
    clock.advance(40 * 60)  # 40 minutes of fires, decided by whoever is first
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def loop(la):
        sc = scheduler(store, clock, la, max_runs=1000)
        barrier.wait()
        try:
            for _ in range(15):
                sc.step()
                la.end_all()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=loop, args=(la,)) for la in launchers]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    run_ids = [c.run_id for la in launchers for c in la.launched]
    assert len(run_ids) == len(set(run_ids)) == 40 + 3 * 20


def test_a_launcher_that_dies_after_claiming_is_replaced_under_the_same_run_id(
    store, clock, launcher, pipelines_file
):
    sch = hourly(pipelines_file)
    clock.at(datetime(2026, 6, 1, 1, 0, 1, tzinfo=UTC))
    dead = FakeLauncher(store)
    dead.start_runs = False  # it claimed the tick, then died before its run existed
    scheduler(store, clock, dead).step()
    [tick] = ticks(store, sch)
    assert tick.status == s.RUNNING
    sc = scheduler(store, clock, launcher, orphan_after=30)
    sc.step()
    assert launcher.launched == []  # it may still be starting
    clock.advance(31)
    sc.reconcile(clock.ms)
    assert [c.run_id for c in launcher.launched] == [tick.run_id]
    launcher.end_all()
    sc.step()
    assert ticks(store, sch)[0].status == s.SUCCEEDED


def test_a_manual_run_neither_blocks_nor_consumes_an_interval(
    store, clock, launcher, pipelines_file
):
    sch = hourly(pipelines_file)
    from heron.pipelines.loader import load_pipeline

    load_pipeline(f"{pipelines_file}:daily")(n=3)  # `heron run` of the same pipeline
    clock.at(datetime(2026, 6, 1, 1, 0, 1, tzinfo=UTC))
    scheduler(store, clock, launcher).step()
    assert len(launcher.launched) == 1 and ticks(store, sch)[0].status == s.RUNNING


def test_changing_the_cron_never_reruns_past_ticks(store, clock, launcher, pipelines_file):
    sch = hourly(pipelines_file, catchup="all")
    sc = scheduler(store, clock, launcher, max_runs=10)
    clock.at(datetime(2026, 6, 1, 2, 0, 1, tzinfo=UTC))
    sc.step()
    clock.at(datetime(2026, 6, 1, 2, 40, tzinfo=UTC))
    heron.schedule(f"{pipelines_file}:daily", cron="*/10 * * * *", name="hourly", catchup="all")
    clock.at(datetime(2026, 6, 1, 3, 0, 1, tzinfo=UTC))
    sc.step()
    assert hours_utc(t.logical_time for t in ticks(store, sch)) == [
        "01:00",
        "02:00",
        "02:50",
        "03:00",
    ]


@pytest.mark.parametrize("catchup", ["none", "latest", "all"])
def test_resuming_a_paused_schedule_follows_catchup(
    store, clock, launcher, pipelines_file, catchup
):
    sch = hourly(pipelines_file, catchup=catchup, max_active_runs=5)
    sc = scheduler(store, clock, launcher, max_runs=10)
    clock.at(datetime(2026, 6, 1, 0, 30, tzinfo=UTC))
    set_paused("hourly", True)
    clock.at(datetime(2026, 6, 1, 3, 30, tzinfo=UTC))
    sc.step()
    assert ticks(store, sch) == []  # paused: nothing decided
    set_paused("hourly", False)
    sc.step()
    ran = hours_utc(t.logical_time for t in ticks(store, sch) if t.status != s.SKIPPED)
    assert ran == {"none": [], "latest": ["03:00"], "all": ["01:00", "02:00", "03:00"]}[catchup]


def test_max_active_runs_queues_in_order_and_never_blocks_another_schedule(
    store, clock, launcher, pipelines_file
):
    slow = heron.schedule(
        f"{pipelines_file}:daily", cron="* * * * *", name="slow", catchup="all", max_active_runs=1
    )
    fast = heron.schedule(f"{pipelines_file}:daily", cron="*/5 * * * *", name="fast")
    sc = scheduler(store, clock, launcher, max_runs=10)

    def runs_of(name):
        return [c for c in launcher.launched if c.spec["tags"][context.TAG_SCHEDULE] == name]

    for _ in range(10):
        clock.advance(60)
        sc.step()
        for c in runs_of("fast"):
            if c.code is None:
                c.end()
    slow_runs, fast_runs = runs_of("slow"), runs_of("fast")
    assert len(slow_runs) == 1  # the first one still runs: the others queue behind it
    assert len(fast_runs) == 2  # 00:05 and 00:10: not held up by "slow"
    assert len(ticks(store, slow, s.QUEUED)) == 9
    slow_runs[0].end()
    sc.step()
    started = [c for c in launcher.launched if c.spec["tags"][context.TAG_SCHEDULE] == "slow"]
    assert [c.env[context.ENV_LOGICAL_TIME] for c in started] == [
        str(t.logical_time) for t in ticks(store, slow)[:2]
    ]
    assert [t.status for t in ticks(store, fast)] == [s.SUCCEEDED, s.SUCCEEDED]


def test_the_scheduler_wide_max_runs_caps_every_schedule(store, clock, launcher, pipelines_file):
    for i in range(5):
        heron.schedule(f"{pipelines_file}:daily", cron="* * * * *", name=f"s{i}")
    sc = scheduler(store, clock, launcher, max_runs=3)
    clock.advance(61)
    sc.step()
    assert len(launcher.launched) == 3
    launcher.end_all()
    sc.step()
    assert len(launcher.launched) == 5


def test_a_run_later_than_max_lateness_is_skipped_late(store, clock, launcher, pipelines_file):
    sch = hourly(pipelines_file, catchup="all", max_lateness=600, max_active_runs=1)
    clock.at(datetime(2026, 6, 1, 2, 0, 30, tzinfo=UTC))
    sc = scheduler(store, clock, launcher)
    sc.step()  # 01:00 is 1 h late: skipped at once; 02:00 starts
    found = {hours_utc([t.logical_time])[0]: t for t in ticks(store, sch)}
    assert found["01:00"].status == s.SKIPPED and "late" in found["01:00"].reason
    assert found["02:00"].status == s.RUNNING
    clock.at(datetime(2026, 6, 1, 3, 0, 1, tzinfo=UTC))
    sc.step()  # 03:00 queues behind 02:00 ...
    clock.at(datetime(2026, 6, 1, 3, 11, tzinfo=UTC))
    launcher.end_all()
    sc.step()  # ... and when a slot frees up it is 11 min late: skipped, not started
    found = {hours_utc([t.logical_time])[0]: t for t in ticks(store, sch)}
    assert found["03:00"].status == s.SKIPPED and "max_lateness of 600 s" in found["03:00"].reason
    assert len(launcher.launched) == 1


def test_runs_that_fail_or_cannot_start_are_recorded_on_their_tick(
    store, clock, launcher, pipelines_file
):
    sch = heron.schedule(f"{pipelines_file}:daily", cron="* * * * *", name="m")
    sc = scheduler(store, clock, launcher, max_runs=5)
    clock.advance(61)
    sc.step()
    launcher.launched[0].end(run_status.FAILED)
    sc.step()
    assert ticks(store, sch)[0].status == s.FAILED
    assert "failed" in ticks(store, sch)[0].reason
    launcher.fail_with = OSError("no such interpreter")
    clock.advance(60)
    sc.step()
    last = ticks(store, sch)[-1]
    assert last.status == s.FAILED and "no such interpreter" in last.reason
    launcher.fail_with = None
    launcher.start_runs = False
    clock.advance(60)
    sc.step()
    launcher.launched[-1].code = 2  # the child exited before its run existed
    sc.step()
    last = ticks(store, sch)[-1]
    assert last.status == s.FAILED and "before the run started: boom" in last.reason


def _version(store, name):
    return store.create_artifact_version(
        name,
        content_hash=f"{abs(hash((name, len(store.list_artifact_versions(name))))):064x}"[-64:],
        type="builtins.dict",
        materializer="json",
        size=1,
        uri="file:///nowhere",
    )


def test_artifact_triggers_wait_for_all_and_coalesce(store, clock, launcher, pipelines_file):
    sch = heron.schedule(
        f"{pipelines_file}:daily", on_artifacts=["raw", "labels"], name="score-new-data"
    )
    old = _version(store, "raw")  # noqa: F841 - before the schedule: never a trigger
    sc = scheduler(store, clock, launcher)
    sc.step()
    assert launcher.launched == []
    import time

    time.sleep(0.01)
    raw = _version(store, "raw")
    sc.step()
    assert launcher.launched == []  # "all of": labels has no new version yet
    labels_1 = _version(store, "labels")  # noqa: F841
    time.sleep(0.002)
    labels_2 = _version(store, "labels")  # two before the run: one run, the newest
    sc.step()
    sc.step()
    assert len(launcher.launched) == 1
    assert launcher.launched[0].spec["inputs"] == {
        "trigger.labels": labels_2.id,
        "trigger.raw": raw.id,
    }
    [tick] = ticks(store, sch)
    assert tick.inputs == {"labels": labels_2.id, "raw": raw.id}
    assert tick.logical_time == labels_2.created_at
    time.sleep(0.002)
    _version(store, "raw")
    sc.step()
    assert len(launcher.launched) == 1  # labels again has nothing new


def test_a_deleted_schedule_takes_its_ticks_along(store, clock, launcher, pipelines_file):
    sch = hourly(pipelines_file)
    clock.advance(HOUR + 1)
    scheduler(store, clock, launcher).step()
    store.delete_schedule(sch.id)
    assert store.list_ticks(sch.id) == []
    with pytest.raises(heron.HeronError, match="No schedule named 'hourly'"):
        store.get_schedule("hourly")


def test_a_scheduler_heartbeats_and_records_that_it_stopped(store, clock, launcher, pipelines_file):
    hourly(pipelines_file)
    sc = scheduler(store, clock, launcher, poll_seconds=0.01)
    clock.advance(HOUR + 1)
    sc.step()
    [info] = store.list_schedulers()
    assert info.name == sc.name and info.pid == sc.pid and info.stopped_at is None
    assert info.running == 1  # the run it launched in that pass
    stop = threading.Event()
    stop.set()
    sc.run(stop)
    [info] = store.list_schedulers()
    assert info.stopped_at is not None


def test_a_run_that_ends_while_the_scheduler_looks_is_recorded_by_its_final_status(
    store, clock, launcher, pipelines_file
):
    sch = hourly(pipelines_file)
    sc = scheduler(store, clock, launcher)
    clock.advance(HOUR + 1)
    sc.step()
    [child] = launcher.launched
    # the run ends (status written, process gone) just as the scheduler polls the process
    child.poll = lambda: (child.end(), child.code)[1]
    sc.step()
    assert ticks(store, sch)[0].status == s.SUCCEEDED
