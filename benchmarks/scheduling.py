"""Heron's scheduling figures (issue 10): `heron scheduler` and `heron backfill` on SQLite.

    python benchmarks/scheduling.py            # every figure (about 5 minutes)
    python benchmarks/scheduling.py --quick    # a smoke test (about 2 minutes)
    python benchmarks/scheduling.py --only backfill

Airflow 3's side, on the same 3-step pipeline shape: ``benchmarks/peers/airflow_scheduling.py``
(``bash benchmarks/run_peers.sh --scheduling``).

* ``tick_to_run_started_p50_s`` / ``_p99_s`` and ``scheduler_cpu_10000_schedules_pct``: 10,000
  schedules in the store, 10 of them due every minute (``* * * * *``), the others yearly. A
  ``heron scheduler`` process runs for a few minutes; latency is each run's start time minus
  its tick's logical time (read from the store afterwards); CPU is the scheduler process's
  user + system time over the wall time of the window (its fork server, which only forks, is
  reported beside it; the runs' own CPU is theirs).
* ``artifact_trigger_to_run_started_p50_s``: a schedule ``on_artifacts=["bench.raw.json"]``
  and a run that logs a new version of it, ten times; latency is the triggered run's start
  time minus the producing run's end time.
* ``backfill_365_daily_s``: ``heron backfill`` of 365 daily intervals of a 3-step pipeline with
  ``--max-active-runs 2``, timed as the command's wall time (start-up included).

Prints one JSON line per figure on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _harness as h

h.BENCHMARK = "scheduling"
TOOL = "heron"
GROUPS = ("ticks", "trigger", "backfill")

FLOWS = """
import heron
from heron import pipeline, step


@step
def make(n: int) -> list:
    return list(range(n))


@step
def total(xs: list) -> int:
    return sum(xs)


@step
def check(s: int, day: str) -> str:
    if s != 4950:
        raise ValueError(f"sum is {s}")
    return day


@pipeline
def chain(n: int = 100, day: str = heron.logical_date()):
    check(total(make(n)), day)
"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _heron(*args: str, env: dict[str, str], cwd: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "heron", *args], cwd=cwd, env=env, start_new_session=True, **options
    )


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ticks(workdir: str, env: dict[str, str], minutes: int, schedules: int) -> None:
    import heron
    from heron.scheduling import definitions
    from heron.store.sql import engine as sql_engine
    from heron.store.sql import schema as t

    store = definitions.schedule_store()
    base = definitions.check_definition(
        name="due-0",
        pipeline=f"{workdir}/flows.py:chain",
        params={},
        cron="* * * * *",
        timezone="UTC",
        on_artifacts=None,
        catchup="none",
        max_active_runs=1,
        max_lateness=None,
    )
    for i in range(10):
        definitions.create(store, {**base, "name": f"due-{i}"})
    h.progress(f"ticks: inserting {schedules - 10:,} more (yearly) schedules")
    yearly = definitions.check_definition(**{**base, "cron": "0 0 1 1 *", "name": "y"})
    now = int(time.time() * 1000)
    nxt = definitions._next_due(yearly, now)
    rows = []
    import orjson

    from heron.core.ids import new_id

    for i in range(schedules - 10):
        rows.append(
            {
                **yearly,
                "id": new_id(),
                "name": f"yearly-{i:05d}",
                "params": orjson.dumps(yearly["params"]).decode(),
                "on_artifacts": None,
                "paused": False,
                "cursor": now,
                "next_due_at": nxt,
                "created_at": now,
                "updated_at": now,
            }
        )
    sql_engine.run_write(store.engine, lambda conn: conn.execute(t.schedules.insert(), rows))
    # start the window just after a minute boundary, so each minute's fire falls inside it
    wait = 60 - time.time() % 60 + 5
    h.progress(f"ticks: {schedules:,} schedules; the scheduler starts in {wait:.0f} s")
    time.sleep(wait)
    scheduler = _heron("scheduler", "--log-level", "warning", env=env, cwd=workdir)
    try:
        time.sleep(3)  # started, fork server up
        cpu0, wall0 = _cpu_seconds(scheduler.pid), time.monotonic()
        kids0 = {p: _cpu_seconds(p) for p in _children(scheduler.pid)}
        window_start = int(time.time() * 1000)
        time.sleep(minutes * 60)
        cpu = _cpu_seconds(scheduler.pid) - cpu0
        wall = time.monotonic() - wall0
        server_cpu = sum(_cpu_seconds(p) - kids0.get(p, 0.0) for p in _children(scheduler.pid))
        window_end = int(time.time() * 1000)
        time.sleep(5)  # the last runs finish
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=60)
    client = heron.Client()
    latencies = []
    statuses: dict[str, int] = {}
    for i in range(10):
        sch = store.get_schedule(f"due-{i}")
        for tick in store.list_ticks(sch.id, limit=1000):
            if not window_start <= tick.logical_time <= window_end:
                continue
            statuses[tick.status] = statuses.get(tick.status, 0) + 1
            if tick.run_id:
                run = client.get_run(tick.run_id)
                latencies.append((run.start_time - tick.logical_time) / 1000)
    detail = {
        "schedules": schedules,
        "due_per_minute": 10,
        "minutes": minutes,
        "runs": len(latencies),
        "tick_statuses": statuses,
        "max_s": max(latencies) if latencies else None,
        "api": "heron scheduler (fork server); run.start_time - tick.logical_time",
    }
    cpu_detail = {
        **detail,
        "scheduler_cpu_s": cpu,
        "wall_s": wall,
        "fork_server_cpu_pct": 100 * server_cpu / wall,
    }
    for figure, value, unit, target, n, extra in (
        ("tick_to_run_started_p50_s", statistics.median(latencies), "s", 0.3, None, detail),
        ("tick_to_run_started_p99_s", _percentile(latencies, 0.99), "s", 1.0, None, detail),
        (
            "scheduler_cpu_10000_schedules_pct",
            100 * cpu / wall,
            "% of one core",
            5.0,
            schedules,
            cpu_detail,
        ),
    ):
        h.emit(
            figure,
            TOOL,
            value,
            unit,
            higher_is_better=False,
            target=target,
            n=n if n is not None else len(latencies),
            detail=extra,
        )


