"""The tracking API end to end on a PostgreSQL store: what a team server user does."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap

import pytest

import heron
from heron.core import config
from heron.store import registry
from heron.tracking import fluent

pytestmark = pytest.mark.integration


@pytest.fixture
def pg_tracking(postgres_database, tmp_path, monkeypatch):
    monkeypatch.setenv("HERON_ARTIFACT_URI", str(tmp_path / "artifacts"))
    heron.set_tracking_uri(postgres_database)
    yield postgres_database
    while fluent.active_run() is not None:
        fluent.end_run()
    fluent._experiment_name = None
    config.set_tracking_uri(None)
    registry.forget_stores()


def test_log_search_and_read_back(pg_tracking):
    heron.set_experiment("pg")
    for depth in (2, 3, 4):
        with heron.start_run(name=f"d{depth}"):
            heron.log_params({"depth": depth})
            for i in range(2000):
                heron.log_metric("loss", 1 / (i + depth), step=i)
            heron.log_metric("acc", depth / 5)
            heron.log_metric("nan", math.nan)
            heron.log_text("hello", "notes.txt")
    c = heron.Client()
    runs = c.search_runs(experiment="pg", filter="metrics.acc > 0.5", order_by=["metrics.acc DESC"])
    assert [r.name for r in runs] == ["d4", "d3"]
    assert [m.step for m in c.get_metric_history(runs[0].id, "loss")] == list(range(2000))
    assert math.isnan(runs[0].metrics["nan"])
    assert c.get_artifact("notes.txt").load() == "hello"


def test_processes_log_concurrently_to_postgres(pg_tracking):
    script = textwrap.dedent(
        """
        import sys, heron
        heron.set_tracking_uri(sys.argv[1])
        heron.set_experiment("pg-concurrent")
        with heron.start_run():
            heron.log_param("shared", "same")
            for i in range(5000):
                heron.log_metric("m", i, step=i)
        """
    )
    env = {**os.environ, "HERON_FLUSH_INTERVAL": "0.05"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, pg_tracking], env=env, stderr=subprocess.PIPE
        )
        for _ in range(4)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    runs = heron.Client().search_runs(experiment="pg-concurrent")
    assert len(runs) == 4
    for r in runs:
        assert r.status == "completed"
        assert len(heron.Client().get_metric_history(r.id, "m")) == 5000


def test_pipeline_caching_lineage_and_gc_on_postgres(pg_tracking):
    from tests.unit.pipelines.test_lineage_resume_gc import diamond

    first = diamond(n=4)
    again = diamond(n=4)
    assert first.status == again.status == "completed"
    assert all(s.cached for s in again.steps.values())
    c = heron.Client()
    final = again.steps["add"].outputs["output"]
    assert final.load() == 18
    graph = c.lineage(final.id, direction="upstream")
    assert {"make", "double", "add"} <= {r.name for r in graph.runs.values()}
    other = diamond.with_options(cache=False)(n=40)
    c.delete_run(other.id)
    report = c.gc(min_age=0)
    assert report.deleted_objects and report.retired_versions == 3
    assert final.load() == 18
    assert c.list_pipeline_versions("diamond")[0].structure["pipeline"] == "diamond"
