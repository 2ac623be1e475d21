"""Lineage walks, resuming failed runs, and garbage collection of artifact bytes."""

from __future__ import annotations

import textwrap

import pytest

import heron
from heron import pipeline, step
from heron.core.errors import InvalidArgument, InvalidState, NotFound


@step
def make(n: int) -> list[int]:
    return list(range(n))


@step
def double(xs: list[int]) -> list[int]:
    return [2 * x for x in xs]


@step
def add(xs: list[int], ys: list[int]) -> int:
    return sum(xs) + sum(ys)


@pipeline
def diamond(n: int = 3):
    base = make(n)
    add(double(base), base)


def test_upstream_lineage_of_an_output_reaches_the_first_step():
    run = diamond(n=3)
    c = heron.Client()
    final = run.steps["add"].outputs["output"]
    graph = c.lineage(final.id, direction="upstream")
    names = {r.name for r in graph.runs.values()}
    assert names == {"add", "double", "make"}
    assert {a.name for a in graph.artifacts.values()} == {
        "add.output",
        "double.output",
        "make.output",
    }
    add_run = run.steps["add"].id
    make_out = run.steps["make"].outputs["output"].id
    assert (add_run, final.id, "produced") in graph.edges
    assert (make_out, add_run, "consumed") in graph.edges  # the diamond's short edge
    assert (run.steps["make"].id, make_out, "produced") in graph.edges


def test_downstream_lineage_and_depth():
    run = diamond(n=3)
    c = heron.Client()
    source = run.steps["make"].outputs["output"]
    everything = c.lineage(source.id, direction="downstream")
    assert {r.name for r in everything.runs.values()} == {"double", "add"}
    one_hop = c.lineage(source.id, direction="downstream", depth=1)
    assert {r.name for r in one_hop.runs.values()} == {"double", "add"}
    assert set(one_hop.artifacts) == {source.id}  # their outputs are two hops away
    from_run = c.lineage(run.steps["double"].id, direction="downstream")
    assert {r.name for r in from_run.runs.values()} == {"double", "add"}
    assert from_run.to_dict()["root"] == run.steps["double"].id


def test_lineage_errors():
    c = heron.Client()
    with pytest.raises(NotFound):
        c.lineage("0" * 32)
    run = diamond(n=1)
    with pytest.raises(InvalidArgument, match="direction"):
        c.lineage(run.id, direction="sideways")


FLAKY = textwrap.dedent(
    """
    from pathlib import Path
    from heron import pipeline, step

    CALLS = Path(__file__).with_name("calls.txt")

    def _note(name):
        with CALLS.open("a") as f:
            f.write(name + "\\n")

    @step
    def first(n: int) -> int:
        _note("first")
        return n + 1

    @step
    def second(x: int) -> int:
        _note("second")
        if Path(__file__).with_name("broken").exists():
            raise RuntimeError("second is broken")
        return x * 10

    @step
    def side() -> str:
        _note("side")
        return "ok"

    @pipeline
    def flaky(n: int = 1):
        second(first(n))
        side()
    """
)


def test_resume_reuses_succeeded_steps_and_runs_the_rest(workspace):
    module = workspace.path / "flaky_pipeline.py"
    module.write_text(FLAKY)
    (workspace.path / "broken").touch()
    from heron.pipelines.loader import load_pipeline

    flaky = load_pipeline(f"{module}:flaky").with_options(cache=False)
    with pytest.raises(heron.PipelineRunFailed) as failure:
        flaky(n=4)
    failed = failure.value.run
    assert failed.status == "failed"
    assert failed.steps["second"].status == "failed"
    (workspace.path / "broken").unlink()
    (workspace.path / "calls.txt").write_text("")

    c = heron.Client()
    with pytest.raises(InvalidState, match="only failed or cancelled"):
        c.resume_run(diamond(n=1).id)
    resumed = c.resume_run(failed.id)
    assert resumed.status == "completed"
    assert resumed.id != failed.id
    assert resumed.run.tags["heron.resumed_from"] == failed.id
    assert resumed.run.params == {"n": "4"}
    assert resumed.steps["first"].cached and resumed.steps["side"].cached
    assert resumed.steps["second"].status == "completed"
    assert resumed.steps["second"].outputs["output"].load() == 50
    # only the failed step ran again
    assert (workspace.path / "calls.txt").read_text().split() == ["second"]
    # the reused step links the same artifact version as the failed run's step
    assert resumed.steps["first"].outputs["output"].id == failed.steps["first"].outputs["output"].id


