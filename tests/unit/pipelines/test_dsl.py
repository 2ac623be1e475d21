"""@step and @pipeline: what a pipeline function builds, and the errors of malformed ones."""

from __future__ import annotations

from typing import Annotated

import pytest

from heron.core.errors import InvalidArgument
from heron.pipelines.handles import OutputHandle
from heron.pipelines.pipeline import pipeline
from heron.pipelines.step import Step, step


@step
def load(n: int) -> list[int]:
    return list(range(n))


@step
def total(xs: list[int]) -> int:
    return sum(xs)


@step(outputs=("train", "test"))
def split(xs: list[int], frac: float = 0.5):
    k = int(len(xs) * frac)
    return xs[:k], xs[k:]


@step
def annotated(xs: list[int]) -> tuple[Annotated[int, "low"], Annotated[int, "high"]]:
    return min(xs), max(xs)


@step
def combine(parts: list[int]) -> int:
    return sum(parts)


def test_step_outside_a_pipeline_is_the_plain_function():
    assert load(3) == [0, 1, 2]
    assert total([1, 2]) == 3
    assert split([1, 2, 3, 4]) == ([1, 2], [3, 4])
    assert isinstance(load, Step) and load.__name__ == "load" and load.__doc__ is None


def test_output_names_from_options_and_annotations():
    assert load.outputs == ("output",)
    assert split.outputs == ("train", "test")
    assert annotated.outputs == ("low", "high")


def test_pipeline_traces_data_dependencies_and_parameters():
    @pipeline
    def demo(n: int = 10):
        train, test = split(load(n), frac=0.8)
        total(train)
        total(test)

    trace = demo.build(n=5)
    assert list(trace.nodes) == ["load", "split", "total", "total_2"]
    assert trace.nodes["load"].params == {"n": 5}
    assert trace.nodes["split"].inputs == {"xs": ("load", "output")}
    assert trace.nodes["split"].params == {"frac": 0.8}
    assert trace.nodes["total"].inputs == {"xs": ("split", "train")}
    assert trace.nodes["total_2"].inputs == {"xs": ("split", "test")}
    assert trace.nodes["total_2"].upstream == ["split"]


def test_lists_of_handles_fan_in_and_after_orders_without_data():
    @pipeline
    def fan():
        first = load(1)
        parts = [total(load(i, after=first)) for i in range(3)]
        combine(parts)

    trace = fan.build()
    assert trace.nodes["combine"].inputs == {
        "parts": [("total", "output"), ("total_2", "output"), ("total_3", "output")]
    }
    assert trace.nodes["load_2"].after == ["load"]
    assert trace.nodes["load_2"].upstream == ["load"]


def test_same_graph_same_version_and_code_changes_it():
    @pipeline
    def a(n: int = 1):
        total(load(n))

    assert a.build(n=1).version_hash() == a.build(n=2).version_hash()  # params are not structure

    @step(name="total")
    def other_total(xs: list[int]) -> int:
        return sum(xs) + 1

    @pipeline(name="a")
    def b(n: int = 1):
        other_total(load(n))

    assert b.build().version_hash() != a.build().version_hash()


def test_missing_argument_names_the_step():
    @pipeline
    def broken():
        total()

    with pytest.raises(InvalidArgument, match=r"step 'total'.*missing a required argument: 'xs'"):
        broken.build()


def test_non_json_parameter_names_step_and_argument():
    @pipeline
    def broken():
        total(object())

    with pytest.raises(InvalidArgument, match=r"Step 'total', argument 'xs'.*not a JSON value"):
        broken.build()


def test_handle_from_another_pipeline_is_refused():
    leaked: list[OutputHandle] = []

    @pipeline
    def first():
        leaked.append(load(1))

    first.build()

    @pipeline
    def second():
        total(leaked[0])

    with pytest.raises(InvalidArgument, match="belongs to another pipeline"):
        second.build()


def test_handles_have_no_value_while_building():
    @pipeline
    def branchy():
        if load(1):
            total(load(2))

    with pytest.raises(InvalidArgument, match="no value while the pipeline is being built"):
        branchy.build()


def test_unpacking_a_single_output_explains_outputs():
    @pipeline
    def unpacks():
        _a, _b = load(2)

    with pytest.raises(InvalidArgument, match="declare them"):
        unpacks.build()


def test_mixed_list_is_refused():
    @pipeline
    def mixed():
        combine([load(1), 3])

    with pytest.raises(InvalidArgument, match="mixes step outputs with plain values"):
        mixed.build()


def test_pipeline_with_no_step_is_refused():
    @pipeline
    def empty():
        pass

    with pytest.raises(InvalidArgument, match="called no step"):
        empty.build()


def _noop():
    return 1


def test_bad_step_options_are_clear():
    with pytest.raises(InvalidArgument, match="retries"):
        step(retries=-1)(_noop)
    with pytest.raises(InvalidArgument, match="output names"):
        step(outputs=("a", "a"))(_noop)
    with pytest.raises(InvalidArgument, match="Python identifier"):
        step(lambda: 1)
    with pytest.raises(InvalidArgument, match="reserved"):

        @step
        def uses_after(after):
            return after

    with pytest.raises(InvalidArgument, match="materializers names output"):
        step(materializers={"nope": "json"})(_noop)


def test_pipeline_parameters_are_bound_and_checked():
    @pipeline
    def p(n: int = 3):
        total(load(n))

    assert p.bind() == {"n": 3}
    with pytest.raises(InvalidArgument, match="unexpected keyword argument"):
        p.bind(m=1)
    with pytest.raises(InvalidArgument, match="not a JSON value"):
        p.bind(n=object())
    with pytest.raises(InvalidArgument, match="Unknown pipeline option"):
        p.with_options(paralelism=2)
