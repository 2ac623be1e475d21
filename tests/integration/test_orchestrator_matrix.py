"""One behaviour everywhere: the pipeline behaviour matrix on every orchestrator.

Graph shapes (linear, fan-out, diamond with a multi-output step, a failing branch) and modes
(uncached, a cached re-run, retries, a timeout, a killed worker) run on ``local``, ``local``
with ``parallelism=2``, ``dask`` (a LocalCluster of 2 worker processes) and ``ray`` (local,
``num_cpus=2``). What each run recorded -- every step's status, which were cache hits, its
output artifacts' content hashes, the lineage edges between steps, and the reasons steps
failed -- is compared with the local run's, not just checked to have run.
"""

from __future__ import annotations

import sys
import textwrap

import pytest

import heron
from heron.core import config
from heron.store import registry
from tests.support.stores import sqlite_uri

pytestmark = pytest.mark.timeout(600)

PIPELINES = textwrap.dedent(
    """
    import os
    import time
    from pathlib import Path

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


    @step
    def combine(parts: list) -> int:
        return sum(sum(p) for p in parts)


    @step(outputs=("evens", "odds"))
    def split(xs: list):
        return xs[::2], xs[1::2]


    @step
    def join(a: list, b: list) -> int:
        return sum(a) - sum(b)


    @step
    def boom(xs: list) -> list:
        raise ValueError("boom: this branch fails")


    @step(retries=2, retry_delay=0)
    def flaky(xs: list, marker: str) -> list:
        path = Path(marker)
        tries = int(path.read_text()) if path.exists() else 0
        path.write_text(str(tries + 1))
        if tries < 2:
            raise RuntimeError(f"flaky: attempt {tries + 1}")
        return xs


    @step(timeout=1)
    def slow(xs: list) -> list:
        time.sleep(20)
        return xs


    @step
    def die(xs: list) -> list:
        os.kill(os.getpid(), 9)
        return xs


    @step
    def gated(xs: list, gate: str) -> list:
        if not Path(gate).exists():
            raise RuntimeError("gate closed")
        return xs


    @pipeline
    def resumable(gate: str, n: int = 6):
        total(gated(double(source(n)), gate))


    @pipeline
    def linear(n: int = 6):
        total(double(source(n)))


    @pipeline
    def fanout(n: int = 6):
        xs = source(n)
        combine([double(xs) for _ in range(4)])


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
    def retrying(marker: str, n: int = 6):
        total(flaky(source(n), marker))


    @pipeline
    def timing_out(n: int = 6):
        total(slow(source(n)))


    @pipeline
    def killed(n: int = 6):
        xs = source(n)
        total(die(xs))
        total(double(xs))
    """
)

ENGINES = ["local", "local-2", "dask", "ray"]


@pytest.fixture
def flows(tmp_path, monkeypatch):
    package = tmp_path / "code"
    package.mkdir()
    (package / "matrix_flows.py").write_text(PIPELINES)
    monkeypatch.syspath_prepend(str(package))
    monkeypatch.chdir(tmp_path)
    import matrix_flows

    yield matrix_flows
    sys.modules.pop("matrix_flows", None)


def _workspace(tmp_path, name):
    uri = sqlite_uri(tmp_path / name / "heron.db")
    config.set_tracking_uri(uri)
    return uri


@pytest.fixture
def engine_options(request, tmp_path):
    """``with_options`` keywords of the engine under test, with its cluster ready."""
    name = request.param
    if name == "local":
        options = {"orchestrator": "local", "parallelism": 1}
    elif name == "local-2":
        options = {"orchestrator": "local", "parallelism": 2}
    elif name == "dask":
        address = request.getfixturevalue("dask_address")
        options = {"orchestrator": "dask", "orchestrator_options": {"address": address}}
    else:
        request.getfixturevalue("ray_local")
        options = {"orchestrator": "ray"}
    yield options
    config.set_tracking_uri(None)
    registry.forget_stores()


