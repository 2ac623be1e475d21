"""Airflow 3's side of the scheduling benchmark: tick latency and a 365-day backfill.

Runs in its own virtualenv (Airflow is no dependency of Heron); see ``benchmarks/run_peers.sh``:

    .venv-peers/airflow/bin/python benchmarks/peers/airflow_scheduling.py [--quick] [--json PATH]

A fresh deployment in a temporary ``AIRFLOW_HOME``: SQLite metadata database (``airflow db
migrate``), the default executor, ``LocalExecutor`` (Airflow 3 has no SequentialExecutor and
runs LocalExecutor on SQLite), no example DAGs, and the three processes Airflow 3 needs for a
task to run: ``airflow api-server`` (tasks talk to it through the Execution API, so it serves
``/execution/`` too), ``airflow dag-processor`` (the scheduler no longer parses DAG files) and
``airflow scheduler``. Each is started as a user starts it, bound to 127.0.0.1 on a free port,
in a session of its own, and stopped with everything it started when the script ends, on
errors too. Every other setting is Airflow's default.

Both DAGs are the same 3-task chain of ``@task`` functions (``make`` a list of 100 ints →
``total`` sums it → ``check`` the sum), passing values through XCom as a user's would.

* ``tick_to_run_started_p50_s`` / ``_p99_s``: a DAG on ``schedule=timedelta(seconds=P)``
  (Airflow 3 turns a timedelta into a ``DeltaTriggerTimetable``: a run is due at its
  ``run_after``), unpaused, left to run for a bounded number of ticks. For each scheduled run
  due after the unpause, latency = its first task instance's ``start_date`` - ``run_after``
  (read from the metadata database afterwards). ``detail`` also has the DAG run's own
  ``start_date`` - ``run_after`` (when the scheduler marked it running).
* ``backfill_365_daily_s``: ``airflow backfill create --dag-id … --from-date … --to-date …
  --max-active-runs 2`` of an ``@daily`` DAG (``catchup=False``, so its own schedule adds at
  most one run, not counted); timed from starting the command to every run of the
  backfill succeeded. Where the full 365 would take too long here, ``--intervals N`` runs N
  days and the line says so: ``value`` is then the extrapolation N → 365 (``detail.measured_s``
  is what was measured, ``detail.extrapolated`` is true). The DAG is unpaused right after the
  create (Airflow 3 leaves the runs of a paused DAG queued, backfill runs included).

Prints one JSON line per figure on stdout and, on stderr, a small table; ``--json PATH`` also
writes all of it to a file.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import json
import os
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import _harness as h

h.BENCHMARK = "scheduling"
TOOL = "airflow"
BIN = Path(sys.executable).parent  # the virtualenv's bin/, where `airflow` is
START_LIMIT_S = 240  # each process to be up, the DAGs to be parsed
BACKFILL_DAYS = 365

DAG_FILE = '''\
"""The benchmark's DAGs: one 3-task chain, on a short period and @daily."""

from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task


def chain(dag_id, schedule, start):
    @dag(
        dag_id=dag_id,
        schedule=schedule,
        start_date=start,
        catchup=False,
        is_paused_upon_creation=True,
        tags=["bench"],
    )
    def pipeline():
        @task
        def make():
            return list(range(100))

        @task
        def total(xs):
            return sum(xs)

        @task
        def check(s):
            if s != 4950:
                raise ValueError(f"sum is {s}")
            return s

        check(total(make()))

    return pipeline()


