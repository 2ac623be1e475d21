"""How one step executes inside a pipeline: logging, params, captured output, failures,
retries, timeouts, storing odd values, worker deaths and Ctrl-C — read back from the store."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

import pytest

import heron
from heron.artifacts.loading import store_holding
from heron.pipelines.pipeline import pipeline
from heron.pipelines.step import step
from heron.store import active_run

# --- steps (module level: worker processes receive them by reference) ------------------------


@step
def source(n: int) -> int:
    return n


@step
def add(x: int, k: int) -> int:
    return x + k


@step
def square(x: int) -> int:
    return x * x


@step
def measured(n: int) -> int:
    for i in range(n):
        heron.log_metric("progress", i / n, step=i)
    heron.log_metric("count", n)
    return n


@step
def chatty(n: int) -> int:
    import sys

    print(f"hello from stdout {n}")
    print(f"warning on stderr {n}", file=sys.stderr)
    return n


@step
def configured(rate: float, label: str, sizes: list, options: dict) -> str:
    return label


@step
def boom(x: int) -> int:
    print("about to fail")
    raise ValueError(f"boom on {x}")


@step(retries=2, retry_delay=0)
def flaky(counter: str) -> str:
    path = Path(counter)
    attempt = int(path.read_text()) + 1 if path.exists() else 1
    path.write_text(str(attempt))
    if attempt < 3:
        raise RuntimeError(f"flaky attempt {attempt}")
    return f"ok after {attempt}"


@step(timeout=0.3)
def sleepy() -> int:
    time.sleep(5)
    return 1


@step(timeout=5)
def quick_with_timeout() -> int:
    return 1


@step(timeout=5)
def measured_with_timeout(n: int) -> int:
    heron.log_metric("count", n)
    print(f"timed step says {n}")
    return n


@step(outputs=("a", "b"))
def pair(how_many: int):
    return tuple(range(how_many)) if how_many != 1 else 0


@dataclass
class Point:
    x: int
    y: int


@step
def make_point() -> Point:
    return Point(1, 2)


@step
def make_lock():
    return threading.Lock()


@step
def numbers_a() -> list[int]:
    return [1, 2, 3]


@step
def numbers_b() -> list[int]:
    return [1, 2, 3]


@step
def victim(pid_file: str) -> int:
    write_pid(pid_file)
    time.sleep(30)
    return 1


@step
def slow_ok(pid_file: str) -> int:
    write_pid(pid_file)
    time.sleep(1.5)
    return 7


@step
def interrupted(x: int) -> int:
    raise KeyboardInterrupt


def write_pid(pid_file: str) -> None:
    tmp = f"{pid_file}.tmp"
    Path(tmp).write_text(str(os.getpid()))
    os.replace(tmp, pid_file)


def read_pid(pid_file: Path, deadline: float) -> int | None:
    while time.monotonic() < deadline:
        if pid_file.exists():
            return int(pid_file.read_text())
        time.sleep(0.01)
    return None


def stored_logs(run) -> str:
    uri = run.tags["heron.logs"]
    blobs, content_hash = store_holding(uri)
    return blobs.read_bytes(content_hash).decode()


# --- plain functions, logging, params, captured output ---------------------------------------


def test_outside_a_pipeline_a_step_is_the_plain_function(client):
    assert add(1, k=2) == 3
    assert add(1, k=2, after=None) == 3
    assert square.fn(4) == 16
    assert configured(0.1, "x", [1], {}) == "x"
    assert client.search_runs() == []  # nothing was recorded


@pytest.mark.parametrize("parallelism", [1, 2])
def test_log_metric_inside_a_step_logs_to_the_step_run(parallelism, client):
    @pipeline
    def metrics():
        measured(4)

    run = metrics.with_options(parallelism=parallelism)()
    assert run.status == "completed"
    step_run = client.get_run(run.steps["measured"].id)
    assert step_run.metrics == {"progress": 0.75, "count": 4.0}
    history = client.get_metric_history(step_run.id, "progress")
    assert [(m.step, m.value) for m in history] == [(0, 0.0), (1, 0.25), (2, 0.5), (3, 0.75)]
    assert client.get_run(run.id).metrics == {}  # nothing leaked onto the pipeline run


def test_step_and_pipeline_parameters_are_recorded_as_run_params(client):
    @pipeline
    def params(rate: float = 0.5):
        configured(rate, "fast", [1, 2], {"b": 1, "a": None})

    run = params(rate=0.25)
    assert run.status == "completed"
    assert client.get_run(run.steps["configured"].id).params == {
        "rate": "0.25",
        "label": "fast",
        "sizes": "[1, 2]",
        "options": '{"a": null, "b": 1}',
    }
    assert client.get_run(run.id).params == {"rate": "0.25"}


@pytest.mark.parametrize("parallelism", [1, 2])
def test_stdout_and_stderr_are_captured_and_stored(parallelism, client, capsys):
    @pipeline
    def talk():
        chatty(7)

    run = talk.with_options(parallelism=parallelism)()
    assert run.status == "completed"
    logs = stored_logs(client.get_run(run.steps["chatty"].id))
    assert "hello from stdout 7\n" in logs
    assert "warning on stderr 7\n" in logs
    if parallelism == 1:  # still shown while it runs
        assert "hello from stdout 7" in capsys.readouterr().out


def test_a_step_that_prints_nothing_stores_no_logs(client):
    @pipeline
    def quiet():
        source(1)

    run = quiet()
    assert "heron.logs" not in client.get_run(run.steps["source"].id).tags


# --- failures ----------------------------------------------------------------------------------


def test_failing_step_fails_the_run_skips_dependants_and_keeps_independent_steps(client):
    @pipeline
    def broken():
        start = source(3)
        square(add(boom(start), k=1))  # add and square depend on the failure
        add(start, k=10)  # add_2 does not

    run = broken.with_options(raise_on_failure=False)()
    assert run.status == "failed"
    assert run.failed_steps == ["boom"]
    assert {n: s.status for n, s in run.steps.items()} == {
        "source": "completed",
        "boom": "failed",
        "add": "skipped",
        "square": "skipped",
        "add_2": "completed",
    }
    assert run.steps["add_2"].outputs["output"].load() == 13

    failed = client.get_run(run.steps["boom"].id)
    assert failed.status == "failed"
    assert failed.status_reason.startswith("ValueError: boom on 3")
    assert "Traceback (most recent call last)" in failed.status_reason
    assert 'raise ValueError(f"boom on {x}")' in failed.status_reason
    assert "about to fail" in stored_logs(failed)  # output printed before the failure is kept
    assert run.steps["boom"].error == failed.status_reason
    assert client.list_artifacts(name="boom.output") == []

    for name in ("add", "square"):
        skipped = client.get_run(run.steps[name].id)
        assert skipped.status == "skipped" and skipped.kind == "step"
        assert skipped.parent_id == run.id
        assert "depends on" in skipped.status_reason
    assert "boom" in client.get_run(run.steps["add"].id).status_reason
    assert "add" in client.get_run(run.steps["square"].id).status_reason

    pipeline_run = client.get_run(run.id)
    assert pipeline_run.status == "failed"
    assert "boom" in pipeline_run.status_reason
    assert "ValueError: boom on 3" in pipeline_run.status_reason


# --- retries -----------------------------------------------------------------------------------


def test_flaky_step_is_retried_until_it_succeeds(client, tmp_path):
    counter = tmp_path / "attempts"

    @pipeline
    def retried():
        flaky(str(counter))

    run = retried()
    assert run.status == "completed"
    assert run.steps["flaky"].outputs["output"].load() == "ok after 3"
    step_run = client.get_run(run.steps["flaky"].id)
    assert step_run.status == "completed"
    assert step_run.tags["heron.attempts"] == "3"
    logs = stored_logs(step_run)
    assert "attempt 1 failed: RuntimeError: flaky attempt 1" in logs
    assert "attempt 2 failed: RuntimeError: flaky attempt 2" in logs


def test_step_fails_when_its_retries_are_exhausted(client, tmp_path):
    counter = tmp_path / "attempts"
    once = flaky.with_options(retries=1)

    @pipeline
    def exhausted():
        once(str(counter))

    run = exhausted.with_options(raise_on_failure=False)()
    assert run.status == "failed"
    step_run = client.get_run(run.steps["flaky"].id)
    assert step_run.status == "failed"
    assert step_run.tags["heron.attempts"] == "2"
    assert step_run.status_reason.startswith("RuntimeError: flaky attempt 2")
    assert counter.read_text() == "2"


def test_retry_delays_grow_by_the_backoff_factor(client, tmp_path):
    counter = tmp_path / "attempts"
    backing_off = flaky.with_options(retries=2, retry_delay=0.05, backoff=2.0)

    @pipeline
    def patient():
        backing_off(str(counter))

    started = time.monotonic()
    run = patient()
    elapsed = time.monotonic() - started
    assert run.status == "completed"
    assert elapsed >= 0.05 + 0.1
    logs = stored_logs(client.get_run(run.steps["flaky"].id))
    assert "retrying in 0.05 s" in logs
    assert "retrying in 0.1 s" in logs


# --- timeouts ----------------------------------------------------------------------------------


@contextmanager
def no_other_alarm():
    """Suspend any SIGALRM timer set around the test (pytest-timeout's), then restore it."""
    previous = signal.setitimer(signal.ITIMER_REAL, 0)
    try:
        yield
    finally:
        if previous[0]:
            signal.setitimer(signal.ITIMER_REAL, *previous)


@pytest.mark.parametrize(
    ("parallelism", "other_alarm"),
    [(1, True), (1, False), (2, True)],
    ids=["in-process", "in-process-no-other-alarm", "worker-processes"],
)
def test_step_running_past_its_timeout_fails(parallelism, other_alarm, client):
    @pipeline
    def slow():
        sleepy()
        source(1)

    started = time.monotonic()
    with nullcontext() if other_alarm else no_other_alarm():
        run = slow.with_options(parallelism=parallelism, raise_on_failure=False)()
    assert time.monotonic() - started < 4  # stopped, not waited for
    assert run.status == "failed"
    assert run.steps["source"].status == "completed"
    step_run = client.get_run(run.steps["sleepy"].id)
    assert step_run.status == "failed"
    assert "timeout of 0.3 s" in step_run.status_reason
    assert "StepTimeout" in step_run.status_reason


def test_step_timeout_leaves_an_enclosing_alarm_running(client):
    """A program (or pytest-timeout) with its own SIGALRM timer keeps it across a timed step."""
    fired: list[int] = []
    old_handler = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    old_timer = signal.setitimer(signal.ITIMER_REAL, 60)
    try:

        @pipeline
        def timed():
            quick_with_timeout()

        run = timed()
        remaining = signal.getitimer(signal.ITIMER_REAL)[0]
        handler = signal.getsignal(signal.SIGALRM)
    finally:
        signal.setitimer(signal.ITIMER_REAL, *old_timer)
        signal.signal(signal.SIGALRM, old_handler)
    assert run.status == "completed"
    assert handler is not old_handler and not fired
    assert 50 < remaining <= 60, "the step's timeout cancelled the caller's alarm"


@pytest.mark.parametrize(
    ("parallelism", "other_alarm"),
    [(1, True), (1, False), (2, True)],
    ids=["in-process", "in-process-no-other-alarm", "worker-processes"],
)
def test_step_with_a_timeout_still_logs_to_its_own_run(parallelism, other_alarm, client):
    """Whichever way the timeout is enforced (an alarm, or a helper thread when another alarm
    is set), heron.log_metric inside the step reaches the step's run."""

    @pipeline
    def timed_metrics():
        measured_with_timeout(3)

    with nullcontext() if other_alarm else no_other_alarm():
        run = timed_metrics.with_options(parallelism=parallelism)()
    assert run.status == "completed", run.steps["measured_with_timeout"].error
    step_run = client.get_run(run.steps["measured_with_timeout"].id)
    assert step_run.metrics == {"count": 3.0}
    assert "timed step says 3" in stored_logs(step_run)
    assert client.get_run(run.id).metrics == {}
    assert [r.kind for r in client.search_runs() if r.kind == "run"] == []  # no stray run


# --- outputs -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("how_many", "got"), [(3, "returned 3 values"), (1, "returned one value")])
def test_wrong_number_of_returned_values_fails_the_step(how_many, got, client):
    @pipeline
    def mismatched():
        pair(how_many)

    run = mismatched.with_options(raise_on_failure=False)()
    assert run.status == "failed"
    reason = client.get_run(run.steps["pair"].id).status_reason
    assert "declares 2 outputs ['a', 'b']" in reason
    assert got in reason
    assert client.list_artifacts(name="pair.a") == []


def test_object_without_materializer_is_pickled_with_a_warning(client, caplog):
    @pipeline
    def custom():
        make_point()

    with caplog.at_level(logging.WARNING, logger="heron.artifacts.materializers"):
        run = custom()
    assert run.status == "completed"
    artifact = run.steps["make_point"].outputs["output"]
    assert artifact.materializer == "cloudpickle"
    type_name = f"{Point.__module__}.{Point.__qualname__}"
    assert artifact.type == type_name
    assert client.get_artifact("make_point.output").load() == Point(1, 2)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(type_name in w and "cloudpickle" in w for w in warnings), warnings


def test_unpicklable_return_value_fails_naming_the_type_and_the_fix(client):
    @pipeline
    def locked():
        make_lock()

    run = locked.with_options(raise_on_failure=False)()
    assert run.status == "failed"
    reason = client.get_run(run.steps["make_lock"].id).status_reason
    lock_type = type(threading.Lock())
    assert f"{lock_type.__module__}.{lock_type.__qualname__}" in reason
    assert "register_materializer" in reason
    assert client.list_artifacts(name="make_lock.output") == []


def test_identical_bytes_from_two_pipelines_are_stored_once(client, workspace):
    @pipeline
    def first():
        numbers_a()

    @pipeline
    def second():
        numbers_b()

    a = first().steps["numbers_a"].outputs["output"]
    b = second().steps["numbers_b"].outputs["output"]
    assert (a.name, b.name) == ("numbers_a.output", "numbers_b.output")
    assert a.id != b.id
    assert a.content_hash == b.content_hash and a.uri == b.uri
    assert workspace.stored_objects() == {a.content_hash}
    assert workspace.stored_files() == 1
    assert a.load() == b.load() == [1, 2, 3]


# --- worker deaths and interruptions ------------------------------------------------------------


def kill_when(pid_file: Path, ready: threading.Event, killed: list[int]) -> threading.Thread:
    """Kill the process whose pid appears in ``pid_file`` once ``ready`` is set."""

    def killer() -> None:
        deadline = time.monotonic() + 15
        pid = read_pid(pid_file, deadline)
        ready.wait(max(0.0, deadline - time.monotonic()))
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    return thread


def test_killed_worker_fails_its_step_and_the_run_while_independent_steps_finish(
    client, tmp_path, workspace
):
    pid_file = tmp_path / "victim.pid"
    independent_done = threading.Event()

    @pipeline
    def doomed():
        add(victim(str(pid_file)), k=1)
        square(source(3))

    def on_event(kind, node_id, _outcome):
        if kind == "end" and node_id == "square":
            independent_done.set()

    killed: list[int] = []
    killer = kill_when(pid_file, independent_done, killed)
    started = time.monotonic()
    run = doomed.with_options(parallelism=2, raise_on_failure=False)(on_event=on_event)
    killer.join(5)
    assert killed, "the victim never started"
    assert time.monotonic() - started < 15

    assert run.status == "failed"
    assert run.failed_steps == ["victim"]
    assert run.steps["source"].status == "completed"
    assert run.steps["square"].status == "completed"
    assert run.steps["square"].outputs["output"].load() == 9
    assert run.steps["add"].status == "skipped"

    lost = client.get_run(run.steps["victim"].id)
    assert lost.status == "failed" and lost.kind == "step" and lost.parent_id == run.id
    assert "worker process" in lost.status_reason
    pipeline_run = client.get_run(run.id)
    assert pipeline_run.status == "failed"
    assert "victim" in pipeline_run.status_reason

    assert client.list_artifacts(name="victim.output") == []
    assert client.list_run_artifacts(lost.id) == []
    recorded = {av.content_hash for av in client.list_artifacts()}
    assert workspace.stored_objects() <= recorded  # nothing half-written in objects/


def test_killed_worker_does_not_fail_a_step_running_beside_it(client, tmp_path):
    victim_pid = tmp_path / "victim.pid"
    neighbour_pid = tmp_path / "neighbour.pid"
    neighbour_started = threading.Event()

    def wait_for_neighbour() -> None:
        if read_pid(neighbour_pid, time.monotonic() + 10) is not None:
            neighbour_started.set()

    threading.Thread(target=wait_for_neighbour, daemon=True).start()

    @pipeline
    def crowded():
        victim(str(victim_pid))
        slow_ok(str(neighbour_pid))

    killed: list[int] = []
    killer = kill_when(victim_pid, neighbour_started, killed)
    with pytest.raises(heron.PipelineRunFailed) as failure:
        crowded.with_options(parallelism=2)()
    run = failure.value.run
    killer.join(5)
    assert killed, "the victim never started"

    assert run.status == "failed"
    assert run.steps["slow_ok"].status == "completed", run.steps["slow_ok"].error
    assert run.failed_steps == ["victim"]
    assert run.steps["slow_ok"].outputs["output"].load() == 7


def test_keyboard_interrupt_in_a_step_cancels_the_step_and_the_run(client):
    @pipeline
    def interruptible():
        add(interrupted(source(1)), k=1)

    with pytest.raises(KeyboardInterrupt):
        interruptible()

    runs = {r.name: r for r in client.search_runs(experiment="interruptible")}
    pipeline_run = next(r for r in runs.values() if r.kind == "pipeline")
    assert pipeline_run.status == "cancelled"
    assert "KeyboardInterrupt" in pipeline_run.status_reason
    assert runs["source"].status == "completed"
    step_run = runs["interrupted"]
    assert step_run.kind == "step" and step_run.parent_id == pipeline_run.id
    assert step_run.status == "cancelled"
    assert "KeyboardInterrupt" in step_run.status_reason
    assert "add" not in runs  # never started
    assert active_run.current() is None  # nothing left active in this thread
