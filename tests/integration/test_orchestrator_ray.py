"""The Ray orchestrator on one local Ray (``num_cpus=2``, 127.0.0.1, no dashboard) shared by
the module: what runs record matches the local orchestrator, failures stay with their step,
resources no node offers are refused up front, and output objects reach the next step
through Ray's object store rather than the artifact store."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

import heron
from heron.core import config
from heron.core.errors import ConfigError, InvalidArgument
from heron.orchestrators import make_orchestrator
from heron.orchestrators.local import _carried, carry_to_workers
from heron.store import log_buffer, registry
from heron.tracking import fluent

ray = pytest.importorskip(
    "ray", reason="the Ray orchestrator needs ray (pip install 'heron-ml[ray]')"
)

from heron.orchestrators.ray import RayOrchestrator  # noqa: E402

pytestmark = pytest.mark.timeout(120)

MODULE = "heron_ray_test_flows"
CARRIED = "heron-test-ray-materializer"
LOADS = "HERON_TEST_RAY_LOADS"  # the file each storage read of `big` adds a line to

FLOWS = textwrap.dedent(
    """
    import os
    import sys
    import time
    from pathlib import Path

    import numpy as np

    from heron import pipeline, step
    from heron.artifacts.materializers import register_materializer
    from heron.artifacts.materializers.numpy_arrays import NumpyArrayMaterializer


    class CountedArrays(NumpyArrayMaterializer):
        # numpy arrays, with each read from the artifact store noted in a file
        name = "heron-test.counted-numpy"
        types = ()

        def load(self, fs, path):
            with open(os.environ["HERON_TEST_RAY_LOADS"], "a") as f:
                f.write(f"{os.getpid()}\\n")
            return super().load(fs, path)


    def register_counted():
        register_materializer(CountedArrays, override=True)


    def counted_in_workers():
        # what carry_to_workers sends: workers register the materializer before each step
        return register_counted


    register_counted()


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
        print("hello from a ray worker", os.getpid())
        print("and to stderr", file=sys.stderr)
        return len(xs)


    @step
    def needy(marker: str) -> int:
        Path(marker).write_text("ran")
        return 1


    @step(materializers="heron-test.counted-numpy")
    def big(n: int):
        return np.full(n, 1.0)


    @step(cache=False)
    def measure(array) -> list:
        # from the object store: a read-only ndarray; from the artifact store: a memmap
        return [float(array.sum()), type(array).__name__, os.getpid()]


    @step
    def ticking(marker: str) -> int:
        for i in range(600):
            Path(marker).write_text(str(i))
            time.sleep(0.05)
        return 0


    def die_once(marker):
        # a setting carried to workers that ends the first worker applying it
        def apply():
            if not os.path.exists(marker):
                Path(marker).write_text(str(os.getpid()))
                os.kill(os.getpid(), 9)

        return apply


    class Fragile:
        # stored fine, but the Ray worker dies putting it in the object store
        def __reduce__(self):
            import traceback

            stack = [f.filename.replace(os.sep, "/") for f in traceback.extract_stack()]
            if any(name.endswith("ray/_private/serialization.py") for name in stack):
                Path("fragile-died.txt").write_text(str(os.getpid()))  # in the run's cwd
                os.kill(os.getpid(), 9)
            return (Fragile, ())


    class Unsendable:
        # stored fine, but Ray cannot put it in the object store
        def __reduce__(self):
            import traceback

            stack = [f.filename.replace(os.sep, "/") for f in traceback.extract_stack()]
            if any(name.endswith("ray/_private/serialization.py") for name in stack):
                raise TypeError("Unsendable objects do not go to Ray's object store")
            return (Unsendable, ())


    @step(materializers="cloudpickle")
    def fragile(n: int):
        return Fragile()


    @step(materializers="cloudpickle")
    def unsendable(n: int):
        return Unsendable()


    @step
    def kind(thing) -> str:
        return type(thing).__name__


    @pipeline
    def lost_result(n: int = 1):
        kind(fragile(n))


    @pipeline
    def unsent_result(n: int = 1):
        kind(unsendable(n))


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

ON_RAY = {"orchestrator": "ray"}


@pytest.fixture(scope="module")
def local_ray(ray_local):
    """The session's one local Ray (tests/integration/conftest.py), through an orchestrator."""
    engine = RayOrchestrator()
    engine.shutdown()
    yield engine


