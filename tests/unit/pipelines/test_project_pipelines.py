"""Pipelines and the fluent API in a project: the runs, artifacts and models they make by name
are the project's, and a cached step is never reused from another project."""

from __future__ import annotations

import pytest

import heron
from heron.core import config
from heron.pipelines.pipeline import pipeline
from heron.pipelines.step import step
from heron.store.registry import get_store
from heron.store.sql import schema as t


@step
def double(n: int) -> int:
    return 2 * n


@pipeline(cache=True)
def doubling(n: int = 3):
    double(n)


@pytest.fixture(autouse=True)
def fraud_exists(workspace, monkeypatch):
    monkeypatch.setenv(config.PROJECT_ENV, "default")  # recorded: restored after the test
    monkeypatch.delenv(config.PROJECT_ENV)
    store = get_store()
    with store.engine.begin() as conn:
        conn.execute(t.projects.insert().values(name="fraud", created_at=0))
    yield
    heron.set_project(None)


def test_a_cached_step_is_not_reused_from_another_project(client):
    first = doubling(n=3)
    assert not first.steps["double"].cached
    assert doubling(n=3).steps["double"].cached  # same project: reused
    heron.set_project("fraud")
    theirs = doubling(n=3)
    step_run = theirs.steps["double"]
    assert not step_run.cached  # another project: executed again
    output = step_run.outputs["output"]
    assert output.load() == 6
    assert (output.version, output.project) == (1, "fraud")
    assert doubling(n=3).steps["double"].cached
    fraud = heron.Client(project="fraud")
    assert fraud.get_artifact("double.output").version == 1
    assert heron.Client(project="default").get_artifact("double.output").version == 1
    assert [e.name for e in fraud.list_experiments()] == ["doubling"]
    assert fraud.store.project_of_run(theirs.id) == "fraud"


def test_the_fluent_api_uses_the_process_project(client):
    heron.set_project("fraud")
    heron.set_experiment("tracked")
    with heron.start_run() as run:
        heron.log_metric("loss", 0.5)
    assert heron.Client().get_experiment("tracked").project == "fraud"
    assert heron.Client(project="default").get_experiment_by_name("tracked") is None
    heron.set_project(None)
    with heron.start_run(experiment="tracked") as other:
        pass
    assert (
        heron.Client().get_run(other.id).experiment_id
        != heron.Client().get_run(run.id).experiment_id
    )
