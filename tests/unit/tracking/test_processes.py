"""Several processes on one SQLite store, and processes that die in the middle of a run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import heron

WRITER = textwrap.dedent(
    """
    import sys, heron
    heron.set_tracking_uri(sys.argv[1])
    heron.set_experiment("concurrent")
    with heron.start_run(name=f"writer-{sys.argv[2]}"):
        for i in range(int(sys.argv[3])):
            heron.log_metric("m", float(i), step=i)
    print("done")
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HERON_TRACKING_URI", None)
    env.update(extra)
    return env


def test_eight_processes_logging_at_once_lose_nothing(workspace):
    points = 20_000
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, workspace, str(i), str(points)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(HERON_FLUSH_INTERVAL="0.05"),
        )
        for i in range(8)
    ]
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, err
        assert "locked" not in err.lower()
        assert out.strip() == "done"
    c = heron.Client()
    runs = c.search_runs(experiment="concurrent")
    assert len(runs) == 8
    assert {r.status for r in runs} == {"completed"}
    total = 0
    for r in runs:
        history = c.get_metric_history(r.id, "m")
        assert [m.step for m in history] == list(range(points))
        total += len(history)
        assert r.metrics["m"] == points - 1
    assert total == 160_000


KILLED = textwrap.dedent(
    """
    import sys, time, heron
    heron.set_tracking_uri(sys.argv[1])
    run = heron.start_run(name="doomed")
    for i in range(500):
        heron.log_metric("m", float(i), step=i)
    heron.Client().get_run(run.id)  # a read flushes what was logged so far
    print(run.id, flush=True)
    for i in range(500, 10**9):
        heron.log_metric("m", float(i), step=i)
        if i % 1000 == 0:
            time.sleep(0.001)
    """
)


def test_killed_process_run_becomes_failed_after_heartbeat_timeout(workspace, monkeypatch):
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED, workspace],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(HERON_HEARTBEAT_INTERVAL="0.1", HERON_FLUSH_INTERVAL="0.1"),
    )
    run_id = proc.stdout.readline().strip()
    assert run_id, proc.stderr.read()
    time.sleep(0.5)  # let a few more flushes and heartbeats happen
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)

    monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "1")
    c = heron.Client()
    time.sleep(1.5)
    run = c.get_run(run_id)
    assert run.status == "failed"
    assert "Heartbeat lost" in run.status_reason
    history = c.get_metric_history(run_id, "m")
    assert len(history) >= 500
    assert [m.step for m in history] == list(range(len(history)))


def test_live_run_is_not_failed_by_heartbeat_check(workspace, monkeypatch):
    # a generous margin (timeout = 15 heartbeat intervals) so a loaded machine cannot flake it
    monkeypatch.setenv("HERON_HEARTBEAT_TIMEOUT", "3")
    script = textwrap.dedent(
        """
        import sys, time, heron
        heron.set_tracking_uri(sys.argv[1])
        with heron.start_run() as run:
            print(run.id, flush=True)
            time.sleep(5)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, workspace],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(HERON_HEARTBEAT_INTERVAL="0.2"),
    )
    run_id = proc.stdout.readline().strip()
    time.sleep(4)  # longer than the timeout: only heartbeats keep the run alive
    assert heron.Client().get_run(run_id).status == "running"
    assert proc.wait(timeout=30) == 0
    assert heron.Client().get_run(run_id).status == "completed"


def test_unhandled_exception_at_exit_marks_run_failed(workspace):
    script = textwrap.dedent(
        """
        import sys, heron
        heron.set_tracking_uri(sys.argv[1])
        run = heron.start_run(name="crashes")
        heron.log_metric("m", 1.0)
        print(run.id, flush=True)
        raise RuntimeError("boom")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, workspace], capture_output=True, text=True, env=_env()
    )
    assert out.returncode == 1
    run = heron.Client().get_run(out.stdout.strip())
    assert run.status == "failed"
    assert "RuntimeError: boom" in run.status_reason
    assert run.metrics == {"m": 1.0}


def test_normal_exit_without_end_run_flushes_and_completes(workspace):
    script = textwrap.dedent(
        """
        import sys, heron
        heron.set_tracking_uri(sys.argv[1])
        run = heron.start_run()
        for i in range(5000):
            heron.log_metric("m", i, step=i)
        print(run.id, flush=True)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script, workspace], capture_output=True, text=True, env=_env()
    )
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.strip()
    assert heron.Client().get_run(run_id).status == "completed"
    assert len(heron.Client().get_metric_history(run_id, "m")) == 5000
