"""Issue 8, items 2, 3, 5 and 11: when a run is dead, when it comes back, reading a store
that cannot be written, and errors too long for a status reason."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import heron
from heron.core import owner as owners
from heron.core.entities import Metric
from heron.core.errors import InvalidState
from heron.core.ids import now_ms
from heron.store.sql import engine as sql_engine
from heron.store.sql.store import SqlStore


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HERON_TRACKING_URI", None)
    env.update(extra)
    return env


def _db(uri: str) -> Path:
    return Path(uri.removeprefix("sqlite:///"))


def _set_columns(uri: str, run_id: str, **columns: object) -> None:
    """Change a run's row behind the store's back (as another process would have left it)."""
    sql_engine.dispose_engines()
    with sqlite3.connect(_db(uri)) as conn:
        assignments = ", ".join(f"{k} = ?" for k in columns)
        conn.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*columns.values(), run_id])
    sql_engine.dispose_engines()


WRITES_AND_WAITS = textwrap.dedent(
    """
    import sys, heron
    heron.set_tracking_uri(sys.argv[1])
    run = heron.start_run(name="sleepy")
    for i in range(2000):
        heron.log_metric("m", float(i), step=i)
    heron.Client().get_run(run.id)  # a read flushes what was logged so far
    print(run.id, flush=True)
    sys.stdin.readline()
    for i in range(2000, 3000):
        heron.log_metric("m", float(i), step=i)
    heron.end_run()
    print("ended", flush=True)
    """
)


def _start(script: str, uri: str, **env: str) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", script, uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(**env),
    )
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    return proc, run_id


# --- item 3: a dead run is known dead at once on its own machine ------------------------------


def test_a_killed_run_is_failed_at_once_and_a_killed_pipeline_resumes_at_once(workspace):
    proc, run_id = _start(WRITES_AND_WAITS, workspace)  # default timeout: 120 s
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    run = heron.Client().get_run(run_id)  # no waiting for the heartbeat timeout

    assert run.status == "failed"
    assert run.status_reason.startswith("Heartbeat lost:")
    assert f"pid {proc.pid}" in run.status_reason and "gone" in run.status_reason
    assert len(heron.Client().get_metric_history(run_id, "m")) == 2000


PIPELINE = textwrap.dedent(
    """
    import os, sys, time
    import heron

    @heron.step
    def first() -> int:
        return 1

    @heron.step
    def second(x: int) -> int:
        if os.environ.get("HANG"):
            print("hanging", flush=True)
            time.sleep(600)
        return x + 1

    @heron.pipeline
    def chain():
        return second(first())
    """
)


def test_heron_runs_resume_works_right_after_a_crash(workspace, tmp_path):
    (tmp_path / "flow.py").write_text(PIPELINE)
    env = _env(HANG="1", HERON_TRACKING_URI=workspace)
    proc = subprocess.Popen(
        [sys.executable, "-m", "heron", "run", "flow.py:chain"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 60
    while "hanging" not in proc.stdout.readline():
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read()
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    (crashed,) = heron.Client().search_runs(filter="attributes.kind = 'pipeline'")
    assert crashed.status == "failed" and crashed.status_reason.startswith("Heartbeat lost:")

    env.pop("HANG")
    resumed = subprocess.run(
        [sys.executable, "-m", "heron", "runs", "resume", crashed.id],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    runs = heron.Client().search_runs(filter="attributes.kind = 'pipeline'")
    again = next(r for r in runs if r.id != crashed.id)
    assert again.status == "completed"
    assert again.tags["heron.resumed_from"] == crashed.id


def test_owner_liveness_is_judged_only_where_it_can_be(workspace):
    here = owners.machine()
    parent = os.getppid()
    with open(f"/proc/{parent}/stat") as f:
        started = f.read().rsplit(")", 1)[1].split()[19]

    assert not owners.owner_is_gone(owners.current_owner())
    assert not owners.owner_is_gone(f"{parent}:{started}@{here}")  # alive
    assert owners.owner_is_gone(f"{parent}:{int(started) + 1}@{here}")  # pid reused since
    assert not owners.owner_is_gone(f"{parent}:{started}@elsewhere:0:0")  # another machine
    assert not owners.owner_is_gone(None) and not owners.owner_is_gone("garbage")


def test_a_run_of_another_machine_waits_for_its_own_heartbeat_timeout(workspace):
    store = SqlStore(workspace)
    run = store.create_run(store.create_experiment("remote").id)
    _set_columns(workspace, run.id, owner="1:1@elsewhere:0:0", heartbeat_timeout=60_000)
    store = SqlStore(workspace)

    assert store.get_run(run.id).status == "running"  # within its 60 s
    _set_columns(workspace, run.id, heartbeat_at=now_ms() - 61_000)
    assert SqlStore(workspace).get_run(run.id).status == "failed"


# --- item 2: the writer's timeout decides, and a reaped live run comes back -----------------


def test_the_writers_timeout_decides_not_the_readers(workspace, monkeypatch):
    proc, run_id = _start(WRITES_AND_WAITS, workspace, HERON_HEARTBEAT_TIMEOUT="120")
    try:
        time.sleep(0.3)
        monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "0.05")  # an impatient reader
        assert heron.Client().get_run(run_id).status == "running"
        assert heron.Client().search_runs()[0].status == "running"
    finally:
        proc.communicate("go\n", timeout=60)
    assert heron.Client().get_run(run_id).status == "completed"


def test_a_paused_process_reaped_meanwhile_keeps_every_point_and_ends_its_run(workspace):
    proc, run_id = _start(
        WRITES_AND_WAITS, workspace, HERON_HEARTBEAT_TIMEOUT="1", HERON_FLUSH_INTERVAL="0.1"
    )
    os.kill(proc.pid, signal.SIGSTOP)  # a laptop suspend
    try:
        time.sleep(1.6)
        reaped = heron.Client().get_run(run_id)
        assert reaped.status == "failed" and reaped.status_reason.startswith("Heartbeat lost:")
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    out, err = proc.communicate("go\n", timeout=60)
    assert proc.returncode == 0 and "ended" in out, err

    run = heron.Client().get_run(run_id)
    assert run.status == "completed" and run.status_reason is None
    assert "came back" in run.tags["heron.interrupted"]
    assert "Heartbeat lost" in run.tags["heron.interrupted"]
    history = heron.Client().get_metric_history(run_id, "m")
    assert [m.step for m in history] == list(range(3000))


def test_a_reaped_run_comes_back_on_its_owners_heartbeat_or_next_points(workspace):
    store = SqlStore(workspace)
    exp = store.create_experiment("liveness")
    by_heartbeat = store.create_run(exp.id)
    by_points = store.create_run(exp.id)
    store.heartbeat([by_heartbeat.id, by_points.id], now=now_ms() - 60_000)
    assert store.fail_stale_runs(30_000) == 2

    store.heartbeat([by_heartbeat.id])
    store.log_batch(by_points.id, metrics=[Metric("m", 1.0, 0, now_ms())])

    for run_id in (by_heartbeat.id, by_points.id):
        run = store.get_run(run_id)
        assert run.status == "running" and run.end_time is None, run
        assert "heron.interrupted" in run.tags


def test_only_a_heartbeat_loss_of_this_process_is_undone(workspace):
    store = SqlStore(workspace)
    exp = store.create_experiment("liveness")
    failed = store.create_run(exp.id)
    store.update_run(failed.id, status="failed", status_reason="ValueError: real failure")
    someone_elses = store.create_run(exp.id)
    store.heartbeat([someone_elses.id], now=now_ms() - 60_000)
    store.fail_stale_runs(30_000)
    _set_columns(workspace, someone_elses.id, owner="1:1@elsewhere:0:0")
    store = SqlStore(workspace)

    for run_id in (failed.id, someone_elses.id):
        with pytest.raises(InvalidState, match="cannot move from status 'failed'"):
            store.log_batch(run_id, [Metric("m", 2.0, 1, now_ms())], status="completed")
        store.heartbeat([run_id])
        run = store.get_run(run_id)
        # the status stays failed, but the points of the refused write are kept
        assert run.status == "failed" and run.metrics == {"m": 2.0}
        assert "heron.interrupted" not in run.tags


# --- item 5: reading never needs write access ---------------------------------------------------


READER = textwrap.dedent(
    """
    import sys, heron
    client = heron.Client(sys.argv[1])
    (run,) = client.search_runs()
    print(run.status, client.get_run(run.id).status)
    """
)


def _drop_write_access(path: Path, folder_writable: bool) -> list[str]:
    """The command prefix that runs a command unable to write the database ``path`` (and,
    unless ``folder_writable``, its folder): as root, whom permissions do not stop, a
    read-only bind mount or another user; otherwise permissions do it."""
    if os.geteuid() != 0:
        return []
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    if unshare:
        target = path if folder_writable else path.parent
        mount = f"mount --bind -o ro {target} {target}"
        prefix = [unshare, "-m", "sh", "-c", f'{mount} && exec "$@"', "sh"]
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    if setpriv:
        prefix = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"]
        probe = [*prefix, sys.executable, "-c", "import heron"]
        if subprocess.run(probe, capture_output=True, env=_env(HOME="/tmp")).returncode == 0:
            return prefix
    pytest.skip("root without a way to drop write access (no mount namespace, no other user)")


def _as_reader_who_cannot_write(
    args: list[str], path: Path, folder_writable: bool
) -> subprocess.CompletedProcess:
    """Run ``args`` unable to write ``path`` (and, unless ``folder_writable``, its folder)."""
    path.chmod(0o444)
    path.parent.chmod(0o777 if folder_writable else 0o555)
    try:
        prefix = _drop_write_access(path, folder_writable)
        return subprocess.run(
            prefix + args, capture_output=True, text=True, env=_env(HOME="/tmp"), timeout=120
        )
    finally:
        path.parent.chmod(0o755)
        path.chmod(0o644)


@pytest.fixture
def open_folder():
    """A folder other users may enter (pytest's tmp_path is private to its owner)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="heron-ro-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("folder_writable", [True, False], ids=["file-read-only", "all-read-only"])
def test_searching_a_read_only_store_with_a_dead_run_works(workspace, open_folder, folder_writable):
    folder = open_folder
    uri = "sqlite:///" + str(folder / "heron.db")
    store = SqlStore(uri)
    run = store.create_run(store.create_experiment("ro").id)
    _set_columns(uri, run.id, heartbeat_at=now_ms() - 3_600_000)  # long dead
    db = folder / "heron.db"

    api = _as_reader_who_cannot_write([sys.executable, "-c", READER, uri], db, folder_writable)
    cli = _as_reader_who_cannot_write(
        [sys.executable, "-m", "heron", "--tracking-uri", uri, "runs", "list"],
        db,
        folder_writable,
    )

    assert api.returncode == 0, api.stderr
    assert api.stdout.split() == ["running", "running"]  # not reaped: it cannot write
    assert cli.returncode == 0, cli.stderr
    assert run.id[:8] in cli.stdout
    sql_engine.dispose_engines()
    assert SqlStore(uri).get_run(run.id).status == "failed"  # a writer reaps it


def test_reaping_is_skipped_with_a_debug_line_when_the_store_refuses_writes(
    workspace, monkeypatch, caplog
):
    from heron.core.errors import StoreNotWritable

    store = SqlStore(workspace)
    run = store.create_run(store.create_experiment("ro").id)
    store.heartbeat([run.id], now=now_ms() - 3_600_000)

    def refuse(engine, body):  # type: ignore[no-untyped-def]
        raise StoreNotWritable("The metadata database cannot be written.")

    monkeypatch.setattr(sql_engine, "run_write", refuse)
    with caplog.at_level("DEBUG", logger="heron.store.sql.liveness"):
        assert store.get_run(run.id).status == "running"
        assert [r.id for r in store.search_runs()] == [run.id]
    assert "cannot be written" in caplog.text


def test_get_run_does_not_loop_when_reaping_cannot_write(workspace, monkeypatch):
    store = SqlStore(workspace)
    run = store.create_run(store.create_experiment("ro").id)
    store.heartbeat([run.id], now=now_ms() - 3_600_000)
    monkeypatch.setattr(sql_engine, "run_write", lambda engine, body: 0)  # writes nothing

    assert store.get_run(run.id).status == "running"


# --- item 11: a huge error message ------------------------------------------------------------


def test_a_huge_error_is_cut_in_the_status_reason_and_kept_whole_in_the_logs(workspace):
    with pytest.raises(ValueError), heron.start_run() as run:
        raise ValueError("x" * 5_000_000 + "THE END")

    stored = heron.Client().get_run(run.id)
    assert stored.status == "failed"
    assert len(stored.status_reason) <= 4000
    assert stored.status_reason.startswith("ValueError: xxx")
    assert "characters cut" in stored.status_reason
    assert "THE END" in stored.status_reason  # the tail, where the error is named
    logs = heron.Client().get_logs(run.id)
    assert "THE END" in logs and len(logs) > 5_000_000


def test_the_store_bounds_any_status_reason(workspace):
    store = SqlStore(workspace)
    run = store.create_run(store.create_experiment("long").id)

    store.update_run(run.id, status="failed", status_reason="a" * 100_000 + "tail")

    reason = store.get_run(run.id).status_reason
    assert len(reason) <= 4000 and reason.endswith("tail") and "characters cut" in reason
