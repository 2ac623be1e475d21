"""The Dask orchestrator on a LocalCluster of 2 worker processes shared by the module.

The module's cluster allows worker failures as Dask does by default (a killed worker's task
would run again elsewhere), so the tests also show that Heron never runs a step twice; the
LocalCluster the orchestrator starts itself fails such a task at once.
"""

from __future__ import annotations

import os
import socket
import sys
import textwrap
import time

import pytest

import heron
from heron.core import config
from heron.core.errors import ConfigError, InvalidArgument
from heron.orchestrators import make_orchestrator
from heron.store import log_buffer, registry
from heron.tracking import fluent

distributed = pytest.importorskip("distributed")

from heron.orchestrators import dask as dask_orchestrator  # noqa: E402

pytestmark = pytest.mark.timeout(120)

MODULE = "heron_dask_test_flows"

FLOWS = textwrap.dedent(
    """
    import os
    import sys
    import time
    from pathlib import Path

    import numpy as np

    from heron import pipeline, step


    @step
    def source(n: int) -> list:
        return list(range(n))


    @step
    def double(xs: list) -> list:
        return [2 * x for x in xs]


    @step
    def total(xs: list) -> int:
        return sum(xs)


    @step(outputs=("evens", "odds"))
    def split(xs: list):
        return xs[::2], xs[1::2]


    @step
    def join(a: list, b: list) -> int:
        return sum(a) - sum(b)


    @step(retries=1, retry_delay=0)
    def boom(xs: list) -> list:
        raise ValueError("boom: this branch fails")


    @step
    def die(xs: list) -> list:
        os.kill(os.getpid(), 9)
        return xs


    @step
    def shout(xs: list) -> int:
        print("hello from a dask worker", os.getpid())
        print("and to stderr", file=sys.stderr)
        return len(xs)


    @step
    def needy(marker: str) -> int:
        Path(marker).write_text("ran")
        return 1


    @step
    def big(n: int):
        return np.full(n, 1.0)


    @step(cache=False)
    def measure(array) -> list:
        # an array read from the artifact store comes back memory-mapped (np.memmap)
        return [float(array.sum()), type(array).__name__]


    @step
    def ticking(marker: str) -> int:
        for i in range(600):
            Path(marker).write_text(str(i))
            time.sleep(0.05)
        return 0


    @pipeline
    def linear(n: int = 6):
        total(double(source(n)))


    @pipeline
    def diamond(n: int = 6):
        evens, odds = split(source(n))
        join(double(evens), double(odds))


    @pipeline
    def failing(n: int = 6):
        xs = source(n)
        total(boom(xs))
        total(double(xs))


    @pipeline
    def killed(n: int = 6):
        xs = source(n)
        total(die(xs))
        total(double(xs))


    @pipeline
    def printing(n: int = 3):
        shout(source(n))


    @pipeline
    def handover(n: int):
        measure(big(n))


    @pipeline
    def stalled(marker: str):
        ticking(marker)
        source(3)
    """
)


@pytest.fixture(scope="module")
def flows(tmp_path_factory):
    """The pipelines above, in a module on sys.path (workers import it by name)."""
    folder = tmp_path_factory.mktemp("dask-flows")
    (folder / f"{MODULE}.py").write_text(FLOWS)
    sys.path.insert(0, str(folder))
    import importlib

    module = importlib.import_module(MODULE)
    yield module
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


@pytest.fixture(scope="module")
def cluster():
    """The module's LocalCluster: 2 worker processes of 1 thread, each declaring GPU=1."""
    started = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        resources={"GPU": 1},
        dashboard_address=None,
        host="127.0.0.1",
        # Dask's default number of allowed failures, whatever the config says; no port 8787
        scheduler_kwargs={"allowed_failures": 3, "dashboard_address": "127.0.0.1:0"},
    )
    try:
        yield started.scheduler_address
    finally:
        started.close()


