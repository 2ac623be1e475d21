"""A materializer registered by a pipeline's file is known to the worker processes that run
its steps (they get the steps by value and never import the file)."""

from __future__ import annotations

import textwrap

import pytest

from heron.artifacts.materializers.registry import default_registry
from heron.pipelines.loader import load_pipeline

PIPELINE = textwrap.dedent(
    """
    from heron import pipeline, step
    from heron.artifacts.materializers import Materializer, register_materializer


    class Celsius:
        def __init__(self, degrees):
            self.degrees = degrees


    class CelsiusMaterializer(Materializer):
        name = "test.celsius"
        types = (f"{__name__}.Celsius",)

        def save(self, obj, fs, path):
            with fs.open(path + "/degrees.txt", "w") as f:
                f.write(str(obj.degrees))
            return {"degrees": obj.degrees}

        def load(self, fs, path):
            with fs.open(path + "/degrees.txt") as f:
                return Celsius(float(f.read()))


    register_materializer(CelsiusMaterializer)


    @step
    def measure() -> Celsius:
        return Celsius(21.5)


    @step
    def warmer(t: Celsius) -> float:
        return t.degrees + 1


    @pipeline
    def weather():
        return warmer(measure())
    """
)


@pytest.fixture
def weather(tmp_path):
    (tmp_path / "weather.py").write_text(PIPELINE)
    yield load_pipeline(str(tmp_path / "weather.py") + ":weather")
    registry = default_registry()
    registry._remove("test.celsius")


def test_a_pipeline_files_materializer_is_used_by_pool_workers(weather, client):
    run = weather.with_options(parallelism=2)()
    assert run.status == "completed"
    assert run.steps["warmer"].outputs["output"].load() == 22.5
    measured = client.get_artifact("measure.output")
    assert measured.materializer == "test.celsius"
    assert measured.metadata["degrees"] == 21.5