@pytest.fixture(scope="module")
def flows(tmp_path_factory, local_ray):
    """The pipelines above, in a module on sys.path (workers import it by name, once the
    orchestrator gave them this process's sys.path)."""
    folder = tmp_path_factory.mktemp("ray-flows")
    (folder / f"{MODULE}.py").write_text(FLOWS)
    sys.path.insert(0, str(folder))
    import importlib

    module = importlib.import_module(MODULE)
    carry_to_workers(CARRIED, module.counted_in_workers)
    yield module
    _carried.pop(CARRIED, None)
    sys.path.remove(str(folder))
    sys.modules.pop(MODULE, None)


@pytest.fixture(autouse=True)
def workspace(tmp_path, monkeypatch):
    """A fresh SQLite store and artifact root under tmp_path for each test."""
    monkeypatch.setenv("HERON_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(LOADS, str(tmp_path / "loads.txt"))
    for var in ("HERON_TRACKING_URI", "HERON_ARTIFACT_URI", "HERON_EXPERIMENT_NAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(tmp_path)
    _use_store(tmp_path / "ray")
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


def _all_runs() -> list:
    store = heron.Client().store
    runs = []
    for experiment in store.list_experiments():
        runs += store.search_runs(experiment_ids=[experiment.id])
    return runs


def _step_runs(pipeline_run_id: str, name: str) -> list:
    return [r for r in _all_runs() if r.parent_id == pipeline_run_id and r.name == name]


def test_linear_and_diamond_runs_record_what_local_runs_do(flows, workspace):
    records = {}
    for engine, options in (("local", {"orchestrator": "local"}), ("ray", ON_RAY)):
        _use_store(workspace / engine)
        for shape in ("linear", "diamond"):
            pipe = getattr(flows, shape).with_options(**options)
            records[engine, shape] = _record(pipe())
            records[engine, f"{shape}-cached"] = _record(pipe())
    for shape in ("linear", "linear-cached", "diamond", "diamond-cached"):
        assert records["ray", shape] == records["local", shape], shape
    assert {s["status"] for s in records["ray", "linear"]["steps"].values()} == {"completed"}
    assert {s["status"] for s in records["ray", "diamond-cached"]["steps"].values()} == {"cached"}
    assert records["ray", "diamond"]["steps"]["join"]["inputs"] == [
        ("a", "double.output"),
        ("b", "double_2.output"),
    ]
    # the run says where it ran
    run = flows.linear.with_options(**ON_RAY)()
    tags = heron.Client().get_run(run.id).tags
    assert tags["heron.orchestrator.name"] == "ray"
    assert tags["heron.orchestrator.parallelism"] == "2"
    assert tags["heron.orchestrator.address"] == ray.get_runtime_context().gcs_address
    assert tags["heron.orchestrator.nodes"] == "1"


def test_a_failing_step_fails_after_its_retries_and_its_dependants_are_skipped(flows):
    run = flows.failing.with_options(**ON_RAY, raise_on_failure=False)()
    assert run.status == "failed"
    assert run.failed_steps == ["boom"]
    assert "ValueError: boom: this branch fails" in run.steps["boom"].error
    assert run.steps["total"].status == "skipped"
    assert run.steps["total_2"].status == "completed"
    assert run.steps["total_2"].outputs["output"].load() == 30
    client = heron.Client()
    boom = client.get_run(run.steps["boom"].id)
    assert boom.tags["heron.attempts"] == "2"  # the executor's retry, not Ray's
    assert "attempt 1 failed: ValueError" in client.get_logs(boom.id)
    assert len(_step_runs(run.id, "boom")) == 1


def test_what_a_step_prints_on_a_worker_is_stored_as_its_logs(flows):
    run = flows.printing.with_options(**ON_RAY)()
    logs = heron.Client().get_logs(run.steps["shout"].id)
    assert "hello from a ray worker" in logs
    assert "and to stderr" in logs
    printed_by = int(logs.split("hello from a ray worker", 1)[1].split()[0])
    assert printed_by != os.getpid()  # it ran in a Ray worker process


def test_a_killed_worker_fails_only_its_step_which_is_recorded_once(flows):
    started = time.monotonic()
    run = flows.killed.with_options(**ON_RAY, raise_on_failure=False)()
    assert time.monotonic() - started < 60
    assert run.status == "failed"
    assert run.failed_steps == ["die"]
    error = run.steps["die"].error
    assert "The worker process running step 'die' died" in error
    assert "WorkerCrashedError from Ray" in error
    assert run.steps["total"].status == "skipped"
    assert run.steps["total_2"].status == "completed"
    assert run.steps["total_2"].outputs["output"].load() == 30
    (lost,) = _step_runs(run.id, "die")  # Ray did not run it again
    assert lost.status == "failed" and lost.id == run.steps["die"].id
    assert heron.Client().list_artifacts(name="die.output") == []


def test_a_step_whose_worker_died_before_it_started_is_sent_again(flows, workspace):
    marker = workspace / "died.txt"
    carry_to_workers("heron-test-die-once", lambda: flows.die_once(str(marker)))
    try:
        run = flows.linear.with_options(**ON_RAY)()
    finally:
        _carried.pop("heron-test-die-once", None)
    assert marker.exists()  # the first worker died applying the settings
    assert run.status == "completed"
    assert run.steps["total"].outputs["output"].load() == 30
    for name in ("source", "double", "total"):
        assert len(_step_runs(run.id, name)) == 1


@pytest.mark.parametrize(
    ("shape", "maker", "made"),
    [("lost_result", "fragile", "Fragile"), ("unsent_result", "unsendable", "Unsendable")],
)
def test_a_step_that_ended_but_whose_result_ray_lost_is_read_back(
    flows, workspace, shape, maker, made
):
    run = getattr(flows, shape).with_options(**ON_RAY)()
    if maker == "fragile":
        assert (workspace / "fragile-died.txt").exists()  # its worker died returning it
    assert run.status == "completed"
    (recorded,) = _step_runs(run.id, maker)  # recorded once, not run again
    assert recorded.status == "completed"
    assert run.steps[maker].outputs["output"].type.endswith(made)
    # kind read it from the artifact store: Ray had no object of it
    assert run.steps["kind"].outputs["output"].load() == made


def test_a_large_array_reaches_the_next_step_without_a_storage_read(flows, workspace, monkeypatch):
    forgotten: list[tuple[str, bool]] = []
    forget = RayOrchestrator.forget

    def spy(self, artifact_ids):
        forgotten.extend((i, i in self._held) for i in artifact_ids)
        forget(self, artifact_ids)
        assert not any(i in self._held for i in artifact_ids)

    monkeypatch.setattr(RayOrchestrator, "forget", spy)
    loads = workspace / "loads.txt"
    n = 25_000_000  # 200 MB of float64
    began = time.monotonic()
    run = flows.handover.with_options(**ON_RAY)(n=n)
    took = time.monotonic() - began
    stored = run.steps["big"].outputs["output"]
    assert stored.size >= 200_000_000 and stored.content_hash  # stored and hashed all the same
    total, kind, pid = run.steps["measure"].outputs["output"].load()
    assert (total, kind) == (float(n), "ndarray")
    assert pid != os.getpid()
    assert not loads.exists(), "measure read the array from the artifact store"
    assert (stored.id, True) in forgotten  # held in the object store, then released
    print(f"\n200 MB array from big to measure, stored and hashed: {took:.1f} s")
    # the control: with big cached no object is in the object store, so measure reads it
    again = flows.handover.with_options(**ON_RAY)(n=n)
    assert again.steps["big"].status == "cached"
    assert again.steps["measure"].outputs["output"].load()[:2] == [float(n), "memmap"]
    assert len(loads.read_text().split()) == 1


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"gpus": 1}, "GPU=1 but the largest node offers GPU=0"),
        ({"TPU": 1}, "TPU=1 but the largest node offers TPU=0"),
        ({"cpus": 4}, "CPU=4 but the largest node offers CPU=2"),
        ({"memory": "100TB"}, "memory=100000.0GB but the largest node offers memory="),
    ],
)
def test_unsatisfiable_resources_are_refused_before_any_step_runs(
    flows, workspace, resources, message
):
    marker = workspace / "ran.txt"
    needy = flows.needy.with_options(resources=resources)

    @heron.pipeline
    def greedy(marker: str):
        needy(marker)

    started = time.monotonic()
    with pytest.raises(InvalidArgument, match=message) as refused:
        greedy.with_options(**ON_RAY)(marker=str(marker))
    assert time.monotonic() - started < 20
    text = str(refused.value)
    assert "Step 'needy'" in text
    assert "could never run on the Ray cluster" in text
    assert "the largest offer CPU=2" in text
    assert "ray start --" in text and "@step(resources=...)" in text
    assert not marker.exists()
    assert _all_runs() == []