@pytest.fixture
def on_dask(cluster):
    """``with_options`` keywords that run a pipeline on the module's cluster."""
    return {"orchestrator": "dask", "orchestrator_options": {"address": cluster}}


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    """A fresh SQLite store and artifact root under tmp_path for each test."""
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    for var in ("HERON_TRACKING_URI", "HERON_ARTIFACT_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    _use_store(tmp_path / "dask")
    yield tmp_path
    while fluent.active_run() is not None:
        fluent.end_run()
    log_buffer.flush_all(raise_errors=False)
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    config.set_artifact_uri(None)
    registry.forget_stores()


def _use_store(folder):
    folder.mkdir(parents=True, exist_ok=True)
    heron.set_tracking_uri("sqlite:///" + str(folder / "heron.db"))


def _record(run) -> dict:
    """What a pipeline run recorded, in terms that do not depend on where it ran."""
    store = heron.Client().store
    steps = {}
    for name, step_run in sorted(run.steps.items()):
        inputs = []
        if step_run.status in ("completed", "cached", "failed"):
            for link in store.list_artifact_links(run_id=step_run.id):
                if link.direction == "input":
                    inputs.append((link.name, store.get_artifact_version(link.artifact_id).name))
        steps[name] = {
            "status": step_run.status,
            "outputs": {k: av.content_hash for k, av in step_run.outputs.items()},
            "inputs": sorted(inputs),
            "error": (step_run.error or "").split(":")[0] or None,
        }
    return {"status": run.status, "steps": steps}


def _step_runs(pipeline_run_id: str, name: str) -> list:
    store = heron.Client().store
    runs = []
    for experiment in store.list_experiments():
        runs += store.search_runs(experiment_ids=[experiment.id])
    return [r for r in runs if r.parent_id == pipeline_run_id and r.name == name]


def test_linear_and_diamond_runs_record_what_local_runs_do(flows, on_dask, workspace):
    records = {}
    for engine, options in (("local", {"orchestrator": "local"}), ("dask", on_dask)):
        _use_store(workspace / engine)
        for shape in ("linear", "diamond"):
            pipe = getattr(flows, shape).with_options(**options)
            records[engine, shape] = _record(pipe())
            records[engine, f"{shape}-cached"] = _record(pipe())
    for shape in ("linear", "linear-cached", "diamond", "diamond-cached"):
        assert records["dask", shape] == records["local", shape], shape
    assert {s["status"] for s in records["dask", "linear"]["steps"].values()} == {"completed"}
    assert {s["status"] for s in records["dask", "diamond-cached"]["steps"].values()} == {"cached"}
    assert records["dask", "diamond"]["steps"]["join"]["inputs"] == [
        ("a", "double.output"),
        ("b", "double_2.output"),
    ]
    # the run says where it ran
    run = flows.linear.with_options(**on_dask)()
    tags = heron.Client().get_run(run.id).tags
    assert tags["heron.orchestrator.name"] == "dask"
    assert tags["heron.orchestrator.address"] == on_dask["orchestrator_options"]["address"]
    assert tags["heron.orchestrator.parallelism"] == "32"  # 16 ready steps per thread of its 2


def test_a_failing_step_fails_after_its_retries_and_its_dependants_are_skipped(flows, on_dask):
    run = flows.failing.with_options(**on_dask, raise_on_failure=False)()
    assert run.status == "failed"
    assert run.failed_steps == ["boom"]
    assert "ValueError: boom: this branch fails" in run.steps["boom"].error
    assert run.steps["total"].status == "skipped"
    assert run.steps["total_2"].status == "completed"
    assert run.steps["total_2"].outputs["output"].load() == 30
    client = heron.Client()
    boom = client.get_run(run.steps["boom"].id)
    assert boom.tags["heron.attempts"] == "2"
    assert "attempt 1 failed: ValueError" in client.get_logs(boom.id)
    assert len(_step_runs(run.id, "boom")) == 1


def test_what_a_step_prints_on_a_worker_is_stored_as_its_logs(flows, on_dask):
    run = flows.printing.with_options(**on_dask)()
    logs = heron.Client().get_logs(run.steps["shout"].id)
    assert "hello from a dask worker" in logs
    assert "and to stderr" in logs
    printed_by = int(logs.split("hello from a dask worker", 1)[1].split()[0])
    assert printed_by != os.getpid()  # it ran in a worker process


def test_a_killed_worker_fails_only_its_step_which_is_recorded_once(flows, on_dask):
    started = time.monotonic()
    run = flows.killed.with_options(**on_dask, raise_on_failure=False)()
    assert time.monotonic() - started < 60
    assert run.status == "failed"
    assert run.failed_steps == ["die"]
    assert "died" in run.steps["die"].error
    assert "not run a step twice" in run.steps["die"].error  # Dask started it again: refused
    assert run.steps["total"].status == "skipped"
    assert run.steps["total_2"].status == "completed"
    assert run.steps["total_2"].outputs["output"].load() == 30
    (lost,) = _step_runs(run.id, "die")
    assert lost.status == "failed" and lost.id == run.steps["die"].id
    assert heron.Client().list_artifacts(name="die.output") == []


def test_the_local_cluster_it_starts_fails_a_killed_step_at_once_and_is_reused(flows):
    options = {"orchestrator": "dask", "orchestrator_options": {"n_workers": 1}}
    try:
        run = flows.killed.with_options(**options, raise_on_failure=False)()
        assert run.failed_steps == ["die"]
        assert "Dask worker tcp://127.0.0.1:" in run.steps["die"].error
        assert "died while running it" in run.steps["die"].error
        assert run.steps["total_2"].status == "completed"  # on the restarted worker
        assert len(_step_runs(run.id, "die")) == 1
        again = flows.linear.with_options(**options)()
        client = heron.Client()
        first = client.get_run(run.id).tags["heron.orchestrator.address"]
        assert client.get_run(again.id).tags["heron.orchestrator.address"] == first
        assert (
            client.get_run(again.id).tags["heron.orchestrator.parallelism"] == "16"
        )  # one thread, 16 ready steps queued for it
    finally:
        dask_orchestrator.close_local_clusters()


def test_a_large_array_reaches_the_next_step_without_a_storage_read(flows, on_dask):
    n = 25_000_000  # 200 MB of float64
    outcomes = {}
    run = flows.handover.with_options(**on_dask)(
        n=n, on_event=lambda kind, node, outcome: outcomes.update({(kind, node): outcome})
    )
    assert outcomes["end", "big"].values is None  # the array never came to this process
    assert run.steps["big"].outputs["output"].size >= 200_000_000  # stored all the same
    # measure got the array object from the cluster: a read from storage is a memmap
    assert run.steps["measure"].outputs["output"].load() == [float(n), "ndarray"]
    # the control: with big cached no object is on the cluster, and measure reads storage
    again = flows.handover.with_options(**on_dask)(n=n)
    assert again.steps["big"].status == "cached"
    assert again.steps["measure"].outputs["output"].load() == [float(n), "memmap"]


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"gpus": 2}, "gpus=2, more than the 1 GPU the largest worker declares"),
        ({"TPU": 1}, "TPU=1, which no worker declares"),
        ({"cpus": 4}, "more than the 1 thread"),
        ({"memory": "100TB"}, "more than the largest worker's memory limit"),
    ],
)
def test_unsatisfiable_resources_are_refused_before_any_step_runs(
    flows, on_dask, workspace, resources, message
):
    marker = workspace / "ran.txt"
    needy = flows.needy.with_options(resources=resources)

    @heron.pipeline
    def greedy(marker: str):
        needy(marker)

    started = time.monotonic()
    with pytest.raises(InvalidArgument, match=message) as refused:
        greedy.with_options(**on_dask)(marker=str(marker))
    assert time.monotonic() - started < 20
    assert "Step 'needy'" in str(refused.value)
    assert "workers offer 2 worker(s) of up to 1 thread(s)" in str(refused.value)
    assert (
        "--resources" in str(refused.value)
        or "--nthreads" in str(refused.value)
        or ("--memory-limit" in str(refused.value))
    )
    assert not marker.exists()
    assert (
        heron.Client().store.search_runs(
            experiment_ids=[e.id for e in heron.Client().store.list_experiments()]
        )
        == []
    )


