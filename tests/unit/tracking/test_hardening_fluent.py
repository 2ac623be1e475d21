"""Issue 8, items 12 and 13: how runs end on ``sys.exit``, and where threads log."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

import heron
from heron.store.active_run import is_clean_exit

# --- item 12: sys.exit inside `with heron.start_run()` ---------------------------------------


@pytest.mark.parametrize("code", [0, None, False])
def test_a_clean_sys_exit_in_the_block_completes_the_run(code):
    with pytest.raises(SystemExit), heron.start_run() as run:
        heron.log_metric("m", 1.0)
        sys.exit(code)
    got = heron.Client().get_run(run.id)
    assert got.status == "completed"
    assert got.status_reason is None
    assert got.metrics == {"m": 1.0}


def test_sys_exit_without_a_code_completes_the_run():
    with pytest.raises(SystemExit), heron.start_run() as run:
        sys.exit()
    assert heron.Client().get_run(run.id).status == "completed"


@pytest.mark.parametrize(("code", "reason"), [(3, "SystemExit: 3"), ("boom", "SystemExit: boom")])
def test_a_failing_sys_exit_in_the_block_fails_the_run(code, reason):
    with pytest.raises(SystemExit), heron.start_run() as run:
        sys.exit(code)
    got = heron.Client().get_run(run.id)
    assert got.status == "failed"
    assert got.status_reason.startswith(reason)


def test_other_errors_still_fail_the_run_and_ctrl_c_cancels_it():
    with pytest.raises(ValueError), heron.start_run() as failed:
        raise ValueError("bad")
    with pytest.raises(KeyboardInterrupt), heron.start_run() as cancelled:
        raise KeyboardInterrupt
    assert heron.Client().get_run(failed.id).status == "failed"
    assert heron.Client().get_run(cancelled.id).status == "cancelled"
    assert not is_clean_exit(ValueError()) and not is_clean_exit(SystemExit(1))


def test_a_script_that_exits_0_inside_its_run_exits_0_with_the_run_completed(tmp_path, workspace):
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            import heron

            heron.set_tracking_uri({workspace!r})
            with heron.start_run(name="exits") as run:
                heron.log_metric("acc", 0.9)
                print(run.id)
                sys.exit(0)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    got = heron.Client().get_run(done.stdout.strip())
    assert (got.status, got.metrics) == ("completed", {"acc": 0.9})


# --- item 13: threads log to the active run ---------------------------------------------------


def _in_thread(target) -> None:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as e:  # re-raised in the test's thread
            errors.append(e)

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(60)
    assert not thread.is_alive()
    if errors:
        raise errors[0]


def _runs() -> list:
    return heron.Client().search_runs(max_results=100)


def test_a_background_thread_logs_to_the_active_run():
    with heron.start_run() as run:
        heron.log_metric("main", 1.0)

        def worker() -> None:
            assert heron.active_run().id == run.id
            for i in range(5):
                heron.log_metric("thread", float(i), step=i)
            heron.log_param("from_thread", "yes")
            heron.set_tag("t", "x")

        _in_thread(worker)
    got = heron.Client().get_run(run.id)
    assert got.metrics == {"main": 1.0, "thread": 4.0}
    assert got.params == {"from_thread": "yes"}
    assert got.tags["t"] == "x"
    assert [m.step for m in heron.Client().get_metric_history(run.id, "thread")] == [0, 1, 2, 3, 4]
    assert [r.id for r in _runs()] == [run.id]  # no second run was started


def test_a_thread_pool_logs_to_the_active_run():
    with heron.start_run() as run, ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: heron.log_metric(f"k{i}", float(i)), range(8)))
    assert heron.Client().get_run(run.id).metrics == {f"k{i}": float(i) for i in range(8)}
    assert len(_runs()) == 1


def test_a_thread_logs_to_the_innermost_run_of_the_main_thread():
    with heron.start_run() as parent, heron.start_run(nested=True) as child:
        _in_thread(lambda: heron.log_metric("x", 1.0))
    assert heron.Client().get_run(child.id).metrics == {"x": 1.0}
    assert heron.Client().get_run(parent.id).metrics == {}


def test_a_run_started_explicitly_in_a_thread_is_its_own():
    seen: dict[str, str] = {}
    with heron.start_run() as main:

        def worker() -> None:
            with heron.start_run(name="own") as own:
                seen["own"] = own.id
                heron.log_metric("x", 2.0)
                with heron.start_run(nested=True) as inner:
                    seen["inner"] = inner.id
            with heron.start_run(nested=True) as child:
                seen["child"] = child.id
                heron.log_metric("y", 3.0)
            heron.log_metric("z", 4.0)  # back to the main thread's run

        _in_thread(worker)
        heron.log_metric("main", 1.0)
        assert heron.active_run().id == main.id
    client = heron.Client()
    own, inner, child = (client.get_run(seen[k]) for k in ("own", "inner", "child"))
    assert (own.name, own.parent_id, own.status, own.metrics) == (
        "own",
        None,
        "completed",
        {"x": 2.0},
    )
    assert inner.parent_id == own.id
    assert (child.parent_id, child.metrics) == (main.id, {"y": 3.0})
    got = client.get_run(main.id)
    assert (got.status, got.metrics) == ("completed", {"z": 4.0, "main": 1.0})


def test_end_run_in_a_thread_does_not_end_the_run_it_inherits():
    with heron.start_run() as run:
        _in_thread(heron.end_run)
        heron.log_metric("after", 1.0)
        assert heron.Client().get_run(run.id).status == "running"
    got = heron.Client().get_run(run.id)
    assert (got.status, got.metrics) == ("completed", {"after": 1.0})


def test_a_run_ended_by_handle_from_a_thread_leaves_the_main_stack():
    run = heron.start_run()
    _in_thread(lambda: heron.end_run(run=heron.active_run()))
    assert heron.active_run() is None
    assert heron.Client().get_run(run.id).status == "completed"


def test_a_thread_with_no_active_run_anywhere_starts_its_own():
    seen: dict[str, str] = {}

    def worker() -> None:
        heron.log_metric("x", 1.0)
        seen["run"] = heron.active_run().id
        heron.end_run()

    _in_thread(worker)
    assert heron.active_run() is None
    got = heron.Client().get_run(seen["run"])
    assert (got.status, got.metrics) == ("completed", {"x": 1.0})


def test_a_thread_started_inside_a_pipeline_step_logs_to_the_step_run():
    @heron.step
    def train(n: int) -> int:
        def worker() -> None:
            for i in range(n):
                heron.log_metric("loss", 1.0 / (i + 1), step=i)

        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        return n

    @heron.step(timeout=60)
    def evaluate(n: int) -> int:  # with a timeout the step may run in a thread of its own
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda i: heron.log_metric(f"acc{i}", 0.5), range(2)))
        return n

    @heron.pipeline
    def threaded(n: int = 3):
        evaluate(train(n))

    result = threaded()
    assert result.status == "completed"
    step = result.steps["train"].run
    assert step.metrics == {"loss": pytest.approx(1 / 3)}
    assert result.steps["evaluate"].run.metrics == {"acc0": 0.5, "acc1": 0.5}
    assert result.run.metrics == {}
    kinds = sorted(r.kind for r in heron.Client().search_runs(max_results=100))
    assert kinds == ["pipeline", "step", "step"]  # no stray runs from the threads