def trigger(workdir: str, env: dict[str, str], count: int) -> None:
    import heron
    from heron.scheduling import definitions

    store = definitions.schedule_store()
    sch = heron.schedule(f"{workdir}/flows.py:chain", on_artifacts=["bench.raw.json"], name="t")
    scheduler = _heron("scheduler", "--log-level", "warning", env=env, cwd=workdir)
    ends = []
    try:
        time.sleep(4)
        for i in range(count):
            with heron.start_run() as run:
                heron.log_dict({"i": i}, "bench.raw.json")
            ends.append(heron.Client().get_run(run.id).end_time)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if len(store.list_ticks(sch.id, statuses=["succeeded", "failed"])) > i:
                    break
                time.sleep(0.05)
            time.sleep(0.5)
    finally:
        scheduler.send_signal(signal.SIGTERM)
        scheduler.wait(timeout=60)
    client = heron.Client()
    found = store.list_ticks(sch.id, newest_first=False)
    latencies = [
        (client.get_run(tick.run_id).start_time - end) / 1000 for tick, end in zip(found, ends)
    ]
    h.emit(
        "artifact_trigger_to_run_started_p50_s",
        TOOL,
        statistics.median(latencies),
        "s",
        higher_is_better=False,
        target=0.5,
        n=len(latencies),
        detail={
            "triggered_runs": len(found),
            "versions": count,
            "max_s": max(latencies),
            "api": "heron.schedule(on_artifacts=...); triggered run start - producing run end",
        },
    )


def backfill(workdir: str, env: dict[str, str], days: int) -> None:
    import heron

    heron.schedule(f"{workdir}/flows.py:chain", cron="0 0 * * *", name="daily", catchup="none")
    first = datetime.date(2025, 1, 1)
    last = (first + datetime.timedelta(days=days - 1)).isoformat()
    started = time.perf_counter()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "heron", "backfill", "daily"),
            *("--start", first.isoformat(), "--end", last, "--max-active-runs", "2", "--json"),
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"heron backfill failed: {done.stderr[-2000:]}")
    import json

    result = json.loads(done.stdout)
    h.emit(
        "backfill_365_daily_s" if days == 365 else f"backfill_{days}_daily_s",
        TOOL,
        took,
        "s",
        higher_is_better=False,
        target=20.0 if days == 365 else None,
        n=days,
        detail={
            "progress": result["progress"],
            "max_active_runs": 2,
            "steps_per_run": 3,
            "per_interval_s": took / days,
            "api": "heron backfill daily --start 2025-01-01 --end 2025-12-31 --max-active-runs 2",
        },
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--only", action="append", choices=GROUPS, help="run only this group")
    parser.add_argument("--minutes", type=int, help="the ticks window (default 3; quick 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary workspaces")
    args = parser.parse_args()
    for group in args.only or GROUPS:
        workdir = tempfile.mkdtemp(prefix=f"bench-scheduling-{group}-")
        Path(workdir, "flows.py").write_text(FLOWS)
        uri = f"sqlite:///{workdir}/heron.db"
        env = h.clean_env(HERON_HOME=f"{workdir}/home", HERON_TRACKING_URI=uri)
        os.environ.update(HERON_HOME=env["HERON_HOME"], HERON_TRACKING_URI=uri)
        os.chdir(workdir)
        from heron.core import config
        from heron.store import registry

        config.set_tracking_uri(uri)
        registry.forget_stores()
        h.progress(f"{group}: in {workdir}")
        started = time.perf_counter()
        if group == "ticks":
            ticks(workdir, env, args.minutes or (1 if args.quick else 3), 10_000)
        elif group == "trigger":
            trigger(workdir, env, 4 if args.quick else 10)
        else:
            backfill(workdir, env, 30 if args.quick else 365)
        h.progress(f"{group}: done in {time.perf_counter() - started:.1f} s")
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