def test_resources_a_node_offers_are_asked_of_ray(flows, workspace):
    (node,) = [n for n in ray.nodes() if n["Alive"]]
    pin = next(k for k in node["Resources"] if k.startswith("node:") and "internal" not in k)
    wanted = {"cpus": 0.5, "memory": "1GB", pin: 0.01}
    marker = workspace / "ran.txt"
    needy = flows.needy.with_options(resources=wanted)

    @heron.pipeline
    def modest(marker: str):
        needy(marker)

    run = modest.with_options(**ON_RAY)(marker=str(marker))
    assert run.steps["needy"].status == "completed" and marker.read_text() == "ran"
    engine = make_orchestrator("ray")
    try:
        assert engine._task_options("needy", needy.resources) == {
            "num_cpus": 0.5,
            "memory": 1_000_000_000,
            "resources": {pin: 0.01},
        }
        assert engine._task_options("plain", {}) == {"num_cpus": 1.0}
        with pytest.raises(InvalidArgument, match="asks for GPU twice"):
            engine.check_resources("twice", {"gpus": 1, "GPU": 1})
    finally:
        engine.shutdown()


def test_cancelling_a_run_stops_its_step_on_the_cluster(flows, workspace):
    marker = workspace / "ticks.txt"

    def on_event(kind, node_id, _outcome):
        if kind == "start" and node_id == "source":
            deadline = time.monotonic() + 30
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)
            raise KeyboardInterrupt  # Ctrl-C while ticking runs on a Ray worker

    with pytest.raises(KeyboardInterrupt):
        flows.stalled.with_options(**ON_RAY)(marker=str(marker), on_event=on_event)
    time.sleep(1.0)
    ticks = marker.read_text()
    time.sleep(1.0)
    assert marker.read_text() == ticks, "the step kept running after the run was cancelled"
    runs = _all_runs()
    (ticking,) = [r for r in runs if r.name == "ticking"]
    assert ticking.status == "cancelled"
    (pipeline_run,) = [r for r in runs if r.kind == "pipeline"]
    assert pipeline_run.status == "cancelled"


