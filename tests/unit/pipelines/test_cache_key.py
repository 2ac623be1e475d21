"""When a step execution is reused: the cache key (properties over its factors) and what a
pipeline re-run reuses after code, parameter, upstream-content and materializer changes."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from heron.artifacts.materializers import Materializer, register_materializer
from heron.artifacts.materializers.base import member
from heron.artifacts.materializers.registry import default_registry
from heron.core.entities import ArtifactVersion
from heron.execution.cache_key import cache_key
from heron.pipelines.pipeline import pipeline
from heron.pipelines.step import step

# --- the key, as a property ---------------------------------------------------------------------

hex_digests = st.text("0123456789abcdef", min_size=64, max_size=64)
identifiers = st.from_regex(r"[a-z][a-z0-9_]{0,7}", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
params_dicts = st.dictionaries(identifiers, json_values, max_size=4)
materializers = st.sampled_from(["json", "numpy", "pandas.parquet", "cloudpickle"])
materializer_versions = st.sampled_from(["1", "2", "10"])


@st.composite
def artifact_versions(draw: Any) -> ArtifactVersion:
    return ArtifactVersion(
        id=draw(hex_digests)[:32],
        name=f"{draw(identifiers)}.output",
        version=draw(st.integers(1, 1000)),
        content_hash=draw(hex_digests),
        type=draw(st.sampled_from(["builtins.int", "numpy.ndarray"])),
        materializer=draw(materializers),
        size=draw(st.integers(0, 10**9)),
        uri=f"/store/objects/{draw(hex_digests)}",
        producer_run_id=draw(hex_digests)[:32],
        created_at=draw(st.integers(0, 2**42)),
        materializer_version=draw(materializer_versions),
        metadata=draw(st.dictionaries(identifiers, st.integers(), max_size=3)),
    )


input_dicts = st.dictionaries(
    identifiers,
    artifact_versions() | st.lists(artifact_versions(), min_size=1, max_size=3),
    max_size=3,
)


def relabelled(av: ArtifactVersion, data: Any) -> ArtifactVersion:
    """The same content under another identity: new id, name, version, uri, time, metadata."""
    return dataclasses.replace(
        av,
        id=data.draw(hex_digests)[:32],
        name=f"{data.draw(identifiers)}.output",
        version=data.draw(st.integers(1, 1000)),
        uri=f"s3://elsewhere/{data.draw(hex_digests)}",
        producer_run_id=data.draw(hex_digests)[:32],
        created_at=data.draw(st.integers(0, 2**42)),
        metadata=data.draw(st.dictionaries(identifiers, st.text(max_size=4), max_size=3)),
    )


def reordered(value: Any) -> Any:
    """``value`` with every dict's insertion order reversed (equal as JSON)."""
    if isinstance(value, dict):
        return {k: reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reordered(v) for v in value]
    return value


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, allow_nan=True)


@settings(max_examples=100, deadline=None)
@given(definition=hex_digests, params=params_dicts, inputs=input_dicts, data=st.data())
def test_key_ignores_what_does_not_change_what_a_step_reads(definition, params, inputs, data):
    key = cache_key(definition, params, inputs)
    assert len(key) == 64 and int(key, 16) >= 0
    same_content = {
        arg: [relabelled(v, data) for v in value]
        if isinstance(value, list)
        else relabelled(value, data)
        for arg, value in reordered(inputs).items()
    }
    assert cache_key(definition, reordered(params), same_content) == key
    assert cache_key(definition, json.loads(json.dumps(params)), inputs) == key  # a copy


FACTORS = (
    "definition",
    "param value",
    "new param",
    "content",
    "materializer",
    "materializer version",
    "fan-in order",
)


