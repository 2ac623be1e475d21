"""The scheduler with real child processes (forked from its fork server): a backfill's runs
carry their interval as parameters, tags and ``heron.context()``; caching across intervals;
a crashing pipeline; an artifact trigger with lineage; two ``heron scheduler`` processes at
once, stopped with SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import heron
from heron.core import config
from heron.core import schedules as s
from heron.scheduling import backfill as backfills
from heron.scheduling.launcher import ForkServerLauncher, SubprocessLauncher
from heron.scheduling.scheduler import Scheduler
from heron.store import registry
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.integration

FLOWS = """
import os

import heron
from heron import pipeline, step


@step
def make(n: int) -> list:
    return list(range(n))


@step
def total(xs: list, day: str) -> dict:
    ctx = heron.context()
    return {"day": day, "sum": sum(xs), "start": ctx.interval_start.isoformat(),
            "schedule": ctx.schedule}


@pipeline
def daily(n: int = 10, day: str = heron.logical_date()):
    total(make(n), day)


@step
def crash(n: int) -> int:
    if n == 13:
        os._exit(7)  # the whole process dies, as with a segfault or the OOM killer
    return n


@pipeline
def fragile(n: int = 13):
    crash(n)


@step
def score(n: int) -> int:
    return n * 2


@pipeline
def scoring(n: int = 1):
    score(n)
"""


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    (tmp_path / "flows.py").write_text(FLOWS)
    uri = sqlite_uri(tmp_path / "heron.db")
    monkeypatch.setenv("HERON_TRACKING_URI", uri)
    heron.set_tracking_uri(uri)
    store = registry.get_store(uri)
    yield tmp_path, store
    config.set_tracking_uri(None)
    registry.forget_stores()


def _drain(store, backfill_id, launcher=None):
    sc = Scheduler(store, backfill_id=backfill_id, launcher=launcher, poll_seconds=0.05)
    done = threading.Event()
    timer = threading.Timer(120, done.set)
    timer.start()
    try:
        sc.run(done, until_done=True)
    finally:
        timer.cancel()
    return store.get_backfill(backfill_id)


@pytest.mark.parametrize("launcher", [ForkServerLauncher, SubprocessLauncher])
def test_backfilled_runs_carry_their_interval_and_reuse_unchanged_steps(workspace, launcher):
    folder, store = workspace
    heron.schedule("flows.py:daily", cron="0 6 * * *", timezone="Europe/Zurich", name="daily")
    bf = backfills.backfill("daily", "2026-03-28", "2026-03-30", max_active_runs=2)
    done = _drain(store, bf.id, launcher())
    assert done.status == s.BACKFILL_DONE and done.progress == {s.SUCCEEDED: 3}
    client = heron.Client()
    ticks = store.list_ticks(bf.schedule_id, newest_first=False)
    days = []
    for tick in ticks:
        run = client.get_run(tick.run_id)
        assert run.status == "completed"
        assert run.tags["heron.schedule"] == "daily"
        assert run.tags["heron.logical_time"].startswith(run.params["day"])
        days.append(run.params["day"])
    assert days == ["2026-03-28", "2026-03-29", "2026-03-30"]
    # inside the steps, heron.context() has the interval (a day since the previous 06:00)
    values = sorted((v.load() for v in client.list_artifacts("total.output")), key=str)
    assert [(v["day"], v["schedule"]) for v in values] == [(d, "daily") for d in days]
    assert [v["start"] for v in values] == [
        "2026-03-27T06:00:00+01:00",
        "2026-03-28T06:00:00+01:00",
        "2026-03-29T06:00:00+02:00",  # the day of the DST change: 23 hours long
    ]
    # `make` has the same input every day: computed by the first runs (two run at once),
    # from the cache after that; reprocessing every day again stores nothing new
    made = len(client.list_artifacts("make.output"))
    assert made <= 2
    again = backfills.backfill("daily", "2026-03-28", "2026-03-30", reprocess="all")
    assert _drain(store, again.id, launcher()).progress == {s.SUCCEEDED: 3}
    assert len(client.list_artifacts("make.output")) == made
    assert len(client.list_artifacts("total.output")) == 3
    logs = list((folder / "home" / "scheduler" / "logs").glob("*.log"))
    assert len(logs) == 6


def test_a_crashing_pipeline_fails_its_tick_and_the_scheduler_goes_on(workspace):
    _folder, store = workspace
    heron.schedule("flows.py:fragile", cron="0 0 * * *", name="fragile", params={"n": 13})
    crashed = backfills.backfill("fragile", "2026-01-01", "2026-01-01")
    assert _drain(store, crashed.id).progress == {s.FAILED: 1}
    [tick] = store.list_ticks(crashed.schedule_id)
    assert "exited with code 7" in tick.reason
    heron.schedule("flows.py:fragile", cron="0 0 * * *", name="fragile", params={"n": 1})
    fine = backfills.backfill("fragile", "2026-01-02", "2026-01-02")
    assert _drain(store, fine.id).progress == {s.SUCCEEDED: 1}


def _produce(name: str) -> str:
    with heron.start_run():
        version = heron.log_dict({"at": time.time()}, name)
    return version.id


def test_a_new_artifact_version_starts_a_run_that_records_it_as_input(workspace):
    _folder, store = workspace
    sch = heron.schedule("flows.py:scoring", on_artifacts=["raw.json"], name="score-new-data")
    sc = Scheduler(store, poll_seconds=0.05)
    stop = threading.Event()
    loop = threading.Thread(target=sc.run, args=(stop,))
    loop.start()
    try:
        time.sleep(0.3)
        version_id = _produce("raw.json")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = store.list_ticks(sch.id, statuses=[s.SUCCEEDED, s.FAILED])
            if found:
                break
            time.sleep(0.05)
    finally:
        stop.set()
        sc.wake.set()
        loop.join(30)
    [tick] = store.list_ticks(sch.id)
    assert tick.status == s.SUCCEEDED and tick.inputs == {"raw.json": version_id}
    links = store.list_artifact_links(run_id=tick.run_id)
    assert [(link.artifact_id, link.direction) for link in links if link.name.startswith("trigger")]
    assert (version_id, "input") in {(link.artifact_id, link.direction) for link in links}


def _heron(folder: Path, *args: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "heron", *args],
        cwd=folder,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **options,
    )


def test_two_scheduler_processes_start_each_triggered_interval_once(workspace):
    folder, store = workspace
    sch = heron.schedule("flows.py:scoring", on_artifacts=["raw.json"], name="score-new-data")
    schedulers = [_heron(folder, "scheduler", "--poll", "0.05") for _ in range(2)]
    try:
        time.sleep(2.0)  # both up
        produced = []
        for _ in range(4):
            produced.append(_produce("raw.json"))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                done = store.list_ticks(sch.id, statuses=[s.SUCCEEDED, s.FAILED])
                if len(done) == len(produced):
                    break
                time.sleep(0.05)
    finally:
        for p in schedulers:
            p.send_signal(signal.SIGTERM)
        outputs = [p.communicate(timeout=30) for p in schedulers]
    assert [p.returncode for p in schedulers] == [0, 0], outputs
    ticks = store.list_ticks(sch.id, newest_first=False)
    assert [t.inputs["raw.json"] for t in ticks] == produced
    assert all(t.status == s.SUCCEEDED for t in ticks)
    assert len({t.run_id for t in ticks}) == 4
    assert len({t.claimed_by for t in ticks}) >= 1
    assert all("stopped" in err for _out, err in outputs)