def test_unknown_or_conflicting_options_are_refused(local_ray):
    with pytest.raises(InvalidArgument, match="no option 'bogus'"):
        make_orchestrator("ray", bogus=1)
    with pytest.raises(InvalidArgument, match="parallelism must be an integer"):
        make_orchestrator("ray", parallelism=0)
    with pytest.raises(InvalidArgument, match="has its own nodes"):
        make_orchestrator("ray", address="head:6379", num_cpus=4)
    with pytest.raises(InvalidArgument, match="runtime_env is a mapping"):
        make_orchestrator("ray", runtime_env=["pip"])
    # one Ray cluster per process: another address is refused, this one is reused
    with pytest.raises(ConfigError, match="already connected to the Ray cluster at"):
        make_orchestrator("ray", address="elsewhere:6379")
    with pytest.raises(ConfigError, match="already runs Ray with 2 CPUs"):
        make_orchestrator("ray", num_cpus=8)
    engine = make_orchestrator("ray", parallelism=1)
    assert engine.parallelism == 1
    assert engine.describe()["address"] == ray.get_runtime_context().gcs_address
    engine.shutdown()


_UNREACHABLE = textwrap.dedent(
    """
    import socket, sys, time
    import heron
    from heron.core.errors import ConfigError
    from heron.orchestrators import make_orchestrator

    assert "ray" not in sys.modules, "import heron imported ray"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens there once closed
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # something that is not Ray
    for address in (f"127.0.0.1:{closed}", f"ray://127.0.0.1:{closed}",
                    f"127.0.0.1:{listener.getsockname()[1]}"):
        began = time.monotonic()
        try:
            make_orchestrator("ray", address=address)
        except ConfigError as e:
            print(f"{time.monotonic() - began:.1f}", str(e).replace(chr(10), " "))
        else:
            print("connected to", address)
    import ray
    print("initialized", ray.is_initialized())
    """
)


def test_an_unreachable_address_is_a_config_error_quickly(workspace):
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    done = subprocess.run(
        [sys.executable, "-c", _UNREACHABLE],
        capture_output=True,
        text=True,
        timeout=90,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "initialized False"
    refused, client, not_ray = (line.split(" ", 1) for line in lines[:3])
    for took, message in (refused, client):
        assert float(took) < 5
        assert "could not be reached" in message and "Connection refused" in message
        assert "127.0.0.1:" in message and "ray start --head" in message
    took, message = not_ray
    assert float(took) < 60
    assert "could not be reached: something listens at 127.0.0.1:" in message
    assert "but connecting to Ray there failed" in message and "port 6379" in message
    print(f"\nrefused address: {refused[0]} s; a port that is not Ray: {took} s")


def test_that_ray_is_reused_across_runs_and_not_shut_down(flows, local_ray):
    first = make_orchestrator("ray")
    first.shutdown(cancel=True)
    assert ray.is_initialized()
    began = time.monotonic()
    second = make_orchestrator("ray")
    assert time.monotonic() - began < 2  # no second start
    assert second.describe()["address"] == first.describe()["address"]
    second.shutdown()