def test_resources_the_workers_offer_are_asked_of_dask(flows, on_dask, workspace):
    marker = workspace / "ran.txt"
    needy = flows.needy.with_options(resources={"gpus": 1, "cpus": 1, "memory": "1GB"})

    @heron.pipeline
    def modest(marker: str):
        needy(marker)

    run = modest.with_options(**on_dask)(marker=str(marker))
    assert run.steps["needy"].status == "completed" and marker.read_text() == "ran"
    engine = make_orchestrator("dask", address=on_dask["orchestrator_options"]["address"])
    try:
        assert engine._resources_for("needy", needy.resources) == {"GPU": 1.0}
    finally:
        engine.shutdown()


def test_an_unreachable_address_is_a_config_error_at_once(monkeypatch):
    monkeypatch.setattr(dask_orchestrator, "CONNECT_TIMEOUT", 2.0)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    address = f"tcp://127.0.0.1:{port}"
    started = time.monotonic()
    with pytest.raises(ConfigError, match="could not be reached within 2 s") as refused:
        make_orchestrator("dask", address=address)
    assert time.monotonic() - started < 10
    assert address in str(refused.value)
    with pytest.raises(ConfigError, match="is not the address of a Dask scheduler"):
        make_orchestrator("dask", address="scheduler-without-a-port")