@settings(max_examples=100, deadline=None)
@given(
    definition=hex_digests,
    params=params_dicts,
    inputs=input_dicts,
    factor=st.sampled_from(FACTORS),
    data=st.data(),
)
def test_key_changes_with_each_factor(definition, params, inputs, factor, data):
    key = cache_key(definition, params, inputs)
    params, inputs = dict(params), dict(inputs)
    if factor == "definition":
        other = data.draw(hex_digests)
        assume(other != definition)
        definition = other
    elif factor == "param value":
        assume(params)
        arg = data.draw(st.sampled_from(sorted(params)))
        value = data.draw(json_values)
        assume(json_text(value) != json_text(params[arg]))
        params[arg] = value
    elif factor == "new param":
        arg = data.draw(identifiers)
        assume(arg not in params and arg not in inputs)
        params[arg] = data.draw(json_values)
    elif factor == "fan-in order":
        lists = [a for a, v in inputs.items() if isinstance(v, list) and len(v) > 1]
        assume(lists)
        arg = data.draw(st.sampled_from(lists))
        first, second = inputs[arg][0], inputs[arg][1]
        assume(first.content_hash != second.content_hash)
        inputs[arg] = [second, first, *inputs[arg][2:]]
    else:
        assume(inputs)
        arg = data.draw(st.sampled_from(sorted(inputs)))
        value = inputs[arg]
        versions = value if isinstance(value, list) else [value]
        index = data.draw(st.integers(0, len(versions) - 1))
        changed = versions[index]
        if factor == "content":
            new = data.draw(hex_digests)
            assume(new != changed.content_hash)
            changed = dataclasses.replace(changed, content_hash=new)
        elif factor == "materializer":
            new = data.draw(materializers)
            assume(new != changed.materializer)
            changed = dataclasses.replace(changed, materializer=new)
        else:
            new = data.draw(materializer_versions)
            assume(new != changed.materializer_version)
            changed = dataclasses.replace(changed, materializer_version=new)
        versions = [*versions[:index], changed, *versions[index + 1 :]]
        inputs[arg] = versions if isinstance(value, list) else versions[0]
    assert cache_key(definition, params, inputs) != key, factor


# --- what a pipeline re-run reuses --------------------------------------------------------------


@step
def double(x: int) -> int:
    return 2 * x


@step
def source(n: int) -> int:
    return n


@step
def constant() -> int:
    return 10


@step
def plus(a: int, b: int) -> int:
    return a + b


@step
def parity(n: int) -> int:
    return n % 2


@step(cache=False)
def never_cached(n: int) -> int:
    return n


def produce_one():
    @step
    def produce() -> int:
        return 1

    return produce


def produce_two():
    @step
    def produce() -> int:
        return 2

    return produce


def produce_one_reworded():
    @step
    def produce() -> int:
        return 2 - 1

    return produce


def edits_pipeline(producer):
    @pipeline(name="edits")
    def edits():
        double(producer())

    return edits


def statuses(run) -> dict[str, str]:
    return {name: s.status for name, s in run.steps.items()}


def test_editing_a_step_function_breaks_its_cache(client):
    first = edits_pipeline(produce_one())()
    assert statuses(first) == {"produce": "completed", "double": "completed"}
    assert statuses(edits_pipeline(produce_one())()) == {"produce": "cached", "double": "cached"}

    edited = edits_pipeline(produce_two())()  # same name, new body, new value
    assert statuses(edited) == {"produce": "completed", "double": "completed"}
    assert edited.steps["double"].outputs["output"].load() == 4

    # new code, same bytes out: the step runs again, what reads its output is reused
    reworded = edits_pipeline(produce_one_reworded())()
    assert statuses(reworded) == {"produce": "completed", "double": "cached"}
    assert reworded.steps["produce"].outputs["output"].content_hash == (
        first.steps["produce"].outputs["output"].content_hash
    )
    assert (
        reworded.steps["double"].outputs["output"].id == first.steps["double"].outputs["output"].id
    )


