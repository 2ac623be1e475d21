"""Workers of ``heron run --parallelism N`` whose parent is killed (issue 8, item 1).

The parent is SIGKILLed while a worker runs a step. The worker must notice, record the step
as cancelled and exit (no ``BrokenPipeError``), and what the workers committed must still be
there after a third process has opened and closed the store: forked workers shared the
parent's SQLite state and lost such commits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PIPELINE = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

    import heron
    from heron import pipeline, step


    @step
    def first() -> int:
        heron.log_metric("m", 1.0)
        return 41


    @step
    def second(x: int) -> int:
        Path(os.environ["HERON_TEST_MARK"]).write_text(str(os.getpid()))
        time.sleep(300)  # the parent is killed meanwhile
        return x + 1


    @pipeline
    def p():
        second(first())
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _wait_for(condition, limit: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def _heron(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "heron", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_workers_of_a_killed_parent_exit_and_keep_their_commits(tmp_path: Path) -> None:
    (tmp_path / "pipe.py").write_text(PIPELINE)
    mark = tmp_path / "mark"
    db = tmp_path / "heron.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env.update(
        HERON_HOME=str(tmp_path / "home"),
        HERON_TEST_MARK=str(mark),
        HERON_TRACKING_URI=f"sqlite:///{db}",
    )
    stderr = tmp_path / "stderr.txt"
    with stderr.open("w") as err:
        parent = subprocess.Popen(
            [sys.executable, "-m", "heron", "run", "pipe.py:p", "--parallelism", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    worker = None
    try:
        assert _wait_for(lambda: mark.exists() and mark.read_text().strip() != ""), (
            stderr.read_text()
        )
        worker = int(mark.read_text())
        parent.kill()
        parent.wait()

        assert _wait_for(lambda: not _alive(worker)), "the worker outlived its parent"
        worker = None
        # A third process opens and closes the store (it once threw the workers' commits away).
        _heron(env, "runs", "list")
        _heron(env, "runs", "list")
        runs = {r["name"]: r for r in json.loads(_heron(env, "runs", "list", "--json"))}
        assert runs["first"]["status"] == "completed"
        assert runs["second"]["status"] == "cancelled"  # written after the parent died
        assert "gone" in runs["second"]["status_reason"]
        names = {a["name"] for a in json.loads(_heron(env, "artifacts", "list", "--json"))}
        assert "first.output" in names
        errors = stderr.read_text()
        assert "BrokenPipeError" not in errors
        assert "Traceback" not in errors
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if worker is not None and _alive(worker):
            os.kill(worker, signal.SIGKILL)


def test_workers_do_not_share_the_parents_sqlite_state(tmp_path: Path) -> None:
    """A worker is a fresh interpreter, not a fork of a process that has SQLite open (a
    fork inherits SQLite's in-process locks and loses commits, see above)."""
    script = textwrap.dedent(
        f"""
        import os
        import sys
        import heron
        from heron import pipeline, step

        @step
        def where() -> list:
            return [os.getpid(), os.getppid(), "heron_test_parent_only" in sys.modules]

        @pipeline
        def p():
            where()

        heron.set_tracking_uri({str(tmp_path / "heron.db")!r})
        with heron.start_run():  # the parent has the store open before the workers start
            heron.log_metric("x", 1.0)
        sys.modules["heron_test_parent_only"] = sys  # what a fork would inherit
        run = p.with_options(parallelism=2)()
        pid, ppid, inherited = run.steps["where"].outputs["output"].load()
        assert ppid == os.getpid() and pid != os.getpid()
        assert not inherited, "the worker is a fork of this process"

        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERON_")}
    env["HERON_HOME"] = str(tmp_path / "home")
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
