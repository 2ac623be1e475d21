"""@step(resources=...): checked at decoration, memory in bytes, carried by the step plan."""

from __future__ import annotations

import pytest

from heron import step
from heron.core.errors import InvalidArgument
from heron.core.resources import describe, normalize_resources, parse_memory


@pytest.mark.parametrize(
    ("text", "size"),
    [("4GB", 4 * 10**9), ("512MiB", 512 * 2**20), ("1.5g", 1.5e9), (1024, 1024), ("10", 10)],
)
def test_memory_sizes(text, size):
    assert parse_memory(text) == int(size)


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": "lots"}, "not a size"),
        ({"memory": -1}, "not a size"),
        ({"cpus": -1}, "number ≥ 0"),
        ({"gpus": "one"}, "number ≥ 0"),
        ({"cpus": True}, "number ≥ 0"),
        ({"bad name!": 1}, "resource name"),
        (["cpus"], "mapping"),
    ],
)
def test_bad_resources_are_refused_at_decoration(resources, message):
    with pytest.raises(InvalidArgument, match=message):

        @step(resources=resources)
        def train() -> int:
            return 1


def test_a_steps_resources_are_normalized_and_kept_by_with_options():
    @step(resources={"cpus": 2, "gpus": 1, "memory": "4GB", "TPU": 1})
    def train() -> int:
        return 1

    assert train.resources == {"cpus": 2.0, "gpus": 1.0, "memory": 4e9, "TPU": 1.0}
    assert train.with_options(retries=1).resources == train.resources
    assert describe(train.resources) == "cpus=2, gpus=1, memory=4.0GB, TPU=1"
    assert normalize_resources(None, "x") == {}