def test_resume_refuses_a_step_run():
    run = diamond(n=1)
    with pytest.raises(InvalidArgument, match="resume takes a pipeline run"):
        heron.Client().resume_run(run.steps["make"].id)


def test_gc_frees_what_only_deleted_runs_used(workspace):
    kept = diamond(n=3)
    gone = diamond.with_options(cache=False)(n=50)  # different data: objects of its own
    c = heron.Client()
    before = workspace.stored_objects()
    gone_hashes = {av.content_hash for s in gone.steps.values() for av in s.outputs.values()}
    kept_hashes = {av.content_hash for s in kept.steps.values() for av in s.outputs.values()}
    assert gone_hashes - kept_hashes and gone_hashes <= before

    assert c.gc(min_age=0).deleted_objects == []  # nothing is garbage while runs are live
    c.delete_run(gone.id)
    dry = c.gc(dry_run=True, min_age=0)
    assert set(dry.deleted_objects) == gone_hashes - kept_hashes
    assert workspace.stored_objects() == before  # a dry run deletes nothing
    report = c.gc(min_age=0)
    assert set(report.deleted_objects) == gone_hashes - kept_hashes
    assert report.freed_bytes > 0 and report.retired_versions == len(gone.steps)
    assert workspace.stored_objects() == before - (gone_hashes - kept_hashes)
    # live runs still load, logs of live runs are kept
    assert kept.steps["add"].outputs["output"].load() == 9
    assert c.list_artifacts(name="make.output")[0].id == kept.steps["make"].outputs["output"].id


def test_gc_leaves_young_objects_alone(workspace):
    run = diamond(n=3)
    heron.Client().delete_run(run.id)
    report = heron.Client().gc()  # default min_age: one hour
    assert report.deleted_objects == []
    assert workspace.stored_objects()


def test_gc_keeps_logs_of_live_steps(workspace):
    @step
    def chatty() -> int:
        print("hello from the step")
        return 1

    @pipeline
    def talk():
        chatty()

    run = talk()
    c = heron.Client()
    c.gc(min_age=0)
    assert "hello from the step" in c.get_logs(run.steps["chatty"].id)


@step
def plus(xs: list[int], k: int) -> int:
    return sum(xs) + k


def test_a_step_called_twice_identically_has_an_artifact_under_each_name(workspace):
    @pipeline
    def twice():
        base = make(3)
        plus(base, k=1)
        plus(base, k=1)

    run = twice()
    first, second = run.steps["plus"], run.steps["plus_2"]
    assert {first.status, second.status} == {"completed", "cached"}
    a, b = first.outputs["output"], second.outputs["output"]
    assert (a.name, b.name) == ("plus.output", "plus_2.output")
    assert a.content_hash == b.content_hash and a.uri == b.uri  # one stored object
    c = heron.Client()
    assert c.get_artifact("plus_2.output").load() == 4
    assert c.get_artifact("plus_2.output").producer_run_id == second.id


def test_upstream_lineage_names_the_producer_not_the_cached_reuses():
    first = diamond(n=3)
    again = diamond(n=3)
    assert all(s.cached for s in again.steps.values())
    final = again.steps["add"].outputs["output"]
    graph = heron.Client().lineage(final.id, direction="upstream")
    assert set(graph.runs) == {first.steps[name].id for name in ("make", "double", "add")}