chain("bench_tick", timedelta(seconds=__PERIOD__), datetime(2024, 1, 1, tzinfo=timezone.utc))
chain("bench_backfill", "@daily", datetime(2020, 1, 1, tzinfo=timezone.utc))
'''


# --- processes ----------------------------------------------------------------------------------
class Processes:
    """Airflow's processes, each in a session of its own; all stopped at exit, always."""

    def __init__(self, workdir: str, env: dict[str, str]) -> None:
        self.workdir, self.env = workdir, env
        self.started: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen:
        log = Path(self.workdir, f"{name}.log")
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(BIN / "airflow"), *args],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.started[name], self.logs[name] = process, log
        h.progress(f"started airflow {' '.join(args)} (pid {process.pid})")
        return process

    def check_alive(self) -> None:
        for name, process in self.started.items():
            if process.poll() is not None:
                raise RuntimeError(
                    f"airflow {name} exited ({process.returncode}):\n{self.tail(name)}"
                )

    def tail(self, name: str, chars: int = 3000) -> str:
        try:
            return self.logs[name].read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop_all(self) -> None:
        """SIGTERM each session (the process and what it started), then SIGKILL what is left."""
        sessions = {p.pid for p in self.started.values()}
        if not sessions:
            return
        strays = _processes_of(sessions)
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
            for pid in sessions:
                with _quiet():
                    os.killpg(pid, sig)
            for pid in strays:  # anything that left its process group but not the tree
                with _quiet():
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline:
                for p in self.started.values():
                    p.poll()
                if all(p.returncode is not None for p in self.started.values()) and not any(
                    _alive(pid) for pid in strays
                ):
                    break
                time.sleep(0.2)
            strays = [pid for pid in strays if _alive(pid)] + _processes_of(sessions)
        for p in self.started.values():
            with _quiet():
                p.wait(1)
        self.started.clear()


class _quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, *_: Any) -> bool:
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError, OSError))


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _processes_of(sessions: set[int]) -> list[int]:
    """Live processes in one of ``sessions`` or descended from one of their leaders."""
    table: dict[int, tuple[int, int]] = {}  # pid -> (ppid, session)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry.name)] = (int(fields[1]), int(fields[3]))
    found = {pid for pid, (_, sid) in table.items() if sid in sessions}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in table.items():
            if pid not in found and (ppid in found or ppid in sessions):
                found.add(pid)
                changed = True
    return sorted(found - {os.getpid()})


def airflow_cli(env: dict[str, str], cwd: str, *args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        [str(BIN / "airflow"), *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"airflow {' '.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


# --- the metadata database ----------------------------------------------------------------------
def utc(value: Any) -> float | None:
    """A timestamp of Airflow's SQLite tables (UTC, with or without offset) as epoch seconds."""
    if value is None:
        return None
    stamp = dt.datetime.fromisoformat(str(value).replace(" ", "T"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.timezone.utc)
    return stamp.timestamp()


def query(db: str, sql: str, *params: Any) -> list[tuple]:
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)
    try:
        return connection.execute(sql, params).fetchall()
    finally:
        connection.close()


def wait_for(
    what: str, predicate: Any, procs: Processes, limit_s: float, poll_s: float = 0.5
) -> Any:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        procs.check_alive()
        try:
            value = predicate()
        except (OSError, sqlite3.Error):  # not up yet, or the table not yet there
            value = None
        if value:
            return value
        time.sleep(poll_s)
    raise TimeoutError(f"{what}: not within {limit_s:.0f} s")


def api_healthy(port: int) -> bool:
    url = f"http://127.0.0.1:{port}/api/v2/monitor/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status == 200


# --- figures ------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def bench_ticks(env: dict[str, str], workdir: str, db: str, procs: Processes, args: Any) -> list:
    ticks, period = args.ticks, args.period_s
    t_unpause = time.time()
    airflow_cli(env, workdir, "dags", "unpause", "bench_tick")
    h.progress(
        f"ticks: bench_tick unpaused, every {period} s, waiting for {ticks} runs due after it"
    )

    def finished() -> list[tuple]:
        rows = query(
            db,
            "SELECT run_id, run_after, start_date, state FROM dag_run WHERE dag_id = 'bench_tick'"
            " AND run_type = 'scheduled' ORDER BY run_after",
        )
        due = [r for r in rows if utc(r[1]) >= t_unpause]
        failed = [r for r in due if r[3] == "failed"]
        if failed:
            raise RuntimeError(f"bench_tick runs failed: {failed}\n{procs.tail('scheduler')}")
        done = [r for r in due if r[3] == "success"]
        return done[:ticks] if len(done) >= ticks else []

    # the ticks themselves, plus time for the last run to finish
    limit = period * (ticks + 1) + 120
    done = wait_for(f"{ticks} ticks of bench_tick", finished, procs, limit, poll_s=1.0)
    airflow_cli(env, workdir, "dags", "pause", "bench_tick")
    per_run = []
    for run_id, run_after, run_start, _ in done:
        (first_ti,) = query(
            db,
            "SELECT min(start_date) FROM task_instance WHERE dag_id = 'bench_tick' AND run_id = ?",
            run_id,
        )[0]
        due = utc(run_after)
        per_run.append(
            {
                "run_id": run_id,
                "to_first_task_s": utc(first_ti) - due,
                "to_run_started_s": utc(run_start) - due,
            }
        )
    latencies = [r["to_first_task_s"] for r in per_run]
    run_starts = [r["to_run_started_s"] for r in per_run]
    h.progress(
        f"  tick -> first task started: p50 {percentile(latencies, 0.5):.3f} s,"
        f" p99 {percentile(latencies, 0.99):.3f} s (n={len(latencies)})"
    )
    detail = {
        "schedule": f"timedelta(seconds={period}) (DeltaTriggerTimetable)",
        "due": "dag_run.run_after",
        "started": "min(task_instance.start_date) of the run",
        "runs_counted": "scheduled runs due after the unpause, the first N to succeed",
        "tick_to_dagrun_started_p50_s": percentile(run_starts, 0.5),
        "tick_to_dagrun_started_p99_s": percentile(run_starts, 0.99),
        "mean_s": statistics.fmean(latencies),
        "max_s": max(latencies),
        "min_s": min(latencies),
        "latencies_s": [round(x, 4) for x in latencies],
    }
    return [
        (
            "tick_to_run_started_p50_s",
            percentile(latencies, 0.5),
            "s",
            len(latencies),
            detail,
        ),
        (
            "tick_to_run_started_p99_s",
            percentile(latencies, 0.99),
            "s",
            len(latencies),
            {"note": f"p99 of {len(latencies)} runs: about their maximum", **detail},
        ),
    ]


def bench_backfill(env: dict[str, str], workdir: str, db: str, procs: Processes, args: Any) -> list:
    n = args.intervals
    first = dt.date(2021, 1, 1)
    last = first + dt.timedelta(days=n - 1)
    argv = [
        str(BIN / "airflow"),
        "backfill",
        "create",
        "--dag-id",
        "bench_backfill",
        "--from-date",
        first.isoformat(),
        "--to-date",
        last.isoformat(),
        "--max-active-runs",
        "2",
    ]
    h.progress(f"backfill: {n} daily intervals, {first} .. {last}, max active runs 2")
    t0 = time.perf_counter()
    for attempt in range(1, 6):
        result = subprocess.run(
            argv,
            env=env,
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=300,
            start_new_session=True,
        )
        # on SQLite the command's transaction can meet the scheduler's: try again, as a user
        # would (the time of the failed tries counts)
        if result.returncode == 0 or "database is locked" not in result.stderr:
            break
        h.progress(f"  backfill create: database is locked (try {attempt}); trying again")
        time.sleep(1)
    command_s = time.perf_counter() - t0
    if result.returncode != 0:
        raise RuntimeError(
            f"backfill create failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
        )
    # Airflow 3's scheduler leaves the runs of a paused DAG queued, backfill runs included.
    # Unpausing before the create makes the create's transaction meet the scheduler's on
    # SQLite ("database is locked", every try), so it is unpaused right after (timed too;
    # catchup=False: its own schedule adds at most the latest interval, not counted below)
    airflow_cli(env, workdir, "dags", "unpause", "bench_backfill")
    backfill_id = query(db, "SELECT max(id) FROM backfill WHERE dag_id = 'bench_backfill'")[0][0]
    if backfill_id is None:
        raise RuntimeError(f"no backfill recorded:\n{result.stdout[-2000:]}")
    h.progress(f"  backfill {backfill_id} created, command returned after {command_s:.1f} s")
    last_report = [time.monotonic()]

    def all_succeeded() -> bool:
        rows = query(
            db,
            "SELECT state, count(*) FROM dag_run WHERE backfill_id = ? GROUP BY state",
            backfill_id,
        )
        states = dict(rows)
        if states.get("failed"):
            raise RuntimeError(f"backfill runs failed: {states}\n{procs.tail('scheduler')}")
        if time.monotonic() - last_report[0] > 30:
            last_report[0] = time.monotonic()
            h.progress(f"  {states} after {time.perf_counter() - t0:.0f} s")
        return sum(states.values()) == n and states.get("success", 0) == n

    limit = max(60.0, args.time_limit_s - (time.monotonic() - args.started))
    wait_for(f"backfill of {n} intervals", all_succeeded, procs, limit, poll_s=0.25)
    seconds = time.perf_counter() - t0
    (created_at, completed_at) = query(
        db, "SELECT created_at, completed_at FROM backfill WHERE id = ?", backfill_id
    )[0]
    (runs_first, runs_last) = query(
        db,
        "SELECT min(start_date), max(end_date) FROM dag_run WHERE backfill_id = ?",
        backfill_id,
    )[0]
    ntis = query(
        db,
        "SELECT count(*) FROM task_instance ti JOIN dag_run r ON r.dag_id = ti.dag_id"
        " AND r.run_id = ti.run_id WHERE r.backfill_id = ? AND ti.state = 'success'",
        backfill_id,
    )[0][0]
    if ntis != 3 * n:
        raise RuntimeError(f"backfill: {ntis} successful task instances, expected {3 * n}")
    per_interval = seconds / n
    extrapolated = n != BACKFILL_DAYS
    value = per_interval * BACKFILL_DAYS if extrapolated else seconds
    h.progress(
        f"  {n} runs succeeded in {seconds:.1f} s ({per_interval:.2f} s an interval)"
        + (f"; extrapolated to 365: {value:.0f} s" if extrapolated else "")
    )
    detail = {
        "intervals_run": n,
        "measured_s": seconds,
        "per_interval_s": per_interval,
        "extrapolated": extrapolated,
        "extrapolation": (
            f"measured_s / {n} * 365 (linear)" if extrapolated else "none: all 365 run"
        ),
        "command_s": command_s,
        "timed": "from starting `airflow backfill create` to every run of the backfill succeeded",
        "dagruns_first_start_to_last_end_s": utc(runs_last) - utc(runs_first),
        "backfill_created_to_completed_s": (
            utc(completed_at) - utc(created_at) if completed_at else None
        ),
        "max_active_runs": 2,
        "dag": "@daily (CronTriggerTimetable), paused, 3 tasks in a chain",
    }
    return [("backfill_365_daily_s", value, "s", n, detail)]


# --- main ---------------------------------------------------------------------------------------
def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="4 ticks and 10 intervals: a smoke test"
    )
    parser.add_argument("--ticks", type=int, help="scheduled runs to measure (default 15; quick 4)")
    parser.add_argument("--period-s", type=int, help="the tick DAG's period (default 20; quick 10)")
    parser.add_argument(
        "--intervals", type=int, help="backfill days (default 365; quick 10); < 365 extrapolates"
    )
    parser.add_argument("--only", choices=("ticks", "backfill"), action="append")
    parser.add_argument("--json", metavar="PATH", help="also write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary AIRFLOW_HOME")
    parser.add_argument(
        "--time-limit-s", type=float, default=24 * 60, help="stop everything after this (1440)"
    )
    args = parser.parse_args()
    args.ticks = args.ticks or (4 if args.quick else 15)
    args.period_s = args.period_s or (10 if args.quick else 20)
    args.intervals = args.intervals or (10 if args.quick else BACKFILL_DAYS)
    args.started = time.monotonic()
    return args


def _version() -> str:
    from importlib.metadata import version

    return version("apache-airflow")


def _emit_all(figures: list, common: dict[str, Any], records: list[dict[str, Any]]) -> None:
    """Print a group's figures as soon as it has them (a later group may fail)."""
    for figure, value, unit, n, detail in figures:
        h.emit(figure, TOOL, value, unit, higher_is_better=False, n=n, detail={**detail, **common})
        records.append(
            {"figure": figure, "value": value, "unit": unit, "n": n, "detail": {**detail, **common}}
        )


def main() -> int:
    args = parse_args()
    groups = args.only or ["ticks", "backfill"]
    workdir = tempfile.mkdtemp(prefix="airflow-scheduling-")
    db = os.path.join(workdir, "airflow.db")
    dags = Path(workdir, "dags")
    dags.mkdir()
    Path(dags, "bench_dags.py").write_text(DAG_FILE.replace("__PERIOD__", str(args.period_s)))
    port = h.free_port()
    executor = "LocalExecutor"
    env = h.clean_env(
        AIRFLOW_HOME=workdir,
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__EXECUTOR=executor,
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{db}",
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT=str(port),
        AIRFLOW__API__BASE_URL=f"http://127.0.0.1:{port}",
        AIRFLOW__CORE__EXECUTION_API_SERVER_URL=f"http://127.0.0.1:{port}/execution/",
        # one secret for every component that signs or checks the tasks' tokens
        AIRFLOW__API_AUTH__JWT_SECRET=secrets.token_urlsafe(32),
        AIRFLOW__API__SECRET_KEY=secrets.token_urlsafe(32),
        AIRFLOW__CORE__FERNET_KEY="",
        AIRFLOW__LOGGING__BASE_LOG_FOLDER=os.path.join(workdir, "logs"),
        SCARF_ANALYTICS="false",
        AIRFLOW__USAGE_DATA_COLLECTION__ENABLED="False",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",
    )
    procs = Processes(workdir, env)

    def on_signal(signum: int, _frame: Any) -> None:
        raise SystemExit(f"stopped by signal {signum}")

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise TimeoutError(f"the benchmark ran past its limit of {args.time_limit_s:.0f} s")

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(int(args.time_limit_s))
    atexit.register(procs.stop_all)

    records: list[dict[str, Any]] = []
    status = 0
    try:
        version = _version()
        h.progress(f"Airflow {version}, AIRFLOW_HOME {workdir}, executor {executor}, SQLite")
        t = time.perf_counter()
        airflow_cli(env, workdir, "db", "migrate", timeout=600)
        h.progress(f"db migrate: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        procs.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(port))
        procs.start("dag-processor", "dag-processor")
        procs.start("scheduler", "scheduler")
        wait_for("the API server", lambda: api_healthy(port), procs, START_LIMIT_S)
        wait_for(
            "both DAGs parsed",
            lambda: (
                len(
                    query(
                        db,
                        "SELECT dag_id FROM serialized_dag WHERE dag_id IN"
                        " ('bench_tick', 'bench_backfill')",
                    )
                )
                == 2
            ),
            procs,
            START_LIMIT_S,
        )
        wait_for(
            "a scheduler heartbeat",
            lambda: query(
                db,
                "SELECT count(*) FROM job WHERE job_type = 'SchedulerJob' AND state = 'running'",
            )[0][0],
            procs,
            START_LIMIT_S,
        )
        h.progress(f"deployment up in {time.perf_counter() - t:.1f} s")
        common = {
            "airflow_version": version,
            "executor": executor,
            "database": "SQLite",
            "processes": "api-server, dag-processor, scheduler (all defaults otherwise)",
        }
        for group, bench in (("ticks", bench_ticks), ("backfill", bench_backfill)):
            if group in groups:
                _emit_all(bench(env, workdir, db, procs, args), common, records)
    except BaseException as error:  # report, clean up, exit non-zero
        status = 1
        h.progress(f"FAILED: {type(error).__name__}: {error}")
        for name in procs.started:
            h.progress(f"--- tail of {name}.log ---\n{procs.tail(name, 1500)}")
    finally:
        signal.alarm(0)
        procs.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            h.progress(f"kept {workdir}")

    if records:
        width = max(len(r["figure"]) for r in records)
        lines = [f"{'figure'.ljust(width)}  value", f"{'-' * width}  -----"]
        for r in records:
            extra = ""
            if r["detail"].get("extrapolated"):
                d = r["detail"]
                extra = (
                    f"  (EXTRAPOLATED from {d['intervals_run']} intervals:"
                    f" {d['measured_s']:.1f} s, {d['per_interval_s']:.2f} s each)"
                )
            lines.append(f"{r['figure'].ljust(width)}  {r['value']:.3f} {r['unit']}{extra}")
        print("\n".join(lines), file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(
            json.dumps({"tool": TOOL, "ok": status == 0, "figures": records}, indent=2) + "\n"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