def _record(run) -> dict:
    """What a pipeline run recorded, in terms that do not depend on where it ran."""
    store = heron.Client().store
    steps = {}
    for name, step_run in sorted(run.steps.items()):
        outputs = {k: av.content_hash for k, av in step_run.outputs.items()}
        upstream = []
        if step_run.id and step_run.status in ("completed", "cached", "failed"):
            for link in store.list_artifact_links(run_id=step_run.id):
                if link.direction == "input":
                    producer = store.get_artifact_version(link.artifact_id)
                    upstream.append((link.name, producer.name))
        steps[name] = {
            "status": step_run.status,
            "outputs": outputs,
            "inputs": sorted(upstream),
            "error": _first_line(step_run.error),
        }
    return {"status": run.status, "steps": steps}


def _first_line(error):
    if not error:
        return None
    for needle in ("boom", "timeout", "died", "killed", "flaky"):
        if needle in error:
            return needle
    return error.splitlines()[0][:60]


def _matrix(flows, tmp_path, options, workspace):
    _workspace(tmp_path, workspace)
    runs = {}
    for shape in ("linear", "fanout", "diamond"):
        pipe = getattr(flows, shape).with_options(**options)
        runs[shape] = _record(pipe())
        runs[f"{shape}-cached"] = _record(pipe())
    lax = {"raise_on_failure": False, "cache": False}
    runs["failing"] = _record(flows.failing.with_options(**options, **lax)())
    marker = str(tmp_path / f"{workspace}-flaky")
    runs["retrying"] = _record(flows.retrying.with_options(**options, **lax)(marker=marker))
    runs["timing_out"] = _record(flows.timing_out.with_options(**options, **lax)())
    if options["orchestrator"] != "local" or options.get("parallelism", 1) > 1:
        # in this process (local, parallelism=1) a killed step would kill the test itself
        runs["killed"] = _record(flows.killed.with_options(**options, **lax)())
    return runs


@pytest.fixture(scope="module")
def reference_runs(tmp_path_factory):
    """The local orchestrator's records, computed once."""
    return {}


@pytest.mark.parametrize("engine_options", ENGINES, indirect=True)
def test_every_orchestrator_records_what_the_local_one_does(
    flows, tmp_path, engine_options, reference_runs, request
):
    if "local" not in reference_runs:
        reference_runs["local"] = _matrix(flows, tmp_path, {"orchestrator": "local"}, "ref")
        reference_runs["local-2"] = _matrix(
            flows, tmp_path, {"orchestrator": "local", "parallelism": 2}, "ref2"
        )
    runs = _matrix(flows, tmp_path, engine_options, "under-test")
    expected = reference_runs["local"]
    for shape, record in runs.items():
        if shape == "killed":
            assert record == reference_runs["local-2"]["killed"], shape
            continue
        assert record == expected[shape], shape
    # and the records say what each mode should
    assert all(s["status"] == "cached" for s in runs["linear-cached"]["steps"].values())
    assert runs["failing"]["steps"]["boom"]["error"] == "boom"
    assert runs["failing"]["steps"]["total"]["status"] == "skipped"
    assert runs["failing"]["steps"]["total_2"]["status"] == "completed"
    assert runs["retrying"]["steps"]["flaky"]["status"] == "completed"
    assert runs["timing_out"]["steps"]["slow"]["error"] == "timeout"
    if "killed" in runs:
        killed = runs["killed"]["steps"]
        assert killed["die"]["status"] == "failed" and killed["die"]["error"] == "died"
        assert killed["total"]["status"] == "skipped"
        assert killed["total_2"]["status"] == "completed"


@pytest.mark.parametrize("engine_options", ["local-2", "dask", "ray"], indirect=True)
def test_a_failed_run_resumes_on_the_orchestrator_it_ran_on(flows, tmp_path, engine_options):
    from heron.pipelines.resume import resume_pipeline_run

    _workspace(tmp_path, "resume")
    gate = tmp_path / "gate"
    pipe = flows.resumable.with_options(**engine_options, raise_on_failure=False)
    failed = pipe(gate=str(gate))
    assert failed.status == "failed" and failed.failed_steps == ["gated"]
    gate.write_text("open")
    store = heron.Client().store
    resumed = resume_pipeline_run(store, failed.id)
    assert resumed.status == "completed"
    assert {n: s.status for n, s in resumed.steps.items()} == {
        "source": "cached",
        "double": "cached",
        "gated": "completed",
        "total": "completed",
    }
    tags = store.get_run(resumed.id).tags
    assert tags["heron.resumed_from"] == failed.id
    assert tags["heron.orchestrator.name"] == engine_options["orchestrator"]
