"""Graph shapes by execution modes: every small pipeline, run every way, records the same story.

Shapes (Metaflow's test/core idea): linear, fan-out with a list fan-in, diamond, a failing
branch beside a healthy one, and a step with several outputs. Modes: in-process (sequential),
a pool of two worker processes, a fully cached re-run and a re-run with ``cache=False``.

For each pair the test checks what the run returns and what the store holds: statuses, output
values, the pipeline run (kind ``pipeline``, experiment named after the pipeline) and its step
runs (kind ``step``, children of it), artifact names ``<step>.<output>`` with versions counting
up, input/output links, and in the re-run modes what is reused and what is stored again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from heron.core.entities import INPUT, OUTPUT
from heron.core.errors import PipelineRunFailed
from heron.pipelines.pipeline import Pipeline, pipeline
from heron.pipelines.step import step

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
def plus(a: int, b: int) -> int:
    return a + b


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step
def boom(x: int) -> int:
    raise ValueError(f"boom on {x}")


@step
def numbers(n: int) -> list[int]:
    return list(range(n))


@step(outputs=("low", "high"))
def halves(xs: list[int]):
    mid = len(xs) // 2
    return xs[:mid], xs[mid:]


# --- shapes ------------------------------------------------------------------------------------


@pipeline
def linear():
    square(add(source(3), k=1))


@pipeline
def fan_out():
    start = source(2)
    total([add(start, k=i) for i in range(4)])


@pipeline
def diamond():
    start = source(3)
    plus(add(start, k=1), square(start))


@pipeline
def failing_branch():
    start = source(3)
    add(boom(start), k=1)  # depends on the failure: skipped
    add(square(start), k=1)  # independent of it: still runs


@pipeline
def multi_output():
    low, high = halves(numbers(6))
    total(low)
    total(high)


@dataclass
class Shape:
    """A pipeline and what running it must give."""

    pipeline: Pipeline
    status: str
    values: dict[str, dict[str, Any]]  # step -> output -> value, for the steps that succeed
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    inputs: dict[str, dict[str, str]] = field(default_factory=dict)  # step -> link -> producer

    @property
    def steps(self) -> list[str]:
        return [*self.values, *self.failed, *self.skipped]


SHAPES = {
    "linear": Shape(
        linear,
        "completed",
        {"source": {"output": 3}, "add": {"output": 4}, "square": {"output": 16}},
        inputs={"add": {"x": "source.output"}, "square": {"x": "add.output"}},
    ),
    "fan_out": Shape(
        fan_out,
        "completed",
        {
            "source": {"output": 2},
            "add": {"output": 2},
            "add_2": {"output": 3},
            "add_3": {"output": 4},
            "add_4": {"output": 5},
            "total": {"output": 14},
        },
        inputs={
            "add_3": {"x": "source.output"},
            "total": {
                "xs[0]": "add.output",
                "xs[1]": "add_2.output",
                "xs[2]": "add_3.output",
                "xs[3]": "add_4.output",
            },
        },
    ),
    "diamond": Shape(
        diamond,
        "completed",
        {
            "source": {"output": 3},
            "add": {"output": 4},
            "square": {"output": 9},
            "plus": {"output": 13},
        },
        inputs={
            "add": {"x": "source.output"},
            "square": {"x": "source.output"},
            "plus": {"a": "add.output", "b": "square.output"},
        },
    ),
    "failing_branch": Shape(
        failing_branch,
        "failed",
        {"source": {"output": 3}, "square": {"output": 9}, "add_2": {"output": 10}},
        failed=["boom"],
        skipped=["add"],
        inputs={"boom": {"x": "source.output"}, "add_2": {"x": "square.output"}},
    ),
    "multi_output": Shape(
        multi_output,
        "completed",
        {
            "numbers": {"output": [0, 1, 2, 3, 4, 5]},
            "halves": {"low": [0, 1, 2], "high": [3, 4, 5]},
            "total": {"output": 3},
            "total_2": {"output": 12},
        },
        inputs={
            "halves": {"xs": "numbers.output"},
            "total": {"xs": "halves.low"},
            "total_2": {"xs": "halves.high"},
        },
    ),
}

MODES = ("sequential", "parallel", "cached_rerun", "uncached_rerun")


# --- checks ------------------------------------------------------------------------------------


def check_run(shape: Shape, run, client, *, version: int) -> None:
    """Statuses, values, the runs stored and the artifacts of one pipeline run."""
    name = shape.pipeline.name
    assert run.status == shape.status
    assert set(run.steps) == set(shape.steps)
    assert sorted(run.failed_steps) == sorted(shape.failed)

    stored = client.get_run(run.id)
    assert stored.kind == "pipeline"
    assert stored.status == shape.status
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None and stored.experiment_id == experiment.id

    children = [r for r in client.search_runs(experiment=name) if r.parent_id == run.id]
    assert sorted(r.id for r in children) == sorted(s.id for s in run.steps.values())
    for child in children:
        assert child.kind == "step"
        assert child.name in run.steps
        assert child.status == run.steps[child.name].status

    for step_name, outputs in shape.values.items():
        result = run.steps[step_name]
        assert result.status in ("completed", "cached"), (step_name, result.error)
        assert set(result.outputs) == set(outputs)
        for output, value in outputs.items():
            artifact = result.outputs[output]
            assert artifact.load() == value
            assert artifact.name == f"{step_name}.{output}"
            assert artifact.version == version
            assert client.get_artifact(artifact.name).id == artifact.id  # the latest version
        links = client.list_run_artifacts(result.id)
        produced = {link.name: link.artifact_id for link in links if link.direction == OUTPUT}
        assert produced == {o: av.id for o, av in result.outputs.items()}

    for step_name in shape.failed:
        result = run.steps[step_name]
        assert result.status == "failed" and result.outputs == {}
        assert "ValueError: boom on 3" in client.get_run(result.id).status_reason
        assert step_name in stored.status_reason
    for step_name in shape.skipped:
        result = run.steps[step_name]
        assert result.status == "skipped" and result.outputs == {}
        assert "boom" in client.get_run(result.id).status_reason

    for step_name, expected in shape.inputs.items():
        links = client.list_run_artifacts(run.steps[step_name].id)
        consumed = {
            link.name: client.get_artifact(link.artifact_id).name
            for link in links
            if link.direction == INPUT
        }
        assert consumed == expected


def call(shape: Shape, **options: Any):
    """Run the shape's pipeline; a failing shape raises PipelineRunFailed (naming its failed
    steps) whose ``.run`` is what the call would return."""
    runnable = shape.pipeline.with_options(**options) if options else shape.pipeline
    if shape.status == "completed":
        return runnable()
    with pytest.raises(PipelineRunFailed) as failure:
        runnable()
    for step_name in shape.failed:
        assert f"step {step_name!r} failed: ValueError: boom on 3" in str(failure.value)
    return failure.value.run


def output_ids(run) -> dict[str, dict[str, str]]:
    return {name: {o: av.id for o, av in s.outputs.items()} for name, s in run.steps.items()}


# --- the matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("shape_name", list(SHAPES))
def test_shape_runs_and_records(shape_name, mode, client, workspace):
    shape = SHAPES[shape_name]
    if mode == "sequential":
        check_run(shape, call(shape), client, version=1)
        return
    if mode == "parallel":
        check_run(shape, call(shape, parallelism=2), client, version=1)
        return

    first = call(shape)
    check_run(shape, first, client, version=1)
    objects, files = workspace.stored_objects(), workspace.stored_files()
    if mode == "cached_rerun":
        again = call(shape)
        check_run(shape, again, client, version=1)
        for step_name in shape.values:
            assert again.steps[step_name].cached, step_name
            assert again.steps[step_name].id != first.steps[step_name].id
            assert client.get_run(again.steps[step_name].id).status == "cached"
        for step_name in shape.failed:  # failures are not cached: the step runs and fails again
            assert again.steps[step_name].status == "failed"
            assert again.steps[step_name].id != first.steps[step_name].id
        assert output_ids(again) == output_ids(first)
        assert (workspace.stored_objects(), workspace.stored_files()) == (objects, files)
    else:
        again = call(shape, cache=False)
        check_run(shape, again, client, version=2)
        for step_name, outputs in shape.values.items():
            assert again.steps[step_name].status == "completed"
            assert again.steps[step_name].id != first.steps[step_name].id
            for output in outputs:
                new, old = (
                    again.steps[step_name].outputs[output],
                    first.steps[step_name].outputs[output],
                )
                assert new.id != old.id
                assert new.content_hash == old.content_hash
        # same bytes, stored once: no new object, no new file
        assert (workspace.stored_objects(), workspace.stored_files()) == (objects, files)
    pipeline_runs = client.search_runs(
        experiment=shape.pipeline.name, filter="attributes.kind = 'pipeline'"
    )
    assert sorted(r.id for r in pipeline_runs) == sorted([first.id, again.id])
