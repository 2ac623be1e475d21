"""Pure functions of the MLflow importer: creation order, artifact locations, the summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.importers.mlflow.locations import ArtifactLocator, local_path, proxy_path
from heron.importers.mlflow.records import RunHeader, SourceError, ordered_for_creation
from heron.importers.mlflow.summary import Summary


def _h(run_id: str, parent: str | None = None, start: int = 0) -> RunHeader:
    return RunHeader(run_id, "1", "FINISHED", parent_id=parent, start_time=start)


def test_parents_come_before_their_children_even_when_they_started_later():
    headers = [_h("child", "parent", 1), _h("parent", None, 5), _h("grandchild", "child", 0)]
    assert [h.id for h in ordered_for_creation(headers)] == ["parent", "child", "grandchild"]


def test_order_is_by_start_time_and_missing_or_cyclic_parents_do_not_block():
    headers = [_h("b", None, 2), _h("a", "gone", 1), _h("x", "y", 3), _h("y", "x", 4)]
    order = [h.id for h in ordered_for_creation(headers)]
    assert order[:2] == ["a", "b"] and sorted(order[2:]) == ["x", "y"] and len(order) == 4


def test_local_and_proxy_uris():
    assert local_path("/data/mlruns/1/r/artifacts") == Path("/data/mlruns/1/r/artifacts")
    assert local_path("file:///data/my%20runs") == Path("/data/my runs")
    assert local_path("s3://bucket/x") is None and local_path("mlflow-artifacts:/1/r") is None
    assert proxy_path("mlflow-artifacts:/1/r/artifacts") == "1/r/artifacts"
    assert proxy_path("mlflow-artifacts://host:5000/1/r/artifacts") == "1/r/artifacts"
    assert proxy_path("/1/r") is None


def test_artifact_candidates_try_the_root_first():
    locator = ArtifactLocator("/arts")
    assert locator.candidates("mlflow-artifacts:/1/r/artifacts", "1/r/artifacts") == [
        "/arts/1/r/artifacts"
    ]
    assert locator.candidates("/old/mlruns/1/r/artifacts", "1/r/artifacts") == [
        "/arts/1/r/artifacts",
        "/old/mlruns/1/r/artifacts",
    ]
    assert ArtifactLocator().candidates("file:///m/1/r/artifacts", "1/r/artifacts") == [
        "/m/1/r/artifacts"
    ]


def test_proxied_artifacts_without_a_root_are_refused_up_front():
    with pytest.raises(SourceError, match="--artifacts"):
        ArtifactLocator().check(["mlflow-artifacts:/1/r/artifacts"])
    with pytest.raises(SourceError, match="nosuchfs"):
        ArtifactLocator().check(["nosuchfs://bucket/1/r/artifacts"])
    ArtifactLocator("/arts").check(["mlflow-artifacts:/1/r/artifacts", "/local", None])


def test_summary_counts_and_reasons():
    summary = Summary("mlflow:x", "sqlite:///h.db")
    summary.done("runs", 3)
    summary.skip("runs", "a run with that id exists", 2)
    summary.fail("aliases", "m@1", "all-digit aliases are refused")
    data = summary.to_dict()
    assert data["counts"]["runs"] == {"imported": 3, "skipped": 2, "failed": 0}
    assert data["counts"]["aliases"]["failed"] == 1 and not summary.ok
    assert data["skipped"] == [{"kind": "runs", "reason": "a run with that id exists", "count": 2}]
    assert data["failures"][0]["reason"] == "all-digit aliases are refused"
