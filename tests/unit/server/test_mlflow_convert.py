"""Heron's runs as MLflow's JSON, statuses, system tags, dataset inputs, and MLflow's
downsampling of metric histories (heron.server.mlflow.convert, .tracking_metrics)."""

from __future__ import annotations

import math

import pytest

from heron.core.entities import Metric, Run
from heron.server.mlflow import convert
from heron.server.mlflow.errors import MlflowError
from heron.server.mlflow.tracking_metrics import sample_points


def test_statuses_both_ways():
    for name in ("RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"):
        assert convert.mlflow_status(convert.heron_status(name)) == name
    assert convert.heron_status(3) == "completed"  # protobuf enum number
    assert convert.mlflow_status("cached") == "FINISHED"
    assert convert.mlflow_status("skipped") == "KILLED"
    with pytest.raises(MlflowError, match="use one of RUNNING"):
        convert.heron_status("DONE")


def test_system_tags_fill_run_fields_when_storable():
    fields = convert.run_fields_from_tags(
        {
            "mlflow.user": "ann",
            "mlflow.source.name": "train.py",
            "mlflow.source.git.commit": "a" * 40,
            "mlflow.parentRunId": "b" * 32,
            "other": "x",
        }
    )
    assert fields == {
        "user": "ann",
        "source": "train.py",
        "git_commit": "a" * 40,
        "parent_id": "b" * 32,
    }
    assert convert.run_fields_from_tags({"mlflow.source.git.commit": "c" * 65}) == {}


def test_run_json_shows_fields_as_system_tags_and_hides_heron_ones():
    run = Run(
        id="r" * 32,
        experiment_id="e1",
        name="nice",
        kind="step",
        status="completed",
        start_time=5,
        end_time=9,
        user="ann",
        parent_id="p" * 32,
        params={"a": "1"},
        metrics={"loss": 0.5, "bad": math.nan},
        tags={"team": "x", **convert.dataset_input_tags({"dataset": {"name": "d"}, "tags": []})},
    )
    answer = convert.run_json(run, "0", {"loss": (123, 4)})
    info = answer["info"]
    assert info["status"] == "FINISHED" and info["end_time"] == 9 and info["experiment_id"] == "0"
    assert info["artifact_uri"] == f"mlflow-artifacts:/0/{run.id}/artifacts"
    tags = {t["key"]: t["value"] for t in answer["data"]["tags"]}
    assert tags == {
        "team": "x",
        "mlflow.runName": "nice",
        "mlflow.user": "ann",
        "mlflow.parentRunId": "p" * 32,
        "heron.kind": "step",
    }
    assert answer["data"]["metrics"] == [
        {"key": "bad", "value": "NaN", "timestamp": 0, "step": 0},
        {"key": "loss", "value": 0.5, "timestamp": 123, "step": 4},
    ]
    assert answer["inputs"] == {"dataset_inputs": [{"tags": [], "dataset": {"name": "d"}}]}


def test_dataset_inputs_round_trip_through_tags_of_bounded_size():
    big = {"name": "train", "digest": "abc", "schema": "s" * 20_000}
    entry = {"dataset": big, "tags": [{"key": "mlflow.data.context", "value": "training"}]}
    tags = convert.dataset_input_tags(entry)
    assert len(tags) == 3 and all(len(v) <= 8000 for v in tags.values())
    assert tags == convert.dataset_input_tags(entry)  # the same input: the same keys
    again = convert.run_inputs_json({**tags, "heron.mlflow.model_input.m-1": "", "x": "y"})
    assert again["dataset_inputs"] == [{"tags": entry["tags"], "dataset": big}]
    assert again["model_inputs"] == [{"model_id": "m-1"}]


def test_float_json_uses_protobuf_spellings():
    assert [convert.float_json(v) for v in (1.5, math.nan, math.inf, -math.inf)] == [
        1.5,
        "NaN",
        "Infinity",
        "-Infinity",
    ]


def test_tags_list_checks_its_shape():
    assert convert.tags_list([{"key": "a", "value": "1"}, {"key": "a", "value": "2"}], "t") == {
        "a": "2"
    }
    with pytest.raises(MlflowError, match=r"t\[0\]\.key"):
        convert.tags_list([{"value": "1"}], "t")
    with pytest.raises(MlflowError, match="must be a list"):
        convert.tags_list({"a": "b"}, "t")


def points(n):
    return [Metric("m", float(i), i, 1000 + i) for i in range(n)]


def test_sample_points_is_mlflow_ntile_plus_the_last_point():
    assert [p.step for p in sample_points(points(100), 8)] == [0, 13, 26, 39, 52, 64, 76, 99]
    assert [p.step for p in sample_points(points(5), 10)] == [0, 1, 2, 3, 4]
    assert [p.step for p in sample_points(points(5), 1)] == [4]
    assert sample_points([], 3) == []
    # ordered by step first, then timestamp, whatever order they came in
    shuffled = [Metric("m", 1.0, 2, 5), Metric("m", 2.0, 1, 9), Metric("m", 3.0, 1, 1)]
    assert [p.value for p in sample_points(shuffled, 10)] == [3.0, 2.0, 1.0]