def test_distributed_is_imported_only_when_the_orchestrator_is_made():
    import subprocess

    code = (
        "import sys, heron, heron.orchestrators, heron.orchestrators.dask; "
        "from heron.orchestrators import check_options; check_options('dask', {}); "
        "assert 'distributed' not in sys.modules, 'distributed was imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_a_step_dask_starts_again_is_never_run_twice(flows):
    """What a task finds when Dask runs it again: the step's recorded success (read back
    from storage), or a step that was running when its worker died (it is not rerun)."""
    from heron.execution.plan import StepPlan
    from heron.orchestrators.dask import StepLost, _earlier_attempt

    run = flows.linear()  # here, with the local orchestrator
    store = heron.Client().store
    source = store.get_run(run.steps["source"].id)

    def plan(run_id):
        return StepPlan(
            run_id=run_id,
            node_id="source",
            pipeline_run_id=run.id,
            experiment_id=source.experiment_id,
            function=flows.source.fn,
            outputs=("output",),
            definition_hash="-",
            tracking_uri=store.uri,
        )

    again = _earlier_attempt(plan(source.id))
    assert again.status == "completed" and again.values == {"output": [0, 1, 2, 3, 4, 5]}
    assert again.outputs["output"].id == run.steps["source"].outputs["output"].id
    assert _earlier_attempt(plan("0" * 32)) is None  # never started: run it
    running = store.create_run(source.experiment_id, name="source", kind="step")
    with pytest.raises(StepLost, match="does not run a step twice"):
        _earlier_attempt(plan(running.id))


def test_unknown_or_misplaced_options_are_refused(cluster):
    with pytest.raises(InvalidArgument, match="no option 'adress'"):
        make_orchestrator("dask", adress=cluster)
    with pytest.raises(InvalidArgument, match="has its own workers"):
        make_orchestrator("dask", address=cluster, n_workers=4)
    with pytest.raises(InvalidArgument, match="n_workers must be an integer"):
        make_orchestrator("dask", n_workers=0)


def test_cancelling_a_run_interrupts_its_step_on_the_cluster(flows, on_dask, workspace):
    marker = workspace / "ticks.txt"

    def on_event(kind, node_id, _outcome):
        if kind == "start" and node_id == "source":
            deadline = time.monotonic() + 30
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            raise KeyboardInterrupt  # Ctrl-C while ticking runs on a worker

    with pytest.raises(KeyboardInterrupt):
        flows.stalled.with_options(**on_dask)(marker=str(marker), on_event=on_event)
    time.sleep(0.5)
    ticks = marker.read_text()
    time.sleep(1.0)
    assert marker.read_text() == ticks, "the step kept running after the run was cancelled"
    store = heron.Client().store
    runs = []
    for experiment in store.list_experiments():
        runs += store.search_runs(experiment_ids=[experiment.id])
    (ticking,) = [r for r in runs if r.name == "ticking"]
    assert ticking.status == "cancelled"
    (pipeline_run,) = [r for r in runs if r.kind == "pipeline"]
    assert pipeline_run.status == "cancelled"