def test_changing_a_parameter_breaks_the_cache(client):
    @pipeline
    def params(n: int = 1):
        double(source(n))

    first = params(n=1)
    assert statuses(params(n=2)) == {"source": "completed", "double": "completed"}
    again = params(n=1)
    assert statuses(again) == {"source": "cached", "double": "cached"}
    assert again.steps["double"].outputs["output"].id == first.steps["double"].outputs["output"].id


def test_new_upstream_content_breaks_downstream_cache_but_not_unchanged_steps(client):
    @pipeline
    def mixed(n: int = 1):
        plus(constant(), source(n))

    mixed(n=1)
    run = mixed(n=2)
    assert statuses(run) == {"constant": "cached", "source": "completed", "plus": "completed"}
    assert run.steps["plus"].outputs["output"].load() == 12


def test_same_upstream_content_keeps_downstream_cached(client):
    @pipeline
    def odd(n: int = 1):
        double(parity(n))

    first = odd(n=1)
    run = odd(n=3)  # parity runs again (new parameter) and gives the same bytes
    assert statuses(run) == {"parity": "completed", "double": "cached"}
    assert run.steps["double"].outputs["output"].id == first.steps["double"].outputs["output"].id


def test_cached_runs_point_at_the_execution_that_made_the_outputs(client):
    @pipeline
    def repeated():
        double(source(4))

    first = repeated()
    second = repeated()
    third = repeated()
    for name in ("source", "double"):
        original = first.steps[name].id
        assert client.get_run(second.steps[name].id).tags["heron.cached_from"] == original
        assert client.get_run(third.steps[name].id).tags["heron.cached_from"] == original
        assert third.steps[name].outputs == first.steps[name].outputs
        cached = client.get_run(third.steps[name].id)
        assert cached.cache_key == client.get_run(original).cache_key


def test_step_with_cache_off_always_runs(client):
    @pipeline
    def uncached():
        double(never_cached(3))

    first = uncached()
    run = uncached()
    assert statuses(run) == {"never_cached": "completed", "double": "cached"}
    assert run.steps["never_cached"].outputs["output"].version == 2
    assert run.steps["double"].outputs["output"].id == first.steps["double"].outputs["output"].id


# --- materializer versions ---------------------------------------------------------------------


class Box:
    def __init__(self, value: int) -> None:
        self.value = value


BOX_TYPE = f"{Box.__module__}.{Box.__qualname__}"


def box_materializer(version: str) -> type[Materializer]:
    class BoxMaterializer(Materializer):
        name = "tests.box"
        types = (BOX_TYPE,)

        def save(self, obj: Box, fs: Any, path: str) -> dict[str, Any]:
            with fs.open(member(path, "box.json"), "w") as f:
                f.write(json.dumps(obj.value))
            return {"type": self.type_name(obj)}

        def load(self, fs: Any, path: str) -> Box:
            with fs.open(member(path, "box.json")) as f:
                return Box(json.loads(f.read()))

    BoxMaterializer.version = version
    return BoxMaterializer


@pytest.fixture
def box_materializer_version():
    """Register the Box materializer at a version; unregister it afterwards."""

    def set_version(version: str) -> None:
        register_materializer(box_materializer(version), override=True)

    yield set_version
    registry = default_registry()
    with registry._lock:
        if "tests.box" in registry._by_name:
            registry._remove("tests.box")
        registry._candidates = {}


@step
def boxed(n: int) -> Box:
    return Box(n)


@step
def unbox(box: Box) -> int:
    return box.value


def test_new_materializer_version_breaks_the_cache(client, box_materializer_version):
    @pipeline
    def boxes():
        unbox(boxed(5))

    box_materializer_version("1")
    first = boxes()
    assert first.steps["boxed"].outputs["output"].materializer == "tests.box"
    assert statuses(boxes()) == {"boxed": "cached", "unbox": "cached"}

    box_materializer_version("2")
    run = boxes()
    assert statuses(run) == {"boxed": "completed", "unbox": "completed"}
    assert run.steps["boxed"].outputs["output"].materializer_version == "2"
    assert run.steps["unbox"].outputs["output"].load() == 5
